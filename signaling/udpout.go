package signaling

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// udpOut gives the SIP UDP socket one writer. sipgo writes every
// response and request from the goroutine that makes it, so under load
// hundreds of goroutines queue on the socket's write lock; a writer that
// loses its P in sendto (on a busy machine the runtime hands the P on
// while a syscall runs) then holds the lock while it waits to run again,
// and every SIP message of every call waits behind it. Measured with a
// runtime trace at 1,200 calls/s on 2 cores: about 23 goroutines waiting
// for that lock at any time, ~11 ms added to each INVITE's first
// response (docs/benchmarks.md, "Call setup beside a bare stack").
//
// Here WriteTo copies the datagram into a bounded queue and returns; one
// goroutine sends what has queued with sendmmsg(2) (x/net's WriteBatch),
// so a burst costs one system call and no caller waits on another. UDP
// may lose any datagram and SIP retransmits (RFC 3261 §17), so a full
// queue drops the datagram (counted) rather than blocking the call that
// sent it, as the kernel does when a socket's buffer is full.
type udpOut struct {
	net.PacketConn // reads, addresses and deadlines go straight through

	batch   *ipv4.PacketConn // nil: no sendmmsg on this conn, write one at a time
	q       chan outDatagram
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
	dropped atomic.Uint64 // datagrams refused because the queue was full
	failed  atomic.Uint64 // datagrams the kernel refused
	onDrop  func()        // counts each of either in the server's metrics
}

// outDatagram is one queued datagram; buf comes from outBufs.
type outDatagram struct {
	buf  *[]byte
	addr net.Addr
}

// udpOutQueue bounds the datagrams waiting for the writer: at 1,500
// calls/s, about 7,500 SIP messages a second, it holds half a second.
const udpOutQueue = 4096

// udpOutBatch is the most datagrams one sendmmsg sends.
const udpOutBatch = 64

// outBufs recycles datagram copies. sipgo refuses UDP messages longer
// than its MTU bound (1,300 bytes), so one size fits nearly all.
var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1500); return &b }}

// newUDPOut starts conn's writer; Close stops it and closes conn. onDrop,
// if not nil, is called for each datagram dropped or refused.
func newUDPOut(conn net.PacketConn, onDrop func()) *udpOut {
	if onDrop == nil {
		onDrop = func() {}
	}
	u := &udpOut{PacketConn: conn, q: make(chan outDatagram, udpOutQueue),
		done: make(chan struct{}), stopped: make(chan struct{}), onDrop: onDrop}
	if _, ok := conn.(*net.UDPConn); ok {
		u.batch = ipv4.NewPacketConn(conn)
	}
	go u.run()
	return u
}

// WriteTo queues a copy of b for addr. It reports the whole length
// written even when the queue is full and the datagram dropped: to SIP
// that is a lost datagram, which its timers recover from.
func (u *udpOut) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-u.done:
		return 0, net.ErrClosed
	default:
	}
	bp := outBufs.Get().(*[]byte)
	*bp = append((*bp)[:0], b...)
	select {
	case u.q <- outDatagram{buf: bp, addr: addr}:
	default:
		outBufs.Put(bp)
		u.dropped.Add(1)
		u.onDrop()
	}
	return len(b), nil
}

// Close stops the writer (datagrams still queued are dropped) and closes
// the socket; it is safe to call more than once.
func (u *udpOut) Close() error {
	var err error
	u.once.Do(func() {
		close(u.done)
		<-u.stopped
		err = u.PacketConn.Close()
	})
	return err
}

// run sends queued datagrams until Close, as many per system call as have
// queued (up to udpOutBatch).
func (u *udpOut) run() {
	defer close(u.stopped)
	msgs := make([]ipv4.Message, udpOutBatch)
	held := make([]*[]byte, 0, udpOutBatch)
	for {
		var d outDatagram
		select {
		case <-u.done:
			return
		case d = <-u.q:
		}
		held = append(held[:0], d.buf)
		msgs[0] = ipv4.Message{Buffers: [][]byte{*d.buf}, Addr: d.addr}
		n := 1
	fill:
		for n < udpOutBatch {
			select {
			case d = <-u.q:
				held = append(held, d.buf)
				msgs[n] = ipv4.Message{Buffers: [][]byte{*d.buf}, Addr: d.addr}
				n++
			default:
				break fill
			}
		}
		u.send(msgs[:n])
		for i, bp := range held {
			outBufs.Put(bp)
			msgs[i] = ipv4.Message{}
		}
	}
}

// send writes msgs, in one sendmmsg where the socket allows. A datagram
// the kernel refuses (an unreachable address, say) is counted and the
// rest still go.
func (u *udpOut) send(msgs []ipv4.Message) {
	for len(msgs) > 0 {
		if u.batch == nil {
			u.sendOne(msgs[0])
			msgs = msgs[1:]
			continue
		}
		n, err := u.batch.WriteBatch(msgs, 0)
		if err != nil && n <= 0 {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// The first message failed: write it alone, so that its
			// error is its own, and go on with the others.
			u.sendOne(msgs[0])
			n = 1
		}
		msgs = msgs[n:]
	}
}

func (u *udpOut) sendOne(m ipv4.Message) {
	if _, err := u.PacketConn.WriteTo(m.Buffers[0], m.Addr); err != nil {
		u.failed.Add(1)
		u.onDrop()
	}
}
