package interpreter

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/texml/texml/verbs"
)

// dialQueue runs <Dial><Queue> (https://www.twilio.com/docs/voice/twiml/queue):
// the agent is bridged with the caller at the front of the queue, after
// the Queue's url document has run on that caller; an empty queue makes
// the Dial wait up to its timeout for a caller (no-answer); a queue that
// never existed fails the Dial. The bridge ends like any Dial's: either
// side hanging up, hangupOnStar, timeLimit. The dequeued caller then goes
// on with its Enqueue action (QueueResult=bridged).
func (c *Call) dialQueue(ctx context.Context, doc *document, d *verbs.Dial, q *verbs.Queue) (step, error) {
	name := "Queue:" + q.Queue
	s := &dialState{d: d}
	f := &fork{name: name}
	status, bridged, hungUp := "failed", false, false
	var dequeued string
	var res dialResult
	if !d.AnswerOnBridge {
		if err := c.ensureAnswered(ctx); err != nil {
			return step{}, err
		}
	}
	timeout := secs(c.cfg.Dialect.RingTimeout(d.Timeout))
	c.trace("dial", map[string]any{"targets": []string{name}, "timeout": int(timeout.Seconds())})
	var att Attempt
	var err error
	if c.cfg.Queues == nil {
		err = errors.New("no queue service is configured")
	} else {
		a := Agent{CallSid: c.cfg.CallSid, Method: q.Method}
		if q.URL != "" {
			a.URL = c.target(doc, "Queue", q.URL, q.Method).url
		}
		att, err = c.cfg.Queues.Take(ctx, q.Queue, a, func(p Progress) { s.box.push(f, p) })
	}
	switch {
	case errors.Is(err, ErrNoQueue):
		c.trace("fork", map[string]any{"party": name, "status": "failed", "reason": "no such queue"})
	case err != nil:
		c.fail("<Dial><Queue>: "+err.Error(), 0)
	default:
		f.att = att
		res, err = c.waitQueue(ctx, s, f, c.cfg.Clock.Now().Add(timeout))
		if err != nil {
			return step{}, err
		}
		status, bridged, hungUp, dequeued = res.status, res.bridged, res.hungUp, f.target.CallSid
	}
	p := url.Values{"DialCallStatus": {status}, "DialBridged": {strconv.FormatBool(bridged)}}
	if dequeued != "" {
		p.Set("DialCallSid", dequeued)
	}
	if bridged {
		p.Set("DialCallDuration", strconv.Itoa(wholeSeconds(res.duration)))
	}
	c.trace("dialed", map[string]any{"outcome": status, "seconds": wholeSeconds(res.duration), "bridged": bridged})
	return c.finish(ctx, doc, d, d.Action, d.Method, Outcome{Params: p, CallerHungUp: hungUp})
}

// waitQueue waits for the queue to hand over a caller until the deadline,
// then bridges the agent with it.
func (c *Call) waitQueue(ctx context.Context, s *dialState, f *fork, deadline time.Time) (dialResult, error) {
	if c.answered.IsZero() {
		if err := c.leg.EarlyMedia(ctx); err != nil {
			f.att.Cancel()
			return dialResult{}, err
		}
	}
	s.ring = c.leg.Ringback(s.d.RingTone)
	defer s.stopSounds()
	for f.leg == nil {
		ev, ok, err := c.next(ctx, &s.box, deadline)
		switch {
		case err != nil:
			f.att.Cancel()
			if errors.Is(err, ErrHangup) {
				return dialResult{status: "canceled", hungUp: true}, nil
			}
			return dialResult{}, err
		case !ok:
			f.att.Cancel() // nobody came within the timeout
			c.trace("fork", map[string]any{"party": f.name, "status": "no-answer"})
			return dialResult{status: "no-answer"}, nil
		}
		switch ev.p.Kind {
		case Answered:
			f.leg, f.target.CallSid = ev.p.Leg, ev.p.CallSid
		case Failed:
			c.trace("fork", map[string]any{"party": f.name, "status": "failed", "reason": ev.p.Reason})
			return dialResult{status: "failed"}, nil
		}
	}
	s.stopSounds()
	if c.answered.IsZero() {
		if err := c.ensureAnswered(ctx); err != nil {
			f.att.Cancel()
			if errors.Is(err, ErrHangup) || errors.Is(context.Cause(ctx), ErrHangup) {
				return dialResult{status: "canceled", hungUp: true}, nil
			}
			return dialResult{}, err
		}
	}
	stop, err := c.leg.Bridge(f.leg)
	if err != nil {
		c.fail("<Dial><Queue>: bridge: "+err.Error(), 0)
		f.att.Cancel()
		return dialResult{status: "failed"}, nil
	}
	began := c.cfg.Clock.Now()
	c.trace("bridge", map[string]any{"party": f.name, "sid": f.target.CallSid})
	// takeTransfer declines every REFER of a Dial Queue: no transfer here.
	reason, _, err := c.bridged(ctx, s, f, began.Add(secs(c.cfg.Dialect.TimeLimit(s.d.TimeLimit))))
	stop()
	now := c.cfg.Clock.Now()
	c.trace("unbridge", map[string]any{"party": f.name, "reason": reason, "seconds": wholeSeconds(now.Sub(began))})
	if reason != "callee-hangup" {
		f.att.Cancel() // the caller goes on with its Enqueue action
	}
	res := dialResult{status: "completed", bridged: true, duration: now.Sub(began)}
	if err != nil {
		if errors.Is(err, ErrHangup) {
			res.hungUp = true
			return res, nil
		}
		return dialResult{}, err
	}
	return res, nil
}
