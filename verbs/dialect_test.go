package verbs

import (
	"errors"
	"strings"
	"testing"
)

func TestParseDialect(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Dialect
		err  bool
	}{
		{"", TwiML, false},
		{"twiml", TwiML, false},
		{"TwiML", TwiML, false},
		{" texml ", TeXML, false},
		{"TeXML", TeXML, false},
		{"telnyx", TwiML, true},
	} {
		got, err := ParseDialect(tt.in)
		if got != tt.want || (err != nil) != tt.err || (err != nil && !errors.Is(err, ErrDialect)) {
			t.Errorf("ParseDialect(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	var d Dialect
	if err := d.UnmarshalText([]byte("texml")); err != nil || d != TeXML {
		t.Errorf("UnmarshalText(texml) = %v, %v", d, err)
	}
	if b, _ := TeXML.MarshalText(); string(b) != "texml" {
		t.Errorf("MarshalText = %s", b)
	}
}

func TestDialectRules(t *testing.T) {
	for _, tt := range []struct {
		d                          Dialect
		api                        string
		record                     int
		ringIn, ring, limIn, limit int
		client                     bool
	}{
		{TwiML, "2010-04-01", 5, 700, 600, 30, 30, true},
		{TwiML, "2010-04-01", 5, 2, 5, 20000, 20000, true},
		{TeXML, "v2/texml", 0, 300, 120, 30, 60, false},
		{TeXML, "v2/texml", 0, 2, 5, 20000, 14400, false},
	} {
		if got := tt.d.APIVersion(); got != tt.api {
			t.Errorf("%v.APIVersion() = %q, want %q", tt.d, got, tt.api)
		}
		if got := tt.d.RecordTimeout(); got != tt.record {
			t.Errorf("%v.RecordTimeout() = %d, want %d", tt.d, got, tt.record)
		}
		if got := tt.d.RingTimeout(tt.ringIn); got != tt.ring {
			t.Errorf("%v.RingTimeout(%d) = %d, want %d", tt.d, tt.ringIn, got, tt.ring)
		}
		if got := tt.d.TimeLimit(tt.limIn); got != tt.limit {
			t.Errorf("%v.TimeLimit(%d) = %d, want %d", tt.d, tt.limIn, got, tt.limit)
		}
		if got := tt.d.Supports("Client"); got != tt.client {
			t.Errorf("%v.Supports(Client) = %v, want %v", tt.d, got, tt.client)
		}
		if !tt.d.Supports("Number") || !tt.d.Supports("Sip") {
			t.Errorf("%v does not support Number or Sip", tt.d)
		}
	}
}

// TestDialectParse parses the same documents as TwiML and TeXML: the
// defaults and checks that differ come out different, the rest the same.
func TestDialectParse(t *testing.T) {
	for _, tt := range []struct {
		name, doc string
		d         Dialect
		check     func(t *testing.T, doc *Document)
		diag      string // a diagnostic containing this; "" none
	}{
		{name: "gather-twiml-post", doc: `<Gather action="/a"/>`, d: TwiML, check: func(t *testing.T, doc *Document) {
			if m := doc.Verbs[0].(*Gather).Method; m != "POST" {
				t.Errorf("method %q, want POST", m)
			}
		}},
		{name: "gather-texml-app-method", doc: `<Gather action="/a"/>`, d: TeXML, check: func(t *testing.T, doc *Document) {
			if m := doc.Verbs[0].(*Gather).Method; m != "" {
				t.Errorf("method %q, want the app's (empty)", m)
			}
		}},
		{name: "gather-texml-written-method", doc: `<Gather action="/a" method="get"/>`, d: TeXML, check: func(t *testing.T, doc *Document) {
			if m := doc.Verbs[0].(*Gather).Method; m != "GET" {
				t.Errorf("method %q, want GET as written", m)
			}
		}},
		{name: "gather-texml-bad-method", doc: `<Gather method="PUT"/>`, d: TeXML, diag: `invalid method value "PUT"`, check: func(t *testing.T, doc *Document) {
			if m := doc.Verbs[0].(*Gather).Method; m != "" {
				t.Errorf("method %q, want the app's (empty)", m)
			}
		}},
		{name: "record-twiml-5", doc: `<Record/>`, d: TwiML, check: func(t *testing.T, doc *Document) {
			if n := doc.Verbs[0].(*Record).Timeout; n != 5 {
				t.Errorf("timeout %d, want 5", n)
			}
		}},
		{name: "record-texml-0", doc: `<Record/>`, d: TeXML, check: func(t *testing.T, doc *Document) {
			if n := doc.Verbs[0].(*Record).Timeout; n != 0 {
				t.Errorf("timeout %d, want 0", n)
			}
		}},
		{name: "record-texml-written", doc: `<Record timeout="3"/>`, d: TeXML, check: func(t *testing.T, doc *Document) {
			if n := doc.Verbs[0].(*Record).Timeout; n != 3 {
				t.Errorf("timeout %d, want 3", n)
			}
		}},
		{name: "record-texml-bad", doc: `<Record timeout="-1"/>`, d: TeXML, diag: "using 0", check: func(t *testing.T, doc *Document) {
			if n := doc.Verbs[0].(*Record).Timeout; n != 0 {
				t.Errorf("timeout %d, want 0", n)
			}
		}},
		{name: "dial-twiml-300-kept", doc: `<Dial timeout="300" timeLimit="30">+15550001111</Dial>`, d: TwiML, check: func(t *testing.T, doc *Document) {
			if d := doc.Verbs[0].(*Dial); d.Timeout != 300 || d.TimeLimit != 30 {
				t.Errorf("timeout %d timeLimit %d, want 300 and 30", d.Timeout, d.TimeLimit)
			}
		}},
		{name: "dial-twiml-700-clamped", doc: `<Dial timeout="700">+15550001111</Dial>`, d: TwiML, diag: "outside twiml's 5-600 seconds; using 600"},
		{name: "dial-texml-timeout-clamped", doc: `<Dial timeout="300">+15550001111</Dial>`, d: TeXML, diag: "timeout 300 is outside texml's 5-120 seconds; using 120", check: func(t *testing.T, doc *Document) {
			if d := doc.Verbs[0].(*Dial); d.Timeout != 120 {
				t.Errorf("timeout %d, want 120", d.Timeout)
			}
		}},
		{name: "dial-texml-timelimit-clamped", doc: `<Dial timeLimit="30">+15550001111</Dial>`, d: TeXML, diag: "timeLimit 30 is outside texml's 60-14400 seconds; using 60", check: func(t *testing.T, doc *Document) {
			if d := doc.Verbs[0].(*Dial); d.TimeLimit != 60 {
				t.Errorf("timeLimit %d, want 60", d.TimeLimit)
			}
		}},
		{name: "dial-texml-defaults", doc: `<Dial>+15550001111</Dial>`, d: TeXML, check: func(t *testing.T, doc *Document) {
			if d := doc.Verbs[0].(*Dial); d.Timeout != 30 || d.TimeLimit != 14400 {
				t.Errorf("timeout %d timeLimit %d, want 30 and 14400", d.Timeout, d.TimeLimit)
			}
		}},
		{name: "client-twiml", doc: `<Dial><Client>alice</Client></Dial>`, d: TwiML, check: func(t *testing.T, doc *Document) {
			if n := doc.Verbs[0].(*Dial).Nouns; len(n) != 1 || n[0].Name() != "Client" {
				t.Errorf("nouns %v, want the Client", n)
			}
		}},
		{name: "client-texml-skipped", doc: `<Dial><Client>alice</Client><Number>+15550001111</Number></Dial>`, d: TeXML,
			diag: "<Client> is not supported in TeXML", check: func(t *testing.T, doc *Document) {
				if n := doc.Verbs[0].(*Dial).Nouns; len(n) != 1 || n[0].Name() != "Number" {
					t.Errorf("nouns %v, want the Number only", n)
				}
			}},
		{name: "client-texml-alone", doc: `<Dial><Client>alice</Client></Dial>`, d: TeXML,
			diag: "<Client> is not supported in TeXML", check: func(t *testing.T, doc *Document) {
				if n := doc.Verbs[0].(*Dial).Nouns; len(n) != 0 {
					t.Errorf("nouns %v, want none", n)
				}
				for _, d := range doc.Diagnostics {
					if strings.Contains(d.Message, "nothing to dial") {
						t.Errorf("a dropped Client also reported as an empty Dial: %v", d)
					}
				}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := tt.d.Parse([]byte("<Response>"+tt.doc+"</Response>"), Main)
			if err != nil {
				t.Fatal(err)
			}
			found := tt.diag == ""
			for _, d := range doc.Diagnostics {
				if tt.diag == "" {
					t.Errorf("unexpected diagnostic %v", d)
				} else if strings.Contains(d.Message, tt.diag) {
					found = true
				}
			}
			if !found {
				t.Errorf("diagnostics %v, want one with %q", doc.Diagnostics, tt.diag)
			}
			if tt.check != nil {
				tt.check(t, doc)
			}
		})
	}
}
