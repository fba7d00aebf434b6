package main

import (
	"slices"
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

// TestUACRecordRoute: the route set of our dialog is the 2xx's
// Record-Route reversed (RFC 3261 §12.1.2); the ACK and the BYE carry it
// as Route, near proxy first, go to that proxy (loose routing, §16.12),
// and keep the callee's Contact as Request-URI. The callee's Contact is an
// address nothing listens at: requests sent there never reach SIPp.
func TestUACRecordRoute(t *testing.T) {
	trace, messages := sippTrace(t)
	callee, wait := sippCalleeN(t, "callee_record_route.xml", 1, trace...)
	s := uacServe(t, "")
	l := uacDial(t, s, sipTarget("sip:callee@"+callee))
	if p := l.outcome(t); p.Kind != interpreter.Answered {
		t.Fatalf("the Dial got %v %d (%s), want answered", p.Kind, p.Code, p.Reason)
	}
	l.hangUp(t)
	sippDone(t, "callee", wait)
	msgs := messages()
	invites := requests(msgs, "INVITE")
	if len(invites) != 1 {
		t.Fatalf("SIPp got %d INVITEs, want 1", len(invites))
	}
	n, _ := invites[0].cseq()
	want := []string{"<sip:near@" + callee + ";lr>", "<sip:far@192.0.2.1;lr>"}
	for _, m := range []string{"ACK", "BYE"} {
		reqs := requests(msgs, m)
		if len(reqs) != 1 {
			t.Errorf("SIPp got %d %ss, want 1", len(reqs), m)
			continue
		}
		r := reqs[0]
		if got := r.routes(); !slices.Equal(got, want) {
			t.Errorf("%s Route %v, want %v (the Record-Route reversed)", m, got, want)
		}
		if r.ruri() != "sip:callee@192.0.2.2:5060" {
			t.Errorf("%s Request-URI %s, want the callee's Contact sip:callee@192.0.2.2:5060", m, r.ruri())
		}
		if seq, method := r.cseq(); method != m || (m == "ACK") != (seq == n) || seq < n {
			t.Errorf("%s CSeq %q after the INVITE's %d", m, r.get("CSeq"), n)
		}
	}
}
