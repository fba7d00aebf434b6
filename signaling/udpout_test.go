package signaling

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

func listenUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestUDPOutSends checks that datagrams written from many goroutines all
// arrive, each whole, and that WriteTo copied them: the writers reuse
// their buffers at once, as sipgo does with its pooled buffers.
func TestUDPOutSends(t *testing.T) {
	peer := listenUDP(t)
	if err := peer.SetReadBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	var drops int
	var dmu sync.Mutex
	u := newUDPOut(listenUDP(t), func() { dmu.Lock(); drops++; dmu.Unlock() })
	defer u.Close()
	if u.batch == nil {
		t.Fatal("a *net.UDPConn should be written in batches")
	}
	const writers, each = 8, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 64)
			for i := range each {
				buf = fmt.Appendf(buf[:0], "w%d-%d", w, i)
				if n, err := u.WriteTo(buf, peer.LocalAddr()); err != nil || n != len(buf) {
					t.Errorf("WriteTo = %d, %v", n, err)
				}
				for j := range buf {
					buf[j] = 'x' // the queued copy must not change
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	b := make([]byte, 1500)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(seen) < writers*each {
		n, _, err := peer.ReadFrom(b)
		if err != nil {
			t.Fatalf("after %d datagrams: %v", len(seen), err)
		}
		seen[string(b[:n])] = true
	}
	for w := range writers {
		for i := range each {
			if k := fmt.Sprintf("w%d-%d", w, i); !seen[k] {
				t.Errorf("%s never arrived", k)
			}
		}
	}
	dmu.Lock()
	defer dmu.Unlock()
	if drops != 0 {
		t.Errorf("%d datagrams dropped", drops)
	}
}

// blockConn is a PacketConn whose writes wait for release, so that the
// writer stalls and the queue fills.
type blockConn struct {
	net.PacketConn
	release chan struct{}
	mu      sync.Mutex
	got     [][]byte
}

func (c *blockConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	<-c.release
	c.mu.Lock()
	c.got = append(c.got, append([]byte(nil), b...))
	c.mu.Unlock()
	return len(b), nil
}

// TestUDPOutFullQueueDrops checks that a stalled socket never blocks the
// caller: past the queue's bound, datagrams are dropped and counted, and
// what was queued goes out, in order, once the socket takes it.
func TestUDPOutFullQueueDrops(t *testing.T) {
	bc := &blockConn{PacketConn: listenUDP(t), release: make(chan struct{})}
	var drops int
	var dmu sync.Mutex
	u := newUDPOut(bc, func() { dmu.Lock(); drops++; dmu.Unlock() })
	if u.batch != nil {
		t.Fatal("a conn that is not a *net.UDPConn must be written one datagram at a time")
	}
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	// The writer takes up to a batch and blocks on its first datagram;
	// the queue then holds udpOutQueue more; the rest are dropped.
	total := udpOutQueue + udpOutBatch + 100
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			if _, err := u.WriteTo(fmt.Appendf(nil, "%d", i), to); err != nil {
				t.Errorf("WriteTo: %v", err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WriteTo blocked on a stalled socket")
	}
	dmu.Lock()
	d := drops
	dmu.Unlock()
	if d < 100 || d > total-udpOutQueue {
		t.Errorf("dropped %d of %d, want %d to %d", d, total, 100, total-udpOutQueue)
	}
	close(bc.release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		bc.mu.Lock()
		n := len(bc.got)
		bc.mu.Unlock()
		if n == total-d {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d queued datagrams sent", n, total-d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	bc.mu.Lock()
	prev := -1
	for _, g := range bc.got {
		var i int
		if _, err := fmt.Sscan(string(g), &i); err != nil || i <= prev {
			t.Fatalf("datagram %q after %d: out of order", g, prev)
		}
		prev = i
	}
	bc.mu.Unlock()
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestUDPOutRefusedDatagram checks that a datagram the kernel refuses is
// counted and does not keep the others of its batch from going.
func TestUDPOutRefusedDatagram(t *testing.T) {
	peer := listenUDP(t)
	var drops int
	var dmu sync.Mutex
	conn := listenUDP(t)
	u := newUDPOut(conn, func() { dmu.Lock(); drops++; dmu.Unlock() })
	defer u.Close()
	// An IPv6 destination on an IPv4 socket: the kernel refuses it.
	bad := &net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5060}
	for i, a := range []net.Addr{peer.LocalAddr(), bad, peer.LocalAddr()} {
		if _, err := u.WriteTo(fmt.Appendf(nil, "%d", i), a); err != nil {
			t.Fatal(err)
		}
	}
	b := make([]byte, 100)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, want := range []string{"0", "2"} {
		n, _, err := peer.ReadFrom(b)
		if err != nil {
			t.Fatal(err)
		}
		if string(b[:n]) != want {
			t.Fatalf("got %q, want %q", b[:n], want)
		}
	}
	dmu.Lock()
	defer dmu.Unlock()
	if drops != 1 || u.failed.Load() != 1 {
		t.Errorf("drops %d, failed %d; want 1 refused datagram", drops, u.failed.Load())
	}
}

// TestUDPOutClose checks that Close stops the writer, closes the socket,
// and that later writes fail as on a closed socket.
func TestUDPOutClose(t *testing.T) {
	c := listenUDP(t)
	u := newUDPOut(c, nil)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-u.stopped:
	default:
		t.Fatal("the writer is still running after Close")
	}
	if err := u.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := u.WriteTo([]byte("x"), c.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo after Close: %v, want net.ErrClosed", err)
	}
	if _, _, err := c.ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the socket is still open: %v", err)
	}
}

// TestUDPOutDualStack checks the default listener (--sip-listen :5060 is
// an IPv6 socket that also carries IPv4) sends to an IPv4 peer in
// batches: x/net writes an IPv4 address as AF_INET, which Linux takes on
// such a socket.
func TestUDPOutDualStack(t *testing.T) {
	c, err := net.ListenPacket("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	peer := listenUDP(t)
	u := newUDPOut(c, nil)
	defer u.Close()
	const n = 10
	for range n {
		if _, err := u.WriteTo([]byte("hi"), peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	b := make([]byte, 10)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range n {
		if _, _, err := peer.ReadFrom(b); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
	}
	if f := u.failed.Load(); f != 0 {
		t.Errorf("%d datagrams refused", f)
	}
}
