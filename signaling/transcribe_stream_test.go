package signaling

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/interpreter/legtest"
	"github.com/texml/texml/media/stt"
	"github.com/texml/texml/media/stt/stttest"
)

// heard is what a transcription's callbacks were told.
type heard struct {
	mu                sync.Mutex
	speaking, ended   int
	sustained         int
	partials, results []string
}

func (h *heard) spec() interpreter.TranscribeSpec {
	return interpreter.TranscribeSpec{Inbound: true, Language: "de-DE", Hints: "eins, zwei",
		Speaking: func(interpreter.Track) { h.mu.Lock(); h.speaking++; h.mu.Unlock() },
		// Each utterance of the script lasts 800 ms: sustained after 300.
		SustainAfter: 300 * time.Millisecond,
		Sustained: func(interpreter.Track) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.sustained >= h.speaking || h.ended != h.sustained {
				h.sustained += 100 // not once per utterance, between its onset and its end
			}
			h.sustained++
		},
		Ended: func(interpreter.Track) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.ended >= h.speaking || len(h.results) != h.ended {
				h.ended += 100 // not one after each onset, before its result
			}
			h.ended++
		},
		Partial: func(r interpreter.Transcript) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.partials = append(h.partials, r.Text)
		},
		Result: func(r interpreter.Transcript) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if r.Track != interpreter.TrackInbound || r.Confidence != 0.9 {
				r.Text += " (bad track or confidence)"
			}
			h.results = append(h.results, r.Text)
		}}
}

// waitNoStreams fails the test unless the provider's connections are
// all closed within a second: stop and the end of a Gather close them.
func waitNoStreams(t *testing.T, srv *stttest.Server) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); srv.Active() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d provider streams still open", srv.Active())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTranscribeStreaming checks Leg.Transcribe with a streaming
// recognizer on a real SIP leg, against the fake provider over a real
// WebSocket: the caller's audio reaches the provider, whose onsets,
// partials and finals become Speaking, Partial and Result; a provider
// that cannot be reached fails Transcribe; one that ends the stream is
// reopened.
func TestTranscribeStreaming(t *testing.T) {
	talk := []legtest.Act{{At: 0, Kind: legtest.Talk, For: 800 * time.Millisecond},
		{At: 2 * time.Second, Kind: legtest.Talk, For: 800 * time.Millisecond}}
	for _, tc := range []struct {
		name        string
		script      []legtest.Act
		fault       stttest.Fault
		down        bool
		wantResults []string
		minStarts   int
	}{
		{name: "two utterances", script: talk, wantResults: []string{"eins zwei", "drei"}, minStarts: 1},
		{name: "silence", minStarts: 1},
		{name: "unreachable", down: true},
		{name: "reopened after the provider closes", fault: stttest.GoAway, minStarts: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := ""
			var srv *stttest.Server
			if tc.down {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				url = "ws://" + ln.Addr().String()
				ln.Close()
			} else {
				srv = stttest.NewServer(stttest.Script{Transcripts: []string{"eins zwei", "drei"}, Confidence: 0.9, Fault: tc.fault})
				t.Cleanup(srv.Close)
				url = srv.URL
			}
			ws, err := stt.NewWebSocket(stt.WebSocketOptions{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			h := newSIPHarness(t, func(c *Config) { c.Media.Streamer = ws })
			leg, ctx, clk := h.Start(t, tc.script)
			var got heard
			stop, err := leg.Transcribe(ctx, got.spec())
			if tc.down {
				if err == nil || errors.Is(err, interpreter.ErrNoRecognizer) || !strings.Contains(err.Error(), "dial") {
					t.Fatalf("Transcribe with the provider down: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := clk.Sleep(ctx, 4*time.Second); err != nil {
				t.Fatal(err)
			}
			stop()
			stop() // idempotent
			got.mu.Lock()
			defer got.mu.Unlock()
			if strings.Join(got.results, "|") != strings.Join(tc.wantResults, "|") {
				t.Errorf("results %q, want %q", got.results, tc.wantResults)
			}
			if got.speaking != len(tc.wantResults) {
				t.Errorf("%d onsets, want %d", got.speaking, len(tc.wantResults))
			}
			if got.sustained != len(tc.wantResults) {
				t.Errorf("Sustained %d, want once per utterance (%d) between its onset and its end", got.sustained, len(tc.wantResults))
			}
			// The provider's final ends each utterance: Ended, then Result.
			if got.ended != len(tc.wantResults) {
				t.Errorf("Ended %d, want once per utterance (%d) between its onset and its result", got.ended, len(tc.wantResults))
			}
			if len(tc.wantResults) > 0 && (len(got.partials) == 0 || got.partials[0] != "eins") {
				t.Errorf("partials %q, want the first word first", got.partials)
			}
			starts := srv.Starts()
			if len(starts) < tc.minStarts {
				t.Fatalf("%d streams opened, want %d or more", len(starts), tc.minStarts)
			}
			if s := starts[0]; s.Language != "de-DE" || strings.Join(s.Hints, "|") != "eins|zwei" {
				t.Errorf("start %+v", s)
			}
			if tc.fault == stttest.NoFault && srv.Frames() < 150 {
				t.Errorf("the provider got %d frames in 4 s", srv.Frames())
			}
			waitNoStreams(t, srv)
		})
	}
}

// TestStreamEndpointing checks that the app's end-of-speech pause
// reaches the streaming provider as the start's endpointing_ms: a
// transcription's EndSilence (ConversationRelay's speechTimeout) and a
// Gather's numeric speechTimeout; nothing for a transcription without
// one or for speechTimeout="auto", the provider's own endpointing.
func TestStreamEndpointing(t *testing.T) {
	for _, tc := range []struct {
		name       string
		transcribe bool // a Transcribe with endSilence, else a Gather
		endSilence time.Duration
		auto       bool          // speechTimeout="auto"
		speech     time.Duration // the Gather's speechTimeout
		wantMs     int           // 0: endpointing_ms absent
	}{
		{name: "ConversationRelay speechTimeout=1500", transcribe: true, endSilence: 1500 * time.Millisecond, wantMs: 1500},
		{name: "a transcription without a pause", transcribe: true},
		{name: `Gather speechTimeout="3"`, speech: 3 * time.Second, wantMs: 3000},
		{name: `Gather speechTimeout="auto"`, auto: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := stttest.NewServer(stttest.Script{Transcripts: []string{"hallo"}})
			t.Cleanup(srv.Close)
			ws, err := stt.NewWebSocket(stt.WebSocketOptions{URL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			h := newSIPHarness(t, func(c *Config) { c.Media.Streamer = ws })
			leg, ctx, _ := h.Start(t, nil)
			if tc.transcribe {
				stop, err := leg.Transcribe(ctx, interpreter.TranscribeSpec{Inbound: true, EndSilence: tc.endSilence,
					Result: func(interpreter.Transcript) {}})
				if err != nil {
					t.Fatal(err)
				}
				// The start is sent before Transcribe returns, but the
				// provider reads it on its own goroutine.
				for deadline := time.Now().Add(time.Second); len(srv.Starts()) == 0 && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
				}
				stop()
			} else {
				// Nothing is said: the Gather times out after a second,
				// long after its stream has opened.
				in, err := leg.WaitInput(ctx, interpreter.InputSpec{Turn: 1, Speech: true, SpeechAuto: tc.auto,
					SpeechTimeout: tc.speech, Timeout: time.Second})
				if err != nil || in.Kind != interpreter.Timeout {
					t.Fatalf("WaitInput %+v, %v; want a timeout", in, err)
				}
			}
			waitNoStreams(t, srv)
			starts := srv.Starts()
			if len(starts) != 1 {
				t.Fatalf("%d streams opened, want 1", len(starts))
			}
			if got, want := starts[0].Endpointing(), stttest.EndpointingText(tc.wantMs); got != want {
				t.Errorf("endpointing_ms %s, want %s (- is none sent)", got, want)
			}
		})
	}
}
