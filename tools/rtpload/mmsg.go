//go:build linux

package main

import (
	"encoding/binary"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/rtp"
)

// batchLen is how many datagrams one recvmmsg may return: a leg gets one
// per 20 ms, more only after the shard was late.
const batchLen = 8

// mmsghdr is struct mmsghdr of recvmmsg(2) on 64-bit Linux.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// rxBatch is a shard's receive buffers for recvmmsg.
type rxBatch struct {
	msgs [batchLen]mmsghdr
	iov  [batchLen]syscall.Iovec
	buf  [batchLen][1500]byte
	oob  [batchLen][64]byte
	hdr  rtp.Header
}

func (b *rxBatch) init() {
	for i := range b.msgs {
		b.iov[i].Base = &b.buf[i][0]
		b.iov[i].SetLen(len(b.buf[i]))
		b.msgs[i].hdr.Iov = &b.iov[i]
		b.msgs[i].hdr.Iovlen = 1
		b.msgs[i].hdr.Control = &b.oob[i][0]
	}
}

// drain reads what has arrived on l's socket without waiting, and
// accounts for each packet with its kernel arrival time. The socket is
// non-blocking (Go sets it so) and l's shard holds it until remove.
func (b *rxBatch) drain(l *leg) {
	for {
		for i := range b.msgs {
			b.msgs[i].hdr.SetControllen(len(b.oob[i]))
			b.msgs[i].hdr.Flags = 0
		}
		n, _, errno := syscall.Syscall6(syscall.SYS_RECVMMSG, uintptr(l.fd),
			uintptr(unsafe.Pointer(&b.msgs[0])), batchLen, syscall.MSG_DONTWAIT, 0, 0)
		if errno != 0 {
			return // EAGAIN: nothing (more) there
		}
		for i := range int(n) {
			m := &b.msgs[i]
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
