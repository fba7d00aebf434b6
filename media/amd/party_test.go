package amd

import (
	"slices"
	"testing"
	"time"
)

func TestPartyDetect(t *testing.T) {
	const ms = time.Millisecond
	s := time.Second
	human := Party{{Kind: Voice, At: 300 * ms, For: 900 * ms}}
	greeting := Party{{Kind: Voice, For: 6 * s}}
	beeping := Party{{Kind: Voice, For: 6 * s}, {Kind: Beep, At: 6300 * ms, For: 500 * ms}}
	tests := []struct {
		name     string
		p        Party
		o        Options
		from     time.Duration
		want     AnsweredBy
		min, max time.Duration
	}{
		{"a short hello is human", human, Options{}, 0, Human, 2400 * ms, 2500 * ms},
		{"a long greeting is machine_start", greeting, Options{}, 0, MachineStart, 2400 * ms, 2500 * ms},
		{"its end is machine_end_silence", greeting, Options{Mode: DetectMessageEnd}, 0, MachineEndSilence, 7200 * ms, 7300 * ms},
		{"a beep ends it", beeping, Options{Mode: DetectMessageEnd}, 0, MachineEndBeep, 6800 * ms, 6900 * ms},
		{"a fax answers with CED", Party{{Kind: FaxTone, For: 3 * s}}, Options{}, 0, Fax, 500 * ms, 600 * ms},
		{"silence is unknown", nil, Options{SilenceTimeout: 3 * s}, 0, Unknown, 3 * s, 3 * s},
		// Detection starts at the answer for a reason: the last 2 s of a
		// greeting sound like a hello.
		{"listening from 4 s into a greeting hears a hello", greeting, Options{}, 4 * s, Human, 3200 * ms, 3300 * ms},
		{"listening late to a beeping machine", beeping, Options{Mode: DetectMessageEnd}, 2 * s, MachineEndBeep, 4800 * ms, 4900 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.p.Detect(tt.o, tt.from)
			if r.AnsweredBy != tt.want || r.Duration < tt.min || r.Duration > tt.max {
				t.Errorf("got %s after %v, want %s after %v-%v", r.AnsweredBy, r.Duration, tt.want, tt.min, tt.max)
			}
		})
	}
}

func TestPartyFillIsStateless(t *testing.T) {
	p := Party{{Kind: Voice, At: 10 * time.Millisecond, For: time.Second}, {Kind: Beep, At: 1100 * time.Millisecond, For: 300 * time.Millisecond}}
	all := p.Samples(2 * time.Second)
	frame := make([]int16, 160)
	for _, off := range []int{0, 37, 160, 7999, 8700, 15840} {
		p.Fill(frame, off)
		if !slices.Equal(frame, all[off:off+160]) {
			t.Errorf("Fill at %d differs from the rendered clip", off)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { p.Fill(frame, 800) }); allocs != 0 {
		t.Errorf("Fill allocates %v times", allocs)
	}
}

// BenchmarkPartyDetect is what a simulated detection costs at most: a
// greeting that never ends, rendered and heard for the whole 30 s
// Timeout (1500 frames).
func BenchmarkPartyDetect(b *testing.B) {
	p := Party{{Kind: Voice, For: time.Minute}}
	o := Options{Mode: DetectMessageEnd, SpeechEndThreshold: 5 * time.Second}
	b.ReportAllocs()
	for b.Loop() {
		if r := p.Detect(o, 0); r.AnsweredBy != MachineEndOther {
			b.Fatalf("got %s", r.AnsweredBy)
		}
	}
}
