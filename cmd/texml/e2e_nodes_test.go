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
	app := newQueueApp(t)
	a := startServe(t, app.url("/caller"), "--redis-url", redis.URL, "--public-ip", "127.0.0.1")
	b := startServe(t, app.url("/agent"), "--redis-url", redis.URL, "--public-ip", "127.0.0.1")
	callerThenAgent(t, app, a.sipAddr, b.sipAddr)
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

// TestConferenceControlAcrossNodes: a room is mixed on node A; the REST
// API of node B mutes and removes a participant seated there, over the
// store's bus.
func TestConferenceControlAcrossNodes(t *testing.T) {
	redis := redistest.Start(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, `<Response><Dial><Conference beep="false">ctl</Conference></Dial></Response>`)
	}))
	t.Cleanup(app.Close)
	flags := []string{"--account-sid", e2eAccount, "--auth-token", e2eToken, "--redis-url", redis.URL, "--public-ip", "127.0.0.1"}
	a := startServe(t, app.URL+"/room", flags...)
	b := startServe(t, app.URL+"/room", flags...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := sipphone.New(t).Call(ctx, a.sipAddr, "room", sipphone.CallOptions{})
	if first.FinalCode() != 200 {
		t.Fatalf("first phone got %d", first.FinalCode())
	}
	// Node A's <Dial> answers the phone, then joins the room: wait until
	// it has joined, so that the room is node A's. Had node B's join come
	// first, the room would be node B's, with the second phone as its
	// first participant, and the test would remove that one.
	_, parts := waitRoomStatus(t, a, "init", 1)
	host := parts[0].(map[string]any)["call_sid"].(string)
	second := sipphone.New(t).Call(ctx, b.sipAddr, "room", sipphone.CallOptions{})
	if second.FinalCode() != 200 {
		t.Fatalf("second phone got %d", second.FinalCode())
	}
	base := confsURL(b)
	conf, parts := waitRoom(t, b, 2) // listed on node B
	if got := parts[0].(map[string]any)["call_sid"]; got != host {
		t.Fatalf("first participant listed on node B is %v, want %s", got, host)
	}
	code, p := apiForm(t, http.MethodPost, base+"/"+conf+"/Participants/"+host+".json", url.Values{"Muted": {"true"}})
	if code != http.StatusOK || p["muted"] != true {
		t.Fatalf("mute through node B: %d %v", code, p)
	}
	if code, _ := apiForm(t, http.MethodDelete, base+"/"+conf+"/Participants/"+host+".json", nil); code != http.StatusNoContent {
		t.Fatalf("remove through node B: %d", code)
	}
	if !first.WaitEnd(10 * time.Second) {
		t.Error("the removed participant's call did not end")
	}
}
