package sim

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Clock is the virtual time shared by every party of a simulation: the
// caller's run loop, scripted callees, timers. It implements
// interpreter.Clock.
//
// Time moves only when every party is waiting: a party that calls Sleep
// stops running, and when the last running party stops, the clock jumps to
// the earliest due timer or sleeper, runs the timers due then (on that
// party's goroutine, in the order they were set), and wakes the sleepers
// that are due or whose context the timers ended. Timers due at an instant
// run before sleepers due at the same instant are woken, so that a callee
// answering at the ring timeout is seen before the timeout. A simulation
// therefore gives the same result on every run, however busy the machine.
type Clock struct {
	mu       sync.Mutex
	now      time.Time
	seq      uint64
	timers   timerHeap
	sleepers []*sleeper
	running  int // parties not in Sleep
	realtime bool
}

type sleeper struct {
	until time.Time
	ctx   context.Context
	wake  chan struct{}
	woken bool
}

type timer struct {
	at       time.Time
	seq      uint64
	f        func()
	canceled bool
	idx      int
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int)    { h[i], h[j] = h[j], h[i]; h[i].idx, h[j].idx = i, j }
func (h *timerHeap) Push(x any)      { t := x.(*timer); t.idx = len(*h); *h = append(*h, t) }
func (h *timerHeap) Pop() any        { old := *h; t := old[len(old)-1]; *h = old[:len(old)-1]; return t }
func (h timerHeap) peek() *timer     { return h[0] }
func (h *timerHeap) remove(t *timer) { heap.Remove(h, t.idx) }

// NewClock returns a clock at start with one running party: the goroutine
// that will run the first call. With realtime set, the clock also waits
// for real as long as virtual time advances (interactive `texml call`).
func NewClock(start time.Time, realtime bool) *Clock {
	return &Clock{now: start, running: 1, realtime: realtime}
}

// Now returns the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Go runs f as a new party of the simulation on its own goroutine.
func (c *Clock) Go(f func()) {
	c.mu.Lock()
	c.running++
	c.mu.Unlock()
	go func() {
		defer c.Leave()
		f()
	}()
}

// Leave tells the clock that the calling party is finished; the first
// party calls it when it has nothing more to do, so that the others'
// time can move.
func (c *Clock) Leave() {
	c.mu.Lock()
	c.running--
	c.settle()
	c.mu.Unlock()
}

// AfterFunc implements interpreter.Clock: f runs when virtual time reaches
// now+d, on the goroutine of the party that moved time there.
func (c *Clock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{at: c.now.Add(max(d, 0)), seq: c.seq, f: f}
	heap.Push(&c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.canceled || t.idx < 0 {
			return false
		}
		t.canceled = true
		c.timers.remove(t)
		t.idx = -1
		return true
	}
}

// Sleep implements interpreter.Clock: the calling party waits until
// virtual time has moved by d or ctx ends.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	if ctx.Err() != nil {
		c.mu.Unlock()
		return context.Cause(ctx)
	}
	s := &sleeper{until: c.now.Add(max(d, 0)), ctx: ctx, wake: make(chan struct{})}
	c.sleepers = append(c.sleepers, s)
	c.running--
	c.settle()
	c.mu.Unlock()
	select {
	case <-s.wake:
	case <-ctx.Done():
		// Ended from outside the simulation (Ctrl-C, a real HTTP update):
		// the party runs again at the current virtual time.
		c.mu.Lock()
		if !s.woken {
			c.wakeLocked(s)
		}
		c.mu.Unlock()
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// wakeLocked removes s from the sleepers and counts it as running.
func (c *Clock) wakeLocked(s *sleeper) {
	for i, x := range c.sleepers {
		if x == s {
			c.sleepers = append(c.sleepers[:i], c.sleepers[i+1:]...)
			break
		}
	}
	s.woken = true
	c.running++
	close(s.wake)
}

// settle moves time while no party runs. c.mu is held.
func (c *Clock) settle() {
	for c.running == 0 {
		woke := false
		for i := 0; i < len(c.sleepers); {
			s := c.sleepers[i]
			if s.ctx.Err() != nil || !s.until.After(c.now) {
				c.wakeLocked(s)
				woke = true
				continue
			}
			i++
		}
		if woke {
			return
		}
		next, ok := c.next()
		if !ok {
			return // nobody runs, sleeps or is scheduled: the simulation is over
		}
		if next.After(c.now) {
			if c.realtime {
				if waited, full := c.waitReal(next.Sub(c.now)); !full {
					// Cut short from outside: time moved only as far as
					// the wall clock did.
					c.now = c.now.Add(waited)
					continue
				}
			}
			c.now = next
		}
		for len(c.timers) > 0 && !c.timers.peek().at.After(c.now) {
			t := heap.Pop(&c.timers).(*timer)
			t.idx = -1
			if t.canceled {
				continue
			}
			c.mu.Unlock()
			t.f()
			c.mu.Lock()
		}
	}
}

// next is the earliest instant at which something happens.
func (c *Clock) next() (time.Time, bool) {
	var t time.Time
	ok := false
	if len(c.timers) > 0 {
		t, ok = c.timers.peek().at, true
	}
	for _, s := range c.sleepers {
		if !ok || s.until.Before(t) {
			t, ok = s.until, true
		}
	}
	return t, ok
}

// waitReal lets d pass on the wall clock, cut short when a sleeper's
// context ends from outside (Ctrl-C); it says how long it waited and
// whether that was all of d. c.mu is held and released meanwhile.
func (c *Clock) waitReal(d time.Duration) (time.Duration, bool) {
	const step = 50 * time.Millisecond
	began := time.Now()
	for {
		left := d - time.Since(began)
		if left <= 0 {
			return d, true
		}
		for _, s := range c.sleepers {
			if s.ctx.Err() != nil {
				return time.Since(began), false
			}
		}
		c.mu.Unlock()
		time.Sleep(min(left, step))
		c.mu.Lock()
	}
}
