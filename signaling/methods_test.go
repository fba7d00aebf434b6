package signaling

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestByeBeforeAnswer: the caller hangs up with BYE on the early dialog
// (after our 180, before the answer): 200 for the BYE, 487 for the INVITE
// (RFC 3261 §15.1.2), and the call ends without a 200 OK for the INVITE.
func TestByeBeforeAnswer(t *testing.T) {
	goroutineBaseline(t)
	s := newTestServer(t, `<Response><Pause length="30"/><Say>too late</Say></Response>`, 2, nil)
	p := newPeer(t, s)
	c := p.newCall()
	c.ringing(c.offer())
	c.send(sip.BYE, "", "")
	res := p.final(5*time.Second, sip.INVITE)
	if res.StatusCode != 487 {
		t.Fatalf("INVITE after an early BYE: %d, want 487", res.StatusCode)
	}
	c.ack(res, "")
	p.response(5*time.Second, sip.BYE, 200)
	waitFor(t, 3*time.Second, "the call ends", func() bool { return s.Active() == 0 && s.ports.InUse() == 0 })
	p.quiet(500*time.Millisecond, "response to the INVITE after its 487", func(m sip.Message) bool {
		r, ok := m.(*sip.Response)
		return ok && r.CSeq().MethodName == sip.INVITE && r.StatusCode != 487
	})
}

// TestCancelWithoutTransaction: a CANCEL that matches no INVITE gets 481
// (RFC 3261 §9.2).
func TestCancelWithoutTransaction(t *testing.T) {
	s := newTestServer(t, `<Response><Hangup/></Response>`, 2, nil)
	p := newPeer(t, s)
	c := p.newCall()
	c.cseq = 1
	c.send(sip.CANCEL, "", "")
	if res := p.final(5*time.Second, sip.CANCEL); res.StatusCode != 481 {
		t.Errorf("CANCEL of nothing: %d, want 481", res.StatusCode)
	}
}

// TestMethodNotAllowed: a method we do not handle gets 405 with Allow
// listing the ones we do.
func TestMethodNotAllowed(t *testing.T) {
	s := newTestServer(t, `<Response><Hangup/></Response>`, 2, nil)
	p := newPeer(t, s)
	for _, m := range []sip.RequestMethod{sip.MESSAGE, sip.SUBSCRIBE, "PUBLISH"} {
		c := p.newCall()
		c.send(m, "", "")
		res := p.final(5*time.Second, m)
		if res.StatusCode != 405 {
			t.Errorf("%s: %d, want 405", m, res.StatusCode)
			continue
		}
		allow := res.GetHeader("Allow")
		if allow == nil {
			t.Errorf("%s: 405 without Allow", m)
			continue
		}
		for _, want := range []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO"} {
			if !strings.Contains(allow.Value(), want) {
				t.Errorf("%s: Allow %q lacks %s", m, allow.Value(), want)
			}
		}
	}
}

// TestReferOutsideDialog: a REFER that is not within a call is refused
// (we would dial for anyone who asks), and one for a call we do not know
// gets 481.
func TestReferOutsideDialog(t *testing.T) {
	s := newTestServer(t, `<Response><Hangup/></Response>`, 2, nil)
	p := newPeer(t, s)
	c := p.newCall()
	c.send(sip.REFER, "", "")
	if res := p.final(5*time.Second, sip.REFER); res.StatusCode != 403 {
		t.Errorf("REFER outside a dialog: %d, want 403", res.StatusCode)
	}
	c = p.newCall()
	c.send(sip.NOTIFY, "", "")
	if res := p.final(5*time.Second, sip.NOTIFY); res.StatusCode != 481 {
		t.Errorf("NOTIFY outside a dialog: %d, want 481", res.StatusCode)
	}
}
