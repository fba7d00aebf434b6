package sipphone

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ReferReply is how a call answers a REFER, as a phone asked to transfer
// does (RFC 3515): it accepts or refuses the REFER, then reports how its
// call to the Refer-To target goes in NOTIFYs carrying message/sipfrag
// status lines (§2.4.4, §2.4.5). The phone places no call to the
// target: the test says what the target "answered".
type ReferReply struct {
	// Code is the final response to the REFER; 0 is 202 Accepted.
	Code int
	// Notify are the status codes reported after a 2xx, one NOTIFY
	// each, in order (e.g. 100, 180, 200); the last one terminates the
	// subscription when it is final (a last 180 leaves the target
	// ringing). Empty sends none: a referee that never reports.
	Notify []int
	// Gap is the time before each NOTIFY.
	Gap time.Duration
	// Hangup makes the phone send BYE once its last NOTIFY is answered,
	// as a transferee whose transfer succeeded leaves the old call.
	Hangup bool
	// Challenge, when set, answers a REFER without valid credentials
	// with a digest challenge, as Behaviour.Challenge does an INVITE.
	Challenge *Credentials
}

// OnRefer makes the call answer REFERs from now on with r. Without it a
// REFER gets 200, like any other request in the dialog.
func (c *Call) OnRefer(r ReferReply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refer = &r
}

// OnRefer makes every call of the phone that has no reply of its own
// (Call.OnRefer) answer REFERs with r from now on: set before the call,
// it is in place however soon the REFER comes.
func (p *Phone) OnRefer(r ReferReply) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refer = &r
}

// Notified are the final responses to the NOTIFYs the call sent after a
// REFER, in order.
func (c *Call) Notified() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.notified...)
}

// answerRefer answers a REFER as OnRefer said and reports whether it did
// (false: no reply is set). The NOTIFYs go from a goroutine of the
// phone's, after the response: the REFER's handler must return for its
// transaction to end.
func (c *Call) answerRefer(req *sip.Request, tx sip.ServerTransaction) bool {
	c.mu.Lock()
	r := c.refer
	c.mu.Unlock()
	if r == nil {
		c.p.mu.Lock()
		r = c.p.refer
		c.p.mu.Unlock()
	}
	if r == nil {
		return false
	}
	if r.Challenge != nil {
		if ok, code, challenge := c.p.authorize(req, *r.Challenge); !ok {
			res := sip.NewResponseFromRequest(req, code, reason(code), nil)
			if challenge != nil {
				res.AppendHeader(challenge)
			}
			_ = tx.Respond(res)
			return true
		}
	}
	code := r.Code
	if code == 0 {
		code = 202
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason(code), nil))
	if code >= 300 || len(r.Notify) == 0 || !c.p.enter() {
		return true
	}
	// The id parameter names the REFER the NOTIFYs report on: its CSeq
	// (RFC 3515 §2.4.6).
	id := fmt.Sprint(req.CSeq().SeqNo)
	go func() {
		defer c.p.wg.Done()
		for i, status := range r.Notify {
			if r.Gap > 0 {
				select {
				case <-time.After(r.Gap):
				case <-c.ctx.Done():
					return
				}
			}
			state := "active;expires=60"
			if i == len(r.Notify)-1 && status >= 200 {
				state = "terminated;reason=noresource"
			}
			body := fmt.Sprintf("SIP/2.0 %d %s\r\n", status, reason(status))
			res, err := c.request(sip.NOTIFY, "message/sipfrag;version=2.0", []byte(body),
				sip.NewHeader("Event", "refer;id="+id), sip.NewHeader("Subscription-State", state))
			got := 0
			if err == nil {
				got = res.StatusCode
			}
			c.mu.Lock()
			c.notified = append(c.notified, got)
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
		if r.Hangup {
			_ = c.Hangup()
		}
	}()
	return true
}

// Refer sends a REFER in the call's dialog asking the other side to
// connect us to target (a blind transfer, RFC 3515), with extra headers
// (X-…, User-to-User), and returns the final response. The NOTIFYs that
// follow are answered 200 and kept with Requests; Notifies reads their
// status lines.
func (c *Call) Refer(target string, headers map[string]string) (*sip.Response, error) {
	hs := []sip.Header{sip.NewHeader("Refer-To", "<"+target+">")}
	for k, v := range headers {
		hs = append(hs, sip.NewHeader(k, v))
	}
	return c.request(sip.REFER, "", nil, hs...)
}

// Notifies are the status codes of the message/sipfrag bodies of the
// NOTIFYs the call received, in order (0 for a body without one).
func (c *Call) Notifies() []int {
	var out []int
	for _, r := range c.Requests() {
		if r.Method != sip.NOTIFY {
			continue
		}
		code := 0
		if f := strings.Fields(string(r.Body())); len(f) >= 2 {
			code, _ = strconv.Atoi(f[1])
		}
		out = append(out, code)
	}
	return out
}
