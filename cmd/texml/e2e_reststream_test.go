package main

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/internal/sipphone"
)

// TestAPIStreamStartStop forks a live call's audio with the REST Stream
// resource (https://www.twilio.com/docs/voice/api/stream-resource): the
// stream starts while a Pause runs, the app receives the callee's tone,
// and the REST stop ends it with a stop message, while the call goes on.
func TestAPIStreamStartStop(t *testing.T) {
	const calleeTone = 900.0
	var (
		mu     sync.Mutex
		events []string
		pcm    []int16
		sid    string
	)
	wsURL := wsApp(t, func(ctx context.Context, c *websocket.Conn) {
		for {
			m, err := readMsg(ctx, c)
			if err != nil {
				return
			}
			mu.Lock()
			if n := len(events); n == 0 || events[n-1] != m.Event {
				events = append(events, m.Event)
			}
			switch m.Event {
			case "start":
				sid = m.StreamSid
			case "media":
				pcm = append(pcm, m.pcm()...)
			}
			mu.Unlock()
		}
	})
	a := newApp(t, map[string]string{"/voice": `<Response><Pause length="6"/></Response>`})
	s := startServe(t, a.srv.URL+"/voice", "--account-sid", e2eAccount, "--auth-token", e2eToken)
	callee := sipphone.New(t)
	callee.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		c.Tone(calleeTone, 5*time.Second)
		c.Listen(2 * time.Second)
	}})
	code, call := apiForm(t, http.MethodPost, callsURL(s), url.Values{"To": {callee.URI("bob")}, "From": {"+15559990000"},
		"Url": {a.srv.URL + "/voice"}})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, call)
	}
	callSid, _ := call["sid"].(string)
	waitRequest(t, a, "/voice", 10*time.Second)
	time.Sleep(300 * time.Millisecond) // the Pause runs

	streams := callsURL(s) + "/" + callSid + "/Streams"
	code, st := apiForm(t, http.MethodPost, streams+".json", url.Values{"Url": {wsURL}, "Name": {"fork1"},
		"Parameter1.Name": {"who"}, "Parameter1.Value": {"rest"}})
	if code != http.StatusCreated || st["status"] != "in-progress" || st["name"] != "fork1" || st["call_sid"] != callSid {
		t.Fatalf("start: %d %v", code, st)
	}
	waitFor(t, 10*time.Second, "a second of the callee's audio at the app", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(pcm) >= 8000
	})
	code, stopped := apiForm(t, http.MethodPost, streams+"/fork1.json", url.Values{"Status": {"stopped"}})
	if code != http.StatusOK || stopped["status"] != "stopped" || stopped["sid"] != st["sid"] {
		t.Fatalf("stop: %d %v", code, stopped)
	}
	// The fork is over, the call is not: the Pause goes on.
	code, now := apiForm(t, http.MethodGet, callsURL(s)+"/"+callSid+".json", nil)
	if code != http.StatusOK || now["status"] != "in-progress" {
		t.Errorf("after the stop the call is %d %v, want in-progress", code, now["status"])
	}
	code, again := apiForm(t, http.MethodPost, streams+"/fork1.json", url.Values{"Status": {"stopped"}})
	if code != http.StatusNotFound {
		t.Errorf("stopping it again: %d %v, want 404", code, again)
	}
	waitFor(t, 5*time.Second, "the app's stop message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0 && events[len(events)-1] == "stop"
	})
	mu.Lock()
	defer mu.Unlock()
	if got := len(events); got != 4 || events[0] != "connected" || events[1] != "start" || events[2] != "media" {
		t.Errorf("the app got %v, want connected, start, media, stop", events)
	}
	if sid != st["sid"] {
		t.Errorf("start's streamSid %s, the API's sid %v", sid, st["sid"])
	}
	if !sipphone.HasTone(pcm, calleeTone) {
		t.Error("the app did not hear the callee's tone")
	}
}
