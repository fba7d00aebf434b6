package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/redistest"
	"github.com/texml/texml/internal/sipphone"
)

const (
	e2eAccount = "AC0123456789abcdef0123456789abcdef"
	e2eToken   = "e2e-secret"
)

// callsURL is the Calls resource of a service.
func callsURL(s *service) string {
	return "http://" + s.httpLn.Addr().String() + "/2010-04-01/Accounts/" + e2eAccount + "/Calls"
}

// apiForm sends a form-encoded API request with the test account and
// decodes the JSON answer into a map.
func apiForm(t *testing.T, method, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e2eAccount, e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s %s: %d %s", method, u, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, v
}

// confsURL is the Conferences resource of a service.
func confsURL(s *service) string {
	return "http://" + s.httpLn.Addr().String() + "/2010-04-01/Accounts/" + e2eAccount + "/Conferences"
}

// waitRoom waits until the service lists one in-progress room with n
// participants, and returns its sid and participants.
func waitRoom(t *testing.T, s *service, n int) (string, []any) {
	t.Helper()
	return waitRoomStatus(t, s, "in-progress", n)
}

// waitRoomStatus waits until the service lists one room of status (init:
// not started yet) with n participants, and returns its sid and
// participants.
func waitRoomStatus(t *testing.T, s *service, status string, n int) (string, []any) {
	t.Helper()
	var sid string
	var parts []any
	waitFor(t, 10*time.Second, fmt.Sprintf("a room of %d listed %s", n, status), func() bool {
		_, list := apiForm(t, http.MethodGet, confsURL(s)+".json?Status="+status, nil)
		rooms, _ := list["conferences"].([]any)
		if len(rooms) != 1 {
			return false
		}
		sid = rooms[0].(map[string]any)["sid"].(string)
		_, ps := apiForm(t, http.MethodGet, confsURL(s)+"/"+sid+"/Participants.json", nil)
		parts, _ = ps["participants"].([]any)
		return len(parts) == n
	})
	return sid, parts
}

// waitCallStatus fetches a call until its status is want.
func waitCallStatus(t *testing.T, u, want string, within time.Duration) map[string]any {
	t.Helper()
	var c map[string]any
	waitFor(t, within, "call status "+want, func() bool {
		_, c = apiForm(t, http.MethodGet, u, nil)
		return c["status"] == want
	})
	return c
}

// TestAPICallsEndToEnd places calls through the REST API to test phones:
// one answers and hears the app, is redirected by a live update and hung
// up; one is busy; a number no trunk routes is refused at once.
func TestAPICallsEndToEnd(t *testing.T) {
	a := newApp(t, map[string]string{
		"/voice":  `<Response><Say>Hello from the API.</Say><Pause length="20"/></Response>`,
		"/bye":    `<Response><Say>Goodbye.</Say><Hangup/></Response>`,
		"/status": `<Response/>`,
	})
	s := startServe(t, a.srv.URL+"/voice", "--account-sid", e2eAccount, "--auth-token", e2eToken)
	callee := sipphone.New(t)
	heard := make(chan time.Duration, 1)
	callee.Answer(sipphone.Behaviour{Ring: 300 * time.Millisecond, Then: func(c *sipphone.Call) {
		c.Listen(2 * time.Second)
		heard <- sipphone.VoicedTime(c.Audio())
		c.Listen(6 * time.Second)
	}})
	form := url.Values{"To": {callee.URI("bob")}, "From": {"+15559990000"}, "Url": {a.srv.URL + "/voice"},
		"StatusCallback": {a.srv.URL + "/status"}, "StatusCallbackEvent": {"initiated", "ringing", "answered", "completed"}}
	code, c := apiForm(t, http.MethodPost, callsURL(s)+".json", form)
	if code != http.StatusCreated || c["status"] != "queued" || c["direction"] != "outbound-api" {
		t.Fatalf("create: %d %v", code, c)
	}
	sid := c["sid"].(string)
	callURL := callsURL(s) + "/" + sid + ".json"
	p := waitRequest(t, a, "/voice", 10*time.Second)
	if p.Get("CallSid") != sid || p.Get("Direction") != "outbound-api" || p.Get("CallStatus") != "in-progress" {
		t.Errorf("voice request %v", p)
	}
	if c := waitCallStatus(t, callURL, "in-progress", 5*time.Second); c["start_time"] == nil {
		t.Errorf("in progress without a start_time: %v", c)
	}
	waitHeard(t, heard, "the app's Say")
	if code, c := apiForm(t, http.MethodPost, callURL, url.Values{"Url": {a.srv.URL + "/bye"}}); code != http.StatusOK {
		t.Fatalf("update: %d %v", code, c)
	}
	waitRequest(t, a, "/bye", 5*time.Second)
	done := waitCallStatus(t, callURL, "completed", 10*time.Second)
	if done["duration"] == nil || done["end_time"] == nil {
		t.Errorf("completed call %v: want duration and end_time", done)
	}
	// Callbacks are sent concurrently, as Twilio's are: they are put in
	// order by their SequenceNumber.
	events := make([]string, 4)
	for _, p := range a.requests("/status") {
		if n, err := strconv.Atoi(p.Get("SequenceNumber")); p.Get("CallSid") == sid && err == nil && n < len(events) {
			events[n] = p.Get("CallStatus")
		}
	}
	if strings.Join(events, " ") != "initiated ringing in-progress completed" {
		t.Errorf("status callbacks %v", events)
	}
	if code, c := apiForm(t, http.MethodPost, callURL, url.Values{"Url": {a.srv.URL + "/bye"}}); code != http.StatusBadRequest || c["code"] != float64(21220) {
		t.Errorf("redirecting an ended call: %d %v, want 400/21220", code, c)
	}

	busy := sipphone.New(t)
	busy.Answer(sipphone.Behaviour{Ring: 200 * time.Millisecond, Reject: 486})
	form.Set("To", busy.URI("carol"))
	_, c = apiForm(t, http.MethodPost, callsURL(s), form)
	waitCallStatus(t, callsURL(s)+"/"+c["sid"].(string), "busy", 10*time.Second)

	form.Set("To", "+15550001111") // no --sip-trunk: no route for numbers
	if code, c := apiForm(t, http.MethodPost, callsURL(s), form); code != http.StatusBadRequest || c["code"] != float64(21215) {
		t.Errorf("unroutable To: %d %v, want 400/21215", code, c)
	}
}

// TestAPICallUpdateAcrossNodes: two nodes share Redis; a call placed on
// one is listed and fetched on the other, and ended by an update sent to
// the other, which reaches the call's node over the store's bus.
func TestAPICallUpdateAcrossNodes(t *testing.T) {
	redis := redistest.Start(t)
	a := newApp(t, map[string]string{"/voice": `<Response><Pause length="30"/></Response>`})
	flags := []string{"--account-sid", e2eAccount, "--auth-token", e2eToken, "--redis-url", redis.URL, "--public-ip", "127.0.0.1"}
	nodeA := startServe(t, a.srv.URL+"/voice", flags...)
	nodeB := startServe(t, a.srv.URL+"/voice", flags...)
	callee := sipphone.New(t)
	answered := make(chan *sipphone.Call, 1)
	callee.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) { answered <- c }})
	_, c := apiForm(t, http.MethodPost, callsURL(nodeA), url.Values{"To": {callee.URI("bob")}, "From": {"+15559990000"}, "Url": {a.srv.URL + "/voice"}})
	sid, _ := c["sid"].(string)
	if sid == "" {
		t.Fatalf("create: %v", c)
	}
	var call *sipphone.Call
	select {
	case call = <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("the callee never answered")
	}
	onB := callsURL(nodeB) + "/" + sid + ".json"
	waitCallStatus(t, onB, "in-progress", 5*time.Second)
	_, list := apiForm(t, http.MethodGet, callsURL(nodeB)+".json", nil)
	if calls, _ := list["calls"].([]any); len(calls) != 1 {
		t.Errorf("node B lists %v", list)
	}
	if code, c := apiForm(t, http.MethodPost, onB, url.Values{"Status": {"completed"}}); code != http.StatusOK {
		t.Fatalf("update on node B: %d %v", code, c)
	}
	if !call.WaitEnd(10*time.Second) || !call.RemoteHangup() {
		t.Error("the call was not hung up by the update sent to the other node")
	}
	waitCallStatus(t, onB, "completed", 10*time.Second)
}

// TestAPIParticipantDialOut: a caller waits in a room; the REST API adds
// a participant by dialing a test phone, which answers, joins (the room
// lists two) and hears the caller.
func TestAPIParticipantDialOut(t *testing.T) {
	a := newApp(t, map[string]string{"/room": `<Response><Dial><Conference beep="false">sales</Conference></Dial></Response>`})
	s := startServe(t, a.srv.URL+"/room", "--account-sid", e2eAccount, "--auth-token", e2eToken)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	caller := sipphone.New(t).Call(ctx, s.sipAddr, "room", sipphone.CallOptions{})
	if caller.FinalCode() != 200 {
		t.Fatalf("caller got %d", caller.FinalCode())
	}
	heard := make(chan time.Duration, 1)
	agent := sipphone.New(t)
	agent.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		c.Listen(2 * time.Second)
		heard <- sipphone.VoicedTime(c.Audio())
		c.Listen(2 * time.Second)
	}})
	code, p := apiForm(t, http.MethodPost, confsURL(s)+"/sales/Participants.json", url.Values{"From": {"+15559990000"}, "To": {agent.URI("agent")}, "Label": {"agent"}})
	if code != http.StatusCreated || p["status"] != "queued" {
		t.Fatalf("participant create: %d %v", code, p)
	}
	waitRoom(t, s, 2)
	go caller.Tone(1200, 3*time.Second)
	waitHeard(t, heard, "the caller's tone")
}

// TestAPIConferenceAnnouncement: the REST API's AnnounceUrl on a room
// plays its <Say> to both participants (silent themselves), and the room's
// status callback gets announcement-end.
func TestAPIConferenceAnnouncement(t *testing.T) {
	a := newApp(t, map[string]string{
		"/room":     `<Response><Dial><Conference beep="false" statusCallback="/conf" statusCallbackEvent="announcement">news</Conference></Dial></Response>`,
		"/announce": `<Response><Say>Attention please. The meeting ends in five minutes.</Say></Response>`,
		"/conf":     `<Response/>`,
	})
	s := startServe(t, a.srv.URL+"/room", "--account-sid", e2eAccount, "--auth-token", e2eToken)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var phones []*sipphone.Call
	for range 2 {
		c := sipphone.New(t).Call(ctx, s.sipAddr, "room", sipphone.CallOptions{})
		if c.FinalCode() != 200 {
			t.Fatalf("phone got %d", c.FinalCode())
		}
		phones = append(phones, c)
	}
	sid, _ := waitRoom(t, s, 2)
	time.Sleep(300 * time.Millisecond) // both in the mix
	before := []int{len(phones[0].Audio()), len(phones[1].Audio())}
	if code, c := apiForm(t, http.MethodPost, confsURL(s)+"/"+sid+".json", url.Values{"AnnounceUrl": {a.srv.URL + "/announce"}}); code != http.StatusOK {
		t.Fatalf("announce: %d %v", code, c)
	}
	p := waitRequest(t, a, "/conf", 15*time.Second)
	if p.Get("StatusCallbackEvent") != "announcement-end" || p.Get("ConferenceSid") != sid {
		t.Errorf("callback %v, want announcement-end", p)
	}
	for i, c := range phones {
		if v := sipphone.VoicedTime(c.Audio()[before[i]:]); v < time.Second {
			t.Errorf("phone %d heard %v of the announcement", i, v)
		}
	}
}

// TestAPICallRecord: a call created with Record=true and dual channels
// is recorded from its answer to its end: the callee's tone on the left,
// what the callee heard (the app's <Play> of a tone) on the right; the
// recording status callback says OutboundAPI.
func TestAPICallRecord(t *testing.T) {
	const calleeTone, appTone = 1400.0, 600.0
	tone := filepath.Join(t.TempDir(), "tone.wav")
	writeToneWAV(t, tone, appTone, time.Second)
	media := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		http.ServeFile(w, r, tone)
	}))
	t.Cleanup(media.Close)
	a := newApp(t, map[string]string{
		"/voice":     `<Response><Play>` + media.URL + `/tone.wav</Play><Pause length="1"/></Response>`,
		"/recstatus": `<Response/>`,
	})
	s := startServe(t, a.srv.URL+"/voice", "--account-sid", e2eAccount, "--auth-token", e2eToken)
	callee := sipphone.New(t)
	callee.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		c.Silence(1200 * time.Millisecond)
		c.Tone(calleeTone, 700*time.Millisecond)
		c.Listen(2 * time.Second)
	}})
	code, c := apiForm(t, http.MethodPost, callsURL(s), url.Values{"To": {callee.URI("bob")}, "From": {"+15559990000"},
		"Url": {a.srv.URL + "/voice"}, "Record": {"true"}, "RecordingChannels": {"dual"},
		"RecordingStatusCallback": {a.srv.URL + "/recstatus"}})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, c)
	}
	st := waitRequest(t, a, "/recstatus", 20*time.Second)
	if st.Get("RecordingStatus") != "completed" || st.Get("RecordingSource") != "OutboundAPI" || st.Get("RecordingChannels") != "2" ||
		st.Get("CallSid") != c["sid"] {
		t.Fatalf("recording status callback %v", st)
	}
	// The callee on the left, what it heard (the app's tone) on the right.
	wantChannels(t, parseAnyWAV(t, getRecording(t, st.Get("RecordingUrl"), ".wav")), calleeTone, appTone)
}

// waitHeard waits for a callee's report of how much voiced audio it heard
// and wants at least half a second of what.
func waitHeard(t *testing.T, heard <-chan time.Duration, what string) {
	t.Helper()
	select {
	case v := <-heard:
		if v < 500*time.Millisecond {
			t.Errorf("the callee heard %v of %s", v, what)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the callee never answered")
	}
}

// TestAPIParticipantHoldUrl: a participant put on hold through the REST
// API with a HoldUrl hears that audio (a 700 Hz tone), not the room.
func TestAPIParticipantHoldUrl(t *testing.T) {
	const holdTone = 700.0
	tone := filepath.Join(t.TempDir(), "hold.wav")
	writeToneWAV(t, tone, holdTone, 2*time.Second)
	media := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		http.ServeFile(w, r, tone)
	}))
	t.Cleanup(media.Close)
	a := newApp(t, map[string]string{"/room": `<Response><Dial><Conference beep="false">held</Conference></Dial></Response>`})
	s := startServe(t, a.srv.URL+"/room", "--account-sid", e2eAccount, "--auth-token", e2eToken)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var phones []*sipphone.Call
	for range 2 {
		c := sipphone.New(t).Call(ctx, s.sipAddr, "room", sipphone.CallOptions{})
		if c.FinalCode() != 200 {
			t.Fatalf("phone got %d", c.FinalCode())
		}
		phones = append(phones, c)
	}
	sid, parts := waitRoom(t, s, 2)
	held := parts[1].(map[string]any)["call_sid"].(string)
	code, p := apiForm(t, http.MethodPost, confsURL(s)+"/"+sid+"/Participants/"+held+".json",
		url.Values{"Hold": {"true"}, "HoldUrl": {media.URL + "/hold.wav"}})
	if code != http.StatusOK || p["hold"] != true {
		t.Fatalf("hold: %d %v", code, p)
	}
	time.Sleep(500 * time.Millisecond) // fetched and rendered
	before := len(phones[1].Audio())
	phones[1].Listen(1500 * time.Millisecond)
	if got := phones[1].Audio()[before:]; !sipphone.HasTone(got, holdTone) {
		t.Errorf("the held participant did not hear its HoldUrl's %v Hz", holdTone)
	}
	// The other, held without a HoldUrl, hears the room's hold music.
	host := parts[0].(map[string]any)["call_sid"].(string)
	if code, p := apiForm(t, http.MethodPost, confsURL(s)+"/"+sid+"/Participants/"+host+".json", url.Values{"Hold": {"true"}}); code != http.StatusOK {
		t.Fatalf("hold: %d %v", code, p)
	}
	before = len(phones[0].Audio())
	phones[0].Listen(1500 * time.Millisecond)
	if got := phones[0].Audio()[before:]; sipphone.HasTone(got, holdTone) || sipphone.VoicedTime(got) < 500*time.Millisecond {
		t.Errorf("held without a HoldUrl: %v Hz %v, sound %v; want the room's hold music", holdTone, sipphone.HasTone(got, holdTone), sipphone.VoicedTime(got))
	}
}
