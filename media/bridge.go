package media

import (
	"sync"
	"sync/atomic"
)

const (
	// relayFrames is the most audio a relay holds: 4 frames (80 ms), as
	// many as the jitter buffer releases at once when it gives up on a
	// hole. Beyond that the oldest audio is dropped, so a bridge never
	// delays the audio by more than this.
	relayFrames = jitterSlots
	relayCap    = relayFrames * FrameSamples
	// relayCushion is the audio a relay keeps in hand against jitter: one
	// frame (20 ms). The speaker's packets and the hearer's packet times
	// run on different phases (the peer's clock, its network, the pacer
	// shards); when they are close, a packet that arrives a little after
	// the packet time it was meant for leaves the hearer a packet of
	// silence and, one packet time later, a frame too many, which the
	// catch-up below then has to send early. A relay starts with no
	// delay, but once it has run dry in the middle of a stream it starts
	// again only when it holds the cushion and the frame to send, and
	// keeps the cushion from then on.
	relayCushion = FrameSamples
	// relayCatchUpTicks: when more than the cushion was left over after
	// every packet time for this long (500 ms), the hearer sends one
	// frame more in a packet time: two packets back to back, as a burst
	// in the network would deliver them. A burst from the speaker then
	// leaves no lasting delay (the speaker and the hearer send at the
	// same rate, so a backlog would otherwise stay for the rest of the
	// call), and no audio is lost: the hearer's jitter buffer takes the
	// early packet as it takes any early arrival.
	relayCatchUpTicks = 25
)

// Bridge connects a and b both ways, each hearing what the other says,
// until stop is called or either endpoint ends. Both then return to
// silence, except one whose output was replaced meanwhile (a prompt
// played during the bridge is left to finish). stop is idempotent, and
// when it returns the bridge has let go of both endpoints.
//
// Between two Sessions the audio is relayed as it came: the payload bytes
// unchanged when both negotiated the same G.711 law, one table lookup per
// byte when one is PCMU and the other PCMA. RFC 4733 telephone events are
// passed through on the hearing side's telephone-event payload type, or
// played as in-band tones if it has none. Each direction goes through a
// small ring that the hearing session's pacer empties at one packet per
// packet time, under that session's own SSRC, sequence numbers and
// timestamps, so its peer sees one continuous stream while the output
// switches between prompts, bridge and silence. A packet time that finds
// the ring empty sends silence, which keeps NAT bindings open and the
// far end's playout clock running; a backlog that lasts is sent early
// (relayCatchUpTicks); only a full ring drops audio, its oldest.
//
// Both endpoints keep their taps (a recording of both sides taps both)
// and keep reporting the digits they receive on their DTMF channels.
// Endpoints other than Sessions are bridged through frames (Sink and
// Source): audio only.
func Bridge(a, b Endpoint) (stop func()) {
	ab, ba := &relay{to: b}, &relay{to: a}
	untapA, untapB := a.Tap(ab), b.Tap(ba)
	clearB, clearA := b.SetOutput(ab), a.SetOutput(ba)
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-quit:
		case <-a.Done():
		case <-b.Done():
		}
		untapA()
		untapB()
		clearA()
		clearB()
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-exited
	}
}

// relay is one direction of a bridge: it is tapped on the endpoint that
// speaks and is the output of the endpoint that hears. The speaker's
// receiving side (its pacer goroutine, or its receive goroutine) fills
// it; the hearer's pacer goroutine empties it.
type relay struct {
	to Endpoint // the hearer, whose law the frame path encodes in

	mu   sync.Mutex // guards the ring; held for a copy of ≤ 160 bytes, never across I/O
	ring [relayCap]byte
	head int // index of the oldest byte
	n    int // bytes held
	law  law // of the bytes held
	// overflow counts the bytes push dropped because the ring was full,
	// until the hearer's packet times count them as drained frames (only
	// the hearer's pacer goroutine subtracts).
	overflow atomic.Int64

	// event is the speaker's latest telephone-event packet (packEvent),
	// handed over with one atomic store per packet.
	event atomic.Uint64

	// Owned by the hearer's pacer goroutine.
	ev        relayEvent
	spare     int  // consecutive packet times that left more than the cushion over
	playing   bool // frames go out as they come
	cushioned bool // it ran dry mid-stream: (re)start only with the cushion

	// Scratch of the frame path, each owned by its single caller.
	wbuf, rbuf [FrameSamples]byte
}

// Interface guards: a relay is both ends of one direction, and what it
// plays was heard in the same packet time.
var (
	_ payloadSink  = (*relay)(nil)
	_ packetSource = (*relay)(nil)
	_ liveSource   = (*relay)(nil)
)

func (*relay) live() {}

// writePayload takes the speaker's audio as it came.
func (r *relay) writePayload(l law, payload []byte) { r.push(l, payload) }

// Write is the frame path, for a speaker that is not a Session: the frame
// is encoded in the hearer's law, so that a Session hearing it sends it
// without transcoding.
func (r *relay) Write(frame []int16) {
	l := r.to.Format().Codec.law()
	n := min(len(frame), FrameSamples)
	l.encode(r.wbuf[:n], frame)
	r.push(l, r.wbuf[:n])
}

// Read is the frame path, for a hearer that is not a Session. It never
// ends, and reads silence while the ring is empty.
func (r *relay) Read(frame []int16) (int, error) {
	n := min(len(frame), FrameSamples)
	l, _, ok := r.pop(r.rbuf[:n], n)
	if !ok {
		clear(frame)
		return len(frame), nil
	}
	l.decode(frame, r.rbuf[:n])
	clear(frame[n:])
	return len(frame), nil
}

// readPacket is the Session's path: a telephone event if one is under
// way, else the next 20 ms of audio in the hearer's law, else nothing
// (the session sends silence). It never allocates.
func (r *relay) readPacket(pr *peer, tx *txState) (packet, packetKind) {
	payload := tx.buf[rtpHeaderLen : rtpHeaderLen+FrameSamples]
	if pkt, ok := r.eventPacket(pr, tx, payload); ok {
		// The speaker's audio of this packet time gives way to the
		// event, as a playback pauses for SendDTMF; dropping it keeps
		// the audio after the event in step.
		r.skip(FrameSamples)
		return pkt, packetEvent
	}
	need := FrameSamples
	if !r.playing && r.cushioned {
		need += relayCushion
	}
	l, left, ok := r.pop(payload, need)
	if v := r.overflow.Load(); v >= FrameSamples {
		r.countOverflow(tx, v/FrameSamples)
	}
	if !ok {
		if r.playing {
			r.cushioned = true
		}
		r.spare, r.playing = 0, false
		return packet{}, packetNone
	}
	r.playing = true
	if left < relayCushion+FrameSamples {
		r.spare = 0
	} else if r.spare++; r.spare >= relayCatchUpTicks {
		r.spare = 0
		tx.catchUp = true
	}
	transcode(payload, l, pr.law)
	return packet{n: FrameSamples, pt: pr.codec.PayloadType, ts: tx.ts}, packetAudio
}

// push appends a payload in law l, dropping the oldest audio that does
// not fit.
func (r *relay) push(l law, p []byte) {
	if len(p) > relayCap {
		p = p[len(p)-relayCap:]
	}
	r.mu.Lock()
	if l != r.law {
		// A re-INVITE changed the speaker's codec: the ring holds one
		// law at a time, and 80 ms of the old one are not worth keeping.
		r.n, r.law = 0, l
	}
	if over := r.n + len(p) - relayCap; over > 0 {
		r.head = (r.head + over) % relayCap
		r.n -= over
		r.overflow.Add(int64(over))
	}
	tail := (r.head + r.n) % relayCap
	k := copy(r.ring[tail:], p)
	copy(r.ring[:], p[k:])
	r.n += len(p)
	r.mu.Unlock()
}

// pop takes the oldest len(dst) bytes if the ring holds need (≥ len(dst))
// bytes, and tells how many are left. A partial frame waits for the rest
// (a peer whose packets are not 20 ms long).
func (r *relay) pop(dst []byte, need int) (l law, left int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n < max(need, len(dst)) {
		return 0, r.n, false
	}
	k := copy(dst, r.ring[r.head:])
	copy(dst[k:], r.ring[:len(dst)-k])
	r.head = (r.head + len(dst)) % relayCap
	r.n -= len(dst)
	return r.law, r.n, true
}

// countOverflow moves frames that push dropped into the hearer's
// drained count.
func (r *relay) countOverflow(tx *txState, frames int64) {
	r.overflow.Add(-frames * FrameSamples)
	tx.countRelay(uint64(frames), 0)
}

// skip drops the oldest n bytes, or all there are.
func (r *relay) skip(n int) {
	r.mu.Lock()
	n = min(n, r.n)
	r.head = (r.head + n) % relayCap
	r.n -= n
	r.mu.Unlock()
}
