//go:build linux && (amd64 || arm64)

package main

import (
	"encoding/binary"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/rtp"
)

// batchLen is how many datagrams one sendmmsg or recvmmsg moves at most.
const batchLen = 64

// mmsghdr is struct mmsghdr of sendmmsg(2) and recvmmsg(2): a msghdr and
// the length sent or received (Go pads it to the C layout).
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
}

// bareSocket opens a non-blocking UDP socket on a free loopback port,
// with SO_TIMESTAMPNS and a large receive buffer, outside Go's netpoller:
// a datagram arriving on a socket in the netpoller's epoll set wakes the
// epoll waiter, and on loopback the sender (texml) pays for that wake-up
// inside its sendto.
func bareSocket() (fd, port int, err error) {
	fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	err = syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	if err == nil {
		err = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}
	if err == nil {
		// Room for several packet times of all the socket's legs if the
		// shard is late; SO_RCVBUFFORCE passes rmem_max when permitted.
		const want = 4 << 20
		if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, want) != nil {
			_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, want)
		}
	}
	var sa syscall.Sockaddr
	if err == nil {
		sa, err = syscall.Getsockname(fd)
	}
	if err != nil {
		syscall.Close(fd)
		return -1, 0, err
	}
	return fd, sa.(*syscall.SockaddrInet4).Port, nil
}

// txBatch is a shard's send messages: one per leg of a socket, pointing
// at the leg's own packet buffer and address.
type txBatch struct {
	msgs [batchLen]mmsghdr
	iov  [batchLen]syscall.Iovec
}

// send sends the next packet of every live leg on ms.
func (b *txBatch) send(ms *muxSock, hdr *rtp.Header) {
	n := 0
	flush := func() {
		for off := 0; off < n; {
			k, _, errno := syscall.Syscall6(sysSendmmsg, uintptr(ms.fd), uintptr(unsafe.Pointer(&b.msgs[off])),
				uintptr(n-off), 0, 0, 0)
			if errno != 0 || k == 0 {
				break // a lost packet time for these legs; texml's counters show it
			}
			off += int(k)
		}
		n = 0
	}
	var now time.Time // for echo mode's send times: once for the batch
	for _, l := range ms.legs {
		if !l.active {
			continue
		}
		pkt := l.next(hdr)
		if e := l.rx.echo; e != nil {
			if now.IsZero() {
				now = time.Now()
			}
			e.sent(l.count-1, now)
		}
		b.iov[n].Base = &pkt[0]
		b.iov[n].SetLen(len(pkt))
		b.msgs[n].hdr = syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&l.sa)), Namelen: syscall.SizeofSockaddrInet4,
			Iov: &b.iov[n], Iovlen: 1}
		if n++; n == batchLen {
			flush()
		}
	}
	flush()
}

// rxBatch is a shard's receive buffers for recvmmsg.
type rxBatch struct {
	msgs  [batchLen]mmsghdr
	iov   [batchLen]syscall.Iovec
	names [batchLen]syscall.RawSockaddrInet4
	buf   [batchLen][1500]byte
	oob   [batchLen][64]byte
	hdr   rtp.Header
}

func (b *rxBatch) init() {
	for i := range b.msgs {
		b.iov[i].Base = &b.buf[i][0]
		b.iov[i].SetLen(len(b.buf[i]))
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.msgs[i].hdr.Iov = &b.iov[i]
		b.msgs[i].hdr.Iovlen = 1
		b.msgs[i].hdr.Control = &b.oob[i][0]
	}
}

// drain reads everything that has arrived on ms without waiting, and
// accounts for each packet on its leg, with its kernel arrival time.
func (b *rxBatch) drain(sh *legShard, ms *muxSock) {
	for {
		for i := range b.msgs {
			b.msgs[i].hdr.Namelen = syscall.SizeofSockaddrInet4
			b.msgs[i].hdr.SetControllen(len(b.oob[i]))
			b.msgs[i].hdr.Flags = 0
		}
		n, _, errno := syscall.Syscall6(syscall.SYS_RECVMMSG, uintptr(ms.fd),
			uintptr(unsafe.Pointer(&b.msgs[0])), batchLen, syscall.MSG_DONTWAIT, 0, 0)
		if errno != 0 {
			return // EAGAIN: nothing (more) there
		}
		for i := range int(n) {
			m := &b.msgs[i]
			p := (*[2]byte)(unsafe.Pointer(&b.names[i].Port))
			l := sh.byPort[binary.BigEndian.Uint16(p[:])]
			if l == nil || !l.active {
				sh.unmatched++
				continue
			}
			pkt := b.buf[i][:m.n]
			hl, err := b.hdr.Unmarshal(pkt)
			if err != nil || b.hdr.PayloadType != 0 {
				continue
			}
			kt, kok := cmsgTime(b.oob[i][:m.hdr.Controllen])
			l.rx.packet(b.hdr.SequenceNumber, b.hdr.Timestamp, pkt[hl:], time.Time{}, kt, kok)
		}
		if int(n) < batchLen {
			return
		}
	}
}

// cmsgTime reads an SCM_TIMESTAMPNS control message without allocating:
// a 16-byte cmsghdr, then a struct timespec of two 64-bit fields.
func cmsgTime(oob []byte) (time.Time, bool) {
	const hdrLen = 16
	for len(oob) >= hdrLen {
		clen := int(binary.NativeEndian.Uint64(oob[0:]))
		level := int32(binary.NativeEndian.Uint32(oob[8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:]))
		if clen < hdrLen || clen > len(oob) {
			return time.Time{}, false
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && clen >= hdrLen+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[hdrLen:]))
			nsec := int64(binary.NativeEndian.Uint64(oob[hdrLen+8:]))
			return time.Unix(sec, nsec), true
		}
		oob = oob[(clen+7)&^7:]
	}
	return time.Time{}, false
}
