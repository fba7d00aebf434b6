package signaling

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	u := newUDPOut(listenUDP(t), func(string) { dmu.Lock(); drops++; dmu.Unlock() }, nil, nil)
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
	u := newUDPOut(bc, func(r string) {
		if r != dropQueueFull {
			t.Errorf("dropped for %q", r)
		}
		dmu.Lock()
		drops++
		dmu.Unlock()
	}, nil, nil)
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

// TestUDPOutRefused checks the two refusals: a destination of the other
// address family is refused by WriteTo at once (a Dial to it fails
// without waiting for a timeout); one the kernel refuses (port 0: EINVAL)
// is counted as refused, and the others of its batch still go.
func TestUDPOutRefused(t *testing.T) {
	peer := listenUDP(t)
	var reasons []string
	var dmu sync.Mutex
	u := newUDPOut(listenUDP(t), func(r string) { dmu.Lock(); reasons = append(reasons, r); dmu.Unlock() }, nil, nil)
	defer u.Close()
	v6 := &net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5060}
	if _, err := u.WriteTo([]byte("x"), v6); !errors.Is(err, errFamily) {
		t.Errorf("IPv6 destination on an IPv4 socket: %v, want errFamily", err)
	}
	port0 := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0}
	for i, a := range []net.Addr{peer.LocalAddr(), port0, peer.LocalAddr()} {
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
	if !slices.Equal(reasons, []string{dropRefused}) || u.failed.Load() != 1 {
		t.Errorf("drops %v, failed %d; want one refused datagram", reasons, u.failed.Load())
	}
}

// TestUDPOutClose checks that Close stops the writer, closes the socket,
// and that later writes fail as on a closed socket.
func TestUDPOutClose(t *testing.T) {
	c := listenUDP(t)
	u := newUDPOut(c, nil, nil, nil)
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

// TestUDPOutDualStack checks that a wildcard listener (the default
// --sip-listen 0.0.0.0:5060 is, in Go, an IPv6 socket that also carries
// IPv4) sends to IPv4 and IPv6 peers alike, in batches: x/net writes an
// IPv4 address as AF_INET, which Linux takes on such a socket.
func TestUDPOutDualStack(t *testing.T) {
	c, err := net.ListenPacket("udp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	if c.LocalAddr().(*net.UDPAddr).IP.To4() != nil {
		_ = c.Close()
		t.Skip("no IPv6 on this host: the wildcard socket is IPv4 only")
	}
	peers := []net.PacketConn{listenUDP(t)}
	if p6, err := net.ListenPacket("udp6", "[::1]:0"); err == nil {
		t.Cleanup(func() { _ = p6.Close() })
		peers = append(peers, p6)
	}
	u := newUDPOut(c, nil, nil, nil)
	defer u.Close()
	if u.family != 0 {
		t.Fatalf("a wildcard socket taken for family %d only", u.family)
	}
	const n = 10
	for _, peer := range peers {
		for range n {
			if _, err := u.WriteTo([]byte("hi"), peer.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		b := make([]byte, 10)
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		for i := range n {
			if _, _, err := peer.ReadFrom(b); err != nil {
				t.Fatalf("%s: datagram %d: %v", peer.LocalAddr(), i, err)
			}
		}
	}
	if f := u.failed.Load(); f != 0 {
		t.Errorf("%d datagrams refused", f)
	}
}

// lockedBuffer is a log's output, written by the writer goroutine and
// read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines counts the log lines that report a refused datagram.
func (l *lockedBuffer) lines() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), "SIP datagram not sent")
}

// writerClock is a clock the test sets; the writer reads it from its own
// goroutine.
type writerClock struct{ ns atomic.Int64 }

func (c *writerClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }
func (c *writerClock) now() time.Time  { return time.Unix(0, c.ns.Load()) }

// TestUDPOutRefusalLogSpacing checks that refused datagrams are logged at
// most once per refusalLogEvery of the writer's clock, while every one is
// counted: a bad destination in a busy server must not flood the log,
// and the metrics must still see each loss.
func TestUDPOutRefusalLogSpacing(t *testing.T) {
	cases := []struct {
		name   string
		at     []time.Duration // when each refusal happens
		logged []int           // the refusals that get a log line
	}{
		{"a burst logs once", []time.Duration{0, 0, 300 * time.Millisecond, refusalLogEvery - 1}, []int{0}},
		{"exactly the spacing logs again", []time.Duration{0, refusalLogEvery}, []int{0, 1}},
		{"spaced from the last line logged", []time.Duration{0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2500 * time.Millisecond}, []int{0, 2, 4}},
	}
	// A start far from the Unix epoch, as real time is: the writer has
	// logged nothing yet, which it keeps as time 0.
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			peer := listenUDP(t)
			var drops atomic.Int32
			var out lockedBuffer
			var clock writerClock
			clock.set(start)
			log := slog.New(slog.NewTextHandler(&out, nil))
			u := newUDPOut(listenUDP(t), func(r string) {
				if r != dropRefused {
					t.Errorf("dropped for %q", r)
				}
				drops.Add(1)
			}, log, clock.now)
			defer u.Close()
			port0 := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0} // the kernel refuses it: EINVAL
			b := make([]byte, 100)
			want := 0
			for i, at := range tc.at {
				clock.set(start.Add(at))
				if _, err := u.WriteTo([]byte("refused"), port0); err != nil {
					t.Fatal(err)
				}
				// One writer sends in order: once this marker has
				// arrived, the refusal before it was counted and
				// logged, or not.
				mark := fmt.Sprintf("mark%d", i)
				if _, err := u.WriteTo([]byte(mark), peer.LocalAddr()); err != nil {
					t.Fatal(err)
				}
				_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _, err := peer.ReadFrom(b)
				if err != nil || string(b[:n]) != mark {
					t.Fatalf("after refusal %d: got %q, %v; want %q", i, b[:n], err, mark)
				}
				if slices.Contains(tc.logged, i) {
					want++
				}
				if got := out.lines(); got != want {
					t.Fatalf("after refusal %d at +%v: %d log lines, want %d", i, at, got, want)
				}
			}
			if f, d := u.failed.Load(), drops.Load(); f != uint64(len(tc.at)) || d != int32(len(tc.at)) {
				t.Errorf("failed %d, onDrop %d times; want %d each", f, d, len(tc.at))
			}
			if !strings.Contains(out.String(), "to="+port0.String()) {
				t.Errorf("the log does not name the destination: %s", out.String())
			}
		})
	}
}

// hideUDP hides a *net.UDPConn's type, so that udpOut writes it one
// datagram at a time (sendOne) instead of in batches.
type hideUDP struct{ net.PacketConn }

// TestUDPOutAfterClose checks that nothing is sent, counted or logged as
// refused once udpOut is closed, or once its socket is: ServeUDP's
// caller closes the socket first (that ends sipgo's read loop) and the
// writer, closed after, must not take the closed socket's errors for
// refusals. Close must also end the writer goroutine.
func TestUDPOutAfterClose(t *testing.T) {
	cases := []struct {
		name        string
		batch       bool
		ownerCloses bool // the socket is closed before udpOut is
	}{
		{"Close, batches", true, false},
		{"Close, one at a time", false, false},
		{"the owner closes the socket, batches", true, true},
		{"the owner closes the socket, one at a time", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			peer := listenUDP(t)
			var conn net.PacketConn = listenUDP(t)
			if !tc.batch {
				conn = hideUDP{conn}
			}
			var drops atomic.Int32
			var out lockedBuffer
			before := runtime.NumGoroutine()
			u := newUDPOut(conn, func(string) { drops.Add(1) }, slog.New(slog.NewTextHandler(&out, nil)), nil)
			if (u.batch != nil) != tc.batch {
				t.Fatalf("batch writer %v, want %v", u.batch != nil, tc.batch)
			}
			port0 := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0}
			dests := []net.Addr{peer.LocalAddr(), port0, peer.LocalAddr()}
			if tc.ownerCloses {
				_ = conn.Close()
				// The writer still runs: these are queued and it
				// meets the closed socket.
				for _, a := range dests {
					if _, err := u.WriteTo([]byte("x"), a); err != nil {
						t.Fatalf("WriteTo before udpOut's Close: %v", err)
					}
				}
				// Close ends the writer between batches (run returns
				// only at the top of its loop): once the queue is empty,
				// Close returns after what was taken from it was tried.
				deadline := time.Now().Add(5 * time.Second)
				for len(u.q) > 0 {
					if time.Now().After(deadline) {
						t.Fatalf("%d datagrams still queued", len(u.q))
					}
					runtime.Gosched()
				}
				_ = u.Close() // the socket's second Close fails: nothing to check
			} else {
				if err := u.Close(); err != nil {
					t.Fatal(err)
				}
				for _, a := range dests {
					if _, err := u.WriteTo([]byte("x"), a); !errors.Is(err, net.ErrClosed) {
						t.Errorf("WriteTo %s after Close: %v, want net.ErrClosed", a, err)
					}
				}
				if n := len(u.q); n != 0 {
					t.Errorf("%d datagrams queued after Close", n)
				}
			}
			if f, d, l := u.failed.Load(), drops.Load(), out.lines(); f != 0 || d != 0 || l != 0 {
				t.Errorf("failed %d, onDrop %d times, %d log lines; want none: %s", f, d, l, out.String())
			}
			deadline := time.Now().Add(2 * time.Second)
			for runtime.NumGoroutine() > before {
				if time.Now().After(deadline) {
					buf := make([]byte, 1<<16)
					t.Fatalf("%d goroutines, %d before newUDPOut:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				}
				runtime.Gosched()
			}
		})
	}
}
