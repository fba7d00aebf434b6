package interpreter

import (
	"context"
	"errors"
	"sync"
	"time"
)

// inbox collects the progress of a Dial's attempts. Dialers push from
// their own goroutines (a simulated callee pushes from the clock's); the
// call's goroutine reads. A push wakes the reader's current wait at once
// and synchronously, which is what lets a virtual clock order a callee's
// answer and the ring timeout exactly.
type inbox struct {
	mu   sync.Mutex
	q    []forkEvent
	wake context.CancelCauseFunc // ends the reader's current wait
}

type forkEvent struct {
	f *fork
	p Progress
	// hangup and redirect are the REST API ending the fork's child call
	// or giving it a document of its own (childupdate.go), rather than
	// news from its dialer; p is zero then.
	hangup   bool
	redirect *Update
	// callerRefer is the caller's REFER while it is bridged (f is the
	// bridged fork then): a transfer of the dialed party (transfer.go).
	callerRefer *Transfer
}

// errWake ends a wait because an event arrived; it never leaves the inbox.
var errWake = errors.New("dial event")

func (b *inbox) push(f *fork, p Progress) { b.add(forkEvent{f: f, p: p}) }

func (b *inbox) add(ev forkEvent) {
	b.mu.Lock()
	b.q = append(b.q, ev)
	if b.wake != nil {
		b.wake(errWake)
		b.wake = nil
	}
	b.mu.Unlock()
}

func (b *inbox) pop() (forkEvent, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.q) == 0 {
		return forkEvent{}, false
	}
	ev := b.q[0]
	b.q = b.q[1:]
	return ev, true
}

// waitContext returns a context derived from ctx that also ends when an
// event is pushed (at once when one is queued already).
func (b *inbox) waitContext(ctx context.Context) (context.Context, func()) {
	wctx, cancel := context.WithCancelCause(ctx)
	b.mu.Lock()
	if len(b.q) > 0 {
		cancel(errWake)
	} else {
		b.wake = cancel
	}
	b.mu.Unlock()
	return wctx, func() {
		b.mu.Lock()
		b.wake = nil
		b.mu.Unlock()
		cancel(nil)
	}
}

// next waits for the next event until the deadline. ok is false when the
// deadline passed first; err is context.Cause(ctx) when ctx ended.
func (c *Call) next(ctx context.Context, b *inbox, until time.Time) (ev forkEvent, ok bool, err error) {
	for {
		if ev, ok := b.pop(); ok {
			return ev, true, nil
		}
		if ctx.Err() != nil {
			return ev, false, context.Cause(ctx)
		}
		d := until.Sub(c.cfg.Clock.Now())
		if d <= 0 {
			return ev, false, nil
		}
		wctx, done := b.waitContext(ctx)
		_ = c.cfg.Clock.Sleep(wctx, d)
		done()
	}
}
