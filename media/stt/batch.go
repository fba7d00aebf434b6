package stt

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/texml/texml/media"
)

// DefaultBatchTimeout bounds one Batch recognition when Batch.Timeout is
// zero: the provider has the whole utterance at once and answers in
// about the time it takes to say it, so ten seconds only cuts off a
// provider that stopped answering.
const DefaultBatchTimeout = 10 * time.Second

// Batch is a Recognizer over a Streamer: it sends one endpointed
// utterance through a stream, says stop, and joins the provider's final
// transcripts. Gather input="speech" keeps its own endpointing
// (speechTimeout, barge-in, turns) and still recognizes with the cloud
// provider; only real-time transcription needs the provider's own
// endpointing.
type Batch struct {
	// Streamer is the provider.
	Streamer Streamer
	// Timeout bounds each recognition; default DefaultBatchTimeout.
	Timeout time.Duration
}

var _ Recognizer = Batch{}

// Recognize implements Recognizer. The text is the provider's, with its
// capitals and punctuation, as Twilio's SpeechResult has them; the
// confidence is the mean of its final results'.
func (b Batch) Recognize(ctx context.Context, r Request) (Result, error) {
	t := b.Timeout
	if t <= 0 {
		t = DefaultBatchTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	frames := (len(r.Samples) + media.FrameSamples - 1) / media.FrameSamples
	s, err := b.Streamer.Stream(ctx, StreamRequest{Language: r.Language, Hints: r.Hints, Queue: frames + 1})
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	for i := 0; i < len(r.Samples); i += media.FrameSamples {
		s.Write(r.Samples[i:min(i+media.FrameSamples, len(r.Samples))])
	}
	s.CloseSend()
	var texts []string
	var conf float64
	for e := range s.Events() {
		if e.Kind == Final && strings.TrimSpace(e.Text) != "" {
			texts = append(texts, strings.TrimSpace(e.Text))
			conf += e.Confidence
		}
	}
	if err := s.Err(); err != nil {
		return Result{}, fmt.Errorf("stt stream recognition: %w", err)
	}
	if n := s.Dropped(); n > 0 {
		return Result{}, fmt.Errorf("stt stream recognition: %d of %d frames dropped", n, frames)
	}
	if len(texts) == 0 {
		return Result{}, nil
	}
	return Result{Text: strings.Join(texts, " "), Confidence: conf / float64(len(texts))}, nil
}
