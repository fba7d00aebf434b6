package main

import (
	"math"
	"time"
)

// hist is a histogram of gaps in 0.1 ms buckets up to 100 ms; longer gaps
// only count in over and max.
type hist struct {
	b    [1000]uint32
	n    uint64
	over uint64
	max  time.Duration
}

const histRes = 100 * time.Microsecond

// add records one gap.
func (h *hist) add(d time.Duration) {
	h.n++
	h.max = max(h.max, d)
	i := int(d / histRes)
	if i < 0 {
		i = 0
	}
	if i >= len(h.b) {
		h.over++
		return
	}
	h.b[i]++
}

// merge adds o's counts to h.
func (h *hist) merge(o *hist) {
	for i, v := range o.b {
		h.b[i] += v
	}
	h.n += o.n
	h.over += o.over
	h.max = max(h.max, o.max)
}

// quantile returns the upper edge of the bucket holding quantile q.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, v := range h.b {
		seen += uint64(v)
		if seen >= rank {
			return time.Duration(i+1) * histRes
		}
	}
	return h.max
}

// deviation returns the smallest d (to bucket resolution) such that a
// share q of the gaps lies within center ± d; an hour if there are none.
func (h *hist) deviation(center time.Duration, q float64) time.Duration {
	if h.n == 0 {
		return time.Hour
	}
	need := uint64(math.Ceil(q * float64(h.n)))
	for d := time.Duration(0); d < 100*time.Millisecond; d += histRes {
		if h.within(center-d, center+d+histRes) >= need {
			return d
		}
	}
	return h.max - center
}

// within counts the gaps in [lo, hi] (to bucket resolution).
func (h *hist) within(lo, hi time.Duration) uint64 {
	var n uint64
	for i := max(0, int(lo/histRes)); i < int(hi/histRes) && i < len(h.b); i++ {
		n += uint64(h.b[i])
	}
	return n
}
