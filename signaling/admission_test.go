package signaling

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestMaxSetup: beyond Config.MaxSetup calls not yet answered, INVITEs
// get 503 with Retry-After before the app is fetched; a call stops
// counting when it ends.
func TestMaxSetup(t *testing.T) {
	// A leading Pause keeps the call unanswered: in setup.
	s := newTestServer(t, `<Response><Pause length="30"/></Response>`, 4, func(c *Config) { c.MaxSetup = 1 })
	p := newPeer(t, s)
	first := p.newCall()
	first.ringing(first.offer())
	waitFor(t, 2*time.Second, "the first call fetches the app", func() bool { return s.app.fetches.Load() == 1 })
	if n := s.InSetup(); n != 1 {
		t.Fatalf("InSetup = %d, want 1", n)
	}
	second := p.newCall()
	second.invite(second.offer())
	res := p.final(5*time.Second, sip.INVITE)
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("INVITE beyond MaxSetup: %d (Retry-After %v), want 503 with Retry-After", res.StatusCode, res.GetHeader("Retry-After"))
	}
	second.ack(res, "")
	if got := s.app.fetches.Load(); got != 1 {
		t.Errorf("the app was fetched for the refused INVITE (%d fetches)", got)
	}
	first.send(sip.CANCEL, "", "")
	first.ack(p.response(5*time.Second, sip.INVITE, 487), "")
	waitFor(t, 5*time.Second, "the call ends", func() bool { return s.Active() == 0 && s.InSetup() == 0 })
	third := p.newCall()
	third.ringing(third.offer()) // room again
	third.send(sip.CANCEL, "", "")
	third.ack(p.response(5*time.Second, sip.INVITE, 487), "")
	waitFor(t, 5*time.Second, "the call ends", func() bool { return s.Active() == 0 && s.InSetup() == 0 })
}

// TestMaxSetupAnswered: an answered call is out of setup, so MaxSetup
// does not limit the calls in progress.
func TestMaxSetupAnswered(t *testing.T) {
	s := newTestServer(t, `<Response><Say>Hi</Say><Pause length="30"/></Response>`, 4, func(c *Config) { c.MaxSetup = 1 })
	p := newPeer(t, s)
	calls := []*call{p.newCall(), p.newCall()}
	for _, c := range calls {
		c.answered(c.offer())
	}
	if n, a := s.InSetup(), s.Active(); n != 0 || a != 2 {
		t.Errorf("InSetup = %d, Active = %d; want 0 and 2", n, a)
	}
	for _, c := range calls {
		c.send(sip.BYE, "", "")
		p.response(5*time.Second, sip.BYE, 200)
	}
	waitFor(t, 5*time.Second, "the calls end", func() bool { return s.Active() == 0 })
}
