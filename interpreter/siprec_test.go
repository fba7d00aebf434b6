package interpreter_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// specLeg is the simulated leg, keeping the SiprecSpecs it was given and
// counting the sessions still open.
type specLeg struct {
	*sim.Leg
	mu    sync.Mutex
	specs []interpreter.SiprecSpec
	open  int
}

func (l *specLeg) Siprec(ctx context.Context, s interpreter.SiprecSpec) (func(), error) {
	stop, err := l.Leg.Siprec(ctx, s)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.specs = append(l.specs, s)
	l.open++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		stop()
		once.Do(func() {
			l.mu.Lock()
			l.open--
			l.mu.Unlock()
		})
	}, nil
}

// TestStartSiprec checks <Start><Siprec> and <Stop><Siprec> on the
// simulated leg: what the leg is asked for (tracks, identities,
// Parameters) and the status callbacks
// (https://www.twilio.com/docs/voice/twiml/siprec; events as Telnyx's
// TeXML <Siprec> page names them).
func TestStartSiprec(t *testing.T) {
	for _, tc := range []struct {
		name     string
		doc      string
		srs      *sim.SRS
		inputs   []string
		want     []string // SiprecEvent[:SiprecErrorCode] of each callback, in order
		tracks   string   // "in,out" of the first spec: "10", "01", "11"
		params   string   // name=value,... of the first spec
		warnings int      // error/warning events expected
	}{
		{name: "default both tracks, stopped by name",
			doc:    `<Start><Siprec name="rec1" connectorName="srs1" statusCallback="/sr"><Parameter name="agent" value="42"/></Siprec></Start><Pause length="2"/><Stop><Siprec name="rec1"/></Stop><Pause length="1"/>`,
			want:   []string{"siprec-started", "siprec-stopped"},
			tracks: "11", params: "agent=42"},
		{name: "inbound track, ends with the call",
			doc:    `<Start><Siprec connectorName="srs1" track="inbound_track" statusCallback="/sr"/></Start><Pause length="2"/>`,
			want:   []string{"siprec-started", "siprec-stopped"},
			tracks: "10"},
		{name: "outbound track, caller hangs up",
			doc:    `<Start><Siprec connectorName="sip:srs@192.0.2.1" track="outbound_track" statusCallback="/sr"/></Start><Pause length="9"/>`,
			inputs: []string{"hangup@1000"},
			want:   []string{"siprec-started", "siprec-stopped"},
			tracks: "01"},
		{name: "unknown connector",
			doc:  `<Start><Siprec connectorName="nope" statusCallback="/sr"/></Start><Pause length="1"/>`,
			srs:  &sim.SRS{Connectors: []string{"srs1"}},
			want: []string{"siprec-failed"}, warnings: 1},
		{name: "no connector",
			doc:  `<Start><Siprec statusCallback="/sr"/></Start><Pause length="1"/>`,
			want: []string{"siprec-failed"}, warnings: 1},
		{name: "server refuses",
			doc:  `<Start><Siprec connectorName="srs1" statusCallback="/sr"/></Start><Pause length="1"/>`,
			srs:  &sim.SRS{Refuse: 488},
			want: []string{"siprec-failed:488"}, warnings: 1},
		{name: "server hangs up",
			doc:  `<Start><Siprec name="r" connectorName="srs1" statusCallback="/sr"/></Start><Pause length="3"/><Stop><Siprec name="r"/></Stop>`,
			srs:  &sim.SRS{HangupAfter: time.Second},
			want: []string{"siprec-started", "siprec-stopped"}, warnings: 1}, // the Stop finds nothing running
		{name: "stop all",
			doc:  `<Start><Siprec name="a" connectorName="srs1" statusCallback="/sr"/><Siprec name="b" connectorName="srs1" statusCallback="/sr"/></Start><Pause length="1"/><Stop><Siprec/></Stop><Pause length="1"/>`,
			want: []string{"siprec-started", "siprec-started", "siprec-stopped", "siprec-stopped"}, tracks: "11"},
		{name: "duplicate name",
			doc:  `<Start><Siprec name="a" connectorName="srs1" statusCallback="/sr"/><Siprec name="a" connectorName="srs1" statusCallback="/sr"/></Start><Pause length="1"/>`,
			want: []string{"siprec-started", "siprec-stopped"}, tracks: "11", warnings: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inputs []sim.Input
			for _, s := range tc.inputs {
				in, err := sim.ParseInput(s)
				if err != nil {
					t.Fatal(err)
				}
				inputs = append(inputs, in)
			}
			f := &fakeFetcher{docs: map[string]string{
				"http://app.test/voice": "<Response>" + tc.doc + "</Response>",
				"http://app.test/sr":    "<Response/>",
			}}
			rec := &interpreter.Recorder{}
			s := sim.New(sim.Options{Inputs: inputs, SRS: tc.srs, Tracer: rec})
			leg := &specLeg{Leg: s}
			d := interpreter.NewDispatcher(f, interpreter.DispatcherOptions{Queue: 100, Workers: 1})
			cfg := interpreter.Config{URL: "http://app.test/voice", Clock: s, From: "+15551110000", To: "+15552220000", Tracer: rec}
			interpreter.New(leg, f, d, cfg).Run(s.Context(context.Background()))
			if err := d.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			var got []string
			sids := map[string]bool{}
			for _, r := range f.requests() {
				if r.URL != "http://app.test/sr" {
					continue
				}
				e := r.Params.Get("SiprecEvent")
				if c := r.Params.Get("SiprecErrorCode"); c != "" {
					e += ":" + c
				}
				if !strings.HasPrefix(r.Params.Get("SiprecSid"), "SR") || r.Params.Get("SiprecStatus") == "" {
					t.Errorf("callback %v: want a SiprecSid SR… and a SiprecStatus", r.Params)
				}
				if e == "siprec-failed" && r.Params.Get("SiprecError") == "" {
					t.Errorf("siprec-failed without SiprecError: %v", r.Params)
				}
				sids[r.Params.Get("SiprecSid")] = true
				got = append(got, e)
			}
			// Callbacks of one session are in order; two sessions' may
			// interleave, so compare sorted when there are several.
			if len(sids) > 1 {
				slices.Sort(got)
				tc.want = slices.Sorted(slices.Values(tc.want))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("callbacks %v, want %v", got, tc.want)
			}
			leg.mu.Lock()
			defer leg.mu.Unlock()
			if leg.open != 0 {
				t.Errorf("%d sessions still open after the call", leg.open)
			}
			if tc.tracks != "" {
				if len(leg.specs) == 0 {
					t.Fatal("the leg was not asked for a session")
				}
				sp := leg.specs[0]
				if got := map[bool]string{true: "1", false: "0"}[sp.Inbound] + map[bool]string{true: "1", false: "0"}[sp.Outbound]; got != tc.tracks {
					t.Errorf("tracks %s, want %s", got, tc.tracks)
				}
				if sp.From != "+15551110000" || sp.To != "+15552220000" || sp.CallSid == "" || !strings.HasPrefix(sp.Sid, "SR") {
					t.Errorf("spec identities %+v", sp)
				}
				var ps []string
				for _, p := range sp.Params {
					ps = append(ps, p.Name+"="+p.Value)
				}
				if strings.Join(ps, ",") != tc.params {
					t.Errorf("params %v, want %s", ps, tc.params)
				}
			}
			n := 0
			for _, e := range rec.Events() {
				if e.Name == "error" || e.Name == "warning" {
					n++
				}
			}
			if n != tc.warnings {
				t.Errorf("%d error/warning events, want %d: %v", n, tc.warnings, rec.Events())
			}
		})
	}
}
