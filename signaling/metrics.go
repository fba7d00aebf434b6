package signaling

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the call-level Prometheus metrics: calls, verb
// durations, fetches, speech synthesis and recognition. RTP counters live
// in media.Metrics. A nil *Metrics records nothing, so tests need not
// build one.
type Metrics struct {
	reg      prometheus.Registerer
	active   prometheus.Gauge
	total    *prometheus.CounterVec
	refused  *prometheus.CounterVec
	duration prometheus.Histogram
	verbs    *prometheus.HistogramVec

	fetchTime   *prometheus.HistogramVec
	fetchErrors *prometheus.CounterVec
	ttsTime     prometheus.Histogram
	sttTime     prometheus.Histogram
	sttResults  *prometheus.CounterVec

	sttStreams       prometheus.Gauge
	sttStreamsEnded  *prometheus.CounterVec
	sttStreamDropped prometheus.Counter

	sipDropped *prometheus.CounterVec
}

// Buckets, in seconds.
var (
	// verbBuckets span a Redirect (no time), a Say (seconds) and a Dial
	// or Record (minutes).
	verbBuckets = []float64{0.01, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900, 3600}
	// fetchBuckets: an app on the LAN answers in milliseconds, a slow
	// one in seconds; the fetcher gives up after 15 s by default.
	fetchBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15}
	// engineBuckets: espeak-ng takes tens of milliseconds for a short
	// prompt, pocketsphinx about 25 ms with hints and 600 ms without.
	engineBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10}
)

// NewMetrics registers the call metrics with reg (never the global
// registry: the process wires one registry into every package).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		active: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "texml", Name: "calls_active",
			Help: "Calls in progress."}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "texml", Name: "calls_total",
			Help: "Calls ended, by final CallStatus."}, []string{"status"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "texml", Name: "invites_rejected_total",
			Help: "INVITEs refused before a call started, by SIP response code."}, []string{"code"}),
		// Calls last from seconds to hours.
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "texml", Name: "call_duration_seconds",
			Help: "Call length from INVITE to end.", Buckets: prometheus.ExponentialBuckets(1, 2, 15)}),
		verbs: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "texml", Name: "verb_duration_seconds",
			Help: "How long each verb ran, by verb name.", Buckets: verbBuckets}, []string{"verb"}),
		fetchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "texml", Name: "fetch_duration_seconds",
			Help: "Fetch latency, by kind (document, audio, callback), failures included.", Buckets: fetchBuckets},
			[]string{"kind"}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "texml", Name: "fetch_errors_total",
			Help: "Failed fetches, by kind and Twilio error code."}, []string{"kind", "code"}),
		ttsTime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "texml", Name: "tts_synthesis_seconds",
			Help: "Time the speech engine took per prompt (cache misses only).", Buckets: engineBuckets}),
		sttTime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "texml", Name: "stt_recognition_seconds",
			Help: "Time the recognizer took per utterance.", Buckets: engineBuckets}),
		sttResults: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "texml", Name: "stt_results_total",
			Help: "Recognitions, by result: recognized, empty or error."}, []string{"result"}),
		sttStreams: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "texml", Name: "stt_streams_active",
			Help: "Streaming recognizer (--stt-url) streams open."}),
		sttStreamsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "texml", Name: "stt_streams_total",
			Help: "Streaming recognizer streams, by how they ended: ok, provider_error (the provider refused or broke " +
				"the protocol), closed (the provider or the connection ended it early), open_error (not opened)."},
			[]string{"result"}),
		sttStreamDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "texml", Name: "stt_stream_frames_dropped_total",
			Help: "20 ms frames a streaming recognizer did not take in time, dropped rather than delaying the call."}),
		sipDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "texml", Name: "sip_udp_send_dropped_total",
			Help: "SIP datagrams not sent, by reason: queue_full (the SIP socket's writer was 4,096 datagrams behind; SIP retransmits) or refused (by the kernel: no route, a firewall)."},
			[]string{"reason"}),
	}
	reg.MustRegister(m.active, m.total, m.refused, m.duration, m.verbs,
		m.fetchTime, m.fetchErrors, m.ttsTime, m.sttTime, m.sttResults,
		m.sttStreams, m.sttStreamsEnded, m.sttStreamDropped, m.sipDropped)
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

// sipDrop counts a SIP datagram not sent (udpout.go); nil-safe, and a
// method value of a nil *Metrics is a valid hook.
func (m *Metrics) sipDrop(reason string) {
	if m != nil {
		m.sipDropped.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) rejected(code string) {
	if m != nil {
		m.refused.WithLabelValues(code).Inc()
	}
}

// verb is the interpreter's Observe hook. Verb names are the fixed set of
// TwiML verbs the parser accepts, so the label stays bounded.
func (m *Metrics) verb(name string, d time.Duration) {
	m.verbs.WithLabelValues(name).Observe(d.Seconds())
}
