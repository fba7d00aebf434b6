package interpreter_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// TestRESTStream starts and stops a fork the way the REST Streams
// resource does, while a verb runs: the verb is not interrupted, the app
// gets connected, start, media and stop, and the trace says the API
// stopped it.
func TestRESTStream(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stop   string // what StopStream is given: "name" or "sid"
		byName bool
	}{
		{"stopped by name", "name", true},
		{"stopped by sid", "sid", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newSilentApp(t)
			f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": `<Response><Pause length="1"/><Say>after</Say></Response>`}}
			rec := &interpreter.Recorder{}
			var call *interpreter.Call
			var sid string
			var startErr, stopErr error
			updates := 0
			var stopping sync.WaitGroup
			leg := sim.New(sim.Options{Tracer: rec,
				Updates: []sim.ScheduledUpdate{
					{At: 100 * time.Millisecond, Update: interpreter.Update{Twiml: "start"}},
					{At: 300 * time.Millisecond, Update: interpreter.Update{Twiml: "stop"}},
				},
				OnUpdate: func(u interpreter.Update) error {
					updates++
					if u.Twiml == "start" {
						req := interpreter.StreamRequest{URL: app.url(), Track: "both_tracks"}
						if tc.byName {
							req.Name = "fork1"
						}
						sid, startErr = call.StartStream(req)
						return startErr
					}
					key := sid
					if tc.byName {
						key = "fork1"
					}
					// The API stops a stream from its own goroutine; the
					// sim's updates come on the clock's, which the
					// simulated stream needs to end.
					stopping.Add(1)
					go func() {
						defer stopping.Done()
						_, _, stopErr = call.StopStream(key)
					}()
					return nil
				}})
			call = interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: leg, Tracer: rec})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			call.Run(leg.Context(ctx))
			stopping.Wait()
			if startErr != nil || stopErr != nil || updates != 2 || len(sid) != 34 || sid[:2] != "MZ" {
				t.Fatalf("start: %q %v; stop: %v; %d updates", sid, startErr, stopErr, updates)
			}
			time.Sleep(50 * time.Millisecond)
			if got := app.got(); got != "connected,start,media,stop" {
				t.Errorf("the app got %s, want connected,start,media,stop", got)
			}
			said, stopped := false, false
			for _, e := range rec.Events() {
				said = said || e.Name == "say" && e.Fields["text"] == "after"
				stopped = stopped || e.Name == "stream" && e.Fields["state"] == "stopped" && e.Fields["reason"] == "api" && e.Fields["sid"] == sid
			}
			if !said || !stopped {
				t.Errorf("said after: %v, stopped by the api: %v; trace %v", said, stopped, rec.Events())
			}
			if _, err := call.StartStream(interpreter.StreamRequest{URL: app.url()}); !errors.Is(err, interpreter.ErrNotRunning) {
				t.Errorf("StartStream after the call: %v, want ErrNotRunning", err)
			}
			if _, _, err := call.StopStream(sid); !errors.Is(err, interpreter.ErrNoStream) {
				t.Errorf("StopStream after the call: %v, want ErrNoStream", err)
			}
		})
	}
}

// TestRESTStreamRefusals checks the requests StartStream refuses.
func TestRESTStreamRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  interpreter.StreamRequest
	}{
		{"bad track", interpreter.StreamRequest{URL: "wss://app.test/s", Track: "sideways"}},
		{"no url", interpreter.StreamRequest{}},
		{"bad scheme", interpreter.StreamRequest{URL: "ftp://app.test/s"}},
		{"name in use", interpreter.StreamRequest{URL: "wss://127.0.0.1:1/s", Name: "dup"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": `<Response><Pause length="1"/></Response>`}}
			var call *interpreter.Call
			var err error
			leg := sim.New(sim.Options{
				Updates: []sim.ScheduledUpdate{{At: 100 * time.Millisecond, Update: interpreter.Update{Twiml: "x"}}},
				OnUpdate: func(interpreter.Update) error {
					if tc.req.Name == "dup" {
						if _, err := call.StartStream(tc.req); err != nil {
							t.Errorf("first stream: %v", err)
						}
					}
					_, err = call.StartStream(tc.req)
					return nil
				}})
			call = interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: leg})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			call.Run(leg.Context(ctx))
			if err == nil {
				t.Error("StartStream accepted it")
			}
		})
	}
}

// TestRESTStreamOnDialChild starts a fork on a bridged Dial child, as the
// REST Streams resource does with the child's CallSid: the app hears the
// callee's leg, and the fork stops when the child's call ends.
func TestRESTStreamOnDialChild(t *testing.T) {
	app := newSilentApp(t)
	f := &fakeFetcher{docs: map[string]string{
		"http://app.test/voice": `<Response><Dial>+15551230001</Dial></Response>`,
	}}
	callee, err := sim.ParseCallee("+15551230001=ring:1,answer,talk:3")
	if err != nil {
		t.Fatal(err)
	}
	rec := &interpreter.Recorder{}
	var mu sync.Mutex
	var child *interpreter.Call
	var startErr error
	started := false
	leg := sim.New(sim.Options{Tracer: rec, Callees: []sim.Callee{callee},
		Updates: []sim.ScheduledUpdate{{At: 2 * time.Second, Update: interpreter.Update{Twiml: "start"}}},
		OnUpdate: func(interpreter.Update) error {
			mu.Lock()
			c := child
			mu.Unlock()
			_, startErr = c.StartStream(interpreter.StreamRequest{URL: app.url(), Track: "inbound_track"})
			started = true
			return startErr
		}})
	cfg := interpreter.Config{URL: "http://app.test/voice", Clock: leg, Dialer: leg.Dialer(), Tracer: rec,
		OnStatus: func(ch interpreter.StatusChange) {
			if ch.Call.Info().ParentCallSid != "" {
				mu.Lock()
				child = ch.Call
				mu.Unlock()
			}
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	interpreter.New(leg, f, nil, cfg).Run(leg.Context(ctx))
	if !started || startErr != nil {
		t.Fatalf("StartStream on the child: sent %v, error %v", started, startErr)
	}
	var got string
	for range 100 {
		if got = app.got(); got == "connected,start,media,stop" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got != "connected,start,media,stop" {
		t.Errorf("the app got %s, want connected,start,media,stop", got)
	}
}
