package audio

import (
	"fmt"
	"math"
	"testing"
)

// sine makes d seconds of a sine at freq Hz sampled at rate.
func sine(freq float64, rate int, seconds float64, amp float64) []int16 {
	n := int(seconds * float64(rate))
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	return out
}

// rms measures the middle of s, away from the edges where the filter
// sees the silence around the signal.
func rms(s []int16) float64 {
	lo, hi := len(s)/10, len(s)-len(s)/10
	var sum float64
	for _, v := range s[lo:hi] {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(hi-lo))
}

func zeroCrossings(s []int16) int {
	lo, hi := len(s)/10, len(s)-len(s)/10
	n := 0
	for i := lo + 1; i < hi; i++ {
		if (s[i-1] < 0) != (s[i] < 0) {
			n++
		}
	}
	return n
}

func TestResampleKeepsPassband(t *testing.T) {
	const amp = 10000.0
	for _, from := range []int{44100, 48000, 22050, 16000, 11025, 44101, 32000, 24000} {
		t.Run(fmt.Sprint(from), func(t *testing.T) {
			in := sine(1000, from, 1, amp)
			out := Resample(in, from, 8000)
			if want := outputLen(len(in), from, 8000); len(out) != want {
				t.Fatalf("len %d, want %d", len(out), want)
			}
			db := 20 * math.Log10(rms(out)/(amp/math.Sqrt2))
			if math.Abs(db) > 0.5 {
				t.Errorf("1 kHz gain %.3f dB", db)
			}
			// 0.8 s of a 1 kHz sine crosses zero 1600 times.
			if zc := zeroCrossings(out); zc < 1598 || zc > 1602 {
				t.Errorf("%d zero crossings, want 1600", zc)
			}
		})
	}
}

func TestResampleUpsample(t *testing.T) {
	in := sine(1000, 8000, 1, 10000)
	for _, to := range []int{16000, 22050, 44100, 48000} {
		out := Resample(in, 8000, to)
		db := 20 * math.Log10(rms(out)/(10000/math.Sqrt2))
		if math.Abs(db) > 0.5 || len(out) != to {
			t.Errorf("8000→%d: gain %.3f dB, len %d", to, db, len(out))
		}
		if zc := zeroCrossings(out); zc < 1598 || zc > 1602 {
			t.Errorf("8000→%d: %d zero crossings", to, zc)
		}
	}
}

// TestResampleRejectsAliases feeds tones above the output Nyquist frequency;
// whatever comes out is aliasing.
func TestResampleRejectsAliases(t *testing.T) {
	const amp = 20000.0
	tests := []struct {
		from  int
		freq  float64
		minDB float64
	}{
		{44100, 6000, 40}, // the brief's check
		{44100, 4050, 40}, // just past the stopband edge
		{44100, 4400, 60},
		{44100, 12000, 60},
		{48000, 5000, 60},
		{22050, 7000, 60},
		{16000, 4500, 60},
		{11025, 5000, 60},
	}
	for _, tt := range tests {
		out := Resample(sine(tt.freq, tt.from, 1, amp), tt.from, 8000)
		r := rms(out)
		if r == 0 {
			// Below int16 resolution: more than ~95 dB down.
			t.Logf("%d Hz → 8 kHz: %.0f Hz rounds to silence", tt.from, tt.freq)
			continue
		}
		att := 20 * math.Log10((amp/math.Sqrt2)/r)
		t.Logf("%d Hz → 8 kHz: %.0f Hz attenuated %.1f dB", tt.from, tt.freq, att)
		if att < tt.minDB {
			t.Errorf("%d Hz: %.0f Hz attenuated only %.1f dB, want ≥ %.0f", tt.from, tt.freq, att, tt.minDB)
		}
	}
}

func TestResampleCopyAndEdges(t *testing.T) {
	in := []int16{1, -2, 3, 32767, -32768}
	out := Resample(in, 8000, 8000)
	if fmt.Sprint(out) != fmt.Sprint(in) {
		t.Errorf("copy: %v", out)
	}
	out[0] = 99
	if in[0] != 1 {
		t.Error("8000→8000 aliases its input")
	}
	for _, rates := range [][2]int{{0, 8000}, {8000, 0}, {-1, 8000}} {
		if out := Resample(in, rates[0], rates[1]); out != nil {
			t.Errorf("%v: %v", rates, out)
		}
	}
	if out := Resample(nil, 44100, 8000); len(out) != 0 {
		t.Errorf("empty: %v", out)
	}
	// A full-scale square wave overshoots through a sinc filter (Gibbs);
	// the peaks must saturate, not wrap around to the other sign.
	sq := make([]int16, 4410)
	for i := range sq {
		sq[i] = 32767
		if i/50%2 == 1 {
			sq[i] = -32768
		}
	}
	out = Resample(sq, 44100, 8000)
	for n := 100; n < 700; n++ {
		at := float64(n) * 44100 / 8000
		if ph := math.Mod(at, 50); ph < 20 || ph > 30 {
			continue
		}
		if want := sq[int(at)]; (want > 0) != (out[n] > 0) || math.Abs(float64(out[n])) < 25000 {
			t.Fatalf("sample %d = %d inside a %d plateau", n, out[n], want)
		}
	}
}

// TestResamplerStreaming checks that chunked input gives exactly the
// samples of one call.
func TestResamplerStreaming(t *testing.T) {
	for _, from := range []int{44100, 16000, 44101} {
		in := sine(440, from, 0.5, 8000)
		want := Resample(in, from, 8000)
		r := NewResampler(from, 8000)
		var got []int16
		for off := 0; off < len(in); off += 333 {
			got = r.Resample(got, in[off:min(off+333, len(in))])
		}
		got = r.Flush(got)
		if len(got) != len(want) {
			t.Fatalf("%d: len %d, want %d", from, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%d: sample %d = %d, want %d", from, i, got[i], want[i])
			}
		}
		// After Flush the Resampler starts a new stream.
		again := r.Flush(r.Resample(nil, in))
		if len(again) != len(want) || again[len(again)/2] != want[len(want)/2] {
			t.Errorf("%d: reuse after Flush differs", from)
		}
	}
}

func BenchmarkResample44100To8000(b *testing.B) {
	in := sine(1000, 44100, 1, 10000)
	b.SetBytes(int64(2 * len(in)))
	b.ReportAllocs()
	for b.Loop() {
		Resample(in, 44100, 8000)
	}
}
