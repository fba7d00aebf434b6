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

	"github.com/texml/texml/internal/redistest"
	"github.com/texml/texml/internal/sipphone"
)

// TestQueueAcrossNodes runs two `texml serve` nodes on one Redis: a caller
// waits in a queue on node A, an agent on node B dials the queue. Node B
// reaches the caller with a signed node-to-node SIP leg to node A, which
// bridges its caller with that leg: tones cross both ways through both
// nodes, and the caller's Enqueue action gets QueueResult=bridged when the
// agent hangs up.
func TestQueueAcrossNodes(t *testing.T) {
	redis := redistest.Start(t)
	var mu sync.Mutex
	var queued url.Values
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		switch r.URL.Path {
		case "/caller":
			_, _ = io.WriteString(w, `<Response><Enqueue action="/queued">support</Enqueue></Response>`)
		case "/agent":
			_, _ = io.WriteString(w, `<Response><Dial><Queue>support</Queue></Dial></Response>`)
		case "/queued":
			mu.Lock()
			queued = r.PostForm
			mu.Unlock()
			_, _ = io.WriteString(w, `<Response><Say>Thank you.</Say><Hangup/></Response>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(app.Close)
	a := startServe(t, app.URL+"/caller", "--redis-url", redis.URL, "--public-ip", "127.0.0.1")
	b := startServe(t, app.URL+"/agent", "--redis-url", redis.URL, "--public-ip", "127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	caller := sipphone.New(t).Call(ctx, a.sipAddr, "support", sipphone.CallOptions{})
	if caller.FinalCode() != 200 {
		t.Fatalf("caller got %d from node A", caller.FinalCode())
	}
	callerDone := make(chan []int16, 1)
	go func() {
		caller.Listen(2 * time.Second) // hold music on node A
		hold := caller.Audio()
		caller.Listen(time.Second)
		caller.Tone(700, 1500*time.Millisecond)
		caller.Listen(6 * time.Second)
		callerDone <- hold
	}()
	time.Sleep(2300 * time.Millisecond)
	agent := sipphone.New(t).Call(ctx, b.sipAddr, "agent", sipphone.CallOptions{})
	if agent.FinalCode() != 200 {
		t.Fatalf("agent got %d from node B", agent.FinalCode())
	}
	agent.Listen(2500 * time.Millisecond)
	agent.Tone(1300, 1500*time.Millisecond)
	agent.Listen(500 * time.Millisecond)
	_ = agent.Hangup()
	hold := <-callerDone

	if v := sipphone.VoicedTime(hold); v < time.Second {
		t.Errorf("the waiting caller heard %v of hold music in 2 s", v)
	}
	if !sipphone.HasTone(agent.Audio(), 700) {
		t.Error("the agent on node B did not hear the caller's tone from node A")
	}
	if !sipphone.HasTone(caller.Audio(), 1300) {
		t.Error("the caller on node A did not hear the agent's tone from node B")
	}
	if !caller.WaitEnd(5 * time.Second) {
		t.Fatal("the caller's call did not end after its action's Hangup")
	}
	mu.Lock()
	defer mu.Unlock()
	if queued.Get("QueueResult") != "bridged" {
		t.Errorf("Enqueue action %v, want QueueResult=bridged", queued)
	}
}

// TestConferenceAcrossNodes puts three phones in one room through two
// nodes on one Redis: the first joins on node A, which creates the room and
// mixes it; the others join on node B, which reaches the room with
// node-to-node legs. Everyone hears the other two and not themselves.
func TestConferenceAcrossNodes(t *testing.T) {
	redis := redistest.Start(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, `<Response><Dial><Conference beep="false">across</Conference></Dial></Response>`)
	}))
	t.Cleanup(app.Close)
	a := startServe(t, app.URL+"/room", "--redis-url", redis.URL, "--public-ip", "127.0.0.1")
	b := startServe(t, app.URL+"/room", "--redis-url", redis.URL, "--public-ip", "127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	nodes := []*service{a, b, b}
	freqs := []float64{1200, 1700, 1900}
	calls := make([]*sipphone.Call, len(freqs))
	var wg sync.WaitGroup
	start := time.Now().Add(3 * time.Second)
	for i, f := range freqs {
		calls[i] = sipphone.New(t).Call(ctx, nodes[i].sipAddr, "room", sipphone.CallOptions{})
		if calls[i].FinalCode() != 200 {
			t.Fatalf("phone %d got %d", i, calls[i].FinalCode())
		}
		talkAt(&wg, calls[i], f, start)
		time.Sleep(400 * time.Millisecond)
	}
	wg.Wait()
	checkHeard(t, calls, freqs, others)
}
