package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/texml/texml/internal/sipphone"
)

// toneApp serves /voice, which plays a 440 Hz tone of length d and hangs
// up.
func toneApp(t *testing.T, d time.Duration) *app {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "tone.wav")
	writeToneWAV(t, wav, 440, d)
	data, err := os.ReadFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	return newApp(t, map[string]string{"/voice": `<Response><Play>/tone.wav</Play><Hangup/></Response>`, "/tone.wav": string(data)})
}

// TestHoldAndResume holds the call with a re-INVITE (a=sendonly) in the
// middle of a 3 s tone: texml answers a=recvonly and stops sending; the
// re-INVITE back to sendrecv resumes the tone where it stopped, so the
// whole tone is still heard.
func TestHoldAndResume(t *testing.T) {
	a := toneApp(t, 3*time.Second)
	s := startServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const held = 1500 * time.Millisecond
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 8*time.Second, func(c *sipphone.Call) {
		time.Sleep(time.Second)
		hold, err := c.Reinvite("sendonly")
		if err != nil {
			t.Fatal(err)
		}
		if hold.StatusCode != 200 || !strings.Contains(string(hold.Body()), "a=recvonly") {
			t.Errorf("hold: %d, answer:\n%s\nwant 200 with a=recvonly", hold.StatusCode, hold.Body())
		}
		time.Sleep(100 * time.Millisecond) // packets already in flight
		n := c.Packets()
		time.Sleep(held)
		if got := c.Packets() - n; got > 0 {
			t.Errorf("%d RTP packets while held", got)
		}
		resume, err := c.Reinvite("sendrecv")
		if err != nil {
			t.Fatal(err)
		}
		if resume.StatusCode != 200 || !strings.Contains(string(resume.Body()), "a=sendrecv") {
			t.Errorf("resume: %d, answer:\n%s\nwant 200 with a=sendrecv", resume.StatusCode, resume.Body())
		}
		n = c.Packets()
		time.Sleep(500 * time.Millisecond)
		if got := c.Packets() - n; got < 20 {
			t.Errorf("%d RTP packets in the 500 ms after resuming, want about 25", got)
		}
	})
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up %v", c.FinalCode(), c.RemoteHangup())
	}
	// Playback paused while held: all of the tone, and the call lasted
	// the tone plus the hold.
	if v := sipphone.VoicedTime(c.Audio()); v < 2800*time.Millisecond || v > 3200*time.Millisecond {
		t.Errorf("heard %v of the 3 s tone", v)
	}
	if f := sipphone.DominantFreq(c.Audio()); math.Abs(f-440) > 20 {
		t.Errorf("heard %.0f Hz, want 440", f)
	}
	if d := c.Duration(); d < 3*time.Second+held {
		t.Errorf("call lasted %v, want at least the tone and the hold (%v)", d, 3*time.Second+held)
	}
}

// TestOptions asks texml what it supports, outside any call, and sends
// what it does not support.
func TestOptions(t *testing.T) {
	a := newApp(t, map[string]string{"/voice": `<Response><Hangup/></Response>`})
	s := startServe(t, a.srv.URL+"/voice")
	res := sipRequest(t, s.sipAddr, sip.OPTIONS, "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("OPTIONS: %d", res.StatusCode)
	}
	allow := res.GetHeader("Allow")
	if allow == nil {
		t.Fatal("OPTIONS: no Allow header")
	}
	for _, m := range []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO"} {
		if !strings.Contains(allow.Value(), m) {
			t.Errorf("Allow %q lacks %s", allow.Value(), m)
		}
	}
	// A method texml does not handle: 405 with the same Allow.
	res = sipRequest(t, s.sipAddr, sip.MESSAGE, "text/plain", []byte("hello"))
	if res.StatusCode != 405 || res.GetHeader("Allow") == nil || res.GetHeader("Allow").Value() != allow.Value() {
		t.Errorf("MESSAGE: %d, Allow %v; want 405 with Allow %q", res.StatusCode, res.GetHeader("Allow"), allow.Value())
	}
	// A CANCEL that matches no INVITE: 481.
	if res = sipRequest(t, s.sipAddr, sip.CANCEL, "", nil); res.StatusCode != 481 {
		t.Errorf("CANCEL of nothing: %d, want 481", res.StatusCode)
	}
}

// TestInfoDTMF answers a Gather with keys sent as SIP INFO, in both
// bodies phones use.
func TestInfoDTMF(t *testing.T) {
	a := newApp(t, map[string]string{
		"/voice": `<Response><Gather action="/got" numDigits="1" timeout="5"><Say>Press a key, any key, whenever you like.</Say></Gather><Hangup/></Response>`,
		"/got":   `<Response><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice")
	ph := sipphone.New(t)
	for i, tt := range []struct{ contentType, body, digit string }{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5"},
		{"application/dtmf", "7", "7"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c := callTexml(ctx, t, ph, s.sipAddr, 5*time.Second, func(c *sipphone.Call) {
			time.Sleep(500 * time.Millisecond)
			if r, err := c.Request(sip.INFO, "text/plain", []byte("5")); err != nil || r.StatusCode != 415 {
				t.Errorf("INFO text/plain: %v %v, want 415", r, err)
			}
			if r, err := c.Request(sip.INFO, tt.contentType, []byte(tt.body)); err != nil || r.StatusCode != 200 {
				t.Errorf("INFO %s: %v %v", tt.contentType, r, err)
			}
		})
		cancel()
		if c.FinalCode() != 200 || !c.RemoteHangup() {
			t.Errorf("%s: answer %d, texml hung up after the action: %v", tt.contentType, c.FinalCode(), c.RemoteHangup())
		}
		got := a.requests("/got")
		if len(got) != i+1 || got[i].Get("Digits") != tt.digit {
			t.Errorf("%s: actions %v, want Digits=%s", tt.contentType, got, tt.digit)
		}
	}
}

// TestAnswerTiming: a leading Pause keeps the call unanswered for its
// length (200 OK ~2 s after the INVITE); without it the answer is
// immediate. <Hangup> after the answer sends a BYE from texml at once.
func TestAnswerTiming(t *testing.T) {
	a := newApp(t, map[string]string{
		"/pause":   `<Response><Pause length="2"/><Say>Hello.</Say><Hangup/><Say>This is never said.</Say></Response>`,
		"/nopause": `<Response><Say>Hello.</Say><Hangup/><Say>This is never said.</Say></Response>`,
	})
	for _, tt := range []struct {
		path     string
		min, max time.Duration
	}{
		{"/pause", 1900 * time.Millisecond, 3 * time.Second},
		{"/nopause", 0, 500 * time.Millisecond},
	} {
		t.Run(strings.TrimPrefix(tt.path, "/"), func(t *testing.T) {
			s := startServe(t, a.srv.URL+tt.path)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, nil)
			if c.FinalCode() != 200 {
				t.Fatalf("answer %d", c.FinalCode())
			}
			t.Logf("200 OK after %v", c.AnswerDelay())
			if d := c.AnswerDelay(); d < tt.min || d > tt.max {
				t.Errorf("200 OK %v after the INVITE, want %v–%v", d, tt.min, tt.max)
			}
			// "Hello." is about half a second; the Say after the Hangup
			// would add two more.
			if v := sipphone.VoicedTime(c.Audio()); !c.RemoteHangup() || v < 200*time.Millisecond || c.Duration() > 2*time.Second {
				t.Errorf("texml hung up: %v, after %v with %v of speech; want a BYE right after the Say", c.RemoteHangup(), c.Duration(), v)
			}
		})
	}
}

// TestBadOffers: an offer with no codec we speak gets 488, so does one of
// secure RTP only (with a Warning), an SDP that does not parse 400; all
// are counted.
func TestBadOffers(t *testing.T) {
	a := newApp(t, map[string]string{"/voice": `<Response><Say>unreachable</Say></Response>`})
	s := startServe(t, a.srv.URL+"/voice")
	g729 := "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
	if code := inviteRaw(t, s.sipAddr, g729); code != 488 {
		t.Errorf("G.729-only offer: %d, want 488", code)
	}
	if code := inviteRaw(t, s.sipAddr, "this is not a session description\r\n"); code != 400 {
		t.Errorf("malformed SDP: %d, want 400", code)
	}
	srtp := "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
	res := sipRequest(t, s.sipAddr, sip.INVITE, "application/sdp", []byte(srtp))
	if w := res.GetHeader("Warning"); res.StatusCode != 488 || w == nil || !strings.Contains(w.Value(), "RTP/SAVP") {
		t.Errorf("SRTP offer: %d, Warning %v; want 488 with a Warning naming RTP/SAVP", res.StatusCode, w)
	}
	m := scrape(t, s)
	for code, want := range map[string]float64{"488": 2, "400": 1} {
		if v := metricValue(m, `texml_invites_rejected_total{code="`+code+`"}`); v != want {
			t.Errorf("texml_invites_rejected_total{code=%s} = %v, want %v", code, v, want)
		}
	}
	if len(a.requests("/voice")) != 0 {
		t.Error("the app was fetched for a refused INVITE")
	}
}

// TestGarbageSIP sends datagrams and a TCP stream that are not SIP, and a
// request missing its mandatory headers: nothing breaks, and the next
// call works.
func TestGarbageSIP(t *testing.T) {
	a := newApp(t, map[string]string{"/voice": `<Response><Say>Still here.</Say><Hangup/></Response>`})
	s := startServe(t, a.srv.URL+"/voice")
	udp, err := net.Dial("udp", s.sipAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, junk := range []string{
		"\x00\x01\x02\x03 not sip at all \xff\xfe",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"INVITE sip:test@127.0.0.1 SIP/2.0\r\nContent-Length: 99999\r\n\r\n",
		strings.Repeat("A", 1400),
	} {
		if _, err := udp.Write([]byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	if tcp, err := net.Dial("tcp", s.sipAddr); err == nil {
		_, _ = tcp.Write([]byte("\x16\x03\x01 this is not SIP over TCP\r\n\r\n"))
		tcp.Close()
	}
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, nil)
	if v := sipphone.VoicedTime(c.Audio()); c.FinalCode() != 200 || !c.RemoteHangup() || v < 300*time.Millisecond {
		t.Errorf("call after garbage: answer %d, texml hung up %v, %v of speech", c.FinalCode(), c.RemoteHangup(), v)
	}
}

// TestBadRTPDropped sends garbage datagrams and RTP from a stranger's
// address to the call's media port: they are dropped and counted, and
// the call's audio goes on undisturbed.
func TestBadRTPDropped(t *testing.T) {
	a := toneApp(t, 2*time.Second)
	s := startServe(t, a.srv.URL+"/voice")
	stranger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const garbage, foreign = 5, 5
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 8*time.Second, func(c *sipphone.Call) {
		c.Silence(200 * time.Millisecond) // texml latches to the phone
		for i := range garbage {
			junk := []byte("not rtp at all")
			if i%2 == 1 {
				junk = []byte{0x80, 0x00, 0x01} // version 2, but shorter than a header
			}
			if err := c.SendRaw(junk); err != nil {
				t.Error(err)
			}
		}
		for i := range foreign {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 0xbad},
				Payload: make([]byte, 160)}
			b, _ := pkt.Marshal()
			_, _ = stranger.WriteToUDP(b, c.RemoteMedia())
		}
		c.Silence(200 * time.Millisecond)
	})
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up %v", c.FinalCode(), c.RemoteHangup())
	}
	if v := sipphone.VoicedTime(c.Audio()); v < 1900*time.Millisecond || v > 2100*time.Millisecond {
		t.Errorf("heard %v of the 2 s tone", v)
	}
	waitIdle(t, s)
	m := scrape(t, s)
	if v := metricValue(m, "texml_rtp_packets_dropped_total"); v != garbage+foreign {
		t.Errorf("texml_rtp_packets_dropped_total = %v, want %d", v, garbage+foreign)
	}
	if v := metricValue(m, "texml_rtp_packets_received_total"); v < 20 {
		t.Errorf("texml_rtp_packets_received_total = %v, want the phone's 20 packets", v)
	}
}

// TestSIPListenAnyPort serves on --sip-listen 127.0.0.1:0: UDP and TCP
// share the port the kernel chose, and Contact carries that port (never 0,
// which a peer reads as 5060), so in-dialog requests reach texml.
func TestSIPListenAnyPort(t *testing.T) {
	a := newApp(t, map[string]string{"/voice": `<Response><Say>Any port will do.</Say><Pause length="2"/><Hangup/></Response>`})
	s := startServe(t, a.srv.URL+"/voice", "--sip-listen", "127.0.0.1:0")
	_, portText, _ := net.SplitHostPort(s.sipAddr)
	if portText == "0" || portText == "" {
		t.Fatalf("SIP address %s", s.sipAddr)
	}
	if tcp := s.tcp.Addr().(*net.TCPAddr); fmt.Sprint(tcp.Port) != portText {
		t.Errorf("TCP on %v, UDP on %s", tcp, s.sipAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, func(c *sipphone.Call) {
		contact := c.Response().Contact()
		if contact == nil || fmt.Sprint(contact.Address.Port) != portText {
			t.Errorf("Contact %v, want port %s", contact, portText)
		}
		// Sent to the Contact address: it arrives only if the port is right.
		if r, err := c.Request(sip.OPTIONS, "", nil); err != nil || r.StatusCode != 200 {
			t.Errorf("in-dialog OPTIONS: %v %v", r, err)
		}
		c.WaitEnd(10 * time.Second)
	})
	if v := sipphone.VoicedTime(c.Audio()); c.FinalCode() != 200 || !c.RemoteHangup() || v < 300*time.Millisecond {
		t.Errorf("answer %d, texml hung up %v, %v of speech", c.FinalCode(), c.RemoteHangup(), v)
	}
}

// TestMaxCallsFlag: with --max-calls 1, an INVITE during a call gets 503
// with Retry-After, and the call in progress is not disturbed.
func TestMaxCallsFlag(t *testing.T) {
	a := newApp(t, map[string]string{"/voice": `<Response><Say>One caller at a time, please. Thank you for waiting.</Say><Hangup/></Response>`})
	s := startServe(t, a.srv.URL+"/voice", "--max-calls", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, func(c *sipphone.Call) {
		r := sipRequest(t, s.sipAddr, sip.INVITE, "application/sdp", []byte(plainOffer(40000)))
		if r.StatusCode != 503 || r.GetHeader("Retry-After") == nil {
			t.Errorf("second INVITE: %d (Retry-After %v), want 503 with Retry-After", r.StatusCode, r.GetHeader("Retry-After"))
		}
		c.WaitEnd(10 * time.Second)
	})
	if v := sipphone.VoicedTime(c.Audio()); c.FinalCode() != 200 || !c.RemoteHangup() || v < time.Second {
		t.Errorf("first call: answer %d, texml hung up %v, %v of speech", c.FinalCode(), c.RemoteHangup(), v)
	}
	waitIdle(t, s)
	if v := metricValue(scrape(t, s), `texml_invites_rejected_total{code="503"}`); v != 1 {
		t.Errorf("texml_invites_rejected_total{code=503} = %v, want 1", v)
	}
}

// TestHeldCallPeerVanishes: a call on hold expects no RTP, so only the
// keepalive notices a peer that is gone: with --hold-keepalive 500ms the
// phone answers the OPTIONS while it is there, and once it vanishes texml
// ends the call within about two intervals.
func TestHeldCallPeerVanishes(t *testing.T) {
	a := newApp(t, map[string]string{"/voice": `<Response><Say loop="0">Please hold the line.</Say></Response>`})
	s := startServe(t, a.srv.URL+"/voice", "--hold-keepalive", "500ms")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph := sipphone.New(t)
	callTexml(ctx, t, ph, s.sipAddr, time.Second, func(c *sipphone.Call) {
		if r, err := c.Reinvite("sendonly"); err != nil || r.StatusCode != 200 {
			t.Fatalf("hold: %v %v", r, err)
		}
		time.Sleep(1500 * time.Millisecond) // keepalives answered: the call stays
		if s.sip.Active() != 1 {
			t.Fatal("the held call ended while the phone was there")
		}
		ph.Vanish() // the phone vanishes without a BYE
		gone := time.Now()
		for s.sip.Active() > 0 && time.Since(gone) < 5*time.Second {
			time.Sleep(20 * time.Millisecond)
		}
		if s.sip.Active() > 0 {
			t.Fatal("the held call is still up 5 s after the phone vanished")
		}
		t.Logf("call ended %v after the phone vanished", time.Since(gone))
	})
	if v := metricValue(scrape(t, s), "texml_calls_active"); v != 0 {
		t.Errorf("texml_calls_active = %v", v)
	}
}
