package fetcher

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassifyTransport(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeoutCause(context.Background(), 0, ErrTotalTimeout)
	defer cancel2()
	readTimedOut, cancel3 := context.WithCancelCause(context.Background())
	cancel3(ErrReadTimeout)

	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	tests := []struct {
		name                   string
		caller, total, attempt context.Context
		err                    error
		wantCode               int
		wantClass              retryClass
		wantIs                 error
	}{
		{"caller cancelled wins", cancelled, cancelled, cancelled, dial(os.ErrDeadlineExceeded), CodeHTTPRetrieval, 0, context.Canceled},
		{"total budget", live, expired, expired, io.ErrUnexpectedEOF, CodeHTTPRetrieval, 0, ErrTotalTimeout},
		{"read timeout", live, live, readTimedOut, context.Canceled, CodeHTTPRetrieval, retryRead, ErrReadTimeout},
		{"no such host", live, live, live, dial(&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}), CodeBadHost, 0, nil},
		{"resolver timeout", live, live, live, dial(&net.DNSError{Err: "timeout", Name: "x", IsTimeout: true}), CodeBadHost, retryConnect, nil},
		{"connect timeout", live, live, live, dial(os.ErrDeadlineExceeded), CodeConnection, retryConnect, os.ErrDeadlineExceeded},
		{"refused", live, live, live, dial(errors.New("connection refused")), CodeConnection, retryConnect, nil},
		{"read error is not a dial error", live, live, live, &net.OpError{Op: "read", Err: errors.New("reset")}, CodeHTTPRetrieval, retryOther, nil},
		{"tls record", live, live, live, tls.RecordHeaderError{Msg: "bad"}, CodeHTTPRetrieval, retryConnect, nil},
		{"unknown authority", live, live, live, &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, CodeHTTPRetrieval, retryConnect, nil},
		{"other", live, live, live, io.ErrUnexpectedEOF, CodeHTTPRetrieval, retryOther, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, class, cause := classifyTransport(tt.caller, tt.total, tt.attempt, tt.err)
			if code != tt.wantCode || class != tt.wantClass {
				t.Errorf("got code %d class %b, want %d %b", code, class, tt.wantCode, tt.wantClass)
			}
			if tt.wantIs != nil && !errors.Is(cause, tt.wantIs) {
				t.Errorf("cause %v is not %v", cause, tt.wantIs)
			}
		})
	}
}

// TestConnectTimeout uses a dialer that never connects, standing in for a
// black-holed address, which a sandbox network cannot be relied on to have.
func TestConnectTimeout(t *testing.T) {
	var dials atomic.Int32
	hang := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	tests := []struct {
		name      string
		connect   time.Duration
		url       string
		wantDials int32
		maxTime   time.Duration
	}{
		{"option", 150 * time.Millisecond, "http://app.example/#rc=0", 1, time.Second},
		{"fragment overrides option", time.Minute, "http://app.example/#ct=150&rc=0", 1, time.Second},
		{"default policy retries once", 100 * time.Millisecond, "http://app.example/", 2, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dials.Store(0)
			f := New(Options{ConnectTimeout: tt.connect, RetryDelay: time.Millisecond})
			f.transport = newTransport(tt.connect, hang)
			start := time.Now()
			_, err := f.Fetch(context.Background(), Request{URL: tt.url})
			if fe := fetchErr(t, err); fe.Code != CodeConnection {
				t.Errorf("got %v", err)
			}
			if d := time.Since(start); d > tt.maxTime {
				t.Errorf("took %v", d)
			}
			if dials.Load() != tt.wantDials {
				t.Errorf("%d dials, want %d", dials.Load(), tt.wantDials)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, "<Response/>")
	}))
	defer srv.Close()

	// The test certificate is not trusted by the default transport.
	_, err := New(Options{RetryDelay: time.Millisecond}).Fetch(context.Background(), Request{URL: srv.URL + "/"})
	if fe := fetchErr(t, err); fe.Code != CodeHTTPRetrieval || !isTLSError(err) {
		t.Errorf("untrusted certificate: got %v", err)
	}

	// A caller-supplied transport that trusts it works, signatures included.
	f := New(Options{Transport: srv.Client().Transport, AuthToken: testToken})
	defer f.Close()
	res, err := f.Fetch(context.Background(), Request{URL: srv.URL + "/"})
	if err != nil || res.Kind != TwiML {
		t.Errorf("trusted transport: %v %v", res, err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:secret@app.example.com/voice?x=1": "https://user:xxxxx@app.example.com/voice?x=1",
		"https://user@app.example.com/voice":            "https://user@app.example.com/voice",
		"https://app.example.com/voice":                 "https://app.example.com/voice",
		"sip:bob@example.com":                           "sip:bob@example.com",
		"not a url @ all":                               "not a url @ all",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	e := &Error{Code: CodeHTTPRetrieval, URL: "https://u:pw@h/x", Status: 500, Err: ErrHTTPStatus}
	if strings.Contains(e.Error(), "pw") {
		t.Errorf("error message %q shows the password", e.Error())
	}
}
