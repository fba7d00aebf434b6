package memory_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
	"github.com/texml/texml/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) *store.Store { return memory.New() })
}

// clock is a settable clock for WithClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestNodesExpireByClock(t *testing.T) {
	ctx := t.Context()
	c := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := memory.New(memory.WithClock(c.Now))
	if err := s.Nodes.Heartbeat(ctx, store.Node{ID: "a", Addr: "h:1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	n, err := s.Nodes.Get(ctx, "a")
	if err != nil || !n.Seen.Equal(c.Now()) {
		t.Fatalf("Get = %+v, %v; want seen at the clock's time", n, err)
	}
	c.Advance(time.Minute - time.Nanosecond)
	if _, err := s.Nodes.Get(ctx, "a"); err != nil {
		t.Errorf("Get just before the ttl: %v", err)
	}
	c.Advance(time.Nanosecond)
	if _, err := s.Nodes.Get(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get at the ttl: error %v, want ErrNotFound", err)
	}
	if list, _ := s.Nodes.List(ctx); len(list) != 0 {
		t.Errorf("List at the ttl = %+v", list)
	}
}

func TestQueueCreatedByClock(t *testing.T) {
	ctx := t.Context()
	c := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := memory.New(memory.WithClock(c.Now))
	if _, err := s.Queues.Push(ctx, "q", store.Member{CallSid: "CA1"}, 0); err != nil {
		t.Fatal(err)
	}
	info, err := s.Queues.Info(ctx, "q")
	if err != nil || !info.Created.Equal(c.Now()) {
		t.Errorf("Info = %+v, %v; want created at the clock's time", info, err)
	}
}

func TestCompletedConferencesExpire(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	old, _, err := s.Conferences.Join(ctx, "room", store.Participant{CallSid: "CA1"}, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Conferences.End(ctx, "room", "done", "", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Conferences.BySid(ctx, old.Sid); err != nil {
		t.Fatalf("BySid just after End: %v", err)
	}
	// The sweep runs at an End, with that End's time.
	later := t0.Add(store.Retention + time.Second)
	if _, _, err := s.Conferences.Join(ctx, "room", store.Participant{CallSid: "CA2"}, 0, later); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Conferences.End(ctx, "room", "done", "", later); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Conferences.BySid(ctx, old.Sid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("BySid after Retention: error %v, want ErrNotFound", err)
	}
}

func BenchmarkPushPop(b *testing.B) {
	ctx := b.Context()
	s := memory.New()
	m := store.Member{CallSid: "CA1", Node: "node-a", Enqueued: time.Now()}
	for b.Loop() {
		if _, err := s.Queues.Push(ctx, "q", m, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Queues.Pop(ctx, "q"); err != nil {
			b.Fatal(err)
		}
	}
}
