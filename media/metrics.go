package media

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the RTP counters of every session that shares it (usually
// one per process). A nil *Metrics is valid and records nothing.
type Metrics struct {
	sent     prometheus.Counter
	received prometheus.Counter
	lost     prometheus.Counter
	late     prometheus.Counter
	dropped  prometheus.Counter
	sendGap  prometheus.Histogram
}

// sendGapBuckets resolve the interval around the 20 ms packet time
// finely, since the target is 20 ± 5 ms at p99, and keep a
// few coarse buckets for stalls.
var sendGapBuckets = []float64{
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
		sendGap: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "texml",
			Name:      "rtp_send_gap_seconds",
			Help:      "Time between consecutive RTP packets sent by a session.",
			Buckets:   sendGapBuckets,
		})),
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
		m.sendGap.Observe(gap.Seconds())
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
