// Package audio turns the audio a voice app points at (WAV, MP3, .au and
// raw G.711) into the engine's format, 8 kHz mono 16-bit PCM, and provides
// what verbs need around it: a resampler, a fetch-and-decode cache, tones
// and silence, an energy VAD, silence trimming and a WAV writer for
// recordings.
package audio

import (
	"io"
	"time"

	"github.com/texml/texml/media"
)

// PCM is decoded audio in the engine format: 8 kHz mono int16. A PCM held
// by the Cache is shared between calls, so its Samples must not be
// modified.
type PCM struct {
	Samples []int16
}

// Duration is the playing time of the samples.
func (p *PCM) Duration() time.Duration {
	if p == nil {
		return 0
	}
	return samplesDuration(int64(len(p.Samples)))
}

// samplesDuration converts a count of 8 kHz samples to a duration.
func samplesDuration(n int64) time.Duration {
	return time.Duration(n) * time.Second / media.SampleRate
}

// durationSamples converts a duration to a count of 8 kHz samples,
// rounding to the nearest sample; negative durations give zero.
func durationSamples(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((int64(d)*media.SampleRate + int64(time.Second)/2) / int64(time.Second))
}

// Source returns a new reader over the samples, independent of any other
// reader, so one cached PCM can play on many calls at once.
func (p *PCM) Source() media.Source {
	return Loop(p, 1)
}

// Loop returns a Source that plays p n times in a row, without a gap at
// the joins; n == 0 plays forever (Play loop="0") and a negative n plays
// once. A PCM with no samples ends at once even when looping forever, so
// a player never spins on it.
func Loop(p *PCM, n int) media.Source {
	if n < 0 {
		n = 1
	}
	var s []int16
	if p != nil {
		s = p.Samples
	}
	return &loopReader{samples: s, left: n, forever: n == 0}
}

// loopReader reads samples repeatedly. left counts the plays not yet
// started, including the current one.
type loopReader struct {
	samples []int16
	pos     int
	left    int
	forever bool
}

// Read implements media.Source. A short read zero-fills the rest of frame,
// so a caller that ignores n still sends silence rather than stale audio.
func (r *loopReader) Read(frame []int16) (int, error) {
	n := 0
	for n < len(frame) && len(r.samples) > 0 && (r.forever || r.left > 0) {
		c := copy(frame[n:], r.samples[r.pos:])
		n += c
		r.pos += c
		if r.pos == len(r.samples) {
			r.pos = 0
			if !r.forever {
				r.left--
			}
		}
	}
	if n < len(frame) {
		clear(frame[n:])
		return n, io.EOF
	}
	return n, nil
}

var _ media.Source = (*loopReader)(nil)
