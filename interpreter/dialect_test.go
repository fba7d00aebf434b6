package interpreter_test

import (
	"context"
	"crypto/ed25519"
	"regexp"
	"testing"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
	"github.com/texml/texml/verbs"
)

// TestDialectRequests runs the same app in both dialects: the TeXML call
// asks for the Gather action with the app's method and sends Telnyx's
// parameters; the TwiML call does neither.
func TestDialectRequests(t *testing.T) {
	docs := map[string]string{
		"http://app.test/voice":  `<Response><Gather action="/digits" numDigits="1"/></Response>`,
		"http://app.test/digits": `<Response><Hangup/></Response>`,
	}
	key := &fetcher.Signing{Key: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
	iso := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	for _, tt := range []struct {
		name                 string
		cfg                  interpreter.Config
		method, api          string
		callerID, connection string // "" absent
	}{
		{"twiml GET app", interpreter.Config{Method: "GET"}, "POST", "2010-04-01", "", ""},
		{"texml GET app", interpreter.Config{Method: "GET", Dialect: verbs.TeXML, ConnectionID: "1234", CallerID: "Ann", Signing: key},
			"GET", "v2/texml", "Ann", "1234"},
		{"texml POST app", interpreter.Config{Dialect: verbs.TeXML}, "POST", "v2/texml", "+15005550006", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.From = "+15005550006"
			in, _ := sim.ParseInput("dtmf:7")
			_, f, _ := runCall(t, docs, sim.Options{Inputs: []sim.Input{in}}, tt.cfg)
			reqs := f.requests()
			if len(reqs) != 2 {
				t.Fatalf("requests %v, want the voice URL and the action", reqs)
			}
			if r := reqs[1]; r.URL != "http://app.test/digits" || r.Method != tt.method {
				t.Errorf("Gather action %s %s, want %s", r.Method, r.URL, tt.method)
			}
			for _, r := range reqs {
				p := r.Params
				if p.Get("ApiVersion") != tt.api {
					t.Errorf("ApiVersion %q, want %q", p.Get("ApiVersion"), tt.api)
				}
				if p.Get("CallerId") != tt.callerID || p.Get("ConnectionId") != tt.connection {
					t.Errorf("CallerId %q ConnectionId %q, want %q %q", p.Get("CallerId"), p.Get("ConnectionId"), tt.callerID, tt.connection)
				}
				if got, texml := p.Get("CallInitiatedAt"), tt.cfg.Dialect == verbs.TeXML; texml != iso.MatchString(got) || (!texml && p.Has("CallInitiatedAt")) {
					t.Errorf("CallInitiatedAt %q (texml %v)", got, texml)
				}
				if p.Has("CallSidLegacy") {
					t.Error("CallSidLegacy sent: texml has no legacy id")
				}
				if r.Signing != tt.cfg.Signing {
					t.Errorf("request signed with %v, want the call's %v", r.Signing, tt.cfg.Signing)
				}
			}
		})
	}
}

// TestDialectRecordTimeout: TeXML's Record has no silence timeout by
// default, so a silent caller is recorded until maxLength.
func TestDialectRecordTimeout(t *testing.T) {
	docs := map[string]string{"http://app.test/voice": `<Response><Record maxLength="20"/></Response>`}
	for _, tt := range []struct {
		d    verbs.Dialect
		want string // when the recording ended: the beep's 0.5 s, then the silence
	}{
		{verbs.TwiML, "5.5s"},
		{verbs.TeXML, "20.5s"},
	} {
		in, _ := sim.ParseInput("silence")
		_, _, rec := runCall(t, docs, sim.Options{Inputs: []sim.Input{in}}, interpreter.Config{Dialect: tt.d})
		var got string
		for _, e := range rec.Events() {
			if e.Name == "record" {
				got = e.T.String()
			}
		}
		if got != tt.want {
			t.Errorf("%v: the empty recording ended at %s, want %s", tt.d, got, tt.want)
		}
	}
}

// TestDialectStatusTimestamp: a status callback's Timestamp is RFC 2822
// in TwiML and ISO 8601 in TeXML, and the callback is signed as the call
// is.
func TestDialectStatusTimestamp(t *testing.T) {
	key := &fetcher.Signing{Key: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
	for _, tt := range []struct {
		d      verbs.Dialect
		layout string
	}{
		{verbs.TwiML, time.RFC1123Z},
		{verbs.TeXML, "2006-01-02T15:04:05.000Z07:00"},
	} {
		f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": `<Response><Say>hi</Say></Response>`}}
		cbs := interpreter.NewDispatcher(f, interpreter.DispatcherOptions{})
		leg := sim.New(sim.Options{})
		call := interpreter.New(leg, f, cbs, interpreter.Config{URL: "http://app.test/voice", Clock: leg, Dialect: tt.d,
			StatusCallback: "http://app.test/status", Signing: key})
		call.Run(leg.Context(context.Background()))
		if err := cbs.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, r := range f.requests() {
			if r.URL != "http://app.test/status" {
				continue
			}
			found = true
			if _, err := time.Parse(tt.layout, r.Params.Get("Timestamp")); err != nil {
				t.Errorf("%v: Timestamp %q: %v", tt.d, r.Params.Get("Timestamp"), err)
			}
			if r.Signing != key {
				t.Errorf("%v: the callback is signed with %v, want the call's", tt.d, r.Signing)
			}
		}
		if !found {
			t.Errorf("%v: no status callback", tt.d)
		}
	}
}
