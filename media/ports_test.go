package media

import (
	"errors"
	"net"
	"testing"
)

func TestNewPortsValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ip     string
		lo, hi int
		ok     bool
	}{
		{"range", "127.0.0.1", 30000, 30010, true},
		{"odd bounds", "127.0.0.1", 30001, 30003, true},
		{"empty ip", "", 30000, 30010, true},
		{"single odd port", "127.0.0.1", 30001, 30001, false},
		{"reversed", "127.0.0.1", 30010, 30000, false},
		{"too high", "127.0.0.1", 65000, 70000, false},
		{"bad ip", "not-an-ip", 30000, 30010, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPorts(tc.ip, tc.lo, tc.hi)
			if (err == nil) != tc.ok {
				t.Errorf("NewPorts(%q, %d, %d) error = %v, want ok=%v", tc.ip, tc.lo, tc.hi, err, tc.ok)
			}
		})
	}
}

// freeRange finds a range of even ports nobody listens on, so that the
// test does not depend on what else runs on the host. It looks below the
// kernel's ephemeral ports (32768 and up), where other processes' sockets
// land at random, and below the end-to-end tests' RTP ranges (20000 and
// up): texml's own default range, which no test serves on.
func freeRange(t *testing.T, n int) (lo, hi int) {
	t.Helper()
	for lo = 10000; lo+2*n <= 20000; lo += 2 * n {
		ok := true
		var conns []*net.UDPConn
		for p := lo; p < lo+2*n; p += 2 {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err != nil {
				ok = false
				break
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			_ = c.Close()
		}
		if ok {
			return lo, lo + 2*(n-1)
		}
	}
	t.Fatal("no free port range")
	return 0, 0
}

func TestPortsAllocateExhaustReturn(t *testing.T) {
	lo, hi := freeRange(t, 3)
	p, err := NewPorts("127.0.0.1", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	var conns []*net.UDPConn
	seen := map[int]bool{}
	for range 3 {
		c, err := p.Listen()
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 || port < lo || port > hi || seen[port] {
			t.Errorf("port %d: want a fresh even port in %d-%d", port, lo, hi)
		}
		seen[port] = true
		conns = append(conns, c)
	}
	if got := p.InUse(); got != 3 {
		t.Errorf("InUse = %d, want 3", got)
	}
	if _, err := p.Listen(); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("Listen on a full range: %v, want ErrNoPorts", err)
	}
	freed := conns[1].LocalAddr().(*net.UDPAddr).Port
	_ = conns[1].Close()
	if got := p.InUse(); got != 2 {
		t.Errorf("InUse after one Close = %d, want 2", got)
	}
	c, err := p.Listen()
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	if port := c.LocalAddr().(*net.UDPAddr).Port; port != freed {
		t.Errorf("got port %d, want the freed %d", port, freed)
	}
	_ = c.Close()
	_ = conns[0].Close()
	_ = conns[2].Close()
	if got := p.InUse(); got != 0 {
		t.Errorf("InUse after closing all = %d, want 0", got)
	}
}

// A port taken by another process is skipped, not reported as ours.
func TestPortsSkipForeign(t *testing.T) {
	lo, hi := freeRange(t, 2)
	foreign, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: lo})
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	p, err := NewPorts("127.0.0.1", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Listen()
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer c.Close()
	if port := c.LocalAddr().(*net.UDPAddr).Port; port != hi {
		t.Errorf("port %d, want %d", port, hi)
	}
	if _, err := p.Listen(); !errors.Is(err, ErrNoPorts) {
		t.Errorf("second Listen: %v, want ErrNoPorts", err)
	}
	if got := p.InUse(); got != 1 {
		t.Errorf("InUse = %d, want 1", got)
	}
}
