package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/media"
)

// testApp is a WebSocket app on loopback that hands each connection to
// the test.
type testApp struct {
	srv   *httptest.Server
	conns chan *appConn
}

// appConn is one connection as the app sees it: the messages it
// received, in order, and a way to send its own.
type appConn struct {
	c      *websocket.Conn
	header http.Header
	msgs   chan map[string]any
	// stall, when set, keeps the app from reading (a stalled app).
	stall bool
}

func newApp(t *testing.T, tlsOn, stall bool) *testApp {
	t.Helper()
	a := &testApp{conns: make(chan *appConn, 4)}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.SetReadLimit(1 << 20)
		ac := &appConn{c: c, header: r.Header.Clone(), msgs: make(chan map[string]any, 4096), stall: stall}
		a.conns <- ac
		defer close(ac.msgs)
		if stall {
			<-r.Context().Done()
			return
		}
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				ac.msgs <- m
			}
		}
	})
	if tlsOn {
		a.srv = httptest.NewTLSServer(h)
	} else {
		a.srv = httptest.NewServer(h)
	}
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testApp) url(path string) string {
	return "ws" + strings.TrimPrefix(a.srv.URL, "http") + path
}

func (a *testApp) accept(t *testing.T) *appConn {
	t.Helper()
	select {
	case c := <-a.conns:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("the app got no connection")
	}
	return nil
}

// next returns the next message the app received.
func (ac *appConn) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m, ok := <-ac.msgs:
		if !ok {
			t.Fatal("the connection closed")
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
	return nil
}

// until returns the next message with this event, skipping others.
func (ac *appConn) until(t *testing.T, event string) map[string]any {
	t.Helper()
	for {
		if m := ac.next(t); m["event"] == event {
			return m
		}
	}
}

func (ac *appConn) send(t *testing.T, v any) {
	t.Helper()
	data, _ := json.Marshal(v)
	if err := ac.c.Write(context.Background(), websocket.MessageText, data); err != nil {
		t.Fatal(err)
	}
}

// appMedia is the app's media message with n bytes of µ-law.
func appMedia(sid string, n int, b byte) map[string]any {
	return map[string]any{"event": "media", "streamSid": sid,
		"media": map[string]any{"payload": base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string([]byte{b}), n)))}}
}

func config(bidi bool, events chan Event) Config {
	c := Config{StreamSid: "MZ" + strings.Repeat("1", 32), AccountSid: "AC1", CallSid: "CA1",
		Tracks: []Track{Inbound}, CustomParameters: map[string]string{"who": "test"}, Bidirectional: bidi}
	if events != nil {
		c.OnEvent = func(e Event) { events <- e }
	}
	return c
}

func open(t *testing.T, a *testApp, cfg Config) (*Stream, *appConn) {
	t.Helper()
	s := New(cfg)
	if err := s.Connect(context.Background(), &Dialer{}, a.url("/media")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s, a.accept(t)
}

func tone(n int) []int16 {
	f := make([]int16, media.FrameSamples)
	for i := range f {
		f[i] = int16((i%16 - 8) * 1000 * n)
	}
	return f
}

// TestMessagesToTheApp checks the shapes the app receives, field by
// field, as Twilio's page shows them: connected, start, media, stop, with
// sequence numbers counting from 1 on start.
func TestMessagesToTheApp(t *testing.T) {
	a := newApp(t, false, false)
	s, ac := open(t, a, config(false, nil))
	s.Media(Inbound, tone(1))
	s.Media(Inbound, tone(2))
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"event":"connected","protocol":"Call","version":"1.0.0"}`,
		`{"event":"start","sequenceNumber":"1","streamSid":"MZ11111111111111111111111111111111","start":{"accountSid":"AC1","callSid":"CA1","customParameters":{"who":"test"},"mediaFormat":{"channels":1,"encoding":"audio/x-mulaw","sampleRate":8000},"streamSid":"MZ11111111111111111111111111111111","tracks":["inbound"]}}`,
	}
	for i, w := range want {
		got, _ := json.Marshal(ac.next(t))
		var norm map[string]any
		_ = json.Unmarshal([]byte(w), &norm)
		wantJSON, _ := json.Marshal(norm)
		if string(got) != string(wantJSON) {
			t.Errorf("message %d:\n got %s\nwant %s", i+1, got, wantJSON)
		}
	}
	for i := 1; i <= 2; i++ {
		m := ac.next(t)
		md, _ := m["media"].(map[string]any)
		if m["event"] != "media" || m["sequenceNumber"] != fmt.Sprint(i+1) || md["track"] != "inbound" || md["chunk"] != fmt.Sprint(i) {
			t.Errorf("media %d: %v", i, m)
		}
		if _, ok := md["timestamp"].(string); !ok {
			t.Errorf("media %d: timestamp %v is not a string", i, md["timestamp"])
		}
		raw, err := base64.StdEncoding.DecodeString(fmt.Sprint(md["payload"]))
		if err != nil || len(raw) != media.FrameSamples {
			t.Fatalf("media %d: payload of %d bytes (%v), want 160 bytes of µ-law", i, len(raw), err)
		}
		var want [media.FrameSamples]byte
		media.PCMU.Encode(want[:], tone(i))
		if string(raw) != string(want[:]) {
			t.Errorf("media %d: the payload is not the frame in µ-law", i)
		}
	}
	stop := ac.next(t)
	body, _ := stop["stop"].(map[string]any)
	if stop["event"] != "stop" || stop["sequenceNumber"] != "4" || body["accountSid"] != "AC1" || body["callSid"] != "CA1" {
		t.Errorf("stop: %v", stop)
	}
	if !errors.Is(s.Err(), ErrClosed) {
		t.Errorf("Err = %v, want ErrClosed", s.Err())
	}
}

// TestPlayoutMarks plays the app's audio 20 ms at a time and echoes each
// mark once the audio before it has been taken.
func TestPlayoutMarks(t *testing.T) {
	a := newApp(t, false, false)
	events := make(chan Event, 16)
	s, ac := open(t, a, config(true, events))
	sid := s.Sid()
	ac.send(t, appMedia(sid, 320, 0x10)) // two frames
	ac.send(t, map[string]any{"event": "mark", "streamSid": sid, "mark": map[string]any{"name": "first"}})
	ac.send(t, appMedia(sid, 100, 0x20)) // half a frame
	ac.send(t, map[string]any{"event": "mark", "streamSid": sid, "mark": map[string]any{"name": "second"}})
	waitFor(t, func() bool { return s.Stats().Received == 420*time.Second/8000 })
	frame := make([]int16, media.FrameSamples)
	type step struct {
		audio bool
		mark  string
	}
	for i, want := range []step{{true, ""}, {true, "first"}, {true, "second"}, {false, ""}} {
		if got := s.Next(frame); got != want.audio {
			t.Fatalf("Next %d = %v, want %v", i+1, got, want.audio)
		}
		if want.mark != "" {
			m := ac.until(t, "mark")
			if name := m["mark"].(map[string]any)["name"]; name != want.mark {
				t.Errorf("Next %d: mark %v echoed, want %s", i+1, name, want.mark)
			}
		}
	}
	if frame[len(frame)-1] != 0 {
		t.Error("the last, partial frame does not end in silence")
	}
	st := s.Stats()
	if st.Played != st.Received || st.Marks != 2 {
		t.Errorf("stats %+v: want all 52.5 ms played and 2 marks", st)
	}
	for range 2 {
		if e := <-events; e.Kind != MarkPlayed {
			t.Errorf("event %+v, want MarkPlayed", e)
		}
	}
}

// TestClear drops the queued audio and echoes its marks at once.
func TestClear(t *testing.T) {
	a := newApp(t, false, false)
	events := make(chan Event, 16)
	s, ac := open(t, a, config(true, events))
	sid := s.Sid()
	ac.send(t, appMedia(sid, 8000, 0x10)) // a second
	ac.send(t, map[string]any{"event": "mark", "streamSid": sid, "mark": map[string]any{"name": "end"}})
	ac.send(t, map[string]any{"event": "clear", "streamSid": sid})
	if name := ac.until(t, "mark")["mark"].(map[string]any)["name"]; name != "end" {
		t.Errorf("mark %v echoed, want end", name)
	}
	if s.Next(make([]int16, media.FrameSamples)) {
		t.Error("audio left after clear")
	}
	if st := s.Stats(); st.Discarded != time.Second || st.Played != 0 {
		t.Errorf("stats %+v, want the second discarded", st)
	}
	got := map[EventKind]Event{}
	for range 2 {
		e := <-events
		got[e.Kind] = e
	}
	if got[Cleared].Dropped != time.Second || got[MarkPlayed].Name != "end" {
		t.Errorf("events %+v", got)
	}
}

// TestMarkWithNothingQueued echoes at once: everything before it played.
func TestMarkWithNothingQueued(t *testing.T) {
	a := newApp(t, false, false)
	s, ac := open(t, a, config(true, nil))
	ac.send(t, map[string]any{"event": "mark", "streamSid": s.Sid(), "mark": map[string]any{"name": "now"}})
	if name := ac.until(t, "mark")["mark"].(map[string]any)["name"]; name != "now" {
		t.Errorf("mark %v, want now", name)
	}
}

// TestDTMF sends the party's keys on a bidirectional stream only.
func TestDTMF(t *testing.T) {
	a := newApp(t, false, false)
	s, ac := open(t, a, config(true, nil))
	s.DTMF('5')
	m := ac.until(t, "dtmf")
	if d := m["dtmf"].(map[string]any); d["digit"] != "5" || d["track"] != "inbound_track" {
		t.Errorf("dtmf %v", m)
	}
}

// TestInvalidMessages ignores what the protocol does not allow, and
// reports it once.
func TestInvalidMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		bidi bool
		msg  any
	}{
		{"media on a unidirectional stream", false, appMedia("", 160, 1)},
		{"unknown event", true, map[string]any{"event": "hello"}},
		{"another stream's sid", true, appMedia("MZother", 160, 1)},
		{"mark without a name", true, map[string]any{"event": "mark"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, false, false)
			events := make(chan Event, 4)
			s, ac := open(t, a, config(tc.bidi, events))
			ac.send(t, tc.msg)
			ac.send(t, tc.msg)
			if e := <-events; e.Kind != Invalid || e.Err == nil {
				t.Errorf("event %+v, want Invalid", e)
			}
			time.Sleep(20 * time.Millisecond) // a second report would come now
			if len(events) != 0 || s.Stats().Received != 0 {
				t.Errorf("%d more events, %v received; want one report and nothing played", len(events), s.Stats().Received)
			}
		})
	}
}

// TestAppCloses ends the stream with ErrAppClosed.
func TestAppCloses(t *testing.T) {
	a := newApp(t, false, false)
	s, ac := open(t, a, config(true, nil))
	_ = ac.c.Close(websocket.StatusNormalClosure, "bye")
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end")
	}
	if !errors.Is(s.Err(), ErrAppClosed) {
		t.Errorf("Err = %v, want ErrAppClosed", s.Err())
	}
	s.Media(Inbound, tone(1)) // no effect, no panic
}

// TestStalledApp checks the back-pressure rule: an app that stops
// reading never blocks Media; frames beyond the buffer are dropped and
// counted.
func TestStalledApp(t *testing.T) {
	a := newApp(t, false, true)
	cfg := config(false, nil)
	cfg.Buffer = 8
	s, _ := open(t, a, cfg)
	frame := tone(1)
	start := time.Now()
	var slowest time.Duration
	for range 100_000 { // half an hour of audio, far beyond the socket buffers
		t0 := time.Now()
		s.Media(Inbound, frame)
		slowest = max(slowest, time.Since(t0))
	}
	if st := s.Stats(); st.Dropped == 0 || st.Sent+st.Dropped > 100_000 {
		t.Errorf("stats %+v: want frames dropped once the app stalled", st)
	}
	if slowest > 200*time.Millisecond {
		t.Errorf("a Media call took %v; it must never wait for the app (total %v)", slowest, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = s.Close(ctx) // the stalled app cannot take the stop: Close gives up with ctx
}

// TestConnectErrors reports Twilio's codes for a stream that cannot start.
func TestConnectErrors(t *testing.T) {
	a := newApp(t, false, false)
	for _, tc := range []struct {
		name, url string
		code      int
	}{
		{"not a WebSocket", a.url("/missing"), CodeHandshake},
		{"not a ws URL", "https://example.com/x", CodeHandshake},
		{"relative", "/x", CodeHandshake},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(config(false, nil))
			err := s.Connect(context.Background(), &Dialer{}, tc.url)
			var de *DialError
			if !errors.As(err, &de) || de.Code != tc.code {
				t.Fatalf("Connect = %v, want a DialError with code %d", err, tc.code)
			}
			if !errors.Is(s.Err(), err) {
				t.Errorf("Err = %v, want the connect error", s.Err())
			}
			_ = s.Close(context.Background())
		})
	}
}

// TestWSSCertificates connects over TLS only to a certificate it trusts.
func TestWSSCertificates(t *testing.T) {
	a := newApp(t, true, false)
	u := a.url("/media")
	if err := New(config(false, nil)).Connect(context.Background(), &Dialer{}, u); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Connect to an unknown certificate = %v, want a certificate error", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(a.srv.Certificate())
	s := New(config(false, nil))
	if err := s.Connect(context.Background(), &Dialer{TLS: &tls.Config{RootCAs: pool}}, u); err != nil {
		t.Fatalf("Connect with the certificate trusted: %v", err)
	}
	ac := a.accept(t)
	if m := ac.next(t); m["event"] != "connected" {
		t.Errorf("first message %v", m)
	}
	_ = s.Close(context.Background())
}

// TestSignature signs the upgrade request over the URL alone.
func TestSignature(t *testing.T) {
	a := newApp(t, false, false)
	s := New(config(false, nil))
	u := a.url("/media")
	if err := s.Connect(context.Background(), &Dialer{AuthToken: "secret"}, u); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	ac := a.accept(t)
	if sig := ac.header.Get("X-Twilio-Signature"); !fetcher.ValidateSignature("secret", u, nil, sig) {
		t.Errorf("X-Twilio-Signature %q does not validate over %s", sig, u)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(time.Millisecond)
	}
}

var _ sync.Mutex
