package signaling

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func isOptions(m sip.Message) bool {
	r, ok := m.(*sip.Request)
	return ok && r.Method == sip.OPTIONS
}

// TestHoldKeepalive: on hold, texml sends in-dialog OPTIONS; while the
// peer answers, the call stays up; off hold they stop; on hold again, a
// peer that stops answering is hung up with a BYE.
func TestHoldKeepalive(t *testing.T) {
	goroutineBaseline(t)
	s := newTestServer(t, longSay, 2, func(c *Config) { c.Media.HoldKeepalive = 200 * time.Millisecond })
	p := newPeer(t, s)
	c := p.newCall()
	c.answered(c.offer())
	p.quiet(500*time.Millisecond, "OPTIONS while not held", isOptions)

	c.invite(c.offer("a=sendonly"))
	c.ack(p.response(5*time.Second, sip.INVITE, 200), "")
	for range 3 {
		req := p.request(time.Second, sip.OPTIONS) // answered by the peer
		if req.CallID().Value() != c.callID || req.To() == nil {
			t.Fatalf("OPTIONS outside the dialog:\n%s", req)
		}
		if tag, _ := req.To().Params.Get("tag"); tag != c.fromTag {
			t.Errorf("OPTIONS To tag %q, want ours %q", tag, c.fromTag)
		}
	}
	c.invite(c.offer())
	c.ack(p.response(5*time.Second, sip.INVITE, 200), "")
	time.Sleep(250 * time.Millisecond) // an OPTIONS may be in flight
	p.quiet(600*time.Millisecond, "OPTIONS after the hold", isOptions)
	if s.Active() != 1 {
		t.Fatal("the call ended")
	}

	c.invite(c.offer("a=inactive"))
	c.ack(p.response(5*time.Second, sip.INVITE, 200), "")
	p.request(time.Second, sip.OPTIONS)
	p.auto.Store(false) // the peer vanishes
	p.request(3*time.Second, sip.BYE)
	p.auto.Store(true) // answers the BYE's retransmission
	waitFor(t, 3*time.Second, "the call ends", func() bool { return s.Active() == 0 && s.ports.InUse() == 0 })
}

// TestHoldKeepaliveDisabled: a negative HoldKeepalive sends nothing.
func TestHoldKeepaliveDisabled(t *testing.T) {
	s := newTestServer(t, longSay, 2, func(c *Config) { c.Media.HoldKeepalive = -1 })
	p := newPeer(t, s)
	c := p.newCall()
	c.answered(c.offer("a=sendonly"))
	p.quiet(700*time.Millisecond, "OPTIONS", isOptions)
	c.send(sip.BYE, "", "")
	p.response(5*time.Second, sip.BYE, 200)
}

func TestHoldKeepaliveDefault(t *testing.T) {
	for _, tt := range []struct{ in, want time.Duration }{{0, DefaultHoldKeepalive}, {-1, 0}, {time.Second, time.Second}} {
		if got := (&MediaConfig{HoldKeepalive: tt.in}).holdKeepalive(); got != tt.want {
			t.Errorf("HoldKeepalive %v: %v, want %v", tt.in, got, tt.want)
		}
	}
}
