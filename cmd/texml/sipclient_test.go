package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// phone is a SIP user agent for end-to-end tests: it places calls to
// texml with sipgo and receives their RTP on a plain UDP socket, decoding
// µ-law itself, so that what arrives is checked independently of texml's
// media package.
type phone struct {
	t      *testing.T
	ua     *sipgo.UserAgent
	client *sipgo.Client
	cache  *sipgo.DialogClientCache
	port   int
	conn   net.PacketConn // the SIP socket: closing it makes the phone vanish
}

func newPhone(t *testing.T) *phone {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("texml-test-phone"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientAddr(fmt.Sprintf("127.0.0.1:%d", port)))
	if err != nil {
		t.Fatal(err)
	}
	p := &phone{t: t, ua: ua, client: client, port: port, conn: conn}
	p.cache = sipgo.NewDialogClientCache(client, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "phone", Host: "127.0.0.1", Port: port}})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) { _ = p.cache.ReadBye(req, tx) })
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	go func() { _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() { ua.Close(); conn.Close() })
	return p
}

// callResult is what one call brought back.
type callResult struct {
	code     int           // final response to the INVITE
	rtp      int           // RTP packets received
	samples  []float64     // decoded audio, normalised to -1..1
	voiced   time.Duration // time with audio above the silence floor
	byServer bool          // texml sent the BYE
	// answerDelay is from sending the INVITE to its final response.
	answerDelay time.Duration
	// length is from the ACK to the end of the call (either side's BYE).
	length time.Duration
}

// call dials texml at target (host:port) and listens until texml hangs up
// or hold passes; then it hangs up itself. act, when set, runs after the
// answer with the RTP socket and the remote media address.
func (p *phone) call(ctx context.Context, target, user string, hold time.Duration, act func(conn *net.UDPConn, remote *net.UDPAddr)) callResult {
	p.t.Helper()
	o := callOpts{hold: hold}
	if act != nil {
		o.act = func(c *activeCall) { act(c.conn, c.remote) }
	}
	return p.dial(ctx, target, user, o)
}

// callOpts shape one call of the phone.
type callOpts struct {
	// offer builds the SDP offer for the phone's RTP port; nil offers
	// PCMU and telephone-event.
	offer func(rtpPort int) string
	// hold is how long to stay after act returns before hanging up,
	// unless texml hangs up first.
	hold time.Duration
	// act runs after the answer, on the test goroutine.
	act func(c *activeCall)
}

// defaultOffer is a plain phone's offer: PCMU and RFC 4733 events.
func defaultOffer(port int) string {
	return fmt.Sprintf("v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n", port)
}

// dial places a call with options o; see call.
func (p *phone) dial(ctx context.Context, target, user string, o callOpts) callResult {
	p.t.Helper()
	var res callResult
	rtpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		p.t.Fatal(err)
	}
	defer rtpConn.Close()
	host, portText, _ := net.SplitHostPort(target)
	var port int
	fmt.Sscan(portText, &port)
	if o.offer == nil {
		o.offer = defaultOffer
	}
	rtpPort := rtpConn.LocalAddr().(*net.UDPAddr).Port
	began := time.Now()
	sess, err := p.cache.Invite(ctx, sip.Uri{Scheme: "sip", User: user, Host: host, Port: port}, []byte(o.offer(rtpPort)),
		sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		p.t.Fatalf("INVITE: %v", err)
	}
	defer sess.Close()
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{})
	res.answerDelay = time.Since(began)
	if sess.InviteResponse != nil {
		res.code = int(sess.InviteResponse.StatusCode)
	}
	if err != nil {
		return res
	}
	if err := sess.Ack(ctx); err != nil {
		p.t.Fatalf("ACK: %v", err)
	}
	c := &activeCall{t: p.t, sess: sess, conn: rtpConn, remote: mediaAddr(p.t, sess.InviteResponse.Body()),
		rtpPort: rtpPort, start: time.Now(), out: newRTPOut()}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.receive() }() // ends when the socket closes
	if o.act != nil {
		o.act(c)
	}
	select {
	case <-sess.Context().Done():
		res.byServer = !c.hungUp
	case <-time.After(o.hold):
		c.hangup()
	case <-ctx.Done():
	}
	res.length = time.Since(c.start)
	rtpConn.Close()
	wg.Wait()
	res.rtp, res.samples = c.packets(), c.audio()
	res.voiced = voicedTime(res.samples)
	return res
}

// mediaAddr reads the connection address and port from an SDP answer.
func mediaAddr(t *testing.T, body []byte) *net.UDPAddr {
	t.Helper()
	var ip net.IP
	var port int
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "c=IN IP4 ") {
			ip = net.ParseIP(strings.TrimPrefix(line, "c=IN IP4 "))
		}
		if strings.HasPrefix(line, "m=audio ") {
			fmt.Sscan(strings.Fields(line)[1], &port)
		}
	}
	if ip == nil || port == 0 {
		t.Fatalf("no media address in SDP answer:\n%s", body)
	}
	return &net.UDPAddr{IP: ip, Port: port}
}

// ulaw decodes one G.711 µ-law byte (ITU-T G.711), written here apart
// from texml's codec so that the test checks it rather than trusts it.
func ulaw(b byte) int16 {
	b = ^b
	sign := b & 0x80
	exp := (b >> 4) & 7
	mant := int(b & 0x0F)
	v := ((mant << 3) + 0x84) << exp
	v -= 0x84
	if sign != 0 {
		return int16(-v)
	}
	return int16(v)
}

// voicedTime adds up the 20 ms windows whose RMS is above -40 dBFS.
func voicedTime(s []float64) time.Duration {
	var d time.Duration
	for i := 0; i+160 <= len(s); i += 160 {
		var sum float64
		for _, v := range s[i : i+160] {
			sum += v * v
		}
		if math.Sqrt(sum/160) > 0.01 {
			d += 20 * time.Millisecond
		}
	}
	return d
}
