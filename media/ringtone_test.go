package media

import (
	"math"
	"slices"
	"testing"
)

// twilioRingTones are the values Twilio's <Dial> page lists for ringTone.
var twilioRingTones = []string{
	"at", "au", "bg", "br", "be", "ch", "cl", "cn", "cz", "de", "dk", "ee",
	"es", "fi", "fr", "gr", "hu", "il", "in", "it", "lt", "jp", "mx", "my",
	"nl", "no", "nz", "ph", "pl", "pt", "ru", "se", "sg", "th", "uk", "us",
	"us-old", "tw", "ve", "za",
}

// wantTone is one frequency expected during a burst, with its amplitude
// relative to a -13 dBm0 tone.
type wantTone struct{ freq, rel float64 }

func single(f float64) []wantTone    { return []wantTone{{f, 1}} }
func dual(f1, f2 float64) []wantTone { return []wantTone{{f1, 1}, {f2, 1}} }

// am is carrier f modulated by m to depth d: the carrier and two side
// tones of amplitude d/2.
func am(f, m, d float64) []wantTone { return []wantTone{{f, 1}, {f - m, d / 2}, {f + m, d / 2}} }

var (
	oneFour = []float64{1, 4}
	double  = []float64{0.4, 0.2, 0.4, 2.0}
)

// ringWant states what each code must sound like, independently of the
// table in ringtone.go: frequencies, and the cadence in seconds (on, off,
// on, off...).
var ringWant = []struct {
	code    string
	tones   []wantTone
	cadence []float64
}{
	{"at", single(420), []float64{1, 5}},
	{"au", am(425, 25, 0.95), double},
	{"be", single(425), []float64{1, 3}},
	{"bg", single(425), oneFour},
	{"br", single(425), oneFour},
	{"ch", single(425), oneFour},
	{"cl", single(400), []float64{1, 3}},
	{"cn", single(450), oneFour},
	{"cz", single(425), oneFour},
	{"de", single(425), oneFour},
	{"dk", single(425), oneFour},
	{"ee", single(425), oneFour},
	{"es", single(425), []float64{1.5, 3}},
	{"fi", single(425), oneFour},
	{"fr", single(440), []float64{1.5, 3.5}},
	{"gr", single(425), oneFour},
	{"hu", single(425), []float64{1.2, 3.7}},
	{"il", single(400), []float64{1, 3}},
	{"in", am(400, 25, 0.9), double},
	{"it", single(425), oneFour},
	{"jp", am(400, 16, 0.9), []float64{1, 2}},
	{"lt", single(425), []float64{0.8, 3.2}},
	{"mx", single(425), oneFour},
	{"my", single(425), double},
	{"nl", single(425), oneFour},
	{"no", single(425), oneFour},
	{"nz", dual(400, 450), double},
	{"ph", dual(425, 480), oneFour},
	{"pl", single(425), oneFour},
	{"pt", single(425), []float64{1, 5}},
	{"ru", single(425), oneFour},
	{"se", single(425), []float64{1, 5}},
	{"sg", am(425, 24, 1), double},
	{"th", single(400), oneFour},
	{"tw", dual(440, 480), []float64{1, 2}},
	{"uk", dual(400, 450), double},
	{"us", dual(440, 480), []float64{2, 4}},
	{"us-old", am(420, 40, 0.9), []float64{2, 4}},
	{"ve", single(425), oneFour},
	{"za", am(400, 33, 0.9), double},
}

// ringPeak is the peak of a -13 dBm0 sine (0 dBm0: 22,700 in 16-bit).
var ringPeak = 22700 * math.Pow(10, -13.0/20)

// renderRingback reads n samples of Ringback(code) in 20 ms frames.
func renderRingback(code string, n int) []int16 {
	src := Ringback(code)
	out := make([]int16, 0, n+FrameSamples)
	frame := make([]int16, FrameSamples)
	for len(out) < n {
		if k, err := src.Read(frame); k != FrameSamples || err != nil {
			panic("ringback: short read")
		}
		out = append(out, frame...)
	}
	return out[:n]
}

func seconds(s float64) int { return int(math.Round(s * SampleRate)) }

func period(cadence []float64) int {
	n := 0
	for _, s := range cadence {
		n += seconds(s)
	}
	return n
}

func TestRingbackCountries(t *testing.T) {
	got := RingbackCountries()
	want := slices.Sorted(slices.Values(twilioRingTones))
	if !slices.Equal(got, want) {
		t.Fatalf("RingbackCountries() = %v\nwant Twilio's %v", got, want)
	}
	var wantCodes []string
	for _, w := range ringWant {
		wantCodes = append(wantCodes, w.code)
	}
	if !slices.Equal(slices.Sorted(slices.Values(wantCodes)), want) {
		t.Fatalf("the test table covers %v, want %v", wantCodes, want)
	}
	for _, code := range twilioRingTones {
		rt, ok := ringTones[code]
		switch {
		case !ok:
			t.Errorf("%s: no entry", code)
		case len(rt.cadence) == 0 || len(rt.cadence)%2 != 0:
			t.Errorf("%s: cadence %v is not on/off pairs", code, rt.cadence)
		case len(rt.freqs) == 0 || len(rt.freqs) > 2 || rt.mod > 0 && len(rt.freqs) != 1:
			t.Errorf("%s: %d frequencies (mod %d)", code, len(rt.freqs), rt.mod)
		case rt.mod > 0 && (rt.depth <= 0 || rt.depth > 1):
			t.Errorf("%s: modulation depth %v", code, rt.depth)
		}
		for _, ms := range rt.cadence {
			if ms <= 2*ringRamp*1000/SampleRate {
				t.Errorf("%s: cadence %v has a step too short for its ramps", code, rt.cadence)
			}
		}
	}
	// A copy: changing it changes nothing.
	got[0] = "zz"
	if RingbackCountries()[0] == "zz" {
		t.Error("RingbackCountries returns the package's slice")
	}
}

// TestRingbackCadence measures the on/off pattern from the energy of
// each 20 ms frame over two periods.
func TestRingbackCadence(t *testing.T) {
	for _, w := range ringWant {
		t.Run(w.code, func(t *testing.T) {
			x := renderRingback(w.code, 2*period(w.cadence)+10*FrameSamples)
			type run struct {
				on     bool
				frames int
			}
			var runs []run
			for f := 0; f+FrameSamples <= len(x); f += FrameSamples {
				var e float64
				for _, v := range x[f : f+FrameSamples] {
					e += float64(v) * float64(v)
				}
				on := e/FrameSamples > 1e4 // rms 100, about -47 dBm0
				if len(runs) > 0 && runs[len(runs)-1].on == on {
					runs[len(runs)-1].frames++
				} else {
					runs = append(runs, run{on, 1})
				}
			}
			want := 2 * len(w.cadence)
			if len(runs) < want+1 {
				t.Fatalf("%d on/off runs in two periods, want %d: %v", len(runs), want, runs)
			}
			for i := range want {
				wantOn := i%2 == 0
				wantFrames := seconds(w.cadence[i%len(w.cadence)]) / FrameSamples
				r := runs[i]
				if r.on != wantOn || r.frames < wantFrames-1 || r.frames > wantFrames+1 {
					t.Errorf("run %d: on=%v for %d frames, want on=%v for %d (±1)",
						i, r.on, r.frames, wantOn, wantFrames)
				}
			}
			if !runs[want].on {
				t.Error("the third period does not start with a burst")
			}
		})
	}
}

// hannAmp estimates the peak amplitude of the sine of frequency f in x
// with a Hann-windowed DFT evaluated at f.
func hannAmp(x []int16, f float64) float64 {
	var re, im, wsum float64
	n := float64(len(x))
	for i, v := range x {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*(float64(i)+0.5)/n)
		ph := 2 * math.Pi * f * float64(i) / SampleRate
		re += w * float64(v) * math.Cos(ph)
		im -= w * float64(v) * math.Sin(ph)
		wsum += w
	}
	return 2 * math.Hypot(re, im) / wsum
}

// TestRingbackFrequencies checks the components of the first burst: each
// expected frequency at its level within 0.5 dB, and together they carry
// the burst's energy (nothing else sounds).
func TestRingbackFrequencies(t *testing.T) {
	for _, w := range ringWant {
		t.Run(w.code, func(t *testing.T) {
			on := seconds(w.cadence[0])
			x := renderRingback(w.code, on)
			x = x[2*ringRamp : on-2*ringRamp] // steady part of the burst
			var sum float64
			for _, tone := range w.tones {
				a := hannAmp(x, tone.freq)
				want := tone.rel * ringPeak
				if db := 20 * math.Log10(a/want); math.Abs(db) > 0.5 {
					t.Errorf("%g Hz: amplitude %.0f, want %.0f (%+.2f dB)", tone.freq, a, want, db)
				}
				sum += a * a / 2
			}
			var ms float64
			for _, v := range x {
				ms += float64(v) * float64(v)
			}
			ms /= float64(len(x))
			if share := sum / ms; share < 0.95 || share > 1.05 {
				t.Errorf("the expected tones carry %.1f%% of the energy, want 100%%", 100*share)
			}
			// A frequency that should not be there is not.
			if a := hannAmp(x, 1000); a > ringPeak/100 {
				t.Errorf("1000 Hz at amplitude %.0f", a)
			}
		})
	}
}

func TestRingbackUnknownIsUS(t *testing.T) {
	n := period([]float64{2, 4}) + FrameSamples
	us := renderRingback("us", n)
	for _, code := range []string{"", "xx", "gb", "usa", "us-new"} {
		if got := renderRingback(code, n); !slices.Equal(got, us) {
			t.Errorf("Ringback(%q) does not play us", code)
		}
	}
	uk := renderRingback("uk", n)
	if got := renderRingback(" UK ", n); !slices.Equal(got, uk) {
		t.Error(`Ringback(" UK ") does not play uk`)
	}
	if slices.Equal(uk, us) {
		t.Error("uk plays us")
	}
}

func TestRingbackReadAllocs(t *testing.T) {
	for _, code := range twilioRingTones {
		src := Ringback(code)
		frame := make([]int16, FrameSamples)
		if a := testing.AllocsPerRun(500, func() { _, _ = src.Read(frame) }); a != 0 {
			t.Errorf("%s: %v allocations per Read", code, a)
		}
	}
}

// TestRingbackLevels checks over a whole period, wrap included, that no
// sample reaches the int16 limits (nothing was clipped) and that no step
// between samples is larger than the tones themselves allow (no click at
// frame or burst edges).
func TestRingbackLevels(t *testing.T) {
	for _, w := range ringWant {
		t.Run(w.code, func(t *testing.T) {
			x := renderRingback(w.code, period(w.cadence)+seconds(w.cadence[0]))
			var peak, slew float64
			for _, tone := range w.tones {
				a := tone.rel * ringPeak
				peak += a
				slew += a * (2*math.Pi*tone.freq/SampleRate + math.Pi/(2*ringRamp))
			}
			var maxAbs, maxStep float64
			for i, v := range x {
				if v == math.MaxInt16 || v == math.MinInt16 {
					t.Fatalf("sample %d is %d: clipped", i, v)
				}
				maxAbs = max(maxAbs, math.Abs(float64(v)))
				if i > 0 {
					maxStep = max(maxStep, math.Abs(float64(v)-float64(x[i-1])))
				}
			}
			if maxAbs > peak+1 {
				t.Errorf("peak %.0f, above the sum of the tones %.0f", maxAbs, peak)
			}
			if maxAbs < 0.9*peak && len(w.tones) == 1 {
				t.Errorf("peak %.0f, want about %.0f", maxAbs, peak)
			}
			if maxStep > slew+2 {
				t.Errorf("a step of %.0f between samples, more than the %.0f the tones allow: a click", maxStep, slew)
			}
			// Bursts fade in and out: their first and last millisecond
			// stay under a tenth of the peak.
			start := 0
			for i, s := range w.cadence {
				end := start + seconds(s)
				if i%2 == 0 {
					for _, edge := range [][]int16{x[start : start+8], x[end-8 : end]} {
						for _, v := range edge {
							if math.Abs(float64(v)) > peak/10 {
								t.Fatalf("burst %d (samples %d-%d) starts or ends at full level: %d", i/2, start, end, v)
							}
						}
					}
				}
				start = end
			}
		})
	}
}

// TestRingbackFrameSizes reads with odd frame sizes: the samples are the
// same as with 20 ms frames, so the tone is continuous across frames.
func TestRingbackFrameSizes(t *testing.T) {
	for _, code := range []string{"us", "uk", "jp", "hu", "sg"} {
		n := 3 * SampleRate * 4
		want := renderRingback(code, n)
		src := Ringback(code)
		var got []int16
		sizes := []int{1, 7, 160, 333, 1000, 8001, 59}
		for i := 0; len(got) < n; i++ {
			frame := make([]int16, sizes[i%len(sizes)])
			if k, err := src.Read(frame); k != len(frame) || err != nil {
				t.Fatalf("%s: Read = %d, %v", code, k, err)
			}
			got = append(got, frame...)
		}
		if !slices.Equal(got[:n], want) {
			t.Errorf("%s: odd frame sizes give different samples", code)
		}
	}
}

func BenchmarkRingbackRead(b *testing.B) {
	for _, code := range []string{"us", "de", "jp"} {
		b.Run(code, func(b *testing.B) {
			src := Ringback(code)
			frame := make([]int16, FrameSamples)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = src.Read(frame)
			}
		})
	}
}
