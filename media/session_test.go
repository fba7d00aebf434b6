package media

import (
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// A plays a 1 kHz tone through a real pacer; B's sink gets it, one frame
// per 20 ms, at the right level.
func TestSessionToneLoopback(t *testing.T) {
	p := NewPacer(PacerOptions{})
	t.Cleanup(p.Close)
	a := newSession(t, p, nil, nil)
	b := newSession(t, p, a.LocalAddr(), nil)
	a.SetRemote(b.LocalAddr(), PCMU, 0)
	rec := &recorder{}
	b.Tap(rec)

	const frames = 25 // 500 ms
	done := a.Play(&toneSource{freq: 1000, amp: 8000, total: frames * FrameSamples})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Play: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Play did not finish")
	}
	loud := func() (n int) {
		for _, f := range rec.Frames() {
			if rms(f) > 1000 {
				n++
			}
		}
		return n
	}
	eventually(t, 2*time.Second, "the tone frames", func() bool { return loud() >= frames })
	time.Sleep(100 * time.Millisecond) // silence follows; no more tone
	if n := loud(); n != frames {
		t.Errorf("tone frames = %d, want %d", n, frames)
	}
	for _, f := range rec.Frames() {
		if r := rms(f); r > 1000 && (r < 5400 || r > 5900) { // 8000/√2 ≈ 5657
			t.Errorf("tone frame rms = %.0f, want ≈ 5657", r)
			break
		}
	}
	if st := b.Stats(); st.Lost != 0 || st.Dropped != 0 || st.Received < frames {
		t.Errorf("B stats = %+v", st)
	}
}

// Sequence numbers and timestamps run on across silence and two prompts;
// the marker flags the start of each prompt.
func TestSequenceContinuity(t *testing.T) {
	p, _, tick := manualPacer(t)
	cp := newCapture(t)
	s := newSession(t, p, cp.addr(), nil)

	type want struct{ audio, marker bool }
	var script []want
	step := func(n int, audio, marker bool) {
		for i := range n {
			tick(1)
			script = append(script, want{audio, marker && i == 0})
		}
	}
	step(3, false, false)
	first := s.Play(&toneSource{freq: 440, amp: 5000, total: 3 * FrameSamples})
	step(3, true, true)
	if ok, err := ready(first); !ok || err != nil {
		t.Fatalf("first Play: ready=%v err=%v, want nil after its last packet", ok, err)
	}
	step(2, false, false)
	second := s.Play(&toneSource{freq: 440, amp: 5000, total: 2 * FrameSamples})
	step(2, true, true)
	step(1, false, false)
	if ok, err := ready(second); !ok || err != nil {
		t.Fatalf("second Play: ready=%v err=%v", ok, err)
	}

	var prev *rtp.Packet
	for i, w := range script {
		pkt := cp.next(t)
		if pkt.PayloadType != 0 || len(pkt.Payload) != FrameSamples {
			t.Fatalf("packet %d: PT %d, %d bytes", i, pkt.PayloadType, len(pkt.Payload))
		}
		if prev != nil {
			if pkt.SequenceNumber != prev.SequenceNumber+1 {
				t.Errorf("packet %d: seq %d after %d", i, pkt.SequenceNumber, prev.SequenceNumber)
			}
			if pkt.Timestamp != prev.Timestamp+FrameSamples {
				t.Errorf("packet %d: ts %d after %d", i, pkt.Timestamp, prev.Timestamp)
			}
			if pkt.SSRC != prev.SSRC {
				t.Errorf("packet %d: SSRC changed", i)
			}
		}
		silent := string(pkt.Payload) == string(silenceULaw())
		if silent == w.audio {
			t.Errorf("packet %d: audio=%v, want %v", i, !silent, w.audio)
		}
		if pkt.Marker != w.marker {
			t.Errorf("packet %d: marker=%v, want %v", i, pkt.Marker, w.marker)
		}
		prev = pkt
	}
}

// failingSource returns one frame and then an error.
type failingSource struct{ n int }

var errBroken = errors.New("broken source")

func (f *failingSource) Read(frame []int16) (int, error) {
	if f.n++; f.n > 1 {
		return 0, errBroken
	}
	return len(frame), nil
}

func TestPlayChannel(t *testing.T) {
	tone := func(samples int) Source { return &toneSource{freq: 440, amp: 3000, total: samples} }
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s *Session, tick func(int))
	}{
		{"nil only after the partial last frame was sent", func(t *testing.T, s *Session, tick func(int)) {
			ch := s.Play(tone(2*FrameSamples + 80))
			tick(2)
			if ok, _ := ready(ch); ok {
				t.Fatal("reported before the last frame")
			}
			tick(1)
			if ok, err := ready(ch); !ok || err != nil {
				t.Fatalf("after the last frame: ready=%v err=%v", ok, err)
			}
		}},
		{"nil for a source that ends on a frame boundary", func(t *testing.T, s *Session, tick func(int)) {
			src := SourceFunc(func(frame []int16) (int, error) { return 0, io.EOF })
			ch := s.Play(src)
			tick(1)
			if ok, err := ready(ch); !ok || err != nil {
				t.Fatalf("ready=%v err=%v", ok, err)
			}
		}},
		{"interrupted by another Play", func(t *testing.T, s *Session, tick func(int)) {
			ch := s.Play(tone(10 * FrameSamples))
			tick(1)
			next := s.Play(tone(FrameSamples))
			if ok, err := ready(ch); !ok || !errors.Is(err, ErrInterrupted) {
				t.Fatalf("replaced: ready=%v err=%v, want ErrInterrupted", ok, err)
			}
			tick(1)
			if ok, err := ready(next); !ok || err != nil {
				t.Fatalf("replacement: ready=%v err=%v", ok, err)
			}
		}},
		{"interrupted by StopPlay", func(t *testing.T, s *Session, tick func(int)) {
			ch := s.Play(tone(10 * FrameSamples))
			tick(1)
			s.StopPlay()
			if ok, err := ready(ch); !ok || !errors.Is(err, ErrInterrupted) {
				t.Fatalf("ready=%v err=%v, want ErrInterrupted", ok, err)
			}
		}},
		{"closed", func(t *testing.T, s *Session, tick func(int)) {
			ch := s.Play(tone(10 * FrameSamples))
			tick(1)
			_ = s.Close()
			if ok, err := ready(ch); !ok || !errors.Is(err, ErrClosed) {
				t.Fatalf("ready=%v err=%v, want ErrClosed", ok, err)
			}
			if ok, err := ready(s.Play(tone(1))); !ok || !errors.Is(err, ErrClosed) {
				t.Fatalf("Play after Close: ready=%v err=%v, want ErrClosed", ok, err)
			}
		}},
		{"source error", func(t *testing.T, s *Session, tick func(int)) {
			ch := s.Play(&failingSource{})
			tick(2)
			if ok, err := ready(ch); !ok || !errors.Is(err, errBroken) {
				t.Fatalf("ready=%v err=%v, want errBroken", ok, err)
			}
		}},
		{"Play(nil)", func(t *testing.T, s *Session, tick func(int)) {
			ch := s.Play(tone(10 * FrameSamples))
			if ok, err := ready(s.Play(nil)); !ok || err != nil {
				t.Fatalf("Play(nil): ready=%v err=%v", ok, err)
			}
			if ok, err := ready(ch); !ok || !errors.Is(err, ErrInterrupted) {
				t.Fatalf("ready=%v err=%v, want ErrInterrupted", ok, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, tick := manualPacer(t)
			cp := newCapture(t)
			tc.run(t, newSession(t, p, cp.addr(), nil), tick)
		})
	}
}

func TestHoldStopsPackets(t *testing.T) {
	p, _, tick := manualPacer(t)
	cp := newCapture(t)
	s := newSession(t, p, cp.addr(), nil)
	s.Play(&toneSource{freq: 440, amp: 3000, total: 100 * FrameSamples})
	tick(2)
	cp.next(t)
	last := cp.next(t)
	s.Hold(true)
	tick(5)
	cp.none(t, 50*time.Millisecond)
	s.Hold(false)
	tick(1)
	pkt := cp.next(t)
	if pkt.SequenceNumber != last.SequenceNumber+1 {
		t.Errorf("seq %d after %d", pkt.SequenceNumber, last.SequenceNumber)
	}
	if want := last.Timestamp + 6*FrameSamples; pkt.Timestamp != want {
		t.Errorf("ts %d, want %d (the hold's duration)", pkt.Timestamp, want)
	}
	if !pkt.Marker {
		t.Error("no marker on the first packet after the hold")
	}
}

func TestInactivity(t *testing.T) {
	p, _, tick := manualPacer(t)
	s := newSession(t, p, nil, func(c *SessionConfig) { c.InactivityTimeout = time.Second })
	tick(40)
	s.Hold(true)
	tick(200) // 4 s on hold do not count
	s.Hold(false)
	select {
	case <-s.Done():
		t.Fatal("ended while on hold")
	default:
	}
	peer := loopConn(t)
	defer peer.Close()
	sendRTP(t, peer, s.LocalAddr(), rtp.Header{SequenceNumber: 1, SSRC: 9}, silenceULaw())
	eventually(t, 2*time.Second, "the packet", func() bool { return s.Stats().Received == 1 })
	tick(45) // the packet restarted the timer
	select {
	case <-s.Done():
		t.Fatal("ended too early")
	default:
	}
	tick(10)
	select {
	case <-s.Done():
	case <-time.After(time.Second):
		t.Fatal("not ended after the timeout")
	}
	if !errors.Is(s.Err(), ErrInactive) {
		t.Errorf("Err = %v, want ErrInactive", s.Err())
	}
}

// TestQuietStopsInactivity: a quiet peer (it offered a=recvonly) sends
// nothing, and that does not end the session; packets still go out.
func TestQuietStopsInactivity(t *testing.T) {
	p, _, tick := manualPacer(t)
	cp := newCapture(t)
	s := newSession(t, p, cp.addr(), func(c *SessionConfig) { c.InactivityTimeout = time.Second })
	s.Quiet(true)
	tick(200) // 4 s without a packet from the peer
	select {
	case <-s.Done():
		t.Fatal("a quiet peer timed the session out")
	default:
	}
	cp.next(t) // we kept sending
	s.Quiet(false)
	tick(55)
	select {
	case <-s.Done():
	case <-time.After(time.Second):
		t.Fatal("not ended after the timeout once the peer should send again")
	}
}

func TestCloseIdempotentReturnsPort(t *testing.T) {
	lo, hi := freeRange(t, 1)
	ports, err := NewPorts("127.0.0.1", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ports.Listen()
	if err != nil {
		t.Fatal(err)
	}
	p, _, _ := manualPacer(t)
	s, err := NewSession(SessionConfig{Conn: conn, Pacer: p, Codec: PCMA})
	if err != nil {
		t.Fatal(err)
	}
	if s.Err() != nil {
		t.Errorf("Err before Close = %v", s.Err())
	}
	for range 3 {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	<-s.Done()
	if !errors.Is(s.Err(), ErrClosed) {
		t.Errorf("Err = %v, want ErrClosed", s.Err())
	}
	if n := ports.InUse(); n != 0 {
		t.Errorf("InUse after Close = %d", n)
	}
	if n := p.Sessions(); n != 0 {
		t.Errorf("pacer still has %d sessions", n)
	}
	if err := s.SendDTMF(t.Context(), "1"); !errors.Is(err, ErrClosed) {
		t.Errorf("SendDTMF after Close: %v", err)
	}
}

func TestNewSessionErrors(t *testing.T) {
	p, _, _ := manualPacer(t)
	closed := NewPacer(PacerOptions{Manual: true})
	closed.Close()
	for _, tc := range []struct {
		name string
		cfg  SessionConfig
		want error
	}{
		{"no conn", SessionConfig{Pacer: p, Codec: PCMU}, nil},
		{"no pacer", SessionConfig{Conn: loopConn(t), Codec: PCMU}, nil},
		{"bad codec", SessionConfig{Conn: loopConn(t), Pacer: p, Codec: Codec{"G729", 18}}, ErrCodec},
		{"closed pacer", SessionConfig{Conn: loopConn(t), Pacer: closed, Codec: PCMU}, ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Conn != nil {
				defer tc.cfg.Conn.Close()
			}
			s, err := NewSession(tc.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// A re-INVITE switches the codec; the session sends the new payload type
// at the next packet and accepts the peer's new stream.
func TestSetRemote(t *testing.T) {
	p, _, tick := manualPacer(t)
	first, second := newCapture(t), newCapture(t)
	s := newSession(t, p, first.addr(), nil)
	tick(1)
	if pkt := first.next(t); pkt.PayloadType != 0 {
		t.Fatalf("PT %d", pkt.PayloadType)
	}
	s.SetRemote(second.addr(), PCMA, 101)
	tick(1)
	pkt := second.next(t)
	if pkt.PayloadType != 8 || pkt.Payload[0] != 0xD5 {
		t.Errorf("after SetRemote: PT %d payload %#x, want PCMA silence", pkt.PayloadType, pkt.Payload[0])
	}
	sendRTP(t, second.conn, s.LocalAddr(), rtp.Header{PayloadType: 8, SequenceNumber: 7, SSRC: 5}, make([]byte, 160))
	eventually(t, 2*time.Second, "the PCMA packet", func() bool { return s.Stats().Received == 1 })
	s.SetRemote(second.addr(), Codec{"G729", 18}, 101) // ignored codec
	tick(1)
	if pkt := second.next(t); pkt.PayloadType != 8 {
		t.Errorf("unsupported codec applied: PT %d", pkt.PayloadType)
	}
}

// Goroutines and sockets come back after many sessions.
func TestNoGoroutineLeak(t *testing.T) {
	lo, hi := freeRange(t, 200)
	ports, err := NewPorts("127.0.0.1", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	p := NewPacer(PacerOptions{})
	var sessions []*Session
	for range 200 {
		conn, err := ports.Listen()
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewSession(SessionConfig{Conn: conn, Pacer: p, Codec: PCMU, Remote: addrOf(conn)})
		if err != nil {
			t.Fatal(err)
		}
		s.Play(&toneSource{freq: 500, amp: 1000, total: 1 << 20})
		sessions = append(sessions, s)
	}
	time.Sleep(60 * time.Millisecond) // a few packets each, to themselves
	for _, s := range sessions {
		_ = s.Close()
	}
	p.Close()
	if n := ports.InUse(); n != 0 {
		t.Errorf("ports in use: %d", n)
	}
	eventually(t, 2*time.Second, "goroutines to return", func() bool { return runtime.NumGoroutine() <= before })
}

func TestStartHeld(t *testing.T) {
	p, _, tick := manualPacer(t)
	cp := newCapture(t)
	s := newSession(t, p, cp.addr(), func(c *SessionConfig) { c.Held = true })
	tick(3)
	cp.none(t, 30*time.Millisecond)
	s.Hold(false)
	tick(1)
	cp.next(t)
}

func TestPacerShardsAndClose(t *testing.T) {
	p := NewPacer(PacerOptions{Shards: 3})
	for range 7 {
		newSession(t, p, nil, nil)
	}
	if n := p.Sessions(); n != 7 {
		t.Errorf("Sessions = %d, want 7", n)
	}
	for _, sh := range p.shards {
		if c := sh.count.Load(); c < 2 || c > 3 {
			t.Errorf("shard with %d sessions: not balanced", c)
		}
	}
	p.Close()
	p.Close()
}

// TestPacerDefaultShards: two shards per CPU unless told otherwise
// (PacerOptions.Shards).
func TestPacerDefaultShards(t *testing.T) {
	p := NewPacer(PacerOptions{})
	defer p.Close()
	if n, want := len(p.shards), 2*runtime.GOMAXPROCS(0); n != want {
		t.Errorf("%d shards, want %d", n, want)
	}
}
