package relay

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/stream"
)

func TestParse(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		in   string
		want Message
		err  string
	}{
		{`{"type":"text","token":"Hi ","last":false}`, Message{Kind: Text, Token: "Hi "}, ""},
		{`{"type":"text","token":"there.","last":true,"lang":"es-ES","interruptible":"speech","preemptible":true}`,
			Message{Kind: Text, Token: "there.", Last: true, Lang: "es-ES", Interruptible: InterruptSpeech, Preemptible: &yes}, ""},
		{`{"type":"text","token":"x","interruptible":false,"preemptible":"false"}`, Message{Kind: Text, Token: "x", Interruptible: InterruptNone, Preemptible: &no}, ""},
		{`{"type":"text","token":""}`, Message{Kind: Text}, ""},
		{`{"type":"text"}`, Message{}, "without a token"},
		{`{"type":"text","token":"x","interruptible":"loud"}`, Message{}, "not none, dtmf, speech or any"},
		{`{"type":"play","source":"https://a.test/x.mp3","loop":2}`, Message{Kind: Play, Source: "https://a.test/x.mp3", Loop: 2}, ""},
		{`{"type":"play","source":"/x.wav"}`, Message{Kind: Play, Source: "/x.wav", Loop: 1}, ""},
		{`{"type":"play","source":"/x.wav","loop":"3"}`, Message{Kind: Play, Source: "/x.wav", Loop: 3}, ""},
		{`{"type":"play"}`, Message{}, "without a source"},
		{`{"type":"play","source":"/x","loop":-1}`, Message{}, "out of range"},
		{`{"type":"sendDigits","digits":"12w#"}`, Message{Kind: SendDigits, Digits: "12w#"}, ""},
		{`{"type":"sendDigits","digits":"1x"}`, Message{}, "not a DTMF digit"},
		{`{"type":"language","ttsLanguage":"fr-FR"}`, Message{Kind: Language, TTSLanguage: "fr-FR"}, ""},
		{`{"type":"language","transcriptionLanguage":"de-DE"}`, Message{Kind: Language, STTLanguage: "de-DE"}, ""},
		{`{"type":"language"}`, Message{}, "without ttsLanguage"},
		{`{"type":"end","handoffData":"{\"a\":1}"}`, Message{Kind: End, HandoffData: `{"a":1}`}, ""},
		{`{"type":"end","handoffData":{"a":1}}`, Message{Kind: End, HandoffData: `{"a":1}`}, ""},
		{`{"type":"end"}`, Message{Kind: End}, ""},
		{`{"type":"dance"}`, Message{}, `unknown message type "dance"`},
		{`{"token":"x"}`, Message{}, "without a type"},
		{`not json`, Message{}, "not a JSON object"},
	}
	for _, tt := range tests {
		got, err := Parse([]byte(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%s) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.in, err)
			continue
		}
		gp, wp := got.Preemptible, tt.want.Preemptible
		got.Preemptible, tt.want.Preemptible = nil, nil
		if got != tt.want || (gp == nil) != (wp == nil) || gp != nil && *gp != *wp {
			t.Errorf("Parse(%s) = %+v (preemptible %v), want %+v (%v)", tt.in, got, gp, tt.want, wp)
		}
	}
}

// app is a test app: it records the platform's messages and runs reply
// on each.
type app struct {
	t     *testing.T
	url   string
	mu    sync.Mutex
	got   []map[string]any
	reply func(ctx context.Context, c *websocket.Conn, m map[string]any)
	done  chan struct{}
}

func newApp(t *testing.T, reply func(ctx context.Context, c *websocket.Conn, m map[string]any)) *app {
	a := &app{t: t, reply: reply, done: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer close(a.done)
		defer c.CloseNow()
		for {
			_, data, err := c.Read(r.Context())
			if err != nil {
				return
			}
			var m map[string]any
			_ = json.Unmarshal(data, &m)
			a.mu.Lock()
			a.got = append(a.got, m)
			a.mu.Unlock()
			if a.reply != nil {
				a.reply(r.Context(), c, m)
			}
		}
	}))
	t.Cleanup(srv.Close)
	a.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return a
}

func (a *app) messages() []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]map[string]any(nil), a.got...)
}

func write(ctx context.Context, c *websocket.Conn, s string) {
	_ = c.Write(ctx, websocket.MessageText, []byte(s))
}

func dialer() *stream.Dialer { return &stream.Dialer{AllowAll: true} }

// TestSession runs a session against a real app: setup first with the
// call's fields, the platform's messages in order, the app's valid
// messages delivered, an invalid one answered with an error, and the
// close handshake.
func TestSession(t *testing.T) {
	a := newApp(t, func(ctx context.Context, c *websocket.Conn, m map[string]any) {
		if m["type"] == "setup" {
			write(ctx, c, `{"type":"text","token":"Hello","last":true}`)
			write(ctx, c, `{"type":"bogus"}`)
			write(ctx, c, `{"type":"end","handoffData":"bye"}`)
		}
	})
	s := New(Config{SessionID: "VX1", AccountSid: "AC1", CallSid: "CA1", From: "+1", To: "+2", Direction: "inbound",
		CallType: "PSTN", CallStatus: "IN-PROGRESS", CustomParameters: map[string]string{"k": "v"}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Connect(ctx, dialer(), a.url); err != nil {
		t.Fatal(err)
	}
	var got []Message
	for m := range s.Messages() {
		got = append(got, m)
		if m.Kind == End {
			break
		}
	}
	if len(got) != 2 || got[0].Token != "Hello" || got[1].HandoffData != "bye" {
		t.Fatalf("messages %+v", got)
	}
	s.Prompt("hi there", "en-US", true)
	s.DTMF('5')
	s.Interrupt("Hello", 1234*time.Millisecond)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	<-a.done
	if !errors.Is(s.Err(), ErrClosed) || s.Invalid() != 1 {
		t.Errorf("Err %v, Invalid %d; want ErrClosed and 1", s.Err(), s.Invalid())
	}
	msgs := a.messages()
	var types []string
	for _, m := range msgs {
		types = append(types, m["type"].(string))
	}
	if strings.Join(types, ",") != "setup,error,prompt,dtmf,interrupt" {
		t.Fatalf("the app got %v", types)
	}
	setup := msgs[0]
	for k, v := range map[string]any{"sessionId": "VX1", "accountSid": "AC1", "callSid": "CA1", "from": "+1", "to": "+2",
		"direction": "inbound", "callType": "PSTN", "callStatus": "IN-PROGRESS", "parentCallSid": ""} {
		if setup[k] != v {
			t.Errorf("setup.%s = %v, want %v", k, setup[k], v)
		}
	}
	if _, ok := setup["callControlId"]; ok {
		t.Error("a Twilio setup carries Telnyx's callControlId")
	}
	if p := setup["customParameters"].(map[string]any); p["k"] != "v" {
		t.Errorf("customParameters %v", p)
	}
	if e := msgs[1]["description"].(string); !strings.Contains(e, "64107") || !strings.Contains(e, "bogus") {
		t.Errorf("error description %q", e)
	}
	if p := msgs[2]; p["voicePrompt"] != "hi there" || p["lang"] != "en-US" || p["last"] != true {
		t.Errorf("prompt %v", p)
	}
	if d := msgs[3]; d["digit"] != "5" {
		t.Errorf("dtmf %v", d)
	}
	if i := msgs[4]; i["utteranceUntilInterrupt"] != "Hello" || i["durationUntilInterruptMs"] != float64(1234) {
		t.Errorf("interrupt %v", i)
	}
}

func TestSessionTelnyxSetup(t *testing.T) {
	a := newApp(t, nil)
	s := New(Config{SessionID: "VX1", CallSid: "v3:abc", Telnyx: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Connect(ctx, dialer(), a.url); err != nil {
		t.Fatal(err)
	}
	_ = s.Close(ctx)
	<-a.done
	setup := a.messages()[0]
	if setup["callControlId"] != "v3:abc" || setup["callLegId"] != "v3:abc" || setup["callSessionId"] != "VX1" {
		t.Errorf("Telnyx setup %v", setup)
	}
}

// TestSessionAppCloses: the app closing its socket ends the session
// with 64105 and closes Messages.
func TestSessionAppCloses(t *testing.T) {
	a := newApp(t, func(ctx context.Context, c *websocket.Conn, m map[string]any) {
		_ = c.Close(websocket.StatusNormalClosure, "bye")
	})
	s := New(Config{SessionID: "VX1"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Connect(ctx, dialer(), a.url); err != nil {
		t.Fatal(err)
	}
	for range s.Messages() {
	}
	<-s.Done()
	var re *Error
	if !errors.As(s.Err(), &re) || re.Code != CodeEnded || !errors.Is(s.Err(), ErrAppClosed) {
		t.Errorf("Err %v, want 64105 and ErrAppClosed", s.Err())
	}
	_ = s.Close(ctx)
}

// TestSessionConnectFails: an unreachable or non-WebSocket URL is
// 64102, and the session has ended.
func TestSessionConnectFails(t *testing.T) {
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	for _, u := range []string{"ws" + strings.TrimPrefix(plain.URL, "http"), "http://example.test/x"} {
		s := New(Config{})
		err := s.Connect(context.Background(), dialer(), u)
		var re *Error
		if !errors.As(err, &re) || re.Code != CodeConnect {
			t.Errorf("%s: %v, want 64102", u, err)
		}
		select {
		case <-s.Done():
		default:
			t.Errorf("%s: the session goes on after a failed connect", u)
		}
		_ = s.Close(context.Background())
	}
}

// TestSessionStalledApp: Close returns by its deadline when the app
// neither reads nor closes.
func TestSessionStalledApp(t *testing.T) {
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		<-stall
	}))
	defer srv.Close()
	defer close(stall)
	s := New(Config{})
	if err := s.Connect(context.Background(), dialer(), "ws"+strings.TrimPrefix(srv.URL, "http")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = s.Close(ctx)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with a stalled app", d)
	}
}

// TestSessionInfo: the debug messages' JSON, as apps parse it: type
// info, name, value, and ts (epoch ms) when given; and the socket's
// round trip, measured with a ping the app's library answers.
func TestSessionInfo(t *testing.T) {
	a := newApp(t, nil)
	s := New(Config{SessionID: "VX1", CallSid: "CA1"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Connect(ctx, dialer(), a.url); err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1752091234567)
	tests := []struct {
		name, value string
		ts          time.Time
		want        map[string]any
	}{
		{InfoAgentSpeaking, "on", at, map[string]any{"type": "info", "name": "agentSpeaking", "value": "on", "ts": float64(1752091234567)}},
		{InfoClientSpeaking, "off", at, map[string]any{"type": "info", "name": "clientSpeaking", "value": "off", "ts": float64(1752091234567)}},
		{InfoTokensPlayed, "Hello there.", time.Time{}, map[string]any{"type": "info", "name": "tokensPlayed", "value": "Hello there."}},
		{InfoRoundTrip, "12", time.Time{}, map[string]any{"type": "info", "name": "roundTripDelayMs", "value": "12"}},
	}
	for _, tt := range tests {
		s.Info(tt.name, tt.value, tt.ts)
	}
	if d, err := s.RoundTrip(ctx); err != nil || d <= 0 {
		t.Errorf("RoundTrip = %v, %v", d, err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	<-a.done
	msgs := a.messages()
	if len(msgs) != 1+len(tests) {
		t.Fatalf("the app got %v", msgs)
	}
	for i, tt := range tests {
		got := msgs[1+i]
		if len(got) != len(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
			continue
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", tt.name, k, got[k], v)
			}
		}
	}
	if _, err := New(Config{}).RoundTrip(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("RoundTrip before Connect: %v", err)
	}
}
