package signaling

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/interpreter/legtest"
	"github.com/texml/texml/media/stt"
)

// countingRecognizer "recognizes" every utterance as the number of
// samples it was given, so that the test sees what was cut.
type countingRecognizer struct {
	mu  sync.Mutex
	got []int
}

func (r *countingRecognizer) Recognize(_ context.Context, req stt.Request) (stt.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, len(req.Samples))
	return stt.Result{Text: "words", Confidence: 0.5}, nil
}

// TestTranscribe checks Leg.Transcribe on a real SIP leg: each stretch
// of the caller's voice ended by a pause is one utterance, recognized
// and handed to Result on the inbound track; a leg without a recognizer
// says so.
func TestTranscribe(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []legtest.Act
		noSTT  bool
		want   int // results
	}{
		{name: "two utterances", script: []legtest.Act{{At: 0, Kind: legtest.Talk, For: 600 * time.Millisecond},
			{At: 2 * time.Second, Kind: legtest.Talk, For: 600 * time.Millisecond}}, want: 2},
		{name: "silence", want: 0},
		{name: "no recognizer", noSTT: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &countingRecognizer{}
			h := newSIPHarness(t, func(c *Config) {
				if !tc.noSTT {
					c.Media.Recognizer = rec
				}
			})
			leg, ctx, clk := h.Start(t, tc.script)
			var mu sync.Mutex
			var got []interpreter.Transcript
			stop, err := leg.Transcribe(ctx, interpreter.TranscribeSpec{Inbound: true, Result: func(r interpreter.Transcript) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, r)
			}})
			if tc.noSTT {
				if !errors.Is(err, interpreter.ErrNoRecognizer) {
					t.Fatalf("Transcribe without a recognizer: %v, want ErrNoRecognizer", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := clk.Sleep(ctx, 4500*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			stop()
			mu.Lock()
			defer mu.Unlock()
			if len(got) != tc.want {
				t.Fatalf("%d results %+v, want %d (utterances of %v samples)", len(got), got, tc.want, rec.got)
			}
			for _, r := range got {
				if r.Track != interpreter.TrackInbound || r.Text != "words" || r.Confidence != 0.5 {
					t.Errorf("result %+v", r)
				}
			}
		})
	}
}
