package media

import "encoding/binary"

// Passing RFC 4733 telephone events through a bridge. The speaker's
// receiving goroutine stores each event packet it gets in the relay's
// mailbox; at each packet time the hearer's pacer looks at the latest one
// and sends the press on in its own stream: its own payload type, its own
// timestamp for the start of the press, the speaker's duration. Relaying
// the state rather than every packet keeps the hearer at one packet per
// packet time whatever rate the speaker sends updates at (RFC 4733 lets
// it stretch them to 50 ms and more), and keeps a burst of packets from
// queueing up behind each other.

// relayEventTimeout ends a relayed press when the speaker has sent no
// news of it for this many packet times (500 ms): its end packets were
// lost, and the far end must not hear the key held down forever.
const relayEventTimeout = 25

// The mailbox packs one event packet into a uint64, so the two goroutines
// need no lock: bit 57 says a packet is there, bit 56 is the E bit, bits
// 48-55 the event code, 32-47 the duration and 0-31 the RTP timestamp.
const (
	evValid = 1 << 57
	evEnd   = 1 << 56
)

func packEvent(ts uint32, code uint8, end bool, dur uint16) uint64 {
	v := evValid | uint64(code)<<48 | uint64(dur)<<32 | uint64(ts)
	if end {
		v |= evEnd
	}
	return v
}

// eventUpdate is one unpacked mailbox value.
type eventUpdate struct {
	ts   uint32
	code uint8
	end  bool
	dur  uint16
}

func unpackEvent(v uint64) eventUpdate {
	return eventUpdate{ts: uint32(v), code: uint8(v >> 48), end: v&evEnd != 0, dur: uint16(v >> 32)}
}

// writeEvent takes a telephone-event payload from the speaker's receive
// goroutine. Only the DTMF keys pass (codes 0-15): the other events of
// RFC 4734 may mean nothing to the hearer.
func (r *relay) writeEvent(payload []byte, ts uint32) {
	if len(payload) < eventLen || payload[0] >= uint8(len(eventDigits)) {
		return
	}
	r.event.Store(packEvent(ts, payload[0], payload[1]&0x80 != 0, binary.BigEndian.Uint16(payload[2:4])))
}

// relayEvent is the hearer's side of the pass-through, owned by its pacer
// goroutine.
type relayEvent struct {
	seen   uint64 // the mailbox value last taken in
	active bool   // a press is being sent
	srcTS  uint32 // the speaker's timestamp of the press: its identity (RFC 4733 §2.5.1.2)
	code   uint8
	dur    uint16 // the latest duration the speaker reported
	end    bool   // the speaker reported the end
	start  uint32 // our timestamp of the press
	sent   int    // packets sent for it
	ends   int    // end packets sent
	idle   int    // packet times without news from the speaker
	done   bool   // doneTS is valid
	doneTS uint32 // the speaker's timestamp of the last press sent in full
}

// take applies a packet from the mailbox. now is the hearer's timestamp
// for this packet time.
func (e *relayEvent) take(v eventUpdate, now uint32) {
	switch {
	case e.active && v.ts == e.srcTS:
		// The press goes on or ends. Packets may arrive out of order:
		// the duration only grows and an end stays an end.
		e.dur = max(e.dur, v.dur)
		e.end = e.end || v.end
		e.idle = 0
	case e.done && v.ts == e.doneTS:
		// A retransmitted end packet of a press already sent in full.
	default:
		// A new press. One still being sent is cut short: for the far
		// end the new timestamp starts a new event.
		if e.active {
			e.done, e.doneTS = true, e.srcTS
		}
		*e = relayEvent{
			seen: e.seen, active: true, srcTS: v.ts, code: v.code, dur: v.dur, end: v.end,
			start: now, done: e.done, doneTS: e.doneTS,
		}
	}
}

// finish marks the press as sent in full.
func (e *relayEvent) finish() {
	e.active, e.done, e.doneTS = false, true, e.srcTS
}

// eventPacket writes this packet time's packet of a press under way,
// if any: an RFC 4733 event on the hearer's telephone-event payload type,
// or a slice of the dual tone when the hearer has none.
func (r *relay) eventPacket(pr *peer, tx *txState, payload []byte) (packet, bool) {
	e := &r.ev
	if v := r.event.Load(); v != e.seen {
		e.seen = v
		e.take(unpackEvent(v), tx.ts)
	} else if e.active {
		if e.idle++; e.idle >= relayEventTimeout {
			e.end = true
		}
	}
	if !e.active {
		return packet{}, false
	}
	if pr.dtmfPT == 0 {
		// In-band, the tone lasts as long as the speaker held the key:
		// until its end and its reported duration have both come.
		if e.end && e.sent*FrameSamples >= int(e.dur) {
			e.finish()
			return packet{}, false
		}
		toneFrame(tx.frame[:], e.code, e.sent*FrameSamples)
		e.sent++
		pr.law.encode(payload, tx.frame[:])
		return packet{n: FrameSamples, pt: pr.codec.PayloadType, ts: tx.ts}, true
	}
	e.sent++
	if e.end {
		// As SendDTMF does: the end goes out three times (RFC 4733
		// §2.5.1.4), since nothing else tells the far end the key is up.
		if e.ends++; e.ends >= dtmfEndPackets {
			e.finish()
		}
	}
	putEvent(payload, e.code, e.end, e.dur)
	return packet{n: eventLen, pt: pr.dtmfPT, marker: e.sent == 1, ts: e.start}, true
}
