package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/texml/texml/conference"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/queue"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
)

// World is a simulated phone line that several callers share: one virtual
// clock, and the queues and conferences real calls use (package queue and
// package conference over store/memory, with the simulator's Mixer). A
// caller can thus wait in a queue that an agent dials five seconds later,
// or five callers can meet in one room, on the same code `texml serve`
// runs, and still give the same result on every run.
//
// Add the parties, then Run once. The first party is the main caller: it
// calls at the start and runs on the goroutine that calls Run, as a
// single simulated call does; the others call at their time, each as a
// party of the clock (Clock.Go).
type World struct {
	o      WorldOptions
	clk    *Clock
	store  *store.Store
	queues *queue.Service
	confs  *conference.Service

	parties []Party
	mu      sync.Mutex
	names   map[string]string // CallSid → party name
	// detached counts the Dial children that went on as calls of their
	// own (interpreter.Config.Detach); Run waits for them.
	detached  sync.WaitGroup
	detachedN atomic.Int32
	root      context.Context // Run's: ends the detached children too
}

// WorldOptions configure a World.
type WorldOptions struct {
	Start    time.Time // virtual start; default time.Now()
	Realtime bool      // really wait as long as virtual time advances
	// AccountSid goes into the conferences' status callbacks.
	AccountSid string
	// Tracer receives every party's events: an unnamed party's as its
	// call traces them, a named party's with a "caller" field naming it
	// and times counted from the world's start, so that all events share
	// one timeline.
	Tracer interpreter.Tracer
}

// Party is one caller on a World.
type Party struct {
	// Name tells the party's events and requests apart from the others'.
	// The first party may have none; every other party needs one of its
	// own.
	Name string
	// At is when the party calls, since the world's start. The first
	// party calls at the start.
	At time.Duration
	// Leg scripts the caller: inputs (timed ones count from the party's
	// own start), callees, outcomes, live updates. The world sets its
	// clock and tracer, and delivers Updates to the party's call unless
	// OnUpdate is set.
	Leg Options
	// Config is the party's call: URL, Method, From, To, CallSid (default
	// a new one), callbacks. The world sets Clock, Dialer, Queues,
	// Conferences and Tracer.
	Config interpreter.Config
	// Fetcher fetches the party's documents; the world makes a slow
	// fetch cost virtual time too (Leg.Fetcher).
	Fetcher interpreter.Fetcher
	// Callbacks delivers the party's status callbacks; nil when none.
	Callbacks *interpreter.Dispatcher
	// Place, when set, makes the party's call one created through the
	// REST API (Direction outbound-api): it is placed through the
	// world's Dialer to Place.Target, and its document runs on the
	// callee that answers. That callee is the Leg.Callees entry for the
	// target, or else one that answers at once and gives Leg.Inputs to
	// the app's Gathers.
	Place *interpreter.Placement
}

// Ended is how one party's call ended.
type Ended struct {
	Name string
	// Called is false for a party whose time never came: the run was
	// ended from outside before.
	Called bool
	Result interpreter.Result
	// At is when the call ended, since the world's start.
	At time.Duration
}

// NewWorld returns an empty line. Close it when done.
func NewWorld(o WorldOptions) *World {
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	if o.Tracer == nil {
		o.Tracer = interpreter.TracerFunc(func(interpreter.Event) {})
	}
	clk := NewClock(o.Start, o.Realtime)
	st := memory.New(memory.WithClock(clk.Now))
	return &World{
		o: o, clk: clk, store: st,
		queues: queue.New(st.Queues, queue.Options{Node: "sim", Clock: clk}),
		confs:  conference.New(st.Conferences, Mixer{Clock: clk}, conference.Options{Node: "sim", Clock: clk, AccountSid: o.AccountSid}),
		names:  map[string]string{},
	}
}

// Clock returns the line's virtual clock.
func (w *World) Clock() *Clock { return w.clk }

// Queues is the world's queue service, for what the REST API would do to
// waiting calls (a test dequeues a caller into a new document).
func (w *World) Queues() *queue.Service { return w.queues }

// Conferences is the world's conference service (mute, hold, kick, end).
func (w *World) Conferences() *conference.Service { return w.confs }

// Close releases the line's store.
func (w *World) Close() error { return w.store.Close() }

// Add adds a caller. It fails when the party cannot take its place: a
// first party that does not call at the start, another party without a
// name, a name or CallSid already taken, a negative At.
func (w *World) Add(p Party) error {
	switch {
	case p.At < 0:
		return fmt.Errorf("party %q: calls at %v, before the start", p.Name, p.At)
	case len(w.parties) == 0 && p.At != 0:
		return fmt.Errorf("party %q: the first party calls at the start, not at %v", p.Name, p.At)
	case len(w.parties) > 0 && p.Name == "":
		return errors.New("a party other than the first needs a name")
	case p.Fetcher == nil:
		return fmt.Errorf("party %q: no Fetcher", p.Name)
	}
	for _, q := range w.parties {
		if q.Name == p.Name {
			return fmt.Errorf("party %q: name already taken", p.Name)
		}
	}
	if p.Config.CallSid == "" {
		p.Config.CallSid = interpreter.NewSid("CA")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, taken := w.names[p.Config.CallSid]; taken {
		// Queues and conferences know a call by its CallSid.
		return fmt.Errorf("party %q: CallSid %s already taken", p.Name, p.Config.CallSid)
	}
	w.names[p.Config.CallSid] = p.Name
	w.parties = append(w.parties, p)
	return nil
}

// PartyOf returns the name of the party whose call has callSid ("" for an
// unnamed party or an unknown CallSid): whose request an app received.
func (w *World) PartyOf(callSid string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.names[callSid]
}

// Run runs every party's call to its end and says how each ended, in the
// order they were added. The first party's call runs on the calling
// goroutine from the start; when it ends, the others' time goes on without
// it until they are done too. Ending ctx ends every call.
func (w *World) Run(ctx context.Context) []Ended {
	if len(w.parties) == 0 {
		return nil
	}
	w.root = ctx
	ended := make([]Ended, len(w.parties))
	// The first party's leg is made before the others are scheduled, so
	// that its timed inputs come first among timers due at one instant.
	run := w.prepare(ctx, w.parties[0])
	var wg sync.WaitGroup
	calls := make([]func() bool, len(w.parties))
	for i, p := range w.parties[1:] {
		wg.Add(1)
		calls[i+1] = w.clk.AfterFunc(p.At, func() {
			w.clk.Go(func() {
				defer wg.Done()
				ended[i+1] = w.prepare(ctx, p)()
			})
		})
	}
	ended[0] = run()
	if len(w.parties) == 1 && w.detachedN.Load() == 0 {
		// A single call leaves the clock as it was: nothing runs after it.
		return ended
	}
	if ctx.Err() != nil {
		// Ended from outside (Ctrl-C): the parties yet to call never do,
		// rather than the clock moving (in real time) to their turn.
		for i, stop := range calls[1:] {
			if stop() {
				ended[i+1] = Ended{Name: w.parties[i+1].Name}
				wg.Done()
			}
		}
	}
	// Only now may the others' time move without the first caller.
	w.clk.Leave()
	wg.Wait()
	w.detached.Wait()
	return ended
}

// detach implements interpreter.Config.Detach: a Dial child that went on
// alone is a party of the clock, and Run waits for it.
func (w *World) detach(run func(context.Context)) {
	w.detachedN.Add(1)
	w.detached.Add(1)
	w.clk.Go(func() {
		defer w.detached.Done()
		run(w.root)
	})
}

// prepare makes p's leg and call on the clock now, and returns what runs
// the call.
func (w *World) prepare(ctx context.Context, p Party) func() Ended {
	var t interpreter.Tracer = w.o.Tracer
	if p.Name != "" {
		t = callerTracer{t: t, name: p.Name, offset: p.At}
	}
	o := p.Leg
	o.Start, o.Clock, o.Tracer = w.clk.Now(), w.clk, t
	var call *interpreter.Call
	if o.OnUpdate == nil {
		// Updates are timers on the clock: none is due before the call
		// below exists and runs.
		o.OnUpdate = func(u interpreter.Update) error { return call.Update(u) }
	}
	if p.Place != nil {
		o = placedCallee(o, p.Place.Target)
	}
	leg := New(o)
	cfg := p.Config
	cfg.Clock, cfg.Dialer, cfg.Queues, cfg.Conferences, cfg.Tracer = w.clk, leg.Dialer(), w.queues, w.confs, t
	cfg.Detach = w.detach
	if cfg.Voice == nil {
		cfg.Voice = Voice{PlayDuration: leg.o.PlayDuration, leg: leg}
	}
	var own interpreter.Leg = leg
	if p.Place != nil {
		own, cfg.Direction = nil, "outbound-api" // the leg comes from the Dialer
	}
	call = interpreter.New(own, leg.Fetcher(p.Fetcher), p.Callbacks, cfg)
	return func() Ended {
		var res interpreter.Result
		if p.Place != nil {
			res = call.Place(leg.Context(ctx), *p.Place)
		} else {
			res = call.Run(leg.Context(ctx))
		}
		leg.unschedule()
		return Ended{Name: p.Name, Called: true, Result: res, At: w.clk.Now().Sub(w.o.Start)}
	}
}

// callerTracer marks a named party's events with its name and times them
// from the world's start rather than from the party's own.
type callerTracer struct {
	t      interpreter.Tracer
	name   string
	offset time.Duration
}

func (c callerTracer) Trace(e interpreter.Event) {
	f := make(map[string]any, len(e.Fields)+1)
	for k, v := range e.Fields {
		f[k] = v
	}
	f["caller"] = c.name
	e.Fields = f
	e.T += c.offset
	c.t.Trace(e)
}

// placedCallee gives the options of a placed call's party a callee for
// t, when none of its Callees names it: one that answers at once, with
// the party's inputs (the person who picks up is the one who presses
// keys and speaks).
func placedCallee(o Options, t interpreter.Target) Options {
	name := t.Addr
	if t.Kind == interpreter.ClientTarget {
		name = "client:" + t.Addr
	}
	for _, c := range o.Callees {
		if c.Target == name {
			return o
		}
	}
	o.Callees = append(slices.Clone(o.Callees), Callee{Target: name, Result: "answer", Inputs: o.Inputs})
	o.Inputs = nil
	return o
}
