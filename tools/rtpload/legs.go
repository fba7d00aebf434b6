package main

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/rtp"
)

// payloadMagic starts the payload of every packet rtpload sends, followed
// by the sending leg's stream id and its packet count (putMark). texml
// relays a bridged payload byte for byte (PCMU to PCMU), so the leg that
// hears it can tell the other side's packets, in their order, from the
// silence texml sends when it has nothing to relay, and count the ones
// that never came through.
var payloadMagic = [4]byte{'T', 'X', 'L', 'D'}

// markLen is the mark's length: the magic, then the stream id and the
// packet count in eight bytes each.
const markLen = 4 + 8 + 8

// putMark writes the mark of stream's packet count into p (markLen
// bytes). Each byte carries four bits as 0x40–0x4F: µ-law codes that
// decode and re-encode to themselves. A plain big-endian count would
// not survive a Media Streams round trip (texml decodes the caller's
// packets, encodes them for the app, and back): 0x7F (−0) re-encodes as
// 0xFF (+0), so every 256th count would come back as another.
func putMark(p []byte, stream, count uint32) {
	copy(p, payloadMagic[:])
	putNibbles(p[4:12], stream)
	putNibbles(p[12:20], count)
}

func putNibbles(p []byte, v uint32) {
	for i := range 8 {
		p[i] = 0x40 | byte(v>>(28-4*i))&0x0F
	}
}

// readMark returns the stream id and packet count of a marked payload;
// ok is false when p carries no (intact) mark.
func readMark(p []byte) (stream, count uint32, ok bool) {
	if len(p) < markLen || [4]byte(p[:4]) != payloadMagic {
		return 0, 0, false
	}
	for i, b := range p[4:markLen] {
		if b&0xF0 != 0x40 {
			return 0, 0, false
		}
		if i < 8 {
			stream = stream<<4 | uint32(b&0x0F)
		} else {
			count = count<<4 | uint32(b&0x0F)
		}
	}
	return stream, count, true
}

// leg is one end of an RTP stream in the load tool: a caller's or a
// callee's. Its send state belongs to the engine shard that sends for it;
// its receive state (rx) to whoever reads its packets: the shard in poll
// mode, the leg's own goroutine otherwise.
//
// In goroutine mode every leg has a socket of its own. In poll mode legs
// share a few sockets of the engine (see engine), and texml's source
// port tells their packets apart.
type leg struct {
	conn   *net.UDPConn // goroutine mode
	ms     *muxSock     // poll mode: the socket the leg shares
	sh     *legShard    // poll mode: the shard that owns ms
	active bool         // poll mode: sending and receiving (guarded by sh.mu)
	lport  int
	to     netip.AddrPort // texml's media address for this leg
	sa     syscall.RawSockaddrInet4
	stream uint32 // this leg's id in the payloads it sends
	pkt    [12 + samplesPerPkt]byte

	seq   uint16
	ts    uint32
	ssrc  uint32
	count uint32

	rx rxStats
}

// newLeg opens the leg's socket (goroutine mode) or takes a place on one
// of the engine's (poll mode).
func newLeg(stream uint32, eng *engine) (*leg, error) {
	l := &leg{stream: stream, seq: uint16(rand.Uint32()), ts: rand.Uint32(), ssrc: rand.Uint32()}
	for j := 12; j < len(l.pkt); j++ {
		l.pkt[j] = 0xFF // µ-law silence after the mark
	}
	putMark(l.pkt[12:], stream, 0)
	if eng.poll {
		eng.reserve(l)
		return l, nil
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	if err := enableTimestamps(conn); err != nil {
		conn.Close()
		return nil, err
	}
	l.conn, l.lport = conn, conn.LocalAddr().(*net.UDPAddr).Port
	return l, nil
}

// setRemote sets where the leg sends.
func (l *leg) setRemote(to netip.AddrPort) {
	l.to = to
	l.sa = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: to.Addr().As4()}
	p := (*[2]byte)(unsafe.Pointer(&l.sa.Port))
	binary.BigEndian.PutUint16(p[:], to.Port())
}

// port is the leg's local RTP port, for the SDP.
func (l *leg) port() int { return l.lport }

// next fills l.pkt with the leg's next packet and advances its counters.
func (l *leg) next(hdr *rtp.Header) []byte {
	hdr.SequenceNumber, hdr.Timestamp, hdr.SSRC = l.seq, l.ts, l.ssrc
	_, _ = hdr.MarshalTo(l.pkt[:12])
	putMark(l.pkt[12:], l.stream, l.count)
	l.seq++
	l.ts += samplesPerPkt
	l.count++
	return l.pkt[:]
}

// close closes the leg's own socket, if it has one; the engine must have
// let go of the leg.
func (l *leg) close() {
	if l.conn != nil {
		l.conn.Close()
	}
}

// rxStats is what one leg received.
type rxStats struct {
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

	// End to end, from the payload marks (payloadMagic): the other
	// side's packets relayed by texml.
	marked      uint64 // packets that carried another leg's mark
	e2eMissing  uint64 // that leg's packet counts that never arrived
	e2eReorder  uint64 // marks older than the newest seen
	filler      uint64 // unmarked packets (texml's silence) between two marked ones
	pendingFill uint64 // unmarked packets since the last marked one
	peer        uint32 // the stream id heard
	peerSwitch  uint64 // marks of a different stream than the first (crossed bridges)
	lastCount   uint32
	firstMark   time.Time // when the first marked packet arrived (kernel time if known)

	// voiced counts packets whose payload is not all µ-law silence (0xFF,
	// 0x7F): in a conference, packets that carried some of the others'
	// audio.
	voiced uint64

	// echo is set in echo mode: the leg's own packets coming back.
	echo *echoRx
}

// packet accounts for one received packet: RTP sequence and timing, then
// the payload's mark. now is when it was read (zero in poll mode, where
// the read time says nothing about texml), kt the kernel's arrival time.
func (r *rxStats) packet(seq uint16, ts uint32, payload []byte, now, kt time.Time, kok bool) {
	at := now
	if kok {
		at = kt
	}
	r.mark(payload, at)
	if !silent(payload) {
		r.voiced++
	}
	r.packets++
	if !kok {
		r.noKernelT++
	}
	if !r.started {
		r.started = true
		r.lastSeq, r.lastTS, r.lastU, r.lastK = seq, ts, now, kt
		return
	}
	d := int16(seq - r.lastSeq)
	if d <= 0 {
		r.reordered++
		if r.missing > 0 {
			r.missing-- // it filled a hole counted before
		}
		return
	}
	r.missing += uint64(d - 1)
	// Each packet carries 160 samples: a larger timestamp step than the
	// sequence step means packet times went by without a packet.
	if step := int64(int32(ts - r.lastTS)); step > int64(d)*samplesPerPkt {
		r.tsSkips += uint64((step - int64(d)*samplesPerPkt) / samplesPerPkt)
	}
	if d == 1 { // gaps are measured between consecutive packets only
		if !now.IsZero() {
			r.user.add(now.Sub(r.lastU))
		}
		if kok && !r.lastK.IsZero() {
			r.kernel.add(kt.Sub(r.lastK))
		}
	}
	r.lastSeq, r.lastTS, r.lastU = seq, ts, now
	if kok {
		r.lastK = kt
	} else {
		r.lastK = time.Time{}
	}
}

// silent reports whether a µ-law payload is all silence (±0).
func silent(p []byte) bool {
	for _, b := range p {
		if b != 0xFF && b != 0x7F {
			return false
		}
	}
	return true
}

// mark follows the other side's packet counts through the payload marks;
// at is when the packet arrived.
func (r *rxStats) mark(p []byte, at time.Time) {
	stream, count, ok := readMark(p)
	if !ok {
		if r.marked > 0 {
			r.pendingFill++
		}
		return
	}
	if r.echo != nil && stream == r.echo.self {
		r.echo.back(count, p, at)
	}
	if r.marked == 0 {
		r.peer, r.lastCount, r.marked, r.firstMark = stream, count, 1, at
		return
	}
	if stream != r.peer {
		r.peerSwitch++
		return
	}
	r.marked++
	r.filler += r.pendingFill
	r.pendingFill = 0
	d := int32(count - r.lastCount)
	if d <= 0 {
		r.e2eReorder++
		if r.e2eMissing > 0 {
			r.e2eMissing--
		}
		return
	}
	r.e2eMissing += uint64(d - 1)
	r.lastCount = count
}

// receive reads the leg's RTP until its socket is closed (goroutine
// mode), timing each packet when it was read as well.
func (l *leg) receive() {
	buf := make([]byte, 1500)
	oob := make([]byte, 128)
	var hdr rtp.Header
	for {
		n, oobn, _, _, err := l.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			return
		}
		now := time.Now()
		hl, err := hdr.Unmarshal(buf[:n])
		if err != nil || hdr.PayloadType != 0 {
			continue
		}
		kt, kok := kernelTime(oob[:oobn])
		l.rx.packet(hdr.SequenceNumber, hdr.Timestamp, buf[hl:n], now, kt, kok)
	}
}
