package interpreter

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/texml/texml/verbs"
)

// dialConference runs <Dial><Conference>
// (https://www.twilio.com/docs/voice/twiml/conference): joining never
// rings; until the conference starts the participant hears the waitUrl
// document (requested once; absent = hold music, "" = silence); then it
// talks in the room until the conference ends, it hangs up, presses '*'
// (hangupOnStar) or reaches the Dial's timeLimit. The action then gets
// DialCallStatus=answered and no DialCallSid.
func (c *Call) dialConference(ctx context.Context, doc *document, d *verbs.Dial, n *verbs.Conference) (step, error) {
	fail := func(msg string) (step, error) {
		c.fail("<Dial><Conference>: "+msg, 0)
		return c.finish(ctx, doc, d, d.Action, d.Method, Outcome{Params: url.Values{"DialCallStatus": {"failed"}, "DialBridged": {"false"}}})
	}
	if c.cfg.Conferences == nil {
		return fail("no conference service is configured")
	}
	if err := c.ensureAnswered(ctx); err != nil {
		return step{}, err
	}
	c.trace("dial", map[string]any{"targets": []string{"Conference:" + n.Room}})
	var box inbox
	p := Participant{
		CallSid: c.cfg.CallSid, Leg: c.leg, Label: n.ParticipantLabel, Muted: n.Muted, Beep: n.Beep,
		StartOnEnter: n.StartConferenceOnEnter, EndOnExit: n.EndConferenceOnExit, Max: n.MaxParticipants,
		Coach:   strings.TrimSpace(n.Coach),
		Changed: func() { box.push(nil, Progress{}) },
	}
	if n.StatusCallback != "" {
		p.StatusCallback = StatusCallback{
			URL: c.target(doc, "Conference", n.StatusCallback, n.StatusCallbackMethod).url, Method: methodOr(n.StatusCallbackMethod),
			Events: n.StatusCallbackEvent,
			Post:   func(u, method string, params url.Values) { c.post("conference-status", u, method, params) },
		}
	}
	p.Record = c.roomRecording(doc, n)
	seat, err := c.cfg.Conferences.Join(ctx, n.Room, p)
	switch {
	case errors.Is(err, ErrConferenceFull):
		c.trace("conference", map[string]any{"room": n.Room, "state": "full"})
		return fail("the conference is full (maxParticipants)")
	case err != nil:
		return fail(err.Error())
	}
	began := c.cfg.Clock.Now()
	c.trace("conference", map[string]any{"room": n.Room, "sid": seat.Sid(), "state": "joined"})
	reason, err := c.inConference(ctx, doc, d, n, seat, &box)
	seat.Leave(ctx)
	c.trace("conference", map[string]any{"room": n.Room, "state": "left", "reason": reason, "seconds": wholeSeconds(c.cfg.Clock.Now().Sub(began))})
	hungUp := false
	if err != nil {
		if !errors.Is(err, ErrHangup) {
			return step{}, err // an update or the call's time limit: the run loop applies it
		}
		hungUp = true
	}
	// Twilio's Conference page: the Dial action gets
	// DialCallStatus=answered, without a DialCallSid.
	return c.finish(ctx, doc, d, d.Action, d.Method, Outcome{CallerHungUp: hungUp, Params: url.Values{
		"DialCallStatus": {"answered"}, "DialBridged": {"false"},
		"DialCallDuration": {strconv.Itoa(wholeSeconds(c.cfg.Clock.Now().Sub(began)))},
	}})
}

// inConference waits in the room until the participant is out of it, and
// says why.
func (c *Call) inConference(ctx context.Context, doc *document, d *verbs.Dial, n *verbs.Conference, seat Seat, box *inbox) (string, error) {
	limit := c.cfg.Clock.Now().Add(secs(c.cfg.Dialect.TimeLimit(d.TimeLimit)))
	waited := false
	var spec InputSpec
	if d.HangupOnStar {
		c.turn++
		spec = InputSpec{Turn: c.turn, DTMF: true}
	}
	for {
		for {
			if _, ok := box.pop(); !ok {
				break
			}
		}
		if err := ctx.Err(); err != nil {
			return endReason(context.Cause(ctx)), context.Cause(ctx)
		}
		state := seat.State()
		if state == SeatEnded {
			c.trace("conference", map[string]any{"room": n.Room, "state": "ended"})
			return "conference-ended", nil
		}
		if state == SeatTalking {
			seat.Enter()
		}
		left := limit.Sub(c.cfg.Clock.Now())
		if left <= 0 {
			return "time-limit", nil
		}
		wctx, done := box.waitContext(ctx)
		if state == SeatWaiting && !waited {
			waited = true
			c.runConferenceWait(wctx, doc, n)
			done()
			continue
		}
		star, err := c.awaitStar(ctx, wctx, d.HangupOnStar, &spec, left)
		done()
		if star {
			return "hangup-on-star", nil
		}
		if err != nil {
			return "caller-hangup", err
		}
	}
}

// runConferenceWait plays the wait document once; it returns when it ends
// or ctx does (the conference started). Twilio requests a Conference's
// waitUrl once, unlike an Enqueue's.
func (c *Call) runConferenceWait(ctx context.Context, doc *document, n *verbs.Conference) {
	prev := c.mode
	c.mode = verbs.ConferenceWait
	defer func() { c.mode = prev }()
	switch {
	case !n.WaitURLSet:
		d := &document{url: doc.url, verbs: []verbs.Verb{&verbs.Play{URL: HoldMusic, Loop: 0}}}
		c.runDocument(ctx, d)
	case n.WaitURL == "":
		// waitUrl="": silence until the conference starts.
	default:
		req := c.target(doc, "Conference", n.WaitURL, n.WaitMethod)
		req.kind = verbs.ConferenceWait
		c.loop(ctx, req)
	}
}

// roomRecording is the recording n asks for (record="record-from-start"),
// nil for none. It is used only if this participant creates the room;
// the conference service makes it, from the room's start to its end.
func (c *Call) roomRecording(doc *document, n *verbs.Conference) *RoomRecording {
	if n.Record != "record-from-start" {
		return nil
	}
	sid := NewSid("RE")
	// Trim is trim-silence unless do-not-trim: trim-silence is the
	// Conference's default, unlike Dial's.
	rr := &RoomRecording{Sid: sid, URL: c.recordingURL(sid), Trim: n.Trim != "do-not-trim"}
	if n.RecordingStatusCallback != "" {
		req := c.target(doc, "Conference", n.RecordingStatusCallback, "")
		if req.bad != nil {
			c.fail(req.bad.Error(), 11100)
			return rr
		}
		rr.StatusCallback = StatusCallback{
			URL: req.url, Method: methodOr(n.RecordingStatusCallbackMethod), Events: n.RecordingStatusCallbackEvent,
			Post: func(u, method string, params url.Values) { c.post("recording-status", u, method, params) },
		}
	}
	return rr
}
