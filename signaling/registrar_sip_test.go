package signaling

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/interpreter"
)

// TestDialClientOverSIP registers two test phones as alice with the
// Server's registrar over loopback UDP, one of them as if behind NAT (a
// private Contact that is not its address), and dials alice: both ring,
// the first to answer is bridged, the other gets CANCEL. Then, with no
// registration left, the dial fails at once with 480.
func TestDialClientOverSIP(t *testing.T) {
	reg, err := NewRegistrar(RegistrarConfig{Realm: "texml.test", Clients: []Client{{Identity: "alice", Password: "alice-pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := newSIPHarness(t, func(c *Config) { c.Registrar = reg })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	desk := sipphone.New(t, sipphone.WithName("desk"))
	desk.Answer(sipphone.Behaviour{Ring: 300 * time.Millisecond})
	mobile := sipphone.New(t, sipphone.WithName("mobile"))
	mobile.Answer(sipphone.Behaviour{RingForever: true})

	res, err := desk.Register(ctx, h.addr, "alice", sipphone.RegisterOptions{Username: "alice", Password: "wrong"})
	if err != nil || res.StatusCode != 403 {
		t.Fatalf("REGISTER with a wrong password: %v %v, want 403", res, err)
	}
	creds := sipphone.RegisterOptions{Username: "alice", Password: "alice-pw", Expires: 120 * time.Second}
	if res, err = desk.Register(ctx, h.addr, "alice", creds); err != nil || res.StatusCode != 200 {
		t.Fatalf("desk REGISTER: %v %v", res, err)
	}
	nat := creds
	nat.Contact = "sip:alice@10.9.8.7:5060"
	if res, err = mobile.Register(ctx, h.addr, "alice", nat); err != nil || res.StatusCode != 200 {
		t.Fatalf("mobile REGISTER: %v %v", res, err)
	}
	if n := len(res.GetHeaders("Contact")); n != 2 {
		t.Fatalf("the 200 lists %d contacts, want 2", n)
	}

	events := make(chan interpreter.Progress, 16)
	target := interpreter.Target{Kind: interpreter.ClientTarget, Addr: "alice", From: "+15550001111",
		Headers: map[string]string{"Ticket": "42"}, CallSid: interpreter.NewSid("CA"), Timeout: 10 * time.Second}
	att, err := h.srv.Dial(ctx, target, func(p interpreter.Progress) { events <- p })
	if err != nil {
		t.Fatal(err)
	}
	waitProgress(t, events, interpreter.Answered)
	in := desk.Next(5 * time.Second)
	if got := in.From().User; got != "+15550001111" {
		t.Errorf("the client saw From %q, want the Dial's callerId", got)
	}
	if to := in.To(); to.User != "alice" || to.Host != "texml.test" {
		t.Errorf("To %s, want sip:alice@texml.test", to.String())
	}
	if got := in.Header("X-Ticket"); got != "42" {
		t.Errorf("X-Ticket %q, want 42 (the <Parameter>)", got)
	}
	ringing := mobile.Next(5 * time.Second)
	if ringing.RequestURI().Host != "10.9.8.7" {
		u := ringing.RequestURI()
		t.Errorf("the NATed phone's request URI %s, want its registered contact", u.String())
	}
	if !ringing.Wait(5*time.Second) || !ringing.Canceled() {
		t.Errorf("the phone that did not answer: canceled %v, final %d; want CANCEL and 487", ringing.Canceled(), ringing.Code())
	}
	att.Cancel()
	waitProgress(t, events, interpreter.Ended)

	for i, ph := range []*sipphone.Phone{desk, mobile} {
		o := creds
		if ph == mobile {
			o = nat
		}
		if res, err := ph.Unregister(ctx, h.addr, "alice", o); err != nil || res.StatusCode != 200 || len(res.GetHeaders("Contact")) != 1-i {
			t.Fatalf("unREGISTER %d: %v %v, want 200 with %d contacts left", i, res, err, 1-i)
		}
	}
	if _, err := h.srv.Dial(ctx, target, func(p interpreter.Progress) { events <- p }); err != nil {
		t.Fatal(err)
	}
	if p := waitProgress(t, events, interpreter.Failed); p.Code != 480 || interpreter.DialStatus(p.Code) != "no-answer" {
		t.Errorf("unregistered client: %d (%s), want 480 and no-answer", p.Code, p.Reason)
	}
	target.Addr = "carol"
	if _, err := h.srv.Dial(ctx, target, func(interpreter.Progress) {}); !errors.Is(err, interpreter.ErrNoRoute) {
		t.Errorf("a client not in the config: %v, want ErrNoRoute", err)
	}
	// Every outbound call is counted out when it is over: MaxCalls would
	// refuse every call after enough Dials otherwise.
	waitFor(t, 5*time.Second, "no call in progress", func() bool { return h.srv.Active() == 0 })
}

// waitProgress returns the first event of kind, failing on a final event of
// another kind or after 10 s.
func waitProgress(t *testing.T, events <-chan interpreter.Progress, kind interpreter.ProgressKind) interpreter.Progress {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-events:
			if p.Kind == kind {
				return p
			}
			if p.Kind == interpreter.Failed || p.Kind == interpreter.Ended {
				t.Fatalf("%v %d (%s), waiting for %v", p.Kind, p.Code, p.Reason, kind)
			}
		case <-deadline:
			t.Fatalf("no %v within 10 s", kind)
		}
	}
}

// TestDialClientOverTCP: a phone behind NAT registers over TCP; the
// INVITE must come back on the phone's own connection (its source
// address), since neither its private Contact nor the connection's
// ephemeral port accepts new connections.
func TestDialClientOverTCP(t *testing.T) {
	reg, err := NewRegistrar(RegistrarConfig{Realm: "texml.test", Clients: []Client{{Identity: "alice", Password: "alice-pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := newSIPHarness(t, func(c *Config) { c.Registrar = reg })
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		t.Skipf("TCP on the harness's port: %v", err)
	}
	go func() { _ = h.srv.ServeTCP(ln) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph := sipphone.New(t, sipphone.WithTCP())
	ph.Answer(sipphone.Behaviour{})
	o := sipphone.RegisterOptions{Username: "alice", Password: "alice-pw", TCP: true, Contact: "sip:alice@10.9.8.7:5060"}
	if res, err := ph.Register(ctx, h.addr, "alice", o); err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER over TCP: %v %v", res, err)
	}
	b := reg.Contacts("alice")
	if len(b) != 1 || b[0].Transport != "TCP" {
		t.Fatalf("bindings %+v, want one over TCP", b)
	}
	events := make(chan interpreter.Progress, 16)
	att, err := h.srv.Dial(ctx, interpreter.Target{Kind: interpreter.ClientTarget, Addr: "alice", From: "+15550001111",
		CallSid: interpreter.NewSid("CA"), Timeout: 10 * time.Second}, func(p interpreter.Progress) { events <- p })
	if err != nil {
		t.Fatal(err)
	}
	waitProgress(t, events, interpreter.Answered)
	in := ph.Next(time.Second)
	if in.Request().Transport() != "TCP" {
		t.Errorf("the INVITE came over %s, want TCP", in.Request().Transport())
	}
	// ACK and BYE need a Content-Length over TCP to be read at all. The
	// phone handles each request on a goroutine of its own: the BYE must
	// not overtake the ACK it follows, so the ACK is waited for first.
	for deadline := time.Now().Add(5 * time.Second); in.Ack() == nil && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	att.Cancel()
	waitProgress(t, events, interpreter.Ended)
	if !in.Call().WaitEnd(5*time.Second) || in.Ack() == nil || !in.Call().RemoteHangup() {
		t.Errorf("the phone: ACK %v, BYE %v; want both", in.Ack() != nil, in.Call().RemoteHangup())
	}
}
