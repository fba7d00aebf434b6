package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// TestQueueCallerHearsHoldMusicThenAgent puts a Go test phone in a queue
// through `texml serve` and dials it from a second phone: the caller hears
// texml's own hold music, then the agent; a tone crosses the bridge each
// way; when the agent hangs up, the caller's Enqueue action gets
// QueueResult=bridged and its document runs.
func TestQueueCallerHearsHoldMusicThenAgent(t *testing.T) {
	queueHoldMusicThenAgent(t)
}

// queueHoldMusicThenAgent is TestQueueCallerHearsHoldMusicThenAgent on a
// service started with the extra flags (e.g. --redis-url).
func queueHoldMusicThenAgent(t *testing.T, extra ...string) {
	app := newQueueApp(t)
	s := startServe(t, app.url("/voice"), extra...)
	callerThenAgent(t, app, s.sipAddr, s.sipAddr)
}

// queueApp serves a caller's Enqueue and an agent's Dial Queue: /caller
// and /agent, or /voice giving the first call the Enqueue and the others
// the Dial; it keeps the Enqueue action's parameters.
type queueApp struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   map[string]int // CallSid → order of arrival at /voice
	queued url.Values
}

func newQueueApp(t *testing.T) *queueApp {
	a := &queueApp{seen: map[string]int{}}
	const enqueue = `<Response><Enqueue action="/queued">support</Enqueue></Response>`
	const dial = `<Response><Dial><Queue>support</Queue></Dial></Response>`
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		a.mu.Lock()
		defer a.mu.Unlock()
		switch r.URL.Path {
		case "/caller":
			_, _ = io.WriteString(w, enqueue)
		case "/agent":
			_, _ = io.WriteString(w, dial)
		case "/voice":
			sid := r.PostForm.Get("CallSid")
			if _, ok := a.seen[sid]; !ok {
				a.seen[sid] = len(a.seen)
			}
			if a.seen[sid] == 0 {
				_, _ = io.WriteString(w, enqueue)
				return
			}
			_, _ = io.WriteString(w, dial)
		case "/queued":
			a.queued = r.PostForm
			_, _ = io.WriteString(w, `<Response><Say>Thank you for waiting.</Say><Hangup/></Response>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *queueApp) url(path string) string { return a.srv.URL + path }

// callerThenAgent calls callerAddr with a phone that waits in the queue,
// then callerAddr's agent from agentAddr: the caller hears hold music,
// then a tone crosses the bridge each way, and when the agent hangs up
// the caller's Enqueue action gets QueueResult=bridged and its document
// runs.
func callerThenAgent(t *testing.T, app *queueApp, callerAddr, agentAddr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	caller := sipphone.New(t).Call(ctx, callerAddr, "queue", sipphone.CallOptions{})
	if caller.FinalCode() != 200 {
		t.Fatalf("caller got %d", caller.FinalCode())
	}
	callerDone := make(chan []int16, 1)
	go func() {
		caller.Listen(2500 * time.Millisecond) // hold music
		hold := caller.Audio()
		caller.Listen(time.Second) // the agent joins meanwhile
		caller.Tone(700, 1500*time.Millisecond)
		caller.Listen(6 * time.Second) // the agent's tone, then the action's Say, then texml's BYE
		callerDone <- hold
	}()
	time.Sleep(2800 * time.Millisecond)
	agent := sipphone.New(t).Call(ctx, agentAddr, "agent", sipphone.CallOptions{})
	if agent.FinalCode() != 200 {
		t.Fatalf("agent got %d", agent.FinalCode())
	}
	agent.Listen(2500 * time.Millisecond) // the caller's tone
	agent.Tone(1300, 1500*time.Millisecond)
	agent.Listen(500 * time.Millisecond)
	_ = agent.Hangup()
	hold := <-callerDone

	if v := sipphone.VoicedTime(hold); v < 1500*time.Millisecond {
		t.Errorf("the waiting caller heard %v of hold music in 2.5 s", v)
	}
	if !sipphone.HasTone(agent.Audio(), 700) {
		t.Error("the agent did not hear the caller's 700 Hz tone across the bridge")
	}
	if !sipphone.HasTone(caller.Audio(), 1300) {
		t.Error("the caller did not hear the agent's 1300 Hz tone across the bridge")
	}
	if !caller.WaitEnd(5 * time.Second) {
		t.Fatal("the caller's call did not end after its action's Hangup")
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	if app.queued.Get("QueueResult") != "bridged" || app.queued.Get("QueueSid") == "" {
		t.Errorf("Enqueue action %v, want QueueResult=bridged with a QueueSid", app.queued)
	}
}
