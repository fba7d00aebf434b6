package media

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// A key press sent by A as RFC 4733 events reaches B's far end as events
// on B's own telephone-event payload type, or as an in-band tone when B
// has none; A still reports the digit on its DTMF channel.
func TestBridgeEvents(t *testing.T) {
	const aPT = 96 // A's and B's payload types differ on purpose
	for _, tc := range []struct {
		name   string
		bPT    uint8
		ends   int // end packets A sends (0: all lost)
		after  int // audio packets A sends after the press
		inband bool
	}{
		{"RFC 4733 to RFC 4733", testDTMFPT, 3, 3, false},
		{"RFC 4733 to in-band", 0, 3, 3, true},
		{"end packets lost", testDTMFPT, 0, relayEventTimeout + 5, false},
		{"end packets lost, in-band", 0, 0, relayEventTimeout + 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBridgeRig(t, end{codec: PCMU, dtmfPT: aPT}, end{codec: PCMU, dtmfPT: tc.bPT})
			stop := Bridge(r.sa, r.sb)
			defer stop()
			var got []*rtp.Packet
			talk := func(h rtp.Header, payload []byte) {
				send(t, r.pa, r.sa, h, payload)
				_, toB := r.step(t)
				got = append(got, toB)
			}
			for range 2 {
				talk(r.ta.audio(), silenceULaw())
			}
			// The press: 100 ms of tone packets, then its end packets,
			// all with the timestamp of its start.
			start := r.ta.ts
			for i := range dtmfToneTicks + tc.ends {
				end := i >= dtmfToneTicks
				ev := make([]byte, eventLen)
				putEvent(ev, 5, end, uint16(min(i+1, dtmfToneTicks)*FrameSamples))
				talk(rtp.Header{PayloadType: aPT, Marker: i == 0, SequenceNumber: r.ta.seq, Timestamp: start, SSRC: r.ta.ssrc}, ev)
				r.ta.seq++
			}
			r.ta.ts += (dtmfToneTicks + uint32(tc.ends)) * FrameSamples
			for range tc.after {
				talk(r.ta.audio(), silenceULaw())
			}

			if d := collectDigits(r.sa, 50*time.Millisecond); d != "5" {
				t.Errorf("A's DTMF channel: %q, want \"5\"", d)
			}
			checkContinuity(t, "to B", got, tc.bPT)
			if tc.inband {
				checkInbandPress(t, got)
			} else {
				checkRelayedPress(t, got, tc.bPT)
			}
		})
	}
}

// checkRelayedPress asserts that pkts hold one RFC 4733 press of '5' on
// pt, with audio before and after it.
func checkRelayedPress(t *testing.T, pkts []*rtp.Packet, pt uint8) {
	t.Helper()
	first, last := -1, -1
	for i, p := range pkts {
		if p.PayloadType == pt {
			if first < 0 {
				first = i
			}
			last = i
		} else if p.PayloadType != PCMU.PayloadType {
			t.Fatalf("packet %d: PT %d", i, p.PayloadType)
		}
	}
	if first < 1 || last == len(pkts)-1 {
		t.Fatalf("events at packets %d..%d of %d: want audio before and after", first, last, len(pkts))
	}
	if want := pkts[first-1].Timestamp + FrameSamples; pkts[first].Timestamp != want {
		t.Errorf("the event starts at ts %d, want %d: B's own clock", pkts[first].Timestamp, want)
	}
	var prevDur uint16
	for i := first; i <= last; i++ {
		p := pkts[i]
		if p.PayloadType != pt {
			t.Fatalf("packet %d: audio inside the event", i)
		}
		ev, end, dur := parseEvent(t, p)
		wantEnd := i > last-dtmfEndPackets
		if ev != 5 || end != wantEnd || dur < prevDur || p.Timestamp != pkts[first].Timestamp || p.Marker != (i == first) {
			t.Errorf("packet %d: event %d end %v duration %d ts %d marker %v", i, ev, end, dur, p.Timestamp, p.Marker)
		}
		prevDur = dur
	}
	if prevDur != dtmfToneTicks*FrameSamples {
		t.Errorf("final duration %d, want %d", prevDur, dtmfToneTicks*FrameSamples)
	}
	if !pkts[last+1].Marker {
		t.Error("no marker on the audio after the event")
	}
}

// checkInbandPress asserts that the audio in pkts holds one press of '5'
// as a dual tone, at least as long as the press.
func checkInbandPress(t *testing.T, pkts []*rtp.Packet) {
	t.Helper()
	var det dtmfDetector
	var digits []byte
	toneFrames := 0
	for i, p := range pkts {
		if p.PayloadType != PCMU.PayloadType {
			t.Fatalf("packet %d: PT %d, want audio only", i, p.PayloadType)
		}
		frame := decodeFrame(PCMU, p.Payload)
		if detectDigit(frame) == '5' {
			toneFrames++
		}
		if d, ok := det.push(frame); ok {
			digits = append(digits, d)
		}
	}
	if string(digits) != "5" || toneFrames < dtmfToneTicks {
		t.Errorf("in-band: digits %q in %d tone frames, want \"5\" in at least %d", digits, toneFrames, dtmfToneTicks)
	}
}

// The relay's view of the mailbox: retransmissions, reordering and a new
// press cutting an old one short.
func TestRelayEventTake(t *testing.T) {
	var e relayEvent
	e.take(eventUpdate{ts: 100, code: 5, dur: 160}, 9000)
	if !e.active || e.start != 9000 || e.dur != 160 {
		t.Fatalf("a new press: %+v", e)
	}
	e.take(eventUpdate{ts: 100, code: 5, dur: 480}, 9160)
	e.take(eventUpdate{ts: 100, code: 5, dur: 320}, 9320) // reordered
	if e.dur != 480 || e.start != 9000 {
		t.Errorf("duration %d start %d, want 480 from 9000", e.dur, e.start)
	}
	e.take(eventUpdate{ts: 100, code: 5, dur: 480, end: true}, 9480)
	e.take(eventUpdate{ts: 100, code: 5, dur: 320}, 9640) // late, after the end
	if !e.end {
		t.Error("a late packet undid the end")
	}
	e.finish()
	e.take(eventUpdate{ts: 100, code: 5, dur: 480, end: true}, 9800) // retransmitted end
	if e.active {
		t.Error("a retransmitted end started the press again")
	}
	e.take(eventUpdate{ts: 900, code: 7, dur: 160}, 10000)
	e.take(eventUpdate{ts: 1700, code: 8, dur: 160}, 10160) // cuts 7 short
	e.take(eventUpdate{ts: 900, code: 7, dur: 320}, 10320)  // late packet of 7
	if !e.active || e.code != 8 || e.start != 10160 {
		t.Errorf("after a press cut short: %+v", e)
	}
}
