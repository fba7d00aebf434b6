package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
)

// progressLog records an agent's progress events.
type progressLog struct {
	mu  sync.Mutex
	evs []interpreter.Progress
}

func (p *progressLog) add(e interpreter.Progress) {
	p.mu.Lock()
	p.evs = append(p.evs, e)
	p.mu.Unlock()
}

func (p *progressLog) kinds() []interpreter.ProgressKind {
	p.mu.Lock()
	defer p.mu.Unlock()
	var k []interpreter.ProgressKind
	for _, e := range p.evs {
		k = append(k, e.Kind)
	}
	return k
}

func newService(t *testing.T) *Service {
	t.Helper()
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	return New(st.Queues, Options{Node: "n1"})
}

func enqueue(t *testing.T, s *Service, queue, sid string, max int) (interpreter.Place, *atomic.Int32) {
	t.Helper()
	var picked atomic.Int32
	p, err := s.Enqueue(context.Background(), queue, interpreter.Waiter{CallSid: sid, Max: max, Enqueued: time.Now()}, func() { picked.Add(1) })
	if err != nil {
		t.Fatalf("Enqueue %s: %v", sid, err)
	}
	return p, &picked
}

func TestTakeHandsOverTheFrontCaller(t *testing.T) {
	s := newService(t)
	first, picked1 := enqueue(t, s, "support", "CA1", 0)
	_, picked2 := enqueue(t, s, "support", "CA2", 0)
	st, err := first.Status(context.Background())
	if err != nil || st.Position != 1 || st.Size != 2 || st.Sid == "" {
		t.Fatalf("Status = %+v, %v; want position 1 of 2 with a QueueSid", st, err)
	}
	var log progressLog
	att, err := s.Take(context.Background(), "support", interpreter.Agent{CallSid: "CAagent", URL: "http://app/about"}, log.add)
	if err != nil {
		t.Fatal(err)
	}
	if picked1.Load() != 1 || picked2.Load() != 0 {
		t.Fatalf("picked: first %d, second %d; want the front caller only", picked1.Load(), picked2.Load())
	}
	p := first.Pickup()
	if p == nil || p.Agent.CallSid != "CAagent" || p.Agent.URL != "http://app/about" {
		t.Fatalf("Pickup = %+v", p)
	}
	if len(log.kinds()) != 0 {
		t.Fatalf("progress before the caller is ready: %v", log.kinds())
	}
	var released atomic.Int32
	p.Ready(nil, func(bridged bool) {
		if bridged {
			released.Add(1)
		}
	})
	if k := log.kinds(); len(k) != 1 || k[0] != interpreter.Answered || log.evs[0].CallSid != "CA1" {
		t.Fatalf("progress = %+v; want Answered with CA1", log.evs)
	}
	if left, _ := first.Leave(context.Background()); left {
		t.Error("Leave after the pickup says the caller left; want false (an agent has it)")
	}
	att.Cancel()
	att.Cancel()
	if released.Load() != 1 {
		t.Errorf("released %d times with bridged=true, want once", released.Load())
	}
}

func TestTakeUnknownQueue(t *testing.T) {
	s := newService(t)
	_, err := s.Take(context.Background(), "nowhere", interpreter.Agent{CallSid: "CAa"}, func(interpreter.Progress) {})
	if !errors.Is(err, interpreter.ErrNoQueue) {
		t.Fatalf("Take of a queue never used: %v, want ErrNoQueue", err)
	}
}

func TestTakeWaitsForTheNextCaller(t *testing.T) {
	s := newService(t)
	p, _ := enqueue(t, s, "q", "CA0", 0)
	if left, err := p.Leave(context.Background()); !left || err != nil {
		t.Fatalf("Leave = %v, %v", left, err)
	}
	var log progressLog
	att, err := s.Take(context.Background(), "q", interpreter.Agent{CallSid: "CAa"}, log.add)
	if err != nil {
		t.Fatal(err)
	}
	late, picked := enqueue(t, s, "q", "CA1", 0)
	if picked.Load() != 1 || late.Pickup() == nil {
		t.Fatal("a caller joining the queue was not offered to the waiting agent")
	}
	att.Cancel()
	// The agent gave up before the caller was ready: it goes back.
	var back atomic.Bool
	late.Pickup().Ready(nil, func(bridged bool) { back.Store(!bridged) })
	if !back.Load() {
		t.Error("Ready after the agent gave up: want released(false)")
	}
	if k := log.kinds(); len(k) != 0 {
		t.Errorf("progress after Cancel: %v", k)
	}
}

func TestCallerGoneBeforeReadyGivesTheNext(t *testing.T) {
	s := newService(t)
	a, _ := enqueue(t, s, "q", "CA1", 0)
	b, pickedB := enqueue(t, s, "q", "CA2", 0)
	var log progressLog
	if _, err := s.Take(context.Background(), "q", interpreter.Agent{CallSid: "CAa"}, log.add); err != nil {
		t.Fatal(err)
	}
	a.Pickup().Gone()
	if pickedB.Load() != 1 || b.Pickup() == nil {
		t.Fatal("the second caller was not offered after the first hung up")
	}
	b.Pickup().Ready(nil, func(bool) {})
	b.Pickup().Gone() // hangs up during the bridge
	if k := log.kinds(); len(k) != 2 || k[0] != interpreter.Answered || k[1] != interpreter.Ended {
		t.Fatalf("progress = %v, want [answered ended]", k)
	}
}

func TestQueueFull(t *testing.T) {
	s := newService(t)
	enqueue(t, s, "q", "CA1", 1)
	_, err := s.Enqueue(context.Background(), "q", interpreter.Waiter{CallSid: "CA2", Max: 1}, func() {})
	if !errors.Is(err, interpreter.ErrQueueFull) {
		t.Fatalf("second Enqueue into a queue of 1: %v, want ErrQueueFull", err)
	}
	if _, err := s.Enqueue(context.Background(), "q", interpreter.Waiter{CallSid: "CA1", Max: 1}, func() {}); err == nil {
		t.Fatal("a call enqueued twice was accepted")
	}
}

// brokenQueues fails every call, as a store whose Redis is down does.
type brokenQueues struct{ store.Queues }

var errDown = errors.New("connection refused")

func (brokenQueues) Push(context.Context, string, store.Member, int) (int, error) { return 0, errDown }
func (brokenQueues) Info(context.Context, string) (store.QueueInfo, error) {
	return store.QueueInfo{}, errDown
}

func TestStoreDown(t *testing.T) {
	s := New(brokenQueues{}, Options{Node: "n1"})
	_, err := s.Enqueue(context.Background(), "q", interpreter.Waiter{CallSid: "CA1"}, func() {})
	if err == nil || errors.Is(err, interpreter.ErrQueueFull) || !errors.Is(err, errDown) {
		t.Fatalf("Enqueue with the store down: %v; want the store's error, not queue-full", err)
	}
	if len(s.waiting) != 0 {
		t.Error("a call that could not be queued is still waiting")
	}
	if _, err := s.Take(context.Background(), "q", interpreter.Agent{}, func(interpreter.Progress) {}); err == nil || errors.Is(err, interpreter.ErrNoQueue) {
		t.Fatalf("Take with the store down: %v; want the store's error", err)
	}
}

// TestLeaveRacesTake runs callers leaving while agents take them: every
// caller ends either picked by exactly one agent or out of the queue,
// never both, never twice.
func TestLeaveRacesTake(t *testing.T) {
	for round := 0; round < 20; round++ {
		s := newService(t)
		const n = 50
		places := make([]interpreter.Place, n)
		picks := make([]*atomic.Int32, n)
		for i := range n {
			places[i], picks[i] = enqueue(t, s, "q", fmt.Sprintf("CA%02d", i), 0)
		}
		var wg sync.WaitGroup
		left := make([]bool, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := places[i].Leave(context.Background())
				if err != nil {
					t.Error(err)
				}
				left[i] = l
			}()
		}
		var answered atomic.Int32
		for range n / 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				att, err := s.Take(context.Background(), "q", interpreter.Agent{CallSid: "CAagent"}, func(p interpreter.Progress) {
					if p.Kind == interpreter.Answered {
						answered.Add(1)
					}
				})
				if err != nil {
					t.Error(err)
					return
				}
				defer att.Cancel()
			}()
		}
		wg.Wait()
		for i := range n {
			got := picks[i].Load()
			switch {
			case got > 1:
				t.Fatalf("caller %d picked %d times", i, got)
			case got == 1 && left[i]:
				t.Fatalf("caller %d both picked and out of the queue", i)
			case got == 0 && !left[i]:
				t.Fatalf("caller %d neither picked nor left", i)
			}
		}
	}
}

// forgetfulQueues is a store that can lose everything at once, as a
// Redis restarting without persistence does.
type forgetfulQueues struct {
	mu sync.Mutex
	st *store.Store
	// removeDown fails Remove, as a store that is down does.
	removeDown atomic.Bool
}

func newForgetful(t *testing.T) *forgetfulQueues {
	f := &forgetfulQueues{st: memory.New()}
	t.Cleanup(func() { f.now().Close() })
	return f
}

func (f *forgetfulQueues) now() *store.Store {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

// forget replaces the state with an empty one.
func (f *forgetfulQueues) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Close()
	f.st = memory.New()
}

func (f *forgetfulQueues) q() store.Queues { return f.now().Queues }

func (f *forgetfulQueues) Push(ctx context.Context, q string, m store.Member, max int) (int, error) {
	return f.q().Push(ctx, q, m, max)
}
func (f *forgetfulQueues) Pop(ctx context.Context, q string) (store.Member, error) {
	return f.q().Pop(ctx, q)
}
func (f *forgetfulQueues) Remove(ctx context.Context, q, sid string) (bool, error) {
	if f.removeDown.Load() {
		return false, errDown
	}
	return f.q().Remove(ctx, q, sid)
}
func (f *forgetfulQueues) Position(ctx context.Context, q, sid string) (int, int, error) {
	return f.q().Position(ctx, q, sid)
}
func (f *forgetfulQueues) Members(ctx context.Context, q string) ([]store.Member, error) {
	return f.q().Members(ctx, q)
}
func (f *forgetfulQueues) Info(ctx context.Context, q string) (store.QueueInfo, error) {
	return f.q().Info(ctx, q)
}
func (f *forgetfulQueues) List(ctx context.Context) ([]store.QueueInfo, error) {
	return f.q().List(ctx)
}
func (f *forgetfulQueues) Create(ctx context.Context, q string, max int) (store.QueueInfo, error) {
	return f.q().Create(ctx, q, max)
}
func (f *forgetfulQueues) SetMax(ctx context.Context, q string, max int) (store.QueueInfo, error) {
	return f.q().SetMax(ctx, q, max)
}
func (f *forgetfulQueues) Rename(ctx context.Context, q, to string) (store.QueueInfo, error) {
	return f.q().Rename(ctx, q, to)
}
func (f *forgetfulQueues) Delete(ctx context.Context, q string) error { return f.q().Delete(ctx, q) }

// TestTakeRestoresCallersTheStoreLost: callers still waiting when the
// store lost its state are put back, in their order, by the next agent's
// Take, and each is taken once; a caller who left is not put back.
func TestTakeRestoresCallersTheStoreLost(t *testing.T) {
	tests := []struct {
		name string
		// lose makes the store lose the waiting callers.
		lose func(t *testing.T, f *forgetfulQueues)
		// newcomer enqueues a caller after the loss, who must come
		// after those who waited before it.
		newcomer bool
	}{
		{"store restarted empty", func(t *testing.T, f *forgetfulQueues) { f.forget() }, false},
		{"queue emptied", func(t *testing.T, f *forgetfulQueues) {
			for {
				if _, err := f.Pop(context.Background(), "q"); err != nil {
					return
				}
			}
		}, false},
		{"store restarted empty, then a new caller", func(t *testing.T, f *forgetfulQueues) { f.forget() }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newForgetful(t)
			s := New(f, Options{Node: "n1"})
			t0 := time.Now()
			var picks []*atomic.Int32
			for i, sid := range []string{"CA0", "CA1", "CA2"} {
				var picked atomic.Int32
				picks = append(picks, &picked)
				p, err := s.Enqueue(context.Background(), "q", interpreter.Waiter{CallSid: sid, Enqueued: t0.Add(time.Duration(i) * time.Second)}, func() { picked.Add(1) })
				if err != nil {
					t.Fatal(err)
				}
				if sid == "CA1" {
					if left, err := p.Leave(context.Background()); !left || err != nil {
						t.Fatalf("Leave = %v, %v", left, err)
					}
				}
			}
			tt.lose(t, f)
			want := []int{0, 2} // by order of arrival; CA1 left
			if tt.newcomer {
				var picked atomic.Int32
				picks = append(picks, &picked)
				if _, err := s.Enqueue(context.Background(), "q", interpreter.Waiter{CallSid: "CA3", Enqueued: t0.Add(time.Hour)}, func() { picked.Add(1) }); err != nil {
					t.Fatal(err)
				}
				// The newcomer is in the store, so the first Take finds
				// the queue not empty and takes it; the next finds the
				// queue empty and puts back the others.
				want = []int{3, 0, 2}
			}
			for _, i := range want {
				att, err := s.Take(context.Background(), "q", interpreter.Agent{CallSid: "CAagent"}, func(interpreter.Progress) {})
				if err != nil {
					t.Fatalf("Take for caller %d: %v", i, err)
				}
				defer att.Cancel()
				for j, p := range picks {
					if j == i && p.Load() != 1 {
						t.Fatalf("Take picked caller %d %d times; want caller %d once", j, p.Load(), i)
					}
				}
			}
			att, err := s.Take(context.Background(), "q", interpreter.Agent{CallSid: "CAagent"}, func(interpreter.Progress) {})
			if err != nil {
				t.Fatal(err)
			}
			att.Cancel()
			for j, p := range picks {
				if n := p.Load(); (j == 1 && n != 0) || (j != 1 && n != 1) {
					t.Errorf("caller %d picked %d times", j, n)
				}
			}
			if ms, err := f.Members(context.Background(), "q"); err != nil || len(ms) != 0 {
				t.Errorf("queue after every caller was taken: %v, %v", ms, err)
			}
		})
	}
}

// TestRestoreRacesTake has many agents take from a queue whose store just
// lost its callers: each caller is put back and picked exactly once.
func TestRestoreRacesTake(t *testing.T) {
	for range 20 {
		f := newForgetful(t)
		s := New(f, Options{Node: "n1"})
		const n = 30
		picks := make([]*atomic.Int32, n)
		for i := range n {
			picks[i] = new(atomic.Int32)
			if _, err := s.Enqueue(context.Background(), "q", interpreter.Waiter{CallSid: fmt.Sprintf("CA%02d", i), Enqueued: time.Now()}, func() { picks[i].Add(1) }); err != nil {
				t.Fatal(err)
			}
		}
		f.forget()
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Take(context.Background(), "q", interpreter.Agent{CallSid: "CAagent"}, func(interpreter.Progress) {}); err != nil && !errors.Is(err, interpreter.ErrNoQueue) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		// Agents that found nothing wait as watchers; a last Take
		// restores whoever the races left out.
		for range n {
			s.mu.Lock()
			waiting := 0
			for _, p := range s.waiting {
				if p.pickup == nil {
					waiting++
				}
			}
			s.mu.Unlock()
			if waiting == 0 {
				break
			}
			att, err := s.Take(context.Background(), "q", interpreter.Agent{CallSid: "CAlate"}, func(interpreter.Progress) {})
			if err != nil {
				t.Fatal(err)
			}
			_ = att
		}
		for i, p := range picks {
			if p.Load() != 1 {
				t.Fatalf("caller %d picked %d times", i, p.Load())
			}
		}
		if ms, _ := f.Members(context.Background(), "q"); len(ms) != 0 {
			t.Fatalf("%d members left in the store", len(ms))
		}
	}
}

// TestLeaveWhileStoreIsDown: a caller who leaves while the store cannot
// take it out is out at once for agents, and out of the store after the
// next Take, so that it does not linger in the queue's size.
func TestLeaveWhileStoreIsDown(t *testing.T) {
	f := newForgetful(t)
	s := New(f, Options{Node: "n1"})
	_, picked0 := enqueue(t, s, "q", "CA0", 0)
	gone, picked1 := enqueue(t, s, "q", "CA1", 0)
	f.removeDown.Store(true)
	if left, err := gone.Leave(context.Background()); !left || !errors.Is(err, errDown) {
		t.Fatalf("Leave with the store down = %v, %v; want left, with the store's error", left, err)
	}
	f.removeDown.Store(false)
	att, err := s.Take(context.Background(), "q", interpreter.Agent{CallSid: "CAagent"}, func(interpreter.Progress) {})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Cancel()
	if picked0.Load() != 1 || picked1.Load() != 0 {
		t.Fatalf("picked: %d, %d; want the caller who stayed", picked0.Load(), picked1.Load())
	}
	if ms, err := f.Members(context.Background(), "q"); err != nil || len(ms) != 0 {
		t.Errorf("queue after the Take: %v, %v; want the caller who left gone too", ms, err)
	}
}
