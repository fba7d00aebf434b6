package interpreter_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// silentApp is a Media Streams app that never closes its socket; it
// records the events it received.
type silentApp struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []string
}

func newSilentApp(t *testing.T) *silentApp {
	a := &silentApp{}
	a.srv = wsServer(t, func(ctx context.Context, c *websocket.Conn, data []byte) {
		var m struct{ Event string }
		_ = json.Unmarshal(data, &m)
		a.mu.Lock()
		if n := len(a.events); n == 0 || a.events[n-1] != m.Event {
			a.events = append(a.events, m.Event)
		}
		a.mu.Unlock()
	})
	return a
}

// wsServer serves a WebSocket app on loopback: each message of each
// connection goes to on, until the connection closes.
func wsServer(t *testing.T, on func(ctx context.Context, c *websocket.Conn, msg []byte)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			_, data, err := c.Read(r.Context())
			if err != nil {
				return
			}
			on(r.Context(), c, data)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// wsURL is the ws:// URL of srv.
func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

func (a *silentApp) url() string { return wsURL(a.srv) }

func (a *silentApp) got() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.events, ",")
}

// TestStreamEndsWithTheCall checks that every way a call can leave a
// stream running ends it with a stop, and that none of the call's
// goroutines outlive it.
func TestStreamEndsWithTheCall(t *testing.T) {
	for _, tc := range []struct {
		name  string
		doc   string
		opts  sim.Options
		trace string // a say that must happen
	}{
		{"the caller hangs up during Connect", `<Response><Connect><Stream url="%s"/></Connect></Response>`,
			sim.Options{Inputs: []sim.Input{{Action: sim.Hangup, At: 100 * time.Millisecond, Timed: true}}}, ""},
		{"a live update ends Connect", `<Response><Connect><Stream url="%s"/></Connect></Response>`,
			sim.Options{Updates: []sim.ScheduledUpdate{{At: 100 * time.Millisecond, Update: interpreter.Update{Twiml: "<Response><Say>updated</Say></Response>"}}}}, "updated"},
		{"a fork at the end of the document", `<Response><Start><Stream url="%s"/></Start><Say>bye</Say></Response>`,
			sim.Options{}, "bye"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newSilentApp(t)
			before := runtime.NumGoroutine()
			doc := strings.Replace(tc.doc, "%s", app.url(), 1)
			f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": doc}}
			rec := &interpreter.Recorder{}
			opts := tc.opts
			opts.Tracer = rec
			var call *interpreter.Call
			opts.OnUpdate = func(u interpreter.Update) error { return call.Update(u) }
			leg := sim.New(opts)
			call = interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: leg, Tracer: rec})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			call.Run(leg.Context(ctx))
			if got := app.got(); got != "connected,start,media,stop" {
				t.Errorf("the app got %s, want connected,start,media,stop", got)
			}
			said := false
			for _, e := range rec.Events() {
				said = said || e.Name == "say" && e.Fields["text"] == tc.trace
			}
			if tc.trace != "" && !said {
				t.Errorf("no say %q", tc.trace)
			}
			noLeak(t, before)
		})
	}
}

// noLeak fails t when more goroutines run than before, once those that
// end on their own (the app's side of a socket) had 2 s to do so.
func noLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after the call, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
