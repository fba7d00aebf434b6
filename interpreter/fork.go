package interpreter

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/texml/texml/verbs"
)

// fork is one party a Dial calls: a child call of its own, with its own
// CallSid, status callbacks and, when it answers, a whisper document.
type fork struct {
	name   string // "Number:+15551230000", for traces
	target Target
	ep     verbs.Endpoint
	digits string // Number sendDigits, sent once the callee answers
	call   *Call  // the child call: identity, callbacks, whisper runs
	att    Attempt
	leg    Leg

	// ctx is the child leg's life: it ends when the callee hangs up or
	// the attempt ends, so that a whisper in progress stops at once.
	ctx    context.Context
	cancel context.CancelCauseFunc

	// umu guards bridged, set while the fork is bridged with the caller
	// (a live update may then redirect it, childupdate.go), so that an
	// update is either refused or seen by the bridge's loop.
	umu     sync.Mutex
	bridged bool
	// calleeGone is set when the callee's attempt ended (its BYE, or a
	// failure): not the caller's hangup, which ends ctx with the same
	// cause. gone, once the fork is detached, ends its own call's
	// context then; detached also declines the callee's REFERs, which
	// no Dial takes any more.
	calleeGone atomic.Bool
	detached   atomic.Bool
	gone       atomic.Pointer[context.CancelCauseFunc]
	redirect   *Update // the update that took it out of the bridge

	rang   bool
	heard  bool // any response came (100 Trying or more): the target is reachable
	done   bool
	order  *int   // the Dial's count of ended forks
	endSeq int    // this fork's place in that count
	status string // the fork's DialCallStatus once done
	code   int    // the final SIP status code, 200 when answered
	// callID and headers are the SIP Call-ID and the final response's X-
	// headers, for DialSipCallId and DialSipHeader_X-*.
	callID  string
	headers map[string]string

	// amd is the noun's machine detection, run from the callee's answer
	// on; nil without. amdCB and amdMethod are its amdStatusCallback.
	amd              *MachineDetection
	amdCB, amdMethod string
}

// newFork turns a Dial noun into a fork; nil (with an error reported) when
// the noun cannot be dialed.
func (c *Call) newFork(doc *document, d *verbs.Dial, n verbs.Noun) *fork {
	from := d.CallerID
	if from == "" {
		from = c.cfg.From
	}
	f := &fork{target: Target{From: from, ParentCallSid: c.cfg.CallSid}}
	switch n := n.(type) {
	case *verbs.Number:
		if d.CallerID == "" && strings.HasPrefix(from, "client:") {
			// A client's identity is no caller ID a phone network takes:
			// "if the calling leg is a client leg, the caller ID is
			// required" (https://www.twilio.com/docs/api/errors/13214),
			// and Twilio fails the call.
			c.warn("<Dial> from "+from+" to <Number>: a call from a client needs callerId", 13214)
			return nil
		}
		number, ok := DialNumber(n.Number)
		if !ok && number != "" {
			c.warn("<Number>"+number+"</Number> is not an E.164 or US phone number; dialed as written", 13223)
		}
		f.target.Kind, f.target.Addr, f.ep, f.digits = NumberTarget, number, n.Endpoint, n.SendDigits
	case *verbs.Sip:
		f.target.Kind, f.target.Addr, f.ep = SIPTarget, strings.TrimSpace(n.URI), n.Endpoint
		f.target.Username, f.target.Password = n.Username, n.Password
		f.target.Headers = headers(n.Headers)
	case *verbs.Client:
		f.target.Kind, f.target.Addr, f.ep = ClientTarget, strings.TrimSpace(n.Identity), n.Endpoint
		f.target.Headers = headers(n.Params)
	default:
		c.fail("<Dial>: <"+n.Name()+"> cannot be dialed together with other nouns", 0)
		return nil
	}
	f.name = n.Name() + ":" + f.target.Addr
	cb := ""
	if f.ep.StatusCallback != "" {
		if req := c.target(doc, n.Name(), f.ep.StatusCallback, ""); req.bad != nil {
			c.fail(req.bad.Error(), 11100)
		} else {
			cb = req.url
		}
	}
	if f.ep.URL != "" {
		if req := c.target(doc, n.Name(), f.ep.URL, f.ep.Method); req.bad != nil {
			c.fail(req.bad.Error(), 11100)
			f.ep.URL = ""
		} else {
			f.ep.URL, f.ep.Method = req.url, req.method
		}
	}
	if f.ep.MachineDetection != "" {
		c.forkDetection(doc, n.Name(), f)
	}
	to := f.target.Addr
	if f.target.Kind == ClientTarget {
		to = "client:" + to
	}
	f.call = New(nil, c.fetch, c.cbs, Config{
		AccountSid: c.cfg.AccountSid, From: from, To: to, Direction: "outbound-dial",
		ParentCallSid: c.cfg.CallSid, APIVersion: c.cfg.APIVersion,
		Dialect: c.cfg.Dialect, ConnectionID: c.cfg.ConnectionID, Signing: c.cfg.Signing,
		StatusCallback: cb, StatusCallbackMethod: f.ep.StatusCallbackMethod, StatusCallbackEvents: f.ep.StatusCallbackEvent,
		RecordingBaseURL: c.cfg.RecordingBaseURL, MaxDuration: c.cfg.MaxDuration, MaxFetches: c.cfg.MaxFetches,
		Clock: c.cfg.Clock, Tracer: partyTracer{c.cfg.Tracer, f.name}, Logger: c.cfg.Logger, Geo: c.cfg.Geo,
		OnStatus: c.cfg.OnStatus,
	})
	f.call.start = c.start
	f.call.mode = verbs.Whisper
	f.target.CallSid = f.call.cfg.CallSid
	return f
}

func headers(ps []verbs.Param) map[string]string {
	if len(ps) == 0 {
		return nil
	}
	h := make(map[string]string, len(ps))
	for _, p := range ps {
		h[p.Name] = p.Value
	}
	return h
}

// WithParty returns a Tracer that marks every event with the party it
// belongs to (Fields["party"], e.g. "Number:+15551230000"), so that one
// trace reads as one timeline of several parties.
func WithParty(t Tracer, party string) Tracer { return partyTracer{t, party} }

type partyTracer struct {
	t     Tracer
	party string
}

func (p partyTracer) Trace(e Event) {
	if named, _ := e.Fields["party"].(string); named != "" {
		// Already a party's: a detached child's own fork (the party it
		// dialed), which the innermost name tells best.
		p.t.Trace(e)
		return
	}
	f := make(map[string]any, len(e.Fields)+1)
	for k, v := range e.Fields {
		f[k] = v
	}
	f["party"] = p.party
	e.Fields = f
	p.t.Trace(e)
}

// startFork places the fork's call.
func (c *Call) startFork(ctx context.Context, s *dialState, f *fork, timeout time.Duration) {
	f.target.Timeout = timeout
	f.order = &s.ended
	f.ctx, f.cancel = context.WithCancelCause(ctx)
	now := c.cfg.Clock.Now()
	f.call.initiated = now
	f.call.statusEvent("initiated", now)
	c.watchUpdates(s, f)
	c.trace("fork", map[string]any{"party": f.name, "sid": f.call.cfg.CallSid, "state": "initiated"})
	if c.cfg.Dialer == nil {
		f.end("failed", 0, "this call has no dialer")
		return
	}
	att, err := c.cfg.Dialer.Dial(f.ctx, f.target, func(p Progress) {
		if p.Kind == Failed || p.Kind == Ended {
			f.calleeGone.Store(true)
			f.cancel(ErrHangup) // a whisper in progress stops now
			if g := f.gone.Load(); g != nil {
				(*g)(ErrHangup) // a detached child's own call ends
			}
		}
		if p.Kind == Referred && f.detached.Load() && p.Transfer != nil {
			p.Transfer.Reply(603) // its Dial is over; no bridge of its own takes it
			return
		}
		s.box.push(f, p)
	})
	if err != nil {
		c.fail("<Dial> "+f.name+": "+err.Error(), 0)
		f.end("failed", 0, err.Error())
		return
	}
	f.att = att
}

// ringing records that the fork's callee is alerted.
func (f *fork) ringing(code int) {
	if f.rang {
		return
	}
	f.rang = true
	f.call.statusEvent("ringing", f.call.cfg.Clock.Now())
	f.call.cfg.Tracer.Trace(Event{Name: "fork", T: f.call.elapsed(), Fields: map[string]any{"sid": f.call.cfg.CallSid, "state": "ringing", "code": code}})
}

// end closes a fork that did not (or no longer) take part: status is its
// DialCallStatus (busy, no-answer, failed, canceled, completed).
func (f *fork) end(status string, code int, reason string) {
	if f.done {
		return
	}
	f.done, f.status = true, status
	f.call.setChild(nil) // an update of the ended child now finds it over
	if !f.call.answered.IsZero() {
		f.call.closeForks() // streams or SIPREC the REST API started on it
	}
	if f.order != nil {
		*f.order++
		f.endSeq = *f.order
	}
	if code != 0 {
		f.code = code
	}
	if f.cancel != nil {
		f.cancel(ErrHangup)
	}
	ch := f.call
	now := ch.cfg.Clock.Now()
	if ch.answered.IsZero() {
		ch.final = status
	} else {
		ch.final = "completed"
	}
	ch.sipCode = f.code
	ev := map[string]any{"sid": ch.cfg.CallSid, "state": status}
	if code != 0 {
		ev["code"] = code
	}
	if reason != "" {
		ev["reason"] = reason
	}
	ch.cfg.Tracer.Trace(Event{Name: "fork", T: ch.elapsed(), Fields: ev})
	ch.statusEvent("completed", now)
}

// cancelForks gives up on every fork of group still in flight but keep;
// status is what they end as (canceled when another answered or the
// caller left, no-answer at the ring timeout).
func (c *Call) cancelForks(group []*fork, keep *fork, status string) {
	for _, f := range group {
		if f.done || f == keep {
			continue
		}
		if f.att != nil {
			f.att.Cancel()
		}
		if status == "no-answer" {
			f.end(ringTimedOut(f.heard))
			continue
		}
		f.end(status, 0, "")
	}
}

// ringTimedOut is how an attempt ends at its ring timeout, for a Dial's
// fork and a placed call alike: no-answer (our CANCEL ended it, 487
// Request Terminated) when anything came back; failed, with no SIP code,
// when nothing did, not even 100 Trying, since then the target is
// unreachable rather than a callee who let it ring.
func ringTimedOut(heard bool) (status string, code int, reason string) {
	if !heard {
		return "failed", 0, "no response (unreachable)"
	}
	return "no-answer", 487, "ring timeout"
}

// answer takes a fork that answered: the callee gets sendDigits and the
// whisper document; it wins unless it hung up meanwhile or the whisper
// hung up on it (then it counts as not answered, and the others ring on).
func (c *Call) answer(ctx context.Context, s *dialState, f *fork, leg Leg) bool {
	f.leg, f.code = leg, 200
	ch := f.call
	ch.leg = leg
	// The child's forks (its whisper's <Start>s, the REST API's Streams
	// and Siprec) live as long as the fork; fork.end closes them.
	ch.smu.Lock()
	ch.life = f.ctx
	ch.smu.Unlock()
	ch.markAnswered(c.cfg.Clock.Now()) // traced as the party's "answer"
	if f.amd != nil {
		// Detection listens from the answer on, alongside sendDigits,
		// the whisper and the bridge: on a Dial noun it is asynchronous,
		// its result goes to amdStatusCallback and nothing waits for it
		// (Twilio's <Number> page, "machineDetection"; error 21263).
		c.detectAsync(f.ctx, ch, leg, *f.amd, f.amdCB, f.amdMethod)
	}
	if f.digits != "" {
		ch.trace("digits", map[string]any{"digits": f.digits})
		if err := leg.SendDigits(f.ctx, f.digits); err != nil && !errors.Is(err, ErrHangup) && f.ctx.Err() == nil {
			ch.fail("sendDigits: "+err.Error(), 0)
		}
	}
	if f.ctx.Err() == nil && f.ep.URL != "" {
		// The whisper runs on the callee's leg with the fork's context:
		// the caller hanging up (the call's context) or the callee
		// hanging up (the fork's) ends it at once.
		res := ch.loop(f.ctx, &request{url: f.ep.URL, method: methodOr(f.ep.Method), kind: verbs.Whisper})
		endForks(&ch.recordings, "call")
		endForks(&ch.transcriptions, "call")
		ch.endSipRecs("call")
		ch.endStreams("call") // a whisper's forks end with it
		if ctx.Err() != nil {
			return false // the caller left: the Dial's wait reports it
		}
		if errors.Is(context.Cause(f.ctx), errChildEnded) {
			f.att.Cancel() // answered, ended through the REST API
			f.end("completed", 0, "ended by the REST API")
			return false
		}
		if res.Reason != docDone {
			f.end("no-answer", 0, "whisper: "+res.Reason)
			return false
		}
	}
	if f.ctx.Err() != nil {
		f.end("no-answer", 0, "hung up before the bridge")
		return false
	}
	return true
}

// earlyMedia lets the caller hear a ringing callee's early media instead
// of the local ringback; the first fork to send it is heard.
func (c *Call) earlyMedia(s *dialState, f *fork, leg Leg) {
	if s.early != nil || leg == nil {
		return
	}
	stop, err := c.leg.Bridge(leg)
	if err != nil {
		c.log.Warn("early media", "err", err)
		return
	}
	if s.ring != nil {
		s.ring()
		s.ring = nil
	}
	s.early, s.earlyFork = stop, f
	c.trace("early-media", map[string]any{"party": f.name})
	s.rec.peer(leg) // record-from-ringing hears the early media too
}

// stopEarly goes back to the local ringback when the fork whose early
// media the caller heard is gone.
func (c *Call) stopEarly(s *dialState) {
	s.early()
	s.early, s.earlyFork = nil, nil
	s.rec.peer(nil)
	s.ring = c.leg.Ringback(s.d.RingTone)
}

func (s *dialState) stopSounds() {
	if s.early != nil {
		s.early()
		s.early = nil
	}
	if s.ring != nil {
		s.ring()
		s.ring = nil
	}
}

func pending(group []*fork) int {
	n := 0
	for _, f := range group {
		if !f.done {
			n++
		}
	}
	return n
}

func lastOf(group []*fork) *fork { return group[len(group)-1] }

// lastDone is the fork that ended last, whose status a failed Dial
// reports (the last outcome is the one the caller experienced).
func lastDone(group []*fork) *fork {
	var last *fork
	for _, f := range group {
		if f.done && (last == nil || f.endSeq > last.endSeq) {
			last = f
		}
	}
	if last == nil {
		last = lastOf(group)
	}
	return last
}
