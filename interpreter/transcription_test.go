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

// transcribeSpecLeg records the TranscribeSpec the interpreter asks the leg for.
type transcribeSpecLeg struct {
	*sim.Leg
	specs chan interpreter.TranscribeSpec
}

func (l transcribeSpecLeg) Transcribe(ctx context.Context, spec interpreter.TranscribeSpec) (func(), error) {
	l.specs <- spec
	return l.Leg.Transcribe(ctx, spec)
}

// TestStartTranscriptionSpec checks that <Transcription>'s languageCode,
// hints, track and partialResults reach the recognizer the leg runs
// (https://www.twilio.com/docs/voice/twiml/transcription#attributes).
func TestStartTranscriptionSpec(t *testing.T) {
	for _, tc := range []struct {
		name, attrs       string
		lang, hints       string
		inbound, outbound bool
		partial           bool
	}{
		// Both tracks by default, as Twilio's table gives.
		{name: "defaults", lang: "en-US", inbound: true, outbound: true},
		{name: "language and hints", attrs: `track="inbound_track" languageCode="es-ES" hints="uno, dos, tres"`, lang: "es-ES", hints: "uno, dos, tres", inbound: true},
		{name: "partials", attrs: `partialResults="true"`, lang: "en-US", inbound: true, outbound: true, partial: true},
		{name: "outbound", attrs: `track="outbound_track" languageCode="fr-FR"`, lang: "fr-FR", outbound: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFetcher{docs: map[string]string{
				"http://app.test/voice": `<Response><Start><Transcription ` + tc.attrs + `/></Start><Pause length="1"/></Response>`,
			}}
			s := sim.New(sim.Options{})
			leg := transcribeSpecLeg{s, make(chan interpreter.TranscribeSpec, 4)}
			d := interpreter.NewDispatcher(f, interpreter.DispatcherOptions{Queue: 100})
			interpreter.New(leg, f, d, interpreter.Config{URL: "http://app.test/voice", Clock: s}).Run(s.Context(context.Background()))
			if err := d.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(leg.specs) != 1 {
				t.Fatalf("the leg was asked for %d transcriptions, want 1", len(leg.specs))
			}
			got := <-leg.specs
			if got.Language != tc.lang || got.Hints != tc.hints || got.Inbound != tc.inbound || got.Outbound != tc.outbound || (got.Partial != nil) != tc.partial {
				t.Errorf("spec: language %q, hints %q, inbound %v, outbound %v, partials %v; want %q, %q, %v, %v, %v",
					got.Language, got.Hints, got.Inbound, got.Outbound, got.Partial != nil, tc.lang, tc.hints, tc.inbound, tc.outbound, tc.partial)
			}
		})
	}
}
