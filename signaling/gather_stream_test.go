package signaling

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/interpreter/legtest"
	"github.com/texml/texml/media/stt"
	"github.com/texml/texml/media/stt/stttest"
)

// earlyStreamer is an in-process provider whose endpointing is quicker
// than any local pause: a partial at the 5th frame it gets, a final at
// the 10th, however the audio sounds.
type earlyStreamer struct{}

func (earlyStreamer) Stream(ctx context.Context, _ stt.StreamRequest) (stt.Stream, error) {
	s := &earlyStream{events: make(chan stt.Event, 4), done: make(chan struct{})}
	return s, nil
}

type earlyStream struct {
	mu     sync.Mutex
	n      int
	events chan stt.Event
	done   chan struct{}
	once   sync.Once
}

func (s *earlyStream) Write([]int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	switch s.n {
	case 5:
		s.events <- stt.Event{Kind: stt.Partial, Text: "ear"}
	case 10:
		s.events <- stt.Event{Kind: stt.Final, Text: "early", Confidence: 0.8}
	}
}
func (s *earlyStream) Events() <-chan stt.Event { return s.events }
func (s *earlyStream) CloseSend()               {}
func (s *earlyStream) Err() error               { return nil }
func (s *earlyStream) Dropped() int             { return 0 }
func (s *earlyStream) Close() error             { s.once.Do(func() { close(s.done) }); return nil }

// deafStreamer is an in-process provider that hears no words: its
// streams end cleanly at stop without a final.
type deafStreamer struct{}

func (deafStreamer) Stream(context.Context, stt.StreamRequest) (stt.Stream, error) {
	return &deafStream{events: make(chan stt.Event)}, nil
}

type deafStream struct {
	events chan stt.Event
	once   sync.Once
}

func (s *deafStream) Write([]int16)            {}
func (s *deafStream) Events() <-chan stt.Event { return s.events }
func (s *deafStream) CloseSend()               { s.once.Do(func() { close(s.events) }) }
func (s *deafStream) Err() error               { return nil }
func (s *deafStream) Dropped() int             { return 0 }
func (s *deafStream) Close() error             { s.CloseSend(); return nil }

// TestGatherStreaming checks Gather input="speech" (WaitInput) with a
// streaming recognizer on a real SIP leg: the provider's final ends the
// utterance when it comes first, stop gets the last final when the
// local end of speech comes first, partials reach OnPartial, and a
// provider that cannot be reached falls back to the batch recognizer,
// but one that heard only noise does not.
func TestGatherStreaming(t *testing.T) {
	talk := []legtest.Act{{At: 300 * time.Millisecond, Kind: legtest.Talk, For: 800 * time.Millisecond}}
	for _, tc := range []struct {
		name          string
		script        []legtest.Act
		streamer      string // "fake" (WebSocket), "early" (in-process), "down"
		batch         bool   // a batch Recognizer as well
		speechTimeout time.Duration
		want          interpreter.Input
		wantPartial   string
		within        time.Duration // the answer comes this soon after the call starts
	}{
		{name: "local end, then the provider's last final", script: talk, streamer: "fake",
			want: interpreter.Input{Kind: interpreter.SpeechResult, Text: "billing please", Confidence: 0.9}, wantPartial: "billing"},
		{name: "the provider's final first", script: talk, streamer: "early", speechTimeout: 5 * time.Second,
			want: interpreter.Input{Kind: interpreter.SpeechResult, Text: "early", Confidence: 0.8}, wantPartial: "ear", within: 2 * time.Second},
		{name: "provider down: the batch recognizer", script: talk, streamer: "down", batch: true,
			want: interpreter.Input{Kind: interpreter.SpeechResult, Text: "words", Confidence: 0.5}},
		{name: "the provider heard no words", script: talk, streamer: "deaf", batch: true,
			want: interpreter.Input{Kind: interpreter.SpeechResult}},
		{name: "provider down, no batch recognizer", script: talk, streamer: "down",
			want: interpreter.Input{Kind: interpreter.SpeechResult}},
		{name: "a key", script: []legtest.Act{{At: 300 * time.Millisecond, Kind: legtest.Press, Digits: "7"}}, streamer: "fake",
			want: interpreter.Input{Kind: interpreter.Digit, Digit: '7'}},
		{name: "nothing said", streamer: "fake", want: interpreter.Input{Kind: interpreter.Timeout}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var streamer stt.Streamer
			var srv *stttest.Server
			switch tc.streamer {
			case "early":
				streamer = earlyStreamer{}
			case "deaf":
				streamer = deafStreamer{}
			case "fake", "down":
				url := ""
				if tc.streamer == "down" {
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					url = "ws://" + ln.Addr().String()
					ln.Close()
				} else {
					srv = stttest.NewServer(stttest.Script{Transcripts: []string{"billing please"}, Confidence: 0.9})
					t.Cleanup(srv.Close)
					url = srv.URL
				}
				ws, err := stt.NewWebSocket(stt.WebSocketOptions{URL: url})
				if err != nil {
					t.Fatal(err)
				}
				streamer = ws
			}
			rec := &countingRecognizer{}
			h := newSIPHarness(t, func(c *Config) {
				c.Media.Streamer = streamer
				if tc.batch {
					c.Media.Recognizer = rec
				}
			})
			leg, ctx, _ := h.Start(t, tc.script)
			began := time.Now()
			var mu sync.Mutex
			var partials []string
			spec := interpreter.InputSpec{Turn: 1, DTMF: true, Speech: true, SpeechAuto: tc.speechTimeout == 0, SpeechTimeout: tc.speechTimeout,
				Timeout: 3 * time.Second, OnPartial: func(p interpreter.Partial) {
					mu.Lock()
					defer mu.Unlock()
					partials = append(partials, p.Unstable)
				}}
			in, err := leg.WaitInput(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(began); tc.within > 0 && d > tc.within {
				t.Errorf("answered after %v, want within %v", d, tc.within)
			}
			if in.Kind != tc.want.Kind || in.Text != tc.want.Text || in.Confidence != tc.want.Confidence || in.Digit != tc.want.Digit {
				t.Errorf("input %+v, want %+v", *in, tc.want)
			}
			rec.mu.Lock()
			if batched := len(rec.got) > 0; batched != (tc.streamer == "down" && tc.batch) {
				t.Errorf("batch recognitions %v", rec.got)
			}
			rec.mu.Unlock()
			mu.Lock()
			defer mu.Unlock()
			if tc.wantPartial != "" && (len(partials) == 0 || partials[0] != tc.wantPartial) {
				t.Errorf("partials %q, want %q first", partials, tc.wantPartial)
			}
			if srv != nil {
				if len(srv.Starts()) != 1 {
					t.Errorf("%d streams opened, want the turn's one", len(srv.Starts()))
				}
				waitNoStreams(t, srv)
			}
		})
	}
}
