package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// needTool skips a test whose tool is missing, except in CI (CI=true),
// where a missing tool is a failure: CI must run every test.
func needTool(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed (CI installs it in .ci/run)", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
}

// app is a TwiML app on a loopback HTTP server for e2e tests: documents by
// path, and a log of the requests (parameters) it received.
type app struct {
	mu   sync.Mutex
	docs map[string]string
	got  []url.Values
	path []string
	srv  *httptest.Server
}

func newApp(t *testing.T, docs map[string]string) *app {
	a := &app{docs: docs}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		a.mu.Lock()
		a.got = append(a.got, r.PostForm)
		a.path = append(a.path, r.URL.Path)
		doc, ok := a.docs[r.URL.Path]
		a.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".wav") {
			w.Header().Set("Content-Type", "audio/wav")
			_, _ = io.WriteString(w, doc)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, doc)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// request returns the parameters of the first request to path.
func (a *app) request(path string) (url.Values, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, p := range a.path {
		if p == path {
			return a.got[i], true
		}
	}
	return nil, false
}

// freePort finds a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// startServe runs a texml service in this process, as `texml serve`
// would, answering calls with the app at voiceURL. extra flags come last
// and so override the defaults (the flag package keeps a flag's last
// value).
func startServe(t *testing.T, voiceURL string, extra ...string) *service {
	t.Helper()
	s, _ := startServeLogged(t, voiceURL, extra...)
	return s
}

// startServeLogged is startServe that also returns the service's log.
// mustStart builds and starts a service from args, failing the test with
// what for (e.g. "--stt none without pocketsphinx") when it cannot.
func mustStart(t *testing.T, what string, args []string, log *slog.Logger) *service {
	t.Helper()
	s, err := buildService(args, log)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := s.start(); err != nil {
		s.close()
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

func startServeLogged(t *testing.T, voiceURL string, extra ...string) (*service, *logBuffer) {
	t.Helper()
	needTool(t, "espeak-ng")
	logs := &logBuffer{}
	s, err := buildService(serveArgs(t, voiceURL, extra...), logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.start(); err != nil {
		s.close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.close()
		if t.Failed() && !testing.Verbose() {
			t.Logf("texml log:\n%s", logs.tail(60))
		}
	})
	return s, logs
}

// serveArgs are the flags of a test service: loopback, free ports, an RTP
// range derived from the SIP port, a temporary recordings directory.
//
// The RTP ranges stay within 20000-27999: below the kernel's ephemeral
// ports (32768 and up), where sockets of this or any other process land
// at random, and away from texml's default range (10000-20000) and the
// ranges load tests on the same machine use (30000 and up), which once
// filled a test's whole range and failed its call with 503.
func serveArgs(t *testing.T, voiceURL string, extra ...string) []string {
	t.Helper()
	sipPort := freePort(t)
	rtpLo := 20000 + (sipPort%80)*100
	args := []string{
		"--sip-listen", fmt.Sprintf("127.0.0.1:%d", sipPort), "--http-listen", "127.0.0.1:0",
		"--rtp-ports", fmt.Sprintf("%d-%d", rtpLo, rtpLo+98), "--voice-url", voiceURL,
		"--recordings-dir", t.TempDir(), "--stt", "none", "--rtp-timeout", "10s",
	}
	return append(args, extra...)
}

// buildService parses args as `texml serve` does and builds the service
// without starting it.
func buildService(args []string, log *slog.Logger) (*service, error) {
	var f serveFlags
	if err := newServeFlagSet(&f).Parse(args); err != nil {
		return nil, err
	}
	return newService(&f, log)
}

// logBuffer collects a service's log lines for a test to search, and
// copies them to stderr under go test -v.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if testing.Verbose() {
		_, _ = os.Stderr.Write(p)
	}
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last n lines.
func (b *logBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (b *logBuffer) logger() *slog.Logger {
	level := slog.LevelInfo
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level}))
}

// sipp runs one SIPp scenario from fixtures/sipp (or at an absolute
// path) against the service.
func sipp(t *testing.T, s *service, scenario, service string, extra ...string) (string, error) {
	t.Helper()
	needTool(t, "sipp")
	dir := t.TempDir()
	if !filepath.IsAbs(scenario) {
		scenario = filepath.Join("..", "..", "fixtures", "sipp", scenario)
	}
	args := append([]string{
		"-sf", scenario,
		"-m", "1", "-s", service, "-i", "127.0.0.1", "-p", fmt.Sprint(freePort(t)),
		"-mp", fmt.Sprint(freePort(t)), "-timeout", "30s", "-timeout_error", "-nostdin",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
	}, extra...)
	args = append(args, s.sipAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sipp", args...).CombinedOutput()
	if err != nil {
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		return string(out) + string(errs), err
	}
	return string(out), nil
}

func TestSIPpScenarios(t *testing.T) {
	a := newApp(t, map[string]string{
		"/say":    `<Response><Say>Hello from the SIP test. Goodbye.</Say><Hangup/></Response>`,
		"/busy":   `<Response><Reject reason="busy"/></Response>`,
		"/reject": `<Response><Reject/></Response>`,
		"/gather": `<Response><Gather action="/digits" numDigits="2" timeout="8"><Say>Enter two digits.</Say></Gather><Say>nothing</Say></Response>`,
		"/digits": `<Response><Say>Thank you.</Say><Hangup/></Response>`,
		"/slow":   `<Response><Pause length="20"/><Say>too late</Say></Response>`,
		"/long":   `<Response><Say loop="0">This prompt goes on and on until the caller hangs up.</Say></Response>`,
	})
	tests := []struct {
		scenario, path string
		check          func(t *testing.T)
	}{
		{"say_bye.xml", "/say", nil},
		{"delayed_offer.xml", "/say", nil},
		{"reject_486.xml", "/busy", nil},
		{"reject_603.xml", "/reject", nil},
		{"gather_dtmf.xml", "/gather", func(t *testing.T) {
			p, ok := a.request("/digits")
			if !ok || p.Get("Digits") != "12" {
				t.Errorf("Gather action: %v (requested: %v), want Digits=12", p, ok)
			}
		}},
		{"cancel.xml", "/slow", nil},
		{"bye_before_answer.xml", "/slow", nil},
		{"bye_during_prompt.xml", "/long", nil},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.scenario, ".xml"), func(t *testing.T) {
			s := startServe(t, a.srv.URL+tt.path)
			if out, err := sipp(t, s, tt.scenario, "test"); err != nil {
				t.Fatalf("sipp %s: %v\n%s", tt.scenario, err, out)
			}
			if tt.check != nil {
				tt.check(t)
			}
			waitIdle(t, s)
		})
	}
}

// waitIdle waits until the service has no call left.
func waitIdle(t *testing.T, s *service) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.sip.Active() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still active", s.sip.Active())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
