package interpreter

import (
	"context"
	"errors"
	"time"
)

// bridge connects the caller with the fork that answered until one of
// them hangs up, the caller presses '*' (hangupOnStar), timeLimit passes,
// or the call is updated; then the callee is hung up and the caller goes
// on with the action or the next verb.
func (c *Call) bridge(ctx context.Context, s *dialState, f *fork) (dialResult, error) {
	s.stopSounds()
	res := dialResult{status: "completed", fork: f}
	if c.answered.IsZero() {
		// answerOnBridge: the caller is answered when the callee is.
		if err := c.ensureAnswered(ctx); err != nil {
			f.att.Cancel()
			f.end("canceled", 0, "the caller left before the bridge")
			if errors.Is(err, ErrHangup) || errors.Is(context.Cause(ctx), ErrHangup) {
				res.status, res.hungUp = "canceled", true
				return res, nil
			}
			return dialResult{}, err
		}
	}
	stop, err := c.leg.Bridge(f.leg)
	if err != nil {
		c.fail("<Dial>: bridge: "+err.Error(), 0)
		f.att.Cancel()
		f.end("failed", 0, err.Error())
		res.status = "failed"
		return res, nil
	}
	began := c.cfg.Clock.Now()
	c.trace("bridge", map[string]any{"party": f.name, "sid": f.call.cfg.CallSid})
	// The Dial a transfer led to is answered: the transferor hears so.
	c.endTransfer(200)
	s.rec.start() // record-from-answer starts here; from-ringing runs already
	s.rec.peer(f.leg)
	f.setBridged(true)
	stopRefers := c.takeCallerRefers(s, f)
	reason, transfer, err := c.bridged(ctx, s, f, began.Add(secs(c.cfg.Dialect.TimeLimit(s.d.TimeLimit))))
	stopRefers()
	f.setBridged(false)
	if u := lateRedirect(s, f); u != nil && reason != "callee-hangup" && reason != "child-redirected" && transfer == nil {
		// Accepted while the bridge was ending for another reason: the
		// callee still goes on alone, as the API was told.
		f.redirect, reason = u, "child-redirected"
	}
	stop()
	s.rec.stop()
	now := c.cfg.Clock.Now()
	// DialCallDuration is the dialed call's duration (Twilio's Dial page,
	// "DialCallDuration"): the child leg's, from its answer, so that it
	// includes sendDigits and the whisper and equals the CallDuration of
	// the child's completed status callback.
	res.duration = now.Sub(f.call.answered)
	res.bridged = true
	c.trace("unbridge", map[string]any{"party": f.name, "reason": reason, "seconds": wholeSeconds(now.Sub(began))})
	switch {
	case reason == "caller-referred":
		// The caller hands the callee on: the callee runs what referUrl
		// returns as a call of its own, and the caller waits to hear
		// how that goes (released) before it is let go.
		res.released, res.release = context.WithCancel(ctx)
		c.detachChild(f, c.referRequest(s.doc, s.d, transfer), Update{},
			&pendingTransfer{t: transfer, release: res.release})
	case transfer != nil:
		// The transferor stays until it has heard how the transfer
		// went (endTransfer).
		res.transfer = &pendingTransfer{t: transfer, f: f}
	case reason == "child-redirected":
		// The callee goes on alone with its own document.
		u := *f.redirect
		first := &request{url: u.URL, method: methodOr(u.Method)}
		if u.Twiml != "" {
			first = &request{twiml: u.Twiml}
		}
		c.detachChild(f, first, u, nil)
	case reason != "callee-hangup":
		f.att.Cancel() // BYE to the callee
	}
	f.end("completed", 0, "") // a detached fork is done already
	if err != nil {
		if errors.Is(err, ErrHangup) {
			res.hungUp = true
			return res, nil
		}
		return dialResult{}, err
	}
	return res, nil
}

// bridged waits for the end of a bridge and says why it ended; err is the
// call context's cause when the caller left, the call was updated or it
// reached its time limit. transfer is the bridged party's REFER when an
// accepted one ended the bridge (referUrl).
func (c *Call) bridged(ctx context.Context, s *dialState, f *fork, limit time.Time) (reason string, transfer *Transfer, err error) {
	var spec InputSpec
	if s.d.HangupOnStar {
		c.turn++
		spec = InputSpec{Turn: c.turn, DTMF: true}
	}
	for {
		if ev, ok := s.box.pop(); ok {
			switch {
			case ev.f == f && ev.hangup:
				return "child-ended", nil, nil // by the REST API: hung up below
			case ev.f == f && ev.redirect != nil:
				f.redirect = ev.redirect
				return "child-redirected", nil, nil
			case ev.callerRefer != nil:
				if c.takeTransfer(s, "caller", ev.callerRefer) {
					return "caller-referred", ev.callerRefer, nil
				}
			case ev.f == f && (ev.p.Kind == Ended || ev.p.Kind == Failed):
				return "callee-hangup", nil, nil
			case ev.f == f && ev.p.Kind == Referred && ev.p.Transfer != nil:
				if c.takeTransfer(s, f.name, ev.p.Transfer) {
					return "referred", ev.p.Transfer, nil
				}
			default:
				declineTransfer(ev.p) // late news from a canceled fork
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return endReason(context.Cause(ctx)), nil, context.Cause(ctx)
		}
		left := limit.Sub(c.cfg.Clock.Now())
		if left <= 0 {
			return "time-limit", nil, nil
		}
		wctx, done := s.box.waitContext(ctx)
		star, err := c.awaitStar(ctx, wctx, s.d.HangupOnStar, &spec, left)
		done()
		if star {
			return "hangup-on-star", nil, nil
		}
		if err != nil {
			return "caller-hangup", nil, err
		}
	}
}

// awaitStar waits on the call's clock until wctx ends or left has passed.
// With hangupOnStar it listens to the caller's keys meanwhile: '*' ends
// the wait with star true (Twilio's Dial page, "hangupOnStar": the caller
// goes on with the next verb); any other key is ignored, and since a leg
// answers one input per turn, the caller is listened to on a new turn for
// a later '*'. err is the caller hanging up.
func (c *Call) awaitStar(ctx, wctx context.Context, hangupOnStar bool, spec *InputSpec, left time.Duration) (star bool, err error) {
	if !hangupOnStar {
		_ = c.cfg.Clock.Sleep(wctx, left)
		return false, nil
	}
	spec.Timeout = left
	in, err := c.leg.WaitInput(wctx, *spec)
	if err == nil && in != nil && in.Kind == Digit && in.Digit == '*' {
		c.trace("digits", map[string]any{"digits": "*", "hangup_on_star": true})
		return true, nil
	}
	if err == nil && in != nil && in.Kind == Digit {
		c.turn++
		spec.Turn = c.turn
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, errWake) && !errors.Is(context.Cause(wctx), errWake) {
		return false, err
	}
	return false, nil
}

// endReason names why the call's context ended a bridge, for the trace.
func endReason(cause error) string {
	switch {
	case errors.Is(cause, errUpdated):
		return "updated"
	case errors.Is(cause, ErrTimeLimit):
		return "call-time-limit"
	}
	return "caller-hangup"
}

// setBridged opens or closes the fork to redirects (childupdate.go).
func (f *fork) setBridged(on bool) {
	f.umu.Lock()
	f.bridged = on
	f.umu.Unlock()
}

// lateRedirect takes the redirects of f left in the box once its bridge
// is closed to them; other events stay.
func lateRedirect(s *dialState, f *fork) *Update {
	var u *Update
	var keep []forkEvent
	for ev, ok := s.box.pop(); ok; ev, ok = s.box.pop() {
		if ev.f == f && ev.redirect != nil {
			u = ev.redirect
			continue
		}
		keep = append(keep, ev)
	}
	for _, ev := range keep {
		s.box.add(ev)
	}
	return u
}
