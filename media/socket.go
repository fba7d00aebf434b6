package media

import (
	"net"
	"sync"
	"sync/atomic"
)

// Socket is an RTP socket from Ports.Open, for a Session on a running
// pacer. Where the pacer reads its sessions' sockets itself (Linux), it is
// a bare descriptor that Go's netpoller never sees: every datagram that
// arrives on a socket in the netpoller's epoll set wakes the epoll waiter
// whether or not a goroutine reads it, and at thousands of sessions those
// wake-ups cost texml (and, on loopback, the sender) as much as the
// reads. Elsewhere it wraps a *net.UDPConn.
//
// A Session owns the Socket it is given and closes it. Close is safe
// while the pacer uses the descriptor: it is closed when the last system
// call on it returns, as the net package does with its own descriptors.
type Socket struct {
	fd    int
	local *net.UDPAddr
	conn  *net.UDPConn // without a bare descriptor: the socket through the net package

	// ref counts the system calls in flight on fd, plus refClosed once
	// Close has run; whoever brings it to exactly refClosed closes fd.
	ref       atomic.Int64
	closeOnce sync.Once
	fdOnce    sync.Once
	gone      atomic.Bool // fd is closed: the port is free again
}

const refClosed = 1 << 62

// LocalAddr returns the address the socket is bound to.
func (s *Socket) LocalAddr() *net.UDPAddr {
	if s.conn != nil {
		return s.conn.LocalAddr().(*net.UDPAddr)
	}
	return s.local
}

// Close closes the socket, at once or when the system call in flight on
// it returns. It is idempotent and returns nil.
func (s *Socket) Close() error {
	if s.conn != nil {
		_ = s.conn.Close()
		return nil
	}
	s.closeOnce.Do(func() {
		if s.ref.Add(refClosed) == refClosed {
			s.closeFD()
		}
	})
	return nil
}

// control runs f with the descriptor, which stays open meanwhile; it
// returns net.ErrClosed once Close has run. Like syscall.RawConn.Control,
// but for a bare descriptor.
func (s *Socket) control(f func(fd uintptr)) error {
	if !s.acquire() {
		return net.ErrClosed
	}
	f(uintptr(s.fd))
	s.release()
	return nil
}

// acquire takes a reference on the descriptor, which stays open until
// release; false once Close has run. For a use that outlives a call, such
// as an operation in an io_uring.
func (s *Socket) acquire() bool {
	if s.ref.Add(1)&refClosed != 0 {
		s.release()
		return false
	}
	return true
}

// release gives back a reference from acquire.
func (s *Socket) release() {
	if s.ref.Add(-1) == refClosed {
		s.closeFD()
	}
}

func (s *Socket) closeFD() {
	s.fdOnce.Do(func() {
		closeFD(s.fd)
		s.gone.Store(true)
	})
}

// closed reports whether the port is free again (for Ports).
func (s *Socket) closed() bool {
	if s.conn != nil {
		raw, err := s.conn.SyscallConn()
		return err != nil || portClosed(raw)
	}
	return s.gone.Load()
}
