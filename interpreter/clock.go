package interpreter

import (
	"context"
	"time"
)

// Clock is time for every wait of every party of a call: prompts, ring
// timeouts, time limits. Real calls use SystemClock; the simulator gives
// every party of a simulated call one virtual clock, so that a ring timeout
// and a callee's scripted answer are ordered exactly, and a thirty-second
// Pause takes no real time.
type Clock interface {
	Now() time.Time
	// Sleep waits for d to pass. It returns nil then, or context.Cause(ctx)
	// when ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
	// AfterFunc calls f once d has passed, on a goroutine of the clock's
	// choosing; f must not block. stop cancels the call and reports
	// whether it did (false: f has run or is running).
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// SystemClock is the real time; real calls use it.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep implements Clock with a timer.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// AfterFunc implements Clock with time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
