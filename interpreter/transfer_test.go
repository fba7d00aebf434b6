package interpreter_test

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// lateReferLeg is a simulated caller whose REFERs reach the Dial the way
// signaling hands them over: through the take func it read before the
// bridge ended, which may run once the bridge has closed. With star set,
// the caller sends a REFER and presses '*' at once when the bridge
// listens for hangupOnStar, so that the REFER is queued in the Dial's
// box but never taken by the bridge (the documents have no other verb
// that listens).
type lateReferLeg struct {
	*sim.Leg
	star bool

	mu   sync.Mutex
	take func(*interpreter.Transfer) // the last one set, kept when cleared
	tr   *interpreter.Transfer
	sent bool
}

func (l *lateReferLeg) OnRefer(take func(*interpreter.Transfer)) {
	if take == nil {
		return // signaling may still hold the old one
	}
	l.mu.Lock()
	l.take = take
	l.mu.Unlock()
}

func (l *lateReferLeg) refer() {
	l.mu.Lock()
	take := l.take
	l.sent = take != nil
	l.mu.Unlock()
	if take != nil {
		take(l.tr)
	}
}

func (l *lateReferLeg) WaitInput(ctx context.Context, spec interpreter.InputSpec) (*interpreter.Input, error) {
	if !l.star {
		return l.Leg.WaitInput(ctx, spec)
	}
	l.refer()
	return &interpreter.Input{Kind: interpreter.Digit, Digit: '*'}, nil
}

// TestDialCallerReferAfterBridge: a caller's REFER that the bridge did
// not take is declined (603), never left unanswered: one queued in the
// Dial's box as the bridge ends (the caller presses '*' right after it)
// is drained, and one handed over once the bridge has closed is declined
// at once. Either would have been accepted (202) had the bridge taken it.
func TestDialCallerReferAfterBridge(t *testing.T) {
	tests := []struct {
		name string
		dial string // the Dial's extra attributes
		star bool
		at   time.Duration // when the REFER comes, without star
	}{
		{name: "queued as the bridge ends", dial: ` hangupOnStar="true"`, star: true},
		{name: "after the bridge closed", at: 8 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			f := &fakeFetcher{docs: map[string]string{
				"http://app.test/voice":  `<Response><Dial action="/dialed" referUrl="/refer"` + tc.dial + `>+15551230001</Dial></Response>`,
				"http://app.test/dialed": `<Response><Pause length="5"/></Response>`,
				"http://app.test/refer":  `<Response><Dial>+15551230002</Dial></Response>`,
			}}
			clk := sim.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), false)
			rec := &interpreter.Recorder{}
			callees := parseCallees(t, "+15551230001=ring:1,answer,talk:5", "+15551230002=ring:1,answer,talk:5")
			leg := &lateReferLeg{Leg: sim.New(sim.Options{Clock: clk, Tracer: rec, Callees: callees}), star: tc.star}
			var (
				mu      sync.Mutex
				replies []int
				wg      sync.WaitGroup
			)
			leg.tr = &interpreter.Transfer{Target: "<sip:sales@pbx.test>",
				Reply:  func(code int) { mu.Lock(); replies = append(replies, code); mu.Unlock() },
				Notify: func(int) { t.Error("a NOTIFY for a declined REFER") }}
			if !tc.star {
				clk.AfterFunc(tc.at, leg.refer)
			}
			cfg := interpreter.Config{URL: "http://app.test/voice", Clock: leg, Dialer: leg.Dialer(), Tracer: rec,
				Detach: func(f func(context.Context)) {
					wg.Add(1)
					clk.Go(func() { defer wg.Done(); f(context.Background()) })
				}}
			res := interpreter.New(leg, f, nil, cfg).Run(leg.Context(context.Background()))
			clk.Leave()
			wg.Wait()
			leg.mu.Lock()
			sent := leg.sent
			leg.mu.Unlock()
			mu.Lock()
			defer mu.Unlock()
			if !sent {
				t.Fatal("the REFER was not sent: no bridge set a take func")
			}
			if !slices.Equal(replies, []int{603}) {
				t.Errorf("REFER answered %v, want [603]", replies)
			}
			noReferFetch(t, f, "a REFER the bridge did not take")
			if res.Reason != "end-of-document" {
				t.Errorf("the call ended with %q, want end-of-document (the Dial's action ran)", res.Reason)
			}
			noLeak(t, before)
		})
	}
}

// TestDialDetachedChildRefer: once a Dial's child runs a document of its
// own (a live update redirected it), its Dial is over and nothing takes
// the callee's REFERs: they are declined (603), not left unanswered.
func TestDialDetachedChildRefer(t *testing.T) {
	before := runtime.NumGoroutine()
	f := &fakeFetcher{docs: map[string]string{
		"http://app.test/voice":  `<Response><Dial action="/dialed" referUrl="/refer">+15551230001</Dial></Response>`,
		"http://app.test/dialed": `<Response/>`,
		"http://app.test/refer":  `<Response><Dial>+15551230002</Dial></Response>`,
	}}
	clk := sim.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), false)
	var (
		mu    sync.Mutex
		child *interpreter.Call
		upErr error
		wg    sync.WaitGroup
	)
	rec := &interpreter.Recorder{}
	// The callee answers at 1 s and sends its REFER at 10 s, while it
	// holds (redirected at 5 s, the hold lasts 20 s).
	callees := parseCallees(t, "+15551230001=ring:1,answer,refer:9:sip:sales@pbx.test,talk:60", "+15551230002=ring:1,answer,talk:5")
	s := sim.New(sim.Options{Clock: clk, Tracer: rec, Callees: callees,
		Updates: []sim.ScheduledUpdate{{At: 5 * time.Second, Update: interpreter.Update{Twiml: `<Response><Pause length="20"/></Response>`}}},
		OnUpdate: func(u interpreter.Update) error {
			mu.Lock()
			defer mu.Unlock()
			upErr = child.Update(u)
			return upErr
		}})
	cfg := interpreter.Config{URL: "http://app.test/voice", Clock: s, Dialer: s.Dialer(), Tracer: rec,
		Detach: func(f func(context.Context)) {
			wg.Add(1)
			clk.Go(func() { defer wg.Done(); f(context.Background()) })
		},
		OnStatus: func(ch interpreter.StatusChange) {
			if ch.Call.Info().ParentCallSid != "" {
				mu.Lock()
				child = ch.Call
				mu.Unlock()
			}
		}}
	interpreter.New(s, f, nil, cfg).Run(s.Context(context.Background()))
	clk.Leave()
	wg.Wait()
	mu.Lock()
	err := upErr
	mu.Unlock()
	if err != nil {
		t.Fatalf("redirect of the child: %v", err)
	}
	var sent, detached bool
	var replies []int
	for _, e := range rec.Events() {
		switch e.Name {
		case "detached":
			detached = true
		case "refer-sent":
			sent = detached
		case "refer-reply":
			replies = append(replies, e.Fields["code"].(int))
		}
	}
	if !sent {
		t.Fatal("the callee sent no REFER once detached")
	}
	if !slices.Equal(replies, []int{603}) {
		t.Errorf("the detached callee's REFER answered %v, want [603]", replies)
	}
	noReferFetch(t, f, "a detached child's REFER")
	noLeak(t, before)
}

// TestTransferEndsWithCall: an accepted transfer whose referUrl document
// does not Dial is still pending when that document's call ends; the
// transferor then hears it failed in its final NOTIFY: 487 when the
// call's party hung up, else 603. The transferor is the bridged callee
// (the caller runs referUrl's document) or the caller (the dialed party
// runs it).
func TestTransferEndsWithCall(t *testing.T) {
	tests := []struct {
		name    string
		callee  string
		inputs  []sim.Input
		refer   string // referUrl's document
		notify  int    // the transferor's final NOTIFY
		callerT bool   // the caller is the transferor
	}{
		{name: "callee's transfer, document ends", callee: "+15551230001=ring:1,answer,refer:2:sip:sales@pbx.test,talk:60",
			refer: `<Response><Say>Nobody to transfer to.</Say></Response>`, notify: 603},
		{name: "callee's transfer, caller hangs up", callee: "+15551230001=ring:1,answer,refer:2:sip:sales@pbx.test,talk:60",
			inputs: []sim.Input{{Action: sim.Hangup, At: 8 * time.Second, Timed: true}},
			refer:  `<Response><Pause length="30"/></Response>`, notify: 487},
		{name: "caller's transfer, document ends", callee: "+15551230001=ring:1,answer,talk:60",
			inputs: []sim.Input{{Action: sim.Refer, Target: "sip:sales@pbx.test", At: 3 * time.Second, Timed: true}},
			refer:  `<Response><Say>Nobody to transfer to.</Say></Response>`, notify: 603, callerT: true},
		{name: "caller's transfer, dialed party hangs up", callee: "+15551230001=ring:1,answer,talk:10",
			inputs: []sim.Input{{Action: sim.Refer, Target: "sip:sales@pbx.test", At: 3 * time.Second, Timed: true}},
			refer:  `<Response><Pause length="30"/></Response>`, notify: 487, callerT: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			f := &fakeFetcher{docs: map[string]string{
				"http://app.test/voice":  `<Response><Dial action="/dialed" referUrl="/refer">+15551230001</Dial></Response>`,
				"http://app.test/dialed": `<Response/>`,
				"http://app.test/refer":  tc.refer,
			}}
			clk := sim.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), false)
			rec := &interpreter.Recorder{}
			leg := sim.New(sim.Options{Clock: clk, Tracer: rec, Callees: parseCallees(t, tc.callee), Inputs: tc.inputs})
			var wg sync.WaitGroup
			cfg := interpreter.Config{URL: "http://app.test/voice", Clock: leg, Dialer: leg.Dialer(), Tracer: rec,
				Detach: func(f func(context.Context)) {
					wg.Add(1)
					clk.Go(func() { defer wg.Done(); f(context.Background()) })
				}}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			interpreter.New(leg, f, nil, cfg).Run(leg.Context(ctx))
			clk.Leave()
			wg.Wait()
			var replies, notifies []int
			transferred := 0
			for _, e := range rec.Events() {
				switch e.Name {
				case "refer-reply":
					replies = append(replies, e.Fields["code"].(int))
				case "notify":
					notifies = append(notifies, e.Fields["code"].(int))
				case "transferred":
					transferred = e.Fields["code"].(int)
					if _, byCaller := e.Fields["transferor"]; byCaller != tc.callerT {
						t.Errorf("transferred %v: want the caller as transferor %v", e.Fields, tc.callerT)
					}
				}
			}
			if !slices.Equal(replies, []int{202}) {
				t.Fatalf("REFER answered %v, want [202]", replies)
			}
			if want := []int{100, tc.notify}; !slices.Equal(notifies, want) || transferred != tc.notify {
				t.Errorf("NOTIFYs %v, transferred %d; want %v, %d", notifies, transferred, want, tc.notify)
			}
			noLeak(t, before)
		})
	}
}

// noReferFetch fails t if the Dial's referUrl (/refer) was requested for
// what, a REFER that must be declined.
func noReferFetch(t *testing.T, f *fakeFetcher, what string) {
	t.Helper()
	for _, r := range f.requests() {
		if strings.HasSuffix(r.URL, "/refer") {
			t.Errorf("referUrl requested for %s", what)
		}
	}
}
