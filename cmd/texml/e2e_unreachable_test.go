package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// TestDialUnreachable dials a SIP address where nothing answers, not
// even 100 Trying (a host that is down: the datagrams are read and
// dropped). The Dial is failed at the ring timeout, not no-answer
// (https://www.twilio.com/docs/voice/twiml/dial#dialcallstatus-values),
// with no SIP code, since none came. The INVITE's transaction may go on
// until Timer B (32 s, RFC 3261 §17.1.1.2), but the dialed leg's RTP port
// is free at once, and the server closes without waiting for it.
func TestDialUnreachable(t *testing.T) {
	hole, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := hole.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	a := newApp(t, map[string]string{
		"/voice":  `<Response><Dial action="/dialed" timeout="5"><Sip>sip:callee@` + hole.LocalAddr().String() + `</Sip></Dial></Response>`,
		"/dialed": `<Response><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 15*time.Second, nil)
	if c.FinalCode() != 200 {
		t.Fatalf("caller got %d, want 200", c.FinalCode())
	}
	p := waitRequest(t, a, "/dialed", 20*time.Second)
	if got := p.Get("DialCallStatus"); got != "failed" {
		t.Errorf("DialCallStatus=%q, want failed (params %v)", got, p)
	}
	if got := p.Get("DialSipResponseCode"); got != "" {
		t.Errorf("DialSipResponseCode=%q, want none: nothing answered", got)
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.ports.InUse() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := s.ports.InUse(); n != 0 {
		t.Errorf("%d RTP ports in use 3 s after the call ended: the unreachable leg's should be free", n)
	}
	closed := time.Now()
	_ = s.sip.Close() // the service's own close, at cleanup, closes it again
	if d := time.Since(closed); d > 5*time.Second {
		t.Errorf("the server took %v to close: it waited for the unanswered INVITE", d)
	}
}
