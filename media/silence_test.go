package media

import (
	"errors"
	"io"
	"testing"
	"time"
)

func TestSilence(t *testing.T) {
	tests := []struct {
		d      time.Duration
		frames int // full frames before the end
		last   int // samples in the frame that carries io.EOF
	}{
		{d: 0, frames: 0, last: 0},
		{d: 20 * time.Millisecond, frames: 1, last: 0},
		{d: 50 * time.Millisecond, frames: 2, last: 80},
		{d: time.Second, frames: 50, last: 0},
	}
	for _, tt := range tests {
		src := Silence(tt.d)
		frame := make([]int16, FrameSamples)
		full := 0
		for {
			for i := range frame {
				frame[i] = 7 // what was there before must be overwritten
			}
			n, err := src.Read(frame)
			for _, v := range frame[:n] {
				if v != 0 {
					t.Fatalf("%v: non-zero sample", tt.d)
				}
			}
			if errors.Is(err, io.EOF) {
				if n != tt.last || full != tt.frames {
					t.Errorf("%v: %d full frames and %d samples at the end, want %d and %d", tt.d, full, n, tt.frames, tt.last)
				}
				break
			}
			full++
		}
	}
	if allocs := testing.AllocsPerRun(100, func() {
		src := Silence(time.Minute)
		frame := make([]int16, FrameSamples)
		_, _ = src.Read(frame)
	}); allocs > 2 {
		t.Errorf("%v allocations for a minute of silence", allocs)
	}
}
