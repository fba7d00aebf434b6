package interpreter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// echoAgent is a ConversationRelay app that says back every final
// prompt; it records the prompts.
type echoAgent struct {
	srv     *httptest.Server
	mu      sync.Mutex
	prompts []string
}

func newEchoAgent(t *testing.T) *echoAgent {
	a := &echoAgent{}
	a.srv = wsServer(t, func(ctx context.Context, c *websocket.Conn, data []byte) {
		var m struct {
			Type, VoicePrompt string
			Last              bool
		}
		_ = json.Unmarshal(data, &m)
		if m.Type != "prompt" || !m.Last {
			return
		}
		a.mu.Lock()
		a.prompts = append(a.prompts, m.VoicePrompt)
		a.mu.Unlock()
		b, _ := json.Marshal(map[string]any{"type": "text", "token": "You said " + m.VoicePrompt, "last": true})
		_ = c.Write(ctx, websocket.MessageText, b)
	})
	return a
}

func (a *echoAgent) url() string { return wsURL(a.srv) }

func (a *echoAgent) got() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.prompts, "|")
}

// TestRelayEndsWithTheCall: every way a call can leave a relay session
// (the caller hangs up, a live update, the person at the terminal ends
// the input) ends it, runs what follows, and leaves no goroutine behind;
// an interactive caller's answers become prompts.
func TestRelayEndsWithTheCall(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    sim.Options
		answers []string // an interactive caller's replies, then end of input
		prompts string
		say     string
	}{
		{"the caller hangs up", sim.Options{Inputs: []sim.Input{{Action: sim.Speak, Text: "hi"}, {Action: sim.Hangup, At: 4 * time.Second, Timed: true}}}, nil, "hi", ""},
		{"a live update", sim.Options{Updates: []sim.ScheduledUpdate{{At: 100 * time.Millisecond, Update: interpreter.Update{Twiml: "<Response><Say>updated</Say></Response>"}}}}, nil, "", "updated"},
		{"an interactive caller", sim.Options{}, []string{"speech:good morning", "speech:bye now"}, "good morning|bye now", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newEchoAgent(t)
			before := runtime.NumGoroutine()
			f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": `<Response><Connect><ConversationRelay url="` + app.url() + `" welcomeGreeting="Hi"/></Connect></Response>`}}
			rec := &interpreter.Recorder{}
			opts := tc.opts
			opts.Tracer = rec
			if tc.answers != nil {
				var mu sync.Mutex
				left := tc.answers
				opts.Ask = func(ctx context.Context, q string) (string, error) {
					mu.Lock()
					defer mu.Unlock()
					if len(left) == 0 {
						return "", io.EOF
					}
					a := left[0]
					left = left[1:]
					return a, nil
				}
			}
			var call *interpreter.Call
			opts.OnUpdate = func(u interpreter.Update) error { return call.Update(u) }
			leg := sim.New(opts)
			call = interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: leg, Tracer: rec, Voice: sim.Voice{}})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res := call.Run(leg.Context(ctx))
			if res.Err != nil && !errors.Is(res.Err, interpreter.ErrHangup) {
				t.Errorf("call ended with %v", res.Err)
			}
			if got := app.got(); got != tc.prompts {
				t.Errorf("prompts %q, want %q", got, tc.prompts)
			}
			ended, said := false, tc.say == ""
			for _, e := range rec.Events() {
				ended = ended || e.Name == "relay" && e.Fields["state"] == "ended"
				said = said || e.Name == "say" && e.Fields["text"] == tc.say
			}
			if !ended || !said {
				t.Errorf("session ended %v, said %q %v", ended, tc.say, said)
			}
			noLeak(t, before)
		})
	}
}

// voiceLog is the simulated voice, keeping what it was asked to say.
type voiceLog struct {
	sim.Voice
	mu  sync.Mutex
	got []interpreter.Speech
}

func (v *voiceLog) Speak(ctx context.Context, s interpreter.Speech) ([]int16, error) {
	v.mu.Lock()
	v.got = append(v.got, s)
	v.mu.Unlock()
	return v.Voice.Speak(ctx, s)
}

// TestRelayVoices: the agent speaks in the session's language with the
// voice of its <Language> child, else the voice attribute.
func TestRelayVoices(t *testing.T) {
	for _, tc := range []struct{ language, want string }{
		{"es-ES", "Polly.Lucia"},
		{"en-US", "Polly.Joanna"},
	} {
		t.Run(tc.language, func(t *testing.T) {
			app := newEchoAgent(t)
			f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": `<Response><Connect><ConversationRelay url="` + app.url() +
				`" welcomeGreeting="Hola" language="` + tc.language + `" voice="Polly.Joanna"><Language code="es-ES" voice="Polly.Lucia"/></ConversationRelay></Connect></Response>`}}
			leg := sim.New(sim.Options{Inputs: []sim.Input{{Action: sim.Hangup, At: 2 * time.Second, Timed: true}}})
			v := &voiceLog{}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: leg, Voice: v}).Run(leg.Context(ctx))
			v.mu.Lock()
			defer v.mu.Unlock()
			if len(v.got) != 1 || v.got[0].Text != "Hola" || v.got[0].Voice != tc.want || v.got[0].Language != tc.language {
				t.Errorf("spoke %+v, want Hola in %s with %s", v.got, tc.language, tc.want)
			}
		})
	}
}

// TestRelayProviderAttrsWarn: each provider-specific attribute, which
// texml cannot honour (it has its own engines), is named with its value
// in a warning of its own, and the session runs as without it: the
// caller's speech is a prompt and the agent answers
// (https://www.twilio.com/docs/voice/twiml/connect/conversationrelay#conversationrelay-attributes).
func TestRelayProviderAttrsWarn(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		language    bool // on a <Language> child, not the element
	}{
		{"ttsProvider", "ElevenLabs", false},
		{"transcriptionProvider", "Deepgram", false},
		{"speechModel", "nova-3-general", false},
		{"intelligenceService", "GA00000000000000000000000000000000", false},
		{"profanityFilter", "false", false},
		{"elevenlabsTextNormalization", "on", false},
		{"backgroundNoiseReduction", "true", false},
		{"deepgramSmartFormat", "true", false},
		{"ttsProvider", "Amazon", true},
		{"transcriptionProvider", "Google", true},
		{"speechModel", "telephony", true},
	} {
		name := tc.name
		if tc.language {
			name = "Language/" + name
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each call is paced in real time, and has its own clock and app
			app := newEchoAgent(t)
			doc := `<ConversationRelay url="` + app.url() + `" ` + tc.name + `="` + tc.value + `"/>`
			if tc.language {
				doc = `<ConversationRelay url="` + app.url() + `"><Language code="fr-FR" ` + tc.name + `="` + tc.value + `"/></ConversationRelay>`
			}
			f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": `<Response><Connect>` + doc + `</Connect></Response>`}}
			rec := &interpreter.Recorder{}
			leg := sim.New(sim.Options{Tracer: rec, Inputs: []sim.Input{speakAt("hello", 500), {Action: sim.Hangup, At: 3 * time.Second, Timed: true}}})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: leg, Tracer: rec, Voice: sim.Voice{}}).Run(leg.Context(ctx))
			var warnings []string
			answered := false
			for _, e := range rec.Events() {
				switch {
				case e.Name == "warning":
					warnings = append(warnings, fmt.Sprint(e.Fields["message"]))
				case e.Name == "relay" && e.Fields["state"] == "agent" && e.Fields["text"] == "You said hello":
					answered = true
				}
			}
			// The attribute's own warning, naming it and its value; no
			// other (the parser accepts the attribute).
			if attr := tc.name + `="` + tc.value + `"`; len(warnings) != 1 || !strings.Contains(warnings[0], attr) {
				t.Errorf("warnings %q, want one naming %s", warnings, attr)
			}
			if app.got() != "hello" || !answered {
				t.Errorf("prompts %q, agent answered %v: the session did not run on", app.got(), answered)
			}
		})
	}
}
