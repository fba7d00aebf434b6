package media

const (
	// jitterDepth is how many newer packets may arrive before a missing
	// one is given up as lost: 3 packets, 60 ms at 20 ms ptime. Packets
	// in order are delivered at once; only a hole waits.
	jitterDepth = 3
	// jitterSlots holds the missing packet and the jitterDepth newer ones.
	jitterSlots = jitterDepth + 1
	// maxPayload is the largest audio payload kept: 120 ms of G.711.
	maxPayload = 960
	// maxSeqJump is a sequence jump taken as a restarted sender rather
	// than as that many lost packets (20 s at 20 ms ptime).
	maxSeqJump = 1000
)

// jitterOut receives the jitter buffer's output, in sequence order.
type jitterOut interface {
	deliver(ts uint32, payload []byte)
	packetLost()
	packetLate()
}

// jitterSlot is one held packet. Non-audio packets (telephone events,
// comfort noise) hold only their sequence number. Its payload is in
// jitter.data, under the same index.
type jitterSlot struct {
	full  bool
	audio bool
	seq   uint16
	ts    uint32
	n     int
}

// jitter puts packets back in sequence order. Downstream (recorders,
// recognizers, forks) needs order and the right amount of audio, not a
// playout clock, so there is no playout delay: a packet that continues the
// sequence goes out at once, and a hole holds up newer packets until it is
// filled or jitterDepth newer packets have arrived. A packet older than
// what went out is late and dropped (RFC 3550 §A.1 sequence arithmetic,
// modulo 2^16).
type jitter struct {
	slots [jitterSlots]jitterSlot
	// data holds the slots' payloads. It is allocated the first time a
	// packet has to wait: packets in order, nearly all of them, never
	// touch it, and a call that never sees reordering or loss saves its
	// 3.8 kB.
	data    *[jitterSlots][maxPayload]byte
	next    uint16 // next sequence number to deliver
	high    uint16 // highest sequence number held or delivered
	started bool
}

func (j *jitter) reset() {
	for i := range j.slots {
		j.slots[i].full = false
	}
	j.started = false
}

// push adds a packet (payload nil for non-audio) and delivers whatever is
// now in order.
func (j *jitter) push(seq uint16, ts uint32, payload []byte, audio bool, out jitterOut) {
	if !j.started {
		// high = next-1: nothing held, as after every packet taken in
		// order, so that the first packet takes the fast path too.
		j.started, j.next, j.high = true, seq, seq-1
	}
	d := int16(seq - j.next)
	if d < -maxSeqJump || d > maxSeqJump {
		// The sender restarted its sequence: deliver what is held and
		// start over without counting the jump as loss.
		j.flush(out)
		j.next, j.high, d = seq, seq-1, 0
	}
	if d < 0 {
		out.packetLate()
		return
	}
	if d == 0 && int16(j.high-j.next) < 0 {
		// In order with nothing held: straight through, without the copy
		// into a slot (whose cold cache lines cost more than the copy).
		if audio {
			out.deliver(ts, payload)
		}
		j.next++
		j.high = seq
		return
	}
	// Make room: what does not fit in the window is played out or lost.
	for seq-j.next >= jitterSlots {
		j.advance(out)
	}
	i := seq % jitterSlots
	sl := &j.slots[i]
	if sl.full {
		out.packetLate() // a duplicate
		return
	}
	if j.data == nil {
		j.data = new([jitterSlots][maxPayload]byte)
	}
	sl.full, sl.audio, sl.seq, sl.ts = true, audio, seq, ts
	sl.n = copy(j.data[i][:], payload)
	if int16(seq-j.high) > 0 {
		j.high = seq
	}
	for {
		if j.slots[j.next%jitterSlots].full || int16(j.high-j.next) >= jitterDepth {
			j.advance(out)
			continue
		}
		return
	}
}

// advance delivers the packet due next, or reports it lost.
func (j *jitter) advance(out jitterOut) {
	i := j.next % jitterSlots
	sl := &j.slots[i]
	if sl.full {
		sl.full = false
		if sl.audio {
			out.deliver(sl.ts, j.data[i][:sl.n])
		}
	} else {
		out.packetLost()
	}
	j.next++
}

// flush delivers every held packet in order, skipping holes silently.
func (j *jitter) flush(out jitterOut) {
	for range jitterSlots {
		i := j.next % jitterSlots
		sl := &j.slots[i]
		if sl.full {
			sl.full = false
			if sl.audio {
				out.deliver(sl.ts, j.data[i][:sl.n])
			}
		}
		j.next++
	}
}
