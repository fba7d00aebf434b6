package main

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// payloadMagic starts the payload of every packet rtpload sends, followed
// by the sending leg's stream id and its packet count (big endian). texml
// relays a bridged payload byte for byte (PCMU to PCMU), so the leg that
// hears it can tell the other side's packets, in their order, from the
// silence texml sends when it has nothing to relay, and count the ones
// that never came through.
var payloadMagic = [4]byte{'T', 'X', 'L', 'D'}

// leg is one end of an RTP stream in the load tool: a caller's socket or
// a callee's. Its send state belongs to the engine shard that sends for
// it; its receive state (rx) to whoever reads its socket: the shard in
// poll mode, the leg's own goroutine otherwise.
type leg struct {
	conn   *net.UDPConn
	fd     int            // conn's descriptor, for recvmmsg in poll mode
	to     netip.AddrPort // texml's media address for this leg
	stream uint32         // this leg's id in the payloads it sends

	seq   uint16
	ts    uint32
	ssrc  uint32
	count uint32

	rx rxStats
}

// newLeg opens a loopback RTP socket with kernel receive timestamps.
func newLeg(stream uint32) (*leg, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	l := &leg{conn: conn, stream: stream, seq: uint16(rand.Uint32()), ts: rand.Uint32(), ssrc: rand.Uint32()}
	raw, err := conn.SyscallConn()
	if err == nil {
		err = raw.Control(func(fd uintptr) { l.fd = int(fd) })
	}
	if err == nil {
		err = enableTimestamps(conn)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return l, nil
}

// port is the leg's local RTP port, for the SDP.
func (l *leg) port() int { return l.conn.LocalAddr().(*net.UDPAddr).Port }

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
}

// packet accounts for one received packet: RTP sequence and timing, then
// the payload's mark. now is when it was read (zero in poll mode, where
// the read time says nothing about texml), kt the kernel's arrival time.
func (r *rxStats) packet(seq uint16, ts uint32, payload []byte, now, kt time.Time, kok bool) {
	r.mark(payload)
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

// mark follows the other side's packet counts through the payload marks.
func (r *rxStats) mark(p []byte) {
	if len(p) < 12 || [4]byte(p[:4]) != payloadMagic {
		if r.marked > 0 {
			r.pendingFill++
		}
		return
	}
	stream, count := binary.BigEndian.Uint32(p[4:]), binary.BigEndian.Uint32(p[8:])
	if r.marked == 0 {
		r.peer, r.lastCount, r.marked = stream, count, 1
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

// engine sends 20 ms packets on every leg it holds (if send is set) and,
// in poll mode, reads every leg's socket at each packet time, from a few
// goroutines (shards) for all legs, staggered across the 20 ms. Polling
// costs one recvmmsg per leg per packet time and wakes no goroutine per
// packet, which keeps the load tool's share of the shared cores small;
// the gaps are still timed by the kernel's arrival timestamps.
type engine struct {
	send, poll bool
	shards     []*legShard
	quit       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

// legShard is one of the engine's goroutines and its legs. mu is held for
// a whole packet time's work, so that remove returns only once the shard
// no longer touches the leg.
type legShard struct {
	mu   sync.Mutex
	legs []*leg
	pkt  [12 + samplesPerPkt]byte
	rb   rxBatch
}

// newEngine starts n shards.
func newEngine(n int, send, poll bool) *engine {
	e := &engine{send: send, poll: poll, shards: make([]*legShard, n), quit: make(chan struct{})}
	start := time.Now().Add(ptime)
	for i := range e.shards {
		sh := &legShard{}
		for j := 12; j < len(sh.pkt); j++ {
			sh.pkt[j] = 0xFF // µ-law silence after the mark
		}
		copy(sh.pkt[12:], payloadMagic[:])
		sh.rb.init()
		e.shards[i] = sh
		e.wg.Add(1)
		go e.run(sh, start.Add(ptime*time.Duration(i)/time.Duration(n)))
	}
	return e
}

// add puts l on the least loaded shard.
func (e *engine) add(l *leg) {
	best := e.shards[0]
	for _, sh := range e.shards[1:] {
		sh.mu.Lock()
		n := len(sh.legs)
		sh.mu.Unlock()
		best.mu.Lock()
		bn := len(best.legs)
		best.mu.Unlock()
		if n < bn {
			best = sh
		}
	}
	best.mu.Lock()
	best.legs = append(best.legs, l)
	best.mu.Unlock()
}

// remove takes l off its shard; when it returns, no shard touches l.
func (e *engine) remove(l *leg) {
	for _, sh := range e.shards {
		sh.mu.Lock()
		for i, x := range sh.legs {
			if x == l {
				last := len(sh.legs) - 1
				sh.legs[i], sh.legs[last] = sh.legs[last], nil
				sh.legs = sh.legs[:last]
				break
			}
		}
		sh.mu.Unlock()
	}
}

// stop ends the shards and waits for them; it is idempotent.
func (e *engine) stop() {
	e.once.Do(func() { close(e.quit) })
	e.wg.Wait()
}

// run is one shard: every 20 ms on an absolute schedule, one packet out
// and a read of the socket for each leg. A late wake-up sends one packet,
// not a burst: the receiving side (texml) absorbs the jitter.
func (e *engine) run(sh *legShard, next time.Time) {
	defer e.wg.Done()
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	var hdr rtp.Header
	hdr.Version = 2
	for {
		select {
		case <-e.quit:
			return
		case <-t.C:
		}
		sh.mu.Lock()
		for _, l := range sh.legs {
			if e.send {
				hdr.SequenceNumber, hdr.Timestamp, hdr.SSRC = l.seq, l.ts, l.ssrc
				if _, err := hdr.MarshalTo(sh.pkt[:12]); err == nil {
					binary.BigEndian.PutUint32(sh.pkt[16:], l.stream)
					binary.BigEndian.PutUint32(sh.pkt[20:], l.count)
					_, _ = l.conn.WriteToUDPAddrPort(sh.pkt[:], l.to)
				}
				l.seq++
				l.ts += samplesPerPkt
				l.count++
			}
			if e.poll {
				sh.rb.drain(l)
			}
		}
		sh.mu.Unlock()
		next = next.Add(ptime)
		if d := time.Until(next); d < -ptime {
			next = time.Now().Add(ptime) // fell behind: skip, don't burst
		}
		t.Reset(time.Until(next))
	}
}
