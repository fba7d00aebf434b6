package media

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// The SDP address is wrong (NAT); the session latches to where the peer's
// packets really come from, and then ignores everybody else.
func TestLatchAndDropOthers(t *testing.T) {
	p, _, tick := manualPacer(t)
	wrong := loopConn(t)
	wrongAddr := addrOf(wrong)
	_ = wrong.Close() // nobody listens there
	s := newSession(t, p, wrongAddr, nil)

	peer := newCapture(t)
	sendRTP(t, peer.conn, s.LocalAddr(), rtp.Header{PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 42}, silenceULaw())
	eventually(t, 2*time.Second, "latch", func() bool { return s.Stats().Received == 1 })
	if got := s.RemoteAddr().String(); got != peer.addr().String() {
		t.Fatalf("RemoteAddr = %s, want the packet's source %s", got, peer.addr())
	}
	tick(1)
	if pkt := peer.next(t); pkt.PayloadType != 0 {
		t.Errorf("PT %d", pkt.PayloadType)
	}

	third := loopConn(t)
	defer third.Close()
	sendRTP(t, third, s.LocalAddr(), rtp.Header{PayloadType: 0, SequenceNumber: 2, Timestamp: 320, SSRC: 42}, silenceULaw())
	sendRTP(t, peer.conn, s.LocalAddr(), rtp.Header{PayloadType: 0, SequenceNumber: 2, Timestamp: 320, SSRC: 42}, silenceULaw())
	eventually(t, 2*time.Second, "the peer's second packet", func() bool { return s.Stats().Received == 2 })
	eventually(t, 2*time.Second, "the drop", func() bool { return s.Stats().Dropped == 1 })
	if got := s.RemoteAddr().String(); got != peer.addr().String() {
		t.Errorf("RemoteAddr = %s after a third party's packet", got)
	}
}

func TestGarbageDropped(t *testing.T) {
	p, _, _ := manualPacer(t)
	s := newSession(t, p, nil, nil)
	c := loopConn(t)
	defer c.Close()
	for _, b := range [][]byte{
		{0x00, 0x01, 0x00, 0x00}, // STUN-like
		[]byte("hello, this is not RTP"),
		{0x80, 0x00, 0x00},                                  // too short
		make([]byte, 20),                                    // version 0
		{0xA0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, // padding larger than payload
	} {
		if _, err := c.WriteToUDP(b, s.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	// A valid RTP packet with a payload type that was not negotiated.
	sendRTP(t, c, s.LocalAddr(), rtp.Header{PayloadType: 18, SequenceNumber: 1, SSRC: 1}, []byte{1, 2, 3})
	eventually(t, 2*time.Second, "drops", func() bool { return s.Stats().Dropped == 6 })
	if st := s.Stats(); st.Received != 0 || s.RemoteAddr() != nil {
		t.Errorf("stats %+v, remote %v: garbage must not latch", st, s.RemoteAddr())
	}
}

// A B2BUA may switch SSRC without a re-INVITE: a few stray packets are
// dropped, a sustained new stream is followed.
func TestSSRCSwitch(t *testing.T) {
	p, _, _ := manualPacer(t)
	s := newSession(t, p, nil, nil)
	peer := loopConn(t)
	defer peer.Close()
	send := func(ssrc uint32, seq uint16) {
		sendRTP(t, peer, s.LocalAddr(), rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: ssrc}, silenceULaw())
	}
	send(1, 100)
	send(2, 500) // stray
	send(1, 101)
	eventually(t, 2*time.Second, "three packets", func() bool { st := s.Stats(); return st.Received+st.Dropped == 3 })
	if st := s.Stats(); st.Received != 2 || st.Dropped != 1 {
		t.Fatalf("stats %+v, want 2 received and 1 dropped", st)
	}
	for i := range uint16(ssrcSwitchAfter + 2) {
		send(3, 900+i)
	}
	eventually(t, 2*time.Second, "the new stream", func() bool {
		return s.Stats().Received == 2+3 // switched at the 5th packet
	})
}

// After a re-INVITE moves the media, a packet still in flight from the
// old source must not pin the session to it.
func TestRelatchToNewSDPAddress(t *testing.T) {
	p, _, tick := manualPacer(t)
	oldPeer, newPeer := newCapture(t), newCapture(t)
	s := newSession(t, p, oldPeer.addr(), nil)
	h := rtp.Header{SequenceNumber: 1, SSRC: 1}
	sendRTP(t, oldPeer.conn, s.LocalAddr(), h, silenceULaw())
	eventually(t, 2*time.Second, "latch", func() bool { return s.Stats().Received == 1 })

	s.SetRemote(newPeer.addr(), PCMU, 0)
	h.SequenceNumber = 2
	sendRTP(t, oldPeer.conn, s.LocalAddr(), h, silenceULaw()) // in flight
	eventually(t, 2*time.Second, "old packet", func() bool { return s.Stats().Received == 2 })
	sendRTP(t, newPeer.conn, s.LocalAddr(), rtp.Header{SequenceNumber: 50, SSRC: 2}, silenceULaw())
	eventually(t, 2*time.Second, "new packet", func() bool { return s.Stats().Received == 3 })
	if got := s.RemoteAddr().String(); got != newPeer.addr().String() {
		t.Fatalf("RemoteAddr = %s, want %s", got, newPeer.addr())
	}
	h.SequenceNumber = 3
	sendRTP(t, oldPeer.conn, s.LocalAddr(), h, silenceULaw())
	eventually(t, 2*time.Second, "drop", func() bool { return s.Stats().Dropped == 1 })
	tick(1)
	newPeer.next(t)
}

// The sink gets frames in sequence order, and silence for a packet that
// never came.
func TestSinkOrderAndLoss(t *testing.T) {
	p, _, _ := manualPacer(t)
	s := newSession(t, p, nil, nil)
	rec := &recorder{}
	s.Tap(rec)
	peer := loopConn(t)
	defer peer.Close()
	level := func(i int) int16 { return int16(1000 * i) }
	for _, i := range []int{1, 3, 2, 4, 6, 7, 8, 9} { // reordered; 5 lost
		frame := make([]int16, FrameSamples)
		for k := range frame {
			frame[k] = level(i)
		}
		payload := make([]byte, FrameSamples)
		PCMU.Encode(payload, frame)
		sendRTP(t, peer, s.LocalAddr(), rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i * FrameSamples), SSRC: 4}, payload)
	}
	eventually(t, 2*time.Second, "frames", func() bool { return len(rec.Frames()) == 9 })
	for n, f := range rec.Frames() {
		i := n + 1
		want := float64(level(i))
		if i == 5 {
			want = 0
		}
		if got := rms(f); got < want*0.95 || got > want*1.05 {
			t.Errorf("frame %d: rms %.0f, want %.0f", i, got, want)
		}
	}
	if st := s.Stats(); st.Lost != 1 || st.Late != 0 {
		t.Errorf("stats %+v, want 1 lost", st)
	}
}
