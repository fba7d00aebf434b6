package interpreter

import (
	"context"
	"errors"
	"github.com/texml/texml/fetcher"
	"time"
)

// Ring timeout of a call created through the REST API (Twilio's Call
// resource, "Timeout": default 60 s, at most 600 s).
const (
	DefaultPlaceTimeout = 60 * time.Second
	MaxPlaceTimeout     = 600 * time.Second
)

// Placement is a call to place: what POST /Calls asks for
// (https://www.twilio.com/docs/voice/api/call-resource#create-a-call-resource).
type Placement struct {
	// Target is whom to call; its CallSid is the call's, its From the
	// call's From when empty, its Timeout the ring time (0: 60 s).
	Target Target
	// SendDigits are played to the callee once it answers, before the
	// call's document is fetched (Twilio: "SendDigits").
	SendDigits string
}

// ErrCanceled ends a placement that the API canceled before the callee
// answered (Status=canceled or completed on a queued or ringing call).
var ErrCanceled = errors.New("call canceled")

// Place calls p.Target with the call's Dialer and, when the callee
// answers, runs the call's document on the answered leg, the way Twilio
// runs a call created through its REST API: status callbacks initiated,
// ringing and answered as they happen; busy, no-answer (the ring timeout,
// or 408/480/487), failed or canceled (ctx canceled with ErrCanceled
// before the answer) when it is not answered. Live updates sent before
// the answer are applied once it comes. Place blocks until the call ends.
func (c *Call) Place(ctx context.Context, p Placement) Result {
	c.start = c.cfg.Clock.Now()
	c.initiated = c.start
	c.setRunning(true)
	c.log.Info("placing call", "from", c.cfg.From, "to", c.cfg.To, "url", fetcher.Redact(c.cfg.URL))
	c.statusEvent("initiated", c.start)

	t := p.Target
	t.CallSid, t.ParentCallSid = c.cfg.CallSid, c.cfg.ParentCallSid
	if t.From == "" {
		t.From = c.cfg.From
	}
	if t.Timeout <= 0 {
		t.Timeout = DefaultPlaceTimeout
	}
	t.Timeout = min(t.Timeout, MaxPlaceTimeout)
	if c.cfg.Dialer == nil {
		return c.unanswered("failed", 0, "this call has no dialer")
	}

	// The answered callee's hang-up cancels the call's context with
	// ErrHangup, as an inbound caller's does.
	callCtx, hangup := context.WithCancelCause(ctx)
	defer hangup(nil)
	box := &inbox{}
	att, err := c.cfg.Dialer.Dial(context.WithoutCancel(ctx), t, func(pr Progress) {
		if pr.Kind == Referred {
			// The called party of a REST call is not in a Dial: no
			// referUrl can take its REFER.
			declineTransfer(pr)
			return
		}
		if pr.Kind == Ended {
			hangup(ErrHangup)
		}
		box.push(nil, pr)
	})
	if err != nil {
		c.fail("placing the call: "+err.Error(), 0)
		return c.unanswered("failed", 0, err.Error())
	}
	deadline := c.start.Add(t.Timeout)
	rang, heard := false, false
	for {
		ev, ok, err := c.next(ctx, box, deadline)
		switch {
		case err != nil:
			att.Cancel()
			if errors.Is(err, ErrCanceled) {
				return c.unanswered("canceled", 487, "canceled through the API")
			}
			r := c.unanswered("canceled", 487, "stopped: "+err.Error())
			r.Err = err
			return r
		case !ok:
			att.Cancel()
			return c.unanswered(ringTimedOut(heard))
		}
		heard = true
		switch pr := ev.p; pr.Kind {
		case Ringing, EarlyMedia:
			if !rang {
				rang = true
				c.statusEvent("ringing", c.cfg.Clock.Now())
			}
		case Failed:
			return c.unanswered(DialStatus(pr.Code), pr.Code, pr.Reason)
		case Ended:
			// Answered and gone before we saw the answer: nothing ran.
			return c.unanswered("completed", 0, "ended at once")
		case Answered:
			c.leg = pr.Leg
			return c.runAnswered(callCtx, p)
		}
	}
}

// runAnswered runs an answered placement: SendDigits, then its document.
func (c *Call) runAnswered(ctx context.Context, p Placement) Result {
	c.markAnswered(c.cfg.Clock.Now())
	if c.cfg.Record != nil {
		r := c.newCallRecording(*c.cfg.Record)
		r.start()
		defer r.stop()
	}
	if p.SendDigits != "" {
		if err := c.leg.SendDigits(ctx, p.SendDigits); err != nil && ctx.Err() == nil {
			c.warn("SendDigits: "+err.Error(), 0)
		}
	}
	return c.execute(ctx)
}

// unanswered ends a placement that was never answered.
func (c *Call) unanswered(status string, code int, reason string) Result {
	c.setRunning(false)
	c.final, c.sipCode = status, code
	c.trace("hangup", map[string]any{"reason": reason, "status": status})
	c.statusEvent("completed", c.cfg.Clock.Now())
	c.log.Info("call ended", "status", status, "reason", reason)
	return Result{Status: status, Reason: reason}
}

// RecordOptions record a call created through the REST API ("Record",
// "RecordingChannels", "RecordingTrack", "Trim",
// "RecordingStatusCallback…",
// https://www.twilio.com/docs/voice/api/call-resource#create-a-call-resource):
// from the answer to the end of the call, what the callee says and
// everything it hears.
type RecordOptions struct {
	// Dual puts the callee on the first channel and what it hears on the
	// second; otherwise both are mixed into one (Twilio's default, mono).
	Dual bool
	// Track keeps both, what the callee says (inbound) or what it
	// hears (outbound).
	Track Track
	// Trim drops the silence at both ends (Trim=trim-silence).
	Trim bool
	// StatusCallback gets the in-progress, completed and absent events
	// asked for (default completed), with StatusCallbackMethod.
	StatusCallback, StatusCallbackMethod string
	StatusCallbackEvents                 []string
}

// newCallRecording prepares the recording of the whole call o asks for,
// with the machinery of <Dial record>: the leg captures, this decides
// when, and sends the callbacks (RecordingSource=OutboundAPI).
func (c *Call) newCallRecording(o RecordOptions) *dialRecording {
	r := &dialRecording{c: c}
	r.spec = CallRecordSpec{Sid: NewSid("RE"), AccountSid: c.cfg.AccountSid, CallSid: c.cfg.CallSid,
		Dual: o.Dual, Track: o.Track, Trim: o.Trim, Heard: true, Source: "OutboundAPI"}
	channels := 1
	if o.Dual {
		channels = 2
	}
	r.status = &recordingStatus{c: c, url: o.StatusCallback, method: methodOr(o.StatusCallbackMethod), events: map[string]bool{},
		sid: r.spec.Sid, recURL: c.recordingURL(r.spec.Sid), source: r.spec.Source, channels: channels}
	for _, e := range o.StatusCallbackEvents {
		r.status.events[e] = true
	}
	if len(r.status.events) == 0 {
		r.status.events["completed"] = true
	}
	return r
}
