package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func texml(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	tests := [][]string{
		{},
		{"nope"},
		{"call"},
		{"call", "a.xml", "b.xml"},
		{"call", "../../fixtures/apps/hello.xml", "--method", "PUT"},
		{"call", "../../fixtures/apps/hello.xml", "--input", "keys:1"},
		{"call", "../../fixtures/apps/hello.xml", "--dial-outcome", "ringing"},
		{"call", "../../fixtures/apps/hello.xml", "--trace", "xml"},
		{"call", "../../fixtures/apps/hello.xml", "--status-callback-event", "started"},
		{"call", "--bogus"},
		{"call", "../../fixtures/apps/hello.xml", "--signing-key", "AAAA"},
		{"lint"},
		{"lint", "--format", "yaml", "x.xml"},
		{"serve"},
		{"serve", "--rtp-ports", "5-4", "--voice-url", "x.xml"},
	}
	for _, args := range tests {
		if code, _, stderr := texml(t, args...); code != 2 || stderr == "" {
			t.Errorf("texml %q: exit %d, stderr %q; want 2 and a message", args, code, stderr)
		}
	}
}

func TestServeBadEnvironment(t *testing.T) {
	t.Setenv("TEXML_RTP_TIMEOUT", "soon")
	if code, _, stderr := texml(t, "serve", "--voice-url", "x.xml"); code != 2 || !strings.Contains(stderr, "TEXML_RTP_TIMEOUT") {
		t.Errorf("exit %d, stderr %q; want 2 naming the variable", code, stderr)
	}
}

func TestCallQuickStart(t *testing.T) {
	code, out, stderr := texml(t, "call", "../../fixtures/apps/hello.xml", "--input", "dtmf:1", "--dial-outcome", "completed:42")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		`Say (woman, en-US): "Hello from texml. This is a simulated call."`,
		`Gather collected digits "1"`,
		"menu.xml (200) Digits=1",
		"DialCallDuration=42",
		"call ended: status completed, reason hangup-verb",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
}

func TestCallTraceJSON(t *testing.T) {
	code, out, stderr := texml(t, "call", "../../fixtures/apps/hello.xml", "--trace", "json", "--input", "silence")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		if _, ok := ev["t_ms"].(float64); !ok {
			t.Errorf("line %q has no numeric t_ms", sc.Text())
		}
		names = append(names, ev["event"].(string))
	}
	got := strings.Join(names, " ")
	want := "request answer say say input gather say hangup"
	if got != want {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestLint(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.xml")
	if err := os.WriteFile(bad, []byte("<Response>\n  <Gather><Redirect>/x</Redirect></Gather>\n  <Pay/>\n</Response>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.xml")
	if err := os.WriteFile(broken, []byte("<Response><Say>"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An empty <Redirect/> re-requests the current document: not an error.
	rePrompt := filepath.Join(dir, "reprompt.xml")
	if err := os.WriteFile(rePrompt, []byte(`<Response><Gather><Say>Press 1</Say></Gather><Redirect/><Redirect method="GET"></Redirect></Response>`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, clean := range []string{"../../fixtures/apps/hello.xml", rePrompt} {
		code, out, _ := texml(t, "lint", clean)
		if code != 0 || out != "" {
			t.Errorf("clean file %s: exit %d, output %q", clean, code, out)
		}
	}
	code, out, _ := texml(t, "lint", bad, broken)
	if code != 1 {
		t.Errorf("bad files: exit %d, want 1", code)
	}
	for _, want := range []string{bad + ":2:11: error:", "[13320]", bad + ":3:3: error: <Pay> is not supported", broken + ":1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("lint output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = texml(t, "lint", "--format", "json", bad)
	var fs []finding
	if err := json.Unmarshal([]byte(out), &fs); err != nil || code != 1 || len(fs) < 2 {
		t.Errorf("json lint: exit %d, %v, %s", code, err, out)
	}
}

// TestLintDialect: the same document is clean as TwiML and has findings
// as TeXML, which has no <Client> and rings for at most 120 s.
func TestLintDialect(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "dial.xml")
	if err := os.WriteFile(doc, []byte(`<Response><Dial timeout="300"><Client>alice</Client><Number>+15550001111</Number></Dial></Response>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := texml(t, "lint", doc); code != 0 || out != "" {
		t.Errorf("as TwiML: exit %d, output %q", code, out)
	}
	code, out, _ := texml(t, "lint", "--dialect", "texml", doc)
	if code != 1 || !strings.Contains(out, "<Client> is not supported in TeXML") || !strings.Contains(out, "outside texml's 5-120 seconds") {
		t.Errorf("as TeXML: exit %d, output %q", code, out)
	}
	if code, _, stderr := texml(t, "lint", "--dialect", "laml", doc); code != 2 || !strings.Contains(stderr, "--dialect") {
		t.Errorf("--dialect laml: exit %d, %q", code, stderr)
	}
}
