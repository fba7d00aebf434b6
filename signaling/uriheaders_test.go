package signaling

import "testing"

// TestURIHeaderAllowed: of the headers in a <Sip> URI, Twilio sends X-
// ones (any case) and four standard ones, nothing else (error 13252).
func TestURIHeaderAllowed(t *testing.T) {
	for name, want := range map[string]bool{
		"X-Custom": true, "x-custom": true, "User-to-User": true, "user-to-user": true,
		"Remote-Party-ID": true, "P-Preferred-Identity": true, "P-Called-Party-ID": true,
		"Foo": false, "X-": false, "Via": false, "Contact": false, "From": false, "P-Asserted-Identity": false,
	} {
		if got := uriHeaderAllowed(name); got != want {
			t.Errorf("uriHeaderAllowed(%q) = %v, want %v", name, got, want)
		}
	}
}
