package sim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
)

// app writes documents into a temporary folder and returns a function
// giving the file: URL of one of them.
func app(t *testing.T, docs map[string]string) func(string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range docs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base, err := fetcher.FileURL(dir)
	if err != nil {
		t.Fatal(err)
	}
	return func(name string) string { return strings.TrimRight(base, "/") + "/" + name }
}

func newTestWorld(t *testing.T, rec *interpreter.Recorder) (*World, interpreter.Fetcher) {
	t.Helper()
	fe := fetcher.New(fetcher.Options{})
	t.Cleanup(fe.Close)
	w := NewWorld(WorldOptions{Start: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Tracer: rec})
	t.Cleanup(func() { _ = w.Close() })
	return w, fe
}

func mustInput(t *testing.T, v string) Input {
	t.Helper()
	in, err := ParseInput(v)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestWorldQueueAgent: a caller waits in a queue that an agent, calling
// five seconds later, dials; the caller's Enqueue action follows the
// bridge, and the agent's events carry its name on the world's timeline.
func TestWorldQueueAgent(t *testing.T) {
	url := app(t, map[string]string{
		"voice.xml":  `<Response><Enqueue action="queued.xml">support</Enqueue></Response>`,
		"queued.xml": `<Response><Say>Thanks</Say></Response>`,
		"agent.xml":  `<Response><Dial><Queue>support</Queue></Dial></Response>`,
	})
	rec := &interpreter.Recorder{}
	w, fe := newTestWorld(t, rec)
	for _, p := range []Party{
		{Config: interpreter.Config{URL: url("voice.xml")}, Fetcher: fe},
		{Name: "agent", At: 5 * time.Second, Leg: Options{Inputs: []Input{mustInput(t, "hangup@20000")}},
			Config: interpreter.Config{URL: url("agent.xml")}, Fetcher: fe},
	} {
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	ended := w.Run(context.Background())
	if len(ended) != 2 || ended[1].Name != "agent" || !ended[0].Called || !ended[1].Called {
		t.Fatalf("ended %+v", ended)
	}
	if r := ended[0].Result; r.Reason != "end-of-document" || ended[0].At < 25*time.Second {
		t.Errorf("caller ended %+v at %v; want end-of-document after the bridge", r, ended[0].At)
	}
	if r := ended[1].Result; r.Reason != "caller-hangup" || ended[1].At != 25*time.Second {
		t.Errorf("agent ended %+v at %v; want caller-hangup at 25s", r, ended[1].At)
	}
	var queued, bridged bool
	for _, e := range rec.Events() {
		caller, _ := e.Fields["caller"].(string)
		p, _ := e.Fields["params"].(map[string]string)
		if e.Name == "request" && w.PartyOf(p["CallSid"]) != caller {
			t.Errorf("request %v by %q, but PartyOf says %q", e.Fields["url"], caller, w.PartyOf(p["CallSid"]))
		}
		switch {
		case e.Name == "request" && strings.HasSuffix(e.Fields["url"].(string), "queued.xml"):
			queued = caller == "" && p["QueueResult"] == "bridged" && e.T == 25*time.Second
		case e.Name == "bridge":
			bridged = caller == "agent" && e.T == 5*time.Second
		}
	}
	if !queued || !bridged {
		t.Errorf("queued %v, bridged %v; events:\n%v", queued, bridged, rec.Events())
	}
}

// TestWorldEndedCallerDoesNotAct: once the first caller's call is over,
// its timed hangup does not happen while another party's time goes on.
func TestWorldEndedCallerDoesNotAct(t *testing.T) {
	url := app(t, map[string]string{
		"short.xml": `<Response><Say>Bye</Say></Response>`,
		"long.xml":  `<Response><Pause length="30"/></Response>`,
	})
	rec := &interpreter.Recorder{}
	w, fe := newTestWorld(t, rec)
	if err := w.Add(Party{Leg: Options{Inputs: []Input{mustInput(t, "hangup@10000")}}, Config: interpreter.Config{URL: url("short.xml")}, Fetcher: fe}); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(Party{Name: "other", At: time.Second, Config: interpreter.Config{URL: url("long.xml")}, Fetcher: fe}); err != nil {
		t.Fatal(err)
	}
	ended := w.Run(context.Background())
	if ended[1].At != 31*time.Second {
		t.Errorf("other ended at %v, want 31s", ended[1].At)
	}
	for _, e := range rec.Events() {
		if e.Name == "input" {
			t.Errorf("an ended call acted: %+v", e)
		}
	}
}

func TestWorldAddErrors(t *testing.T) {
	fe := fetcher.New(fetcher.Options{})
	defer fe.Close()
	tests := []struct {
		name    string
		parties []Party
		want    string
	}{
		{"first calls late", []Party{{At: time.Second, Fetcher: fe}}, "calls at the start"},
		{"negative", []Party{{Fetcher: fe}, {Name: "a", At: -time.Second, Fetcher: fe}}, "before the start"},
		{"unnamed", []Party{{Fetcher: fe}, {Fetcher: fe}}, "needs a name"},
		{"taken", []Party{{Fetcher: fe}, {Name: "a", Fetcher: fe}, {Name: "a", Fetcher: fe}}, "already taken"},
		{"no fetcher", []Party{{}}, "no Fetcher"},
		{"sid taken", []Party{{Fetcher: fe, Config: interpreter.Config{CallSid: "CA1"}},
			{Name: "a", Fetcher: fe, Config: interpreter.Config{CallSid: "CA1"}}}, "CallSid CA1 already taken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWorld(WorldOptions{})
			defer w.Close()
			var err error
			for _, p := range tc.parties {
				if err = w.Add(p); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestWorldCanceledBeforeTurn: a party whose time has not come when the
// run is ended from outside never calls.
func TestWorldCanceledBeforeTurn(t *testing.T) {
	url := app(t, map[string]string{"voice.xml": `<Response><Say>Hi</Say></Response>`})
	w, fe := newTestWorld(t, &interpreter.Recorder{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = w.Add(Party{Config: interpreter.Config{URL: url("voice.xml")}, Fetcher: fe})
	_ = w.Add(Party{Name: "late", At: time.Hour, Config: interpreter.Config{URL: url("voice.xml")}, Fetcher: fe})
	ended := w.Run(ctx)
	if ended[1].Called || ended[1].Name != "late" {
		t.Errorf("ended %+v; want the late party never called", ended[1])
	}
}

// TestWorldRESTDequeue: the REST API's dequeue of a waiting caller
// (Member update with Url) requests that document at once with the
// Enqueue's action parameters and QueueResult=redirected, and the call
// goes on there.
func TestWorldRESTDequeue(t *testing.T) {
	url := app(t, map[string]string{
		"voice.xml":  `<Response><Enqueue action="queued.xml">support</Enqueue></Response>`,
		"queued.xml": `<Response><Say>not this one</Say></Response>`,
		"moved.xml":  `<Response><Say>Moved</Say></Response>`,
	})
	rec := &interpreter.Recorder{}
	w, fe := newTestWorld(t, rec)
	sid := interpreter.NewSid("CA")
	if err := w.Add(Party{Config: interpreter.Config{URL: url("voice.xml"), CallSid: sid}, Fetcher: fe}); err != nil {
		t.Fatal(err)
	}
	w.Clock().AfterFunc(3*time.Second, func() {
		if err := w.Queues().Dequeue(context.Background(), "support", sid, url("moved.xml"), "GET"); err != nil {
			t.Error(err)
		}
	})
	w.Run(context.Background())
	var moved, said bool
	for _, e := range rec.Events() {
		if e.Name == "request" && strings.HasSuffix(e.Fields["url"].(string), "moved.xml") {
			p := e.Fields["params"].(map[string]string)
			moved = e.Fields["method"] == "GET" && p["QueueResult"] == "redirected" && p["QueueTime"] == "3" && e.T == 3*time.Second
		}
		if e.Name == "say" && e.Fields["text"] == "Moved" {
			said = true
		}
		if e.Name == "say" && e.Fields["text"] == "not this one" {
			t.Error("the Enqueue action ran after a REST dequeue")
		}
	}
	if !moved || !said {
		t.Errorf("REST dequeue: moved.xml requested as wanted %v, its Say ran %v; events %v", moved, said, rec.Events())
	}
	if err := w.Queues().Dequeue(context.Background(), "support", sid, url("moved.xml"), "GET"); err == nil {
		t.Error("a second dequeue of a call no longer waiting succeeded")
	}
}
