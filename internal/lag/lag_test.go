package lag

import (
	"math"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	buckets := []float64{math.Inf(-1), 0.001, 0.01, 0.1, 1}
	last := []uint64{5, 5, 5, 5}
	tests := []struct {
		name   string
		counts []uint64
		q      float64
		want   float64
	}{
		{"no new waits", []uint64{5, 5, 5, 5}, 0.99, 0},
		{"all short", []uint64{105, 5, 5, 5}, 0.99, 0},
		{"one slow in a hundred", []uint64{103, 5, 5, 7}, 0.99, 0.1},
		{"one slow in a thousand", []uint64{1004, 5, 5, 6}, 0.99, 0},
		{"most in the middle", []uint64{5, 5, 105, 5}, 0.99, 0.01},
	}
	for _, tt := range tests {
		if got := quantile(tt.counts, last, buckets, tt.q); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestProbe: an idle process has (almost) no lag, and Close ends the
// probe.
func TestProbe(t *testing.T) {
	p := Start(10 * time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	if l := p.Lag(); l > 50*time.Millisecond {
		t.Errorf("lag of an idle test process: %v", l)
	}
	p.Close()
	p.Close()
}
