package audio

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/texml/texml/media"
)

// noise returns n samples of white noise at about dbfs (RMS re full scale),
// from a fixed seed so tests are repeatable.
func noise(n int, dbfs float64, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 1))
	sd := 32768 * math.Pow(10, dbfs/20)
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(max(-32768, min(32767, r.NormFloat64()*sd)))
	}
	return out
}

// speechLike returns a voiced-sound stand-in: a 140 Hz harmonic series
// shaped into syllables (200 ms on, 80 ms off), peaking near dbfs.
func speechLike(n int, dbfs float64) []int16 {
	amp := 32768 * math.Pow(10, dbfs/20) * math.Sqrt2
	out := make([]int16, n)
	for i := range out {
		t := float64(i) / media.SampleRate
		ph := math.Mod(t, 0.28)
		if ph > 0.2 {
			continue
		}
		env := math.Sin(math.Pi * ph / 0.2)
		var v float64
		for h := 1; h <= 8; h++ {
			v += math.Sin(2*math.Pi*140*float64(h)*t) / float64(h)
		}
		out[i] = int16(amp * env * v / 2)
	}
	return out
}

// mix adds b into a (same length).
func mix(a, b []int16) []int16 {
	out := make([]int16, len(a))
	for i := range a {
		out[i] = int16(max(-32768, min(32767, int32(a[i])+int32(b[i]))))
	}
	return out
}

// run pushes s through v frame by frame and returns the decisions.
func run(v *VAD, s []int16) []bool {
	var out []bool
	for off := 0; off+media.FrameSamples <= len(s); off += media.FrameSamples {
		out = append(out, v.Push(s[off:off+media.FrameSamples]))
	}
	return out
}

func fraction(d []bool) float64 {
	n := 0
	for _, b := range d {
		if b {
			n++
		}
	}
	return float64(n) / float64(len(d))
}

func TestVAD(t *testing.T) {
	const sec = media.SampleRate
	t.Run("digital silence", func(t *testing.T) {
		if f := fraction(run(NewVAD(VADOptions{}), make([]int16, 5*sec))); f != 0 {
			t.Errorf("speech in %.0f%% of silence", 100*f)
		}
	})
	t.Run("quiet line noise", func(t *testing.T) {
		if f := fraction(run(NewVAD(VADOptions{}), noise(5*sec, -65, 1))); f != 0 {
			t.Errorf("speech in %.0f%% of -65 dBFS noise", 100*f)
		}
	})
	t.Run("loud steady noise becomes the floor", func(t *testing.T) {
		v := NewVAD(VADOptions{})
		d := run(v, noise(10*sec, -35, 2))
		// Only the first InitialFrames (plus hangover) may count as speech.
		if f := fraction(d[50:]); f != 0 {
			t.Errorf("speech in %.0f%% of steady -35 dBFS noise after 1 s", 100*f)
		}
		if fl := v.NoiseFloor(); fl < -38 || fl > -34 {
			t.Errorf("floor %.1f dBFS, want about -35", fl)
		}
	})
	t.Run("speech over noise", func(t *testing.T) {
		v := NewVAD(VADOptions{})
		s := make([]int16, 8*sec)
		copy(s[2*sec:], speechLike(3*sec, -22)) // speech from 2 s to 5 s
		d := run(v, mix(s, noise(len(s), -55, 3)))
		if f := fraction(d[:100]); f != 0 {
			t.Errorf("speech in %.0f%% of the leading silence", 100*f)
		}
		// Syllable gaps (80 ms) are bridged by the hangover.
		if f := fraction(d[105:250]); f < 0.97 {
			t.Errorf("speech detected in only %.0f%% of the talk spurt", 100*f)
		}
		// After the talker stops, silence within hangover + a frame.
		if f := fraction(d[250+17:]); f != 0 {
			t.Errorf("speech in %.0f%% of the trailing silence", 100*f)
		}
	})
	t.Run("floor follows a rise in noise", func(t *testing.T) {
		v := NewVAD(VADOptions{})
		s := append(noise(3*media.SampleRate, -65, 4), noise(8*media.SampleRate, -35, 5)...)
		d := run(v, s)
		// The jump itself looks like speech until the 5 s window forgets
		// the quiet past.
		if f := fraction(d[150+270:]); f != 0 {
			t.Errorf("still speech %.0f%% of the time 5.4 s after the noise rose", 100*f)
		}
	})
	t.Run("hysteresis", func(t *testing.T) {
		v := NewVAD(VADOptions{HangoverFrames: 1})
		run(v, noise(sec, -45, 6))
		// 7 dB over the floor: between the stop (5) and start (10) margins.
		mid := noise(sec/2, -38, 7)
		if fraction(run(v, mid)) != 0 {
			t.Error("a level below the start margin started speech")
		}
		run(v, noise(sec/5, -25, 8))
		if !v.Speech() {
			t.Fatal("a loud burst did not start speech")
		}
		if f := fraction(run(v, mid)); f < 0.95 {
			t.Errorf("a level above the stop margin kept speech only %.0f%% of the time", 100*f)
		}
	})
	t.Run("clicks do not start speech", func(t *testing.T) {
		v := NewVAD(VADOptions{})
		s := noise(3*sec, -60, 9)
		for off := sec; off < len(s); off += sec / 2 {
			copy(s[off:off+media.FrameSamples], noise(media.FrameSamples, -10, 10))
		}
		if f := fraction(run(v, s)); f != 0 {
			t.Errorf("single-frame clicks gave %.0f%% speech", 100*f)
		}
	})
}

func TestVADNoAllocs(t *testing.T) {
	v := NewVAD(VADOptions{})
	frame := noise(media.FrameSamples, -30, 11)
	if a := testing.AllocsPerRun(1000, func() { v.Push(frame) }); a != 0 {
		t.Errorf("%v allocs per Push", a)
	}
}

func BenchmarkVADPush(b *testing.B) {
	v := NewVAD(VADOptions{})
	frame := noise(media.FrameSamples, -30, 12)
	b.ReportAllocs()
	for b.Loop() {
		v.Push(frame)
	}
}

func TestTrimSilence(t *testing.T) {
	const sec = media.SampleRate
	s := make([]int16, 4*sec)
	copy(s[sec+sec/2:], speechLike(sec, -20)) // 1.5 s to 2.5 s
	rec := &PCM{Samples: mix(s, noise(len(s), -60, 13))}
	got := TrimSilence(rec)
	// The syllable pattern ends its last syllable at 0.84 s + 0.2 s, then
	// 100 ms of margin each side.
	lo, hi := 0.98, 1.35
	if d := got.Duration().Seconds(); d < lo || d > hi {
		t.Errorf("trimmed to %.3f s, want %.2f-%.2f", d, lo, hi)
	}
	// The speech must all be there: its energy is unchanged.
	if e1, e2 := energy(got.Samples), energy(rec.Samples); e1 < 0.99*e2 {
		t.Errorf("trim lost %.1f%% of the energy", 100*(1-e1/e2))
	}
	if got := TrimSilence(&PCM{Samples: noise(2*sec, -60, 14)}); len(got.Samples) != 0 {
		t.Errorf("silence trimmed to %v", got.Duration())
	}
	if got := TrimSilence(&PCM{}); len(got.Samples) != 0 {
		t.Error("empty")
	}
	if got := TrimSilence(nil); got == nil || len(got.Samples) != 0 {
		t.Error("nil")
	}
	all := &PCM{Samples: speechLike(2*sec, -20)}
	if got := TrimSilence(all); got.Duration() < 1900*1e6 {
		t.Errorf("all speech trimmed to %v", got.Duration())
	}
}

func energy(s []int16) float64 {
	var e float64
	for _, v := range s {
		e += float64(v) * float64(v)
	}
	return e
}
