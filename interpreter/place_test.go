package interpreter_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// statuses records what Config.OnStatus is told, per CallSid.
type statuses struct {
	mu  sync.Mutex
	got map[string][]string
}

func (s *statuses) observe(ch interpreter.StatusChange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.got == nil {
		s.got = map[string][]string{}
	}
	sid := ch.Call.Info().CallSid
	s.got[sid] = append(s.got[sid], ch.Status)
}

func (s *statuses) of(sid string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got[sid])
}

// Place runs a REST-created call: it dials, reports each status as it
// happens, and runs the document on the answered callee only.
func TestPlace(t *testing.T) {
	const doc = `<Response><Say>hello</Say></Response>`
	tests := []struct {
		name     string
		callee   string // a --callee value for the dialed number
		timeout  time.Duration
		status   string
		statuses []string
		said     bool
	}{
		{"answer", "+15550001111=ring:3,answer", 0, "completed", []string{"queued", "ringing", "in-progress", "completed"}, true},
		{"busy", "+15550001111=ring:2,busy", 0, "busy", []string{"queued", "ringing", "busy"}, false},
		{"failed", "+15550001111=failed", 0, "failed", []string{"queued", "ringing", "failed"}, false},
		{"reject 480 is no-answer", "+15550001111=reject:480", 0, "no-answer", []string{"queued", "ringing", "no-answer"}, false},
		{"ring timeout", "+15550001111=no-answer", 15 * time.Second, "no-answer", []string{"queued", "ringing", "no-answer"}, false},
		{"answers after the timeout", "+15550001111=ring:20,answer", 15 * time.Second, "no-answer", []string{"queued", "ringing", "no-answer"}, false},
		// Nothing at all comes back: unreachable, failed (no ringing).
		{"unreachable at the ring timeout", "+15550001111=unreachable", 15 * time.Second, "failed", []string{"queued", "failed"}, false},
		{"unreachable at Timer B", "+15550001111=unreachable", 60 * time.Second, "failed", []string{"queued", "failed"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sim.ParseCallee(tc.callee)
			if err != nil {
				t.Fatal(err)
			}
			rec := &interpreter.Recorder{}
			world := sim.New(sim.Options{Callees: []sim.Callee{c}, Tracer: rec})
			f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": doc}}
			var st statuses
			call := interpreter.New(nil, f, nil, interpreter.Config{
				URL: "http://app.test/voice", From: "+15559990000", To: "+15550001111", Direction: "outbound-api",
				Clock: world, Dialer: world.Dialer(), Tracer: rec, OnStatus: st.observe,
			})
			start := world.Now()
			res := call.Place(context.Background(), interpreter.Placement{
				Target: interpreter.Target{Kind: interpreter.NumberTarget, Addr: "+15550001111", Timeout: tc.timeout}})
			if res.Status != tc.status {
				t.Errorf("status %s (%s), want %s", res.Status, res.Reason, tc.status)
			}
			if got := st.of(call.Sid()); !slices.Equal(got, tc.statuses) {
				t.Errorf("statuses %v, want %v", got, tc.statuses)
			}
			said := slices.ContainsFunc(rec.Events(), func(e interpreter.Event) bool { return e.Name == "say" })
			if said != tc.said {
				t.Errorf("said: %v, want %v", said, tc.said)
			}
			if reqs := f.requests(); tc.said {
				if len(reqs) != 1 || reqs[0].Params.Get("Direction") != "outbound-api" || reqs[0].Params.Get("CallStatus") != "in-progress" {
					t.Errorf("requests %+v: want one, outbound-api, in-progress", reqs)
				}
			} else if len(reqs) != 0 {
				t.Errorf("an unanswered call fetched %d documents", len(reqs))
			}
			if tc.timeout > 0 && tc.status == "no-answer" {
				if d := world.Now().Sub(start); d != tc.timeout {
					t.Errorf("gave up after %v, want the timeout %v", d, tc.timeout)
				}
			}
		})
	}
}

// An update sent while the call rings applies once it is answered; a
// cancel with ErrCanceled before the answer ends it as canceled.
func TestPlaceUpdateAndCancel(t *testing.T) {
	c, _ := sim.ParseCallee("+15550001111=ring:5,answer")
	rec := &interpreter.Recorder{}
	world := sim.New(sim.Options{Callees: []sim.Callee{c}, Tracer: rec})
	f := &fakeFetcher{docs: map[string]string{
		"http://app.test/voice": `<Response><Say>original</Say></Response>`,
		"http://app.test/new":   `<Response><Say>updated</Say></Response>`,
	}}
	var call *interpreter.Call
	call = interpreter.New(nil, f, nil, interpreter.Config{
		URL: "http://app.test/voice", Direction: "outbound-api", Clock: world, Dialer: world.Dialer(), Tracer: rec,
		OnStatus: func(ch interpreter.StatusChange) {
			if ch.Status == "ringing" {
				if err := call.Update(interpreter.Update{URL: "http://app.test/new"}); err != nil {
					t.Errorf("Update while ringing: %v", err)
				}
			}
		},
	})
	res := call.Place(context.Background(), interpreter.Placement{
		Target: interpreter.Target{Kind: interpreter.NumberTarget, Addr: "+15550001111"}, SendDigits: "1w2"})
	var says []string
	for _, e := range rec.Events() {
		if e.Name == "say" {
			says = append(says, e.Fields["text"].(string))
		}
	}
	if strings.Join(says, "|") != "updated" || res.Status != "completed" {
		t.Errorf("says %q, status %s: want the update's document only", says, res.Status)
	}

	c2, _ := sim.ParseCallee("+15550001111=ring:30,answer")
	world = sim.New(sim.Options{Callees: []sim.Callee{c2}})
	ctx, cancel := context.WithCancelCause(context.Background())
	var st statuses
	call = interpreter.New(nil, f, nil, interpreter.Config{
		URL: "http://app.test/voice", Direction: "outbound-api", Clock: world, Dialer: world.Dialer(),
		OnStatus: func(ch interpreter.StatusChange) {
			st.observe(ch)
			if ch.Status == "ringing" {
				world.AfterFunc(3*time.Second, func() { cancel(interpreter.ErrCanceled) })
			}
		},
	})
	res = call.Place(ctx, interpreter.Placement{Target: interpreter.Target{Kind: interpreter.NumberTarget, Addr: "+15550001111"}})
	if res.Status != "canceled" {
		t.Errorf("canceled while ringing: status %s (%s)", res.Status, res.Reason)
	}
	if got := st.of(call.Sid()); !slices.Equal(got, []string{"queued", "ringing", "canceled"}) {
		t.Errorf("statuses %v", got)
	}
}

// Record on a placed call records from the answer to the end, as
// OutboundAPI, and posts its callback when the call ends.
func TestPlaceRecord(t *testing.T) {
	c, _ := sim.ParseCallee("+15550001111=ring:2,answer")
	rec := &interpreter.Recorder{}
	world := sim.New(sim.Options{Callees: []sim.Callee{c}, Tracer: rec})
	f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": `<Response><Pause length="5"/></Response>`}}
	cbs := interpreter.NewDispatcher(f, interpreter.DispatcherOptions{})
	call := interpreter.New(nil, f, cbs, interpreter.Config{
		URL: "http://app.test/voice", Direction: "outbound-api", Clock: world, Dialer: world.Dialer(), Tracer: rec,
		RecordingBaseURL: "http://texml.test",
		Record:           &interpreter.RecordOptions{Dual: true, StatusCallback: "http://app.test/rec"},
	})
	res := call.Place(context.Background(), interpreter.Placement{Target: interpreter.Target{Kind: interpreter.NumberTarget, Addr: "+15550001111"}})
	if err := cbs.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res.Status != "completed" {
		t.Fatalf("status %s", res.Status)
	}
	var started bool
	for _, e := range rec.Events() {
		if e.Name == "record-call" && e.Fields["source"] == "OutboundAPI" && e.Fields["channels"] == 2 {
			started = true
		}
	}
	var got []string
	for _, r := range f.requests() {
		if r.URL == "http://app.test/rec" {
			got = append(got, r.Params.Get("RecordingStatus")+" "+r.Params.Get("RecordingSource")+" "+r.Params.Get("RecordingDuration"))
		}
	}
	if !started || strings.Join(got, ",") != "completed OutboundAPI 5" {
		t.Errorf("record-call traced %v; callbacks %v, want one completed OutboundAPI of 5 s", started, got)
	}
}
