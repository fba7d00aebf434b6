//go:build linux && (amd64 || arm64)

package media

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Sizes of a shard's batches: a ring of ringSize submissions, and reads
// of up to rxSlots sessions at a time (each needs a buffer).
const (
	ringSize = 256
	rxSlots  = 128
)

// errQueued is write's answer when the send went into the shard's ring:
// the shard reports its outcome (sendDone) once the ring is submitted.
var errQueued = errors.New("media: send queued")

// shardIO is a pacer shard's batched I/O: the reads of its sessions'
// sockets and their sends go to the kernel through one io_uring, a few
// system calls per tick instead of two or three per session. Only
// sessions on a bare Socket use it; the others make their own system
// calls. Owned by the shard goroutine.
type shardIO struct {
	ring  *uring
	rx    [rxSlots]rxSlot
	rxQ   []*Session            // the sessions of the chunk being read
	round []*Session            // those read in this round, by slot
	more  []*Session            // those that got a datagram in the last round
	txQ   []*Session            // the sessions whose send is queued, by user data
	err   atomic.Pointer[error] // why the ring was given up, if it was (read by Pacer.IO)
}

// rxSlot is one read's message and buffer.
type rxSlot struct {
	msg  syscall.Msghdr
	iov  syscall.Iovec
	name syscall.RawSockaddrInet6
	buf  [maxDatagram]byte
}

// newShardIO sets up a shard's ring, or says why it cannot.
func newShardIO() (*shardIO, error) {
	r, err := newURing(ringSize)
	if err != nil {
		return nil, err
	}
	io := &shardIO{ring: r}
	for i := range io.rx {
		sl := &io.rx[i]
		sl.iov.Base = &sl.buf[0]
		sl.iov.SetLen(maxDatagram)
		sl.msg.Iov, sl.msg.Iovlen = &sl.iov, 1
		sl.msg.Name = (*byte)(unsafe.Pointer(&sl.name))
	}
	return io, nil
}

// usable reports whether the ring still works.
func (io *shardIO) usable() bool { return io != nil && io.ring != nil }

// fail gives the ring up after an error: the shard's sessions make their
// own system calls from now on.
func (io *shardIO) fail(err error) {
	io.err.Store(&err)
	io.close()
}

// close releases the ring; the shard goroutine has ended, or gives up.
func (io *shardIO) close() {
	if io.ring != nil {
		io.ring.close()
		io.ring = nil
	}
}

// failure returns why the ring was given up, or nil.
func (io *shardIO) failure() error {
	if e := io.err.Load(); e != nil {
		return *e
	}
	return nil
}

// ringed reports whether s reads and sends through a shard ring.
func (s *Session) ringed() bool { return s.tx.io.usable() }

// txIO is the part of a session's sending state that goes through its
// shard's ring: the message for SENDMSG, and the ring.
type txIO struct {
	msg syscall.Msghdr
	iov syscall.Iovec
	io  *shardIO // nil: the session makes its own system calls
}

// receive reads what arrived on the ringed sessions' sockets and
// handles it, rxSlots sessions at a time: one read each, then another for
// those that got a datagram, up to maxPollBatches rounds, as poll does
// with recvmmsg. Each session's rxMu is held meanwhile, so that Close
// waits for its packets to be handled.
func (io *shardIO) receive(snap []*Session) {
	for start := 0; start < len(snap) && io.usable(); {
		io.rxQ = io.rxQ[:0]
		for ; start < len(snap) && len(io.rxQ) < rxSlots; start++ {
			s := snap[start]
			if !s.polled || !s.ringed() {
				continue
			}
			s.rxMu.Lock()
			if s.ended.Load() || !s.sock.acquire() {
				s.rxMu.Unlock()
				continue
			}
			io.rxQ = append(io.rxQ, s)
		}
		io.round = append(io.round[:0], io.rxQ...)
		for range maxPollBatches {
			round := io.round
			if len(round) == 0 {
				break
			}
			for i, s := range round {
				sl := &io.rx[i]
				sl.msg.Namelen = syscall.SizeofSockaddrInet6
				sl.msg.Flags = 0
				io.ring.queue(ioringOpRecvmsg, s.sock.fd, &sl.msg, syscall.MSG_DONTWAIT, uint64(i))
			}
			io.more = io.more[:0]
			err := io.ring.submit(func(user uint64, res int32) {
				s, sl := round[user], &io.rx[user]
				switch {
				case res >= 0:
					s.rx.errs = 0
					s.handle(sl.buf[:res], sockaddrAddrPort(&sl.name))
					io.more = append(io.more, s)
				case again(syscall.Errno(-res)):
					s.rx.errs = 0
				default:
					if s.rx.errs++; s.rx.errs >= maxReadErrors {
						s.end(fmt.Errorf("media: RTP socket: %w", syscall.Errno(-res)))
					}
				}
			})
			if err != nil {
				io.fail(err)
				break
			}
			// The next round reads the sessions that got a datagram.
			io.round = append(io.round[:0], io.more...)
		}
		for _, s := range io.rxQ {
			s.sock.release()
			s.rxMu.Unlock()
		}
	}
}

// queueSend queues s's packet, tx.buf[:n] to pr, in the ring.
func (io *shardIO) queueSend(s *Session, pr *peer, n int) error {
	if !s.sock.acquire() {
		return net.ErrClosed
	}
	if io.ring.full() {
		io.flush()
		if !io.usable() {
			s.sock.release()
			return io.failure()
		}
	}
	tx := &s.tx
	tx.iov.Base = &tx.buf[0]
	tx.iov.SetLen(n)
	tx.msg = syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&pr.raw.sa)), Namelen: pr.raw.len, Iov: &tx.iov, Iovlen: 1}
	io.ring.queue(ioringOpSendmsg, s.sock.fd, &tx.msg, syscall.MSG_DONTWAIT, uint64(len(io.txQ)))
	io.txQ = append(io.txQ, s)
	return errQueued
}

// flush submits the queued sends and reports each one's outcome.
func (io *shardIO) flush() {
	if len(io.txQ) == 0 {
		return
	}
	err := io.ring.submit(func(user uint64, res int32) {
		s := io.txQ[user]
		s.sock.release()
		if res < 0 {
			s.sendDone(syscall.Errno(-res))
			return
		}
		s.sendDone(nil)
	})
	if err != nil {
		// Submitted or not, these packets are lost; the sockets'
		// references are given back.
		for _, s := range io.txQ {
			s.sock.release()
			s.sendDone(err)
		}
		io.fail(err)
	}
	clear(io.txQ)
	io.txQ = io.txQ[:0]
}
