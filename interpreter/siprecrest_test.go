package interpreter_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
	"github.com/texml/texml/verbs"
)

// TestRESTSiprec starts (and stops) a SIPREC session the way the REST
// Siprec resource does (https://www.twilio.com/docs/voice/api/siprec),
// while a verb runs: the verb is not interrupted, the leg is asked for
// the session the request describes, and the statusCallback gets what
// <Start><Siprec> would send.
func TestRESTSiprec(t *testing.T) {
	for _, tc := range []struct {
		name     string
		req      interpreter.SiprecRequest
		stop     string // "name", "sid" or "" (the call's end stops it)
		srs      *sim.SRS
		startErr error // what StartSiprec returns
		want     string
		tracks   string // "in,out" of the leg's spec
	}{
		{name: "stopped by name", stop: "name",
			req:  interpreter.SiprecRequest{ConnectorName: "srs1", Name: "rec1", Track: "inbound_track", Params: []verbs.Param{{Name: "agent", Value: "7"}}},
			want: "siprec-started,siprec-stopped", tracks: "10"},
		{name: "stopped by sid", stop: "sid",
			req:  interpreter.SiprecRequest{ConnectorName: "srs1", Track: "outbound_track"},
			want: "siprec-started,siprec-stopped", tracks: "01"},
		{name: "ends with the call",
			req:  interpreter.SiprecRequest{ConnectorName: "sip:srs@192.0.2.1"},
			want: "siprec-started,siprec-stopped", tracks: "11"},
		{name: "server refuses",
			req: interpreter.SiprecRequest{ConnectorName: "srs1"}, srs: &sim.SRS{Refuse: 488},
			want: "siprec-failed:488", tracks: "11"},
		{name: "unknown connector",
			req: interpreter.SiprecRequest{ConnectorName: "nope"}, srs: &sim.SRS{Connectors: []string{"srs1"}},
			startErr: interpreter.ErrUnknownConnector, want: "siprec-failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFetcher{docs: map[string]string{
				"http://app.test/voice": `<Response><Pause length="1"/><Say>after</Say></Response>`,
				"http://app.test/sr":    "<Response/>",
			}}
			rec := &interpreter.Recorder{}
			var call *interpreter.Call
			var sid, stopped string
			var startErr, stopErr error
			req := tc.req
			req.StatusCallback, req.StatusCallbackMethod = "/sr", "POST"
			s := sim.New(sim.Options{Tracer: rec, SRS: tc.srs,
				Updates: []sim.ScheduledUpdate{
					{At: 100 * time.Millisecond, Update: interpreter.Update{Twiml: "start"}},
					{At: 300 * time.Millisecond, Update: interpreter.Update{Twiml: "stop"}},
				},
				OnUpdate: func(u interpreter.Update) error {
					if u.Twiml == "start" {
						sid, startErr = call.StartSiprec(req)
						return nil
					}
					switch tc.stop {
					case "name":
						stopped, _, stopErr = call.StopSiprec(req.Name)
					case "sid":
						stopped, _, stopErr = call.StopSiprec(sid)
					}
					return nil
				}})
			leg := &specLeg{Leg: s}
			d := interpreter.NewDispatcher(f, interpreter.DispatcherOptions{Queue: 100, Workers: 1})
			call = interpreter.New(leg, f, d, interpreter.Config{URL: "http://app.test/voice", Clock: s, Tracer: rec, CallSid: "CA1"})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			call.Run(s.Context(ctx))
			if err := d.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !errors.Is(startErr, tc.startErr) || tc.startErr == nil && !strings.HasPrefix(sid, "SR") {
				t.Fatalf("StartSiprec: %q %v, want %v", sid, startErr, tc.startErr)
			}
			if tc.stop != "" && (stopErr != nil || stopped != sid) {
				t.Errorf("StopSiprec: %q %v, want %s", stopped, stopErr, sid)
			}
			var got []string
			for _, r := range f.requests() {
				if r.URL != "http://app.test/sr" {
					continue
				}
				e := r.Params.Get("SiprecEvent")
				if c := r.Params.Get("SiprecErrorCode"); c != "" {
					e += ":" + c
				}
				if r.Params.Get("CallSid") != "CA1" || r.Params.Get("SiprecName") != req.Name {
					t.Errorf("callback %v", r.Params)
				}
				got = append(got, e)
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("callbacks %v, want %s", got, tc.want)
			}
			said := false
			for _, e := range rec.Events() {
				said = said || e.Name == "say" && e.Fields["text"] == "after"
			}
			if !said {
				t.Errorf("the verb after the Pause did not run: %v", rec.Events())
			}
			leg.mu.Lock()
			defer leg.mu.Unlock()
			if leg.open != 0 {
				t.Errorf("%d sessions still open after the call", leg.open)
			}
			if tc.tracks != "" {
				if len(leg.specs) != 1 {
					t.Fatalf("the leg was asked for %d sessions, want 1", len(leg.specs))
				}
				sp := leg.specs[0]
				if got := map[bool]string{true: "1", false: "0"}[sp.Inbound] + map[bool]string{true: "1", false: "0"}[sp.Outbound]; got != tc.tracks {
					t.Errorf("tracks %s, want %s", got, tc.tracks)
				}
				if sp.Sid != sid || sp.CallSid != "CA1" || sp.Connector != req.ConnectorName || len(sp.Params) != len(req.Params) {
					t.Errorf("spec %+v", sp)
				}
			}
			if _, err := call.StartSiprec(interpreter.SiprecRequest{ConnectorName: "srs1"}); !errors.Is(err, interpreter.ErrNotRunning) {
				t.Errorf("StartSiprec after the call: %v, want ErrNotRunning", err)
			}
			if _, _, err := call.StopSiprec(sid); !errors.Is(err, interpreter.ErrNoSiprec) {
				t.Errorf("StopSiprec after the call: %v, want ErrNoSiprec", err)
			}
		})
	}
}

// TestRESTSiprecRefusals checks the requests StartSiprec refuses before
// asking the leg, and that a <Start><Siprec>'s name is taken for the
// REST API too.
func TestRESTSiprecRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  interpreter.SiprecRequest
	}{
		{"bad track", interpreter.SiprecRequest{ConnectorName: "srs1", Track: "sideways"}},
		{"no connector", interpreter.SiprecRequest{}},
		{"name in use", interpreter.SiprecRequest{ConnectorName: "srs1", Name: "dup"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": `<Response><Start><Siprec name="dup" connectorName="srs1"/></Start><Pause length="1"/></Response>`}}
			var call *interpreter.Call
			var err error
			s := sim.New(sim.Options{
				Updates:  []sim.ScheduledUpdate{{At: 100 * time.Millisecond, Update: interpreter.Update{Twiml: "x"}}},
				OnUpdate: func(interpreter.Update) error { _, err = call.StartSiprec(tc.req); return nil }})
			leg := &specLeg{Leg: s}
			call = interpreter.New(leg, f, nil, interpreter.Config{URL: "http://app.test/voice", Clock: s})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			call.Run(s.Context(ctx))
			if err == nil {
				t.Error("StartSiprec accepted it")
			}
			leg.mu.Lock()
			defer leg.mu.Unlock()
			if len(leg.specs) != 1 || leg.open != 0 {
				t.Errorf("the leg was asked for %d sessions (want the Start's one), %d still open", len(leg.specs), leg.open)
			}
		})
	}
}
