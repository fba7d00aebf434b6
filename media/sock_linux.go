//go:build linux && (amd64 || arm64)

package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// pollSupported: on this platform a running pacer reads its sessions'
// sockets itself, with recvmmsg(2), at each tick (see Pacer).
const pollSupported = true

// rxBatchLen is how many datagrams one recvmmsg returns at most. A peer
// sends one per 20 ms; more wait only after a late tick, or from a peer
// with a shorter packet time.
const rxBatchLen = 8

// mmsghdr is struct mmsghdr of recvmmsg(2): a msghdr and the length the
// kernel received (Go pads it to the C layout on 64-bit platforms).
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
}

// rxBatch is a pacer shard's receive buffers, shared by the shard's
// sessions, which it reads one after another. Reading through it
// allocates nothing: read is bound once, and Control takes it as is.
type rxBatch struct {
	msgs  [rxBatchLen]mmsghdr
	iov   [rxBatchLen]syscall.Iovec
	names [rxBatchLen]syscall.RawSockaddrInet6 // room for either family
	bufs  [rxBatchLen][maxDatagram]byte

	n    int           // datagrams the last read returned
	err  syscall.Errno // its error, 0 if none
	read func(fd uintptr)
}

func newRxBatch() *rxBatch {
	b := &rxBatch{}
	for i := range b.msgs {
		b.iov[i].Base = &b.bufs[i][0]
		b.iov[i].SetLen(maxDatagram)
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.msgs[i].hdr.Iov = &b.iov[i]
		b.msgs[i].hdr.Iovlen = 1
	}
	b.read = func(fd uintptr) {
		for i := range b.msgs {
			b.msgs[i].hdr.Namelen = syscall.SizeofSockaddrInet6
			b.msgs[i].hdr.Flags = 0
		}
		// MSG_DONTWAIT: it returns what is queued, and never blocks the
		// pacer. The raw call keeps the shard's P: it is not a blocking
		// system call the scheduler should hand the P off during.
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])),
			rxBatchLen, syscall.MSG_DONTWAIT, 0, 0)
		b.n, b.err = int(n), errno
		if errno != 0 {
			b.n = 0
		}
	}
	return b
}

// datagram returns the i-th datagram of the last read and its source.
func (b *rxBatch) datagram(i int) ([]byte, netip.AddrPort) {
	return b.bufs[i][:b.msgs[i].n], sockaddrAddrPort(&b.names[i])
}

// again reports whether err means that nothing is queued.
func again(err syscall.Errno) bool { return err == syscall.EAGAIN || err == syscall.EWOULDBLOCK }

// sockaddrAddrPort decodes a raw sockaddr of either family, IPv4-mapped
// IPv6 addresses unmapped (as received addresses are compared).
func sockaddrAddrPort(sa *syscall.RawSockaddrInet6) netip.AddrPort {
	b := (*[syscall.SizeofSockaddrInet6]byte)(unsafe.Pointer(sa))
	port := binary.BigEndian.Uint16(b[2:4])
	switch sa.Family {
	case syscall.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
	case syscall.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// rawAddr is a peer address as sendto(2) takes it on the session's
// socket, built once per address rather than per packet.
type rawAddr struct {
	sa  syscall.RawSockaddrInet6 // room for either family
	len uint32                   // 0: no address
}

// makeRawAddr encodes a for a socket of family (AF_INET or AF_INET6; an
// IPv4 address is mapped on an IPv6 socket). It returns the zero rawAddr
// when a cannot be reached from such a socket.
func makeRawAddr(a netip.AddrPort, family int) rawAddr {
	var r rawAddr
	if !a.IsValid() {
		return r
	}
	b := (*[syscall.SizeofSockaddrInet6]byte)(unsafe.Pointer(&r.sa))
	binary.BigEndian.PutUint16(b[2:4], a.Port())
	switch {
	case family == syscall.AF_INET && a.Addr().Is4():
		r.sa.Family = syscall.AF_INET
		ip := a.Addr().As4()
		copy(b[4:8], ip[:])
		r.len = syscall.SizeofSockaddrInet4
	case family == syscall.AF_INET6:
		r.sa.Family = syscall.AF_INET6
		r.sa.Addr = a.Addr().As16() // maps an IPv4 address
		r.len = syscall.SizeofSockaddrInet6
	}
	return r
}

// errUnreachable: the peer's address cannot be reached from the session's
// socket (an IPv6 peer of an IPv4 socket).
var errUnreachable = errors.New("media: peer address of another family than the socket")

// sockFamily returns the address family of the session's socket.
func (s *Session) sockFamily() int {
	family := syscall.AF_INET6
	_ = s.ctl(func(fd uintptr) {
		if v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN); err == nil {
			family = v
		}
	})
	return family
}

// sendFunc returns the session's send, bound once: sendto(2) of
// tx.buf[:tx.n] to tx.to, its errno left in tx.err.
func (s *Session) sendFunc() func(fd uintptr) {
	tx := &s.tx
	return func(fd uintptr) {
		// Raw, as for recvmmsg: a UDP send does not block (a full
		// buffer fails with EAGAIN, a lost packet, not a stalled pacer).
		_, _, tx.err = syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&tx.buf[0])), uintptr(tx.n),
			syscall.MSG_DONTWAIT, uintptr(unsafe.Pointer(&tx.to.sa)), uintptr(tx.to.len))
	}
}

// write sends tx.buf[:n] to the peer: nil, net.ErrClosed once the socket
// is closed, or the system call's error.
func (s *Session) write(pr *peer, n int) error {
	tx := &s.tx
	if pr.raw.len == 0 {
		return errUnreachable
	}
	if tx.io.usable() {
		return tx.io.queueSend(s, pr, n)
	}
	tx.n, tx.to, tx.err = n, &pr.raw, 0
	if err := s.ctl(tx.sendFn); err != nil {
		return net.ErrClosed // Control fails only on a closed socket
	}
	if tx.err != 0 {
		return tx.err
	}
	return nil
}

// poll reads what has arrived on the session's socket since the last
// tick and handles it, on the pacer goroutine: one recvmmsg per tick for
// a peer sending 20 ms packets, and no goroutine woken per packet. It
// reads at most maxPollBatches batches, so that a flood on one socket
// cannot hold the pacer up: the rest waits in the socket's buffer.
func (s *Session) poll(b *rxBatch) {
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	rx := &s.rx
	for range maxPollBatches {
		if s.ended.Load() {
			return
		}
		if err := s.ctl(b.read); err != nil {
			return // closed: end() is under way
		}
		if b.err != 0 {
			if again(b.err) {
				rx.errs = 0
			} else if rx.errs++; rx.errs >= maxReadErrors {
				s.end(fmt.Errorf("media: RTP socket: %w", b.err))
			}
			return
		}
		rx.errs = 0
		for i := range b.n {
			pkt, from := b.datagram(i)
			s.handle(pkt, from)
		}
		if b.n < rxBatchLen {
			return
		}
	}
}

// maxPollBatches bounds one session's reads per tick: 32 datagrams.
const maxPollBatches = 4

// openSocket binds a bare, non-blocking UDP socket to ip:port as the net
// package would for network ("udp4", "udp6", or "udp": IPv6 and IPv4 on
// one socket, or IPv4 alone where the kernel has no IPv6).
func openSocket(ip net.IP, network string, port int) (*Socket, error) {
	family, v6only := syscall.AF_INET6, network == "udp6"
	if network == "udp4" {
		family = syscall.AF_INET
	}
	const flags = syscall.SOCK_DGRAM | syscall.SOCK_NONBLOCK | syscall.SOCK_CLOEXEC
	fd, err := syscall.Socket(family, flags, syscall.IPPROTO_UDP)
	if err == syscall.EAFNOSUPPORT && network == "udp" {
		family = syscall.AF_INET
		fd, err = syscall.Socket(family, flags, syscall.IPPROTO_UDP)
	}
	if err != nil {
		return nil, fmt.Errorf("media: RTP socket: %w", err)
	}
	var sa syscall.Sockaddr
	if family == syscall.AF_INET {
		a := &syscall.SockaddrInet4{Port: port}
		if ip4 := ip.To4(); ip4 != nil {
			a.Addr = [4]byte(ip4)
		}
		sa = a
	} else {
		v := 0
		if v6only {
			v = 1
		}
		err = syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, v)
		a := &syscall.SockaddrInet6{Port: port}
		if ip16 := ip.To16(); ip16 != nil {
			a.Addr = [16]byte(ip16)
		}
		sa = a
	}
	if err == nil {
		err = syscall.Bind(fd, sa)
	}
	if err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("media: RTP socket on port %d: %w", port, err)
	}
	local := &net.UDPAddr{IP: ip, Port: port}
	if ip == nil {
		local.IP = net.IPv6unspecified
		if family == syscall.AF_INET {
			local.IP = net.IPv4zero
		}
	}
	return &Socket{fd: fd, local: local}, nil
}

func closeFD(fd int) { _ = syscall.Close(fd) }
