package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/pion/rtp"
)

const (
	// maxDatagram is the receive buffer; larger datagrams are truncated
	// and then fail to parse.
	maxDatagram = 2048
	// ssrcSwitchAfter is how many consecutive packets with one new SSRC
	// from the latched address make the session follow it. Some B2BUAs
	// switch streams without a re-INVITE; a stray packet does not count.
	ssrcSwitchAfter = 5
	// maxReadErrors consecutive socket errors end the session.
	maxReadErrors = 100
	// payloadTypeCN is comfort noise (RFC 3389): not decoded, but it
	// shows that the peer is alive.
	payloadTypeCN = 13
)

// rxState is the receiving half of a session, owned by whoever receives
// its packets: the pacer goroutine that ticks it (holding Session.rxMu),
// or the session's receive goroutine.
type rxState struct {
	buf   *[maxDatagram]byte // the receive goroutine's; the pacer reads into its own
	hdr   rtp.Header
	errs  int    // consecutive read errors
	tally *tally // the pacer shard's counts, when the pacer reads the socket

	gen      uint64 // peer generation the latch belongs to
	latched  bool
	from     netip.AddrPort
	ssrc     uint32
	newSSRC  uint32
	newCount int

	jb      jitter
	law     law
	expTS   uint32 // timestamp right after the last delivered sample
	tsValid bool
	frame   [FrameSamples]int16
	pos     int // samples of frame filled

	taps *tapSet // loaded once per packet: the receivers of its frames

	dedup    eventDedup
	inband   bool
	sawEvent bool
	det      dtmfDetector
}

// init sets the detector up; goroutine: the session reads its socket on
// a goroutine of its own, into a buffer of its own.
func (rx *rxState) init(inband, goroutine bool) {
	rx.inband = inband
	if goroutine {
		rx.buf = new([maxDatagram]byte)
	}
}

// recvLoop is the session's receive goroutine, when the pacer does not
// read its socket. It owns rxState, and it exits when the socket is
// closed (by end).
func (s *Session) recvLoop() {
	defer s.wg.Done()
	rx := &s.rx
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(rx.buf[:])
		if err != nil {
			if s.ended.Load() || errors.Is(err, net.ErrClosed) {
				s.end(ErrClosed)
				return
			}
			if rx.errs++; rx.errs >= maxReadErrors {
				s.end(fmt.Errorf("media: RTP socket: %w", err))
				return
			}
			continue
		}
		rx.errs = 0
		s.handle(rx.buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
	}
}

// handle validates one datagram and routes it: audio to the jitter
// buffer, telephone events to the digit channel.
func (s *Session) handle(pkt []byte, from netip.AddrPort) {
	rx := &s.rx
	if len(pkt) < rtpHeaderLen || pkt[0]>>6 != 2 {
		s.drop() // not RTP (STUN, garbage)
		return
	}
	if t := pkt[1]; t >= 192 && t <= 223 {
		return // RTCP multiplexed on the RTP port (RFC 5761 section 4): ignored
	}
	hl, err := rx.hdr.Unmarshal(pkt)
	if err != nil {
		s.drop()
		return
	}
	payload := pkt[hl:]
	if rx.hdr.Padding {
		// RFC 3550 section 5.1: the last octet counts the padding, itself included.
		pad := int(pkt[len(pkt)-1])
		if pad == 0 || pad > len(payload) {
			s.drop()
			return
		}
		payload = payload[:len(payload)-pad]
	}
	pr := s.peer.Load()
	if pr.gen != rx.gen {
		rx.gen, rx.latched = pr.gen, false // re-INVITE: latch again
	}
	pt := rx.hdr.PayloadType
	audio := pt == pr.codec.PayloadType
	event := pr.dtmfPT != 0 && pt == pr.dtmfPT
	switch {
	case !rx.latched:
		if !audio && !event {
			s.drop()
			return
		}
		s.latch(pr, from)
	case from != rx.from:
		if from != pr.sdp || (!audio && !event) {
			s.drop() // RTP from somebody else than the latched peer
			return
		}
		// The peer's own SDP address always wins: after a re-INVITE that
		// moved the media, packets still in flight from the old source
		// may have latched first.
		s.latch(pr, from)
	case rx.hdr.SSRC != rx.ssrc:
		if !s.followSSRC() {
			s.drop()
			return
		}
	default:
		rx.newCount = 0
	}
	seq, ts := rx.hdr.SequenceNumber, rx.hdr.Timestamp
	rx.taps = s.taps.Load()
	// A packet is counted after the jitter buffer and the taps have had
	// it, so that whoever sees Received move (a test feeding a bridge)
	// also sees what the packet did downstream when it was in order.
	switch {
	case audio && len(payload) <= maxPayload:
		rx.law = pr.law
		rx.jb.push(seq, ts, payload, true, s)
		s.accepted()
	case event:
		s.event(payload, ts)
		if t := rx.taps; t != nil {
			for _, k := range t.enc {
				k.writeEvent(payload, ts)
			}
		}
		// Events share the sequence space with audio: mark the number
		// as used so the jitter buffer does not count it lost.
		rx.jb.push(seq, ts, nil, false, s)
		s.accepted()
	case pt == payloadTypeCN:
		s.alive.Add(1)
		rx.jb.push(seq, ts, nil, false, s)
	default:
		s.drop()
	}
}

// latch makes from the peer's address (symmetric RTP: send where the
// packets really come from, which is what crosses a NAT) and its SSRC the
// stream we follow.
func (s *Session) latch(pr *peer, from netip.AddrPort) {
	rx := &s.rx
	rx.latched, rx.from, rx.ssrc, rx.newCount = true, from, rx.hdr.SSRC, 0
	s.restart()
	if pr.addr == from {
		return
	}
	np := *pr
	np.addr, np.raw = from, makeRawAddr(from, s.family)
	// If a SetRemote raced us, its generation wins and the next packet
	// latches again.
	if s.peer.CompareAndSwap(pr, &np) {
		s.log.Debug("rtp: latched to the peer's source", "sdp", pr.sdp.String(), "source", from.String())
	}
}

// followSSRC counts consecutive packets of one unexpected SSRC and
// switches to it once it is clearly the stream now.
func (s *Session) followSSRC() bool {
	rx := &s.rx
	if rx.hdr.SSRC != rx.newSSRC {
		rx.newSSRC, rx.newCount = rx.hdr.SSRC, 0
	}
	rx.newCount++
	if rx.newCount < ssrcSwitchAfter {
		return false
	}
	s.log.Debug("rtp: peer changed SSRC", "old", rx.ssrc, "new", rx.newSSRC)
	rx.ssrc, rx.newCount = rx.newSSRC, 0
	s.restart()
	return true
}

// restart forgets the previous stream's sequence and timing.
func (s *Session) restart() {
	s.rx.jb.reset()
	s.rx.tsValid = false
	s.rx.dedup.reset()
}

// The counters of a received packet go to the session and to its pacer
// shard's tally (see Metrics), or straight to the Metrics from a session's
// own receive goroutine.

func (s *Session) accepted() {
	s.alive.Add(1)
	s.received.Add(1)
	if t := s.rx.tally; t != nil {
		t.received++
		return
	}
	s.metrics.packetReceived()
}

func (s *Session) drop() {
	s.dropped.Add(1)
	if t := s.rx.tally; t != nil {
		t.dropped++
		return
	}
	s.metrics.packetDropped()
}

// packetLost and packetLate are the jitter buffer's reports.
func (s *Session) packetLost() {
	s.lost.Add(1)
	if t := s.rx.tally; t != nil {
		t.lost++
		return
	}
	s.metrics.packetLost()
}

func (s *Session) packetLate() {
	s.late.Add(1)
	if t := s.rx.tally; t != nil {
		t.late++
		return
	}
	s.metrics.packetLate()
}

// deliver decodes a packet's payload, in sequence order, into 20 ms
// frames. A gap in the timestamps (lost packets, or a sender that stopped
// during silence) becomes silence, so a recording keeps its real length;
// very long gaps are treated as a discontinuity instead.
func (s *Session) deliver(ts uint32, payload []byte) {
	rx := &s.rx
	if rx.tsValid {
		if gap := int32(ts - rx.expTS); gap > 0 && gap <= maxFillSamples {
			s.fill(int(gap))
		}
	}
	rx.tsValid = true
	rx.expTS = ts + uint32(len(payload))
	if t := rx.taps; t != nil {
		// Relays take the payload as it came, before decoding; the gap
		// silence above is for decoded taps only, a relay sends its
		// own silence when it runs dry.
		for _, k := range t.enc {
			k.writePayload(rx.law, payload)
		}
	}
	if !s.decoding() {
		// Nobody takes frames: a bridge relays the payloads as they are.
		rx.pos = 0
		return
	}
	for len(payload) > 0 {
		k := min(FrameSamples-rx.pos, len(payload))
		rx.law.decode(rx.frame[rx.pos:rx.pos+k], payload[:k])
		rx.pos += k
		payload = payload[k:]
		if rx.pos == FrameSamples {
			s.emit()
		}
	}
}

// decoding reports whether anybody takes decoded frames: a tap on the
// frame path, or in-band DTMF detection.
func (s *Session) decoding() bool {
	rx := &s.rx
	return (rx.inband && !rx.sawEvent) || (rx.taps != nil && len(rx.taps.pcm) > 0)
}

// maxFillSamples bounds the silence inserted for a timestamp gap (10 s).
const maxFillSamples = 10 * SampleRate

func (s *Session) fill(n int) {
	rx := &s.rx
	if !s.decoding() {
		return
	}
	for n > 0 {
		k := min(FrameSamples-rx.pos, n)
		clear(rx.frame[rx.pos : rx.pos+k])
		rx.pos += k
		n -= k
		if rx.pos == FrameSamples {
			s.emit()
		}
	}
}

// emit hands a complete frame to the in-band detector and the taps.
func (s *Session) emit() {
	rx := &s.rx
	rx.pos = 0
	if rx.inband && !rx.sawEvent {
		if d, ok := rx.det.push(rx.frame[:]); ok {
			s.digit(d)
		}
	}
	if t := rx.taps; t != nil {
		for _, k := range t.pcm {
			k.Write(rx.frame[:])
		}
	}
}
