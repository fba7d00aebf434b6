package main

import (
	"sync"
	"syscall"
	"time"

	"github.com/pion/rtp"
)

// engine sends a 20 ms packet on every leg it holds (if send is set) from
// a few goroutines (shards) for all legs, staggered across the 20 ms.
//
// In poll mode it also receives, and the legs share its sockets: each
// shard owns socketsPerShard loopback sockets, and at every packet time
// sends all its legs' packets with sendmmsg (each message to its own
// texml address) and reads everything that arrived with recvmmsg, telling
// the legs apart by texml's source port (each of texml's legs has a port
// of its own). That is a few dozen system calls per packet time instead
// of two per leg, and no goroutine woken per packet, so the load tool
// leaves most of the shared cores to texml; texml's work is the same as
// with a socket per leg (one datagram to receive and one to send per leg
// and packet time). The gaps are still timed by the kernel as each
// datagram arrived (SO_TIMESTAMPNS), whenever the shard reads it.
type engine struct {
	send, poll bool
	shards     []*legShard
	quit       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

// socketsPerShard is how many sockets a shard's legs share in poll mode:
// about 60 legs a socket at 1,000 calls, whose packets of one packet
// time fit the default receive buffer many times over.
const socketsPerShard = 16

// legShard is one of the engine's goroutines and its legs. mu is held for
// a whole packet time's work, so that remove returns only once the shard
// no longer touches the leg.
type legShard struct {
	mu        sync.Mutex
	legs      []*leg          // goroutine mode: the legs to send for
	socks     []*muxSock      // poll mode
	byPort    map[uint16]*leg // poll mode: texml's source port → its leg
	unmatched uint64          // poll mode: datagrams from no known leg
	tx        txBatch
	rx        rxBatch
}

// muxSock is one shared socket (poll mode) and the legs that use it.
type muxSock struct {
	fd   int
	port int
	legs []*leg
}

// newEngine starts n shards; in poll mode it opens their sockets.
func newEngine(n int, send, poll bool) (*engine, error) {
	e := &engine{send: send, poll: poll, quit: make(chan struct{})}
	for range n {
		sh := &legShard{byPort: map[uint16]*leg{}}
		if poll {
			sh.rx.init()
			for range socketsPerShard {
				fd, port, err := bareSocket()
				if err != nil {
					e.closeSockets()
					return nil, err
				}
				sh.socks = append(sh.socks, &muxSock{fd: fd, port: port})
			}
		}
		e.shards = append(e.shards, sh)
	}
	start := time.Now().Add(ptime)
	for i, sh := range e.shards {
		e.wg.Add(1)
		go e.run(sh, start.Add(ptime*time.Duration(i)/time.Duration(n)))
	}
	return e, nil
}

// reserve gives l (poll mode) a place on the least used socket of the
// least loaded shard; add makes it live once texml's address is known.
func (e *engine) reserve(l *leg) {
	var best *legShard
	bestN := -1
	for _, sh := range e.shards {
		sh.mu.Lock()
		n := 0
		for _, ms := range sh.socks {
			n += len(ms.legs)
		}
		sh.mu.Unlock()
		if bestN < 0 || n < bestN {
			best, bestN = sh, n
		}
	}
	best.mu.Lock()
	ms := best.socks[0]
	for _, x := range best.socks[1:] {
		if len(x.legs) < len(ms.legs) {
			ms = x
		}
	}
	ms.legs = append(ms.legs, l)
	best.mu.Unlock()
	l.ms, l.sh, l.lport = ms, best, ms.port
}

// add makes l live: the engine sends for it (if it sends) and, in poll
// mode, hands it the datagrams from its texml address.
func (e *engine) add(l *leg) {
	if e.poll {
		l.sh.mu.Lock()
		l.active = true
		l.sh.byPort[l.to.Port()] = l
		l.sh.mu.Unlock()
		return
	}
	best := e.shards[0]
	for _, sh := range e.shards[1:] {
		if sh.size() < best.size() {
			best = sh
		}
	}
	best.mu.Lock()
	best.legs = append(best.legs, l)
	best.mu.Unlock()
	l.sh = best
}

func (sh *legShard) size() int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.legs)
}

// remove takes l off the engine; when it returns, no shard touches l.
func (e *engine) remove(l *leg) {
	sh := l.sh
	if sh == nil {
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e.poll {
		if sh.byPort[l.to.Port()] == l {
			delete(sh.byPort, l.to.Port())
		}
		l.active = false
		l.ms.legs = without(l.ms.legs, l)
		return
	}
	sh.legs = without(sh.legs, l)
}

// without removes l from legs (order is not kept).
func without(legs []*leg, l *leg) []*leg {
	for i, x := range legs {
		if x == l {
			last := len(legs) - 1
			legs[i], legs[last] = legs[last], nil
			return legs[:last]
		}
	}
	return legs
}

// unmatched returns the datagrams that came from no known leg.
func (e *engine) unmatched() uint64 {
	var n uint64
	for _, sh := range e.shards {
		sh.mu.Lock()
		n += sh.unmatched
		sh.mu.Unlock()
	}
	return n
}

// stop ends the shards, waits for them and closes the shared sockets; it
// is idempotent.
func (e *engine) stop() {
	e.once.Do(func() {
		close(e.quit)
		e.wg.Wait()
		e.closeSockets()
	})
}

func (e *engine) closeSockets() {
	for _, sh := range e.shards {
		for _, ms := range sh.socks {
			syscall.Close(ms.fd)
		}
		sh.socks = nil
	}
}

// run is one shard: every 20 ms on an absolute schedule, one packet out
// for each leg and (poll mode) everything that arrived read. After a
// stall of more than a packet time the missed packet times are skipped,
// not sent in a burst: the receiving side (texml) absorbs jitter, and a
// gap shows in its counters.
func (e *engine) run(sh *legShard, next time.Time) {
	defer e.wg.Done()
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	var hdr rtp.Header
	hdr.Version = 2
	for {
		select {
		case <-e.quit:
			return
		case <-t.C:
		}
		sh.mu.Lock()
		if e.poll {
			for _, ms := range sh.socks {
				if e.send {
					sh.tx.send(ms, &hdr)
				}
				sh.rx.drain(sh, ms)
			}
		} else if e.send {
			for _, l := range sh.legs {
				_, _ = l.conn.WriteToUDPAddrPort(l.next(&hdr), l.to)
			}
		}
		sh.mu.Unlock()
		next = next.Add(ptime)
		if time.Until(next) < -ptime {
			next = time.Now().Add(ptime)
		}
		t.Reset(time.Until(next))
	}
}
