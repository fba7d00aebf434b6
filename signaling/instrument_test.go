package signaling

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/media/stt"
)

type fetchFunc func(ctx context.Context, r fetcher.Request) (*fetcher.Response, error)

func (f fetchFunc) Fetch(ctx context.Context, r fetcher.Request) (*fetcher.Response, error) {
	return f(ctx, r)
}

type recognizeFunc func(ctx context.Context, r stt.Request) (stt.Result, error)

func (f recognizeFunc) Recognize(ctx context.Context, r stt.Request) (stt.Result, error) {
	return f(ctx, r)
}

// value reads a counter's value, or a histogram's sample count, from reg;
// -1 when the series does not exist.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

func TestMeteredFetcher(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	fail := m.Fetcher("document", fetchFunc(func(ctx context.Context, r fetcher.Request) (*fetcher.Response, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if r.URL == "ok" {
			return &fetcher.Response{Status: 200}, nil
		}
		return nil, &fetcher.Error{Code: fetcher.CodeConnection, URL: r.URL, Err: errors.New("refused")}
	}))
	ctx := context.Background()
	_, _ = fail.Fetch(ctx, fetcher.Request{URL: "ok"})
	_, _ = fail.Fetch(ctx, fetcher.Request{URL: "down"})
	_, _ = fail.Fetch(ctx, fetcher.Request{URL: "down"})
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = fail.Fetch(canceled, fetcher.Request{URL: "down"}) // the call ended: not the app's fault
	if got := value(t, reg, "texml_fetch_errors_total", map[string]string{"kind": "document", "code": "11205"}); got != 2 {
		t.Errorf("errors{11205} = %v, want 2", got)
	}
	if got := value(t, reg, "texml_fetch_duration_seconds", map[string]string{"kind": "document"}); got != 3 {
		t.Errorf("%v fetches timed, want 3 (the canceled one is not the app's latency)", got)
	}
	var nilMetrics *Metrics
	f := fetchFunc(nil)
	if got := nilMetrics.Fetcher("document", f); got == nil {
		t.Error("nil Metrics lost the fetcher")
	}
}

func TestMeteredRecognizer(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	if m.Recognizer(nil) != nil {
		t.Fatal("no recognizer must stay no recognizer: Gather then listens for DTMF only")
	}
	r := m.Recognizer(recognizeFunc(func(_ context.Context, r stt.Request) (stt.Result, error) {
		switch len(r.Samples) {
		case 0:
			return stt.Result{}, nil
		case 1:
			return stt.Result{}, errors.New("decoder crashed")
		}
		return stt.Result{Text: "sales", Confidence: 0.9}, nil
	}))
	for _, n := range []int{0, 1, 2, 2} {
		_, _ = r.Recognize(context.Background(), stt.Request{Samples: make([]int16, n)})
	}
	for result, want := range map[string]float64{"recognized": 2, "empty": 1, "error": 1} {
		if got := value(t, reg, "texml_stt_results_total", map[string]string{"result": result}); got != want {
			t.Errorf("results{%s} = %v, want %v", result, got, want)
		}
	}
}
