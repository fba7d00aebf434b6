package memory_test

import (
	"errors"
	"strings"
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

// TestCallsExpireByClock moves the store's clock past a record's
// retention: the record leaves Get and List at that instant, not before.
func TestCallsExpireByClock(t *testing.T) {
	ctx := t.Context()
	c := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := memory.New(memory.WithClock(c.Now))
	ended := store.CallRecord{Sid: "CA1", AccountSid: "AC1", Status: store.CallCompleted,
		Created: c.Now().Add(-time.Minute), End: c.Now()}
	live := store.CallRecord{Sid: "CA2", AccountSid: "AC1", Status: store.CallInProgress, Created: c.Now()}
	for _, r := range []store.CallRecord{ended, live} {
		if err := s.Calls.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	listed := func() string {
		t.Helper()
		list, err := s.Calls.List(ctx, "AC1", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range list {
			out = append(out, r.Sid)
		}
		return strings.Join(out, " ")
	}
	for _, step := range []struct {
		advance time.Duration
		get1    error // Get(CA1)'s error
		get2    error
		list    string
	}{
		{0, nil, nil, "CA2 CA1"},
		{store.Retention - time.Nanosecond, nil, nil, "CA2 CA1"},
		{time.Nanosecond, store.ErrNotFound, nil, "CA2"},
		// The live call, never ended, goes CallMaxAge later.
		{store.CallMaxAge - time.Nanosecond, store.ErrNotFound, nil, "CA2"},
		{time.Nanosecond, store.ErrNotFound, store.ErrNotFound, ""},
	} {
		c.Advance(step.advance)
		for sid, want := range map[string]error{"CA1": step.get1, "CA2": step.get2} {
			if _, err := s.Calls.Get(ctx, sid); !errors.Is(err, want) {
				t.Errorf("after %v more: Get(%s) error %v, want %v", step.advance, sid, err, want)
			}
		}
		if got := listed(); got != step.list {
			t.Errorf("after %v more: List = %q, want %q", step.advance, got, step.list)
		}
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

func BenchmarkCallsList(b *testing.B) {
	storetest.BenchCallsList(b, memory.New())
}
