package audio

import (
	"math"
	"time"

	"github.com/texml/texml/media"
)

// toneRamp is the raised-cosine fade at each end of a tone. A tone that
// starts or stops at full amplitude clicks audibly; 5 ms is short enough
// not to shorten a 40 ms DTMF digit below what detectors need.
const toneRamp = 5 * time.Millisecond

// Tone synthesises d of the sum of sines at freqs (Hz), one for a Record
// beep, two for a DTMF digit. amplitude is the peak of the sum as a
// fraction of full scale (each sine gets amplitude/len(freqs)), so the sum
// never clips; it is clamped to [0, 1]. The ends are faded over 5 ms to
// avoid clicks. No frequencies, or a non-positive d, give silence of d.
func Tone(freqs []float64, d time.Duration, amplitude float64) *PCM {
	n := durationSamples(d)
	out := make([]int16, n)
	if len(freqs) == 0 || n == 0 || !(amplitude > 0) {
		return &PCM{Samples: out}
	}
	amplitude = min(amplitude, 1)
	each := amplitude * math.MaxInt16 / float64(len(freqs))
	ramp := min(durationSamples(toneRamp), n/2)
	for i := range out {
		t := float64(i) / media.SampleRate
		var v float64
		for _, f := range freqs {
			v += math.Sin(2 * math.Pi * f * t)
		}
		g := each
		if k := min(i, n-1-i); k < ramp {
			g *= 0.5 - 0.5*math.Cos(math.Pi*float64(k)/float64(ramp))
		}
		out[i] = int16(math.Round(v * g))
	}
	return &PCM{Samples: out}
}

// Silence returns d of digital silence (d rounded to whole samples).
func Silence(d time.Duration) *PCM {
	return &PCM{Samples: make([]int16, durationSamples(d))}
}
