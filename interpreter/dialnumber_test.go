package interpreter

import "testing"

func TestDialNumber(t *testing.T) {
	tests := []struct {
		body, want string
		ok         bool
	}{
		{"+14155551234", "+14155551234", true},
		{" +44 20 7946 0958 ", "+442079460958", true},
		{"+1-415-555-1234", "+14155551234", true},
		{"4155551234", "+14155551234", true},
		{"(415) 555-1234", "+14155551234", true},
		{"1 415 555 1234", "+14155551234", true},
		{"415.555.1234", "+14155551234", true},
		{"1001", "1001", true},                            // an extension
		{"911", "911", true},                              // a short code
		{"00442079460958", "00442079460958", true},        // a carrier's international prefix
		{"9812345678", "9812345678", true},                // 10 digits, but no US number: a national number of elsewhere
		{"0201234567", "0201234567", true},                // a UK national number
		{"+1234567890123456", "+1234567890123456", false}, // more than 15 digits
		{"alice", "alice", false},
		{"+1 415 CALL NOW", "+1 415 CALL NOW", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, ok := DialNumber(tc.body)
		if got != tc.want || ok != tc.ok {
			t.Errorf("DialNumber(%q) = %q, %v; want %q, %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}
