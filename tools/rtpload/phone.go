package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
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
	err    error
	byPeer bool // texml hung up before the hold time was over
	byeErr error

	// Written by the receive goroutine only, read after it ended.
	packets   uint64
	missing   uint64 // sequence numbers skipped over and never seen
	reordered uint64 // packets older than the newest seen (late or duplicate)
	tsSkips   uint64 // packet times skipped: timestamp advanced more than the sequence number
	started   bool
	lastSeq   uint16
	lastTS    uint32
	lastK     time.Time // kernel receive time of the previous packet
	lastU     time.Time // user-space read time of the previous packet
	kernel    hist
	user      hist
	noKernelT uint64 // packets without a kernel timestamp
}

// run places the call, receives its RTP for o.hold, then hangs up.
// answered runs once the call is up; ended when it is over.
func (c *call) run(ctx context.Context, ph *phone, o options, sender *silenceSender, answered, ended func()) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		c.err = fmt.Errorf("RTP socket: %w", err)
		return
	}
	defer conn.Close()
	if err := enableTimestamps(conn); err != nil {
		c.err = fmt.Errorf("SO_TIMESTAMPNS: %w", err)
		return
	}
	offer := fmt.Sprintf("v=0\r\no=rtpload %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"+
		"a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n", c.id+1, conn.LocalAddr().(*net.UDPAddr).Port)
	ictx, cancel := context.WithTimeout(ctx, o.inviteWait)
	defer cancel()
	sess, err := ph.cache.Invite(ictx, sip.Uri{Scheme: "sip", User: o.user, Host: ph.host, Port: ph.port},
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
	if err := sess.Ack(ictx); err != nil {
		c.err = fmt.Errorf("ACK: %w", err)
		return
	}
	remote, err := mediaAddr(sess.InviteResponse.Body())
	if err != nil {
		c.err = err
		return
	}
	answered()
	defer ended()

	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		c.receive(conn)
	}()
	if sender != nil {
		sender.add(conn, remote)
		defer sender.remove(conn)
	}

	hold := time.NewTimer(o.hold)
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
	if sender != nil {
		sender.remove(conn)
	}
	conn.Close()
	<-recvDone
}

// receive reads the call's RTP until the socket is closed.
func (c *call) receive(conn *net.UDPConn) {
	buf := make([]byte, 1500)
	oob := make([]byte, 128)
	var hdr rtp.Header
	for {
		n, oobn, _, _, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			return
		}
		now := time.Now()
		if _, err := hdr.Unmarshal(buf[:n]); err != nil || hdr.PayloadType != 0 {
			continue
		}
		kt, kok := kernelTime(oob[:oobn])
		c.packet(hdr.SequenceNumber, hdr.Timestamp, now, kt, kok)
	}
}

// packet accounts for one received packet.
func (c *call) packet(seq uint16, ts uint32, now, kt time.Time, kok bool) {
	c.packets++
	if !kok {
		c.noKernelT++
	}
	if !c.started {
		c.started = true
		c.lastSeq, c.lastTS, c.lastU, c.lastK = seq, ts, now, kt
		return
	}
	d := int16(seq - c.lastSeq)
	if d <= 0 {
		c.reordered++
		if c.missing > 0 {
			c.missing-- // it filled a hole counted before
		}
		return
	}
	c.missing += uint64(d - 1)
	// Each packet carries 160 samples: a larger timestamp step than the
	// sequence step means packet times went by without a packet.
	if step := int64(int32(ts - c.lastTS)); step > int64(d)*samplesPerPkt {
		c.tsSkips += uint64((step - int64(d)*samplesPerPkt) / samplesPerPkt)
	}
	if d == 1 { // gaps are measured between consecutive packets only
		c.user.add(now.Sub(c.lastU))
		if kok && !c.lastK.IsZero() {
			c.kernel.add(kt.Sub(c.lastK))
		}
	}
	c.lastSeq, c.lastTS, c.lastU = seq, ts, now
	if kok {
		c.lastK = kt
	} else {
		c.lastK = time.Time{}
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

// mediaAddr reads the connection address and port from an SDP answer.
func mediaAddr(body []byte) (*net.UDPAddr, error) {
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
	if ip == nil || port == 0 {
		return nil, fmt.Errorf("no media address in the SDP answer: %q", body)
	}
	return &net.UDPAddr{IP: ip, Port: port}, nil
}
