package stt

import (
	"context"
	"errors"
	"time"
)

// Streamer is the seam for a recognizer that listens while the caller
// talks, as cloud speech services do: audio goes to it frame by frame
// and it answers with interim and final transcripts, finding the end of
// each utterance itself (endpointing by the provider). Recognizer, by
// contrast, takes one utterance that local voice activity detection has
// already cut. Implementations must be safe for concurrent use: every
// call opens its own streams.
type Streamer interface {
	// Stream opens a recognition stream. ctx bounds the whole stream,
	// not only the opening: when it ends the stream ends too, as an
	// exec.CommandContext process does.
	Stream(ctx context.Context, r StreamRequest) (Stream, error)
}

// StreamRequest is what a stream recognizes.
type StreamRequest struct {
	// Language is BCP-47, as Request.Language; "" means en-US.
	Language string
	// Hints are comma-separated words and phrases the caller is expected
	// to say, as Request.Hints. A provider uses them as it can (phrase
	// boosting); they do not restrict what it may answer.
	Hints string
	// EndSilence is the pause that ends an utterance: the app's
	// speechTimeout, which the provider is asked to endpoint by (a
	// provider that cannot honour it endpoints as it would have). 0 is
	// the provider's own endpointing, as speechTimeout="auto".
	EndSilence time.Duration
	// Queue is how many frames Write may queue before it drops; 0 means
	// the streamer's default. A caller that writes a whole recorded
	// utterance at once (Batch) sets it to the utterance's length.
	Queue int
}

// Stream is one open recognition stream.
//
// Its life: Write frames while the caller talks; read Events until the
// channel is closed; CloseSend when no more audio will come, so that
// the provider can finish the utterance in progress; Close always, to
// release it. Err says why the events ended.
type Stream interface {
	// Write queues a 20 ms frame of 8 kHz mono 16-bit audio
	// (media.FrameSamples samples). It never blocks: it is called from
	// the media pacer, which serves many calls. When the provider falls
	// behind, frames are dropped and counted (Dropped) rather than
	// delaying the call's audio. The frame is copied; Write after
	// CloseSend or Close is ignored.
	Write(frame []int16)
	// Events delivers what the provider hears, in order. It is closed
	// when the stream ends: after the provider's last answer to
	// CloseSend, on an error, or on Close.
	Events() <-chan Event
	// CloseSend says that no more audio will come. The frames queued so
	// far are still sent; the provider then gives its last results and
	// ends the stream, which closes Events.
	CloseSend()
	// Err is why Events was closed: nil when the stream ended as asked
	// (CloseSend, then the provider finished; or Close), else an error
	// such as ErrStreamClosed or one wrapping ErrProvider. It is only
	// meaningful once Events is closed.
	Err() error
	// Dropped is how many frames Write has dropped because the provider
	// was not taking them fast enough.
	Dropped() int
	// Close ends the stream now, without waiting for results, and
	// returns once its goroutines have exited. It is idempotent.
	Close() error
}

// EventKind is what an Event reports.
type EventKind int

// The events a stream delivers.
const (
	// SpeechStarted is the provider's voice activity detection hearing
	// the start of an utterance, before any words: the moment a voice
	// agent is interrupted (barge-in).
	SpeechStarted EventKind = iota + 1
	// Partial is an interim transcript of the utterance in progress (the
	// words so far), which a later Partial or the Final replaces.
	Partial
	// Final is the transcript of a whole utterance: the provider found
	// its end. Text may be "" when it heard noise rather than words.
	Final
)

// String names the kind as the WebSocket protocol does (docs/stt-ws.md).
func (k EventKind) String() string {
	switch k {
	case SpeechStarted:
		return "speech_started"
	case Partial:
		return "partial"
	case Final:
		return "final"
	}
	return "unknown"
}

// Event is one thing a stream heard.
type Event struct {
	Kind EventKind
	// Text is the transcript of a Partial or Final; "" for SpeechStarted.
	Text string
	// Confidence is in 0..1 for a Final; 0 when the provider gave none.
	Confidence float64
}

// Errors of streams. Callers test them with errors.Is.
var (
	// ErrProvider is wrapped by every error the provider itself
	// reported or caused by answering outside the protocol (an "error"
	// message, a malformed message, a refused handshake), as opposed to
	// not being reachable at all.
	ErrProvider = errors.New("stt provider")
	// ErrStreamClosed means the provider ended the stream before it was
	// asked to (before CloseSend), or the connection broke.
	ErrStreamClosed = errors.New("stt stream closed by the provider")
)
