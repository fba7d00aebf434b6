package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/texml/texml/media/tts"
)

// activeCall is an answered call of the test phone, handed to
// callOpts.act: it talks (µ-law RTP paced at 20 ms, encoded here rather
// than by texml's codec), presses keys (RFC 4733 or SIP INFO), holds with
// re-INVITEs, and shows what has been received so far.
type activeCall struct {
	t       *testing.T
	sess    *sipgo.DialogClientSession
	conn    *net.UDPConn
	remote  *net.UDPAddr // texml's RTP address from its answer
	rtpPort int          // ours
	start   time.Time    // when the ACK went
	out     *rtpOut
	hungUp  bool // we sent the BYE

	mu      sync.Mutex
	pkts    int
	samples []float64
}

// receive decodes PCMU packets until the socket closes.
func (c *activeCall) receive() {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := c.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil || pkt.PayloadType != 0 {
			continue
		}
		c.mu.Lock()
		c.pkts++
		for _, b := range pkt.Payload {
			c.samples = append(c.samples, float64(ulaw(b))/32768)
		}
		c.mu.Unlock()
	}
}

// packets is how many audio packets arrived so far.
func (c *activeCall) packets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pkts
}

// audio is a copy of the audio received so far.
func (c *activeCall) audio() []float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]float64(nil), c.samples...)
}

// since is how long ago the call was answered.
func (c *activeCall) since() time.Duration { return time.Since(c.start) }

// ended reports whether the call is over.
func (c *activeCall) ended() bool { return c.sess.Context().Err() != nil }

// hangup sends BYE.
func (c *activeCall) hangup() {
	c.hungUp = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.sess.Bye(ctx)
}

// talk sends samples (8 kHz) as 20 ms PCMU packets in real time; it stops
// early when the call ends.
func (c *activeCall) talk(samples []int16) {
	c.out.audio(c.t, c.conn, c.remote, samples, c.sess.Context())
}

// silence sends d of digital silence, as a phone without silence
// suppression does while its user listens.
func (c *activeCall) silence(d time.Duration) {
	c.talk(make([]int16, int(d.Seconds()*8000)))
}

// dtmf presses keys with RFC 4733 events in the call's RTP stream.
func (c *activeCall) dtmf(digits string) { c.out.dtmf(c.t, c.conn, c.remote, digits) }

// request sends an in-dialog request and returns texml's final response.
func (c *activeCall) request(method sip.RequestMethod, contentType string, body []byte) *sip.Response {
	c.t.Helper()
	req := sip.NewRequest(method, c.sess.InviteResponse.Contact().Address)
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.sess.Do(ctx, req)
	if err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	return res
}

// reinvite offers the media again with direction (sendonly to hold,
// sendrecv to resume), ACKs the answer and returns it.
func (c *activeCall) reinvite(direction string) *sip.Response {
	c.t.Helper()
	offer := strings.Replace(defaultOffer(c.rtpPort), "o=phone 1 1", "o=phone 1 2", 1) + "a=" + direction + "\r\n"
	res := c.request(sip.INVITE, "application/sdp", []byte(offer))
	if res.StatusCode == 200 {
		ack := sip.NewRequest(sip.ACK, c.sess.InviteResponse.Contact().Address)
		if err := c.sess.WriteRequest(ack); err != nil {
			c.t.Fatalf("ACK of re-INVITE: %v", err)
		}
	}
	return res
}

// rtpOut is the phone's sending side of one RTP stream: sequence
// numbers, timestamps and SSRC run on across talking and key presses, as
// in a real phone's stream.
type rtpOut struct {
	mu   sync.Mutex
	seq  uint16
	ts   uint32
	ssrc uint32
}

func newRTPOut() *rtpOut {
	return &rtpOut{seq: uint16(rand.Uint32()), ts: rand.Uint32(), ssrc: rand.Uint32()}
}

func (o *rtpOut) send(t *testing.T, conn *net.UDPConn, to *net.UDPAddr, pt uint8, marker bool, ts uint32, payload []byte) {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: o.seq, Timestamp: ts, SSRC: o.ssrc, Marker: marker}, Payload: payload}
	o.seq++
	b, err := pkt.Marshal()
	if err != nil {
		t.Error(err)
		return
	}
	_, _ = conn.WriteToUDP(b, to) // the call may be over: a lost packet is what a phone would see too
}

// audio sends samples as PCMU packets, one every 20 ms on an absolute
// schedule (no drift), until they run out or ctx ends.
func (o *rtpOut) audio(t *testing.T, conn *net.UDPConn, to *net.UDPAddr, samples []int16, ctx context.Context) {
	o.mu.Lock()
	defer o.mu.Unlock()
	next := time.Now()
	payload := make([]byte, 160)
	for off := 0; off < len(samples) && ctx.Err() == nil; off += 160 {
		for i := range payload {
			v := int16(0)
			if off+i < len(samples) {
				v = samples[off+i]
			}
			payload[i] = ulawEncode(v)
		}
		o.send(t, conn, to, 0, off == 0, o.ts, payload)
		o.ts += 160
		next = next.Add(20 * time.Millisecond)
		time.Sleep(time.Until(next))
	}
}

// dtmf sends each digit as an RFC 4733 event (payload type 101): 5
// packets of tone, then 3 end packets (retransmissions), 100 ms apart.
func (o *rtpOut) dtmf(t *testing.T, conn *net.UDPConn, to *net.UDPAddr, digits string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	const events = "0123456789*#"
	for _, d := range digits {
		ev := strings.IndexRune(events, d)
		for i := range 8 {
			dur := uint16((min(i, 5) + 1) * 160)
			payload := []byte{byte(ev), 10, byte(dur >> 8), byte(dur)}
			if i >= 5 {
				payload[1] |= 0x80
			}
			o.send(t, conn, to, 101, i == 0, o.ts, payload)
			time.Sleep(20 * time.Millisecond)
		}
		o.ts += 1600
		time.Sleep(100 * time.Millisecond)
	}
}

// sendDTMF sends RFC 4733 events for digits to remote from conn.
func sendDTMF(t *testing.T, conn *net.UDPConn, remote *net.UDPAddr, digits string) {
	t.Helper()
	newRTPOut().dtmf(t, conn, remote, digits)
}

// ulawEncode is G.711 µ-law compression (ITU-T G.711, the segment
// search of the reference implementation), the inverse of ulaw.
func ulawEncode(x int16) byte {
	const bias, clip = 0x84, 32635
	v, sign := int(x), 0
	if v < 0 {
		v, sign = -v, 0x80
	}
	v = min(v, clip) + bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mant)
}

func TestULawRoundTrip(t *testing.T) {
	for _, x := range []int16{0, 1, -1, 100, -100, 1000, -5000, 12000, 32767, -32768} {
		got := ulaw(ulawEncode(x))
		tol := max(int(x), -int(x))/16 + 8 // µ-law keeps about 4 bits of mantissa
		if d := int(got) - int(x); d > tol || d < -tol {
			t.Errorf("µ-law round trip of %d: %d", x, got)
		}
	}
}

// speak synthesizes text with espeak-ng at 8 kHz, as the caller's voice.
func speak(t *testing.T, text string) []int16 {
	t.Helper()
	needTool(t, "espeak-ng")
	e, err := tts.NewEspeak(tts.EspeakOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := e.Synthesize(context.Background(), tts.Request{Text: text})
	if err != nil {
		t.Fatalf("espeak-ng %q: %v", text, err)
	}
	if len(pcm) < 1600 {
		t.Fatalf("espeak-ng %q: only %d samples", text, len(pcm))
	}
	return pcm
}

// spokenLength is the length of pcm without its silent ends (frames below
// -40 dBFS), as a listener would time it.
func spokenLength(pcm []int16) time.Duration {
	first, last := -1, -1
	for off := 0; off+160 <= len(pcm); off += 160 {
		var sum float64
		for _, v := range pcm[off : off+160] {
			f := float64(v) / 32768
			sum += f * f
		}
		if sum/160 > 1e-4 {
			if first < 0 {
				first = off
			}
			last = off + 160
		}
	}
	if first < 0 {
		return 0
	}
	return time.Duration(last-first) * time.Second / 8000
}

// inviteRaw sends one INVITE with body from a bare sipgo client and
// returns the final response code: for offers no phone would make.
func inviteRaw(t *testing.T, target string, body string) int {
	t.Helper()
	return int(sipRequest(t, target, sip.INVITE, "application/sdp", []byte(body)).StatusCode)
}

// sipRequest sends one request outside a dialog from a bare sipgo client
// and returns texml's final response.
func sipRequest(t *testing.T, target string, method sip.RequestMethod, contentType string, body []byte) *sip.Response {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("texml-test-raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	host, portText, _ := net.SplitHostPort(target)
	var port int
	fmt.Sscan(portText, &port)
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: "test", Host: host, Port: port})
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cli.Do(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return res
}
