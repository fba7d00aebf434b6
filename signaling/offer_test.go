package signaling

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/sdp/v3"
)

// longSay keeps a call answered for a while: quietSynth makes 50 ms a
// character.
var longSay = `<Response><Say>` + strings.Repeat("la ", 100) + `</Say></Response>`

func parseSDP(t *testing.T, body []byte) *sdp.SessionDescription {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		t.Fatalf("SDP %v:\n%s", err, body)
	}
	return &sd
}

// TestOfferStreamsAndVersion: the answer has a line for every offered
// stream (video refused with port 0, the audio line second), mirrors the
// direction, and its o= version is the call's own: 1 for each new call,
// one more for each new SDP of the call.
func TestOfferStreamsAndVersion(t *testing.T) {
	s := newTestServer(t, longSay, 4, nil)
	p := newPeer(t, s)
	a := p.newCall()
	offer := strings.Replace(a.offer("a=recvonly"), "t=0 0\n", "t=0 0\nm=video 6000 RTP/AVP 96\na=rtpmap:96 VP8/90000\n", 1)
	res := a.answered(offer)
	sd := parseSDP(t, res.Body())
	if sd.Origin.SessionVersion != 1 {
		t.Errorf("first SDP of a call: version %d, want 1", sd.Origin.SessionVersion)
	}
	if n := len(sd.MediaDescriptions); n != 2 {
		t.Fatalf("%d m-lines, want 2:\n%s", n, res.Body())
	}
	if v := sd.MediaDescriptions[0]; v.MediaName.Media != "video" || v.MediaName.Port.Value != 0 {
		t.Errorf("video line %v, want port 0", v.MediaName)
	}
	if a := sd.MediaDescriptions[1]; a.MediaName.Media != "audio" || a.MediaName.Port.Value == 0 {
		t.Errorf("audio line %v", a.MediaName)
	}
	if !strings.Contains(string(res.Body()), "a=sendonly\r\n") {
		t.Errorf("answer to a=recvonly:\n%s\nwant a=sendonly", res.Body())
	}

	a.invite(a.offer("a=sendonly"))
	re := p.response(5*time.Second, sip.INVITE, 200)
	a.ack(re, "")
	sd2 := parseSDP(t, re.Body())
	if sd2.Origin.SessionVersion != 2 || sd2.Origin.SessionID != sd.Origin.SessionID {
		t.Errorf("re-INVITE answer: o= %d %d, want %d 2", sd2.Origin.SessionID, sd2.Origin.SessionVersion, sd.Origin.SessionID)
	}
	if !strings.Contains(string(re.Body()), "a=recvonly\r\n") {
		t.Errorf("answer to a=sendonly:\n%s\nwant a=recvonly", re.Body())
	}

	b := p.newCall()
	if v := parseSDP(t, b.answered(b.offer()).Body()).Origin.SessionVersion; v != 1 {
		t.Errorf("another call's first SDP: version %d, want 1", v)
	}
	for _, c := range []*call{a, b} {
		c.send(sip.BYE, "", "")
		p.response(5*time.Second, sip.BYE, 200)
	}
	waitFor(t, 3*time.Second, "the calls end", func() bool { return s.Active() == 0 })
}

// TestSRTPRefused: an offer of secure RTP only gets 488 with a Warning
// that says so, and nothing is set up; in a re-INVITE, the call goes on.
func TestSRTPRefused(t *testing.T) {
	s := newTestServer(t, longSay, 2, nil)
	p := newPeer(t, s)
	srtp := func(c *call) string {
		return strings.Replace(c.offer("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"), "RTP/AVP", "RTP/SAVP", 1)
	}
	c := p.newCall()
	c.invite(srtp(c))
	res := p.final(5*time.Second, sip.INVITE)
	c.ack(res, "")
	w := res.GetHeader("Warning")
	if res.StatusCode != 488 || w == nil || !strings.HasPrefix(w.Value(), "302 ") || !strings.Contains(w.Value(), "RTP/SAVP") {
		t.Errorf("SRTP offer: %d %q, Warning %v; want 488 with Warning 302 naming RTP/SAVP", res.StatusCode, res.Reason, w)
	}
	if s.ports.InUse() != 0 || s.app.fetches.Load() != 0 {
		t.Errorf("a refused offer took a port (%d) or fetched the app (%d)", s.ports.InUse(), s.app.fetches.Load())
	}

	c = p.newCall()
	c.answered(c.offer())
	c.invite(srtp(c))
	if res := p.final(5*time.Second, sip.INVITE); res.StatusCode != 488 {
		t.Errorf("SRTP re-INVITE: %d, want 488", res.StatusCode)
	} else {
		c.ack(res, "")
	}
	if s.Active() != 1 {
		t.Errorf("the call ended after a refused re-INVITE")
	}
	c.send(sip.BYE, "", "")
	p.response(5*time.Second, sip.BYE, 200)
}
