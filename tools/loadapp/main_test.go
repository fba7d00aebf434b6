package main

import "testing"

func TestDialDoc(t *testing.T) {
	for _, tc := range []struct {
		target, want string
		ok           bool
	}{
		{"sip:callee@127.0.0.1:25070", "<Response><Dial><Sip>sip:callee@127.0.0.1:25070</Sip></Dial></Response>", true},
		{"sip:a&b@127.0.0.1:5", "<Response><Dial><Sip>sip:a&amp;b@127.0.0.1:5</Sip></Dial></Response>", true},
		{"+15550001111", "<Response><Dial><Number>+15550001111</Number></Dial></Response>", true},
		{"sip:callee@10.0.0.1:5060", "", false}, // not loopback
		{"sip:callee@example.com", "", false},
		{"1555<x>", "", false},
	} {
		got, err := dialDoc(tc.target)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("dialDoc(%q) = %q, %v; want %q (ok %v)", tc.target, got, err, tc.want, tc.ok)
		}
	}
}
