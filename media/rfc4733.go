package media

import "encoding/binary"

// RFC 4733 telephone events: the payload format, and the receiving side.
const (
	eventLen   = 4  // payload bytes of one event (section 2.3)
	dtmfVolume = 10 // -10 dBm0, the usual level of a keypad tone
)

// dtmfEvent maps a digit to its RFC 4733 section 3.2 event code.
func dtmfEvent(c byte) (uint8, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c == '*':
		return 10, true
	case c == '#':
		return 11, true
	case c >= 'A' && c <= 'D':
		return 12 + c - 'A', true
	case c >= 'a' && c <= 'd':
		return 12 + c - 'a', true
	}
	return 0, false
}

// eventDigits is the inverse of dtmfEvent for codes 0-15.
const eventDigits = "0123456789*#ABCD"

// putEvent writes an RFC 4733 section 2.3 payload: event, E bit, volume,
// duration in timestamp units.
func putEvent(b []byte, ev uint8, end bool, dur uint16) {
	b[0] = ev
	b[1] = dtmfVolume
	if end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:4], dur)
}

// eventDedup remembers the timestamps of recent events. All packets of
// one key press share the RTP timestamp of its start (RFC 4733 section 2.5.1.2),
// so a timestamp seen before is a continuation or a retransmitted end
// packet, never a new press. A few entries cover reordering across two
// presses.
type eventDedup struct {
	ts   [4]uint32
	used [4]bool
	next int
}

func (d *eventDedup) seen(ts uint32) bool {
	for i := range d.ts {
		if d.used[i] && d.ts[i] == ts {
			return true
		}
	}
	d.ts[d.next], d.used[d.next] = ts, true
	d.next = (d.next + 1) % len(d.ts)
	return false
}

func (d *eventDedup) reset() { *d = eventDedup{} }

// event handles a telephone-event payload: a new press is reported once,
// whichever of its packets arrives first (so a lost start still counts).
func (s *Session) event(payload []byte, ts uint32) {
	rx := &s.rx
	if len(payload) < eventLen || payload[0] >= uint8(len(eventDigits)) {
		return // not a DTMF key (flash, tones of RFC 4734): ignored
	}
	rx.sawEvent = true
	if rx.dedup.seen(ts) {
		return
	}
	s.digit(eventDigits[payload[0]])
}

// digit queues a received digit without blocking the receiving goroutine.
func (s *Session) digit(d byte) {
	select {
	case s.digits <- d:
	default:
		s.log.Warn("rtp: DTMF digit dropped, nobody is reading", "digit", string(d))
	}
}
