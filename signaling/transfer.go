package signaling

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
)

// referReplyWait bounds how long a REFER's handler waits for the
// interpreter's answer: it may have to reach the Dial's bridge loop. The
// REFER's transaction waits meanwhile (sipgo ends it when its handler
// returns), and the party retransmits over UDP.
const referReplyWait = 5 * time.Second

// notifyTimeout bounds each NOTIFY we send a transferor.
const notifyTimeout = 5 * time.Second

// setReferred sets what takes the party's REFERs.
func (l *Leg) setReferred(f func(*interpreter.Transfer)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.referred = f
}

// onRefer takes a REFER in a call's dialog (RFC 3515): a dialed party
// that asks us to connect the caller elsewhere (a blind transfer, Dial
// referUrl). The interpreter decides, and the answer goes out on this
// goroutine (sipgo ends the transaction when the handler returns); the
// NOTIFYs follow from a goroutine of the leg's. A REFER nobody takes (the
// caller's, outside a Dial's bridge) is declined.
func (s *Server) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to == nil || !to.Params.Has("tag") {
		// A REFER outside a dialog (RFC 3515 §2.4.2 allows one) would
		// have us place a call for anyone who asks: refused.
		respond(tx, req, 403, "Forbidden: REFER is taken only within a call")
		return
	}
	leg := s.lookup(req)
	if leg == nil || leg.gone.Err() != nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	// Exactly one Refer-To (RFC 3515 §2.4.1); else 400.
	if hs := req.GetHeaders("Refer-To"); len(hs) != 1 {
		respond(tx, req, 400, "Bad Request: one Refer-To needed")
		return
	}
	leg.mu.Lock()
	take := leg.referred
	leg.mu.Unlock()
	if take == nil {
		leg.log.Warn("REFER declined: nothing to transfer (a REFER is taken from a dialed party, or from the caller while a Dial bridges it)", "refer_to", req.GetHeader("Refer-To").Value())
		respond(tx, req, 603, "Decline")
		return
	}
	replied := make(chan int, 1)
	n := &notifier{leg: leg, id: fmt.Sprint(req.CSeq().SeqNo), codes: make(chan int, 4), sent: make(chan struct{})}
	t := &interpreter.Transfer{
		Target:  strings.TrimSpace(req.GetHeader("Refer-To").Value()),
		Headers: referHeaders(req),
		Reply: func(code int) {
			select {
			case replied <- code:
			default:
			}
		},
		Notify: n.notify,
	}
	take(t)
	code := 0
	select {
	case code = <-replied:
	case <-time.After(referReplyWait):
		code = 480 // nobody could act on it in time
	case <-leg.gone.Done():
		code = 481
	}
	respond(tx, req, code, reasonPhrase(code))
	close(n.sent) // NOTIFYs may go now: after the 202, as the party expects
}

// referHeaders are the REFER's headers Twilio passes to referUrl as
// SipHeader_<name>: X- headers and User-to-User.
func referHeaders(req *sip.Request) map[string]string {
	var h map[string]string
	for _, x := range req.Headers() {
		name := x.Name()
		if (len(name) > 2 && strings.EqualFold(name[:2], "x-")) || strings.EqualFold(name, "User-to-User") {
			if h == nil {
				h = map[string]string{}
			}
			h[name] = x.Value()
		}
	}
	return h
}

// notifier sends the NOTIFYs of one REFER we accepted, in order, from one
// goroutine that ends after the final one (RFC 3515 §2.4.4-2.4.7).
type notifier struct {
	leg   *Leg
	id    string        // the REFER's CSeq: the Event header's id (§2.4.6)
	codes chan int      // statuses to report
	sent  chan struct{} // closed once our answer to the REFER is out
	done  chan struct{} // closed when the goroutine ends
	begun bool          // the goroutine runs (touched by the call goroutine only)
}

// notify implements interpreter.Transfer.Notify: it queues code and
// returns at once.
func (n *notifier) notify(code int) {
	if !n.begun {
		n.begun = true
		n.done = make(chan struct{})
		// Our BYE waits for these NOTIFYs (bye): the final one tells
		// the transferor how it went, and must not come after the BYE.
		n.leg.mu.Lock()
		n.leg.ntf = n
		n.leg.mu.Unlock()
		n.leg.srv.wg.Add(1)
		go n.run()
	}
	select {
	case n.codes <- code:
	default:
		n.leg.log.Warn("NOTIFY dropped: too many queued", "code", code)
	}
}

// run sends the queued NOTIFYs. A status queued before the leg ended is
// still sent (the interpreter reports the final one and then lets the
// transferor go, which ends the leg), unless the party ended the dialog.
func (n *notifier) run() {
	defer n.leg.srv.wg.Done()
	defer close(n.done)
	select {
	case <-n.sent:
	case <-n.leg.dialogCtx().Done():
		return
	}
	for {
		var code int
		select {
		case code = <-n.codes:
		case <-n.leg.gone.Done():
			select {
			case code = <-n.codes:
			default:
				return
			}
		}
		if n.leg.dialogCtx().Err() != nil {
			return // their BYE: nobody to tell
		}
		final := code >= 200
		if err := n.send(code, final); err != nil {
			n.leg.log.Info("NOTIFY to the transferor", "code", code, "err", err)
		}
		if final {
			return
		}
	}
}

// send sends one NOTIFY in the leg's dialog: the status line as
// message/sipfrag (RFC 3420), the subscription terminated with the final
// one (RFC 6665 §4.1.2).
func (n *notifier) send(code int, final bool) error {
	l := n.leg
	var req *sip.Request
	if l.out != nil {
		req = l.out.request(sip.NOTIFY)
	} else {
		// The caller's own REFER (an inbound call): the NOTIFY goes in
		// the dialog we are the UAS of, as our REFERs do (sendRefer).
		req = sip.NewRequest(sip.NOTIFY, remoteTarget(l.dlg.InviteRequest))
	}
	state := "active;expires=60"
	if final {
		state = "terminated;reason=noresource"
	}
	req.AppendHeader(sip.NewHeader("Event", "refer;id="+n.id))
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte(fmt.Sprintf("SIP/2.0 %d %s\r\n", code, reasonPhrase(code))))
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	var res *sip.Response
	var err error
	if l.out != nil {
		res, err = l.srv.client.Do(ctx, req, sipgo.ClientRequestAddVia)
	} else {
		res, err = l.dlg.Do(ctx, req)
	}
	if err != nil {
		return fmt.Errorf("NOTIFY: %w", err)
	}
	if res.StatusCode >= 300 {
		return fmt.Errorf("NOTIFY: %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// OnRefer implements interpreter.Referable: take gets the party's REFERs
// (nil declines them with 603).
func (l *Leg) OnRefer(take func(*interpreter.Transfer)) { l.setReferred(take) }

// reasonPhrase is the reason phrase of a status code we send, in a
// response to a REFER or in a NOTIFY's sipfrag (RFC 3261 §21).
func reasonPhrase(code int) string {
	if r, ok := reasonPhrases[code]; ok {
		return r
	}
	return "Service Unavailable"
}

var reasonPhrases = map[int]string{
	100: "Trying", 180: "Ringing", 200: "OK", 202: "Accepted",
	480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 486: "Busy Here",
	487: "Request Terminated", 603: "Decline",
}

// wait waits, within notifyTimeout, for the NOTIFYs already queued.
func (n *notifier) wait() {
	t := time.NewTimer(notifyTimeout)
	defer t.Stop()
	select {
	case <-n.done:
	case <-t.C:
	}
}
