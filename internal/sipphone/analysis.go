package sipphone

import (
	"math"
	"time"
)

// Audio analysis for what a phone heard: 8 kHz samples, judged in 20 ms
// frames against a silence floor of -40 dBFS (RMS 1% of full scale).

const (
	// Rate is the sample rate of everything the phone sends and hears.
	Rate = 8000
	// frame is 20 ms of samples, one RTP packet.
	frame = Rate / 50
	// floor is -40 dBFS as an RMS in sample units.
	floor = 0.01 * 32768
)

// rms is the root mean square of s in sample units.
func rms(s []int16) float64 {
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

// VoicedTime adds up the 20 ms frames of s whose RMS is above -40 dBFS.
func VoicedTime(s []int16) time.Duration {
	var d time.Duration
	for i := 0; i+frame <= len(s); i += frame {
		if rms(s[i:i+frame]) > floor {
			d += 20 * time.Millisecond
		}
	}
	return d
}

// DominantFreq estimates the main frequency of the voiced frames of s by
// counting zero crossings; 0 when nothing is voiced.
func DominantFreq(s []int16) float64 {
	var crossings, voiced int
	for i := 0; i+frame <= len(s); i += frame {
		f := s[i : i+frame]
		if rms(f) < floor {
			continue
		}
		voiced += frame
		for j := 1; j < len(f); j++ {
			if (f[j-1] < 0) != (f[j] < 0) {
				crossings++
			}
		}
	}
	if voiced == 0 {
		return 0
	}
	return float64(crossings) / 2 / (float64(voiced) / Rate)
}

// Goertzel is the power of s at freq (Hz), as the squared amplitude of a
// sine at that frequency relative to full scale: a full-scale sine at
// freq gives about 1, one at -20 dBFS about 0.01. freq need not fall on
// a DFT bin (the generalized Goertzel recurrence).
func Goertzel(s []int16, freq float64) float64 {
	if len(s) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / Rate
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range s {
		s0 := float64(v)/32768 + coeff*s1 - s2
		s1, s2 = s0, s1
	}
	re := s1 - s2*math.Cos(w)
	im := s2 * math.Sin(w)
	n := float64(len(s))
	return (re*re + im*im) * 4 / (n * n)
}

// toneWindow is 50 ms: a resolution of about 20 Hz, fine enough to tell
// DTMF's and call progress tones' frequencies apart.
const toneWindow = Rate / 20

// HasTone reports whether s holds a tone at freq: at least 100 ms of
// 50 ms windows above -40 dBFS in which freq carries at least half of the
// window's power. Speech, noise and other tones do not pass.
func HasTone(s []int16, freq float64) bool {
	var hits int
	for i := 0; i+toneWindow <= len(s); i += toneWindow {
		win := s[i : i+toneWindow]
		r := rms(win)
		if r < floor {
			continue
		}
		// A sine of amplitude A has a power (mean square) of A²/2.
		power := 2 * (r / 32768) * (r / 32768)
		if Goertzel(win, freq) >= power/2 {
			hits++
		}
	}
	return hits*toneWindow >= Rate/10
}

// ToneSamples is d of a sine at freq (Hz), at -10 dBFS.
func ToneSamples(freq float64, d time.Duration) []int16 {
	n := int(d.Seconds() * Rate)
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(10362 * math.Sin(2*math.Pi*freq*float64(i)/Rate))
	}
	return out
}
