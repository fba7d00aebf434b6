package amd

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// Synthetic signals for the unit tests; the espeak-ng labelled set is in
// corpus_test.go.

const frameLen = 160 // 20 ms at 8 kHz

func silence(d time.Duration) []int16 { return make([]int16, samplesOf(d)) }

func samplesOf(d time.Duration) int { return int(d * sampleRate / time.Second) }

// tone is a sine of f Hz at amp (fraction of full scale).
func tone(f float64, d time.Duration, amp float64) []int16 {
	out := make([]int16, samplesOf(d))
	for i := range out {
		out[i] = int16(amp * 32767 * math.Sin(2*math.Pi*f*float64(i)/sampleRate))
	}
	return out
}

// babble stands in for speech: noise whose loudness rises and falls at a
// syllable rate (4 Hz), loud enough for the VAD, with no pure tone.
func babble(d time.Duration, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]int16, samplesOf(d))
	for i := range out {
		env := 0.55 + 0.45*math.Sin(2*math.Pi*4*float64(i)/sampleRate)
		out[i] = int16(r.NormFloat64() * 2500 * env)
	}
	return out
}

func concat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// run feeds x to a detector in 20 ms frames, then silence up to 60 s.
// x is only read, so clips can be shared between goroutines.
func run(o Options, x []int16) (Result, bool) {
	d := New(o)
	quiet := make([]int16, frameLen)
	for i := 0; i < samplesOf(60*time.Second); i += frameLen {
		f := quiet
		if i+frameLen <= len(x) {
			f = x[i : i+frameLen]
		}
		if r, ok := d.Push(f); ok {
			return r, true
		}
	}
	return Result{}, false
}

func TestDetectorSynthetic(t *testing.T) {
	ms := time.Millisecond
	cng := concat(tone(1100, 500*ms, 0.3), silence(3*time.Second), tone(1100, 500*ms, 0.3))
	tests := []struct {
		name     string
		o        Options
		x        []int16
		want     AnsweredBy
		min, max time.Duration // bounds on the decision time
	}{
		{"silence is unknown at SilenceTimeout", Options{}, nil, Unknown, 5 * time.Second, 5 * time.Second},
		{"custom SilenceTimeout", Options{SilenceTimeout: 3 * time.Second}, nil, Unknown, 3 * time.Second, 3 * time.Second},
		{"short utterance is human", Options{}, concat(silence(400*ms), babble(800*ms, 1)), Human, 2300 * ms, 2500 * ms},
		{"long greeting is machine_start", Options{}, concat(silence(400*ms), babble(5*time.Second, 2)), MachineStart, 2700 * ms, 2900 * ms},
		{"greeting then silence", Options{Mode: DetectMessageEnd}, concat(silence(400*ms), babble(4*time.Second, 3)), MachineEndSilence, 5500 * ms, 5700 * ms},
		{"greeting then beep", Options{Mode: DetectMessageEnd}, concat(silence(400*ms), babble(4*time.Second, 4), silence(300*ms), tone(1000, 400*ms, 0.3)), MachineEndBeep, 5100 * ms, 5200 * ms},
		{"1100 Hz beep after a greeting is a beep", Options{Mode: DetectMessageEnd}, concat(babble(3*time.Second, 5), silence(300*ms), tone(1100, 500*ms, 0.3)), MachineEndBeep, 3800 * ms, 3900 * ms},
		{"short greeting and beep, Enable", Options{}, concat(babble(1500*ms, 6), silence(200*ms), tone(850, 300*ms, 0.3)), MachineStart, 2000 * ms, 2100 * ms},
		{"never-ending greeting is machine_end_other", Options{Mode: DetectMessageEnd, Timeout: 3 * time.Second}, babble(10*time.Second, 7), MachineEndOther, 3 * time.Second, 3 * time.Second},
		{"fax CNG", Options{}, concat(silence(time.Second), cng), Fax, 1500 * ms, 1600 * ms},
		{"fax CED", Options{}, concat(silence(200*ms), tone(2100, 3*time.Second, 0.3)), Fax, 700 * ms, 760 * ms},
		{"1 s tone after silence is a beep", Options{Mode: DetectMessageEnd}, concat(silence(300*ms), tone(600, 2*time.Second, 0.3)), MachineEndBeep, 1300 * ms, 1340 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := run(tt.o, tt.x)
			if !ok {
				t.Fatal("no decision in 60 s")
			}
			if r.AnsweredBy != tt.want || r.Duration < tt.min || r.Duration > tt.max {
				t.Errorf("got %s after %v, want %s after %v-%v", r.AnsweredBy, r.Duration, tt.want, tt.min, tt.max)
			}
		})
	}
}

func TestResultSticks(t *testing.T) {
	d := New(Options{SilenceTimeout: 2 * time.Second})
	f := make([]int16, frameLen)
	var first Result
	for i := 0; i < 100; i++ {
		if r, ok := d.Push(f); ok {
			first = r
			break
		}
	}
	for range 10 {
		if r, ok := d.Push(tone(1000, 20*time.Millisecond, 0.5)); !ok || r != first {
			t.Fatalf("after the decision Push gave %+v %v, want %+v", r, ok, first)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, tt := range []struct {
		o  Options
		ok bool
	}{
		{Options{}, true},
		{Options{Timeout: 59 * time.Second, SpeechThreshold: time.Second, SpeechEndThreshold: 500 * time.Millisecond, SilenceTimeout: 10 * time.Second}, true},
		{Options{Timeout: 2 * time.Second}, false},
		{Options{SpeechThreshold: 7 * time.Second}, false},
		{Options{SpeechEndThreshold: 100 * time.Millisecond}, false},
		{Options{SilenceTimeout: 11 * time.Second}, false},
	} {
		err := tt.o.Validate()
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrRange)) {
			t.Errorf("%+v: Validate = %v", tt.o, err)
		}
	}
	for _, tt := range []struct {
		s    string
		want Mode
		ok   bool
	}{{"Enable", Enable, true}, {"DetectMessageEnd", DetectMessageEnd, true}, {"enable", 0, false}, {"", 0, false}} {
		m, err := ParseMode(tt.s)
		if (err == nil) != tt.ok || m != tt.want || (tt.ok && m.String() != tt.s) {
			t.Errorf("ParseMode(%q) = %v, %v", tt.s, m, err)
		}
	}
	d := New(Options{})
	if d.o.Timeout != DefaultTimeout || d.o.SpeechThreshold != DefaultSpeechThreshold ||
		d.o.SpeechEndThreshold != DefaultSpeechEndThreshold || d.o.SilenceTimeout != DefaultSilenceTimeout {
		t.Errorf("defaults: %+v", d.o)
	}
}

func TestPushAllocs(t *testing.T) {
	speech := babble(time.Second, 9)
	beep := tone(1000, time.Second, 0.3)
	d := New(Options{Mode: DetectMessageEnd, Timeout: 59 * time.Second})
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		src := speech
		if i%100 >= 50 {
			src = beep
		}
		off := (i % 50) * frameLen
		d.Push(src[off : off+frameLen])
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame, want 0", allocs)
	}
}

// BenchmarkPush is the CPU cost of one 20 ms frame of speech (the tone
// bank runs on every frame above -45 dBFS, so speech is the worst case).
func BenchmarkPush(b *testing.B) {
	speech := babble(10*time.Second, 10)
	nf := len(speech) / frameLen
	d := New(Options{Mode: DetectMessageEnd, Timeout: 59 * time.Second, SpeechEndThreshold: 5 * time.Second})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, done := d.Push(speech[(i%nf)*frameLen : (i%nf+1)*frameLen]); done {
			d = New(Options{Mode: DetectMessageEnd, Timeout: 59 * time.Second, SpeechEndThreshold: 5 * time.Second})
		}
		i++
	}
}
