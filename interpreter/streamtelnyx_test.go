package interpreter_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
	"github.com/texml/texml/verbs"
)

// firstMessages is an app that keeps the first two messages of each
// connection (connected and start).
type firstMessages struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []map[string]any
}

func newFirstMessages(t *testing.T) *firstMessages {
	a := &firstMessages{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for i := 0; ; i++ {
			_, data, err := c.Read(r.Context())
			if err != nil {
				return
			}
			var m map[string]any
			_ = json.Unmarshal(data, &m)
			if i < 2 {
				a.mu.Lock()
				a.msgs = append(a.msgs, m)
				a.mu.Unlock()
			}
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *firstMessages) got() []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]map[string]any(nil), a.msgs...)
}

// TestTelnyxStreamDialect runs <Stream> in both dialects: a TeXML call
// speaks Telnyx's messages in the codec asked for, a TwiML call
// Twilio's, and a bidirectional codec the leg cannot carry is refused
// with an error and no connection.
func TestTelnyxStreamDialect(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dialect  verbs.Dialect
		doc      string
		encoding string // start's media_format.encoding; "" for no connection
		twilio   bool   // Twilio's start instead
		errText  string // an error the call reports
	}{
		{"texml PCMA fork", verbs.TeXML, `<Response><Start><Stream url="%s" codec="PCMA"/></Start><Pause length="1"/></Response>`, "PCMA", false, ""},
		{"texml default codec", verbs.TeXML, `<Response><Start><Stream url="%s"/></Start><Pause length="1"/></Response>`, "PCMU", false, ""},
		{"texml G722 falls back", verbs.TeXML, `<Response><Start><Stream url="%s" codec="G722"/></Start><Pause length="1"/></Response>`, "PCMU", false, ""},
		{"texml rtp G722 refused", verbs.TeXML, `<Response><Connect><Stream url="%s" bidirectionalMode="rtp" bidirectionalCodec="G722"/></Connect><Pause length="1"/></Response>`, "", false, "bidirectionalCodec"},
		{"texml rtp 16k refused", verbs.TeXML, `<Response><Connect><Stream url="%s" bidirectionalMode="rtp" bidirectionalSamplingRate="16000"/></Connect><Pause length="1"/></Response>`, "", false, "bidirectionalSamplingRate"},
		{"twiml", verbs.TwiML, `<Response><Start><Stream url="%s"/></Start><Pause length="1"/></Response>`, "", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newFirstMessages(t)
			doc := strings.Replace(tc.doc, "%s", "ws"+strings.TrimPrefix(app.srv.URL, "http"), 1)
			f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": doc}}
			rec := &interpreter.Recorder{}
			leg := sim.New(sim.Options{Tracer: rec})
			call := interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: leg, Tracer: rec,
				Dialect: tc.dialect, From: "+15550001", To: "+15550002"})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			call.Run(leg.Context(ctx))
			time.Sleep(50 * time.Millisecond) // the app's reads
			got := app.got()
			switch {
			case tc.twilio:
				if len(got) != 2 || got[1]["streamSid"] == nil || got[1]["stream_id"] != nil {
					t.Errorf("twiml: the app got %v, want Twilio's start", got)
				}
			case tc.encoding == "":
				if len(got) != 0 {
					t.Errorf("the app got %v, want no connection", got)
				}
			default:
				if len(got) != 2 {
					t.Fatalf("the app got %v", got)
				}
				start, _ := got[1]["start"].(map[string]any)
				mf, _ := start["media_format"].(map[string]any)
				if got[0]["event"] != "connected" || got[1]["stream_id"] == nil || start["from"] != "+15550001" || mf["encoding"] != tc.encoding {
					t.Errorf("the app got %v, want Telnyx's start with %s", got, tc.encoding)
				}
			}
			if tc.errText != "" {
				found := false
				for _, e := range rec.Events() {
					msg, _ := e.Fields["message"].(string)
					found = found || e.Name == "error" && strings.Contains(msg, tc.errText)
				}
				if !found {
					t.Errorf("no error about %s in %v", tc.errText, rec.Events())
				}
			}
		})
	}
}
