package interpreter_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// noSTTLeg has no recognizer, as a SIP leg started without one.
type noSTTLeg struct{ *sim.Leg }

func (noSTTLeg) Transcribe(context.Context, interpreter.TranscribeSpec) (func(), error) {
	return nil, interpreter.ErrNoRecognizer
}

// TestStartTranscription checks <Start><Transcription> on the simulated
// leg: which tracks are heard and the callbacks' events
// (https://www.twilio.com/docs/voice/twiml/transcription).
func TestStartTranscription(t *testing.T) {
	for _, tc := range []struct {
		name   string
		doc    string
		inputs []string
		noSTT  bool
		want   []string // TranscriptionEvent[:Track:transcript] of each callback, sorted (the dispatcher may reorder them)
	}{
		{name: "inbound only", doc: `<Start><Transcription track="inbound_track" statusCallbackUrl="/tr"/></Start><Say>hi there</Say><Pause length="3"/>`,
			inputs: []string{"speech:yes@500"},
			want:   []string{"transcription-started", "transcription-content:inbound_track:yes", "transcription-stopped"}},
		{name: "outbound only", doc: `<Start><Transcription track="outbound_track" statusCallbackUrl="/tr"/></Start><Say>hi there</Say><Pause length="3"/>`,
			inputs: []string{"speech:yes@500"},
			want:   []string{"transcription-started", "transcription-content:outbound_track:hi there", "transcription-stopped"}},
		{name: "said before the start", doc: `<Pause length="2"/><Start><Transcription track="inbound_track" statusCallbackUrl="/tr"/></Start><Pause length="2"/>`,
			inputs: []string{"speech:early@100", "speech:late@2500"},
			want:   []string{"transcription-started", "transcription-content:inbound_track:late", "transcription-stopped"}},
		{name: "caller hangs up", doc: `<Start><Transcription statusCallbackUrl="/tr"/></Start><Pause length="9"/>`,
			inputs: []string{"hangup@1000", "speech:never@3000"},
			want:   []string{"transcription-started", "transcription-stopped"}},
		{name: "no recognizer", doc: `<Start><Transcription statusCallbackUrl="/tr"/></Start><Pause length="1"/>`, noSTT: true,
			want: []string{"transcription-error"}},
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
				"http://app.test/tr":    "<Response/>",
			}}
			s := sim.New(sim.Options{Inputs: inputs})
			var leg interpreter.Leg = s
			if tc.noSTT {
				leg = noSTTLeg{s}
			}
			d := interpreter.NewDispatcher(f, interpreter.DispatcherOptions{Queue: 100})
			cfg := interpreter.Config{URL: "http://app.test/voice", Clock: s}
			interpreter.New(leg, f, d, cfg).Run(s.Context(context.Background()))
			if err := d.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range f.requests() {
				if r.URL != "http://app.test/tr" {
					continue
				}
				e := r.Params.Get("TranscriptionEvent")
				if e == "transcription-content" {
					data := r.Params.Get("TranscriptionData")
					text := data[strings.Index(data, `"transcript":"`)+14:]
					e += ":" + r.Params.Get("Track") + ":" + text[:strings.IndexByte(text, '"')]
				}
				got = append(got, e)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("callbacks %v, want %v", got, want)
			}
		})
	}
}
