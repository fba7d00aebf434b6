package signaling

import (
	"context"
	"errors"
	"sync"

	"github.com/texml/texml/media/stt"
)

// Streamer returns s with its streams counted: how many are open, how
// each ended, and the frames the provider did not take in time. A nil s
// stays nil (no streaming recognizer configured).
func (m *Metrics) Streamer(s stt.Streamer) stt.Streamer {
	if m == nil || s == nil {
		return s
	}
	return &meteredStreamer{next: s, m: m}
}

type meteredStreamer struct {
	next stt.Streamer
	m    *Metrics
}

func (s *meteredStreamer) Stream(ctx context.Context, r stt.StreamRequest) (stt.Stream, error) {
	st, err := s.next.Stream(ctx, r)
	if err != nil {
		if ctx.Err() == nil { // not the call ending while it opened
			s.m.sttStreamsEnded.WithLabelValues("open_error").Inc()
		}
		return st, err
	}
	s.m.sttStreams.Inc()
	return &meteredStream{Stream: st, m: s.m}, nil
}

// meteredStream records its stream's end once, at Close, which every
// user of a Stream calls and which returns only once the stream's
// goroutines have exited, so that Err and Dropped are final then.
type meteredStream struct {
	stt.Stream
	m    *Metrics
	once sync.Once
}

func (s *meteredStream) Close() error {
	err := s.Stream.Close()
	s.once.Do(func() {
		s.m.sttStreams.Dec()
		s.m.sttStreamDropped.Add(float64(s.Stream.Dropped()))
		s.m.sttStreamsEnded.WithLabelValues(streamResult(s.Stream.Err())).Inc()
	})
	return err
}

// streamResult is the label of a stream's end.
func streamResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, stt.ErrProvider):
		return "provider_error"
	default:
		return "closed"
	}
}

// Interface guards.
var (
	_ stt.Streamer = (*meteredStreamer)(nil)
	_ stt.Stream   = (*meteredStream)(nil)
)
