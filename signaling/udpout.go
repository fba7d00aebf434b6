package signaling

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

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
// response (docs/benchmarks.md, "One SIP writer, a fair SIPp").
//
// Here WriteTo copies the datagram into a bounded queue and returns; one
// goroutine sends what has queued with sendmmsg(2) (x/net's WriteBatch),
// so a burst costs one system call and no caller waits on another.
//
// Two things change for the sender. A full queue drops the datagram
// (counted) where the socket would have made the sender wait: UDP may
// lose any datagram and SIP recovers every loss by retransmission (RFC
// 3261 §17: requests and non-2xx responses by their transactions, our
// 2xx by the dialog until the ACK, our ACK by answering the 2xx
// retransmitted), so a stalled socket costs retransmissions instead of
// stalling every call. And a datagram the kernel refuses is known only
// after WriteTo returned: it is counted and logged, and the transaction
// times out as if it were lost. A destination the socket can never reach
// (the other address family) is refused by WriteTo itself, so that a
// Dial to it fails at once.
type udpOut struct {
	net.PacketConn // reads, addresses and deadlines go straight through

	batch   *ipv4.PacketConn // nil: no sendmmsg on this conn, write one at a time
	family  int              // 4 or 6 when the socket carries only that family, else 0
	q       chan outDatagram
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
	dropped atomic.Uint64 // datagrams refused because the queue was full
	failed  atomic.Uint64 // datagrams the kernel refused
	onDrop  func(reason string)
	log     *slog.Logger
	now     func() time.Time // spaces the refusal log lines: tests give a clock they set
	logged  atomic.Int64     // unix nanoseconds of the last refusal logged
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

// Why a datagram was not sent, as udpOut's onDrop reports it.
const (
	dropQueueFull = "queue_full" // the writer was that far behind
	dropRefused   = "refused"    // the kernel refused it (no route, firewall, …)
)

// refusalLogEvery spaces the log lines of refused datagrams: one bad
// destination in a busy server must not flood the log.
const refusalLogEvery = time.Second

// newUDPOut starts conn's writer; Close stops it and closes conn. onDrop,
// if not nil, is called for each datagram dropped or refused, with its
// reason; log, if not nil, gets a line for refused datagrams, at most one
// per refusalLogEvery of now (nil: time.Now).
func newUDPOut(conn net.PacketConn, onDrop func(reason string), log *slog.Logger, now func() time.Time) *udpOut {
	if onDrop == nil {
		onDrop = func(string) {}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	u := &udpOut{PacketConn: conn, q: make(chan outDatagram, udpOutQueue),
		done: make(chan struct{}), stopped: make(chan struct{}), onDrop: onDrop, log: log, now: now}
	if _, ok := conn.(*net.UDPConn); ok {
		u.batch = ipv4.NewPacketConn(conn)
	}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP != nil && !a.IP.IsUnspecified() {
		// Bound to one address: a socket of that family only. A wildcard
		// one ("udp" on 0.0.0.0 or [::]) is Go's dual-stack socket.
		u.family = 6
		if a.IP.To4() != nil {
			u.family = 4
		}
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
	if a, ok := addr.(*net.UDPAddr); ok && u.family != 0 {
		if v4 := a.IP.To4() != nil; v4 != (u.family == 4) {
			return 0, fmt.Errorf("udp %s: cannot send to %s: %w", u.LocalAddr(), a, errFamily)
		}
	}
	bp := outBufs.Get().(*[]byte)
	*bp = append((*bp)[:0], b...)
	select {
	case u.q <- outDatagram{buf: bp, addr: addr}:
	default:
		outBufs.Put(bp)
		u.dropped.Add(1)
		u.onDrop(dropQueueFull)
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
				return // closing: what is left is not a refusal
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
	_, err := u.PacketConn.WriteTo(m.Buffers[0], m.Addr)
	if err == nil || errors.Is(err, net.ErrClosed) {
		return
	}
	u.failed.Add(1)
	u.onDrop(dropRefused)
	now := u.now().UnixNano()
	if last := u.logged.Load(); now-last >= int64(refusalLogEvery) && u.logged.CompareAndSwap(last, now) {
		u.log.Warn("SIP datagram not sent", "to", m.Addr.String(), "err", err)
	}
}

// errFamily is WriteTo's refusal of an address of the other family.
var errFamily = errors.New("the address family differs from the SIP socket's")
