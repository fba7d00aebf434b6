package conformance

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/texml/texml/conference"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/queue"
	"github.com/texml/texml/sim"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
)

// world is what the callers of one scenario share: the virtual clock, the
// store, and the queue service that real calls use too.
type world struct {
	clk    *sim.Clock
	store  *store.Store
	queues *queue.Service
	confs  *conference.Service
	rec    *interpreter.Recorder
	start  time.Time

	wg   sync.WaitGroup
	mu   sync.Mutex
	sids map[string]string // CallSid → party name ("" = the first caller)
}

func newWorld(clk *sim.Clock, rec *interpreter.Recorder) *world {
	st := memory.New(memory.WithClock(clk.Now))
	return &world{
		clk: clk, store: st, rec: rec, start: clk.Now(),
		queues: queue.New(st.Queues, queue.Options{Node: "sim", Clock: clk}),
		confs:  conference.New(st.Conferences, sim.Mixer{Clock: clk}, conference.Options{Node: "sim", Clock: clk}),
		sids:   map[string]string{},
	}
}

func (w *world) name(callSid, party string) {
	w.mu.Lock()
	w.sids[callSid] = party
	w.mu.Unlock()
}

// partyOf returns the party that made a request, by its CallSid.
func (w *world) partyOf(callSid string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sids[callSid]
}

// callerTracer marks a party's events with its name and times them from
// the scenario's start.
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

// startParties schedules the scenario's other callers on the clock; each
// runs as a party of the simulation once its time comes.
func (w *world) startParties(ctx context.Context, s *Scenario, abs func(string) string, fetch func(*sim.Leg) interpreter.Fetcher, cbs *interpreter.Dispatcher) error {
	for _, p := range s.Parties {
		if p.Name == "" {
			return fmt.Errorf("a party needs a name")
		}
		var inputs []sim.Input
		for _, v := range p.Inputs {
			in, err := sim.ParseInput(v)
			if err != nil {
				return fmt.Errorf("party %s: %w", p.Name, err)
			}
			inputs = append(inputs, in)
		}
		var callees []sim.Callee
		for _, v := range p.Callees {
			c, err := sim.ParseCallee(v)
			if err != nil {
				return fmt.Errorf("party %s: %w", p.Name, err)
			}
			callees = append(callees, c)
		}
		at := time.Duration(p.AtMS) * time.Millisecond
		tr := callerTracer{t: w.rec, name: p.Name, offset: at}
		sid := p.CallSid
		if sid == "" {
			sid = interpreter.NewSid("CA")
		}
		w.name(sid, p.Name)
		voice := p.VoiceURL
		if voice == "" {
			voice = "/voice"
		}
		w.wg.Add(1)
		w.clk.AfterFunc(at, func() {
			w.clk.Go(func() {
				defer w.wg.Done()
				leg := sim.New(sim.Options{Clock: w.clk, Inputs: inputs, Callees: callees, Tracer: tr})
				call := interpreter.New(leg, fetch(leg), cbs, interpreter.Config{
					URL: abs(voice), Method: p.Method, CallSid: sid,
					From: or(p.From, "+15005550007"), To: or(p.To, "+15005550001"),
					RecordingBaseURL: "http://recordings.test",
					Clock:            w.clk, Dialer: leg.Dialer(), Queues: w.queues, Conferences: w.confs, Tracer: tr,
				})
				call.Run(leg.Context(ctx))
			})
		})
	}
	return nil
}
