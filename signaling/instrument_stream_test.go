package signaling

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/texml/texml/media/stt"
)

// fakeStream is a stream that ended with err after dropping dropped
// frames.
type fakeStream struct {
	err     error
	dropped int
	closes  int
}

func (s *fakeStream) Write([]int16)             {}
func (s *fakeStream) Events() <-chan stt.Event  { return nil }
func (s *fakeStream) CloseSend()                {}
func (s *fakeStream) Err() error                { return s.err }
func (s *fakeStream) Dropped() int              { return s.dropped }
func (s *fakeStream) Close() error              { s.closes++; return nil }
func (s *fakeStream) open() (stt.Stream, error) { return s, nil }
func (f streamFunc) Stream(ctx context.Context, r stt.StreamRequest) (stt.Stream, error) {
	return f(ctx, r)
}

type streamFunc func(ctx context.Context, r stt.StreamRequest) (stt.Stream, error)

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

func TestMeteredStreamer(t *testing.T) {
	if (*Metrics)(nil).Streamer(nil) != nil || NewMetrics(prometheus.NewRegistry()).Streamer(nil) != nil {
		t.Fatal("a nil streamer must stay nil")
	}
	tests := []struct {
		name    string
		err     error // the stream's end
		openErr error
		callEnd bool // the call ended while the stream opened
		dropped int
		result  string // the stt_streams_total label counted, "" for none
	}{
		{name: "ended as asked", dropped: 3, result: "ok"},
		{name: "provider error", err: fmt.Errorf("%w: bad start", stt.ErrProvider), result: "provider_error"},
		{name: "closed early", err: stt.ErrStreamClosed, dropped: 1, result: "closed"},
		{name: "not opened", openErr: errors.New("refused"), result: "open_error"},
		{name: "call ended while opening", openErr: context.Canceled, callEnd: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			fs := &fakeStream{err: tc.err, dropped: tc.dropped}
			s := m.Streamer(streamFunc(func(ctx context.Context, r stt.StreamRequest) (stt.Stream, error) {
				if tc.openErr != nil {
					return nil, tc.openErr
				}
				return fs.open()
			}))
			ctx, cancel := context.WithCancel(context.Background())
			if tc.callEnd {
				cancel()
			}
			defer cancel()
			st, err := s.Stream(ctx, stt.StreamRequest{})
			if tc.openErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := gauge(t, reg, "texml_stt_streams_active"); got != 1 {
					t.Errorf("active while open = %v, want 1", got)
				}
				st.Close()
				st.Close() // idempotent: counted once
				if fs.closes != 2 {
					t.Errorf("inner Close called %d times, want 2", fs.closes)
				}
			}
			if got := gauge(t, reg, "texml_stt_streams_active"); got != 0 {
				t.Errorf("active after = %v, want 0", got)
			}
			for _, r := range []string{"ok", "provider_error", "closed", "open_error"} {
				want := -1.0 // no series
				if r == tc.result {
					want = 1
				}
				if got := value(t, reg, "texml_stt_streams_total", map[string]string{"result": r}); got != want {
					t.Errorf("stt_streams_total{result=%q} = %v, want %v", r, got, want)
				}
			}
			if got := value(t, reg, "texml_stt_stream_frames_dropped_total", nil); got != float64(tc.dropped) {
				t.Errorf("dropped = %v, want %d", got, tc.dropped)
			}
		})
	}
}
