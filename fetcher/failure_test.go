package fetcher

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func TestStatusErrors(t *testing.T) {
	for _, status := range []int{400, 404, 500, 503} {
		srv := server(t, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "nope", status)
		})
		_, err := New(Options{}).Fetch(context.Background(), Request{URL: srv.URL + "/x"})
		fe := fetchErr(t, err)
		if fe.Code != CodeHTTPRetrieval || fe.Status != status || fe.URL != srv.URL+"/x" || !errors.Is(err, ErrHTTPStatus) {
			t.Errorf("status %d: got %v", status, err)
		}
	}
}

func TestConnectionFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/voice"
	ln.Close()
	tests := []struct {
		name     string
		url      string
		wantCode int
		wantAs   func(error) bool
	}{
		{"bad host", "http://no-such-host.invalid/voice", CodeBadHost, func(err error) bool {
			var d *net.DNSError
			return errors.As(err, &d)
		}},
		{"refused", refused, CodeConnection, func(err error) bool {
			var op *net.OpError
			return errors.As(err, &op)
		}},
		{"no host", "http:///voice", CodeHTTPRetrieval, func(err error) bool { return errors.Is(err, ErrBadURL) }},
		{"unsupported scheme", "ftp://example.com/x.xml", CodeHTTPRetrieval, func(err error) bool { return errors.Is(err, ErrBadURL) }},
		{"unparseable", "http://[::1/x", CodeHTTPRetrieval, func(err error) bool { return errors.Is(err, ErrBadURL) }},
		{"empty", "  ", CodeHTTPRetrieval, func(err error) bool { return errors.Is(err, ErrBadURL) }},
	}
	f := New(Options{RetryDelay: time.Millisecond})
	defer f.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Fetch(context.Background(), Request{URL: tt.url})
			if fe := fetchErr(t, err); fe.Code != tt.wantCode || !tt.wantAs(err) {
				t.Errorf("got %v (code %d), want code %d", err, fe.Code, tt.wantCode)
			}
		})
	}
	t.Run("bad method", func(t *testing.T) {
		_, err := f.Fetch(context.Background(), Request{URL: refused, Method: "PUT"})
		if fe := fetchErr(t, err); fe.Code != CodeHTTPRetrieval {
			t.Errorf("got %v", err)
		}
	})
	t.Run("bad signing key", func(t *testing.T) {
		_, err := New(Options{SigningKey: ed25519.PrivateKey{1, 2}}).Fetch(context.Background(), Request{URL: refused})
		if fe := fetchErr(t, err); fe.Code != CodeHTTPRetrieval {
			t.Errorf("got %v", err)
		}
	})
}

// stall blocks a handler until the client gives up or the test ends.
func stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

func TestReadTimeout(t *testing.T) {
	var hits atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		if r.URL.Path == "/midbody" {
			io.WriteString(w, "<Response>")
			w.(http.Flusher).Flush()
		}
		stall(r)
	})
	f := New(Options{RetryDelay: time.Millisecond})
	defer f.Close()
	tests := []struct {
		path     string
		wantHits int32
	}{
		{"/headers#rt=200", 1}, // default policy ct does not retry read timeouts
		{"/midbody#rt=200", 1},
		{"/headers#rt=150&rc=2&rp=rt", 3},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			hits.Store(0)
			start := time.Now()
			_, err := f.Fetch(context.Background(), Request{URL: srv.URL + tt.path})
			elapsed := time.Since(start)
			if fe := fetchErr(t, err); fe.Code != CodeHTTPRetrieval || !errors.Is(err, ErrReadTimeout) {
				t.Errorf("got %v", err)
			}
			if elapsed > 2*time.Second {
				t.Errorf("took %v", elapsed)
			}
			if hits.Load() != tt.wantHits {
				t.Errorf("%d requests, want %d", hits.Load(), tt.wantHits)
			}
		})
	}
}

// TestReadTimeoutIsIdle shows rt bounds silence, not the whole transfer:
// a body trickling in faster than rt succeeds even though it takes longer.
func TestReadTimeoutIsIdle(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for i := range 5 {
			io.WriteString(w, strconv.Itoa(i))
			w.(http.Flusher).Flush()
			time.Sleep(80 * time.Millisecond)
		}
	})
	res, err := New(Options{}).Fetch(context.Background(), Request{URL: srv.URL + "/#rt=200"})
	if err != nil || string(res.Body) != "01234" {
		t.Fatalf("Fetch = %v, %v", res, err)
	}
}

func TestTotalTimeout(t *testing.T) {
	var hits atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		stall(r)
	})
	start := time.Now()
	_, err := New(Options{RetryDelay: time.Millisecond}).Fetch(context.Background(),
		Request{URL: srv.URL + "/#rt=15000&tt=300&rc=5&rp=all"})
	if fe := fetchErr(t, err); fe.Code != CodeHTTPRetrieval || !errors.Is(err, ErrTotalTimeout) {
		t.Errorf("got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	if hits.Load() != 1 {
		t.Errorf("%d requests after the budget ran out, want 1", hits.Load())
	}
}

func TestRetries(t *testing.T) {
	var hits atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if okAt, _ := strconv.Atoi(r.URL.Query().Get("okAt")); okAt > 0 && int(n) >= okAt {
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, "<Response/>")
			return
		}
		status, _ := strconv.Atoi(r.URL.Query().Get("status"))
		w.WriteHeader(status)
	})
	f := New(Options{RetryDelay: time.Millisecond})
	defer f.Close()
	tests := []struct {
		query    string
		wantHits int32
		wantOK   bool
	}{
		{"status=500", 1, false},                     // default rc=1 rp=ct: statuses are not retried
		{"status=500#rc=3&rp=5xx", 4, false},         // rc counts retries after the first attempt
		{"status=500#rc=3&rp=4xx", 1, false},         // wrong class
		{"status=404#rc=2&rp=4xx", 3, false},         // 4xx
		{"status=404#rc=2&rp=ct,4xx", 3, false},      // comma list
		{"status=503#rc=1&rp=all", 2, false},         // all
		{"status=503#rc=0&rp=all", 1, false},         // no retries
		{"status=500#rc=9&rp=5xx", 6, false},         // rc clamped to 5
		{"status=500&okAt=2#rc=3&rp=5xx", 2, true},   // success stops retrying
		{"status=302&okAt=99#rc=3&rp=all", 1, false}, // a redirect is not a failure (no Location: 11200)
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			hits.Store(0)
			_, err := f.Fetch(context.Background(), Request{URL: srv.URL + "/?" + tt.query})
			if (err == nil) != tt.wantOK {
				t.Errorf("err = %v, want ok=%v", err, tt.wantOK)
			}
			if hits.Load() != tt.wantHits {
				t.Errorf("%d requests, want %d", hits.Load(), tt.wantHits)
			}
		})
	}
}

func TestRetryConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// Retries of a refused connection cost one RetryDelay each, which makes
	// the attempt count observable without a server.
	f := New(Options{RetryDelay: 50 * time.Millisecond})
	start := time.Now()
	_, err = f.Fetch(context.Background(), Request{URL: "http://" + addr + "/#rc=3"})
	if fe := fetchErr(t, err); fe.Code != CodeConnection {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("took %v: expected three retries of 50ms", d)
	}
}

func TestContextCancel(t *testing.T) {
	var hits atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		stall(r)
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := New(Options{RetryDelay: time.Millisecond}).Fetch(ctx, Request{URL: srv.URL + "/#rc=5&rp=all"})
	if fe := fetchErr(t, err); fe.Code != CodeHTTPRetrieval || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v to notice cancellation", d)
	}
	if hits.Load() != 1 {
		t.Errorf("%d requests: cancellation was retried", hits.Load())
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{Code: 11200, URL: "https://a/b", Status: 500, Err: ErrHTTPStatus}
	if got := e.Error(); got != "fetch https://a/b: error 11200 (status 500): unsuccessful HTTP status" {
		t.Errorf("Error() = %q", got)
	}
	var nilErr *Error
	if nilErr.Error() != "<nil>" || nilErr.Unwrap() != nil {
		t.Error("nil *Error misbehaves")
	}
}
