package media

import (
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// loopConn opens a UDP socket on an ephemeral loopback port.
func loopConn(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func addrOf(c *net.UDPConn) *net.UDPAddr { return c.LocalAddr().(*net.UDPAddr) }

// newSession starts a PCMU session on loopback, closed at the end of the
// test.
func newSession(t testing.TB, p *Pacer, remote *net.UDPAddr, mod func(*SessionConfig)) *Session {
	t.Helper()
	cfg := SessionConfig{Conn: loopConn(t), Pacer: p, Remote: remote, Codec: PCMU}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fakeClock is a manual clock for manual pacers.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// manualPacer returns a pacer driven by tick(n), which also advances the
// fake clock by a packet time per tick.
func manualPacer(t testing.TB) (*Pacer, *fakeClock, func(n int)) {
	clk := newFakeClock()
	p := NewPacer(PacerOptions{Manual: true, Shards: 2, Now: clk.Now})
	t.Cleanup(p.Close)
	return p, clk, func(n int) {
		for range n {
			clk.Advance(FrameDuration)
			p.Tick()
		}
	}
}

// toneSource plays a sine for a number of samples, then io.EOF.
type toneSource struct {
	freq, amp  float64
	total, pos int
}

func (s *toneSource) Read(frame []int16) (int, error) {
	n := 0
	for n < len(frame) && s.pos < s.total {
		frame[n] = int16(s.amp * math.Sin(2*math.Pi*s.freq*float64(s.pos)/SampleRate))
		n++
		s.pos++
	}
	if s.pos >= s.total {
		return n, io.EOF
	}
	return n, nil
}

// recorder is a Sink that keeps copies of the frames.
type recorder struct {
	mu     sync.Mutex
	frames [][]int16
}

func (r *recorder) Write(frame []int16) {
	r.mu.Lock()
	r.frames = append(r.frames, append([]int16(nil), frame...))
	r.mu.Unlock()
}

func (r *recorder) Frames() [][]int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]int16(nil), r.frames...)
}

func rms(x []int16) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return math.Sqrt(e / float64(len(x)))
}

// capture reads raw datagrams from a plain UDP socket.
type capture struct {
	conn *net.UDPConn
	pkts chan []byte
}

func newCapture(t testing.TB) *capture {
	t.Helper()
	c := &capture{conn: loopConn(t), pkts: make(chan []byte, 4096)}
	go func() {
		defer close(c.pkts)
		buf := make([]byte, 2048)
		for {
			n, _, err := c.conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			c.pkts <- append([]byte(nil), buf[:n]...)
		}
	}()
	t.Cleanup(func() {
		_ = c.conn.Close()
		for range c.pkts {
		}
	})
	return c
}

func (c *capture) addr() *net.UDPAddr { return addrOf(c.conn) }

// next returns the next packet, failing the test after a timeout.
func (c *capture) next(t testing.TB) *rtp.Packet {
	t.Helper()
	select {
	case b := <-c.pkts:
		p := new(rtp.Packet)
		if err := p.Unmarshal(b); err != nil {
			t.Fatalf("captured packet: %v", err)
		}
		return p
	case <-time.After(2 * time.Second):
		t.Fatal("no packet captured")
		return nil
	}
}

// none checks that no packet arrives for d.
func (c *capture) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-c.pkts:
		t.Fatal("unexpected packet")
	case <-time.After(d):
	}
}

// sendRTP sends one RTP packet from conn to addr.
func sendRTP(t testing.TB, conn *net.UDPConn, to *net.UDPAddr, h rtp.Header, payload []byte) {
	t.Helper()
	h.Version = 2
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.WriteToUDP(b, to); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the timeout expires.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ready returns the value on ch if there is one now.
func ready(ch <-chan error) (bool, error) {
	select {
	case err := <-ch:
		return true, err
	default:
		return false, nil
	}
}

// silenceULaw is a frame of PCMU silence.
func silenceULaw() []byte {
	b := make([]byte, FrameSamples)
	for i := range b {
		b[i] = 0xFF
	}
	return b
}
