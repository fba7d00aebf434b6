package interpreter_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// TestDialChildUpdate updates a Dial's child call through the REST API's
// path (Call.Update on the child's *Call, found as the API finds it,
// through OnStatus): Status=completed hangs up a bridged callee or cancels
// a ringing one, a new document is refused, and the parent goes on with
// the Dial's action.
func TestDialChildUpdate(t *testing.T) {
	tests := []struct {
		name    string
		callees []string
		nouns   string
		update  interpreter.Update
		target  string // the child updated, by its To
		at      time.Duration
		// want: the action's DialCallStatus, DialCallDuration ("" for
		// none), the updated child's last status, the update's error, and
		// when the call ended.
		status, duration, child string
		err                     error
		ended                   time.Duration
	}{
		{name: "bridged callee hung up", callees: []string{"+15551230001=ring:1,answer,talk:60"},
			nouns: `<Number>+15551230001</Number>`, update: interpreter.Update{Hangup: true}, target: "+15551230001", at: 10 * time.Second,
			status: "completed", duration: "9", child: "completed", ended: 10 * time.Second},
		{name: "ringing callee canceled", callees: []string{"+15551230001=ring:30,answer,talk:60"},
			nouns: `<Number>+15551230001</Number>`, update: interpreter.Update{Hangup: true}, target: "+15551230001", at: 5 * time.Second,
			status: "canceled", child: "canceled", ended: 5 * time.Second},
		{name: "one of two ringing canceled, the other answers",
			callees: []string{"+15551230001=ring:30,answer,talk:60", "+15551230002=ring:8,answer,talk:4"},
			nouns:   `<Number>+15551230001</Number><Number>+15551230002</Number>`,
			update:  interpreter.Update{Hangup: true}, target: "+15551230001", at: 5 * time.Second,
			status: "completed", duration: "4", child: "canceled", ended: 12 * time.Second},
		{name: "new document refused", callees: []string{"+15551230001=ring:1,answer,talk:6"},
			nouns: `<Number>+15551230001</Number>`, update: interpreter.Update{Twiml: `<Response><Hangup/></Response>`}, target: "+15551230001", at: 3 * time.Second,
			status: "completed", duration: "6", child: "completed", err: interpreter.ErrChildRedirect, ended: 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFetcher{docs: map[string]string{
				"http://app.test/voice":  `<Response><Dial timeout="40" action="/dialed">` + tc.nouns + `</Dial></Response>`,
				"http://app.test/dialed": `<Response/>`,
			}}
			var callees []sim.Callee
			for _, spec := range tc.callees {
				c, err := sim.ParseCallee(spec)
				if err != nil {
					t.Fatal(err)
				}
				callees = append(callees, c)
			}
			var (
				mu     sync.Mutex
				child  *interpreter.Call
				last   string
				upErr  error
				update = make(chan struct{}, 1)
			)
			st := &statuses{}
			rec := &interpreter.Recorder{}
			s := sim.New(sim.Options{Tracer: rec, Callees: callees,
				Updates: []sim.ScheduledUpdate{{At: tc.at, Update: tc.update}},
				OnUpdate: func(u interpreter.Update) error {
					mu.Lock()
					c := child
					mu.Unlock()
					err := c.Update(u)
					mu.Lock()
					upErr = err
					mu.Unlock()
					update <- struct{}{}
					return err
				}})
			cfg := interpreter.Config{URL: "http://app.test/voice", Clock: s, Dialer: s.Dialer(), Tracer: rec,
				OnStatus: func(ch interpreter.StatusChange) {
					st.observe(ch)
					if in := ch.Call.Info(); in.ParentCallSid != "" && in.To == tc.target {
						mu.Lock()
						child, last = ch.Call, ch.Status
						mu.Unlock()
					}
				}}
			start := s.Now()
			interpreter.New(s, f, nil, cfg).Run(s.Context(context.Background()))
			select {
			case <-update:
			default:
				t.Fatal("the update was not sent")
			}
			if !errors.Is(upErr, tc.err) {
				t.Errorf("update error %v, want %v", upErr, tc.err)
			}
			if last != tc.child {
				t.Errorf("child's last status %q, want %q (all: %v)", last, tc.child, st.of(child.Info().CallSid))
			}
			reqs := f.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want the voice URL and the action", len(reqs))
			}
			p := reqs[1].Params
			if p.Get("DialCallStatus") != tc.status || p.Get("DialCallDuration") != tc.duration {
				t.Errorf("action: DialCallStatus %q DialCallDuration %q, want %q %q", p.Get("DialCallStatus"), p.Get("DialCallDuration"), tc.status, tc.duration)
			}
			if got := s.Now().Sub(start); got != tc.ended {
				t.Errorf("the call ended at %v, want %v", got, tc.ended)
			}
			if err := child.Update(interpreter.Update{Hangup: true}); err == nil || slices.Contains([]string{"ringing", "in-progress"}, last) {
				t.Errorf("update of the ended child: %v, want an error", err)
			}
		})
	}
}
