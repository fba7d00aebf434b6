package interpreter_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

func TestReferStatus(t *testing.T) {
	tests := []struct {
		res  interpreter.ReferResult
		want string
	}{
		{interpreter.ReferResult{Code: 603}, ""}, // refused: no NOTIFY, no status
		{interpreter.ReferResult{}, ""},          // no answer at all
		{interpreter.ReferResult{Code: 202}, ""}, // accepted, never notified
		{interpreter.ReferResult{Code: 202, Notify: 100}, "in-progress"},
		{interpreter.ReferResult{Code: 202, Notify: 180}, "in-progress"},
		{interpreter.ReferResult{Code: 202, Notify: 200}, "completed"},
		{interpreter.ReferResult{Code: 200, Notify: 202}, "completed"},
		{interpreter.ReferResult{Code: 202, Notify: 486}, "busy"},
		{interpreter.ReferResult{Code: 202, Notify: 600}, "busy"},
		{interpreter.ReferResult{Code: 202, Notify: 408}, "no-answer"},
		{interpreter.ReferResult{Code: 202, Notify: 480}, "no-answer"},
		{interpreter.ReferResult{Code: 202, Notify: 487}, "canceled"},
		{interpreter.ReferResult{Code: 202, Notify: 404}, "failed"},
		{interpreter.ReferResult{Code: 202, Notify: 503}, "failed"},
	}
	for _, tt := range tests {
		if got := interpreter.ReferStatus(tt.res); got != tt.want {
			t.Errorf("ReferStatus(%+v) = %q, want %q", tt.res, got, tt.want)
		}
	}
}

// TestRefer runs <Refer> against the scripted party of the simulated leg:
// what the action gets, whether its document runs, and how the call ends.
func TestRefer(t *testing.T) {
	const withAction = `<Response><Refer action="/done"><Sip>sip:agent@pbx.test</Sip></Refer><Say>next</Say></Response>`
	const noAction = `<Response><Refer><Sip>sip:agent@pbx.test</Sip></Refer><Say>next</Say></Response>`
	tests := []struct {
		name    string
		doc     string
		outcome string
		params  referParams // nil: no action request
		says    []string
		reason  string
	}{
		{"completed ends the call", withAction, "completed:3", referParams{"ReferCallStatus": "completed", "ReferSipResponseCode": "202", "NotifySipResponseCode": "200"}, nil, "refer"},
		{"completed without action", noAction, "completed", nil, nil, "refer"},
		{"busy runs the action", withAction, "busy", referParams{"ReferCallStatus": "busy", "ReferSipResponseCode": "202", "NotifySipResponseCode": "486"}, []string{"back"}, "end-of-document"},
		{"no-answer", withAction, "no-answer", referParams{"ReferCallStatus": "no-answer", "ReferSipResponseCode": "202", "NotifySipResponseCode": "480"}, []string{"back"}, "end-of-document"},
		{"failed without action: next verb", noAction, "failed", nil, []string{"next"}, "end-of-document"},
		{"refused REFER", withAction, "rejected:403", referParams{"ReferSipResponseCode": "403"}, []string{"back"}, "end-of-document"},
		{"still ringing at the timeout", withAction, "in-progress", referParams{"ReferCallStatus": "in-progress", "ReferSipResponseCode": "202", "NotifySipResponseCode": "180"}, []string{"back"}, "end-of-document"},
		{"caller hangs up: action requested, not run", withAction, "hangup:2", referParams{"ReferSipResponseCode": "202", "ReferCallStatus": "in-progress", "NotifySipResponseCode": "100"}, nil, "caller-hangup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := sim.ParseOutcome(tt.outcome)
			if err != nil {
				t.Fatal(err)
			}
			docs := map[string]string{"http://app.test/voice": tt.doc, "http://app.test/done": `<Response><Say>back</Say></Response>`}
			var says []string
			opts := sim.Options{Outcomes: []sim.Outcome{o}}
			res, f, rec := runCall(t, docs, opts, interpreter.Config{})
			for _, e := range rec.Events() {
				if e.Name == "say" {
					says = append(says, e.Fields["text"].(string))
				}
			}
			if res.Reason != tt.reason {
				t.Errorf("reason %q, want %q", res.Reason, tt.reason)
			}
			if !reflect.DeepEqual(says, tt.says) {
				t.Errorf("says %q, want %q", says, tt.says)
			}
			reqs := f.requests()
			var action *fetcher.Request
			for i := range reqs {
				if reqs[i].URL == "http://app.test/done" {
					action = &reqs[i]
				}
			}
			switch {
			case tt.params == nil && action != nil:
				t.Errorf("action requested: %v", action.Params)
			case tt.params != nil && action == nil:
				t.Fatalf("no action request; requests %v", reqs)
			case tt.params != nil:
				if action.Method != "POST" {
					t.Errorf("action method %q, want POST", action.Method)
				}
				for _, k := range []string{"ReferCallStatus", "ReferSipResponseCode", "NotifySipResponseCode"} {
					if got := action.Params.Get(k); got != tt.params[k] {
						t.Errorf("%s = %q, want %q", k, got, tt.params[k])
					}
				}
			}
		})
	}
}

// referParams are the expected action parameters of a test.
type referParams map[string]string

// referSpy records the target a Refer asked for.
type referSpy struct {
	*sim.Leg
	got *interpreter.ReferTarget
}

func (l referSpy) Refer(ctx context.Context, t interpreter.ReferTarget) (interpreter.ReferResult, error) {
	*l.got = t
	return interpreter.ReferResult{Code: 202, Notify: 486}, nil
}

// unreferable is a leg whose party cannot be referred (not SIP).
type unreferable struct{ *sim.Leg }

func (unreferable) Refer(context.Context, interpreter.ReferTarget) (interpreter.ReferResult, error) {
	return interpreter.ReferResult{}, interpreter.ErrUnsupported
}

func TestReferTargetAndUnsupported(t *testing.T) {
	doc := `<Response><Refer><Sip>sip:agent@pbx.test?X-Ticket=42<Headers><Header name="X-Queue" value="gold"/></Headers></Sip></Refer><Say>next</Say></Response>`
	run := func(wrap func(*sim.Leg) interpreter.Leg) ([]string, *interpreter.Recorder) {
		f := &fakeFetcher{docs: map[string]string{"http://app.test/voice": doc}}
		rec := &interpreter.Recorder{}
		leg := sim.New(sim.Options{Tracer: rec})
		cfg := interpreter.Config{URL: "http://app.test/voice", Clock: leg, Dialer: leg.Dialer(), Tracer: rec}
		interpreter.New(wrap(leg), f, nil, cfg).Run(leg.Context(context.Background()))
		var names []string
		for _, e := range rec.Events() {
			names = append(names, e.Name)
		}
		return names, rec
	}
	var got interpreter.ReferTarget
	run(func(l *sim.Leg) interpreter.Leg { return referSpy{l, &got} })
	if got.URI != "sip:agent@pbx.test?X-Ticket=42" || got.Headers["X-Queue"] != "gold" || got.Timeout != interpreter.ReferTimeout {
		t.Errorf("target %+v", got)
	}
	names, _ := run(func(l *sim.Leg) interpreter.Leg { return unreferable{l} })
	wantSeen := []string{"error", "say"}
	var seen []string
	for _, n := range names {
		if n == "error" || n == "say" {
			seen = append(seen, n)
		}
	}
	if !reflect.DeepEqual(seen, wantSeen) {
		t.Errorf("events %q, want an error then the next verb", names)
	}
}
