//go:build linux && (amd64 || arm64)

package media

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// An io_uring (io_uring(7)) lets a pacer shard hand the kernel the sends
// and reads of hundreds of sessions in one system call. Each session has
// a socket of its own, so sendmmsg and recvmmsg, which batch on one
// socket, do not help; and where a system call costs more than the work
// it asks for (virtual machines, mitigations), one per packet was most of
// a tick. Only the little of the interface that this needs is here: the
// rings, SENDMSG and RECVMSG with MSG_DONTWAIT (which complete within
// io_uring_enter and never wait), and one submission at a time.
//
// The constants and layouts are those of include/uapi/linux/io_uring.h.
const (
	sysIOURingSetup = 425
	sysIOURingEnter = 426

	ioringOffSQRing = 0
	ioringOffSQEs   = 0x10000000

	ioringFeatSingleMmap = 1 << 0
	ioringEnterGetEvents = 1 << 0

	ioringOpSendmsg = 9
	ioringOpRecvmsg = 10
)

// uringParams is struct io_uring_params.
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sq                                                                     struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
		userAddr                                                        uint64
	}
	cq struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
		userAddr                                                        uint64
	}
}

// uringSQE is struct io_uring_sqe (64 bytes).
type uringSQE struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off, addr     uint64
	len, opFlags  uint32
	userData      uint64
	bufIndex      uint16
	personality   uint16
	spliceFdIn    int32
	addr3, pad    uint64
}

// uringCQE is struct io_uring_cqe (16 bytes).
type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// uring is one ring, used by one goroutine at a time.
type uring struct {
	fd              int
	ringMem, sqeMem []byte

	sqTail, sqMask *uint32
	sqArray        []uint32
	sqes           []uringSQE
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []uringCQE

	size    uint32 // submission entries
	pending uint32 // queued since the last submit
}

// errNoURing: the kernel has no io_uring, or it is turned off
// (kernel.io_uring_disabled, or a seccomp filter such as Docker's
// default): the pacer makes one system call per packet instead.
var errNoURing = errors.New("media: io_uring unavailable")

// newURing sets up a ring of size submission entries (a power of two).
func newURing(size uint32) (*uring, error) {
	var p uringParams
	fd, _, errno := syscall.Syscall(sysIOURingSetup, uintptr(size), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("%w: io_uring_setup: %w", errNoURing, errno)
	}
	r := &uring{fd: int(fd), size: p.sqEntries}
	if p.features&ioringFeatSingleMmap == 0 {
		r.close()
		return nil, fmt.Errorf("%w: kernel without IORING_FEAT_SINGLE_MMAP (older than 5.4)", errNoURing)
	}
	ringSize := max(p.sq.array+p.sqEntries*4, p.cq.cqes+p.cqEntries*uint32(unsafe.Sizeof(uringCQE{})))
	var err error
	r.ringMem, err = syscall.Mmap(r.fd, ioringOffSQRing, int(ringSize), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err == nil {
		r.sqeMem, err = syscall.Mmap(r.fd, ioringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})),
			syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	}
	if err != nil {
		r.close()
		return nil, fmt.Errorf("%w: mmap: %w", errNoURing, err)
	}
	u32 := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&r.ringMem[off])) }
	r.sqTail, r.sqMask = u32(p.sq.tail), u32(p.sq.ringMask)
	r.sqArray = unsafe.Slice(u32(p.sq.array), p.sqEntries)
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead, r.cqTail, r.cqMask = u32(p.cq.head), u32(p.cq.tail), *u32(p.cq.ringMask)
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&r.ringMem[p.cq.cqes])), p.cqEntries)
	// The array maps ring slots to SQE indexes; ours are the same.
	for i := range r.sqArray {
		r.sqArray[i] = uint32(i)
	}
	return r, nil
}

// close releases the ring.
func (r *uring) close() {
	if r.sqeMem != nil {
		_ = syscall.Munmap(r.sqeMem)
	}
	if r.ringMem != nil {
		_ = syscall.Munmap(r.ringMem)
	}
	_ = syscall.Close(r.fd)
}

// full reports whether the next queue would need a submit first.
func (r *uring) full() bool { return r.pending == r.size }

// queue adds a SENDMSG or RECVMSG of msg on fd; user comes back with its
// completion. msg, and what it points to, must stay put until submit
// returns: they are Go memory the kernel reads and writes meanwhile.
func (r *uring) queue(op uint8, fd int, msg *syscall.Msghdr, flags uint32, user uint64) {
	tail := *r.sqTail + r.pending // only we write the tail
	r.sqes[tail&*r.sqMask] = uringSQE{opcode: op, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(msg))), len: 1,
		opFlags: flags, userData: user}
	r.pending++
}

// submit hands the queued operations to the kernel, waits for all of
// them to complete (with MSG_DONTWAIT they do so within the call), and
// calls done for each completion: res is the byte count or -errno.
func (r *uring) submit(done func(user uint64, res int32)) error {
	n := r.pending
	if n == 0 {
		return nil
	}
	atomic.StoreUint32(r.sqTail, *r.sqTail+n) // publish the entries
	r.pending = 0
	for submitted := uint32(0); ; {
		// Submit what is left and wait until all n have completed; the
		// completion queue (twice the size) was empty before.
		avail := atomic.LoadUint32(r.cqTail) - *r.cqHead
		if submitted == n && avail >= n {
			break
		}
		k, _, errno := syscall.Syscall6(sysIOURingEnter, uintptr(r.fd), uintptr(n-submitted), uintptr(n-avail),
			ioringEnterGetEvents, 0, 0)
		switch errno {
		case 0:
			submitted += uint32(k)
		case syscall.EINTR, syscall.EAGAIN:
		default:
			return fmt.Errorf("media: io_uring_enter: %w", errno)
		}
	}
	// Every completion is in: min_complete asked for all of them.
	head, tail := *r.cqHead, atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		c := &r.cqes[head&r.cqMask]
		done(c.userData, c.res)
	}
	atomic.StoreUint32(r.cqHead, head)
	return nil
}
