package interpreter_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
	"github.com/texml/texml/verbs"
)

// noRecordLeg cannot record calls, as a leg whose disk is full.
type noRecordLeg struct{ *sim.Leg }

func (noRecordLeg) RecordCall(interpreter.CallRecordSpec) (interpreter.CallRecording, error) {
	return nil, errors.New("disk full")
}

func TestDialRecordFailureKeepsTheCall(t *testing.T) {
	f := &fakeFetcher{docs: map[string]string{
		"http://app.test/voice":  `<Response><Dial record="record-from-answer" action="/dialed">+15551230001</Dial></Response>`,
		"http://app.test/dialed": `<Response/>`,
	}}
	rec := &interpreter.Recorder{}
	callee, err := sim.ParseCallee("+15551230001=ring:1,answer,talk:3")
	if err != nil {
		t.Fatal(err)
	}
	s := sim.New(sim.Options{Tracer: rec, Callees: []sim.Callee{callee}})
	leg := noRecordLeg{s}
	cfg := interpreter.Config{URL: "http://app.test/voice", Clock: s, Dialer: s.Dialer(), Tracer: rec}
	interpreter.New(leg, f, nil, cfg).Run(s.Context(context.Background()))
	var failed bool
	for _, e := range rec.Events() {
		if e.Name == "error" && strings.Contains(e.Fields["message"].(string), "disk full") {
			failed = true
		}
	}
	if !failed {
		t.Error("the recording's failure was not reported")
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want the voice URL and the action", len(reqs))
	}
	p := reqs[1].Params
	if p.Get("DialCallStatus") != "completed" || p.Has("RecordingUrl") || p.Has("RecordingSid") {
		t.Errorf("action params %v: want a completed Dial without a recording", p)
	}
}

func TestDialRecordGaps(t *testing.T) {
	for doc, want := range map[string]string{
		`<Response><Dial record="record-from-answer">+15551230001</Dial></Response>`:                  "",
		`<Response><Dial record="record-from-ringing-dual"><Sip>sip:a@b.test</Sip></Dial></Response>`: "",
		`<Response><Dial record="record-from-answer"><Conference>room</Conference></Dial></Response>`: "<Dial record> with a <Conference> or <Queue>",
		`<Response><Dial record="do-not-record"><Conference>room</Conference></Dial></Response>`:      "",
		`<Response><Dial record="true" referUrl="/refer">+15551230001</Dial></Response>`:              "",
		`<Response><Dial referUrl="/refer"><Conference>room</Conference></Dial></Response>`:           "<Dial referUrl> with a <Conference>",
	} {
		d, err := verbs.Parse([]byte(doc), verbs.Main)
		if err != nil {
			t.Fatal(err)
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
