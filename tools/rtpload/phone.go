package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// phone is the SIP side: one user agent on a loopback UDP socket that
// places every call and takes texml's BYEs.
type phone struct {
	ua     *sipgo.UserAgent
	conn   net.PacketConn
	client *sipgo.Client
	cache  *sipgo.DialogClientCache
	host   string
	port   int
}

// newPhone starts the user agent on a free loopback port; target is
// texml's SIP address.
func newPhone(target string) (*phone, error) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("texml-rtpload"))
	if err != nil {
		conn.Close()
		return nil, err
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, err
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientAddr(fmt.Sprintf("127.0.0.1:%d", port)))
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, err
	}
	host, portText, _ := net.SplitHostPort(target)
	tport, _ := strconv.Atoi(portText)
	p := &phone{ua: ua, conn: conn, client: client, host: host, port: tport}
	p.cache = sipgo.NewDialogClientCache(client, sip.ContactHeader{
		Address: sip.Uri{Scheme: "sip", User: "rtpload", Host: "127.0.0.1", Port: port}})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) { _ = p.cache.ReadBye(req, tx) })
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	go func() { _ = srv.ServeUDP(conn) }()
	return p, nil
}

// close stops the user agent and its socket.
func (p *phone) close() {
	_ = p.ua.Close()
	_ = p.conn.Close()
}

// call is one call's state and results.
type call struct {
	id     int
	user   string // the request URI's user part
	agent  bool   // -agent-delay: an agent dialing the queue
	hold   time.Duration
	err    error
	byPeer bool // texml hung up before the hold time was over
	byeErr error
	leg    *leg // nil until the call's socket is open

	inviteAt, answeredAt time.Time // INVITE sent, 200 OK received
}

// run places the call, receives its RTP for o.hold, then hangs up.
// answered runs once the call is up; ended when it is over. eng sends the
// call's RTP (when it sends), and reads it in poll mode; otherwise a
// goroutine of the call reads it.
func (c *call) run(ctx context.Context, ph *phone, o options, eng *engine, answered, ended func()) {
	l, err := newLeg(uint32(c.id+1), eng)
	if err != nil {
		c.err = fmt.Errorf("RTP socket: %w", err)
		return
	}
	if o.echo {
		l.rx.echo = newEchoRx(l.stream)
	}
	c.leg = l
	defer eng.remove(l)
	defer l.close()
	offer := fmt.Sprintf("v=0\r\no=rtpload %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"+
		"a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n", c.id+1, l.port())
	ictx, cancel := context.WithTimeout(ctx, o.inviteWait)
	defer cancel()
	c.inviteAt = time.Now()
	sess, err := ph.cache.Invite(ictx, sip.Uri{Scheme: "sip", User: c.user, Host: ph.host, Port: ph.port},
		[]byte(offer), sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		c.err = fmt.Errorf("INVITE: %w", err)
		return
	}
	defer sess.Close()
	if err := sess.WaitAnswer(ictx, sipgo.AnswerOptions{}); err != nil {
		c.err = fmt.Errorf("answer: %w", err)
		return
	}
	c.answeredAt = time.Now()
	if err := sess.Ack(ictx); err != nil {
		c.err = fmt.Errorf("ACK: %w", err)
		return
	}
	remote, err := mediaAddr(sess.InviteResponse.Body())
	if err != nil {
		c.err = err
		return
	}
	l.setRemote(remote)
	answered()
	defer ended()

	stopMedia := startMedia(eng, l)
	hold := time.NewTimer(c.hold)
	defer hold.Stop()
	select {
	case <-sess.Context().Done():
		c.byPeer = true
	case <-hold.C:
	case <-ctx.Done():
	}
	if !c.byPeer {
		bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.byeErr = sess.Bye(bctx)
		bcancel()
	}
	stopMedia()
}

// startMedia hands l to the engine (which sends on it, and reads it in
// poll mode) or, when the engine does not poll, starts a goroutine that
// reads it. stop closes l's socket and returns once nothing reads l.
func startMedia(eng *engine, l *leg) (stop func()) {
	if eng.send || eng.poll {
		eng.add(l)
	}
	recvDone := make(chan struct{})
	if eng.poll {
		close(recvDone)
	} else {
		go func() {
			defer close(recvDone)
			l.receive()
		}()
	}
	return func() {
		eng.remove(l)
		l.close()
		<-recvDone
	}
}

// enableTimestamps asks the kernel to stamp every datagram with its
// arrival time (SO_TIMESTAMPNS).
func enableTimestamps(conn *net.UDPConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	return serr
}

// kernelTime extracts the SCM_TIMESTAMPNS control message.
func kernelTime(oob []byte) (time.Time, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level != syscall.SOL_SOCKET || m.Header.Type != syscall.SCM_TIMESTAMPNS {
			continue
		}
		switch len(m.Data) {
		case 16: // struct timespec with 64-bit fields
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:]))
			return time.Unix(sec, nsec), true
		case 8:
			sec := int64(int32(binary.NativeEndian.Uint32(m.Data[0:])))
			nsec := int64(int32(binary.NativeEndian.Uint32(m.Data[4:])))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}

// mediaAddr reads the connection address and port from an SDP body.
func mediaAddr(body []byte) (netip.AddrPort, error) {
	var ip net.IP
	var port int
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "c=IN IP4 "); ok {
			ip = net.ParseIP(v)
		}
		if v, ok := strings.CutPrefix(line, "m=audio "); ok {
			port, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	a, ok := netip.AddrFromSlice(ip.To4())
	if ip == nil || !ok || port <= 0 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("no IPv4 media address in the SDP: %q", body)
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}
