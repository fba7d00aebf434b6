package interpreter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// infoApp is a ConversationRelay app that records the platform's
// messages (info as "name=value", the rest by type, with ts and the
// session's virtual time), answers the first final prompt with answer,
// and ends the session on the second.
type infoApp struct {
	mu   sync.Mutex
	msgs []string
	ts   map[string][]int64 // info name=value: the ts of each
	url  string
}

func newInfoApp(t *testing.T, greeting, answer string) *infoApp {
	a := &infoApp{ts: map[string][]int64{}}
	prompts := 0
	srv := wsServer(t, func(ctx context.Context, c *websocket.Conn, data []byte) {
		var m struct {
			Type, Name, Value string
			Last              bool
			TS                int64
		}
		_ = json.Unmarshal(data, &m)
		a.mu.Lock()
		switch m.Type {
		case "info":
			v := m.Value
			if m.Name == "roundTripDelayMs" {
				v = "*"
			}
			k := m.Name + "=" + v
			a.msgs = append(a.msgs, k)
			a.ts[k] = append(a.ts[k], m.TS)
		case "prompt":
			if m.Last {
				a.msgs = append(a.msgs, "prompt")
				prompts++
			}
		default:
			a.msgs = append(a.msgs, m.Type)
		}
		n := prompts
		a.mu.Unlock()
		send := func(v map[string]any) {
			b, _ := json.Marshal(v)
			_ = c.Write(ctx, websocket.MessageText, b)
		}
		switch {
		case m.Type == "setup" && greeting != "":
			send(map[string]any{"type": "text", "token": greeting, "last": true})
		case m.Type == "prompt" && m.Last && n == 1 && answer != "":
			send(map[string]any{"type": "text", "token": answer, "last": true})
		case m.Type == "prompt" && m.Last && (n == 2 || answer == ""):
			send(map[string]any{"type": "end"})
		}
	})
	a.url = wsURL(srv)
	return a
}

func (a *infoApp) got() ([]string, map[string][]int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.msgs...), a.ts
}

// TestRelayDebugInfo runs <ConversationRelay debug|events speechTimeout>
// on a simulated call against a real WebSocket app: the info messages
// the options ask for come in order among the others, the speaker
// events carry the call's (virtual) time, and speechTimeout is the pause
// between the end of the caller's words and their prompt
// (https://www.twilio.com/docs/voice/twiml/connect/conversationrelay).
func TestRelayDebugInfo(t *testing.T) {
	tests := []struct {
		name     string
		attrs    string
		greeting string
		answer   string
		inputs   []sim.Input
		want     []string
		// pause, when set, is the time from clientSpeaking on to off:
		// the words' length and speechTimeout.
		pause time.Duration
	}{
		{
			name: "no options", attrs: ``, greeting: "Hi.", answer: "Bye.",
			inputs: []sim.Input{speakAt("yes", 2000), speakAt("no", 4000)},
			want:   []string{"setup", "prompt", "prompt"},
		},
		{
			name: "speaker events", attrs: `debug="speaker-events"`, greeting: "Hi.", answer: "Bye.",
			inputs: []sim.Input{speakAt("yes", 2000), speakAt("no", 4000)},
			want: []string{"setup", "agentSpeaking=on", "agentSpeaking=off",
				"clientSpeaking=on", "clientSpeaking=off", "prompt", "agentSpeaking=on", "agentSpeaking=off",
				"clientSpeaking=on", "clientSpeaking=off", "prompt"},
			pause: 3 * sim.SpeechPerChar,
		},
		{
			name: "tokens played", attrs: `events="tokens-played"`, greeting: "Hi.", answer: "Bye.",
			inputs: []sim.Input{speakAt("yes", 2000), speakAt("no", 4000)},
			want:   []string{"setup", "tokensPlayed=Hi.", "prompt", "tokensPlayed=Bye.", "prompt"},
		},
		{
			name: "debug and events add up", attrs: `debug="tokens-played" events="speaker-events"`, greeting: "Hi.",
			inputs: []sim.Input{speakAt("yes", 2000)},
			want: []string{"setup", "agentSpeaking=on", "tokensPlayed=Hi.", "agentSpeaking=off",
				"clientSpeaking=on", "clientSpeaking=off", "prompt"},
			pause: 3 * sim.SpeechPerChar,
		},
		{
			name: "speechTimeout", attrs: `debug="speaker-events" speechTimeout="1500"`,
			inputs: []sim.Input{speakAt("yes", 1000)},
			want:   []string{"setup", "clientSpeaking=on", "clientSpeaking=off", "prompt"},
			pause:  3*sim.SpeechPerChar + 1500*time.Millisecond,
		},
		{
			name: "speechTimeout auto", attrs: `debug="speaker-events" speechTimeout="auto"`,
			inputs: []sim.Input{speakAt("yes", 1000)},
			want:   []string{"setup", "clientSpeaking=on", "clientSpeaking=off", "prompt"},
			pause:  3 * sim.SpeechPerChar,
		},
		{
			name: "barge-in", attrs: `debug="speaker-events tokens-played"`,
			greeting: "Welcome to the Acme support line where we can tell you about our many offers today.",
			inputs:   []sim.Input{speakAt("wait", 1500)},
			want: []string{"setup", "agentSpeaking=on", "clientSpeaking=on", "tokensPlayed=Welcome to the Acme",
				"interrupt", "agentSpeaking=off", "clientSpeaking=off", "prompt"},
		},
		{
			// The app answers, so that the session outlasts the ping.
			name: "debugging", attrs: `debug="debugging"`, answer: "Bye.",
			inputs: []sim.Input{speakAt("yes", 1000)},
			want:   []string{"setup", "roundTripDelayMs=*", "prompt", "roundTripDelayMs=*"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each has its own app and clock; the sessions wait on real
			// sockets, so they overlap well.
			t.Parallel()
			app := newInfoApp(t, tt.greeting, tt.answer)
			f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": `<Response><Connect><ConversationRelay url="` + app.url + `" ` + tt.attrs + `/></Connect></Response>`}}
			rec := &interpreter.Recorder{}
			inputs := append(tt.inputs, sim.Input{Action: sim.Hangup, At: 8 * time.Second, Timed: true})
			leg := sim.New(sim.Options{Inputs: inputs, Tracer: rec})
			call := interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: leg, Tracer: rec, Voice: sim.Voice{}})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if res := call.Run(leg.Context(ctx)); res.Err != nil && !errors.Is(res.Err, interpreter.ErrHangup) {
				t.Fatalf("call ended with %v", res.Err)
			}
			// The last messages may still be on their way to the app.
			var got []string
			var ts map[string][]int64
			for range 200 {
				if got, ts = app.got(); len(got) >= len(tt.want) {
					break
				}
				runtime.Gosched()
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("the app got\n %q\nwant\n %q", got, tt.want)
			}
			for _, e := range rec.Events() {
				if e.Name == "warning" && strings.Contains(fmt.Sprint(e.Fields), "ConversationRelay") {
					t.Errorf("warning %v", e.Fields)
				}
			}
			if tt.pause > 0 {
				on, off := ts["clientSpeaking=on"], ts["clientSpeaking=off"]
				if len(on) == 0 || len(off) != len(on) || on[0] == 0 {
					t.Fatalf("clientSpeaking ts on %v off %v", on, off)
				}
				if d := time.Duration(off[0]-on[0]) * time.Millisecond; d != tt.pause {
					t.Errorf("clientSpeaking on to off %v, want %v", d, tt.pause)
				}
			}
		})
	}
}

func speakAt(text string, ms int) sim.Input {
	return sim.Input{Action: sim.Speak, Text: text, At: time.Duration(ms) * time.Millisecond, Timed: true}
}
