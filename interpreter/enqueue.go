package interpreter

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/texml/texml/verbs"
)

// HoldMusic is the URL of the hold music texml generates itself, so that
// a queue or a conference needs no network: the default of Enqueue's and
// Conference's waitUrl. Legs play it like any other Play URL.
const HoldMusic = "builtin:hold-music"

// waker lets another goroutine end the call goroutine's current wait,
// once; a wait that starts after it fired ends at once.
type waker struct {
	mu    sync.Mutex
	fired bool
	wake  context.CancelCauseFunc
}

func (w *waker) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fired = true
	if w.wake != nil {
		w.wake(errWake)
		w.wake = nil
	}
}

func (w *waker) done() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

// waitContext returns a context derived from ctx that also ends when w
// fires.
func (w *waker) waitContext(ctx context.Context) (context.Context, func()) {
	wctx, cancel := context.WithCancelCause(ctx)
	w.mu.Lock()
	if w.fired {
		cancel(errWake)
	} else {
		w.wake = cancel
	}
	w.mu.Unlock()
	return wctx, func() {
		w.mu.Lock()
		w.wake = nil
		w.mu.Unlock()
		cancel(nil)
	}
}

// wait blocks on the call's clock until w fires or ctx ends.
func (c *Call) wait(ctx context.Context, w *waker) error {
	for !w.done() {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		wctx, done := w.waitContext(ctx)
		_ = c.cfg.Clock.Sleep(wctx, c.cfg.MaxDuration)
		done()
	}
	return nil
}

// queueStay is a call's time in a queue.
type queueStay struct {
	e      *verbs.Enqueue
	place  Place
	picked waker
	began  time.Time
	sid    string
}

// enqueue runs <Enqueue> (https://www.twilio.com/docs/voice/twiml/enqueue):
// the caller waits in the queue, hearing the waitUrl document (requested
// again whenever it ends), until an agent's <Dial><Queue> takes it, the
// wait document runs <Leave>, or the caller hangs up. The action fires at
// once after Leave, and after the bridge ends when an agent took the call;
// without an action the next verb runs.
func (c *Call) enqueue(ctx context.Context, doc *document, e *verbs.Enqueue) (step, error) {
	if c.cfg.Queues == nil {
		c.fail("<Enqueue>: no queue service is configured", 0)
		return step{}, nil
	}
	if err := c.ensureAnswered(ctx); err != nil {
		return step{}, err
	}
	q := &queueStay{e: e, began: c.cfg.Clock.Now()}
	if strings.TrimSpace(e.Queue) == "" {
		// A TaskRouter Enqueue (workflowSid) names no queue: texml has
		// none to put the call in.
		c.fail("<Enqueue>: no queue name (TaskRouter's workflowSid is not supported)", 0)
		return c.leaveQueue(ctx, doc, q, "error", false)
	}
	// No maxQueueSize: the queue's own limit, which the REST API may
	// have set, and is 1000 for a queue this Enqueue creates (Twilio's
	// Enqueue page: "The default maximum length of the queue is 1000").
	max := e.MaxQueueSize
	place, err := c.cfg.Queues.Enqueue(ctx, e.Queue, Waiter{CallSid: c.cfg.CallSid, Leg: c.leg, Max: max, Enqueued: q.began}, q.picked.fire)
	switch {
	case errors.Is(err, ErrQueueFull):
		c.trace("enqueue", map[string]any{"queue": e.Queue, "result": "queue-full"})
		return c.leaveQueue(ctx, doc, q, "queue-full", false)
	case err != nil:
		c.fail("<Enqueue>: "+err.Error(), 0)
		c.trace("enqueue", map[string]any{"queue": e.Queue, "result": "system-error"})
		return c.leaveQueue(ctx, doc, q, "system-error", false)
	}
	q.place = place
	st, _ := place.Status(ctx)
	q.sid = st.Sid
	c.trace("enqueue", map[string]any{"queue": e.Queue, "position": st.Position, "size": st.Size})
	return c.waitInQueue(ctx, doc, q)
}

// waitInQueue runs the wait document until the call leaves the queue.
func (c *Call) waitInQueue(ctx context.Context, doc *document, q *queueStay) (step, error) {
	for {
		if p := q.place.Pickup(); p != nil {
			return c.dequeued(ctx, doc, q, p)
		}
		if u, m, ok := q.place.Redirected(); ok {
			// Dequeued by the REST API into a new document: it is
			// requested at once, as the action would be, with the
			// Enqueue's action parameters and QueueResult=redirected
			// (https://www.twilio.com/docs/voice/api/queue-member,
			// https://www.twilio.com/docs/voice/twiml/enqueue#attributes-action).
			c.trace("dequeue", map[string]any{"queue": q.e.Queue, "result": "redirected", "url": u})
			return c.leaveQueueTo(ctx, doc, q, "redirected", u, m)
		}
		wctx, done := q.picked.waitContext(ctx)
		res := c.runWait(wctx, doc, q)
		done()
		if q.picked.done() {
			continue // an agent took the call: the wait document stopped
		}
		if ctx.Err() != nil || res.Reason == docLeave || (res.Reason != docDone && res.Reason != docStopped) {
			// The caller hung up, the call was updated or reached its
			// time limit, the wait document ran <Leave> or hung up.
			left, err := c.outOfQueue(ctx, q)
			if err != nil {
				c.fail("<Enqueue>: leaving the queue: "+err.Error(), 0)
			}
			if !left {
				continue // an agent took the call first
			}
			switch {
			case res.Reason == docLeave && ctx.Err() == nil:
				c.trace("dequeue", map[string]any{"queue": q.e.Queue, "result": "leave"})
				return c.leaveQueue(ctx, doc, q, "leave", false)
			case errors.Is(context.Cause(ctx), errUpdated):
				return step{}, nil // the update replaces the document
			case c.hungUp || errors.Is(context.Cause(ctx), ErrHangup):
				c.trace("dequeue", map[string]any{"queue": q.e.Queue, "result": "hangup"})
				return c.leaveQueue(ctx, doc, q, "hangup", true)
			case ctx.Err() != nil:
				return step{}, context.Cause(ctx)
			}
			// The wait document ended the call (Hangup, an error).
			return step{end: &res}, nil
		}
		// The wait document ran to its end: it is requested again.
	}
}

// outOfQueue takes the call out of its queue after the caller or the wait
// document left; false means an agent took it first.
func (c *Call) outOfQueue(ctx context.Context, q *queueStay) (bool, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	return q.place.Leave(cctx)
}

// runWait runs the Enqueue's wait document once, or the default hold music
// when there is none.
func (c *Call) runWait(ctx context.Context, doc *document, q *queueStay) Result {
	prev := c.mode
	c.mode = verbs.EnqueueWait
	defer func() { c.mode = prev }()
	if q.e.WaitURL == "" {
		d := &document{url: doc.url, verbs: []verbs.Verb{&verbs.Play{URL: HoldMusic, Loop: 0}}}
		_, r := c.runDocument(ctx, d)
		if r == nil {
			return Result{Reason: docDone}
		}
		return *r
	}
	req := c.target(doc, "Enqueue", q.e.WaitURL, q.e.WaitURLMethod)
	req.kind = verbs.EnqueueWait
	st, err := q.place.Status(ctx)
	if err != nil {
		c.warn("<Enqueue>: queue status: "+err.Error(), 0)
	}
	req.params = url.Values{
		"QueueSid":         {q.sid},
		"QueuePosition":    {strconv.Itoa(st.Position)},
		"QueueTime":        {strconv.Itoa(wholeSeconds(c.cfg.Clock.Now().Sub(q.began)))},
		"AvgQueueTime":     {strconv.Itoa(wholeSeconds(st.AvgWait))},
		"CurrentQueueSize": {strconv.Itoa(st.Size)},
		"MaxQueueSize":     {strconv.Itoa(st.Max)},
	}
	return c.loop(ctx, req)
}

// dequeued runs the agent's Queue url document on the caller, hands the
// caller's leg to the agent and waits until the agent ends the bridge.
func (c *Call) dequeued(ctx context.Context, doc *document, q *queueStay, p *Pickup) (step, error) {
	queued := c.cfg.Clock.Now().Sub(q.began)
	c.trace("dequeue", map[string]any{"queue": q.e.Queue, "result": "picked", "agent": p.Agent.CallSid})
	if p.Agent.URL != "" {
		prev := c.mode
		c.mode = verbs.QueueURL
		res := c.loop(ctx, &request{url: p.Agent.URL, method: methodOr(p.Agent.Method), kind: verbs.QueueURL,
			params: url.Values{"QueueSid": {q.sid}, "QueueTime": {strconv.Itoa(wholeSeconds(queued))}, "DequeingCallSid": {p.Agent.CallSid}}})
		c.mode = prev
		if ctx.Err() != nil || (res.Reason != docDone && res.Reason != docStopped) {
			p.Gone()
			switch {
			case errors.Is(context.Cause(ctx), errUpdated):
				return step{}, nil
			case c.hungUp || errors.Is(context.Cause(ctx), ErrHangup):
				// Dequeued, not yet bridged: the caller left while
				// the agent's url document played to it. Twilio's
				// Enqueue page lists bridging-in-process among the
				// QueueResults (https://www.twilio.com/docs/voice/twiml/enqueue#attributes-action-parameters);
				// texml reads it as this case, where the caller was
				// no longer waiting ("hangup") nor bridged.
				return c.leaveQueue(ctx, doc, q, "bridging-in-process", true)
			case ctx.Err() != nil:
				return step{}, context.Cause(ctx)
			}
			return step{end: &res}, nil // the url document ended the call
		}
	}
	var released waker
	bridged := false
	p.Ready(c.leg, func(b bool) {
		bridged = b
		released.fire()
	})
	if err := c.wait(ctx, &released); err != nil {
		p.Gone() // the caller hung up (or the call was updated) during the bridge
		return c.afterBridge(ctx, doc, q, queued)
	}
	if !bridged {
		// The agent gave up before the bridge: back to the queue.
		c.trace("dequeue", map[string]any{"queue": q.e.Queue, "result": "returned"})
		return c.enqueue(ctx, doc, q.e)
	}
	return c.afterBridge(ctx, doc, q, queued)
}

// afterBridge ends an Enqueue whose call an agent took: the action gets
// QueueResult=bridged once the bridge is over (Twilio's Enqueue page,
// "action").
func (c *Call) afterBridge(ctx context.Context, doc *document, q *queueStay, queued time.Duration) (step, error) {
	if errors.Is(context.Cause(ctx), errUpdated) {
		return step{}, nil
	}
	hungUp := c.hungUp || errors.Is(context.Cause(ctx), ErrHangup)
	if ctx.Err() != nil && !hungUp {
		return step{}, context.Cause(ctx)
	}
	c.trace("dequeue", map[string]any{"queue": q.e.Queue, "result": "bridged"})
	return c.finish(ctx, doc, q.e, q.e.Action, q.e.Method, Outcome{CallerHungUp: hungUp, Params: url.Values{
		"QueueResult": {"bridged"}, "QueueSid": {q.sid}, "QueueTime": {strconv.Itoa(wholeSeconds(queued))},
	}})
}

// leaveQueue ends an Enqueue that did not bridge: the action is requested
// at once with the QueueResult.
func (c *Call) leaveQueue(ctx context.Context, doc *document, q *queueStay, result string, hungUp bool) (step, error) {
	return c.finish(ctx, doc, q.e, q.e.Action, q.e.Method, Outcome{CallerHungUp: hungUp, Params: c.queueParams(q, result)})
}

// leaveQueueTo ends an Enqueue by requesting the document at u (the REST
// API's dequeue) with the action's parameters.
func (c *Call) leaveQueueTo(ctx context.Context, doc *document, q *queueStay, result, u, method string) (step, error) {
	req := c.target(doc, q.e.Name(), u, method)
	req.params = c.queueParams(q, result)
	return step{next: req}, nil
}

func (c *Call) queueParams(q *queueStay, result string) url.Values {
	p := url.Values{"QueueResult": {result}, "QueueTime": {strconv.Itoa(wholeSeconds(c.cfg.Clock.Now().Sub(q.began)))}}
	if q.sid != "" {
		p.Set("QueueSid", q.sid)
	}
	return p
}
