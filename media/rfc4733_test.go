package media

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
)

const testDTMFPT = 101

// collectDigits reads digits until none has come for quiet.
func collectDigits(s *Session, quiet time.Duration) string {
	var got []byte
	for {
		select {
		case d := <-s.DTMF():
			got = append(got, d)
		case <-time.After(quiet):
			return string(got)
		}
	}
}

// A sends RFC 4733 events through a real pacer; B reports each digit once.
func TestSendDTMFRoundTrip(t *testing.T) {
	p := NewPacer(PacerOptions{})
	t.Cleanup(p.Close)
	withEvents := func(c *SessionConfig) { c.DTMFPayloadType = testDTMFPT }
	a := newSession(t, p, nil, withEvents)
	b := newSession(t, p, a.LocalAddr(), withEvents)
	a.SetRemote(b.LocalAddr(), PCMU, testDTMFPT)
	a.Play(&toneSource{freq: 300, amp: 2000, total: 1 << 20}) // paused by the digits

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := a.SendDTMF(ctx, "1w2b#"); err != nil {
		t.Fatalf("SendDTMF: %v", err)
	}
	// 4 digits of 10 packets, no gap after the last, and a 25-packet pause.
	if d := time.Since(start); d < 1200*time.Millisecond {
		t.Errorf("SendDTMF returned after %v: too early", d)
	}
	if got := collectDigits(b, 300*time.Millisecond); got != "12B#" {
		t.Errorf("digits = %q, want %q", got, "12B#")
	}
	if st := b.Stats(); st.Lost != 0 {
		t.Errorf("event packets counted as lost: %+v", st)
	}
}

// The event packets follow RFC 4733: one timestamp per event, growing
// durations, marker on the first, three end packets; audio resumes with
// sequence and timestamp continuous.
func TestSendDTMFPackets(t *testing.T) {
	p, _, tick := manualPacer(t)
	cp := newCapture(t)
	s := newSession(t, p, cp.addr(), func(c *SessionConfig) { c.DTMFPayloadType = testDTMFPT })
	errc := make(chan error, 1)
	go func() { errc <- s.SendDTMF(context.Background(), "5") }()

	first := waitEvent(t, tick, cp)
	pkts := []*rtp.Packet{first}
	for range dtmfToneTicks + dtmfEndPackets - 1 {
		tick(1)
		pkts = append(pkts, cp.next(t))
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("SendDTMF: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("SendDTMF did not return after the last end packet")
	}
	for i, pkt := range pkts {
		ev, end, dur := parseEvent(t, pkt)
		wantDur := uint16(min(i+1, dtmfToneTicks) * FrameSamples)
		wantEnd := i >= dtmfToneTicks
		if pkt.PayloadType != testDTMFPT || ev != 5 || end != wantEnd || dur != wantDur {
			t.Errorf("packet %d: PT %d event %d end %v duration %d; want event 5 end %v duration %d",
				i, pkt.PayloadType, ev, end, dur, wantEnd, wantDur)
		}
		if pkt.Timestamp != first.Timestamp || pkt.Marker != (i == 0) {
			t.Errorf("packet %d: ts %d marker %v", i, pkt.Timestamp, pkt.Marker)
		}
		if pkt.SequenceNumber != first.SequenceNumber+uint16(i) {
			t.Errorf("packet %d: seq %d", i, pkt.SequenceNumber)
		}
	}
	tick(1)
	audio := cp.next(t)
	if audio.PayloadType != 0 || audio.SequenceNumber != first.SequenceNumber+uint16(len(pkts)) ||
		audio.Timestamp != first.Timestamp+uint32(len(pkts))*FrameSamples {
		t.Errorf("audio after the event: PT %d seq %d ts %d", audio.PayloadType, audio.SequenceNumber, audio.Timestamp)
	}
}

// Cancelling mid-digit still terminates the event with end packets.
func TestSendDTMFCancel(t *testing.T) {
	p, _, tick := manualPacer(t)
	cp := newCapture(t)
	s := newSession(t, p, cp.addr(), func(c *SessionConfig) { c.DTMFPayloadType = testDTMFPT })
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- s.SendDTMF(ctx, "55") }()
	waitEvent(t, tick, cp)
	tick(1)
	cp.next(t)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("SendDTMF = %v, want context.Canceled", err)
	}
	for i := range dtmfEndPackets {
		tick(1)
		pkt := cp.next(t)
		_, end, dur := parseEvent(t, pkt)
		if !end || dur != 2*FrameSamples {
			t.Errorf("packet %d after cancel: end %v duration %d, want an end packet of 320", i, end, dur)
		}
	}
	tick(1)
	if pkt := cp.next(t); pkt.PayloadType != 0 {
		t.Errorf("after the end packets: PT %d, want audio", pkt.PayloadType)
	}
}

func TestSendDTMFInvalid(t *testing.T) {
	p, _, _ := manualPacer(t)
	s := newSession(t, p, nil, nil)
	for _, digits := range []string{"12x", "E", " "} {
		if err := s.SendDTMF(t.Context(), digits); err == nil {
			t.Errorf("SendDTMF(%q): no error", digits)
		}
	}
	if err := s.SendDTMF(t.Context(), ""); err != nil {
		t.Errorf("SendDTMF(\"\") = %v", err)
	}
}

// waitEvent ticks until the first telephone-event packet shows up.
func waitEvent(t *testing.T, tick func(int), cp *capture) *rtp.Packet {
	t.Helper()
	// SendDTMF runs in a goroutine that a loaded machine may not schedule
	// for a while; tick until its first packet comes or a wall-clock bound
	// passes, not a fixed number of ticks (which a busy CI run exhausted).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		tick(1)
		if pkt := cp.next(t); pkt.PayloadType == testDTMFPT {
			return pkt
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no event packet")
	return nil
}

func parseEvent(t *testing.T, pkt *rtp.Packet) (ev uint8, end bool, dur uint16) {
	t.Helper()
	if len(pkt.Payload) != 4 {
		t.Fatalf("event payload of %d bytes", len(pkt.Payload))
	}
	return pkt.Payload[0], pkt.Payload[1]&0x80 != 0, binary.BigEndian.Uint16(pkt.Payload[2:])
}

// Received events: one digit per press whatever arrives of it.
func TestReceiveDTMF(t *testing.T) {
	type pkt struct {
		ev    uint8
		end   bool
		ts    uint32
		audio bool
	}
	press := func(ev uint8, ts uint32) []pkt {
		var ps []pkt
		for range 5 {
			ps = append(ps, pkt{ev: ev, ts: ts})
		}
		for range 3 {
			ps = append(ps, pkt{ev: ev, ts: ts, end: true})
		}
		return ps
	}
	cat := func(parts ...[]pkt) (all []pkt) {
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	for _, tc := range []struct {
		name string
		pkts []pkt
		want string
	}{
		{"one press, retransmitted ends", press(5, 1000), "5"},
		{"start lost", []pkt{{ev: 7, ts: 3000, end: true}, {ev: 7, ts: 3000, end: true}}, "7"},
		{"only the middle arrives", []pkt{{ev: 9, ts: 3000}}, "9"},
		{"same digit twice", cat(press(1, 5000), press(1, 6600)), "11"},
		{"late end packet of an old press", cat(press(5, 1000), press(7, 3000), []pkt{{ev: 5, ts: 1000, end: true}}), "57"},
		{"all keys", cat(press(10, 100), press(11, 2000), press(12, 4000), press(15, 6000), press(0, 8000)), "*#AD0"},
		{"flash is not a digit", []pkt{{ev: 16, ts: 100, end: true}}, ""},
		{"audio around events", cat([]pkt{{audio: true}}, press(3, 200), []pkt{{audio: true}}), "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := manualPacer(t)
			s := newSession(t, p, nil, func(c *SessionConfig) { c.DTMFPayloadType = testDTMFPT })
			peer := loopConn(t)
			defer peer.Close()
			for i, k := range tc.pkts {
				h := rtp.Header{SequenceNumber: uint16(100 + i), Timestamp: k.ts, SSRC: 77, PayloadType: testDTMFPT}
				if k.audio {
					h.PayloadType, h.Timestamp = 0, uint32(i)*FrameSamples
					sendRTP(t, peer, s.LocalAddr(), h, silenceULaw())
					continue
				}
				payload := make([]byte, 4)
				putEvent(payload, k.ev, k.end, 800)
				sendRTP(t, peer, s.LocalAddr(), h, payload)
			}
			eventually(t, 2*time.Second, "all packets", func() bool { return s.Stats().Received == uint64(len(tc.pkts)) })
			if got := collectDigits(s, 50*time.Millisecond); got != tc.want {
				t.Errorf("digits = %q, want %q", got, tc.want)
			}
			if st := s.Stats(); st.Lost != 0 || st.Dropped != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// A packet lost inside an event: the press is still reported once.
func TestReceiveDTMFWithLoss(t *testing.T) {
	p, _, _ := manualPacer(t)
	s := newSession(t, p, nil, func(c *SessionConfig) { c.DTMFPayloadType = testDTMFPT })
	peer := loopConn(t)
	defer peer.Close()
	seq := uint16(10)
	send := func(ev uint8, ts uint32, end bool) {
		payload := make([]byte, 4)
		putEvent(payload, ev, end, 480)
		sendRTP(t, peer, s.LocalAddr(), rtp.Header{SequenceNumber: seq, Timestamp: ts, SSRC: 3, PayloadType: testDTMFPT}, payload)
		seq++
	}
	send(4, 1000, false)
	seq += 2 // two packets lost, end packets follow
	send(4, 1000, true)
	send(4, 1000, true)
	send(4, 1000, true)
	send(8, 2600, false)
	send(8, 2600, true)
	eventually(t, 2*time.Second, "packets", func() bool { return s.Stats().Received == 6 })
	if got := collectDigits(s, 50*time.Millisecond); got != "48" {
		t.Errorf("digits = %q, want %q", got, "48")
	}
	if st := s.Stats(); st.Lost != 2 {
		t.Errorf("lost = %d, want 2", st.Lost)
	}
}

// Without telephone-event the digits go in-band; the far end's Goertzel
// detector hears them.
func TestSendDTMFInbandRoundTrip(t *testing.T) {
	p := NewPacer(PacerOptions{})
	t.Cleanup(p.Close)
	a := newSession(t, p, nil, nil)
	b := newSession(t, p, a.LocalAddr(), func(c *SessionConfig) { c.InbandDTMF = true })
	a.SetRemote(b.LocalAddr(), PCMU, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.SendDTMF(ctx, "159*0#D"); err != nil {
		t.Fatalf("SendDTMF: %v", err)
	}
	if got := collectDigits(b, 300*time.Millisecond); got != "159*0#D" {
		t.Errorf("digits = %q, want %q", got, "159*0#D")
	}
}
