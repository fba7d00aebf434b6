package main

import (
	"strings"
	"testing"

	"github.com/texml/texml/interpreter"
)

// sipTarget is a <Sip> Dial of uri.
func sipTarget(uri string) interpreter.Target {
	return interpreter.Target{Kind: interpreter.SIPTarget, Addr: uri}
}

// TestUACRedirect: a 3xx is followed once, to its Contact (RFC 3261
// §8.1.3.4), and that target's answer is the Dial's; a second 3xx is not
// followed (a redirect loop ends there) and fails the Dial with its code,
// which DialCallStatus reports as failed.
func TestUACRedirect(t *testing.T) {
	tests := []struct {
		name   string
		second string // what the Contact of the first 3xx runs
		want   interpreter.ProgressKind
		code   int
	}{
		{"followed-once", "callee_answer.xml", interpreter.Answered, 200},
		{"second-3xx-not-followed", "callee_302.xml", interpreter.Failed, 302},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trace, messages := sippTrace(t)
			// The second 302 points at the discard port: an INVITE
			// there would get no answer, not the 302 the test wants.
			second, waitSecond := sippCalleeN(t, tc.second, 1, append(trace, "-key", "target", "127.0.0.1:9")...)
			first, waitFirst := sippCalleeN(t, "callee_302.xml", 1, "-key", "target", second)
			s := uacServe(t, "")
			l := uacDial(t, s, sipTarget("sip:callee@"+first))
			p := l.outcome(t)
			if p.Kind != tc.want || p.Code != tc.code {
				t.Fatalf("the Dial got %v %d (%s), want %v %d", p.Kind, p.Code, p.Reason, tc.want, tc.code)
			}
			if p.Kind == interpreter.Answered {
				l.hangUp(t)
			} else if got := interpreter.DialStatus(p.Code); got != "failed" {
				t.Errorf("DialCallStatus for %d: %s, want failed", p.Code, got)
			}
			sippDone(t, "first callee", waitFirst)
			sippDone(t, "second callee", waitSecond)
			invites := requests(messages(), "INVITE")
			if len(invites) != 1 || invites[0].ruri() != "sip:moved@"+second {
				t.Fatalf("the redirect target got %d INVITEs (%v), want one to sip:moved@%s", len(invites), invites, second)
			}
			if !strings.Contains(invites[0].get("To"), "sip:moved@"+second) {
				t.Errorf("the redirected INVITE's To is %s, want the new target", invites[0].get("To"))
			}
		})
	}
}
