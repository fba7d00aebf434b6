package kamailiotest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// TestDispatchRoundRobin calls two answering phones through the proxy:
// the two calls go one to each, and the in-dialog requests of both sides
// (the caller's ACK and BYE, the callee's BYE) cross the proxy on the
// route set its Record-Route made. A third call, canceled while it
// rings, gets the callee's 487 through the proxy.
func TestDispatchRoundRobin(t *testing.T) {
	a, b := sipphone.New(t), sipphone.New(t)
	backend := map[string]*sipphone.Phone{"sip:" + a.Addr(): a, "sip:" + b.Addr(): b}
	p := Start(t, a.Addr(), b.Addr())
	caller := sipphone.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// call places a call through the proxy and returns it with the
	// phone the dispatcher sent it to and that phone's side of it.
	call := func() (*sipphone.Call, *sipphone.Phone, *sipphone.Call) {
		t.Helper()
		c := caller.Call(ctx, p.Addr, "someone", sipphone.CallOptions{})
		if c.FinalCode() != 200 {
			t.Fatalf("call through the proxy got %d (%v)", c.FinalCode(), c.Err())
		}
		invites := relayed(p, "INVITE")
		if len(invites) == 0 {
			t.Fatal("the proxy logged no INVITE")
		}
		callee, ok := backend[invites[len(invites)-1].Dest]
		if !ok {
			t.Fatalf("the INVITE went to %s, not a backend", invites[len(invites)-1].Dest)
		}
		in := callee.Next(5 * time.Second)
		// The callee can hang up once the caller's ACK reached it.
		for deadline := time.Now().Add(5 * time.Second); !in.Acked(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the caller's ACK did not reach the callee through the proxy")
			}
		}
		return c, callee, in.Call()
	}

	// The caller hangs up the first call...
	c1, to1, in1 := call()
	if err := c1.Hangup(); err != nil {
		t.Fatal(err)
	}
	if !in1.WaitEnd(5*time.Second) || !in1.RemoteHangup() {
		t.Error("the caller's BYE did not reach the callee through the proxy")
	}
	// ...the callee the second.
	c2, to2, in2 := call()
	if to2 == to1 {
		t.Errorf("both calls went to %s: want round robin", to1.Addr())
	}
	if err := in2.Hangup(); err != nil {
		t.Fatal(err)
	}
	if !c2.WaitEnd(5*time.Second) || !c2.RemoteHangup() {
		t.Error("the callee's BYE did not reach the caller through the proxy")
	}

	// A caller who gives up while the callee rings: the CANCEL finds
	// the INVITE's branch, the 487 comes back.
	a.Answer(sipphone.Behaviour{RingForever: true})
	b.Answer(sipphone.Behaviour{RingForever: true})
	ringing, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	defer stop()
	if c := caller.Call(ringing, p.Addr, "someone", sipphone.CallOptions{}); c.FinalCode() != 487 {
		t.Errorf("a call canceled while ringing got %d (%v), want 487", c.FinalCode(), c.Err())
	}
	if n := len(relayed(p, "CANCEL")); n != 1 {
		t.Errorf("the proxy relayed %d CANCELs, want 1", n)
	}

	if n := len(relayed(p, "ACK")); n < 2 {
		t.Errorf("the proxy relayed %d ACKs, want at least the 2 of the answered calls", n)
	}
	byes := relayed(p, "BYE")
	if len(byes) != 2 {
		t.Fatalf("the proxy relayed BYEs %v, want one each way", byes)
	}
	// In-dialog requests go to the other side's Contact, user@host:port.
	if !strings.HasSuffix(byes[0].Dest, "@"+to1.Addr()) {
		t.Errorf("the caller's BYE went to %s, want the callee at %s", byes[0].Dest, to1.Addr())
	}
	if !strings.HasSuffix(byes[1].Dest, "@"+caller.Addr()) {
		t.Errorf("the callee's BYE went to %s, want the caller at %s", byes[1].Dest, caller.Addr())
	}
}

// relayed lists the requests of method the proxy relayed.
func relayed(p *Proxy, method string) []Relay {
	var rs []Relay
	for _, r := range p.Relayed() {
		if r.Method == method {
			rs = append(rs, r)
		}
	}
	return rs
}
