package verbs

import (
	"strings"
	"testing"
	"time"
)

// TestHostileInputsStayLinear feeds near-limit documents built to trigger
// quadratic behaviour. Each parses in well under a second on a laptop; the
// bound is loose so a loaded CI machine does not flake.
func TestHostileInputsStayLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("large inputs")
	}
	const n = MaxDocumentSize - 100
	var attrs strings.Builder
	for i := 0; attrs.Len() < n-40; i++ {
		attrs.WriteString(" a" + itoa(i) + `="1"`)
	}
	cases := map[string]string{
		"many unknown attributes": "<Response><Say" + attrs.String() + ">x</Say></Response>",
		"long invalid list":       `<Response><Gather input="` + strings.Repeat("x ", n/2-40) + `"/></Response>`,
		"many unknown verbs":      "<Response>" + strings.Repeat(`<Foo x="1"/>`, n/12-3) + "</Response>",
		"many dropped prompts":    "<Response><Gather>" + strings.Repeat("<Dial>1</Dial>", n/14-5) + "</Gather></Response>",
		"one long line of verbs":  "<Response>" + strings.Repeat("<Pause/>", n/8-3) + "</Response>",
		"open brackets":           strings.Repeat("<", n),
		"long directive":          "<!DOCTYPE " + strings.Repeat("<", n-20) + ">",
	}
	for name, doc := range cases {
		start := time.Now()
		d, err := Parse([]byte(doc), Main)
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("%s: took %v", name, el)
		}
		if err == nil && len(d.Diagnostics) > maxDiagnostics+1 {
			t.Errorf("%s: %d diagnostics, limit is %d", name, len(d.Diagnostics), maxDiagnostics)
		}
	}
}

func TestDiagnosticLimit(t *testing.T) {
	doc := parseOne(t, strings.Repeat("<Foo/>", maxDiagnostics+5))
	if len(doc.Diagnostics) != maxDiagnostics+1 {
		t.Fatalf("%d diagnostics", len(doc.Diagnostics))
	}
	last := doc.Diagnostics[maxDiagnostics]
	if last.Severity != Warning || !strings.Contains(last.Message, "5 more diagnostics") {
		t.Errorf("last diagnostic %v", last)
	}
	if len(doc.Verbs) != maxDiagnostics+5 {
		t.Errorf("%d verbs kept", len(doc.Verbs))
	}
}
