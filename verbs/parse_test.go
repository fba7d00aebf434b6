package verbs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

func TestFatalErrors(t *testing.T) {
	deep := "<Response>" + strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth) + "</Response>"
	tests := []struct {
		name      string
		doc       string
		line, col int
		msg       string
	}{
		{"empty", "", 1, 1, "empty document"},
		{"blank", " \n\t ", 1, 1, "empty document"},
		{"declaration only", `<?xml version="1.0"?>`, 1, 1, "no root element"},
		{"wrong root", "<?xml version=\"1.0\"?>\n<Foo/>", 2, 1, "root element is <Foo>"},
		{"lower-case root", "<response/>", 1, 1, "root element is <response>"},
		{"prefixed root", `<t:Response xmlns:t="x"/>`, 1, 1, "root element is <t:Response>"},
		{"unclosed", "<Response>\n<Say>x\n</Response>", 3, 1, "unexpected </Response>"},
		{"truncated", "<Response><Say>x</Say>", 1, 23, "<Response> is not closed"},
		{"ampersand", "<Response><Say>Tom & Jerry</Say></Response>", 1, 21, "malformed XML"},
		{"unquoted attribute", "<Response><Say loop=2>x</Say></Response>", 1, 22, "malformed XML"},
		{"bad comment", "<Response><!-- a -- b --></Response>", 1, 21, "malformed XML"},
		{"two roots", "<Response/>\n<Response/>", 2, 1, "more than one root"},
		{"text after root", "<Response/>junk", 1, 12, "text outside"},
		{"cdata before root", "<![CDATA[x]]><Response/>", 1, 1, "text outside"},
		{"repeated attribute", `<Response><Say voice="a" voice="b">x</Say></Response>`, 1, 26, "voice is repeated"},
		{"too deep", deep, 1, 11 + 3*(MaxDepth-1), "nested deeper"},
		{"unsupported encoding", `<?xml version="1.0" encoding="EBCDIC-US"?><Response/>`, 1, 1, `unsupported encoding "EBCDIC-US"`},
		{"html entity", "<Response><Say>&nbsp;</Say></Response>", 1, 22, "invalid character entity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.doc), Main)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got doc %v err %v, want *ParseError", doc, err)
			}
			if doc != nil {
				t.Errorf("document returned with a fatal error")
			}
			if pe.Code != 12100 || pe.Line != tt.line || pe.Col != tt.col || !strings.Contains(pe.Message, tt.msg) {
				t.Errorf("got %v, want %d:%d …%s… [12100]", pe, tt.line, tt.col, tt.msg)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	big := append([]byte("<Response>"), bytes.Repeat([]byte(" "), MaxDocumentSize)...)
	big = append(big, "</Response>"...)
	if _, err := Parse(big, Main); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("oversized document: %v", err)
	}
	// Exactly MaxDepth levels parse; the <a> elements are unknown verbs
	// or unknown nested elements, which is fine here.
	ok := "<Response>" + strings.Repeat("<Echo>", MaxDepth-1) + strings.Repeat("</Echo>", MaxDepth-1) + "</Response>"
	if _, err := Parse([]byte(ok), Main); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
}

func TestMalformedErrorUnwraps(t *testing.T) {
	_, err := Parse([]byte("<Response><Say>x</Response>"), Main)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Err == nil || errors.Unwrap(err) == nil {
		t.Fatalf("want a wrapped decoder error, got %#v", err)
	}
}

func TestTextHandling(t *testing.T) {
	doc := parseOne(t, `<!-- c --><Say><![CDATA[Tom & Jerry <3]]></Say>`+
		`<Play><![CDATA[ https://x/a.mp3?a=1&b=2 ]]></Play>`+
		`<Say>Press <!-- why -->one,
		   then   two.</Say>`+
		`<Redirect>/a?x=1&amp;y=2</Redirect>`+
		`<Say>&#233;t&#xE9; &lt;ok&gt;</Say>`)
	if len(doc.Diagnostics) != 0 {
		t.Fatalf("diagnostics: %v", doc.Diagnostics)
	}
	say := doc.Verbs[0].(*Say)
	if say.Text != "Tom & Jerry <3" || say.SSML != "" {
		t.Errorf("cdata say %q %q", say.Text, say.SSML)
	}
	if u := doc.Verbs[1].(*Play).URL; u != "https://x/a.mp3?a=1&b=2" {
		t.Errorf("cdata play %q", u)
	}
	if s := doc.Verbs[2].(*Say).Text; s != "Press one, then two." {
		t.Errorf("comment say %q", s)
	}
	if u := doc.Verbs[3].(*Redirect).URL; u != "/a?x=1&y=2" {
		t.Errorf("redirect %q", u)
	}
	if s := doc.Verbs[4].(*Say).Text; s != "été <ok>" {
		t.Errorf("entities %q", s)
	}
}

func TestSSMLVerbatim(t *testing.T) {
	doc := parseOne(t, `<Say voice="Polly.Joanna">  <prosody rate='slow'>Hi &amp; bye</prosody>  <amazon:effect name="whispered">psst</amazon:effect> </Say>`)
	s := doc.Verbs[0].(*Say)
	if want := `  <prosody rate='slow'>Hi &amp; bye</prosody>  <amazon:effect name="whispered">psst</amazon:effect> `; s.SSML != want {
		t.Errorf("SSML %q", s.SSML)
	}
	if s.Text != "Hi & bye psst" {
		t.Errorf("Text %q", s.Text)
	}
	if len(doc.Diagnostics) != 0 {
		t.Errorf("diagnostics %v", doc.Diagnostics)
	}
}

func TestLineEndings(t *testing.T) {
	doc, err := Parse([]byte("<Response>\r\n  <Foo/>\r\n\t<Bar/></Response>"), Main)
	if err != nil {
		t.Fatal(err)
	}
	checkDiags(t, doc.Diagnostics, []wantDiag{
		{2, 3, Error, 12200, "<Foo>"},
		{3, 2, Error, 12200, "<Bar>"},
	})
}

// TestFixtures parses every fixture of this package and checks the outcome.
func TestFixtures(t *testing.T) {
	tests := []struct {
		file  string
		fatal bool
		diags int
		check func(t *testing.T, d *Document)
	}{
		{file: "ivr-2k.xml"},
		{file: "all-verbs.xml", check: func(t *testing.T, d *Document) {
			if len(d.Verbs) != 20 {
				t.Errorf("%d verbs", len(d.Verbs))
			}
		}},
		{file: "texml-extras.xml"},
		{file: "relay-node-lowercase.xml", check: func(t *testing.T, d *Document) {
			r := d.Verbs[0].(*Connect).Nouns[0].(*ConversationRelay)
			for _, k := range []string{"backgroundNoiseReduction", "speechTimeout", "deepgramSmartFormat",
				"ignoreBackchannel", "ttsProvider", "interruptSensitivity"} {
				if _, ok := r.Attrs[k]; !ok {
					t.Errorf("missing canonical %s in %v", k, r.Attrs)
				}
			}
		}},
		{file: "cdata-comments.xml", check: func(t *testing.T, d *Document) {
			if s := d.Verbs[0].(*Say).Text; s != "Tom & Jerry <3 you" {
				t.Errorf("say %q", s)
			}
			if s := d.Verbs[2].(*Gather).Prompts[0].(*Say).Text; s != "Press one." {
				t.Errorf("gather say %q", s)
			}
			if u := d.Verbs[3].(*Redirect).URL; u != "/menu?a=1&b=2" {
				t.Errorf("redirect %q", u)
			}
		}},
		{file: "latin1.xml", check: sayText("Café crème, señor", Pos{3, 3})},
		{file: "cp1252.xml", check: sayText("Price: 5€ \u201cquoted\u201d", Pos{3, 3})},
		{file: "us-ascii.xml", check: sayText("Plain ASCII", Pos{2, 11})},
		{file: "bom-utf8.xml", check: sayText("BOM and leading whitespace", Pos{3, 11})},
		{file: "utf16le.xml", diags: 1, check: func(t *testing.T, d *Document) {
			sayText("Grüße", Pos{3, 3})(t, d)
			if g := d.Diagnostics[0].Pos; g != (Pos{4, 3}) {
				t.Errorf("diagnostic at %v", g)
			}
		}},
		{file: "nesting-errors.xml", diags: 6},
		{file: "malformed-unclosed.xml", fatal: true},
		{file: "malformed-ampersand.xml", fatal: true},
		{file: "wrong-root.xml", fatal: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "fixtures", "verbs", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := Parse(data, Main)
			if tt.fatal {
				if err == nil {
					t.Fatalf("want a fatal error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(doc.Diagnostics) != tt.diags {
				t.Errorf("%d diagnostics, want %d:\n%s", len(doc.Diagnostics), tt.diags, diagList(doc.Diagnostics))
			}
			if tt.check != nil {
				tt.check(t, doc)
			}
		})
	}
}

func sayText(want string, pos Pos) func(*testing.T, *Document) {
	return func(t *testing.T, d *Document) {
		t.Helper()
		s, ok := d.Verbs[0].(*Say)
		if !ok || s.Text != want || s.Pos != pos {
			t.Errorf("first verb %s, want Say %q at %v", show(d.Verbs[0]), want, pos)
		}
	}
}

func TestRootChecks(t *testing.T) {
	html := "<!DOCTYPE html>\n<html><head><meta charset=utf-8><title>502</title></head><body><br></body></html>"
	_, err := Parse([]byte(html), Main)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 || pe.Col != 1 || !strings.Contains(pe.Message, "root element is <html>") {
		t.Errorf("HTML error page: %v", err)
	}
	// A UTF-8 document mislabelled as UTF-16 is read as UTF-8.
	doc, err := Parse([]byte(`<?xml version="1.0" encoding="UTF-16"?><Response><Say>ok</Say></Response>`), Main)
	if err != nil || doc.Verbs[0].(*Say).Text != "ok" {
		t.Errorf("mislabelled UTF-16: %v", err)
	}
	if pe.Error() != "2:1: root element is <html>, want <Response> [12100]" {
		t.Errorf("Error() = %q", pe.Error())
	}
}

func TestKinds(t *testing.T) {
	all := "<Response><Say>a</Say><Play>u</Play><Pause/><Redirect>/r</Redirect><Hangup/><Leave/>" +
		"<Gather/><Dial>1</Dial><Record/></Response>"
	tests := []struct {
		kind Kind
		want string
	}{
		{Main, "Say,Play,Pause,Redirect,Hangup,Gather,Dial,Record"},
		{Whisper, "Say,Play,Pause,Redirect,Hangup,Gather,Record"},
		{QueueURL, "Say,Play,Pause,Redirect"},
		{EnqueueWait, "Say,Play,Pause,Redirect,Hangup,Leave,Gather"},
		{ConferenceWait, "Say,Play,Pause,Redirect"},
	}
	for _, tt := range tests {
		doc, err := Parse([]byte(all), tt.kind)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, v := range doc.Verbs {
			names = append(names, v.Name())
		}
		if got := strings.Join(names, ","); got != tt.want {
			t.Errorf("kind %d: %s, want %s", tt.kind, got, tt.want)
		}
		for _, d := range doc.Diagnostics {
			if d.Severity != Error {
				t.Errorf("kind %d: %v", tt.kind, d)
			}
		}
	}
}

// TestRecordSources checks that the fast byte scanner and the decoder-based
// fallback agree on every fixture, so the fallback is a faithful substitute.
func TestRecordSources(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "fixtures", "verbs", "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("fixtures: %v", err)
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		cs, _ := detectCharset(data)
		src := toUTF8(data, cs)
		res, perr := scan(src)
		dec, ok := decoderRecs(src)
		if perr != nil || !ok {
			continue
		}
		if len(res.recs) != len(dec) {
			t.Errorf("%s: %d vs %d records", f, len(res.recs), len(dec))
			continue
		}
		for i := range dec {
			if res.recs[i] != dec[i] {
				t.Errorf("%s: record %d: scan %+v decoder %+v", f, i, res.recs[i], dec[i])
			}
		}
	}
}

// TestDegradedPositions forces the last-resort path, where neither record
// source matches the tree, and checks that conversion still works.
func TestDegradedPositions(t *testing.T) {
	src := []byte("<Response><Gather><Redirect>/x</Redirect></Gather><Foo/></Response>")
	doc, err := Parse(src, Main)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := scan(src)
	p := &parser{src: []byte("<Response/>"), recs: res.recs, zero: elemRec{pos: Pos{1, 1}}}
	tree := etreeOf(t, src)
	p.recs = p.rebuildRecs(tree)
	verbs := p.response(tree)
	if len(verbs) != 2 || len(p.diags) != len(doc.Diagnostics) {
		t.Fatalf("verbs %d diags %v", len(verbs), p.diags)
	}
	for _, d := range p.diags {
		if d.Pos != (Pos{1, 1}) {
			t.Errorf("degraded diagnostic at %v", d.Pos)
		}
	}
}

func etreeOf(t *testing.T, src []byte) *etree.Element {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(src); err != nil {
		t.Fatal(err)
	}
	return d.Root()
}
