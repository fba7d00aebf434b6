package verbs

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// parseOne parses body wrapped in <Response> on line 1 and returns the
// document; the first verb therefore starts at column 11.
func parseOne(t *testing.T, body string) *Document {
	t.Helper()
	doc, err := Parse([]byte("<Response>"+body+"</Response>"), Main)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return doc
}

// show renders a value with its nested pointers expanded, for failure
// messages.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func p1(col int) Pos { return Pos{Line: 1, Col: col} }

func completed() []string { return []string{"completed"} }

func endpoint() Endpoint {
	return Endpoint{Method: "POST", StatusCallbackMethod: "POST", StatusCallbackEvent: completed()}
}

func TestVerbDefaultsAndAttributes(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Verb
	}{
		{"say defaults", `<Say>Hello</Say>`,
			&Say{Pos: p1(11), Text: "Hello", Voice: "man", Language: "en-US", Loop: 1}},
		{"say attrs", `<Say voice="Polly.Joanna" language="en-GB" loop="0"> Hi
			there  </Say>`,
			&Say{Pos: p1(11), Text: "Hi there", Voice: "Polly.Joanna", Language: "en-GB", Loop: 0}},
		{"say ssml", `<Say>Call <say-as interpret-as="telephone">555</say-as>  now<break time="1s"/>ok</Say>`,
			&Say{Pos: p1(11), Text: "Call 555 now ok", Voice: "man", Language: "en-US", Loop: 1,
				SSML: `Call <say-as interpret-as="telephone">555</say-as>  now<break time="1s"/>ok`}},
		{"play defaults", `<Play> https://x/a.mp3 </Play>`,
			&Play{Pos: p1(11), URL: "https://x/a.mp3", Loop: 1}},
		{"play digits", `<Play digits="ww12#" loop="3"/>`,
			&Play{Pos: p1(11), Digits: "ww12#", Loop: 3}},
		{"pause defaults", `<Pause/>`, &Pause{Pos: p1(11), Length: 1}},
		{"pause length", `<Pause length="7"/>`, &Pause{Pos: p1(11), Length: 7}},
		{"gather defaults", `<Gather/>`,
			&Gather{Pos: p1(11), Method: "POST", Input: []string{"dtmf"}, Timeout: 5, FinishOnKey: "#",
				SpeechTimeout: "5", MaxSpeechTime: 60, Language: "en-US", ProfanityFilter: true,
				PartialResultCallbackMethod: "POST", BargeIn: true}},
		{"gather attrs", `<Gather action="/a" method="get" input="speech dtmf" timeout="9" finishOnKey=""
			numDigits="4" speechTimeout="3" maxSpeechTime="30" speechModel="phone_call" enhanced="TRUE"
			hints="a,b" language="fr-FR" profanityFilter="false" partialResultCallback="/p"
			partialResultCallbackMethod="GET" bargeIn="false" actionOnEmptyResult="true" debug="true"
			transcriptionEngine="Telnyx" useEnhanced="true" apiKeyRef="k"/>`,
			&Gather{Pos: p1(11), Action: "/a", Method: "GET", Input: []string{"speech", "dtmf"}, Timeout: 9,
				FinishOnKey: "", NumDigits: 4, SpeechTimeout: "3", MaxSpeechTime: 30, SpeechModel: "phone_call",
				Enhanced: true, Hints: "a,b", Language: "fr-FR", ProfanityFilter: false,
				PartialResultCallback: "/p", PartialResultCallbackMethod: "GET", BargeIn: false,
				ActionOnEmptyResult: true, Debug: true, TranscriptionEngine: "Telnyx", UseEnhanced: true}},
		{"gather speechTimeout follows timeout", `<Gather timeout="12"/>`,
			&Gather{Pos: p1(11), Method: "POST", Input: []string{"dtmf"}, Timeout: 12, FinishOnKey: "#",
				SpeechTimeout: "12", MaxSpeechTime: 60, Language: "en-US", ProfanityFilter: true,
				PartialResultCallbackMethod: "POST", BargeIn: true}},
		{"gather prompts", `<Gather><Say>a</Say><Play>u</Play><Pause/></Gather>`,
			&Gather{Pos: p1(11), Method: "POST", Input: []string{"dtmf"}, Timeout: 5, FinishOnKey: "#",
				SpeechTimeout: "5", MaxSpeechTime: 60, Language: "en-US", ProfanityFilter: true,
				PartialResultCallbackMethod: "POST", BargeIn: true, Prompts: []Verb{
					&Say{Pos: p1(19), Text: "a", Voice: "man", Language: "en-US", Loop: 1},
					&Play{Pos: p1(31), URL: "u", Loop: 1},
					&Pause{Pos: p1(45), Length: 1},
				}}},
		{"record defaults", `<Record/>`,
			&Record{Pos: p1(11), Method: "POST", Timeout: 5, FinishOnKey: "1234567890*#", MaxLength: 3600,
				PlayBeep: true, Trim: "trim-silence", RecordingStatusCallbackMethod: "POST",
				RecordingStatusCallbackEvent: completed()}},
		{"record attrs", `<Record action="/r" method="GET" timeout="0" finishOnKey="#" maxLength="60"
			playBeep="false" trim="do-not-trim" recordingStatusCallback="/s" recordingStatusCallbackMethod="GET"
			recordingStatusCallbackEvent="in-progress completed" transcribeCallback="/t" recordingChannels="dual"/>`,
			&Record{Pos: p1(11), Action: "/r", Method: "GET", Timeout: 0, FinishOnKey: "#", MaxLength: 60,
				PlayBeep: false, Trim: "do-not-trim", RecordingStatusCallback: "/s", RecordingStatusCallbackMethod: "GET",
				RecordingStatusCallbackEvent: []string{"in-progress", "completed"}, Transcribe: true,
				TranscribeCallback: "/t", RecordingChannels: "dual"}},
		{"hangup", `<Hangup><Parameter name="a" value="1"/></Hangup>`,
			&Hangup{Pos: p1(11), Params: []Param{{"a", "1"}}}},
		{"reject default", `<Reject/>`, &Reject{Pos: p1(11), Reason: "rejected"}},
		{"reject busy", `<Reject reason="busy"/>`, &Reject{Pos: p1(11), Reason: "busy"}},
		{"redirect", `<Redirect method="get">
			/next?x=1 </Redirect>`, &Redirect{Pos: p1(11), URL: "/next?x=1", Method: "GET"}},
		{"redirect default method", `<Redirect>/n</Redirect>`, &Redirect{Pos: p1(11), URL: "/n", Method: "POST"}},
		{"enqueue", `<Enqueue action="/a" waitUrl="/w" waitUrlMethod="GET" maxQueueSize="5">support</Enqueue>`,
			&Enqueue{Pos: p1(11), Queue: "support", Action: "/a", Method: "POST", WaitURL: "/w",
				WaitURLMethod: "GET", MaxQueueSize: 5}},
		{"enqueue task", `<Enqueue workflowSid="WW1"><Task priority="5" timeout="200">{"a":1}</Task></Enqueue>`,
			&Enqueue{Pos: p1(11), Method: "POST", WaitURLMethod: "POST", WorkflowSid: "WW1",
				Task: `{"a":1}`, TaskPriority: 5, TaskTimeout: 200}},
		{"start stream", `<Start action="/s"><Stream url="wss://x" name="n" track="both_tracks"><Parameter name="k" value="v"/></Stream></Start>`,
			&Start{Pos: p1(11), Action: "/s", Method: "POST", Nouns: []Noun{
				&Stream{Pos: p1(30), URL: "wss://x", StreamName: "n", Track: "both_tracks",
					StatusCallbackMethod: "POST", Params: []Param{{"k", "v"}}}}}},
		{"connect stream texml", `<Connect><Stream url="wss://x" codec="pcmu" bidirectionalMode="rtp" bidirectionalCodec="G722" bidirectionalSamplingRate="16000"/></Connect>`,
			&Connect{Pos: p1(11), Method: "POST", Nouns: []Noun{
				&Stream{Pos: p1(20), URL: "wss://x", Track: "inbound_track", StatusCallbackMethod: "POST",
					Codec: "PCMU", BidirectionalMode: "rtp", BidirectionalCodec: "G722", BidirectionalSamplingRate: 16000}}}},
		{"stop", `<Stop><Stream name="n"/></Stop>`,
			&Stop{Pos: p1(11), Nouns: []Noun{&Stream{Pos: p1(17), StreamName: "n", Track: "inbound_track", StatusCallbackMethod: "POST"}}}},
		{"refer", `<Refer action="/r"><Sip>sip:a@b</Sip></Refer>`,
			&Refer{Pos: p1(11), Action: "/r", Method: "POST", Target: &Sip{Pos: p1(30), Endpoint: endpoint(), URI: "sip:a@b"}}},
		{"pay as element", `<Pay input="dtmf" timeout="7"><Prompt for="payment-card-number"><Say>Card</Say></Prompt></Pay>`,
			&Element{Pos: p1(11), Tag: "Pay", Attrs: map[string]string{"input": "dtmf", "timeout": "7"},
				Children: []*Element{{Pos: p1(41), Tag: "Prompt", Attrs: map[string]string{"for": "payment-card-number"},
					Children: []*Element{{Pos: p1(75), Tag: "Say", Text: "Card"}},
					Verbs:    []Verb{&Say{Pos: p1(75), Text: "Card", Voice: "man", Language: "en-US", Loop: 1}}}}}},
		{"echo", `<Echo/>`, &Element{Pos: p1(11), Tag: "Echo"}},
		{"leave is rejected in main", `<Leave/><Echo/>`, &Element{Pos: p1(19), Tag: "Echo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := parseOne(t, tt.body)
			if len(doc.Verbs) == 0 {
				t.Fatalf("no verbs; diagnostics %v", doc.Diagnostics)
			}
			if got := doc.Verbs[0]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %s\nwant %s", show(got), show(tt.want))
			}
			if tt.name != "leave is rejected in main" && len(doc.Diagnostics) != 0 {
				t.Errorf("unexpected diagnostics %v", doc.Diagnostics)
			}
		})
	}
}

func TestDial(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *Dial
	}{
		{"bare number", `<Dial> +14155550100 </Dial>`, &Dial{Nouns: []Noun{
			&Number{Pos: p1(11), Endpoint: endpoint(), Number: "+14155550100"}}}},
		{"number attrs", `<Dial><Number url="/w" method="GET" statusCallback="/s" statusCallbackMethod="GET"
			statusCallbackEvent="initiated answered" sendDigits="1w2" byoc="BY1" machineDetection="enable"
			amdStatusCallback="/amd" amdStatusCallbackMethod="get" machineDetectionTimeout="12"
			machineDetectionSpeechThreshold="3000" machineDetectionSpeechEndThreshold="800"
			machineDetectionSilenceTimeout="4000">+1</Number></Dial>`, &Dial{Nouns: []Noun{
			&Number{Pos: p1(17), Endpoint: Endpoint{URL: "/w", Method: "GET", StatusCallback: "/s",
				StatusCallbackMethod: "GET", StatusCallbackEvent: []string{"initiated", "answered"},
				MachineDetection: "Enable", AMDStatusCallback: "/amd", AMDStatusCallbackMethod: "GET",
				MachineDetectionTimeout: 12, MachineDetectionSpeechThreshold: 3000,
				MachineDetectionSpeechEndThreshold: 800, MachineDetectionSilenceTimeout: 4000},
				Number: "+1", SendDigits: "1w2", BYOC: "BY1"}}}},
		{"client identity child", `<Dial><Client><Identity>alice</Identity><Parameter name="a" value="b"/></Client></Dial>`,
			&Dial{Nouns: []Noun{&Client{Pos: p1(17), Endpoint: endpoint(), Identity: "alice", Params: []Param{{"a", "b"}}}}}},
		{"sip headers", `<Dial><Sip username="u" password="p">sip:a@b<Headers><Header name="X-A" value="1"/></Headers></Sip></Dial>`,
			&Dial{Nouns: []Noun{&Sip{Pos: p1(17), Endpoint: endpoint(), URI: "sip:a@b", Username: "u", Password: "p",
				Headers: []Param{{"X-A", "1"}}}}}},
		{"conference", `<Dial><Conference muted="true" beep="onenter" startConferenceOnEnter="false"
			endConferenceOnExit="true" waitUrl="" waitMethod="GET" maxParticipants="10" record="record-from-start"
			region="ie1" trim="false" statusCallbackEvent="start end" jitterBufferSize="off"
			participantLabel="agent">Room 1</Conference></Dial>`,
			&Dial{Nouns: []Noun{&Conference{Pos: p1(17), Room: "Room 1", Muted: true, Beep: "onEnter",
				StartConferenceOnEnter: false, EndConferenceOnExit: true, WaitURLSet: true, WaitMethod: "GET",
				MaxParticipants: 10, Record: "record-from-start", Region: "ie1", Trim: "do-not-trim",
				StatusCallbackMethod: "POST", StatusCallbackEvent: []string{"start", "end"},
				RecordingStatusCallbackMethod: "POST", JitterBufferSize: "off", ParticipantLabel: "agent"}}}},
		{"conference defaults", `<Dial><Conference>r</Conference></Dial>`,
			&Dial{Nouns: []Noun{&Conference{Pos: p1(17), Room: "r", Beep: "true", StartConferenceOnEnter: true,
				WaitMethod: "POST", MaxParticipants: 250, Record: "do-not-record", Trim: "trim-silence",
				StatusCallbackMethod: "POST", RecordingStatusCallbackMethod: "POST", JitterBufferSize: "large"}}}},
		{"queue", `<Dial><Queue url="/q">support</Queue></Dial>`,
			&Dial{Nouns: []Noun{&Queue{Pos: p1(17), Queue: "support", URL: "/q", Method: "POST"}}}},
		{"application", `<Dial><Application customerId="c" copyParentTo="true"><ApplicationSid>AP1</ApplicationSid></Application></Dial>`,
			&Dial{Nouns: []Noun{&Application{Pos: p1(17), Endpoint: endpoint(), ApplicationSid: "AP1", CustomerID: "c", CopyParentTo: true}}}},
		{"sim and whatsapp", `<Dial><Sim>HS1</Sim><WhatsApp>+1</WhatsApp></Dial>`,
			&Dial{Nouns: []Noun{&Sim{Pos: p1(17), Sid: "HS1"}, &WhatsApp{Pos: p1(31), Endpoint: endpoint(), Number: "+1"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := parseOne(t, tt.body)
			if len(doc.Diagnostics) != 0 {
				t.Errorf("unexpected diagnostics %v", doc.Diagnostics)
			}
			d := doc.Verbs[0].(*Dial)
			if !reflect.DeepEqual(d.Nouns, tt.want.Nouns) {
				t.Errorf("nouns:\ngot  %s\nwant %s", show(d.Nouns), show(tt.want.Nouns))
			}
		})
	}
}

func TestDialAttributes(t *testing.T) {
	doc := parseOne(t, `<Dial action="/a" method="GET" timeout="10" callerId="+1" callReason="r" hangupOnStar="true"
		timeLimit="60" record="true" recordingTrack="inbound" recordingStatusCallback="/rs"
		recordingStatusCallbackMethod="GET" recordingStatusCallbackEvent="absent" trim="trim-silence"
		answerOnBridge="true" ringTone="UK" sequential="true" referUrl="/ref" referMethod="GET"
		events="call-progress-event" fromDisplayName="Acme">5</Dial>`)
	if len(doc.Diagnostics) != 0 {
		t.Fatalf("unexpected diagnostics %v", doc.Diagnostics)
	}
	want := &Dial{Pos: p1(11), Action: "/a", Method: "GET", Timeout: 10, CallerID: "+1", CallReason: "r",
		HangupOnStar: true, TimeLimit: 60, Record: "record-from-answer", RecordingTrack: "inbound",
		RecordingStatusCallback: "/rs", RecordingStatusCallbackMethod: "GET",
		RecordingStatusCallbackEvent: []string{"absent"}, Trim: "trim-silence", AnswerOnBridge: true,
		RingTone: "uk", Sequential: true, ReferURL: "/ref", ReferMethod: "GET", Events: "call-progress-event",
		FromDisplayName: "Acme", Nouns: []Noun{&Number{Pos: p1(11), Endpoint: endpoint(), Number: "5"}}}
	if got := doc.Verbs[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("got  %s\nwant %s", show(got), show(want))
	}
	def := parseOne(t, `<Dial>5</Dial>`).Verbs[0].(*Dial)
	wantDef := &Dial{Pos: p1(11), Method: "POST", Timeout: 30, TimeLimit: 14400, Record: "do-not-record",
		RecordingTrack: "both", RecordingStatusCallbackMethod: "POST", RecordingStatusCallbackEvent: completed(),
		Trim: "do-not-trim", RingTone: "us", ReferMethod: "POST",
		Nouns: []Noun{&Number{Pos: p1(11), Endpoint: endpoint(), Number: "5"}}}
	if !reflect.DeepEqual(def, wantDef) {
		t.Errorf("defaults:\ngot  %s\nwant %s", show(def), show(wantDef))
	}
}

func TestConversationRelayCaseInsensitive(t *testing.T) {
	doc := parseOne(t, `<Connect action="/done"><ConversationRelay URL="wss://ai" welcomegreeting="Hi"
		TTSPROVIDER="ElevenLabs" interruptible="speech" dtmfdetection="true" backgroundnoisereduction="true"
		speechtimeout="2000" ignorebackchannel="false" deepgramsmartformat="true" custom="x">
		<Language code="fr-FR" ttsprovider="Google" voice="v"/>
		<Parameter name="k" value="v"/></ConversationRelay></Connect>`)
	c := doc.Verbs[0].(*Connect)
	r := c.Nouns[0].(*ConversationRelay)
	wantAttrs := map[string]string{"url": "wss://ai", "welcomeGreeting": "Hi", "ttsProvider": "ElevenLabs",
		"interruptible": "speech", "dtmfDetection": "true", "backgroundNoiseReduction": "true",
		"speechTimeout": "2000", "ignoreBackchannel": "false", "deepgramSmartFormat": "true", "custom": "x"}
	if r.URL != "wss://ai" || !reflect.DeepEqual(r.Attrs, wantAttrs) {
		t.Errorf("attrs: %v %#v", r.URL, r.Attrs)
	}
	wantLang := []map[string]string{{"code": "fr-FR", "ttsProvider": "Google", "voice": "v"}}
	if !reflect.DeepEqual(r.Languages, wantLang) || !reflect.DeepEqual(r.Params, []Param{{"k", "v"}}) {
		t.Errorf("children: %#v %#v", r.Languages, r.Params)
	}
	if len(doc.Diagnostics) != 1 || !strings.Contains(doc.Diagnostics[0].Message, `"custom"`) ||
		doc.Diagnostics[0].Severity != Warning {
		t.Errorf("want one unknown-attribute warning, got %v", doc.Diagnostics)
	}
}

func TestTeXMLExtras(t *testing.T) {
	doc := parseOne(t, `<Start><Transcription language="en" interimResults="true" transcriptionEngine="B"/>`+
		`<Suppression/><Siprec connectorName="c" track="both_tracks"/></Start>`+
		`<AIGather action="/g"><Greeting>Hi</Greeting><Parameters>{"type":"object"}</Parameters></AIGather>`+
		`<HttpRequest async="false" action="/h"><Request url="https://api" method="POST"><Headers><Header><Key>A</Key><Value>1</Value></Header></Headers>`+
		`<Body><![CDATA[{"x": 1}]]></Body></Request><Response><Field name="a"/></Response></HttpRequest>`+
		`<Stop><Suppression/><Transcription/></Stop>`)
	if len(doc.Diagnostics) != 0 {
		t.Fatalf("unexpected diagnostics %v", doc.Diagnostics)
	}
	start := doc.Verbs[0].(*Start)
	if len(start.Nouns) != 3 || start.Nouns[0].Name() != "Transcription" || start.Nouns[1].Name() != "Suppression" {
		t.Fatalf("start nouns %#v", start.Nouns)
	}
	tr := start.Nouns[0].(*Element)
	if tr.Attrs["interimResults"] != "true" || tr.Attrs["transcriptionEngine"] != "B" {
		t.Errorf("transcription attrs %v", tr.Attrs)
	}
	ai := doc.Verbs[1].(*Element)
	if ai.Tag != "AIGather" || ai.Attrs["action"] != "/g" || len(ai.Children) != 2 || ai.Children[1].Text != `{"type":"object"}` {
		t.Errorf("AIGather %#v", ai)
	}
	hr := doc.Verbs[2].(*Element)
	body := hr.Children[0].Children[1]
	if hr.Tag != "HttpRequest" || body.Tag != "Body" || body.Text != `{"x": 1}` || hr.Children[1].Tag != "Response" {
		t.Errorf("HttpRequest %#v", hr)
	}
	if stop := doc.Verbs[3].(*Stop); len(stop.Nouns) != 2 {
		t.Errorf("stop %#v", stop)
	}
}

func TestElementAttributeChecks(t *testing.T) {
	doc := parseOne(t, `<Pay timeout="x" paymentMethod="cash" foo="1" statusCallbackMethod="get"/><Sms to="+1" method="PUT">hi</Sms>`)
	checkDiags(t, doc.Diagnostics, []wantDiag{
		{1, 16, Error, 0, "invalid timeout"},
		{1, 28, Error, 0, "invalid paymentMethod"},
		{1, 49, Warning, 12200, `unknown attribute "foo"`},
		{1, 98, Error, 0, "invalid method"},
	})
	pay := doc.Verbs[0].(*Element)
	want := map[string]string{"foo": "1", "statusCallbackMethod": "get"}
	if !reflect.DeepEqual(pay.Attrs, want) {
		t.Errorf("Pay attrs %v, want %v", pay.Attrs, want)
	}
	if sms := doc.Verbs[1].(*Element); sms.Text != "hi" || sms.Attrs["to"] != "+1" {
		t.Errorf("Sms %s", show(sms))
	}
}

func TestUTF16BigEndianWithoutBOM(t *testing.T) {
	var b []byte
	for _, r := range `<?xml version="1.0" encoding="UTF-16BE"?><Response><Say>hé</Say></Response>` {
		b = append(b, byte(r>>8), byte(r))
	}
	doc, err := Parse(b, Main)
	if err != nil || doc.Verbs[0].(*Say).Text != "hé" {
		t.Fatalf("UTF-16BE: %v", err)
	}
}

// TestConversationRelayDebugAndSpeechTimeout: debug and events keep the
// options ConversationRelay documents (debugging, speaker-events,
// tokens-played) and report any other; speechTimeout is auto or
// 600-5000 milliseconds, anything else is reported and left out, so the
// default applies
// (https://www.twilio.com/docs/voice/twiml/connect/conversationrelay).
func TestConversationRelayDebugAndSpeechTimeout(t *testing.T) {
	tests := []struct {
		attrs string
		want  map[string]string // the attributes kept, besides url
		diag  string            // "" for none
	}{
		{`debug="speaker-events tokens-played"`, map[string]string{"debug": "speaker-events tokens-played"}, ""},
		{`debug="Debugging,Speaker-Events"`, map[string]string{"debug": "debugging speaker-events"}, ""},
		{`events="tokens-played"`, map[string]string{"events": "tokens-played"}, ""},
		{`debug="speaker-events verbose"`, map[string]string{"debug": "speaker-events"}, `invalid debug value "speaker-events verbose"`},
		{`debug="loud"`, map[string]string{}, "using none"},
		{`debug=""`, map[string]string{}, ""},
		{`speechTimeout="auto"`, map[string]string{"speechTimeout": "auto"}, ""},
		{`speechTimeout="600"`, map[string]string{"speechTimeout": "600"}, ""},
		{`speechTimeout="5000"`, map[string]string{"speechTimeout": "5000"}, ""},
		{`speechTimeout="599"`, map[string]string{}, "want auto or 600-5000"},
		{`speechTimeout="5001"`, map[string]string{}, "want auto or 600-5000"},
		{`speechTimeout="1.5"`, map[string]string{}, "using the default (auto)"},
		{`speechTimeout="soon"`, map[string]string{}, "invalid speechTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.attrs, func(t *testing.T) {
			doc, err := Parse([]byte(`<Response><Connect><ConversationRelay url="wss://ai" `+tt.attrs+`/></Connect></Response>`), Main)
			if err != nil {
				t.Fatal(err)
			}
			r := doc.Verbs[0].(*Connect).Nouns[0].(*ConversationRelay)
			want := map[string]string{"url": "wss://ai"}
			for k, v := range tt.want {
				want[k] = v
			}
			if !reflect.DeepEqual(r.Attrs, want) {
				t.Errorf("attrs %v, want %v", r.Attrs, want)
			}
			switch {
			case tt.diag == "" && len(doc.Diagnostics) != 0:
				t.Errorf("diagnostics %v, want none", doc.Diagnostics)
			case tt.diag != "" && (len(doc.Diagnostics) != 1 || !strings.Contains(doc.Diagnostics[0].Message, tt.diag)):
				t.Errorf("diagnostics %v, want one with %q", doc.Diagnostics, tt.diag)
			}
		})
	}
}
