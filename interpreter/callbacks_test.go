package interpreter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
)

func TestDispatcherRetries(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int // answers in order; the last repeats
		attempts int32
		failed   bool
	}{
		{"ok first time", []int{204}, 1, false},
		{"500 then ok", []int{500, 200}, 2, false},
		{"always 503", []int{503}, 3, true},
		{"404 is final", []int{404}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				w.WriteHeader(tt.statuses[min(i, len(tt.statuses)-1)])
			}))
			defer srv.Close()
			f := fetcher.New(fetcher.Options{})
			defer f.Close()
			rec := &interpreter.Recorder{}
			d := interpreter.NewDispatcher(f, interpreter.DispatcherOptions{Backoff: time.Millisecond})
			if !d.Send(interpreter.Callback{Kind: "status", URL: srv.URL, Method: "POST", Params: url.Values{"A": {"1"}}, Tracer: rec}) {
				t.Fatal("Send refused")
			}
			if err := d.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := n.Load(); got != tt.attempts {
				t.Errorf("attempts = %d, want %d", got, tt.attempts)
			}
			evs := rec.Events()
			if len(evs) != 1 || evs[0].Name != "callback" {
				t.Fatalf("events %v, want one callback event", evs)
			}
			if _, failed := evs[0].Fields["error"]; failed != tt.failed {
				t.Errorf("callback event %v: failed = %v, want %v", evs[0].Fields, failed, tt.failed)
			}
		})
	}
}

func TestDispatcherBounded(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	f := fetcher.New(fetcher.Options{})
	defer f.Close()
	d := interpreter.NewDispatcher(f, interpreter.DispatcherOptions{Workers: 1, Queue: 2, Timeout: time.Minute})
	sent := 0
	for range 10 {
		if d.Send(interpreter.Callback{URL: srv.URL, Method: "POST"}) {
			sent++
		}
	}
	// One in flight in the worker, two queued; the rest are dropped
	// instead of blocking the call that sends them.
	if sent > 3 {
		t.Errorf("accepted %d callbacks with one worker and a queue of 2", sent)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); err == nil {
		t.Error("Close with a stuck callback: want the context's error")
	}
	if d.Send(interpreter.Callback{URL: srv.URL}) {
		t.Error("Send after Close accepted")
	}
}
