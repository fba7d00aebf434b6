package conformance

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// Captured is one request the app received.
type Captured struct {
	Method string
	Path   string
	Query  url.Values
	Params url.Values // form body merged with the query
	Header http.Header
	URL    string // full URL as requested, for signature checks
	Body   []byte
}

// Outcome is everything a scenario run produced.
type Outcome struct {
	Captured []Captured
	streams  []*streamLog
	relays   []*relayLog
	Events   []interpreter.Event
	Result   interpreter.Result
	base     string
	partyOf  func(callSid string) string
}

// app serves a scenario's documents and records every request.
type app struct {
	s       *Scenario
	streams *streamApps
	relays  *relayApps
	mu      sync.Mutex
	got     []Captured
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.streams.serve(w, r) || a.relays.serve(w, r) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	params, _ := url.ParseQuery(string(body))
	if params == nil {
		params = url.Values{}
	}
	for k, vs := range r.URL.Query() {
		params[k] = append(params[k], vs...)
	}
	a.mu.Lock()
	a.got = append(a.got, Captured{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Params: params,
		Header: r.Header.Clone(), URL: "http://" + r.Host + r.URL.RequestURI(), Body: body})
	a.mu.Unlock()

	route := a.route(r.URL.Path, params)
	if route == nil {
		http.NotFound(w, r)
		return
	}
	if route.DelayMS > 0 {
		select {
		case <-time.After(time.Duration(route.DelayMS) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
	if route.SetCookie != "" {
		w.Header().Add("Set-Cookie", route.SetCookie)
	}
	if route.Location != "" {
		w.Header().Set("Location", route.Location)
	}
	ct := route.ContentType
	if ct == "" {
		ct = "text/xml"
	}
	if ct != "none" {
		w.Header().Set("Content-Type", ct)
	}
	status := route.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, route.Body)
}

func (a *app) route(path string, params url.Values) *Route {
	routes, ok := a.s.App[path]
	if !ok {
		return nil
	}
	for i := range routes {
		r := &routes[i]
		match := true
		for k, v := range r.When {
			if params.Get(k) != v {
				match = false
			}
		}
		if match {
			return r
		}
	}
	return nil
}

// Run runs one scenario to its end and returns what happened.
func Run(ctx context.Context, s *Scenario) (*Outcome, error) {
	a := &app{s: s, streams: &streamApps{apps: s.Streams}, relays: &relayApps{apps: s.Relays}}
	srv := httptest.NewServer(a)
	defer srv.Close()
	base := srv.URL
	if s.Files {
		dir, err := writeFiles(s)
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if base, err = fetcher.FileURL(dir); err != nil {
			return nil, err
		}
	}
	abs := func(p string) string {
		if p == "" || strings.Contains(p, "://") {
			return p
		}
		return strings.TrimRight(base, "/") + p
	}

	rec := &interpreter.Recorder{}
	opts, err := legOptions(s, abs)
	if err != nil {
		return nil, err
	}
	c := s.Config
	key, err := seedKey(c.SigningSeed)
	if err != nil {
		return nil, err
	}
	fe := fetcher.New(fetcher.Options{AuthToken: c.AuthToken, SigningKey: key, ReadTimeout: 2 * time.Second})
	defer fe.Close()
	cbs := interpreter.NewDispatcher(fe, interpreter.DispatcherOptions{Backoff: 10 * time.Millisecond, Timeout: 2 * time.Second})
	w := sim.NewWorld(sim.WorldOptions{Start: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Tracer: rec})
	defer w.Close()
	if err := w.Add(sim.Party{Leg: opts, Config: callConfig(s, abs), Fetcher: fe, Callbacks: cbs}); err != nil {
		return nil, err
	}
	if err := addParties(w, s, abs, fe, cbs); err != nil {
		return nil, err
	}
	res := w.Run(ctx)[0].Result
	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := cbs.Close(drain); err != nil {
		return nil, fmt.Errorf("callbacks not drained: %w", err)
	}
	a.streams.wait(drain)
	a.relays.wait(drain)
	a.streams.mu.Lock()
	logs := a.streams.logs
	a.streams.mu.Unlock()
	a.relays.mu.Lock()
	relays := a.relays.logs
	a.relays.mu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	return &Outcome{Captured: a.got, streams: logs, relays: relays, Events: rec.Events(), Result: res, base: base, partyOf: w.PartyOf}, nil
}

// writeFiles puts a files-mode app into a new temporary folder.
func writeFiles(s *Scenario) (string, error) {
	dir, err := os.MkdirTemp("", "texml-conformance-")
	if err != nil {
		return "", err
	}
	for p, routes := range s.App {
		if len(routes) != 1 {
			os.RemoveAll(dir)
			return "", fmt.Errorf("%s: files mode serves one body per path", p)
		}
		f := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, "/")))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		if err := os.WriteFile(f, []byte(routes[0].Body), 0o644); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// legOptions builds the scripted caller from the scenario; its updates go
// to its call.
func legOptions(s *Scenario, abs func(string) string) (sim.Options, error) {
	var opts sim.Options
	for _, v := range s.Inputs {
		in, err := sim.ParseInput(v)
		if err != nil {
			return opts, err
		}
		opts.Inputs = append(opts.Inputs, in)
	}
	for _, v := range s.Outcomes {
		o, err := sim.ParseOutcome(v)
		if err != nil {
			return opts, err
		}
		opts.Outcomes = append(opts.Outcomes, o)
	}
	for _, v := range s.Callees {
		c, err := sim.ParseCallee(v)
		if err != nil {
			return opts, err
		}
		opts.Callees = append(opts.Callees, c)
	}
	if s.Greeting != "" {
		g, err := sim.ParseGreeting(s.Greeting)
		if err != nil {
			return opts, err
		}
		opts.Greeting = g
	}
	for _, u := range s.Updates {
		opts.Updates = append(opts.Updates, sim.ScheduledUpdate{At: time.Duration(u.AtMS) * time.Millisecond,
			Update: interpreter.Update{URL: abs(u.URL), Method: u.Method, Twiml: u.Twiml, Hangup: u.Hangup}})
	}
	return opts, nil
}

// callConfig is the interpreter configuration a scenario asks for.
func callConfig(s *Scenario, abs func(string) string) interpreter.Config {
	c := s.Config
	voice := c.VoiceURL
	if voice == "" {
		voice = "/voice"
		if s.Files {
			voice = "/voice.xml"
		}
	}
	var extra url.Values
	for k, v := range c.Params {
		if extra == nil {
			extra = url.Values{}
		}
		extra.Set(k, v)
	}
	return interpreter.Config{
		URL: abs(voice), Method: c.Method, FallbackURL: abs(c.FallbackURL), FallbackMethod: c.FallbackMethod,
		StatusCallback: abs(c.StatusCallback), StatusCallbackMethod: c.StatusCallbackMethod,
		StatusCallbackEvents: c.StatusCallbackEvents,
		From:                 or(c.From, "+15005550006"), To: or(c.To, "+15005550001"), AccountSid: c.AccountSid,
		Direction: c.Direction, ParentCallSid: c.ParentCallSid, ExtraParams: extra,
		Dialect: c.Dialect, ConnectionID: c.ConnectionID, CallerID: c.CallerID,
		RecordingBaseURL: "http://recordings.test", MaxFetches: c.MaxFetches,
		MaxDuration: time.Duration(c.MaxDurationS) * time.Second,

		MachineDetection:                   interpreter.MachineMode(c.MachineDetection),
		MachineDetectionTimeout:            time.Duration(c.MachineDetectionTimeoutS) * time.Second,
		MachineDetectionSpeechThreshold:    time.Duration(c.MachineDetectionSpeechThresholdMS) * time.Millisecond,
		MachineDetectionSpeechEndThreshold: time.Duration(c.MachineDetectionSpeechEndThresholdMS) * time.Millisecond,
		MachineDetectionSilenceTimeout:     time.Duration(c.MachineDetectionSilenceTimeoutMS) * time.Millisecond,
		AsyncAMD:                           c.AsyncAMD,
		AsyncAMDStatusCallback:             abs(c.AsyncAMDStatusCallback),
		AsyncAMDStatusCallbackMethod:       c.AsyncAMDStatusCallbackMethod,
	}
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// seedKey decodes a base64 Ed25519 seed; "" means no signing.
func seedKey(seed string) (ed25519.PrivateKey, error) {
	if seed == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(seed)
	if err != nil || len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing_seed: want base64 of %d bytes", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(b), nil
}
