package sim

import "testing"

// TestParseCalleeTarget: a number is named as the Dial dials it, so that
// --callee 4155551234 is the party <Number>(415) 555-1234</Number> reaches.
func TestParseCalleeTarget(t *testing.T) {
	for in, want := range map[string]string{
		"4155551234=busy":          "+14155551234",
		"+1 415 555 1234=busy":     "+14155551234",
		"1001=busy":                "1001",
		"*=busy":                   "*",
		"sip:Bob@pbx.example=busy": "sip:Bob@pbx.example",
		"client:alice=busy":        "client:alice",
	} {
		c, err := ParseCallee(in)
		if err != nil || c.Target != want {
			t.Errorf("ParseCallee(%q) = %q, %v; want target %q", in, c.Target, err, want)
		}
	}
}
