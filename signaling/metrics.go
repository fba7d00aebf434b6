package signaling

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the call-level Prometheus metrics. A nil *Metrics records
// nothing, so tests need not build one.
type Metrics struct {
	active   prometheus.Gauge
	total    *prometheus.CounterVec
	refused  *prometheus.CounterVec
	duration prometheus.Histogram
}

// NewMetrics registers the call metrics with reg (never the global
// registry: the process wires one registry into every package).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "texml", Name: "calls_active",
			Help: "Calls in progress."}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "texml", Name: "calls_total",
			Help: "Calls ended, by final CallStatus."}, []string{"status"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "texml", Name: "invites_rejected_total",
			Help: "INVITEs refused before a call started, by SIP response code."}, []string{"code"}),
		// Calls last from seconds to hours.
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "texml", Name: "call_duration_seconds",
			Help: "Call length from INVITE to end.", Buckets: prometheus.ExponentialBuckets(1, 2, 15)}),
	}
	reg.MustRegister(m.active, m.total, m.refused, m.duration)
	return m
}

func (m *Metrics) started() {
	if m != nil {
		m.active.Inc()
	}
}

func (m *Metrics) ended(status string, d time.Duration) {
	if m != nil {
		m.active.Dec()
		m.total.WithLabelValues(status).Inc()
		m.duration.Observe(d.Seconds())
	}
}

func (m *Metrics) rejected(code string) {
	if m != nil {
		m.refused.WithLabelValues(code).Inc()
	}
}
