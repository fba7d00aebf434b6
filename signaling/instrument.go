package signaling

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media/audio"
	"github.com/texml/texml/media/stt"
	"github.com/texml/texml/media/tts"
)

// The decorators below add metrics around the engines a call uses without
// those packages knowing about Prometheus: recording and measuring are
// decorators. On a nil *Metrics they return what they were given.

// Fetcher returns f with its latency and failures recorded under kind
// ("document", "audio", "callback": a fixed, bounded set).
func (m *Metrics) Fetcher(kind string, f interpreter.Fetcher) interpreter.Fetcher {
	if m == nil {
		return f
	}
	return &meteredFetcher{next: f, time: m.fetchTime.WithLabelValues(kind), errs: m.fetchErrors, kind: kind}
}

type meteredFetcher struct {
	next interpreter.Fetcher
	time prometheus.Observer
	errs *prometheus.CounterVec
	kind string
}

func (f *meteredFetcher) Fetch(ctx context.Context, r fetcher.Request) (*fetcher.Response, error) {
	began := time.Now()
	res, err := f.next.Fetch(ctx, r)
	if err != nil && ctx.Err() != nil {
		return res, err // the call ended: not the app's latency or failure
	}
	f.time.Observe(time.Since(began).Seconds())
	if err != nil {
		code := "0" // not a fetcher.Error: no Twilio code applies
		var fe *fetcher.Error
		if errors.As(err, &fe) {
			code = strconv.Itoa(fe.Code)
		}
		f.errs.WithLabelValues(f.kind, code).Inc()
	}
	return res, err
}

// Synthesizer returns s with the time of each synthesis recorded. Put it
// under the TTS cache, so that it measures the engine.
func (m *Metrics) Synthesizer(s tts.Synthesizer) tts.Synthesizer {
	if m == nil {
		return s
	}
	return &meteredSynth{next: s, time: m.ttsTime}
}

type meteredSynth struct {
	next tts.Synthesizer
	time prometheus.Histogram
}

func (s *meteredSynth) Synthesize(ctx context.Context, r tts.Request) ([]int16, error) {
	began := time.Now()
	pcm, err := s.next.Synthesize(ctx, r)
	if err == nil {
		s.time.Observe(time.Since(began).Seconds())
	}
	return pcm, err
}

// Recognizer returns r with the time and result of each recognition
// recorded; a nil r stays nil (no recognizer configured).
func (m *Metrics) Recognizer(r stt.Recognizer) stt.Recognizer {
	if m == nil || r == nil {
		return r
	}
	return &meteredRecognizer{next: r, time: m.sttTime, results: m.sttResults}
}

type meteredRecognizer struct {
	next    stt.Recognizer
	time    prometheus.Histogram
	results *prometheus.CounterVec
}

func (r *meteredRecognizer) Recognize(ctx context.Context, req stt.Request) (stt.Result, error) {
	began := time.Now()
	res, err := r.next.Recognize(ctx, req)
	switch {
	case err != nil && ctx.Err() != nil:
		return res, err // the caller hung up mid-recognition
	case err != nil:
		r.results.WithLabelValues("error").Inc()
	case res.Text == "":
		r.results.WithLabelValues("empty").Inc()
	default:
		r.results.WithLabelValues("recognized").Inc()
	}
	r.time.Observe(time.Since(began).Seconds())
	return res, err
}

// WatchCaches exports the hit and miss counts of the TTS and audio
// caches as texml_cache_hits_total and texml_cache_misses_total, labeled
// by cache. The counts are read from the caches' own Stats when scraped,
// so the hot path pays nothing. Either cache may be nil. Call it once:
// a second registration of the same metrics panics.
func (m *Metrics) WatchCaches(speech *tts.Cache, sounds *audio.Cache) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&cacheCollector{speech: speech, sounds: sounds})
}

var (
	cacheHitsDesc = prometheus.NewDesc("texml_cache_hits_total",
		"Prompts served from a cache without running the engine or fetching, by cache (tts, audio).", []string{"cache"}, nil)
	cacheMissesDesc = prometheus.NewDesc("texml_cache_misses_total",
		"Prompts that needed the engine or a full fetch, by cache (tts, audio).", []string{"cache"}, nil)
)

type cacheCollector struct {
	speech *tts.Cache
	sounds *audio.Cache
}

// Describe implements prometheus.Collector.
func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cacheHitsDesc
	ch <- cacheMissesDesc
}

// Collect implements prometheus.Collector.
func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	emit := func(name string, hits, misses int64) {
		ch <- prometheus.MustNewConstMetric(cacheHitsDesc, prometheus.CounterValue, float64(hits), name)
		ch <- prometheus.MustNewConstMetric(cacheMissesDesc, prometheus.CounterValue, float64(misses), name)
	}
	if c.speech != nil {
		st := c.speech.Stats()
		emit("tts", st.Hits, st.Misses)
	}
	if c.sounds != nil {
		st := c.sounds.Stats()
		emit("audio", st.Hits, st.Misses)
	}
}

// Interface guards.
var (
	_ interpreter.Fetcher  = (*meteredFetcher)(nil)
	_ tts.Synthesizer      = (*meteredSynth)(nil)
	_ stt.Recognizer       = (*meteredRecognizer)(nil)
	_ prometheus.Collector = (*cacheCollector)(nil)
)
