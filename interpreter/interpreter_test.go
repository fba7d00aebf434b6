package interpreter_test

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
	"github.com/texml/texml/verbs"
)

// fakeFetcher serves documents from a map keyed by URL and records requests.
type fakeFetcher struct {
	mu   sync.Mutex
	docs map[string]string
	got  []fetcher.Request
}

func (f *fakeFetcher) Fetch(_ context.Context, r fetcher.Request) (*fetcher.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, r)
	body, ok := f.docs[r.URL]
	if !ok {
		return nil, &fetcher.Error{Code: 11200, URL: r.URL, Status: 404, Err: errors.New("404 Not Found")}
	}
	return &fetcher.Response{URL: r.URL, RequestURL: r.URL, Status: 200, ContentType: "text/xml", Kind: fetcher.TwiML, Body: []byte(body)}, nil
}

func (f *fakeFetcher) requests() []fetcher.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fetcher.Request(nil), f.got...)
}

func runCall(t *testing.T, docs map[string]string, opts sim.Options, cfg interpreter.Config) (interpreter.Result, *fakeFetcher, *interpreter.Recorder) {
	t.Helper()
	f := &fakeFetcher{docs: docs}
	rec := &interpreter.Recorder{}
	opts.Tracer = rec
	leg := sim.New(opts)
	if cfg.URL == "" {
		cfg.URL = "http://app.test/voice"
	}
	cfg.Clock, cfg.Dialer, cfg.Tracer = leg, leg.Dialer(), rec
	call := interpreter.New(leg, f, nil, cfg)
	return call.Run(leg.Context(context.Background())), f, rec
}

func TestEndReasons(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		inputs []string
		cfg    interpreter.Config
		status string
		reason string
	}{
		{"end of document", `<Response><Say>hi</Say></Response>`, nil, interpreter.Config{}, "completed", "end-of-document"},
		{"hangup verb", `<Response><Say>hi</Say><Hangup/><Say>dead</Say></Response>`, nil, interpreter.Config{}, "completed", "hangup-verb"},
		{"reject busy", `<Response><Reject reason="busy"/></Response>`, nil, interpreter.Config{}, "busy", "reject"},
		{"reject default", `<Response><Reject/></Response>`, nil, interpreter.Config{}, "no-answer", "reject"},
		{"caller hangup", `<Response><Gather><Say>x</Say></Gather></Response>`, []string{"hangup"}, interpreter.Config{}, "completed", "caller-hangup"},
		{"redirect loop", `<Response><Redirect>/voice</Redirect></Response>`, nil, interpreter.Config{}, "completed", "loop-limit"},
		{"time limit", `<Response><Say loop="0">forever</Say></Response>`, nil, interpreter.Config{MaxDuration: time.Minute}, "completed", "time-limit"},
		{"missing document", `<Response><Redirect>/nowhere</Redirect></Response>`, nil, interpreter.Config{}, "completed", "app-error"},
		{"parse error", `<Response><Say>`, nil, interpreter.Config{}, "completed", "app-error"},
		// Verbs that take no time cannot hide a redirect loop.
		{"empty play loop", `<Response><Play></Play><Redirect>voice</Redirect></Response>`, nil, interpreter.Config{}, "completed", "loop-limit"},
		{"empty say loop", `<Response><Say loop="0"></Say><Redirect>voice</Redirect></Response>`, nil, interpreter.Config{}, "completed", "loop-limit"},
		// A Pause longer than time.Duration can hold is clamped, not negative.
		{"huge pause", `<Response><Pause length="9300000000"/><Say>never</Say></Response>`, nil, interpreter.Config{}, "completed", "time-limit"},
		{"outbound call", `<Response><Say>hi</Say></Response>`, nil, interpreter.Config{Direction: "outbound-api"}, "completed", "end-of-document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts sim.Options
			for _, v := range tt.inputs {
				in, err := sim.ParseInput(v)
				if err != nil {
					t.Fatal(err)
				}
				opts.Inputs = append(opts.Inputs, in)
			}
			res, _, _ := runCall(t, map[string]string{"http://app.test/voice": tt.doc}, opts, tt.cfg)
			if res.Status != tt.status || res.Reason != tt.reason {
				t.Errorf("got %s/%s, want %s/%s", res.Status, res.Reason, tt.status, tt.reason)
			}
		})
	}
}

func TestLoopLimitCountsFetches(t *testing.T) {
	for _, doc := range []string{`<Response><Redirect>voice</Redirect></Response>`, `<Response><Redirect/></Response>`} {
		res, f, _ := runCall(t, map[string]string{"http://app.test/voice": doc}, sim.Options{}, interpreter.Config{MaxFetches: 7})
		if n := len(f.requests()); n != 7 || res.Reason != "loop-limit" {
			t.Errorf("%s: fetched %d documents and ended with %s, want 7 and loop-limit", doc, n, res.Reason)
		}
	}
}

// TestEmptyRedirect: an empty reference resolves to the base URL (RFC 3986
// §5.2), so <Redirect/> re-requests the current document with its method.
func TestEmptyRedirect(t *testing.T) {
	tests := []struct {
		name, redirect, method string
	}{
		{"self-closing, default POST", `<Redirect/>`, "POST"},
		{"empty body", `<Redirect></Redirect>`, "POST"},
		{"blank body", "<Redirect>\n  </Redirect>", "POST"},
		{"method GET", `<Redirect method="GET"/>`, "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := map[string]string{
				"http://app.test/voice": `<Response><Redirect>/menu?lang=en</Redirect></Response>`,
				"http://app.test/menu?lang=en": `<Response><Gather numDigits="1" action="/pick"><Say>Press a key</Say></Gather>` +
					tt.redirect + `</Response>`,
				"http://app.test/pick": `<Response><Say>Thanks</Say></Response>`,
			}
			in, _ := sim.ParseInput("silence")
			key, _ := sim.ParseInput("dtmf:1")
			res, f, rec := runCall(t, docs, sim.Options{Inputs: []sim.Input{in, key}}, interpreter.Config{})
			var got []string
			for _, r := range f.requests() {
				got = append(got, r.Method+" "+r.URL)
			}
			want := []string{"POST http://app.test/voice", "POST http://app.test/menu?lang=en",
				tt.method + " http://app.test/menu?lang=en", "POST http://app.test/pick"}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if res.Reason != "end-of-document" {
				t.Errorf("ended with %s, want end-of-document", res.Reason)
			}
			for _, e := range rec.Events() {
				if e.Name == "error" || e.Name == "warning" {
					t.Errorf("unexpected %s: %v", e.Name, e.Fields)
				}
			}
		})
	}
}

func TestStandardParams(t *testing.T) {
	_, f, _ := runCall(t, map[string]string{"http://app.test/voice": `<Response><Say>x</Say></Response>`},
		sim.Options{}, interpreter.Config{From: "+1555", To: "sip:bob@example.com", ParentCallSid: "CA1", ExtraParams: url.Values{"SipCallId": {"abc"}}})
	p := f.requests()[0].Params
	want := map[string]string{"From": "+1555", "Caller": "+1555", "To": "sip:bob@example.com", "Called": "sip:bob@example.com",
		"CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01", "ParentCallSid": "CA1", "SipCallId": "abc"}
	for k, v := range want {
		if p.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, p.Get(k), v)
		}
	}
	if !regexp.MustCompile(`^CA[0-9a-f]{32}$`).MatchString(p.Get("CallSid")) {
		t.Errorf("CallSid %q is not CA + 32 hex", p.Get("CallSid"))
	}
	if !regexp.MustCompile(`^AC[0-9a-f]{32}$`).MatchString(p.Get("AccountSid")) {
		t.Errorf("AccountSid %q is not AC + 32 hex", p.Get("AccountSid"))
	}
}

// TestGeoParamsSent: the geographic parameters derived from From and To
// go with every request, and ExtraParams win over them.
func TestGeoParamsSent(t *testing.T) {
	_, f, _ := runCall(t, map[string]string{"http://app.test/voice": `<Response><Say>x</Say><Redirect>/voice2</Redirect></Response>`,
		"http://app.test/voice2": `<Response/>`},
		sim.Options{}, interpreter.Config{From: "+14155551234", To: "+442071234567", ExtraParams: url.Values{"FromState": {"TX"}}})
	want := map[string]string{"FromCountry": "US", "CallerCountry": "US", "FromState": "TX", "CallerState": "TX",
		"ToCountry": "GB", "CalledCountry": "GB"}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		for k, v := range want {
			if got := r.Params[k]; len(got) != 1 || got[0] != v {
				t.Errorf("%s: %s = %q, want [%q]", r.URL, k, got, v)
			}
		}
		if _, ok := r.Params["ToState"]; ok {
			t.Errorf("%s: ToState sent for a UK number", r.URL)
		}
	}
}

func TestUpdate(t *testing.T) {
	f := &fakeFetcher{docs: map[string]string{
		"http://app.test/voice": `<Response><Pause length="60"/><Say>never</Say></Response>`,
		"http://app.test/new":   `<Response><Say>updated</Say></Response>`,
	}}
	rec := &interpreter.Recorder{}
	var call *interpreter.Call
	leg := sim.New(sim.Options{Tracer: rec,
		Updates:  []sim.ScheduledUpdate{{At: 10 * time.Second, Update: interpreter.Update{URL: "http://app.test/new"}}},
		OnUpdate: func(u interpreter.Update) error { return call.Update(u) }})
	call = interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: leg, Tracer: rec})
	if err := call.Update(interpreter.Update{Hangup: true}); err == nil {
		t.Error("Update before Run: want an error")
	}
	res := call.Run(context.Background())
	var says []string
	for _, e := range rec.Events() {
		if e.Name == "say" {
			says = append(says, e.Fields["text"].(string))
		}
	}
	if strings.Join(says, "|") != "updated" || res.Reason != "end-of-document" {
		t.Errorf("says %q, reason %s", says, res.Reason)
	}
	if err := call.Update(interpreter.Update{}); err == nil {
		t.Error("empty update: want an error")
	}
	if err := call.Update(interpreter.Update{Hangup: true}); err == nil {
		t.Error("Update after the call ended: want an error")
	}
}

func TestUnsupported(t *testing.T) {
	doc, err := verbs.Parse([]byte(`<Response><Say>x</Say><Pay/><Dial><Sim>DE1</Sim></Dial><Start><Suppression/></Start></Response>`), verbs.Main)
	if err != nil {
		t.Fatal(err)
	}
	got := interpreter.Unsupported(doc)
	var names []string
	for _, d := range got {
		if d.Severity != verbs.Error || d.Line < 1 {
			t.Errorf("diagnostic %v: want an error with a position", d)
		}
		names = append(names, d.Message)
	}
	want := []string{"<Pay>", "<Sim> in <Dial>", "<Suppression> in <Start>"}
	if len(names) != len(want) {
		t.Fatalf("got %q, want %d diagnostics", names, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(names[i], w) {
			t.Errorf("diagnostic %d = %q, want prefix %q", i, names[i], w)
		}
	}
}

func TestNewSid(t *testing.T) {
	a, b := interpreter.NewSid("RE"), interpreter.NewSid("RE")
	if a == b || !regexp.MustCompile(`^RE[0-9a-f]{32}$`).MatchString(a) {
		t.Errorf("NewSid: %q %q", a, b)
	}
}

// lateLeg delivers partial speech results from another goroutine after the
// Gather has moved on, as a recognizer may.
type lateLeg struct {
	*sim.Leg
	wg *sync.WaitGroup
}

func (l lateLeg) WaitInput(ctx context.Context, spec interpreter.InputSpec) (*interpreter.Input, error) {
	if spec.OnPartial != nil {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := range 50 {
				spec.OnPartial(interpreter.Partial{Stable: "book", Unstable: strings.Repeat("a", i)})
			}
		}()
		return &interpreter.Input{Kind: interpreter.SpeechResult, Text: "book a flight", Confidence: 0.8}, nil
	}
	return l.Leg.WaitInput(ctx, spec)
}

// TestPartialsFromAnotherGoroutine fails under -race if the partial result
// hook touches call state that the run loop changes.
func TestPartialsFromAnotherGoroutine(t *testing.T) {
	f := &fakeFetcher{docs: map[string]string{
		"http://app.test/voice": `<Response><Gather input="speech" partialResultCallback="/partial" action="/next"/></Response>`,
		"http://app.test/next":  `<Response><Say>one</Say><Hangup/></Response>`,
	}}
	var wg sync.WaitGroup
	leg := lateLeg{Leg: sim.New(sim.Options{}), wg: &wg}
	d := interpreter.NewDispatcher(f, interpreter.DispatcherOptions{Queue: 100})
	call := interpreter.New(leg, f, d, interpreter.Config{URL: "http://app.test/voice", Clock: leg})
	res := call.Run(context.Background())
	wg.Wait()
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res.Reason != "hangup-verb" {
		t.Fatalf("reason %s", res.Reason)
	}
	partials := 0
	for _, r := range f.requests() {
		if r.URL == "http://app.test/partial" {
			partials++
			if r.Params.Get("CallStatus") != "in-progress" || r.Params.Get("UnstableSpeechResult") == "" && r.Params.Get("SequenceNumber") != "0" {
				t.Errorf("partial params %v", r.Params)
			}
		}
	}
	if partials != 50 {
		t.Errorf("%d partial callbacks, want 50", partials)
	}
}

// badAudioLeg fails every Play as a real leg does when the URL is not audio.
type badAudioLeg struct{ *sim.Leg }

func (badAudioLeg) Play(context.Context, string, interpreter.Prompt) (*interpreter.Input, error) {
	return nil, &interpreter.MediaError{Code: 11200, Err: errors.New("text/html is not audio")}
}

func TestMediaErrorSkipsTheVerb(t *testing.T) {
	f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": `<Response><Play>/page.html</Play><Say>after</Say></Response>`}}
	rec := &interpreter.Recorder{}
	leg := badAudioLeg{sim.New(sim.Options{Tracer: rec})}
	res := interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: leg, Tracer: rec}).Run(context.Background())
	var sawError, saidAfter bool
	for _, e := range rec.Events() {
		if e.Name == "error" && e.Fields["code"] == 11200 {
			sawError = true
		}
		if e.Name == "say" && e.Fields["text"] == "after" {
			saidAfter = sawError
		}
	}
	if !saidAfter || res.Reason != "end-of-document" {
		t.Errorf("error reported %v, next verb ran after it %v, reason %s", sawError, saidAfter, res.Reason)
	}
}

// TestHangupDuringFetch: the caller leaves while the first document is
// being fetched; the leg cancels the call's context with cause ErrHangup.
func TestHangupDuringFetch(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	f := fetchFunc(func(ctx context.Context, r fetcher.Request) (*fetcher.Response, error) {
		cancel(interpreter.ErrHangup)
		<-ctx.Done()
		return nil, &fetcher.Error{Code: 11200, URL: r.URL, Err: ctx.Err()}
	})
	leg := sim.New(sim.Options{})
	res := interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: leg}).Run(ctx)
	if res.Status != "canceled" || res.Reason != "caller-hangup" {
		t.Errorf("got %s/%s, want canceled/caller-hangup", res.Status, res.Reason)
	}
}

type fetchFunc func(context.Context, fetcher.Request) (*fetcher.Response, error)

func (f fetchFunc) Fetch(ctx context.Context, r fetcher.Request) (*fetcher.Response, error) {
	return f(ctx, r)
}

// TestRedirectHopsTraced: a document that came through an HTTP redirect
// says so in its request event, whether the fetch
// succeeded or failed; and a failed fetch's message names its URL once.
func TestRedirectHopsTraced(t *testing.T) {
	hop := fetcher.Redirect{Method: "POST", URL: "http://app.test/voice", Status: 302, Location: "http://app.test/new"}
	tests := []struct {
		name    string
		resp    *fetcher.Response
		err     error
		wantErr string // the error event's message; "" for none
	}{
		{"success", &fetcher.Response{URL: hop.Location, RequestURL: hop.Location, Status: 200, Kind: fetcher.TwiML,
			Body: []byte(`<Response/>`), Redirects: []fetcher.Redirect{hop}}, nil, ""},
		{"failure", nil, &fetcher.Error{Code: 11200, URL: hop.Location, Status: 404, Err: errors.New("404 Not Found"),
			Redirects: []fetcher.Redirect{hop}}, "fetch http://app.test/new: error 11200 (status 404): 404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &interpreter.Recorder{}
			leg := sim.New(sim.Options{Tracer: rec})
			f := fetchFunc(func(context.Context, fetcher.Request) (*fetcher.Response, error) { return tt.resp, tt.err })
			interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: leg, Tracer: rec}).Run(context.Background())
			var req, fail *interpreter.Event
			for _, e := range rec.Events() {
				switch {
				case e.Name == "request" && req == nil:
					req = &e
				case e.Name == "error" && fail == nil:
					fail = &e
				}
			}
			if req == nil {
				t.Fatal("no request event")
			}
			want := []map[string]any{{"method": "POST", "url": "http://app.test/voice", "status": 302, "location": "http://app.test/new"}}
			if got := req.Fields["redirects"]; !reflect.DeepEqual(got, want) {
				t.Errorf("redirects = %#v, want %#v", got, want)
			}
			switch {
			case tt.wantErr == "" && fail != nil:
				t.Errorf("unexpected error %v", fail.Fields)
			case tt.wantErr != "" && (fail == nil || fail.Fields["message"] != tt.wantErr):
				t.Errorf("error event %v, want message %q", fail, tt.wantErr)
			}
		})
	}
}
