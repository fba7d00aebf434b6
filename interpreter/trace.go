package interpreter

import (
	"sync"
	"time"
)

// Event is one observable step of a call: a request made, a prompt spoken,
// input collected, the end of the call. Name is one of the event names
// documented in the README ("request", "say", "play", "digits", "pause",
// "gather", "input", "record", "dial", "hangup", "reject", "warning",
// "error", "callback", ...).
type Event struct {
	Name   string
	T      time.Duration // since the call started, on the call's clock
	Fields map[string]any
}

// Tracer receives a call's events. It may be called from several
// goroutines (status callbacks are delivered asynchronously).
type Tracer interface {
	Trace(Event)
}

// TracerFunc adapts a function to Tracer.
type TracerFunc func(Event)

// Trace calls f(e).
func (f TracerFunc) Trace(e Event) { f(e) }

// Recorder is a Tracer that keeps every event; tests and the conformance
// runner read it after the call.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Trace appends e.
func (r *Recorder) Trace(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of the events so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}
