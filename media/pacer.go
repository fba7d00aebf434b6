package media

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// PacerOptions configures a Pacer. The zero value is ready to use.
type PacerOptions struct {
	// Interval is the packet time. Frames always hold 20 ms of audio,
	// so anything but the default 20 ms changes the playback speed;
	// other values are for tests.
	Interval time.Duration
	// Shards is the number of sending goroutines; sessions are spread
	// over them, their ticks staggered across the interval. Default: two
	// per GOMAXPROCS. More shards than cores make each tick shorter, so
	// a session's packet leaves closer to its time: with 1,000 bridged
	// calls on 2 cores the gap p99 was 30 ms with 2 shards, 23-25 ms
	// with 4 and 8 (docs/benchmarks.md, "Dial: bridged calls").
	Shards int
	// Manual starts no goroutines: packets go out only when Tick is
	// called. For deterministic tests and simulations. Receiving is then
	// left to a goroutine per session, so that packets are received
	// without ticks.
	Manual bool
	// Now is the clock read at each tick (inactivity, send-gap metric).
	// Default: time.Now.
	Now func() time.Time
	// Metrics, if set, records the shards' timing: how late they wake,
	// how long their ticks take.
	Metrics *Metrics
	// Syscalls makes every read and send of a session on a Socket a
	// system call of its own, even where the shards could batch them in
	// an io_uring (see Pacer).
	Syscalls bool
}

// maxCatchUp bounds how many packets a session sends back to back when
// its shard woke up late (a GC pause, an overloaded host). Beyond that the
// missed packet times are skipped, and the RTP timestamp still advances
// by them, so the timestamp keeps tracking real time (RFC 3550 section 5.1).
const maxCatchUp = 3

// Pacer is the shared clock that sends every session's packets: a few
// goroutines for all calls instead of a timer per call per packet.
// Sessions are spread over shards; each shard's goroutine wakes every
// Interval and runs one tick of each of its sessions. The shards' phases
// are staggered across the interval so that the sends of many sessions do
// not all hit the network at the same instant.
//
// On Linux the shards receive as well: a tick first reads what arrived
// on the session's socket since the last one (one recvmmsg, without
// waiting), then sends. A goroutine per session blocked in a read costs,
// for every packet, a wake-up through the netpoller, a switch to that
// goroutine and a second read that finds nothing; at thousands of
// sessions that was more than the sends. The price is up to one packet
// time of delay before a received packet is handled, which the bridge's
// relay and the taps absorb.
//
// Where the kernel offers io_uring, each shard batches its sessions'
// reads and sends in one: a few system calls per tick instead of two or
// three per session, which matters most where a system call costs more
// than the packet it carries (a virtual machine). Only sessions on a
// Socket (Ports.Open) use it. Without io_uring (an old kernel,
// kernel.io_uring_disabled, a seccomp filter), or with
// PacerOptions.Syscalls, every read and send is a call of its own; IO
// says which.
type Pacer struct {
	interval time.Duration
	now      func() time.Time
	manual   bool
	metrics  *Metrics
	shards   []*shard
	ioNote   string // why the shards do not batch in an io_uring, if they could

	closed atomic.Bool
	quit   chan struct{}
	wg     sync.WaitGroup
}

// shard is one sending goroutine and its sessions. The session list is
// guarded by mu; the goroutine ticks a private snapshot of it, refreshed
// only when the list changed, so no lock is held while packets are sent.
type shard struct {
	mu       sync.Mutex
	sessions []*Session
	dirty    atomic.Bool
	count    atomic.Int32

	snap []*Session // owned by the shard goroutine (or Tick's caller)
	// order says, per session of snap, in which pass of a tick it sends
	// (see tick): by what its output was at its previous tick. It copies
	// the sessions' own tx.order, so that the first pass touches no
	// session that waits.
	order []sendOrder
	rb    *rxBatch // the shard goroutine's receive buffers; nil if it does not poll
	io    *shardIO // the shard's io_uring; nil without one

	// tallies are the packet counts of the shard's sessions, one per
	// Metrics they report to (see Metrics), added to them after each
	// tick; they are only appended to, under mu. tallySnap is the shard
	// goroutine's copy, refreshed with snap.
	tallies   []*tally
	tallySnap []*tally
}

// sendOrder is a session's pass in a shard's tick.
type sendOrder uint8

const (
	sendLate  sendOrder = 0      // after the sockets are read: a bridge, a mix
	sendEarly sendOrder = 1 << 0 // before: anything else
	sentEarly sendOrder = 1 << 1 // sent in this tick's first pass
)

// orderOf is the pass for s's next tick, by its output now.
func orderOf(s *Session) sendOrder {
	if s.live() {
		return sendLate
	}
	return sendEarly
}

// NewPacer starts a pacer (unless opt.Manual is set).
func NewPacer(opt PacerOptions) *Pacer {
	if opt.Interval <= 0 {
		opt.Interval = FrameDuration
	}
	if opt.Shards <= 0 {
		opt.Shards = 2 * runtime.GOMAXPROCS(0)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	p := &Pacer{
		interval: opt.Interval,
		now:      opt.Now,
		manual:   opt.Manual,
		metrics:  opt.Metrics,
		shards:   make([]*shard, opt.Shards),
		quit:     make(chan struct{}),
	}
	for i := range p.shards {
		sh := &shard{}
		p.shards[i] = sh
		if !p.polls() {
			continue
		}
		sh.rb = newRxBatch()
		if opt.Syscalls {
			p.ioNote = "PacerOptions.Syscalls"
			continue
		}
		io, err := newShardIO()
		if err != nil {
			p.ioNote = err.Error()
			continue
		}
		sh.io = io
	}
	if !p.manual {
		start := time.Now()
		for i, sh := range p.shards {
			offset := p.interval * time.Duration(i) / time.Duration(len(p.shards))
			p.wg.Add(1)
			go p.run(sh, start.Add(offset))
		}
	}
	return p
}

// Close stops the pacer's goroutines and waits for them. Sessions still
// registered stop sending; close them first. Close is idempotent.
func (p *Pacer) Close() {
	if p.closed.CompareAndSwap(false, true) {
		close(p.quit)
	}
	p.wg.Wait()
	for _, sh := range p.shards {
		if sh.io != nil && !p.manual {
			sh.io.close() // the shard goroutine has ended
		}
	}
}

// IO says how the pacer reads and sends: "io_uring" (batched per shard),
// "system calls" (one per packet, with the reason when io_uring could not
// be used), or "goroutines" (a manual pacer, or a platform without
// recvmmsg: every session reads on a goroutine of its own).
func (p *Pacer) IO() string {
	switch {
	case !p.polls():
		return "goroutines"
	case p.ioNote != "":
		return "system calls (" + p.ioNote + ")"
	}
	for _, sh := range p.shards {
		if sh.io != nil {
			if err := sh.io.failure(); err != nil {
				return "system calls (io_uring failed: " + err.Error() + ")"
			}
		}
	}
	return "io_uring"
}

// Tick runs one packet time of every session, on the caller's goroutine.
// It only works on a manual pacer (it does nothing otherwise) and must not
// be called concurrently with itself.
func (p *Pacer) Tick() {
	if !p.manual || p.closed.Load() {
		return
	}
	now := p.now()
	for _, sh := range p.shards {
		sh.tick(now, 0, false)
	}
}

// polls reports whether the pacer reads its sessions' sockets (see Pacer).
func (p *Pacer) polls() bool { return pollSupported && !p.manual }

// Sessions returns how many sessions are registered.
func (p *Pacer) Sessions() int {
	n := 0
	for _, sh := range p.shards {
		n += int(sh.count.Load())
	}
	return n
}

// run is a shard's goroutine. It sleeps until the next packet time with
// one reusable timer and exits when the pacer closes.
func (p *Pacer) run(sh *shard, next time.Time) {
	defer p.wg.Done()
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-timer.C:
		}
		woke := time.Now()
		late := woke.Sub(next)
		due := 1
		if late > 0 {
			due += int(late / p.interval)
		}
		run := min(due, maxCatchUp)
		skipped := uint32(due - run)
		for i := range run {
			if i > 0 {
				skipped = 0
			}
			// One read per wake-up: the catch-up ticks find the
			// sockets empty.
			sh.tick(p.now(), skipped, i == 0)
		}
		p.metrics.pacerTick(late, time.Since(woke))
		next = next.Add(time.Duration(due) * p.interval)
		timer.Reset(time.Until(next))
	}
}

// register adds s to the least loaded shard.
func (p *Pacer) register(s *Session) bool {
	if p.closed.Load() {
		return false
	}
	best := p.shards[0]
	for _, sh := range p.shards[1:] {
		if sh.count.Load() < best.count.Load() {
			best = sh
		}
	}
	best.mu.Lock()
	if p.polls() && s.metrics != nil {
		t := best.tallyFor(s.metrics)
		s.tx.tally, s.rx.tally = t, t
	}
	if s.polled && s.sock != nil && s.sock.conn == nil && best.io != nil {
		s.tx.io = best.io // whether it still works is the shard goroutine's to check
	}
	s.shard = best
	s.shardIdx = len(best.sessions)
	best.sessions = append(best.sessions, s)
	best.count.Add(1)
	best.dirty.Store(true)
	best.mu.Unlock()
	return true
}

// tallyFor returns the shard's tally for m, made on first use; sh.mu is
// held.
func (sh *shard) tallyFor(m *Metrics) *tally {
	for _, t := range sh.tallies {
		if t.m == m {
			return t
		}
	}
	t := &tally{m: m}
	sh.tallies = append(sh.tallies, t)
	return t
}

// unregister removes s from its shard. The shard may still tick s once
// from its current snapshot; the session ignores ticks after it ended.
func (p *Pacer) unregister(s *Session) {
	sh := s.shard
	if sh == nil {
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i := s.shardIdx
	if i < 0 || i >= len(sh.sessions) || sh.sessions[i] != s {
		return
	}
	last := len(sh.sessions) - 1
	sh.sessions[i] = sh.sessions[last]
	sh.sessions[i].shardIdx = i
	sh.sessions[last] = nil
	sh.sessions = sh.sessions[:last]
	s.shardIdx = -1
	sh.count.Add(-1)
	sh.dirty.Store(true)
}

// tick receives (if recv, and the shard polls) and sends one packet for
// each session of the shard. skipped packet times (see maxCatchUp) only
// advance the sessions' timestamps.
func (sh *shard) tick(now time.Time, skipped uint32, recv bool) {
	if sh.dirty.Load() {
		sh.mu.Lock()
		sh.dirty.Store(false)
		clear(sh.snap) // drop references to removed sessions
		sh.snap = append(sh.snap[:0], sh.sessions...)
		sh.order = sh.order[:0]
		for _, s := range sh.snap {
			sh.order = append(sh.order, s.tx.order)
		}
		sh.tallySnap = append(sh.tallySnap[:0], sh.tallies...)
		sh.mu.Unlock()
	}
	poll := recv && sh.rb != nil
	// Sessions whose output does not depend on this packet time's
	// arrivals (a prompt, a stream's playout, silence) send first, at a
	// steady offset from the tick: reading the sockets hands frames to
	// taps (recorders, recognizers, WebSocket streams, which wake their
	// goroutines) and takes longer when more arrived, which would
	// otherwise move these packets about within the tick. Sessions
	// playing a bridge or a mix (liveSource) send after the reads. Each
	// session is put in one pass or the other by what it played at its
	// previous tick: one whose output just changed kind is early or late
	// by a few milliseconds once.
	order := sh.order
	for i, s := range sh.snap {
		if order[i] == sendEarly {
			s.tick(now, skipped)
			s.tx.order = orderOf(s) // while s is in the cache
			order[i] = s.tx.order | sentEarly
		}
	}
	if sh.io.usable() {
		sh.io.flush()
	}
	if poll && sh.io.usable() {
		sh.io.receive(sh.snap)
	}
	for i, s := range sh.snap {
		if poll && s.polled && !s.ringed() {
			s.poll(sh.rb)
		}
		if order[i]&sentEarly != 0 {
			order[i] &^= sentEarly
			continue
		}
		s.tick(now, skipped)
		s.tx.order = orderOf(s)
		order[i] = s.tx.order
	}
	if sh.io.usable() {
		sh.io.flush() // before the next tick writes the packet buffers again
	}
	for _, t := range sh.tallySnap {
		t.flush()
	}
}
