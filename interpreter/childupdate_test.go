package interpreter_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
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
		{name: "ended while it hears its whisper", callees: []string{"+15551230001=ring:1,answer,talk:60"},
			nouns: `<Number url="/whisper">+15551230001</Number>`, update: interpreter.Update{Hangup: true}, target: "+15551230001", at: 5 * time.Second,
			status: "completed", child: "completed", ended: 5 * time.Second},
		{name: "new document refused", callees: []string{"+15551230001=ring:1,answer,talk:6"},
			nouns: `<Number>+15551230001</Number>`, update: interpreter.Update{Twiml: `<Response><Hangup/></Response>`}, target: "+15551230001", at: 3 * time.Second,
			status: "completed", duration: "6", child: "completed", err: interpreter.ErrChildRedirect, ended: 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFetcher{docs: map[string]string{
				"http://app.test/voice":   `<Response><Dial timeout="40" action="/dialed">` + tc.nouns + `</Dial></Response>`,
				"http://app.test/dialed":  `<Response/>`,
				"http://app.test/whisper": `<Response><Pause length="20"/></Response>`,
			}}
			callees := parseCallees(t, tc.callees...)
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
			var p url.Values
			for _, r := range f.requests() {
				if strings.HasSuffix(r.URL, "/dialed") {
					p = r.Params
				}
			}
			if p == nil {
				t.Fatal("the Dial's action was not requested")
			}
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

// TestDialChildRedirect gives a bridged Dial child a document of its own
// (Url or Twiml on its CallSid): the caller goes on with the Dial's
// action at once, and the child runs the document on Config.Detach as a
// call of its own, until the document ends or its callee hangs up.
func TestDialChildRedirect(t *testing.T) {
	tests := []struct {
		name   string
		callee string
		update interpreter.Update
		at     time.Duration
		err    error
		// the action's DialCallStatus and DialCallDuration; when the
		// child's call ended (since the start), and the Says it made.
		status, duration string
		childEnded       time.Duration
		childSays        []string
	}{
		{name: "document runs to its end", callee: "+15551230001=ring:1,answer,talk:60",
			update: interpreter.Update{Twiml: `<Response><Say>You are on hold.</Say><Pause length="5"/></Response>`}, at: 10 * time.Second,
			status: "completed", duration: "9", childSays: []string{"You are on hold."}},
		{name: "document fetched from a URL", callee: "+15551230001=ring:1,answer,talk:60",
			update: interpreter.Update{URL: "http://app.test/hold"}, at: 4 * time.Second,
			status: "completed", duration: "3", childSays: []string{"Hold music."}},
		{name: "callee hangs up during it", callee: "+15551230001=ring:1,answer,talk:15",
			update: interpreter.Update{Twiml: `<Response><Pause length="30"/><Say>never</Say></Response>`}, at: 5 * time.Second,
			status: "completed", duration: "4", childEnded: 16 * time.Second},
		{name: "ringing child refused", callee: "+15551230001=ring:20,answer,talk:2",
			update: interpreter.Update{Twiml: `<Response><Say>never</Say></Response>`}, at: 5 * time.Second, err: interpreter.ErrChildNotBridged,
			status: "completed", duration: "2", childEnded: 22 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFetcher{docs: map[string]string{
				"http://app.test/voice":  `<Response><Dial timeout="30" action="/dialed">+15551230001</Dial></Response>`,
				"http://app.test/dialed": `<Response/>`,
				"http://app.test/hold":   `<Response><Say>Hold music.</Say></Response>`,
			}}
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clk := sim.NewClock(start, false)
			var (
				mu      sync.Mutex
				child   *interpreter.Call
				upErr   error
				ended   time.Duration
				wg      sync.WaitGroup
				updated bool
			)
			rec := &interpreter.Recorder{}
			s := sim.New(sim.Options{Clock: clk, Tracer: rec, Callees: parseCallees(t, tc.callee),
				Updates: []sim.ScheduledUpdate{{At: tc.at, Update: tc.update}},
				OnUpdate: func(u interpreter.Update) error {
					mu.Lock()
					c := child
					mu.Unlock()
					err := c.Update(u)
					mu.Lock()
					upErr, updated = err, true
					mu.Unlock()
					return err
				}})
			cfg := interpreter.Config{URL: "http://app.test/voice", Clock: s, Dialer: s.Dialer(), Tracer: rec,
				Detach: func(f func(context.Context)) {
					wg.Add(1)
					clk.Go(func() { defer wg.Done(); f(context.Background()) })
				},
				OnStatus: func(ch interpreter.StatusChange) {
					if ch.Call.Info().ParentCallSid == "" {
						return
					}
					mu.Lock()
					defer mu.Unlock()
					child = ch.Call
					if ch.Status == "completed" {
						ended = ch.At.Sub(start)
					}
				}}
			interpreter.New(s, f, nil, cfg).Run(s.Context(context.Background()))
			parentEnded := clk.Now().Sub(start)
			clk.Leave() // the detached child's time may now move without the caller
			wg.Wait()
			if !updated || !errors.Is(upErr, tc.err) {
				t.Fatalf("update sent %v, error %v, want %v", updated, upErr, tc.err)
			}
			var p url.Values
			for _, r := range f.requests() {
				if strings.HasSuffix(r.URL, "/dialed") {
					p = r.Params
				}
			}
			if p.Get("DialCallStatus") != tc.status || p.Get("DialCallDuration") != tc.duration {
				t.Errorf("action: DialCallStatus %q DialCallDuration %q, want %q %q", p.Get("DialCallStatus"), p.Get("DialCallDuration"), tc.status, tc.duration)
			}
			if tc.err == nil && parentEnded != tc.at {
				t.Errorf("the caller's call ended at %v, want at the update, %v", parentEnded, tc.at)
			}
			var says []string
			for _, e := range rec.Events() {
				if e.Name == "say" && e.Fields["party"] != nil {
					says = append(says, e.Fields["text"].(string))
				}
			}
			if !slices.Equal(says, tc.childSays) {
				t.Errorf("the child said %q, want %q", says, tc.childSays)
			}
			if tc.childEnded != 0 && ended != tc.childEnded {
				t.Errorf("the child's call completed at %v, want %v", ended, tc.childEnded)
			}
			if ended == 0 {
				t.Error("the child's call sent no completed status")
			}
			if err := child.Update(interpreter.Update{Hangup: true}); err == nil {
				t.Error("update of the ended child: want an error")
			}
		})
	}
}

// referLeg is a simulated caller that can send REFERs (Referable): the
// test sends one through the take func the Dial set.
type referLeg struct {
	*sim.Leg
	mu   sync.Mutex
	take func(*interpreter.Transfer)
}

func (l *referLeg) OnRefer(take func(*interpreter.Transfer)) {
	l.mu.Lock()
	l.take = take
	l.mu.Unlock()
}

func (l *referLeg) refer(t *interpreter.Transfer) bool {
	l.mu.Lock()
	take := l.take
	l.mu.Unlock()
	if take == nil {
		return false
	}
	take(t)
	return true
}

// TestDialCallerRefer: the caller's REFER while a Dial with referUrl
// bridges it hands the dialed party on: the party runs referUrl's
// document as a call of its own, and the caller hears NOTIFYs 100 and
// the outcome of that document's Dial, then is hung up without the
// Dial's action. Without referUrl it is declined (603).
func TestDialCallerRefer(t *testing.T) {
	tests := []struct {
		name     string
		referURL string
		second   string // the transfer target's behaviour
		reply    int
		notifies []int
		action   bool // the first Dial's action was requested
		hangup   bool // the caller hangs up as it sends the REFER
	}{
		{name: "transferred", referURL: ` referUrl="/refer"`, second: "+15551230002=ring:2,answer,talk:5",
			reply: 202, notifies: []int{100, 200}},
		{name: "target busy", referURL: ` referUrl="/refer"`, second: "+15551230002=ring:2,busy",
			reply: 202, notifies: []int{100, 486}},
		{name: "no referUrl", second: "+15551230002=ring:2,answer,talk:5", reply: 603, action: true},
		// A blind transferor hangs up right after its REFER: the
		// transfer goes on without it.
		{name: "caller hangs up at once", referURL: ` referUrl="/refer"`, second: "+15551230002=ring:2,answer,talk:5",
			reply: 202, notifies: []int{100, 200}, hangup: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFetcher{docs: map[string]string{
				"http://app.test/voice":  `<Response><Dial action="/dialed"` + tc.referURL + `>+15551230001</Dial></Response>`,
				"http://app.test/dialed": `<Response/>`,
				"http://app.test/refer":  `<Response><Dial>+15551230002</Dial></Response>`,
			}}
			callees := parseCallees(t, "+15551230001=ring:1,answer,talk:30", tc.second)
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clk := sim.NewClock(start, false)
			rec := &interpreter.Recorder{}
			var inputs []sim.Input
			if tc.hangup {
				inputs = append(inputs, sim.Input{Action: sim.Hangup, At: 5 * time.Second, Timed: true})
			}
			leg := &referLeg{Leg: sim.New(sim.Options{Clock: clk, Tracer: rec, Callees: callees, Inputs: inputs})}
			var (
				mu       sync.Mutex
				reply    int
				notifies []int
				sent     bool
				wg       sync.WaitGroup
			)
			tr := &interpreter.Transfer{Target: "<sip:sales@pbx.test>",
				Reply:  func(code int) { mu.Lock(); reply = code; mu.Unlock() },
				Notify: func(code int) { mu.Lock(); notifies = append(notifies, code); mu.Unlock() }}
			clk.AfterFunc(5*time.Second, func() { sent = leg.refer(tr) })
			cfg := interpreter.Config{URL: "http://app.test/voice", Clock: leg, Dialer: leg.Dialer(), Tracer: rec,
				Detach: func(f func(context.Context)) {
					wg.Add(1)
					clk.Go(func() { defer wg.Done(); f(context.Background()) })
				}}
			res := interpreter.New(leg, f, nil, cfg).Run(leg.Context(context.Background()))
			clk.Leave()
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			if !sent || reply != tc.reply || !slices.Equal(notifies, tc.notifies) {
				t.Errorf("REFER sent %v, answered %d, NOTIFYs %v; want %d %v", sent, reply, notifies, tc.reply, tc.notifies)
			}
			var referred, dialed bool
			for _, r := range f.requests() {
				switch {
				case strings.HasSuffix(r.URL, "/refer"):
					referred = true
					if r.Params.Get("ReferTransferTarget") != tr.Target || r.Params.Get("Direction") != "outbound-dial" {
						t.Errorf("referUrl params %v", r.Params)
					}
				case strings.HasSuffix(r.URL, "/dialed"):
					dialed = true
				}
			}
			if referred != (tc.reply == 202) || dialed != tc.action {
				t.Errorf("referUrl requested %v, the Dial's action %v", referred, dialed)
			}
			if tc.reply == 202 && !tc.hangup && res.Reason != "transferred" {
				t.Errorf("the caller's call ended with %q, want transferred", res.Reason)
			}
		})
	}
}

// parseCallees parses --callee specs (sim.ParseCallee).
func parseCallees(t *testing.T, specs ...string) []sim.Callee {
	t.Helper()
	var out []sim.Callee
	for _, spec := range specs {
		c, err := sim.ParseCallee(spec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}
