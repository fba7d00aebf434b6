package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/store"
)

func member(sid string) store.Member {
	return store.Member{CallSid: sid, Node: "node-" + sid, Enqueued: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// sids lists the CallSids of members, for messages and comparisons.
func sids(ms []store.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.CallSid
	}
	return out
}

func testQueues(t *testing.T, open opener) {
	t.Run("FIFO", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		for i, sid := range []string{"CA1", "CA2", "CA3"} {
			pos, err := s.Queues.Push(ctx, "support", member(sid), 0)
			check(t, err, "Push")
			if pos != i+1 {
				t.Errorf("Push %s: position %d, want %d", sid, pos, i+1)
			}
		}
		ms, err := s.Queues.Members(ctx, "support")
		check(t, err, "Members")
		if got := fmt.Sprint(sids(ms)); got != "[CA1 CA2 CA3]" {
			t.Errorf("Members = %s, want [CA1 CA2 CA3]", got)
		}
		if ms[1].Node != "node-CA2" || !ms[1].Enqueued.Equal(member("").Enqueued) {
			t.Errorf("Members[1] = %+v, want it as pushed", ms[1])
		}
		for _, tc := range []struct {
			sid       string
			pos, size int
		}{{"CA1", 1, 3}, {"CA2", 2, 3}, {"CA3", 3, 3}, {"CA9", 0, 3}} {
			pos, size, err := s.Queues.Position(ctx, "support", tc.sid)
			check(t, err, "Position")
			if pos != tc.pos || size != tc.size {
				t.Errorf("Position(%s) = %d of %d, want %d of %d", tc.sid, pos, size, tc.pos, tc.size)
			}
		}
		for _, want := range []string{"CA1", "CA2", "CA3"} {
			m, err := s.Queues.Pop(ctx, "support")
			check(t, err, "Pop")
			if m.CallSid != want || m.Node != "node-"+want || !m.Enqueued.Equal(member("").Enqueued) {
				t.Errorf("Pop = %+v, want %s as pushed", m, want)
			}
		}
		_, err = s.Queues.Pop(ctx, "support")
		wantErr(t, err, store.ErrNotFound, "Pop of an emptied queue")
		_, err = s.Queues.Pop(ctx, "never-pushed")
		wantErr(t, err, store.ErrNotFound, "Pop of an unknown queue")
		pos, size, err := s.Queues.Position(ctx, "never-pushed", "CA1")
		if err != nil || pos != 0 || size != 0 {
			t.Errorf("Position in an unknown queue = %d, %d, %v; want 0, 0, nil", pos, size, err)
		}
		ms, err = s.Queues.Members(ctx, "never-pushed")
		if err != nil || len(ms) != 0 {
			t.Errorf("Members of an unknown queue = %v, %v; want none", ms, err)
		}
	})

	t.Run("EnqueuedDefaultsToNow", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		_, err := s.Queues.Push(ctx, "q", store.Member{CallSid: "CA1", Node: "n"}, 0)
		check(t, err, "Push")
		m, err := s.Queues.Pop(ctx, "q")
		check(t, err, "Pop")
		if !near(m.Enqueued) {
			t.Errorf("Enqueued = %v, want the time of the Push", m.Enqueued)
		}
	})

	t.Run("MaxSize", func(t *testing.T) {
		// One queue, pushes in order: each row's outcome depends on
		// the rows before it.
		ctx, s := testContext(t), open(t)
		for _, tc := range []struct {
			sid     string
			max     int
			wantPos int
			wantErr error
			maxSize int // Info.MaxSize afterwards
		}{
			{"CA1", 2, 1, nil, 2},
			{"CA2", 2, 2, nil, 2},
			{"CA3", 2, 0, store.ErrQueueFull, 2},
			{"CA3", 1, 0, store.ErrQueueFull, 2}, // a refused Push sets no limit
			{"CA3", 0, 0, store.ErrQueueFull, 2}, // no limit given: the queue's own applies
			{"CA3", 5, 3, nil, 5},
			{"CA4", 0, 4, nil, 5},
			{"CA5", 3, 0, store.ErrQueueFull, 5},
		} {
			pos, err := s.Queues.Push(ctx, "sales", member(tc.sid), tc.max)
			if !errors.Is(err, tc.wantErr) || pos != tc.wantPos {
				t.Errorf("Push(%s, max %d) = %d, %v; want %d, %v", tc.sid, tc.max, pos, err, tc.wantPos, tc.wantErr)
			}
			info, err := s.Queues.Info(ctx, "sales")
			check(t, err, "Info")
			if info.MaxSize != tc.maxSize {
				t.Errorf("after Push(%s, max %d): MaxSize %d, want %d", tc.sid, tc.max, info.MaxSize, tc.maxSize)
			}
		}
		ms, err := s.Queues.Members(ctx, "sales")
		check(t, err, "Members")
		if got := fmt.Sprint(sids(ms)); got != "[CA1 CA2 CA3 CA4]" {
			t.Errorf("Members = %s: a refused Push changed the queue", got)
		}
	})

	t.Run("Duplicate", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		_, err := s.Queues.Push(ctx, "q", member("CA1"), 0)
		check(t, err, "Push")
		_, err = s.Queues.Push(ctx, "q", member("CA2"), 0)
		check(t, err, "Push")
		_, err = s.Queues.Push(ctx, "q", member("CA1"), 0)
		wantErr(t, err, store.ErrExists, "second Push of CA1")
		// A duplicate is refused before the limit is looked at.
		_, err = s.Queues.Push(ctx, "q", member("CA1"), 2)
		wantErr(t, err, store.ErrExists, "second Push of CA1 into a full queue")
		ms, _ := s.Queues.Members(ctx, "q")
		if got := fmt.Sprint(sids(ms)); got != "[CA1 CA2]" {
			t.Errorf("Members = %s after refused duplicates", got)
		}
		// The same call may wait in another queue, and again in this
		// one once it has left.
		_, err = s.Queues.Push(ctx, "other", member("CA1"), 0)
		check(t, err, "Push into another queue")
		_, err = s.Queues.Pop(ctx, "q")
		check(t, err, "Pop")
		pos, err := s.Queues.Push(ctx, "q", member("CA1"), 0)
		check(t, err, "Push after Pop")
		if pos != 2 {
			t.Errorf("position after re-Push = %d, want 2", pos)
		}
	})

	t.Run("Remove", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		for _, sid := range []string{"CA1", "CA2", "CA3"} {
			_, err := s.Queues.Push(ctx, "q", member(sid), 0)
			check(t, err, "Push")
		}
		for _, tc := range []struct {
			sid  string
			want bool
		}{{"CA2", true}, {"CA2", false}, {"CA9", false}} {
			ok, err := s.Queues.Remove(ctx, "q", tc.sid)
			check(t, err, "Remove")
			if ok != tc.want {
				t.Errorf("Remove(%s) = %v, want %v", tc.sid, ok, tc.want)
			}
		}
		if ok, err := s.Queues.Remove(ctx, "unknown", "CA1"); ok || err != nil {
			t.Errorf("Remove from an unknown queue = %v, %v; want false, nil", ok, err)
		}
		pos, size, _ := s.Queues.Position(ctx, "q", "CA3")
		if pos != 2 || size != 2 {
			t.Errorf("Position(CA3) after removing CA2 = %d of %d, want 2 of 2", pos, size)
		}
		m, _ := s.Queues.Pop(ctx, "q")
		if m.CallSid != "CA1" {
			t.Errorf("Pop after Remove = %s, want CA1", m.CallSid)
		}
		// A removed call can be pushed again.
		if _, err := s.Queues.Push(ctx, "q", member("CA2"), 0); err != nil {
			t.Errorf("Push after Remove: %v", err)
		}
	})

	t.Run("InfoAndList", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		_, err := s.Queues.Info(ctx, "support")
		wantErr(t, err, store.ErrNotFound, "Info of an unknown queue")
		list, err := s.Queues.List(ctx)
		check(t, err, "List")
		if len(list) != 0 {
			t.Fatalf("List of an empty store = %+v", list)
		}
		// Names are the customer's: they may hold what a key syntax
		// holds dear.
		names := []string{"support", "a b:{c}*?[x]", "été"}
		for _, name := range names {
			_, err := s.Queues.Push(ctx, name, member("CA1"), 0)
			check(t, err, "Push")
		}
		_, err = s.Queues.Push(ctx, "support", member("CA2"), 7)
		check(t, err, "Push")
		info, err := s.Queues.Info(ctx, "support")
		check(t, err, "Info")
		if info.Name != "support" || info.Size != 2 || info.MaxSize != 7 || !queueSid.MatchString(info.Sid) || !near(info.Created) {
			t.Errorf("Info = %+v, want support, QU…, size 2 of 7, created now", info)
		}
		// The Sid and Created are the queue's, whatever happens to its
		// members, even when it is empty.
		for range 2 {
			_, err := s.Queues.Pop(ctx, "support")
			check(t, err, "Pop")
		}
		again, err := s.Queues.Info(ctx, "support")
		check(t, err, "Info of an emptied queue")
		if again.Sid != info.Sid || !again.Created.Equal(info.Created) || again.Size != 0 {
			t.Errorf("Info after emptying = %+v, was %+v", again, info)
		}
		_, err = s.Queues.Push(ctx, "support", member("CA3"), 0)
		check(t, err, "Push")
		if again, _ := s.Queues.Info(ctx, "support"); again.Sid != info.Sid {
			t.Errorf("Sid changed from %s to %s", info.Sid, again.Sid)
		}

		list, err = s.Queues.List(ctx)
		check(t, err, "List")
		want := slices.Sorted(slices.Values(names))
		seen := map[string]bool{}
		if len(list) != len(want) {
			t.Fatalf("List = %+v, want %d queues", list, len(want))
		}
		for i, q := range list {
			if q.Name != want[i] || q.Size != 1 || !queueSid.MatchString(q.Sid) || seen[q.Sid] {
				t.Errorf("List[%d] = %+v, want %q of size 1 with a Sid of its own", i, q, want[i])
			}
			seen[q.Sid] = true
		}
	})
}

func testQueuesConcurrent(t *testing.T, open opener) {
	t.Run("Pop", func(t *testing.T) {
		// Agents on several nodes dequeue one queue at once: every
		// caller is handed to exactly one of them.
		ctx, s := testContext(t), open(t)
		const callers, agents = 200, 8
		for i := range callers {
			_, err := s.Queues.Push(ctx, "q", member(fmt.Sprint("CA", i)), 0)
			check(t, err, "Push")
		}
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for range agents {
			wg.Go(func() {
				for {
					m, err := s.Queues.Pop(ctx, "q")
					if errors.Is(err, store.ErrNotFound) {
						return
					}
					if err != nil {
						t.Errorf("Pop: %v", err)
						return
					}
					mu.Lock()
					got[m.CallSid]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for i := range callers {
			if sid := fmt.Sprint("CA", i); got[sid] != 1 {
				t.Errorf("%s popped %d times, want once", sid, got[sid])
			}
		}
		if len(got) != callers {
			t.Errorf("%d distinct members popped, want %d", len(got), callers)
		}
	})

	t.Run("PopRemove", func(t *testing.T) {
		// Callers hang up (Remove) while agents dequeue (Pop): each
		// caller leaves by exactly one of the two.
		ctx, s := testContext(t), open(t)
		const callers = 100
		for i := range callers {
			_, err := s.Queues.Push(ctx, "q", member(fmt.Sprint("CA", i)), 0)
			check(t, err, "Push")
		}
		var mu sync.Mutex
		left := map[string]int{}
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				sid := fmt.Sprint("CA", i)
				ok, err := s.Queues.Remove(ctx, "q", sid)
				if err != nil {
					t.Errorf("Remove: %v", err)
				}
				if ok {
					mu.Lock()
					left[sid]++
					mu.Unlock()
				}
			})
		}
		for range 4 {
			wg.Go(func() {
				for {
					m, err := s.Queues.Pop(ctx, "q")
					if err != nil {
						if !errors.Is(err, store.ErrNotFound) {
							t.Errorf("Pop: %v", err)
						}
						return
					}
					mu.Lock()
					left[m.CallSid]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for i := range callers {
			if sid := fmt.Sprint("CA", i); left[sid] != 1 {
				t.Errorf("%s left the queue %d times, want once", sid, left[sid])
			}
		}
	})

	t.Run("PushMax", func(t *testing.T) {
		// Callers on several nodes enqueue at once into a queue with a
		// limit: it never holds one too many.
		ctx, s := testContext(t), open(t)
		const callers, max = 40, 10
		var mu sync.Mutex
		var ok, full int
		positions := map[int]bool{}
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				pos, err := s.Queues.Push(ctx, "q", member(fmt.Sprint("CA", i)), max)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
					positions[pos] = true
				case errors.Is(err, store.ErrQueueFull):
					full++
				default:
					t.Errorf("Push: %v", err)
				}
			})
		}
		wg.Wait()
		if ok != max || full != callers-max {
			t.Errorf("%d pushed, %d refused; want %d and %d", ok, full, max, callers-max)
		}
		for pos := 1; pos <= max; pos++ {
			if !positions[pos] {
				t.Errorf("no Push was given position %d", pos)
			}
		}
		if info, err := s.Queues.Info(ctx, "q"); err != nil || info.Size != max {
			t.Errorf("Info = %+v, %v; want size %d", info, err, max)
		}
	})
}

// testQueueMeanEnqueued: Info's mean enqueue time follows pushes, pops
// and removals, so that the average wait needs no walk over the members.
func testQueueMeanEnqueued(t *testing.T, open opener) {
	ctx, s := testContext(t), open(t)
	base := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for i, sec := range []int{10, 20, 60} {
		m := store.Member{CallSid: fmt.Sprintf("CA%d", i), Node: "n", Enqueued: base.Add(time.Duration(sec) * time.Second)}
		if _, err := s.Queues.Push(ctx, "mean", m, 0); err != nil {
			t.Fatal(err)
		}
	}
	mean := func(want time.Time, what string) {
		t.Helper()
		info, err := s.Queues.Info(ctx, "mean")
		check(t, err, "Info")
		if !info.MeanEnqueued.Equal(want) {
			t.Errorf("%s: MeanEnqueued %v, want %v", what, info.MeanEnqueued, want)
		}
	}
	mean(base.Add(30*time.Second), "three members")
	_, err := s.Queues.Pop(ctx, "mean")
	check(t, err, "Pop")
	mean(base.Add(40*time.Second), "after a pop")
	_, err = s.Queues.Remove(ctx, "mean", "CA2")
	check(t, err, "Remove")
	mean(base.Add(20*time.Second), "after a removal")
	_, err = s.Queues.Pop(ctx, "mean")
	check(t, err, "Pop")
	mean(time.Time{}, "empty")
}
