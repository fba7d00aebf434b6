package tts

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counting wraps a Synthesizer and counts the syntheses that reach it.
type counting struct {
	next  Synthesizer
	calls atomic.Int64
}

func (c *counting) Synthesize(ctx context.Context, r Request) ([]int16, error) {
	c.calls.Add(1)
	return c.next.Synthesize(ctx, r)
}

// synthFunc adapts a function to Synthesizer, for the cache's own
// mechanics (eviction, cancellation) where espeak-ng adds nothing.
type synthFunc func(ctx context.Context, r Request) ([]int16, error)

func (f synthFunc) Synthesize(ctx context.Context, r Request) ([]int16, error) { return f(ctx, r) }

func TestCacheHitDoesNotRunEspeak(t *testing.T) {
	cnt := &counting{next: needEspeak(t)}
	c := NewCache(cnt, "espeak-ng", CacheOptions{})
	defer c.Close()
	r := Request{Text: "Welcome to texml", Voice: "Polly.Joanna"}

	start := time.Now()
	first, err := c.Synthesize(t.Context(), r)
	uncached := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	second, err := c.Synthesize(t.Context(), r)
	cached := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("uncached %v, cached %v", uncached, cached)
	if n := cnt.calls.Load(); n != 1 {
		t.Errorf("espeak-ng ran %d times, want 1", n)
	}
	if len(first) == 0 || &first[0] != &second[0] {
		t.Error("the hit did not return the cached samples")
	}
	if s := c.Stats(); s.Hits != 1 || s.Misses != 1 {
		t.Errorf("stats %+v, want 1 hit 1 miss", s)
	}
	// Any field that changes the audio is part of the key.
	for _, other := range []Request{
		{Text: r.Text, Voice: "Polly.Matthew"},
		{Text: r.Text, Voice: r.Voice, Language: "en-GB"},
		{SSML: r.Text, Voice: r.Voice},
	} {
		if _, err := c.Synthesize(t.Context(), other); err != nil {
			t.Fatal(err)
		}
	}
	if n := cnt.calls.Load(); n != 4 {
		t.Errorf("espeak-ng ran %d times for 4 distinct requests", n)
	}
}

func TestCacheConcurrentSynthesizeOnce(t *testing.T) {
	cnt := &counting{next: needEspeak(t)}
	c := NewCache(cnt, "espeak-ng", CacheOptions{})
	defer c.Close()
	r := Request{Text: "Please hold while we connect your call"}
	var wg sync.WaitGroup
	results := make([][]int16, 20)
	for i := range results {
		wg.Go(func() {
			s, err := c.Synthesize(t.Context(), r)
			if err != nil {
				t.Error(err)
			}
			results[i] = s
		})
	}
	wg.Wait()
	if n := cnt.calls.Load(); n != 1 {
		t.Errorf("espeak-ng ran %d times for 20 identical concurrent requests", n)
	}
	for i, s := range results {
		if len(s) == 0 || len(s) != len(results[0]) {
			t.Errorf("caller %d got %d samples", i, len(s))
		}
	}
}

func TestCacheDisk(t *testing.T) {
	dir := t.TempDir()
	cnt := &counting{next: needEspeak(t)}
	r := Request{Text: "Goodbye"}
	c1 := NewCache(cnt, "espeak-ng", CacheOptions{Dir: dir})
	want, err := c1.Synthesize(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	c1.Close() // waits for the disk write

	// A new cache (a restart) finds the prompt on disk.
	c2 := NewCache(cnt, "espeak-ng", CacheOptions{Dir: dir})
	defer c2.Close()
	got, err := c2.Synthesize(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if n := cnt.calls.Load(); n != 1 {
		t.Errorf("espeak-ng ran %d times, want 1", n)
	}
	if s := c2.Stats(); s.DiskHits != 1 {
		t.Errorf("stats %+v, want a disk hit", s)
	}
	if len(got) != len(want) {
		t.Fatalf("disk gave %d samples, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("sample %d differs", i)
		}
	}
	// Another engine sharing the directory does not see it.
	c3 := NewCache(cnt, "other-engine", CacheOptions{Dir: dir})
	defer c3.Close()
	if _, err := c3.Synthesize(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if n := cnt.calls.Load(); n != 2 {
		t.Errorf("engines shared a cache entry")
	}
}

func TestCacheEvictsByBytes(t *testing.T) {
	var calls atomic.Int64
	s := synthFunc(func(_ context.Context, r Request) ([]int16, error) {
		calls.Add(1)
		return make([]int16, 1000), nil // 2000 bytes + overhead
	})
	c := NewCache(s, "fake", CacheOptions{MaxBytes: 3 * (2000 + entryOverhead)})
	defer c.Close()
	ctx := t.Context()
	for _, text := range []string{"a", "b", "c", "a", "d", "a", "b"} {
		if _, err := c.Synthesize(ctx, Request{Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	// a b c fill it; a hits; d evicts b (least recent); a hits; b misses.
	if n := calls.Load(); n != 5 {
		t.Errorf("%d syntheses, want 5", n)
	}
	if c.bytes > c.maxBytes {
		t.Errorf("holding %d bytes, limit %d", c.bytes, c.maxBytes)
	}
}

func TestCacheErrorsNotCached(t *testing.T) {
	var calls atomic.Int64
	s := synthFunc(func(context.Context, Request) ([]int16, error) {
		calls.Add(1)
		return nil, errors.New("engine down")
	})
	c := NewCache(s, "fake", CacheOptions{})
	defer c.Close()
	for range 2 {
		if _, err := c.Synthesize(t.Context(), Request{Text: "x"}); err == nil {
			t.Fatal("error swallowed")
		}
	}
	if calls.Load() != 2 {
		t.Errorf("a failure was cached")
	}
}

func TestCacheCancelOneWaiter(t *testing.T) {
	release := make(chan struct{})
	var cancelled atomic.Bool
	s := synthFunc(func(ctx context.Context, _ Request) ([]int16, error) {
		select {
		case <-release:
			return []int16{1, 2, 3}, nil
		case <-ctx.Done():
			cancelled.Store(true)
			return nil, ctx.Err()
		}
	})
	c := NewCache(s, "fake", CacheOptions{})
	defer c.Close()
	r := Request{Text: "x"}

	ctx1, cancel1 := context.WithCancel(t.Context())
	err1 := make(chan error, 1)
	go func() { _, err := c.Synthesize(ctx1, r); err1 <- err }()
	res2 := make(chan []int16, 1)
	go func() { s, _ := c.Synthesize(t.Context(), r); res2 <- s }()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.flights) == 1 && firstFlight(c).waiters == 2
	})

	cancel1()
	if err := <-err1; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter got %v", err)
	}
	if cancelled.Load() {
		t.Fatal("synthesis cancelled while another caller waits")
	}
	close(release)
	if s := <-res2; len(s) != 3 {
		t.Errorf("remaining waiter got %v", s)
	}
}

func TestCacheCancelLastWaiterStopsSynthesis(t *testing.T) {
	stopped := make(chan struct{})
	s := synthFunc(func(ctx context.Context, _ Request) ([]int16, error) {
		<-ctx.Done()
		close(stopped)
		return nil, ctx.Err()
	})
	c := NewCache(s, "fake", CacheOptions{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Synthesize(ctx, Request{Text: "x"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("abandoned synthesis kept running")
	}
}

func TestCacheClosed(t *testing.T) {
	c := NewCache(synthFunc(func(context.Context, Request) ([]int16, error) { return nil, nil }), "fake", CacheOptions{})
	c.Close()
	c.Close()
	if _, err := c.Synthesize(t.Context(), Request{Text: "x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("err = %v, want ErrClosed", err)
	}
}

func firstFlight(c *Cache) *flight {
	for _, f := range c.flights {
		return f
	}
	return nil
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkCacheHit measures a cached prompt's Synthesize: the time from
// a <Say> starting to its audio being ready, which must be far below the
// 20 ms first-packet budget.
func BenchmarkCacheHit(b *testing.B) {
	c := NewCache(needEspeak(b), "espeak-ng", CacheOptions{})
	defer c.Close()
	r := Request{Text: "Thank you for calling. For sales, press 1. For support, press 2.", Voice: "Polly.Joanna"}
	if _, err := c.Synthesize(b.Context(), r); err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Synthesize(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEspeakUncached measures one espeak-ng synthesis of the same
// prompt, for comparison.
func BenchmarkEspeakUncached(b *testing.B) {
	e := needEspeak(b)
	r := Request{Text: "Thank you for calling. For sales, press 1. For support, press 2.", Voice: "Polly.Joanna"}
	for b.Loop() {
		if _, err := e.Synthesize(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
}
