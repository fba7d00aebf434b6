package media

import (
	"errors"
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the RTP counters of every session that shares it (usually
// one per process). A nil *Metrics is valid and records nothing.
//
// Sessions on a running pacer do not touch them per packet: each pacer
// shard counts its sessions' packets in a tally of its own and adds it
// here once per tick, so that the shards, on different cores, do not
// take turns at the same cache lines hundreds of thousands of times a
// second.
type Metrics struct {
	sent     prometheus.Counter
	received prometheus.Counter
	lost     prometheus.Counter
	late     prometheus.Counter
	dropped  prometheus.Counter
	drained  prometheus.Counter
	caughtUp prometheus.Counter
	sendGap  *gapHistogram

	// The pacer's own timing (PacerOptions.Metrics): how late its shards
	// wake, and how long a tick of their sessions takes. A tick that
	// takes most of the packet time leaves no room for a late wake-up.
	tickLate prometheus.Histogram
	tickWork prometheus.Histogram
}

// tickBuckets cover the packet time finely and a few stalls beyond it.
var tickBuckets = []float64{0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.010, 0.0125, 0.015, 0.020, 0.030, 0.050, 0.100}

// sendGapBuckets resolve the interval around the 20 ms packet time
// finely, since the target is 20 ± 5 ms at p99, and keep a
// few coarse buckets for stalls.
var sendGapBuckets = [...]float64{
	0.005, 0.010, 0.015, 0.017, 0.018, 0.019, 0.020, 0.021, 0.022, 0.023,
	0.025, 0.030, 0.040, 0.060, 0.100, 0.250, 1,
}

// NewMetrics creates the RTP metrics (namespace "texml") and registers
// them with reg, which may be nil (unregistered metrics, for tests).
// Metrics that reg already has (a second NewMetrics on the same registry)
// are shared rather than duplicated.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string) prometheus.Counter {
		return register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "texml", Name: name, Help: help,
		}))
	}
	return &Metrics{
		sent:     counter("rtp_packets_sent_total", "RTP packets sent (audio, silence and DTMF)."),
		received: counter("rtp_packets_received_total", "Valid RTP packets received from latched peers."),
		lost:     counter("rtp_packets_lost_total", "Received RTP sequence numbers that never arrived in time."),
		late:     counter("rtp_packets_late_total", "RTP packets dropped for arriving after their turn, or twice."),
		dropped:  counter("rtp_packets_dropped_total", "Datagrams dropped: not RTP, wrong source, SSRC or payload type."),
		drained:  counter("rtp_relay_drained_total", "20 ms frames a bridge dropped because its ring was full: the speaker ran 80 ms ahead of the hearer's packet times."),
		caughtUp: counter("rtp_relay_caught_up_total", "20 ms frames a bridge sent early, a second packet in one packet time, to work off a backlog that lasted 500 ms."),
		sendGap: register(reg, &gapHistogram{desc: prometheus.NewDesc("texml_rtp_send_gap_seconds",
			"Time between consecutive RTP packets sent by a session.", nil, nil)}),
		tickLate: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "texml", Name: "rtp_pacer_wakeup_late_seconds", Buckets: tickBuckets,
			Help: "How late a pacer shard woke up for its packet time.",
		})),
		tickWork: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "texml", Name: "rtp_pacer_tick_seconds", Buckets: tickBuckets,
			Help: "Time a pacer shard took to receive and send one packet time of its sessions.",
		})),
	}
}

// pacerTick records one shard wake-up: how late it was, and how long the
// work took.
func (m *Metrics) pacerTick(late, work time.Duration) {
	if m == nil {
		return
	}
	m.tickLate.Observe(max(0, late).Seconds())
	m.tickWork.Observe(work.Seconds())
}

// gapHistogram is texml_rtp_send_gap_seconds: a Prometheus histogram over
// sendGapBuckets whose counts can be added many at a time (a shard's
// tally), which prometheus.Histogram cannot.
type gapHistogram struct {
	desc   *prometheus.Desc
	counts [len(sendGapBuckets) + 1]atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumNs  atomic.Int64
}

// Describe implements prometheus.Collector.
func (h *gapHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect implements prometheus.Collector.
func (h *gapHistogram) Collect(ch chan<- prometheus.Metric) {
	buckets := make(map[float64]uint64, len(sendGapBuckets))
	var n uint64
	for i, le := range sendGapBuckets {
		n += h.counts[i].Load()
		buckets[le] = n
	}
	n += h.counts[len(sendGapBuckets)].Load()
	ch <- prometheus.MustNewConstHistogram(h.desc, n, float64(h.sumNs.Load())/1e9, buckets)
}

// gapBucket returns the index of the bucket gap falls in.
func gapBucket(gap time.Duration) int {
	sec := gap.Seconds()
	for i, le := range sendGapBuckets {
		if sec <= le {
			return i
		}
	}
	return len(sendGapBuckets)
}

// tally is a pacer shard's packet counts for one Metrics, owned by the
// shard goroutine and added to the Metrics after each tick.
type tally struct {
	m                                   *Metrics
	sent, received, lost, late, dropped uint64
	drained, caughtUp                   uint64
	gaps                                [len(sendGapBuckets) + 1]uint64
	gapSum                              time.Duration
}

// packetSent counts a sent packet; gap is the time since the session's
// previous one, 0 if there was none.
func (t *tally) packetSent(gap time.Duration) {
	t.sent++
	if gap > 0 {
		t.gaps[gapBucket(gap)]++
		t.gapSum += gap
	}
}

// flush adds the counts to the Metrics and starts over.
func (t *tally) flush() {
	m := t.m
	add := func(c prometheus.Counter, n *uint64) {
		if *n > 0 {
			c.Add(float64(*n))
			*n = 0
		}
	}
	add(m.sent, &t.sent)
	add(m.received, &t.received)
	add(m.lost, &t.lost)
	add(m.late, &t.late)
	add(m.dropped, &t.dropped)
	add(m.drained, &t.drained)
	add(m.caughtUp, &t.caughtUp)
	for i, n := range t.gaps {
		if n > 0 {
			m.sendGap.counts[i].Add(n)
			t.gaps[i] = 0
		}
	}
	if t.gapSum > 0 {
		m.sendGap.sumNs.Add(int64(min(t.gapSum, math.MaxInt64)))
		t.gapSum = 0
	}
}

// register adds c to reg, or returns the equal collector reg already has.
// Any other registration error leaves c working but unexported.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			if existing, ok := dup.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

func (m *Metrics) packetSent(gap time.Duration) {
	if m == nil {
		return
	}
	m.sent.Inc()
	if gap > 0 {
		m.sendGap.counts[gapBucket(gap)].Add(1)
		m.sendGap.sumNs.Add(int64(gap))
	}
}

func (m *Metrics) packetReceived() {
	if m != nil {
		m.received.Inc()
	}
}

func (m *Metrics) packetLost() {
	if m != nil {
		m.lost.Inc()
	}
}

func (m *Metrics) packetLate() {
	if m != nil {
		m.late.Inc()
	}
}

func (m *Metrics) packetDropped() {
	if m != nil {
		m.dropped.Inc()
	}
}
