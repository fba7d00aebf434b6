package media

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// openSession starts a PCMU session on a Socket from ports, on the real
// pacer p.
func openSession(t testing.TB, p *Pacer, ports *Ports, remote *net.UDPAddr) *Session {
	t.Helper()
	sock, err := ports.Open()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(SessionConfig{Socket: sock, Pacer: p, Remote: remote, Codec: PCMU})
	if err != nil {
		_ = sock.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestPortsOpenAccounting(t *testing.T) {
	lo, hi := freeRange(t, 2)
	ports, err := NewPorts("127.0.0.1", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ports.Open()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ports.Open()
	if err != nil {
		t.Fatal(err)
	}
	if a.LocalAddr().Port == b.LocalAddr().Port || a.LocalAddr().Port%2 != 0 {
		t.Errorf("ports %v and %v", a.LocalAddr(), b.LocalAddr())
	}
	if _, err := ports.Open(); !errors.Is(err, ErrNoPorts) {
		t.Errorf("third Open: %v, want ErrNoPorts", err)
	}
	if n := ports.InUse(); n != 2 {
		t.Errorf("InUse = %d, want 2", n)
	}
	for range 2 {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if n := ports.InUse(); n != 1 {
		t.Errorf("InUse after one Close = %d, want 1", n)
	}
	c, err := ports.Open()
	if err != nil {
		t.Fatalf("Open after a Close: %v", err)
	}
	_ = b.Close()
	_ = c.Close()
	if n := ports.InUse(); n != 0 {
		t.Errorf("InUse after closing all = %d", n)
	}
}

// A Socket closed while a system call runs on its descriptor is closed
// when that call returns, never under it.
func TestSocketCloseDuringControl(t *testing.T) {
	lo, hi := freeRange(t, 1)
	ports, err := NewPorts("127.0.0.1", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	sock, err := ports.Open()
	if err != nil {
		t.Fatal(err)
	}
	if !pollSupported {
		t.Skip("no bare sockets on this platform")
	}
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- sock.control(func(uintptr) {
			close(inside)
			<-release
		})
	}()
	<-inside
	_ = sock.Close()
	if sock.closed() {
		t.Fatal("the descriptor was closed under a running call")
	}
	if ports.InUse() != 1 {
		t.Error("the port was given back under a running call")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !sock.closed() || ports.InUse() != 0 {
		t.Error("not closed after the call returned")
	}
	if err := sock.control(func(uintptr) { t.Error("ran on a closed socket") }); !errors.Is(err, net.ErrClosed) {
		t.Errorf("control after Close: %v", err)
	}
}

func TestSessionSocketErrors(t *testing.T) {
	lo, hi := freeRange(t, 1)
	ports, err := NewPorts("127.0.0.1", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	sock, err := ports.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	manual, _, _ := manualPacer(t)
	if pollSupported {
		if _, err := NewSession(SessionConfig{Socket: sock, Pacer: manual, Codec: PCMU}); err == nil {
			t.Error("a bare Socket on a manual pacer: no error")
		}
	}
	if _, err := NewSession(SessionConfig{Socket: sock, Conn: loopConn(t), Pacer: manual, Codec: PCMU}); err == nil {
		t.Error("Conn and Socket: no error")
	}
}

// Sessions on Sockets, read and written by a running pacer (batched in an
// io_uring where there is one, and with a system call each): packets go
// both ways, several per tick too, and Close, while the pacer works,
// gives every port back.
func TestSessionOnSocket(t *testing.T) {
	for _, syscalls := range []bool{false, true} {
		name := "io_uring"
		if syscalls {
			name = "system calls"
		}
		t.Run(name, func(t *testing.T) { testSessionOnSocket(t, syscalls) })
	}
}

func testSessionOnSocket(t *testing.T, syscalls bool) {
	const n = 8
	lo, hi := freeRange(t, n)
	ports, err := NewPorts("127.0.0.1", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPacer(PacerOptions{Syscalls: syscalls})
	t.Cleanup(p.Close)
	io := p.IO()
	t.Logf("pacer I/O: %s", io)
	if pollSupported && (io == "io_uring") == syscalls {
		if !syscalls && strings.Contains(io, "io_uring_setup") {
			t.Skipf("no io_uring here: %s", io)
		}
		t.Fatalf("IO() = %q with Syscalls %v", io, syscalls)
	}
	var peers []*capture
	var sessions []*Session
	for range n {
		c := newCapture(t)
		peers = append(peers, c)
		sessions = append(sessions, openSession(t, p, ports, c.addr()))
	}
	var rec recorder
	sessions[0].Tap(&rec)
	for i, s := range sessions {
		if pkt := peers[i].next(t); pkt.PayloadType != 0 {
			t.Fatalf("session %d sent PT %d", i, pkt.PayloadType)
		}
		for seq := range uint16(5) { // several within one tick: read in rounds
			sendRTP(t, peers[i].conn, s.LocalAddr(), rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * FrameSamples, SSRC: 9}, silenceULaw())
		}
	}
	for i, s := range sessions {
		eventually(t, 2*time.Second, "the packets received", func() bool { return s.Stats().Received == 5 })
		if got := s.RemoteAddr().String(); got != peers[i].addr().String() {
			t.Errorf("session %d latched to %s, want %s", i, got, peers[i].addr())
		}
	}
	if len(rec.Frames()) != 5 {
		t.Errorf("the tap got %d frames, want 5", len(rec.Frames()))
	}
	for i, s := range sessions {
		if st := s.Stats(); st.Sent == 0 || st.SendErrors != 0 {
			t.Errorf("session %d: %+v", i, st)
		}
	}
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Close()
		}()
	}
	wg.Wait()
	if n := ports.InUse(); n != 0 {
		t.Errorf("InUse after Close = %d", n)
	}
	frames := len(rec.Frames())
	for i := range sessions {
		sendRTP(t, peers[i].conn, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: lo + 2*i},
			rtp.Header{SequenceNumber: 9, Timestamp: 9 * FrameSamples, SSRC: 9}, silenceULaw())
	}
	time.Sleep(3 * FrameDuration)
	if len(rec.Frames()) != frames {
		t.Error("a tap got a frame after Close returned")
	}
}

// A bridge between two sessions on Sockets, both read and written
// through the pacer's ring: what one far end says reaches the other byte
// for byte.
func TestBridgeOnSockets(t *testing.T) {
	lo, hi := freeRange(t, 2)
	ports, err := NewPorts("127.0.0.1", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPacer(PacerOptions{})
	t.Cleanup(p.Close)
	farA, farB := newCapture(t), newCapture(t)
	a, b := openSession(t, p, ports, farA.addr()), openSession(t, p, ports, farB.addr())
	stop := Bridge(a, b)
	defer stop()
	said := map[string]bool{}
	for seq := range uint16(25) {
		payload := make([]byte, FrameSamples)
		for i := range payload {
			payload[i] = byte(seq) + byte(i)
		}
		said[string(payload)] = true
		sendRTP(t, farA.conn, a.LocalAddr(), rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * FrameSamples, SSRC: 3}, payload)
		time.Sleep(FrameDuration)
	}
	heard := 0
	deadline := time.After(2 * time.Second)
	for heard < 20 {
		select {
		case pkt, ok := <-farB.pkts:
			if !ok {
				t.Fatal("capture closed")
			}
			var h rtp.Packet
			if err := h.Unmarshal(pkt); err == nil && said[string(h.Payload)] {
				heard++
			}
		case <-deadline:
			t.Fatalf("B's far end heard %d of A's packets", heard)
		}
	}
}
