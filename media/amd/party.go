package amd

import (
	"math"
	"time"
)

// A synthetic answering party: what the simulator's callees and the test
// phone make heard once they answer, so that a simulated call, a real
// call to the test phone and the unit tests put the same sound in front
// of the same Detector. The simulator does not decide who answered: it
// renders its party and lets the Detector listen (Party.Detect), so the
// decision rule lives once, here.

// SoundKind is what a Sound is.
type SoundKind int

// Sound kinds.
const (
	// Voice stands in for speech: noise whose loudness rises and falls
	// at a syllable rate (4 Hz), about -22 dBFS, with no pure tone. The
	// voice activity detector hears it as talk; the tone detector never
	// takes it for a beep.
	Voice SoundKind = iota
	// Beep is a voicemail's record tone, 1 kHz.
	Beep
	// FaxTone is the answer tone of a fax machine we call: CED, 2100 Hz
	// (ITU-T T.30).
	FaxTone
)

// Sound is one stretch of audio a party makes heard, At after it
// answered, for For.
type Sound struct {
	Kind SoundKind
	At   time.Duration
	For  time.Duration
}

// Party is what an answering party makes heard from its answer on: its
// Sounds, and silence between and after them. The zero Party is silent.
type Party []Sound

// Amplitudes of the rendered sounds, in sample units: speech about -22
// dBFS (RMS), tones at 0.3 of full scale, levels a phone line carries.
const (
	voiceLevel  = 2500
	toneLevel   = 0.3 * math.MaxInt16
	partyBeepHz = 1000
)

// Fill writes the party's audio from sample off (8 kHz, counted from the
// answer) into frame. It does not allocate, and the same offset always
// gives the same samples.
func (p Party) Fill(frame []int16, off int) {
	clear(frame)
	for i, s := range p {
		from := samplesIn(s.At)
		to := from + samplesIn(s.For)
		lo, hi := max(from, off), min(to, off+len(frame))
		for n := lo; n < hi; n++ {
			frame[n-off] = s.sample(n-from, uint64(i))
		}
	}
}

// Samples renders the party's first d of audio.
func (p Party) Samples(d time.Duration) []int16 {
	out := make([]int16, samplesIn(d))
	p.Fill(out, 0)
	return out
}

// Detect lets a Detector with options o listen to the party from from
// (since its answer) on, frame by frame, until it decides; the Result's
// Duration counts from from. It is what a simulated call hears, and it
// decides within o's Timeout.
func (p Party) Detect(o Options, from time.Duration) Result {
	d := New(o)
	var frame [frameSamples]int16
	off := samplesIn(from)
	for {
		p.Fill(frame[:], off)
		if r, ok := d.Push(frame[:]); ok {
			return r
		}
		off += frameSamples
	}
}

// frameSamples is a 20 ms frame.
const frameSamples = sampleRate / 50

func samplesIn(d time.Duration) int { return int(d * sampleRate / time.Second) }

// sample is sample n of s, counted from its start; seed tells the noise
// of one Voice from another's.
func (s Sound) sample(n int, seed uint64) int16 {
	t := float64(n) / sampleRate
	switch s.Kind {
	case Beep:
		return int16(toneLevel * math.Sin(2*math.Pi*partyBeepHz*t))
	case FaxTone:
		return int16(toneLevel * math.Sin(2*math.Pi*cedHz*t))
	}
	env := 0.55 + 0.45*math.Sin(2*math.Pi*4*t)
	return int16(gauss(seed, uint64(n)) * voiceLevel * env)
}

// gauss is a standard normal variate drawn from (seed, n) alone, so that
// any stretch of a Voice renders the same whichever frame it starts in:
// two uniforms from a SplitMix64 hash, through Box-Muller.
func gauss(seed, n uint64) float64 {
	h := splitmix(seed<<40 ^ n)
	u1 := (float64(h>>11) + 0.5) / (1 << 53)
	u2 := float64(splitmix(h)>>11) / (1 << 53)
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// splitmix is SplitMix64's output function.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
