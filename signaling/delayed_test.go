package signaling

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
)

// answerTo is the peer's SDP answer to texml's offer: PCMA on the call's
// RTP port, plus extra lines.
func (c *call) answerTo(extra ...string) string {
	return strings.Replace(strings.Replace(c.offer(extra...), "RTP/AVP 0 101", "RTP/AVP 8 101", 1), "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", 1)
}

// rtpPackets counts the RTP packets of payload type pt that reach the
// call's RTP socket within d.
func (c *call) rtpPackets(d time.Duration, pt uint8) int {
	buf := make([]byte, 1500)
	n := 0
	deadline := time.Now().Add(d)
	for {
		_ = c.rtp.SetReadDeadline(deadline)
		k, err := c.rtp.Read(buf)
		if err != nil {
			return n
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:k]) == nil && pkt.PayloadType == pt {
			n++
		}
	}
}

// TestDelayedOffer: an INVITE without SDP gets our offer in the 200 OK;
// the answer in the ACK sets the codec and address (RFC 3264 §5).
func TestDelayedOffer(t *testing.T) {
	s := newTestServer(t, longSay, 2, nil)
	p := newPeer(t, s)
	c := p.newCall()
	c.invite("")
	res := p.response(5*time.Second, sip.INVITE, 200)
	offer := string(res.Body())
	for _, want := range []string{"m=audio ", " RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=sendrecv"} {
		if !strings.Contains(offer, want) {
			t.Errorf("our offer lacks %q:\n%s", want, offer)
		}
	}
	c.ack(res, c.answerTo())
	if n := c.rtpPackets(500*time.Millisecond, 8); n < 15 {
		t.Errorf("%d PCMA packets in 500 ms after the answer, want about 25", n)
	}
	c.send(sip.BYE, "", "")
	p.response(5*time.Second, sip.BYE, 200)
	waitFor(t, 3*time.Second, "the call ends", func() bool { return s.Active() == 0 })
}

// TestDelayedOfferNoAnswer: an ACK without a usable answer cannot start
// the session; the caller has our 200 OK, so texml ends the call with BYE.
func TestDelayedOfferNoAnswer(t *testing.T) {
	s := newTestServer(t, longSay, 2, nil)
	p := newPeer(t, s)
	c := p.newCall()
	c.invite("")
	c.ack(p.response(5*time.Second, sip.INVITE, 200), "")
	p.request(5*time.Second, sip.BYE)
	waitFor(t, 3*time.Second, "the call ends", func() bool { return s.Active() == 0 && s.ports.InUse() == 0 })
}

// TestReinviteWithoutSDP: a re-INVITE without SDP gets a new offer in the
// 200 OK (o= version one more); the answer in the ACK applies: a=sendonly
// puts the call on hold, so texml stops sending.
func TestReinviteWithoutSDP(t *testing.T) {
	s := newTestServer(t, longSay, 2, nil)
	p := newPeer(t, s)
	c := p.newCall()
	first := c.answered(c.offer())
	if n := c.rtpPackets(300*time.Millisecond, 0); n < 5 {
		t.Fatalf("%d PCMU packets before the re-INVITE", n)
	}
	c.invite("")
	res := p.response(5*time.Second, sip.INVITE, 200)
	v1, v2 := parseSDP(t, first.Body()).Origin.SessionVersion, parseSDP(t, res.Body()).Origin.SessionVersion
	if v2 != v1+1 || !strings.Contains(string(res.Body()), " RTP/AVP 0 8 101") {
		t.Errorf("offer in the 200 OK (version %d after %d):\n%s", v2, v1, res.Body())
	}
	c.ack(res, c.answerTo("a=sendonly"))
	time.Sleep(100 * time.Millisecond) // packets in flight
	_ = c.rtpPackets(50*time.Millisecond, 0)
	if n := c.rtpPackets(500*time.Millisecond, 8) + c.rtpPackets(10*time.Millisecond, 0); n > 0 {
		t.Errorf("%d packets while held by the answer in the ACK", n)
	}
	c.invite(c.offer())
	c.ack(p.response(5*time.Second, sip.INVITE, 200), "")
	if n := c.rtpPackets(500*time.Millisecond, 0); n < 15 {
		t.Errorf("%d PCMU packets in 500 ms after resuming", n)
	}
	c.send(sip.BYE, "", "")
	p.response(5*time.Second, sip.BYE, 200)
}
