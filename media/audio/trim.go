package audio

import (
	"time"

	"github.com/texml/texml/media"
)

// trimPad is kept around the detected speech: energy detection misses the
// soft start of fricatives and the tail of a fading word, and clipping
// them sounds worse than 100 ms of room tone.
const trimPad = 100 * time.Millisecond

// TrimSilence returns p without the silence at its ends (Record
// trim-silence), as judged by a VAD with default options run over it in
// 20 ms frames, keeping 100 ms of margin at each end. A recording with no
// speech at all trims to nothing. The result shares p's samples.
func TrimSilence(p *PCM) *PCM {
	if p == nil || len(p.Samples) == 0 {
		return &PCM{}
	}
	v := NewVAD(VADOptions{})
	const fs = media.FrameSamples
	first, last := -1, -1 // sample offsets of the first and last voiced frames
	for off := 0; off < len(p.Samples); off += fs {
		frame := p.Samples[off:min(off+fs, len(p.Samples))]
		speech := v.Push(frame)
		if !speech {
			continue
		}
		if first < 0 {
			// Speech is declared StartFrames frames after its onset.
			first = max(0, off-(v.o.StartFrames-1)*fs)
		}
		if v.Voiced() {
			last = off + len(frame)
		}
	}
	if first < 0 {
		return &PCM{Samples: p.Samples[:0]}
	}
	pad := durationSamples(trimPad)
	first = max(0, first-pad)
	last = min(len(p.Samples), max(last, first)+pad)
	return &PCM{Samples: p.Samples[first:last]}
}
