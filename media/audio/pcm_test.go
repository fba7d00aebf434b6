package audio

import (
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/texml/texml/media"
)

// drain reads src to EOF in engine frames, failing past limit frames.
func drain(t *testing.T, src media.Source, limit int) []int16 {
	t.Helper()
	var out []int16
	frame := make([]int16, media.FrameSamples)
	for range limit {
		for i := range frame {
			frame[i] = 12345 // must be overwritten, or zeroed after a short read
		}
		n, err := src.Read(frame)
		out = append(out, frame[:n]...)
		if err == io.EOF {
			for _, v := range frame[n:] {
				if v != 0 {
					t.Fatal("short read left stale samples in the frame")
				}
			}
			return out
		}
		if err != nil || n != len(frame) {
			t.Fatalf("read %d, %v", n, err)
		}
	}
	t.Fatalf("no EOF after %d frames", limit)
	return nil
}

func TestPCMSource(t *testing.T) {
	p := &PCM{Samples: make([]int16, 400)}
	for i := range p.Samples {
		p.Samples[i] = int16(i + 1)
	}
	if p.Duration() != 50*time.Millisecond {
		t.Errorf("duration %v", p.Duration())
	}
	a, b := p.Source(), p.Source()
	got := drain(t, a, 10)
	if len(got) != 400 || got[0] != 1 || got[399] != 400 {
		t.Fatalf("got %d samples", len(got))
	}
	// Readers are independent; a finished one stays finished.
	if got := drain(t, b, 10); len(got) != 400 {
		t.Errorf("second reader got %d", len(got))
	}
	if n, err := a.Read(make([]int16, 160)); n != 0 || err != io.EOF {
		t.Errorf("after EOF: %d %v", n, err)
	}
	// Exactly one frame: a full read, then EOF with nothing.
	one := &PCM{Samples: make([]int16, media.FrameSamples)}
	if got := drain(t, one.Source(), 3); len(got) != media.FrameSamples {
		t.Errorf("one frame: %d", len(got))
	}
	var nilPCM *PCM
	if nilPCM.Duration() != 0 || len(drain(t, Loop(nilPCM, 0), 1)) != 0 {
		t.Error("nil PCM")
	}
}

func TestLoop(t *testing.T) {
	p := &PCM{Samples: []int16{1, 2, 3, 4, 5, 6, 7}}
	got := drain(t, Loop(p, 3), 10)
	if len(got) != 21 || got[6] != 7 || got[7] != 1 || got[20] != 7 {
		t.Errorf("loop 3: %v", got)
	}
	if got := drain(t, Loop(p, -2), 10); len(got) != 7 {
		t.Errorf("negative loops once: %d", len(got))
	}
	// Forever: no gap at the joins, ever.
	src := Loop(p, 0)
	frame := make([]int16, media.FrameSamples)
	next := int16(1)
	for range 1000 {
		n, err := src.Read(frame)
		if n != len(frame) || err != nil {
			t.Fatalf("forever ended: %d %v", n, err)
		}
		for _, v := range frame {
			if v != next {
				t.Fatalf("sample %d, want %d", v, next)
			}
			next = next%7 + 1
		}
	}
	// An empty PCM looping forever ends at once instead of spinning.
	if n, err := Loop(&PCM{}, 0).Read(frame); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("empty forever: %d %v", n, err)
	}
}

func TestTone(t *testing.T) {
	beep := Tone([]float64{1000}, 500*time.Millisecond, 0.5)
	if beep.Duration() != 500*time.Millisecond {
		t.Errorf("duration %v", beep.Duration())
	}
	if l := level(beep.Samples); math.Abs(l-half) > 0.1 {
		t.Errorf("level %.2f dB", l)
	}
	if zc := zeroCrossings(beep.Samples); zc < 798 || zc > 802 {
		t.Errorf("%d zero crossings", zc)
	}
	// Faded in and out, so no click at either end.
	if beep.Samples[0] != 0 || math.Abs(float64(beep.Samples[len(beep.Samples)-1])) > 200 {
		t.Errorf("ends %d %d", beep.Samples[0], beep.Samples[len(beep.Samples)-1])
	}
	// DTMF "1" at full scale: the sum peaks near, never past, full scale.
	dtmf := Tone([]float64{697, 1209}, 100*time.Millisecond, 1)
	var peak int
	for _, v := range dtmf.Samples {
		peak = max(peak, int(math.Abs(float64(v))))
	}
	if peak < 30000 || peak > 32767 {
		t.Errorf("DTMF peak %d", peak)
	}
	if s := Tone(nil, time.Second, 1); len(s.Samples) != 8000 || energy(s.Samples) != 0 {
		t.Error("no frequencies is silence")
	}
	if s := Tone([]float64{440}, -time.Second, 1); len(s.Samples) != 0 {
		t.Error("negative duration")
	}
	if s := Tone([]float64{440}, 10*time.Millisecond, math.NaN()); energy(s.Samples) != 0 {
		t.Error("NaN amplitude")
	}
	if s := Silence(20 * time.Millisecond); len(s.Samples) != 160 || energy(s.Samples) != 0 {
		t.Error("silence")
	}
}
