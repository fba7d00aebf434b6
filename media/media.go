// Package media is texml's audio engine: 8 kHz 16-bit linear PCM frames of
// 160 samples (20 ms) inside, G.711 at the edges, RTP sessions paced by a
// shared clock, DTMF (RFC 4733 and in-band), the sources and sinks that
// verbs compose (players, recorders, detectors), and the Endpoint seam
// that joins calls: taps, a switchable output, and Bridge.
package media

import "time"

// The engine's one internal format: 8 kHz mono, 16-bit signed samples,
// moved in 20 ms frames.
const (
	SampleRate    = 8000
	FrameSamples  = 160
	FrameDuration = 20 * time.Millisecond
)

// Source produces audio for a call. Read fills frame (len FrameSamples)
// and returns how many samples it wrote; fewer than len(frame) only at
// the end, together with io.EOF (the rest of the frame is silence).
// A Source is read by one goroutine at a time.
type Source interface {
	Read(frame []int16) (int, error)
}

// Sink receives the caller's audio, one frame at a time, from the
// goroutine that receives the session's packets: a pacer goroutine shared
// with other calls, or the session's own. Write must not block: a slow
// sink loses frames, the call does not stall (and, on a pacer goroutine,
// neither do the others).
type Sink interface {
	Write(frame []int16)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(frame []int16) (int, error)

// Read calls f(frame).
func (f SourceFunc) Read(frame []int16) (int, error) { return f(frame) }

// SinkFunc adapts a function to Sink.
type SinkFunc func(frame []int16)

// Write calls f(frame).
func (f SinkFunc) Write(frame []int16) { f(frame) }
