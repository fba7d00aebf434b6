// Package lag measures how long the process's goroutines wait to run
// once they are runnable: the one figure that says a Go server has more
// work than CPU. A Probe reads the runtime's histogram of these waits
// (runtime/metrics, /sched/latencies:seconds) at a fixed interval and
// keeps a high percentile of the waits of each interval.
//
// A probe of its own (a goroutine that sleeps and measures by how much it
// overslept) would not do: a goroutine woken by a timer goes to the head
// of its processor's run queue, while one woken by the network (the SIP
// reader) waits behind every runnable goroutine. It is the latter that
// overflows a socket's buffer when the process falls behind.
package lag

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Quantile is the share of an interval's waits that Lag is at or above:
// most goroutines of a busy server run at once, and the ones that wait
// are the ones that matter.
const Quantile = 0.99

const metric = "/sched/latencies:seconds"

// Probe measures scheduling lag until Close. Its methods are safe for
// concurrent use.
type Probe struct {
	every time.Duration
	lag   atomic.Int64 // nanoseconds
	stop  chan struct{}
	once  sync.Once
	done  chan struct{}
}

// Start starts a probe that reads the runtime's histogram every interval
// (at least 10 ms).
func Start(interval time.Duration) *Probe {
	p := &Probe{every: max(interval, 10*time.Millisecond), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *Probe) run() {
	defer close(p.done)
	sample := []metrics.Sample{{Name: metric}}
	var last []uint64
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindFloat64Histogram {
			return // not this runtime: Lag stays 0
		}
		h := sample[0].Value.Float64Histogram()
		if last != nil {
			p.lag.Store(int64(quantile(h.Counts, last, h.Buckets, Quantile) * float64(time.Second)))
		}
		last = append(last[:0], h.Counts...)
	}
}

// quantile returns the q-quantile of the waits counted since last: the
// lower bound of the bucket it falls in, so that an idle interval (no
// waits, or all under a microsecond) reads 0.
func quantile(counts, last []uint64, buckets []float64, q float64) float64 {
	var n uint64
	for i, c := range counts {
		if i < len(last) {
			c -= last[i]
		}
		n += c
	}
	if n == 0 {
		return 0
	}
	// The rank of the q-quantile counted from the top.
	above := uint64(float64(n) * (1 - q))
	for i := len(counts) - 1; i >= 0; i-- {
		c := counts[i]
		if i < len(last) {
			c -= last[i]
		}
		if c > above {
			return max(buckets[i], 0) // buckets[0] may be -Inf
		}
		above -= c
	}
	return 0
}

// Lag is the Quantile of the goroutines' waits to run in the last
// interval.
func (p *Probe) Lag() time.Duration {
	return time.Duration(p.lag.Load())
}

// Close stops the probe.
func (p *Probe) Close() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}
