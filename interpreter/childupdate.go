package interpreter

import (
	"context"
	"errors"
	"sync"

	"github.com/texml/texml/verbs"
)

// Live updates of a Dial's child calls (Twilio's POST /Calls/{Sid} on a
// CallSid of a <Dial><Number>, <Sip> or <Client> leg: "How do I modify a
// call after it has been created?",
// https://support.twilio.com/hc/en-us/articles/223132247, finds those
// CallSids through the nouns' statusCallback).
//
// Status=completed ends the child: a bridged callee is hung up and the
// caller goes on with the Dial's action (DialCallStatus=completed), as
// when the callee hangs up; a child still ringing is canceled, and when
// no other party of the Dial is left its DialCallStatus is canceled
// (Twilio's Dial page: "canceled — the call was canceled via the REST
// API before it was answered").
//
// Url or Twiml takes a bridged child out of the bridge: it runs the new
// document as a call of its own (its CallSid, ParentCallSid and status
// callbacks stay), and the caller goes on with the Dial's action
// (DialCallStatus=completed), as apps that put the dialed party on hold
// or into a conference by redirecting its leg expect. The child then
// runs on Config.Detach, outside the parent's life.
//
// The parent's Dial goroutine carries both out, so the fork keeps one
// owner: an update only posts an event to the Dial's inbox.

// Errors of child updates, answered to the REST API.
var (
	// ErrChildRedirect: this server cannot run a child's document of
	// its own (no Config.Detach).
	ErrChildRedirect = errors.New("redirecting a <Dial> child call to new TwiML is not supported here; " +
		"redirect the parent call, or end the child with Status=completed")
	// ErrChildNotBridged: a new document for a child that is not
	// bridged (it rings, or hears its whisper).
	ErrChildNotBridged = errors.New("a <Dial> child call can be redirected once it is bridged with the caller; " +
		"end it with Status=completed or canceled while it rings")
	// errChildEnded ends a fork's context when the REST API ends its
	// child, so that a whisper in progress stops at once.
	errChildEnded = errors.New("child call ended through the REST API")
)

// watchUpdates makes updates of f's child call reach the Dial s until f
// ends (fork.end stops it).
func (c *Call) watchUpdates(s *dialState, f *fork) {
	detach := c.cfg.Detach != nil
	f.call.setChild(func(u Update) error {
		switch {
		case u.Hangup:
			s.box.add(forkEvent{f: f, hangup: true})
			f.cancel(errChildEnded) // a whisper stops now; the Dial's goroutine does the rest
		case !detach:
			return ErrChildRedirect
		default:
			f.umu.Lock()
			defer f.umu.Unlock()
			if !f.bridged {
				return ErrChildNotBridged
			}
			s.box.add(forkEvent{f: f, redirect: &u})
		}
		return nil
	})
}

// setChild sets (nil: clears) the call's child update hook.
func (c *Call) setChild(h func(Update) error) {
	c.mu.Lock()
	c.child = h
	c.mu.Unlock()
}

// hangUpFork ends a fork that rings, or hears its whisper, because the
// REST API ended its child call.
func (f *fork) hangUpFork() {
	if f.done {
		return
	}
	if f.att != nil {
		f.att.Cancel()
	}
	f.end("canceled", 0, "ended by the REST API")
}

// detachChild lets the bridged fork f go on alone with the document of
// update u: the child call runs it on Config.Detach with the parent's
// engines (dialer, queues, conferences, streams, voice) and its own
// identity and callbacks, until its callee hangs up or its document
// ends; then it sends its own completed callback.
//
// first is its first request: the update's document, or a referUrl's
// (with ReferTransferTarget); u's fallback and status callback, when
// set, become the child's; pt, when set, is the caller's transfer that
// the child's next Dial reports on (transfer.go).
func (c *Call) detachChild(f *fork, first *request, u Update, pt *pendingTransfer) {
	f.done, f.status = true, "completed"
	if f.order != nil {
		*f.order++
		f.endSeq = *f.order
	}
	f.detached.Store(true)
	ch := f.call
	// Only the fields a child lacked change: its identity, callbacks,
	// clock and tracer stay (a detection goroutine may read them until
	// the Dial's step ends, which stops it: detection does not follow a
	// detached child).
	cfg := &ch.cfg
	cfg.Dialer, cfg.Queues, cfg.Conferences = c.cfg.Dialer, c.cfg.Queues, c.cfg.Conferences
	cfg.Streams, cfg.Voice, cfg.Detach, cfg.Observe = c.cfg.Streams, c.cfg.Voice, c.cfg.Detach, c.cfg.Observe
	cfg.URL, cfg.Method = first.url, methodOr(first.method)
	if first.url == "" {
		cfg.URL = c.cfg.URL // what the Twiml's relative URLs resolve against
	}
	cfg.FallbackURL, cfg.FallbackMethod = u.FallbackURL, u.FallbackMethod
	if u.StatusCallback != "" {
		cfg.StatusCallback, cfg.StatusCallbackMethod = u.StatusCallback, methodOr(u.StatusCallbackMethod)
	}
	ch.mode = verbs.Main // a call of its own now
	ch.setRunning(true)
	ch.setChild(nil) // from now on its updates are its own
	// Its context outlives the parent's Dial, and ends when the callee
	// hangs up (the fork's progress, fork.gone).
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(f.ctx))
	f.gone.Store(&cancel)
	if f.calleeGone.Load() {
		cancel(ErrHangup) // it hung up while the bridge ended
	}
	ch.transfer = pt
	ch.trace("detached", map[string]any{"url": first.url, "twiml": first.twiml})
	att := f.att
	c.cfg.Detach(func(root context.Context) {
		defer cancel(nil)
		// The embedder shutting down ends it too.
		stop := context.AfterFunc(root, func() { cancel(context.Cause(root)) })
		defer stop()
		ch.executeFrom(ctx, first)
		if att != nil {
			att.Cancel() // the leg is hung up already; the attempt lets go
		}
	})
}

// takeCallerRefers lets the caller's REFERs reach the Dial s while f is
// bridged, when the caller's leg can send them (Referable); the returned
// func stops that, and declines what came too late for the bridge.
func (c *Call) takeCallerRefers(s *dialState, f *fork) func() {
	r, ok := c.leg.(Referable)
	if !ok {
		return func() {}
	}
	// closed is set before the drain below: a REFER that signaling
	// handed over as the bridge ended is either drained or declined
	// here, never left unanswered in a box nobody reads.
	var mu sync.Mutex
	closed := false
	r.OnRefer(func(t *Transfer) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			t.Reply(603)
			return
		}
		s.box.add(forkEvent{f: f, callerRefer: t})
	})
	return func() {
		r.OnRefer(nil)
		mu.Lock()
		closed = true
		mu.Unlock()
		var keep []forkEvent
		for ev, ok := s.box.pop(); ok; ev, ok = s.box.pop() {
			if ev.callerRefer != nil {
				ev.callerRefer.Reply(603)
				continue
			}
			keep = append(keep, ev)
		}
		for _, ev := range keep {
			s.box.add(ev)
		}
	}
}
