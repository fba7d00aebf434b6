package stream

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// TestSendBufferFixed: a stream's socket has the fixed send buffer
// (sendBuffer; Linux reports twice what was set, socket(7)), not the kernel's
// autotuned one, so that a stalled app meets the stream's queue within
// seconds.
func TestSendBufferFixed(t *testing.T) {
	a := newApp(t, false, false)
	s, _ := open(t, a, config(false, nil))
	defer func() { _ = s.Close(context.Background()) }()
	s.raw.mu.Lock()
	c, ok := s.raw.c.(*net.TCPConn)
	s.raw.mu.Unlock()
	if !ok {
		t.Fatalf("the stream's connection is %T, want *net.TCPConn", s.raw.c)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		size, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	if size != 2*sendBuffer {
		t.Errorf("SO_SNDBUF %d, want %d (the fixed %d, doubled as Linux reports it)", size, 2*sendBuffer, sendBuffer)
	}
}
