package verbs

import (
	"strings"
	"testing"
)

// wantDiag describes one expected diagnostic; msg is a substring.
type wantDiag struct {
	line, col int
	sev       Severity
	code      int
	msg       string
}

func checkDiags(t *testing.T, got []Diagnostic, want []wantDiag) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(want), diagList(got))
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line || g.Col != w.col || g.Severity != w.sev || g.Code != w.code || !strings.Contains(g.Message, w.msg) {
			t.Errorf("diagnostic %d:\ngot  %v\nwant %d:%d: %v: …%s… [%d]", i, g, w.line, w.col, w.sev, w.msg, w.code)
		}
	}
}

func diagList(ds []Diagnostic) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("  " + d.String() + "\n")
	}
	return b.String()
}

func TestDiagnostics(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		kind  Kind
		verbs []string // names of the surviving top-level verbs
		want  []wantDiag
	}{
		{"redirect in gather", "<Response>\n  <Gather>\n    <Say>Hi</Say>\n    <Redirect>/x</Redirect>\n  </Gather>\n</Response>",
			Main, []string{"Gather"}, []wantDiag{{4, 5, Error, 13320, "invalid nested verb <Redirect>"}}},
		{"unknown verb kept", "<Response><Foo a=\"1\"/><Say>x</Say></Response>",
			Main, []string{"Foo", "Say"}, []wantDiag{{1, 11, Error, 12200, "unknown verb <Foo>"}}},
		{"noun at top level dropped", "<Response><Stream url=\"wss://x\"/></Response>",
			Main, nil, []wantDiag{{1, 11, Error, 12200, "<Stream> is not a verb"}}},
		{"unknown attribute", "<Response><Say voice=\"alice\" colour=\"red\">x</Say></Response>",
			Main, []string{"Say"}, []wantDiag{{1, 30, Warning, 12200, `unknown attribute "colour"`}}},
		{"AsyncAmd on a Dial noun", "<Response><Dial><Number asyncAmd=\"true\" machineDetectionTimeout=\"61\">+1</Number></Dial></Response>",
			Main, []string{"Dial"}, []wantDiag{
				{1, 25, Warning, 21263, `"asyncAmd" is a Calls API parameter`},
				{1, 41, Error, 0, `invalid machineDetectionTimeout value "61": want an integer from 3 to 60; using 30`},
			}},
		{"case-sensitive attribute", "<Response><Say Voice=\"alice\">x</Say></Response>",
			Main, []string{"Say"}, []wantDiag{{1, 16, Warning, 12200, `unknown attribute "Voice"`}}},
		{"bad timeout and loop", "<Response><Gather timeout=\"soon\"><Say loop=\"-1\">x</Say></Gather><Play loop=\"x\">u</Play></Response>",
			Main, []string{"Gather", "Play"}, []wantDiag{
				{1, 19, Error, 13313, `invalid timeout value "soon"`},
				{1, 39, Error, 13322, "invalid loop"},
				{1, 71, Error, 13410, "invalid loop"},
			}},
		{"bad finishOnKey and method", "<Response><Gather finishOnKey=\"ab\" method=\"PUT\"/></Response>",
			Main, []string{"Gather"}, []wantDiag{
				{1, 19, Error, 13310, "finishOnKey"},
				{1, 36, Error, 13312, "want GET or POST"},
			}},
		{"bad input and speech", "<Response><Gather input=\"dtmf voice\" speechTimeout=\"auto\" speechModel=\"phone_call\" bargeIn=\"maybe\"/></Response>",
			Main, []string{"Gather"}, []wantDiag{
				{1, 19, Error, 0, `"voice" is not one of dtmf, speech`},
				{1, 84, Error, 13332, "bargeIn"},
				{1, 11, Warning, 13335, "speechTimeout"},
			}},
		{"reject reason", "<Response><Reject reason=\"nope\"/></Response>",
			Main, []string{"Reject"}, []wantDiag{{1, 19, Error, 0, "want one of rejected, busy; using rejected"}}},
		{"dial record and nouns", "<Response><Dial record=\"always\"><Conference>a</Conference><Number>1</Number></Dial></Response>",
			Main, []string{"Dial"}, []wantDiag{
				{1, 17, Error, 13217, "invalid record value"},
				{1, 59, Error, 13215, "cannot be combined with <Conference>"},
			}},
		{"dial queue after number", "<Response><Dial><Number>1</Number><Queue>q</Queue></Dial></Response>",
			Main, []string{"Dial"}, []wantDiag{{1, 35, Error, 13215, "<Queue> must be the only noun"}}},
		{"dial invalid nested", "<Response><Dial><Say>x</Say><Number>1</Number></Dial></Response>",
			Main, []string{"Dial"}, []wantDiag{{1, 17, Error, 13215, "invalid nested element <Say>"}}},
		{"dial empty", "<Response><Dial/></Response>",
			Main, []string{"Dial"}, []wantDiag{{1, 11, Error, 12200, "nothing to dial"}}},
		{"stream track", "<Response><Connect><Stream url=\"wss://x\" track=\"both_tracks\"/></Connect><Start><Stream url=\"wss://y\" track=\"left\"/></Start></Response>",
			Main, []string{"Connect", "Start"}, []wantDiag{
				{1, 42, Error, 31941, "inbound track only"},
				{1, 102, Error, 31941, "invalid track"},
			}},
		{"start invalid noun", "<Response><Start><Number>1</Number><Stream url=\"wss://x\"/></Start></Response>",
			Main, []string{"Start"}, []wantDiag{{1, 18, Error, 14300, "invalid nested noun <Number>"}}},
		{"pause length", "<Response><Pause length=\"0\"/></Response>",
			Main, []string{"Pause"}, []wantDiag{{1, 18, Error, 13910, "invalid length"}}},
		{"record values", "<Response><Record maxLength=\"0\" playBeep=\"yes\" trim=\"none\" finishOnKey=\"a\" recordingStatusCallbackEvent=\"done\"/></Response>",
			Main, []string{"Record"}, []wantDiag{
				{1, 19, Error, 13612, "maxLength"},
				{1, 33, Error, 13616, "playBeep"},
				{1, 48, Error, 13699, "trim"},
				{1, 60, Error, 13613, "finishOnKey"},
				{1, 76, Error, 13621, `"done" is not one of`},
			}},
		{"redirect method", "<Response><Redirect method=\"PUT\">/x</Redirect></Response>",
			Main, []string{"Redirect"}, []wantDiag{{1, 21, Error, 13710, "method"}}},
		// An empty reference is the current document (RFC 3986 §5.2).
		{"empty redirect", "<Response><Redirect/></Response>", Main, []string{"Redirect"}, nil},
		{"empty redirect with method", "<Response><Redirect method=\"GET\"></Redirect></Response>", Main, []string{"Redirect"}, nil},
		// A Client without an identity is an error and is not dialed.
		{"empty client", "<Response><Dial><Client/></Dial></Response>",
			Main, []string{"Dial"}, []wantDiag{{1, 17, Error, 0, "Dial->Client: no client identity"}}},
		{"empty client identity", "<Response><Dial><Client><Identity></Identity></Client></Dial></Response>",
			Main, []string{"Dial"}, []wantDiag{{1, 17, Error, 0, "Dial->Client: no client identity"}}},
		{"conference beep", "<Response><Dial><Conference beep=\"loud\">r</Conference></Dial></Response>",
			Main, []string{"Dial"}, []wantDiag{{1, 29, Error, 13235, "beep"}}},
		{"leave outside enqueue wait", "<Response><Leave/></Response>",
			Main, nil, []wantDiag{{1, 11, Error, 0, "only valid in an Enqueue waitUrl document"}}},
		{"leave in enqueue wait", "<Response><Leave/></Response>", EnqueueWait, []string{"Leave"}, nil},
		{"dial in whisper", "<Response><Say>x</Say><Dial>1</Dial></Response>",
			Whisper, []string{"Say"}, []wantDiag{{1, 23, Error, 13201, "not allowed in a Number/Client/Sip url"}}},
		{"gather in conference wait", "<Response><Gather/><Play>u</Play></Response>",
			ConferenceWait, []string{"Play"}, []wantDiag{{1, 11, Error, 13238, "Conference waitUrl"}}},
		{"hangup in queue url", "<Response><Hangup/></Response>",
			QueueURL, nil, []wantDiag{{1, 11, Error, 12200, "Queue url"}}},
		{"more than ten numbers", "<Response><Dial>" + strings.Repeat("<Number>1</Number>", 11) + "</Dial></Response>",
			Main, []string{"Dial"}, []wantDiag{{1, 197, Error, 0, "at most 10"}}},
		{"ssml unknown tag", "<Response><Say>Hi <speak>x</speak></Say></Response>",
			Main, []string{"Say"}, []wantDiag{{1, 19, Warning, 0, "unsupported SSML element <speak>"}}},
		{"empty say", "<Response><Say>  </Say></Response>",
			Main, []string{"Say"}, []wantDiag{{1, 11, Warning, 13520, "nothing to say"}}},
		{"text in response", "<Response>hello<Hangup/></Response>",
			Main, []string{"Hangup"}, []wantDiag{{1, 1, Warning, 12200, "Response: text content is ignored"}}},
		{"pay prompt nesting", "<Response><Pay><Prompt for=\"card\"><Dial>1</Dial></Prompt></Pay></Response>",
			Main, []string{"Pay"}, []wantDiag{
				{1, 24, Error, 0, "invalid for value"},
				{1, 35, Error, 12200, "<Dial> cannot be nested here"},
			}},
		{"refer without sip", "<Response><Refer><Number>1</Number></Refer></Response>",
			Main, []string{"Refer"}, []wantDiag{
				{1, 18, Error, 12200, "<Number> cannot be nested here"},
				{1, 11, Error, 12200, "no <Sip> target"},
			}},
		{"relay bad enum", "<Response><Connect><ConversationRelay url=\"wss://x\" interruptible=\"sometimes\"/></Connect></Response>",
			Main, []string{"Connect"}, []wantDiag{{1, 53, Error, 0, "interruptible"}}},
		{"multiline positions", "<?xml version=\"1.0\"?>\n<Response>\n\t<Gather>\n\t\t<Say>é</Say>\n\t\t<Hangup/>\n\t</Gather>\n</Response>",
			Main, []string{"Gather"}, []wantDiag{{5, 3, Error, 13320, "<Hangup>"}}},
		{"column counts characters", "<Response><Say>ééé</Say><Foo/></Response>",
			Main, []string{"Say", "Foo"}, []wantDiag{{1, 25, Error, 12200, "unknown verb <Foo>"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.doc), tt.kind)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkDiags(t, doc.Diagnostics, tt.want)
			var names []string
			for _, v := range doc.Verbs {
				names = append(names, v.Name())
			}
			if strings.Join(names, ",") != strings.Join(tt.verbs, ",") {
				t.Errorf("verbs %v, want %v", names, tt.verbs)
			}
		})
	}
}

// TestEmptyClientIsDropped: a <Client> without an identity has no one to
// ring, so it is left out of the Dial's nouns (and does not count towards
// the ten that ring at once).
func TestEmptyClientIsDropped(t *testing.T) {
	tests := []struct {
		name, dial string
		want       []string // identities of the Client nouns kept
	}{
		{"self-closing", `<Dial><Client/></Dial>`, nil},
		{"blank body", `<Dial><Client>  </Client></Dial>`, nil},
		{"empty Identity", `<Dial><Client><Identity></Identity><Parameter name="a" value="b"/></Client></Dial>`, nil},
		{"kept beside an empty one", `<Dial><Client/><Client>alice</Client><Client><Identity>bob</Identity></Client></Dial>`,
			[]string{"alice", "bob"}},
		{"body ignored even so", `<Dial>+15551234567<Client/></Dial>`, nil},
		{"empty ones do not count towards ten", `<Dial>` + strings.Repeat(`<Client/>`, 3) + strings.Repeat(`<Client>c</Client>`, 10) + `</Dial>`,
			strings.Split(strings.Repeat("c ", 10), " ")[:10]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := parseOne(t, tt.dial)
			var got []string
			for _, n := range doc.Verbs[0].(*Dial).Nouns {
				c, ok := n.(*Client)
				if !ok {
					t.Fatalf("noun %s kept, want only Clients", n.Name())
				}
				got = append(got, c.Identity)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("clients %q, want %q", got, tt.want)
			}
			var errs int
			for _, d := range doc.Diagnostics {
				if d.Severity == Error {
					errs++
				}
			}
			if errs == 0 {
				t.Errorf("no error diagnostic:\n%s", diagList(doc.Diagnostics))
			}
			if strings.Contains(diagList(doc.Diagnostics), "nothing to dial") {
				t.Errorf("empty Client reported twice:\n%s", diagList(doc.Diagnostics))
			}
		})
	}
}

func TestInvalidValuesUseDefaults(t *testing.T) {
	doc := parseOne(t, `<Gather timeout="x" numDigits="0" maxSpeechTime="-3" input="voice" finishOnKey="##" speechTimeout="soon"><Say loop="x">a</Say></Gather>`)
	g := doc.Verbs[0].(*Gather)
	if g.Timeout != 5 || g.NumDigits != 0 || g.MaxSpeechTime != 60 || g.FinishOnKey != "#" ||
		len(g.Input) != 1 || g.Input[0] != "dtmf" || g.SpeechTimeout != "5" {
		t.Errorf("defaults not applied: %s", show(g))
	}
	if s := g.Prompts[0].(*Say); s.Loop != 1 {
		t.Errorf("say loop %d", s.Loop)
	}
	if len(doc.Diagnostics) != 7 {
		t.Errorf("want 7 diagnostics, got\n%s", diagList(doc.Diagnostics))
	}
}

func TestDroppedElementsKeepLaterPositions(t *testing.T) {
	// A dropped subtree must not shift the positions of what follows it.
	doc := parseOne(t, `<Gather><Dial><Number>1</Number><Number>2</Number></Dial><Say>a</Say></Gather><Say>b</Say>`)
	g := doc.Verbs[0].(*Gather)
	if len(g.Prompts) != 1 || g.Prompts[0].Position() != p1(68) {
		t.Errorf("prompts %s", show(g.Prompts))
	}
	if doc.Verbs[1].Position() != p1(89) {
		t.Errorf("second say at %v", doc.Verbs[1].Position())
	}
}
