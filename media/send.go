package media

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtp"
)

// rtpHeaderLen is the fixed RTP header without CSRCs or extensions
// (RFC 3550 section 5.1); we never send either.
const rtpHeaderLen = 12

// txState is the sending half of a session. Only the pacer goroutine
// that ticks the session touches it, so it needs no synchronization.
type txState struct {
	hdr     rtp.Header
	seq     uint16
	ts      uint32
	buf     [rtpHeaderLen + FrameSamples]byte // the one packet buffer
	frame   [FrameSamples]int16
	talking bool      // the previous packet carried audio from the output
	out     *playback // the output of the previous packet
	job     *dtmfJob

	lastSend   time.Time // for the send-gap histogram; zero after a pause
	lastAlive  uint64    // receive counter seen at the previous tick
	lastActive time.Time // when packets were last seen arriving (or held)

	// The send system call's arguments and result: sendFn is bound to
	// them once, so that a send allocates no closure.
	n      int
	to     *rawAddr
	err    syscall.Errno
	sendFn func(fd uintptr)

	tally   *tally   // the pacer shard's counts for the session's Metrics (nil: none, or a manual pacer)
	metrics *Metrics // counted directly when there is no tally (nil: none)
	// drained counts the frames a relay dropped (Stats.Drained), and
	// caughtUp those it sent early (Stats.CaughtUp); written by the pacer
	// goroutine, read by Stats.
	drained, caughtUp atomic.Uint64
	// catchUp is set by the output (a relay) when it holds a backlog to
	// send early: a second packet in this packet time.
	catchUp bool
	// order is the pass of the shard's tick this session sends in next
	// (see shard.tick).
	order sendOrder
	txIO
}

// init draws the random starting points that RFC 3550 section 5.1 asks for
// (they make known-plaintext attacks on encrypted media harder and let a
// receiver tell a restarted sender from a continuing one).
func (tx *txState) init(rnd func() uint32, send func(fd uintptr), m *Metrics) {
	tx.metrics = m
	tx.hdr.Version = 2
	tx.hdr.SSRC = rnd()
	tx.seq = uint16(rnd())
	tx.ts = rnd()
	tx.sendFn = send
}

// tick sends this packet time's packet: DTMF if a SendDTMF is running,
// else the current output's next packet (a playback, a bridge), else
// silence. A session keeps sending while nothing plays so that NATs stay
// open and the peer's jitter buffer keeps a steady clock. It never
// allocates.
func (s *Session) tick(now time.Time, skipped uint32) {
	if s.ended.Load() {
		return
	}
	tx := &s.tx
	tx.ts += skipped * FrameSamples
	held := s.held.Load()
	if s.inactive(now, held || s.quiet.Load()) {
		s.end(ErrInactive)
		return
	}
	if held {
		// Nothing goes out, but the timestamp follows the clock so the
		// first packet after the hold reads as a pause (RFC 3550 section 5.1).
		tx.ts += FrameSamples
		tx.talking = false
		tx.lastSend = time.Time{}
		return
	}
	pr := s.peer.Load()
	if tx.job == nil && s.dtmfReq.Load() != nil {
		tx.job = s.dtmfReq.Swap(nil)
	}
	var (
		pkt packet
		eof *playback
	)
	if tx.job != nil {
		var ok bool
		if pkt, ok = s.dtmfStep(pr); !ok {
			tx.job.finish(nil)
			tx.job = nil
		}
		tx.talking = false // audio that resumes starts a talkspurt
	}
	if tx.job == nil {
		pkt, eof = s.audioPacket(pr)
	}
	s.sendPacket(pr, pkt)
	if tx.catchUp {
		s.catchUp(pr)
	}
	if eof != nil && s.play.CompareAndSwap(eof, nil) {
		eof.finish(nil) // its last samples just left
	}
	if tx.job != nil && tx.job.over() {
		tx.job.finish(nil)
		tx.job = nil
	}
}

// live reports whether the session's output is a liveSource.
func (s *Session) live() bool {
	p := s.play.Load()
	return p != nil && p.live
}

// countRelay counts frames a relay dropped and frames it sent early, in
// Stats and in the metrics: through the shard's tally, or directly with a
// manual pacer.
func (tx *txState) countRelay(drained, caughtUp uint64) {
	tx.drained.Add(drained)
	tx.caughtUp.Add(caughtUp)
	switch {
	case tx.tally != nil:
		tx.tally.drained += drained
		tx.tally.caughtUp += caughtUp
	case tx.metrics != nil:
		tx.metrics.drained.Add(float64(drained))
		tx.metrics.caughtUp.Add(float64(caughtUp))
	}
}

// sendPacket taps and sends one packet, and moves the timestamp on a packet time.
func (s *Session) sendPacket(pr *peer, pkt packet) {
	if st := s.sentTap.Load(); st != nil {
		s.tapSent(*st, pr, pkt)
	}
	s.send(pr, pkt)
	s.tx.ts += FrameSamples
}

// catchUp sends the frame a relay asked to send early, right after this
// packet time's packet, with the next sequence number and timestamp. The
// one packet buffer may be queued in the shard's ring: the ring is
// submitted first. Catch-ups are rare (one per 500 ms of backlog at
// most), so the extra submission costs little.
func (s *Session) catchUp(pr *peer) {
	tx := &s.tx
	tx.catchUp = false
	p := s.play.Load()
	if p == nil || p != tx.out || p.pkt == nil || tx.job != nil {
		return // the output was switched meanwhile: its backlog went with it
	}
	if tx.io.usable() {
		tx.io.flush()
	}
	pkt, ok := s.outputPacket(pr, p)
	if !ok {
		return // the backlog went meanwhile (the output was switched)
	}
	tx.countRelay(0, 1)
	s.sendPacket(pr, pkt)
}

// audioPacket fills the payload with the next frame of the playback, or
// with silence. eof is set when the playback ended with this frame.
func (s *Session) audioPacket(pr *peer) (pkt packet, eof *playback) {
	tx := &s.tx
	payload := tx.buf[rtpHeaderLen:]
	p := s.play.Load()
	if p != tx.out {
		// A new output (a prompt, a bridge) starts a talkspurt even
		// without silence before it: its timing is not the old one's.
		tx.out, tx.talking = p, false
	}
	if p != nil {
		if p.pkt != nil {
			return s.sourcePacket(pr, p), nil
		}
		got, err := p.read(tx.frame[:])
		got = max(0, min(got, FrameSamples))
		switch {
		case err == nil:
		case err == errFinished:
			got = 0
		case errors.Is(err, io.EOF):
			if got == 0 && s.play.CompareAndSwap(p, nil) {
				p.finish(nil) // the previous packet was its last
			}
			eof = p
		default:
			if s.play.CompareAndSwap(p, nil) {
				p.finish(fmt.Errorf("media: source: %w", err))
			}
		}
		if got > 0 {
			clear(tx.frame[got:])
			pr.law.encode(payload, tx.frame[:])
			// RFC 3551 section 4.1: the marker flags the first packet of a
			// talkspurt, so a receiver may re-adjust its playout delay.
			marker := !tx.talking
			tx.talking = true
			return packet{n: FrameSamples, pt: pr.codec.PayloadType, marker: marker, ts: tx.ts}, eof
		}
	}
	tx.talking = false
	return s.silencePacket(pr), eof
}

// sourcePacket sends what an output that writes its own packets (a
// bridge) has for this packet time, or silence. Such outputs never end,
// so there is no end of playback to report.
func (s *Session) sourcePacket(pr *peer, p *playback) packet {
	if pkt, ok := s.outputPacket(pr, p); ok {
		return pkt
	}
	s.tx.talking = false
	return s.silencePacket(pr)
}

// outputPacket is the packet an output that writes its own packets has
// for this packet time, if it has one.
func (s *Session) outputPacket(pr *peer, p *playback) (packet, bool) {
	tx := &s.tx
	if !p.begin() {
		return packet{}, false
	}
	pkt, kind := p.pkt.readPacket(pr, tx)
	if !p.endRead() {
		return packet{}, false
	}
	switch kind {
	case packetAudio:
		pkt.marker = !tx.talking // as for a playback: RFC 3551 §4.1
		tx.talking = true
		return pkt, true
	case packetEvent:
		tx.talking = false // audio that resumes starts a talkspurt
		return pkt, true
	}
	return packet{}, false
}

// send writes the header in front of the payload and sends the packet
// to the peer's current address.
func (s *Session) send(pr *peer, pkt packet) {
	tx := &s.tx
	if !pr.addr.IsValid() {
		return // nowhere to send until the peer's first packet latches
	}
	tx.hdr.PayloadType = pkt.pt
	tx.hdr.Marker = pkt.marker
	tx.hdr.SequenceNumber = tx.seq
	tx.hdr.Timestamp = pkt.ts
	if _, err := tx.hdr.MarshalTo(tx.buf[:rtpHeaderLen]); err != nil {
		s.sendErrors.Add(1)
		return
	}
	tx.seq++
	err := s.write(pr, rtpHeaderLen+pkt.n)
	if err == errQueued {
		return // the shard's ring sends it and calls sendDone
	}
	s.sendDone(err)
}

// sendDone counts a packet that went out, or did not (err).
func (s *Session) sendDone(err error) {
	tx := &s.tx
	if err != nil {
		if !errors.Is(err, net.ErrClosed) {
			s.sendErrors.Add(1)
		}
		return
	}
	s.sent.Add(1)
	if m := s.metrics; m != nil {
		now := s.pacer.now()
		var gap time.Duration
		if !tx.lastSend.IsZero() {
			gap = now.Sub(tx.lastSend)
		}
		if t := tx.tally; t != nil {
			t.packetSent(gap)
		} else {
			m.packetSent(gap)
		}
		tx.lastSend = now
	}
}

// inactive reports whether the inactivity timeout expired. It compares
// the receiving side's packet counter between ticks instead of taking
// a timestamp per received packet.
func (s *Session) inactive(now time.Time, held bool) bool {
	if s.timeout < 0 {
		return false
	}
	tx := &s.tx
	alive := s.alive.Load()
	if alive != tx.lastAlive || held || tx.lastActive.IsZero() {
		tx.lastAlive = alive
		tx.lastActive = now
		return false
	}
	return now.Sub(tx.lastActive) >= s.timeout
}

func fillSilence(payload []byte, l law) {
	b := l.silence()
	for i := range payload {
		payload[i] = b
	}
}
