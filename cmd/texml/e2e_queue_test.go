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
	var mu sync.Mutex
	seen := map[string]int{} // CallSid → order of arrival
	var queued url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/voice":
			sid := r.PostForm.Get("CallSid")
			if _, ok := seen[sid]; !ok {
				seen[sid] = len(seen)
			}
			if seen[sid] == 0 {
				_, _ = io.WriteString(w, `<Response><Enqueue action="/queued">support</Enqueue></Response>`)
				return
			}
			_, _ = io.WriteString(w, `<Response><Dial><Queue>support</Queue></Dial></Response>`)
		case "/queued":
			queued = r.PostForm
			_, _ = io.WriteString(w, `<Response><Say>Thank you for waiting.</Say><Hangup/></Response>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	s := startServe(t, srv.URL+"/voice", extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	callerPhone, agentPhone := sipphone.New(t), sipphone.New(t)
	caller := callerPhone.Call(ctx, s.sipAddr, "queue", sipphone.CallOptions{})
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
	agent := agentPhone.Call(ctx, s.sipAddr, "agent", sipphone.CallOptions{})
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
	mu.Lock()
	defer mu.Unlock()
	if queued.Get("QueueResult") != "bridged" || queued.Get("QueueSid") == "" {
		t.Errorf("Enqueue action %v, want QueueResult=bridged with a QueueSid", queued)
	}
}
