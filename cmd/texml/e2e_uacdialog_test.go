package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
			invites := distinct(requests(messages(), "INVITE"))
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
	invites := distinct(requests(msgs, "INVITE"))
	if len(invites) != 1 {
		t.Fatalf("SIPp got %d INVITEs, want 1", len(invites))
	}
	n, _ := invites[0].cseq()
	want := []string{"<sip:near@" + callee + ";lr>", "<sip:far@192.0.2.1;lr>"}
	for _, m := range []string{"ACK", "BYE"} {
		// Our ACK again for a retransmitted 2xx is the same ACK.
		reqs := requests(msgs, m)
		if m == "BYE" {
			reqs = distinct(reqs)
		}
		if len(reqs) == 0 || (m == "BYE" && len(reqs) != 1) {
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

// TestUACCancel: our CANCEL (RFC 3261 §9.1) against callees that make it
// hard. A 200 that crosses the CANCEL is a call: it is ACKed and ended
// with BYE, and the Dial still fails as canceled (487). A CANCEL decided
// before any provisional response waits for one (§9.1: it would match
// nothing yet); an answer that comes instead is ACKed and BYEd, with no
// CANCEL at all.
func TestUACCancel(t *testing.T) {
	tests := []struct {
		name, scenario string
		early          bool // cancel before the INVITE has a provisional response; else on the 180
		challenged     bool // the first INVITE gets 100 and 407: cancel once the authenticated one is out
		bye            bool // the callee's answer must be ACKed and BYEd
	}{
		{"answer-crosses-cancel", "callee_cancel_race.xml", false, false, true},
		{"cancel-held-until-180", "callee_cancel_early.xml", true, false, false},
		{"cancel-before-answer", "callee_answer_late.xml", true, false, true},
		// The 100 of the challenged INVITE is no provisional response
		// of the authenticated one, a new transaction.
		{"cancel-held-after-407", "callee_proxy_auth_cancel.xml", true, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trace, messages := sippTrace(t)
			marker := filepath.Join(t.TempDir(), "challenged")
			callee, wait := sippCalleeN(t, tc.scenario, 1, append(trace, "-key", "marker", marker)...)
			s := uacServe(t, "")
			target := sipTarget("sip:callee@" + callee)
			if tc.challenged {
				target.Username, target.Password = "alice", "secret"
			}
			l := uacDial(t, s, target)
			switch {
			case tc.challenged:
				// SIPp touches the marker when the authenticated
				// INVITE has come.
				waitFile(t, marker)
			case !tc.early:
				l.next(t, interpreter.Ringing)
			}
			l.att.Cancel()
			p, _ := l.next(t, interpreter.Answered, interpreter.Failed, interpreter.Ended)
			if p.Kind != interpreter.Failed || p.Code != 487 {
				t.Errorf("the Dial got %v %d (%s), want failed 487", p.Kind, p.Code, p.Reason)
			}
			sippDone(t, "callee", wait)
			msgs := messages()
			// Without a 100 Trying the INVITE is retransmitted (Timer A):
			// the same transaction.
			invites := distinct(requests(msgs, "INVITE"))
			if tc.challenged && len(invites) == 2 {
				invites = invites[1:] // the one canceled
			}
			if len(invites) != 1 {
				t.Fatalf("SIPp got INVITEs in %d transactions, want 1 (2 when challenged)", len(invites))
			}
			n, _ := invites[0].cseq()
			cancels := requests(msgs, "CANCEL")
			if tc.scenario == "callee_answer_late.xml" {
				if len(cancels) != 0 {
					t.Errorf("SIPp got a CANCEL before any provisional response")
				}
			} else if len(cancels) != 1 {
				t.Errorf("SIPp got %d CANCELs, want 1", len(cancels))
			} else if c := cancels[0]; c.param("Via", "branch") != invites[0].param("Via", "branch") || c.get("CSeq") != sippCSeq(n, "CANCEL") {
				t.Errorf("the CANCEL (branch %s, CSeq %s) does not match the INVITE (branch %s, CSeq %d): §9.1",
					c.param("Via", "branch"), c.get("CSeq"), invites[0].param("Via", "branch"), n)
			}
			if tc.early && len(cancels) == 1 {
				// The CANCEL came after SIPp's 180, never before it.
				ringing, canceled := -1, -1
				for i, m := range msgs {
					if m.sent && m.code() == 180 && ringing < 0 {
						ringing = i
					}
					if !m.sent && m.method() == "CANCEL" && canceled < 0 {
						canceled = i
					}
				}
				if ringing < 0 || canceled < ringing {
					t.Errorf("the CANCEL (message %d) went before the 180 (message %d)", canceled, ringing)
				}
			}
			acks, byes := requests(msgs, "ACK"), requests(msgs, "BYE")
			if !tc.bye {
				return
			}
			// A 2xx retransmitted before our ACK arrived is ACKed again.
			if len(acks) == 0 || len(distinct(byes)) != 1 {
				t.Fatalf("SIPp got %d ACKs and %d BYEs for the answer that crossed our CANCEL, want 1 of each", len(acks), len(distinct(byes)))
			}
			for _, a := range acks {
				if a.get("CSeq") != sippCSeq(n, "ACK") {
					t.Errorf("the 2xx's ACK has CSeq %s, want %d ACK", a.get("CSeq"), n)
				}
			}
			if seq, _ := byes[0].cseq(); seq <= n || byes[0].param("To", "tag") == "" || byes[0].get("Call-ID") != invites[0].get("Call-ID") {
				t.Errorf("the BYE (CSeq %s, To %s, Call-ID %s) is not in the answered dialog", byes[0].get("CSeq"), byes[0].get("To"), byes[0].get("Call-ID"))
			}
		})
	}
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within 20 s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sippCSeq(n int, method string) string { return strconv.Itoa(n) + " " + method }

// TestUACManyProvisional: twelve provisional responses (180 and 183
// without SDP) before the 200: the call is answered, each reported as
// ringing. texml runs its own response loop: sipgo's WaitAnswer gives up
// after ten.
func TestUACManyProvisional(t *testing.T) {
	callee, wait := sippCalleeN(t, "callee_many_provisional.xml", 1)
	s := uacServe(t, "")
	l := uacDial(t, s, sipTarget("sip:callee@"+callee))
	p, before := l.next(t, interpreter.Answered, interpreter.Failed)
	if p.Kind != interpreter.Answered {
		t.Fatalf("the Dial got %v %d (%s) after %d events, want answered", p.Kind, p.Code, p.Reason, len(before))
	}
	var codes []int
	for _, b := range before {
		if b.Kind == interpreter.Ringing {
			codes = append(codes, b.Code)
		}
	}
	// Sent back to back over UDP, they may be read in another order.
	slices.Sort(codes)
	if want := []int{180, 180, 180, 180, 180, 180, 183, 183, 183, 183, 183, 183}; !slices.Equal(codes, want) {
		t.Errorf("ringing reported with %v, want six 180s and six 183s", codes)
	}
	l.hangUp(t)
	sippDone(t, "callee", wait)
}
