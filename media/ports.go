package media

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// ErrNoPorts is returned by Ports.Listen when every port of the range is
// taken.
var ErrNoPorts = errors.New("media: no free RTP port")

// Ports hands out UDP sockets on even ports of a range, one per RTP
// session. RTP uses the even port and leaves the odd one above it to
// RTCP (RFC 3550 section 11), so only even ports are used.
//
// Ports does not wrap the sockets it returns: a port is free again as
// soon as its *net.UDPConn (or Socket) is closed. Ports notices that
// lazily, through the socket's reference count, the next time it looks
// for a port or counts the ones in use. Allocation goes round-robin through the range
// so that a port just released is not reused at once, which would let
// stray packets from the previous call reach the next one.
type Ports struct {
	ip     net.IP
	net    string
	lo, hi int // even bounds

	mu   sync.Mutex
	next int           // next candidate port
	used map[int]lease // nil value: reserved, bind in progress
}

// lease is a socket Ports handed out, as far as Ports cares: whether its
// port is free again.
type lease interface{ closed() bool }

// connLease is a *net.UDPConn from Listen.
type connLease struct{ raw syscall.RawConn }

func (c connLease) closed() bool { return portClosed(c.raw) }

// NewPorts returns an allocator for the even ports in [lo, hi] on the
// local address ip ("" or "0.0.0.0" for every IPv4 interface, "::" for
// every interface).
func NewPorts(ip string, lo, hi int) (*Ports, error) {
	p := &Ports{net: "udp", used: make(map[int]lease)}
	if ip != "" {
		p.ip = net.ParseIP(ip)
		if p.ip == nil {
			return nil, fmt.Errorf("media: bad RTP address %q", ip)
		}
		// A socket of one family reports peer addresses in that
		// family, which keeps latching comparisons simple.
		if p.ip.To4() != nil {
			p.net = "udp4"
		} else {
			p.net = "udp6"
		}
	}
	if lo%2 != 0 {
		lo++
	}
	if hi%2 != 0 {
		hi--
	}
	if lo < 2 || hi > 65534 || lo > hi {
		return nil, fmt.Errorf("media: bad RTP port range %d-%d", lo, hi)
	}
	p.lo, p.hi, p.next = lo, hi, lo
	return p, nil
}

// Listen opens a UDP socket on the next free even port. Closing the
// returned connection gives the port back. It fails with an error
// wrapping ErrNoPorts when no port of the range can be bound.
func (p *Ports) Listen() (*net.UDPConn, error) {
	var conn *net.UDPConn
	err := p.bind(func(port int) (lease, error) {
		c, err := net.ListenUDP(p.net, &net.UDPAddr{IP: p.ip, Port: port})
		if err != nil {
			return nil, err
		}
		raw, err := c.SyscallConn()
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		conn = c
		return connLease{raw}, nil
	})
	return conn, err
}

// Open is Listen for a Session on a running pacer: the socket comes as a
// Socket, which the pacer reads and writes outside Go's netpoller where
// it can (see Socket). Closing it gives the port back.
func (p *Ports) Open() (*Socket, error) {
	if !pollSupported {
		conn, err := p.Listen()
		if err != nil {
			return nil, err
		}
		return &Socket{conn: conn}, nil
	}
	var sock *Socket
	err := p.bind(func(port int) (lease, error) {
		s, err := openSocket(p.ip, p.net, port)
		sock = s
		return s, err
	})
	return sock, err
}

// bind tries open on the free ports in turn until one works.
func (p *Ports) bind(open func(port int) (lease, error)) error {
	var lastErr error
	for range p.size() {
		port, ok := p.reserve()
		if !ok {
			break
		}
		// Bind without holding the lock: the port is reserved.
		l, err := open(port)
		if err != nil {
			// Taken by another process: skip it this round.
			lastErr = err
			p.release(port)
			continue
		}
		p.mu.Lock()
		p.used[port] = l
		p.mu.Unlock()
		return nil
	}
	if lastErr != nil {
		return fmt.Errorf("media: RTP ports %d-%d: %w (last: %w)", p.lo, p.hi, ErrNoPorts, lastErr)
	}
	return fmt.Errorf("media: RTP ports %d-%d: %w", p.lo, p.hi, ErrNoPorts)
}

// InUse returns how many ports are held by open sockets.
func (p *Ports) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for port, l := range p.used {
		if l != nil && l.closed() {
			delete(p.used, port)
			continue
		}
		n++
	}
	return n
}

func (p *Ports) size() int { return (p.hi-p.lo)/2 + 1 }

// reserve picks the next port that no open socket of ours holds.
func (p *Ports) reserve() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.size() {
		port := p.next
		p.next += 2
		if p.next > p.hi {
			p.next = p.lo
		}
		l, taken := p.used[port]
		if taken && (l == nil || !l.closed()) {
			continue
		}
		p.used[port] = nil
		return port, true
	}
	return 0, false
}

func (p *Ports) release(port int) {
	p.mu.Lock()
	delete(p.used, port)
	p.mu.Unlock()
}

// portClosed reports whether the socket behind raw has been closed.
// Control takes a reference on the descriptor first and fails once Close
// has run; it makes no system call.
func portClosed(raw syscall.RawConn) bool {
	return raw.Control(func(uintptr) {}) != nil
}
