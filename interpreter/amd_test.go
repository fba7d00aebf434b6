package interpreter_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media/amd"
	"github.com/texml/texml/sim"
)

func TestCheckMachineDetection(t *testing.T) {
	s, ms := time.Second, time.Millisecond
	tests := []struct {
		name string
		cfg  interpreter.Config
		ok   bool
	}{
		{"off", interpreter.Config{}, true},
		{"defaults", interpreter.Config{MachineDetection: interpreter.MachineEnable}, true},
		{"all at their limits", interpreter.Config{MachineDetection: interpreter.MachineMessageEnd,
			MachineDetectionTimeout: 59 * s, MachineDetectionSpeechThreshold: 1000 * ms,
			MachineDetectionSpeechEndThreshold: 5000 * ms, MachineDetectionSilenceTimeout: 2000 * ms,
			AsyncAMD: true, AsyncAMDStatusCallback: "/amd", AsyncAMDStatusCallbackMethod: "get"}, true},
		{"unknown mode", interpreter.Config{MachineDetection: "enable"}, false},
		{"timeout too short", interpreter.Config{MachineDetection: interpreter.MachineEnable, MachineDetectionTimeout: 2 * s}, false},
		{"timeout too long", interpreter.Config{MachineDetectionTimeout: 60 * s}, false},
		{"speech threshold too long", interpreter.Config{MachineDetectionSpeechThreshold: 6001 * ms}, false},
		{"speech end threshold too short", interpreter.Config{MachineDetectionSpeechEndThreshold: 499 * ms}, false},
		{"silence timeout too long", interpreter.Config{MachineDetectionSilenceTimeout: 10001 * ms}, false},
		{"callback method", interpreter.Config{AsyncAMDStatusCallbackMethod: "PUT"}, false},
		{"callback not a URL", interpreter.Config{AsyncAMDStatusCallback: "http://a b/%zz"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.CheckMachineDetection()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, interpreter.ErrMachineDetection)) {
				t.Errorf("CheckMachineDetection = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestMachineDetectionRangesAgree holds the interpreter's ranges (what the
// REST layer refuses) equal to the detector's own.
func TestMachineDetectionRangesAgree(t *testing.T) {
	for _, v := range []time.Duration{1, 499, 500, 999, 1000, 2000, 2999, 3000, 5000, 6000, 6001, 10000, 10001, 59000, 59001} {
		d := v * time.Millisecond
		for name, pair := range map[string]struct {
			cfg interpreter.Config
			o   amd.Options
		}{
			"timeout":          {interpreter.Config{MachineDetectionTimeout: d}, amd.Options{Timeout: d}},
			"speech threshold": {interpreter.Config{MachineDetectionSpeechThreshold: d}, amd.Options{SpeechThreshold: d}},
			"speech end":       {interpreter.Config{MachineDetectionSpeechEndThreshold: d}, amd.Options{SpeechEndThreshold: d}},
			"silence timeout":  {interpreter.Config{MachineDetectionSilenceTimeout: d}, amd.Options{SilenceTimeout: d}},
		} {
			if got, want := pair.cfg.CheckMachineDetection() == nil, pair.o.Validate() == nil; got != want {
				t.Errorf("%s %v: the interpreter accepts it: %v, the detector: %v", name, d, got, want)
			}
		}
	}
}

// amdCall runs an outbound-api call to a simulated party that makes
// greeting heard, with callbacks delivered.
func amdCall(t *testing.T, docs map[string]string, greeting string, inputs []sim.Input, cfg interpreter.Config) (*interpreter.Call, interpreter.Result, *fakeFetcher, *interpreter.Recorder) {
	t.Helper()
	g, err := sim.ParseGreeting(greeting)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFetcher{docs: docs}
	rec := &interpreter.Recorder{}
	leg := sim.New(sim.Options{Tracer: rec, Greeting: g, Inputs: inputs})
	d := interpreter.NewDispatcher(f, interpreter.DispatcherOptions{Backoff: time.Millisecond})
	cfg.URL, cfg.Direction = "http://app.test/voice", "outbound-api"
	cfg.Clock, cfg.Tracer = leg, rec
	call := interpreter.New(leg, f, d, cfg)
	res := call.Run(leg.Context(context.Background()))
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return call, res, f, rec
}

// requestsTo returns the requests made to u.
func requestsTo(f *fakeFetcher, u string) []fetcher.Request {
	var out []fetcher.Request
	for _, r := range f.requests() {
		if r.URL == u {
			out = append(out, r)
		}
	}
	return out
}

// msParam reads a millisecond parameter.
func msParam(t *testing.T, v string) time.Duration {
	t.Helper()
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("MachineDetectionDuration %q is not milliseconds", v)
	}
	return time.Duration(n) * time.Millisecond
}

// TestSynchronousMachineDetection: the Url is fetched once detection has
// decided, with AnsweredBy and MachineDetectionDuration, and every later
// request of the call carries AnsweredBy.
func TestSynchronousMachineDetection(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		greeting string
		mode     interpreter.MachineMode
		want     string
		min, max time.Duration
	}{
		{"human", interpreter.MachineEnable, "human", 2100 * ms, 2300 * ms},
		{"machine:6", interpreter.MachineEnable, "machine_start", 2400 * ms, 2500 * ms},
		{"machine:6", interpreter.MachineMessageEnd, "machine_end_silence", 7200 * ms, 7300 * ms},
		{"machine:6:beep", interpreter.MachineMessageEnd, "machine_end_beep", 6800 * ms, 6900 * ms},
		{"fax", interpreter.MachineEnable, "fax", 500 * ms, 600 * ms},
		{"silent", interpreter.MachineEnable, "unknown", 5000 * ms, 5000 * ms},
	}
	docs := map[string]string{
		"http://app.test/voice": `<Response><Gather action="/next" timeout="1"/></Response>`,
		"http://app.test/next":  `<Response><Hangup/></Response>`,
	}
	for _, tt := range tests {
		t.Run(tt.greeting+"/"+string(tt.mode), func(t *testing.T) {
			call, res, f, rec := amdCall(t, docs, tt.greeting, nil, interpreter.Config{MachineDetection: tt.mode,
				StatusCallback: "http://app.test/status"})
			voice := requestsTo(f, "http://app.test/voice")
			if len(voice) != 1 {
				t.Fatalf("%d requests of the Url, want 1 (reason %s)", len(voice), res.Reason)
			}
			p := voice[0].Params
			if p.Get("AnsweredBy") != tt.want {
				t.Errorf("AnsweredBy %q, want %q", p.Get("AnsweredBy"), tt.want)
			}
			if d := msParam(t, p.Get("MachineDetectionDuration")); d < tt.min || d > tt.max {
				t.Errorf("MachineDetectionDuration %v, want %v-%v", d, tt.min, tt.max)
			}
			var fetchedAt time.Duration
			for _, e := range rec.Events() {
				if e.Name == "request" && e.Fields["url"] == "http://app.test/voice" {
					fetchedAt = e.T
				}
			}
			if fetchedAt < tt.min || fetchedAt > tt.max {
				t.Errorf("the Url was fetched at %v, want after the detection (%v-%v)", fetchedAt, tt.min, tt.max)
			}
			for _, u := range []string{"http://app.test/next", "http://app.test/status"} {
				for _, r := range requestsTo(f, u) {
					if r.Params.Get("AnsweredBy") != tt.want || r.Params.Has("MachineDetectionDuration") {
						t.Errorf("%s: AnsweredBy %q, MachineDetectionDuration %q; want AnsweredBy only", u,
							r.Params.Get("AnsweredBy"), r.Params.Get("MachineDetectionDuration"))
					}
				}
			}
			if call.AnsweredBy() != tt.want {
				t.Errorf("Call.AnsweredBy() = %q", call.AnsweredBy())
			}
		})
	}
}

func TestSynchronousDetectionHangUp(t *testing.T) {
	docs := map[string]string{"http://app.test/voice": `<Response><Say>never</Say></Response>`}
	call, res, f, _ := amdCall(t, docs, "machine:20", []sim.Input{{Action: sim.Hangup, At: time.Second, Timed: true}},
		interpreter.Config{MachineDetection: interpreter.MachineMessageEnd})
	if n := len(f.requests()); n != 0 || res.Reason != "caller-hangup" || res.Status != "completed" {
		t.Errorf("%d requests, reason %s, status %s; want none, the party's hang-up, completed", n, res.Reason, res.Status)
	}
	if call.AnsweredBy() != "" {
		t.Errorf("AnsweredBy %q without a decision", call.AnsweredBy())
	}
}

// TestAsynchronousMachineDetection: the Url is fetched at once, the
// result goes to AsyncAmdStatusCallback with Twilio's four parameters.
func TestAsynchronousMachineDetection(t *testing.T) {
	docs := map[string]string{
		"http://app.test/voice": `<Response><Say>Hello there, this is a long message for whoever picked up.</Say><Pause length="5"/></Response>`,
		"http://app.test/amd":   `<Response/>`,
	}
	call, res, f, _ := amdCall(t, docs, "machine:6", nil, interpreter.Config{MachineDetection: interpreter.MachineEnable,
		AccountSid: "AC" + "1234567890abcdef1234567890abcdef", AsyncAMD: true, AsyncAMDStatusCallback: "/amd",
		StatusCallback: "http://app.test/status"})
	if res.Reason != "end-of-document" {
		t.Fatalf("reason %s", res.Reason)
	}
	voice := requestsTo(f, "http://app.test/voice")
	if len(voice) != 1 || voice[0].Params.Has("AnsweredBy") {
		t.Fatalf("Url requests %v: want one, at once, without AnsweredBy", voice)
	}
	cbs := requestsTo(f, "http://app.test/amd")
	if len(cbs) != 1 {
		t.Fatalf("%d AsyncAmdStatusCallback requests, want 1", len(cbs))
	}
	p := cbs[0].Params
	if cbs[0].Method != "POST" || p.Get("CallSid") != call.Sid() || p.Get("AccountSid") != "AC1234567890abcdef1234567890abcdef" ||
		p.Get("AnsweredBy") != "machine_start" || len(p) != 4 {
		t.Errorf("callback %s %v, want POST with CallSid, AccountSid, AnsweredBy=machine_start, MachineDetectionDuration", cbs[0].Method, p)
	}
	if d := msParam(t, p.Get("MachineDetectionDuration")); d < 2400*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("MachineDetectionDuration %v", d)
	}
	if st := requestsTo(f, "http://app.test/status"); len(st) != 1 || st[0].Params.Get("AnsweredBy") != "machine_start" {
		t.Errorf("completed status callback %v, want AnsweredBy", st)
	}
}

// TestAsynchronousDetectionEndsWithTheCall: a call over before the
// decision posts nothing, and Run leaves no detection behind.
func TestAsynchronousDetectionEndsWithTheCall(t *testing.T) {
	docs := map[string]string{"http://app.test/voice": `<Response><Say>Bye</Say><Hangup/></Response>`}
	call, res, f, _ := amdCall(t, docs, "machine:20", nil, interpreter.Config{MachineDetection: interpreter.MachineMessageEnd,
		AsyncAMD: true, AsyncAMDStatusCallback: "http://app.test/amd"})
	if res.Reason != "hangup-verb" || len(requestsTo(f, "http://app.test/amd")) != 0 || call.AnsweredBy() != "" {
		t.Errorf("reason %s, %d callbacks, AnsweredBy %q; want the hang-up and no result", res.Reason,
			len(requestsTo(f, "http://app.test/amd")), call.AnsweredBy())
	}
}

func TestMachineDetectionOnlyOnOutboundCalls(t *testing.T) {
	res, f, _ := runCall(t, map[string]string{"http://app.test/voice": `<Response><Say>hi</Say></Response>`},
		sim.Options{}, interpreter.Config{MachineDetection: interpreter.MachineEnable})
	if r := f.requests(); len(r) != 1 || r[0].Params.Has("AnsweredBy") || res.Reason != "end-of-document" {
		t.Errorf("an inbound call with MachineDetection: %v, %s", r, res.Reason)
	}
}
