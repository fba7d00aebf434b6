package interpreter_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
	"github.com/texml/texml/verbs"
)

// TestStartRecording checks <Start><Recording> on the simulated leg: the
// recording runs beside the next verbs until <Stop> or the call's end,
// whatever ends the call (https://www.twilio.com/docs/voice/twiml/recording).
func TestStartRecording(t *testing.T) {
	for _, tc := range []struct {
		name   string
		doc    string
		inputs []string
		// want is the recording's status events in order, as
		// "status:seconds"; fail is a text the call's errors must hold.
		want []string
		fail string
	}{
		{name: "call end", doc: `<Start><Recording/></Start><Pause length="2"/>`, want: []string{"in-progress", "completed:2"}},
		{name: "caller hangs up", doc: `<Start><Recording/></Start><Pause length="9"/>`, inputs: []string{"hangup@3000"}, want: []string{"in-progress", "completed:3"}},
		{name: "stop by name", doc: `<Start><Recording name="x"/></Start><Pause length="1"/><Stop><Recording name="x"/></Stop><Pause length="4"/>`, want: []string{"in-progress", "completed:1"}},
		{name: "hangup verb", doc: `<Start><Recording name="x"/></Start><Pause length="1"/><Hangup/>`, want: []string{"in-progress", "completed:1"}},
		{name: "name taken", doc: `<Start><Recording name="x"/></Start><Start><Recording name="x"/></Start><Pause length="1"/>`,
			want: []string{"in-progress", "completed:1"}, fail: `a recording named "x" is running already`},
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
			f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": "<Response>" + tc.doc + "</Response>"}}
			rec := &interpreter.Recorder{}
			s := sim.New(sim.Options{Tracer: rec, Inputs: inputs})
			cfg := interpreter.Config{URL: "http://app.test/voice", Clock: s, Tracer: rec}
			interpreter.New(s, f, nil, cfg).Run(s.Context(context.Background()))
			var got []string
			failed := false
			for _, e := range rec.Events() {
				switch e.Name {
				case "recording":
					st := e.Fields["status"].(string)
					if sec, ok := e.Fields["seconds"]; ok {
						st += ":" + fmt.Sprint(sec)
					}
					got = append(got, st)
				case "error":
					failed = failed || (tc.fail != "" && strings.Contains(e.Fields["message"].(string), tc.fail))
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("recording events %v, want %v", got, tc.want)
			}
			if tc.fail != "" && !failed {
				t.Errorf("no error %q", tc.fail)
			}
		})
	}
}

// TestStartRecordingFailureKeepsTheCall: a leg that cannot record reports
// it, and the call goes on.
func TestStartRecordingFailureKeepsTheCall(t *testing.T) {
	f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": `<Response><Start><Recording name="x"/></Start><Say>hi</Say><Stop><Recording name="x"/></Stop></Response>`}}
	rec := &interpreter.Recorder{}
	s := sim.New(sim.Options{Tracer: rec})
	cfg := interpreter.Config{URL: "http://app.test/voice", Clock: s, Tracer: rec}
	interpreter.New(noRecordLeg{s}, f, nil, cfg).Run(s.Context(context.Background()))
	var failed, said, warned bool
	for _, e := range rec.Events() {
		switch e.Name {
		case "error":
			failed = failed || strings.Contains(e.Fields["message"].(string), "disk full")
		case "say":
			said = true
		case "warning":
			warned = warned || strings.Contains(e.Fields["message"].(string), "no such recording")
		}
	}
	if !failed || !said || !warned {
		t.Errorf("failure reported %v, said %v, stop warned %v: want all", failed, said, warned)
	}
}

// TestStartRecordingGaps: Recording runs in Start and Stop;
// recordingConfigurationId is reported.
func TestStartRecordingGaps(t *testing.T) {
	for doc, want := range map[string]string{
		`<Response><Start><Recording name="a" channels="dual" track="inbound" trim="trim-silence"/></Start></Response>`: "",
		`<Response><Stop><Recording name="a"/></Stop></Response>`:                                                       "",
		`<Response><Start><Recording recordingConfigurationId="RC1"/></Start></Response>`:                               "<Recording recordingConfigurationId>",
	} {
		d, err := verbs.Parse([]byte(doc), verbs.Main)
		if err != nil {
			t.Fatal(err)
		}
		for _, dg := range d.Diagnostics {
			if dg.Severity == verbs.Error {
				t.Errorf("%s: %v", doc, dg)
			}
		}
		got := interpreter.Unsupported(d)
		switch {
		case want == "" && len(got) != 0:
			t.Errorf("%s: %v, want no diagnostic", doc, got)
		case want != "" && (len(got) != 1 || got[0].Severity != verbs.Warning || !strings.HasPrefix(got[0].Message, want)):
			t.Errorf("%s: %v, want one warning %q", doc, got, want)
		}
	}
}
