package signaling

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestOverloadRefusedEarly fills the RTP port range with ringing calls:
// the next INVITE gets 503 with Retry-After, before texml sets anything
// up for it (no app fetch, no 180), and once the calls are cancelled
// nothing is left: no port, no call, no goroutine.
func TestOverloadRefusedEarly(t *testing.T) {
	goroutineBaseline(t)
	s := newTestServer(t, `<Response><Pause length="30"/></Response>`, 2, nil)
	p := newPeer(t, s)
	calls := []*call{p.newCall(), p.newCall()}
	for _, c := range calls {
		c.ringing(c.offer())
	}
	if n := s.ports.InUse(); n != 2 {
		t.Fatalf("%d ports in use, want 2", n)
	}
	waitFor(t, 2*time.Second, "both calls fetch the app", func() bool { return s.app.fetches.Load() == 2 })
	fetches := s.app.fetches.Load()

	extra := p.newCall()
	extra.invite(extra.offer())
	res := p.final(5*time.Second, sip.INVITE)
	if res.StatusCode != 503 {
		t.Fatalf("INVITE with no free port: %d, want 503", res.StatusCode)
	}
	if h := res.GetHeader("Retry-After"); h == nil || h.Value() == "" || h.Value() == "0" {
		t.Errorf("503 without Retry-After: %v", res)
	}
	extra.ack(res, "")
	if got := s.app.fetches.Load(); got != fetches {
		t.Errorf("the app was fetched %d times for the refused INVITE", got-fetches)
	}
	// The refused INVITE's handler returns right after its 503.
	waitFor(t, time.Second, "2 active calls", func() bool { return s.Active() == 2 })

	for _, c := range calls {
		c.send(sip.CANCEL, "", "")
		p.response(5*time.Second, sip.CANCEL, 200)
		c.ack(p.response(5*time.Second, sip.INVITE, 487), "")
	}
	waitFor(t, 5*time.Second, "the calls end", func() bool { return s.Active() == 0 })
	if n := s.ports.InUse(); n != 0 {
		t.Errorf("%d ports still in use", n)
	}
	// A port is free again: the next call is answered.
	again := p.newCall()
	again.ringing(again.offer())
	again.send(sip.CANCEL, "", "")
	again.ack(p.response(5*time.Second, sip.INVITE, 487), "")
	waitFor(t, 5*time.Second, "the call ends", func() bool { return s.Active() == 0 && s.ports.InUse() == 0 })
}

// TestMaxCalls: beyond Config.MaxCalls, INVITEs get 503 with Retry-After
// though ports are free.
func TestMaxCalls(t *testing.T) {
	s := newTestServer(t, `<Response><Pause length="30"/></Response>`, 4, func(c *Config) { c.MaxCalls = 1 })
	p := newPeer(t, s)
	first := p.newCall()
	first.ringing(first.offer())
	second := p.newCall()
	second.invite(second.offer())
	res := p.final(5*time.Second, sip.INVITE)
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("INVITE beyond MaxCalls: %d (Retry-After %v), want 503 with Retry-After", res.StatusCode, res.GetHeader("Retry-After"))
	}
	second.ack(res, "")
	if n := s.ports.InUse(); n != 1 {
		t.Errorf("%d ports in use, want 1", n)
	}
	first.send(sip.CANCEL, "", "")
	first.ack(p.response(5*time.Second, sip.INVITE, 487), "")
	waitFor(t, 5*time.Second, "the call ends", func() bool { return s.Active() == 0 })
	third := p.newCall()
	third.ringing(third.offer()) // room again
	third.send(sip.CANCEL, "", "")
	third.ack(p.response(5*time.Second, sip.INVITE, 487), "")
}

// TestPortFreedBeforeByeAnswered: when the app hangs up, the call's RTP
// port is free at once, while our BYE is still waiting for the peer's 200;
// the call leaves the registry when the BYE is answered, so that a BYE
// crossing ours still finds it.
func TestPortFreedBeforeByeAnswered(t *testing.T) {
	goroutineBaseline(t)
	s := newTestServer(t, `<Response><Say>Hello</Say><Hangup/></Response>`, 2, nil)
	p := newPeer(t, s)
	p.auto.Store(false)
	c := p.newCall()
	c.answered(c.offer())
	bye := p.request(5*time.Second, sip.BYE)
	waitFor(t, time.Second, "the RTP port is free while the BYE is unanswered", func() bool { return s.ports.InUse() == 0 })
	waitFor(t, time.Second, "the call no longer counts as active", func() bool { return s.Active() == 0 })
	if s.registered() != 1 {
		t.Errorf("while our BYE is out: %d calls registered, want 1 (a crossing BYE must find the call)", s.registered())
	}
	// Requests crossing our BYE: a re-INVITE finds a call that is over
	// (481), a BYE finds the call (200, not 481).
	c.invite(c.offer())
	if res := p.final(2*time.Second, sip.INVITE); res.StatusCode != 481 {
		t.Errorf("re-INVITE crossing our BYE: %d, want 481", res.StatusCode)
	} else {
		c.ack(res, "")
	}
	c.send(sip.BYE, "", "")
	if res := p.final(2*time.Second, sip.BYE); res.StatusCode != 200 {
		t.Errorf("BYE crossing ours: %d, want 200", res.StatusCode)
	}
	p.reply(bye, 200, "OK", "")
	waitFor(t, 2*time.Second, "the call leaves the registry", func() bool { return s.registered() == 0 })
}

// TestContactPortFromSocket: with Config.SIPPort 0 (a listen address of
// ":0"), Contact carries the port of the socket served, never 0, in our
// responses and in our requests.
func TestContactPortFromSocket(t *testing.T) {
	s := newTestServer(t, `<Response><Say>Hi</Say><Hangup/></Response>`, 2, nil)
	p := newPeer(t, s)
	c := p.newCall()
	res := c.answered(c.offer())
	if ct := res.Contact(); ct == nil || ct.Address.Port != s.addr.Port {
		t.Errorf("Contact %v in the 200 OK, want port %d", ct, s.addr.Port)
	}
	if m := parseSDP(t, res.Body()).MediaDescriptions[0]; m.MediaName.Port.Value == 0 {
		t.Errorf("audio port 0 in the answer:\n%s", res.Body())
	}
	bye := p.request(5*time.Second, sip.BYE)
	if ct := bye.Contact(); ct == nil || ct.Address.Port != s.addr.Port {
		t.Errorf("Contact %v in our BYE, want port %d", ct, s.addr.Port)
	}
	if via := bye.Via(); via == nil || via.Port != s.addr.Port {
		t.Errorf("Via %v in our BYE, want port %d", via, s.addr.Port)
	}
}
