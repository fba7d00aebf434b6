package redisstore

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/texml/texml/internal/redistest"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/storetest"
)

// opener returns the suite's open for the Redis at url: each subtest
// starts from an empty Redis.
func opener(url string) func(t *testing.T) *store.Store {
	return func(t *testing.T) *store.Store {
		t.Helper()
		d, err := open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		if err := flush(t.Context(), d.rdb); err != nil {
			t.Fatal(err)
		}
		return d.store()
	}
}

func flush(ctx context.Context, rdb redis.UniversalClient) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.FlushAll(ctx).Err()
		})
	}
	return rdb.FlushAll(ctx).Err()
}

func TestContract(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, opener(srv.URL))
}

// TestContractCluster runs the suite on a one-node Cluster. Redis 7
// refuses a script that touches keys of two hash slots in cluster mode,
// even when one node serves both, so this checks that every script keeps
// to the slot of its hash tag, and that listings scan the primaries.
func TestContractCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the Cluster run is long for -short")
	}
	srv := redistest.Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	ctx := t.Context()
	c := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(srv.URL, "redis://")})
	defer c.Close()
	if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ok: %v %s", err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	url := strings.Replace(srv.URL, "redis://", "redis+cluster://", 1)
	storetest.Run(t, opener(url))
}

// TestRedisDown stops Redis under a store in use: calls fail within
// their context instead of hanging, and work again once Redis is back;
// so does a subscription made before.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	s, err := Open(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sub, err := s.Bus.Subscribe(ctx, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Queues.Push(ctx, "q", store.Member{CallSid: "CA1"}, 0); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	for name, op := range map[string]func(context.Context) error{
		"Push": func(ctx context.Context) error {
			_, err := s.Queues.Push(ctx, "q", store.Member{CallSid: "CA2"}, 0)
			return err
		},
		"Pop": func(ctx context.Context) error {
			_, err := s.Queues.Pop(ctx, "q")
			return err
		},
		"Join": func(ctx context.Context) error {
			_, _, err := s.Conferences.Join(ctx, "room", store.Participant{CallSid: "CA1"}, 0, time.Now())
			return err
		},
		"Publish": func(ctx context.Context) error {
			return s.Bus.Publish(ctx, "node-a", store.Message{Kind: "x"})
		},
	} {
		opCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		start := time.Now()
		err := op(opCtx)
		cancel()
		if err == nil {
			t.Errorf("%s with Redis down: no error", name)
		}
		for _, e := range []error{store.ErrNotFound, store.ErrQueueFull, store.ErrConferenceFull, store.ErrExists} {
			if errors.Is(err, e) {
				t.Errorf("%s with Redis down: %v, which claims an answer from the state", name, err)
			}
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s with Redis down took %v, past its 2s context", name, d)
		}
	}

	srv.Restart()
	// Redis persisted nothing: it comes back empty, and the store works.
	var pushErr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, pushErr = s.Queues.Push(ctx, "q", store.Member{CallSid: "CA3"}, 0); pushErr == nil {
			break
		}
	}
	if pushErr != nil {
		t.Fatalf("Push after Redis came back: %v", pushErr)
	}
	if m, err := s.Queues.Pop(ctx, "q"); err != nil || m.CallSid != "CA3" {
		t.Errorf("Pop after Redis came back = %+v, %v; want CA3", m, err)
	}
	// The subscription resubscribes by itself; what was published before
	// it did is lost, so publish until one arrives.
	got := false
	for deadline := time.Now().Add(10 * time.Second); !got && time.Now().Before(deadline); {
		if err := s.Bus.Publish(ctx, "node-a", store.Message{Kind: "back"}); err != nil {
			t.Fatalf("Publish after Redis came back: %v", err)
		}
		select {
		case m := <-sub:
			got = m.Kind == "back"
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !got {
		t.Error("the subscription made before Redis went down received nothing after it came back")
	}
}

func TestOpenRefused(t *testing.T) {
	// A port nobody listens on: Open fails at once, with the cause.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := Open(ctx, "redis://:secret@"+addr); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open of a closed port: %v; want an error without the password", err)
	}
}

func TestOpenPassword(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cr:t")
	ctx := t.Context()
	hostPort := strings.TrimPrefix(srv.URL, "redis://")
	if _, err := Open(ctx, srv.URL); err == nil {
		t.Error("Open without the password succeeded")
	}
	s, err := Open(ctx, "redis://:s3cr%3At@"+hostPort+"/2")
	if err != nil {
		t.Fatalf("Open with the password: %v", err)
	}
	defer s.Close()
	if err := s.Calls.Put(ctx, store.CallRecord{Sid: "CA1", AccountSid: "AC1", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// counter counts the round trips to Redis: one per command sent alone,
// one per pipeline.
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestRoundTrips holds the hot paths to one round trip each (once the
// scripts are in Redis's cache), and a calls' page to two.
func TestRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	d, err := open(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var c counter
	d.rdb.AddHook(&c)
	s := d.store()
	// Warm the script cache: the first run of each is EVALSHA, then EVAL.
	if _, err := s.Queues.Push(ctx, "warm", store.Member{CallSid: "CA0"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Queues.Remove(ctx, "warm", "CA0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Queues.Pop(ctx, "warm"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if _, _, err := s.Conferences.Join(ctx, "warm", store.Participant{CallSid: "CA0"}, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	call := store.CallRecord{Sid: "CA1", AccountSid: "AC1", Status: store.CallRinging, Created: time.Now()}
	if err := s.Calls.Put(ctx, store.CallRecord{Sid: "CA0", AccountSid: "AC1", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Calls.List(ctx, "AC1", 0, 1); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		op    func() error
		trips int64
	}{
		{"Push", func() error { _, err := s.Queues.Push(ctx, "q", store.Member{CallSid: "CA1"}, 10); return err }, 1},
		{"Pop", func() error { _, err := s.Queues.Pop(ctx, "q"); return err }, 1},
		{"Remove", func() error { _, err := s.Queues.Remove(ctx, "q", "CA1"); return err }, 1},
		{"Join", func() error {
			_, _, err := s.Conferences.Join(ctx, "room", store.Participant{CallSid: "CA1"}, 10, time.Now())
			return err
		}, 1},
		{"Calls.Put", func() error { return s.Calls.Put(ctx, call) }, 1},
		{"Calls.Put again", func() error { call.Status = store.CallCompleted; return s.Calls.Put(ctx, call) }, 1},
		{"Calls.Get", func() error { _, err := s.Calls.Get(ctx, "CA1"); return err }, 1},
		// The page of Sids, then the records.
		{"Calls.List", func() error { _, err := s.Calls.List(ctx, "AC1", 0, 51); return err }, 2},
		// The record, for its account; then the record and its entries.
		{"Calls.Delete", func() error { return s.Calls.Delete(ctx, "CA1") }, 2},
	} {
		before := c.n.Load()
		if err := tc.op(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n := c.n.Load() - before; n != tc.trips {
			t.Errorf("%s took %d round trips, want %d", tc.name, n, tc.trips)
		}
	}
}

func BenchmarkPushPop(b *testing.B) {
	srv := redistest.Start(b)
	ctx := b.Context()
	d, err := open(ctx, srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	var c counter
	d.rdb.AddHook(&c)
	s := d.store()
	m := store.Member{CallSid: "CA1", Node: "node-a", Enqueued: time.Now()}
	for b.Loop() {
		if _, err := s.Queues.Push(ctx, "q", m, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Queues.Pop(ctx, "q"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.n.Load())/float64(b.N), "roundtrips/op")
}

// A Pop run twice with one receipt (a retry after a lost reply) returns
// the same member and takes no other.
func TestPopRetryTakesOneMember(t *testing.T) {
	s := opener(redistest.Start(t).URL)(t)
	ctx := context.Background()
	for _, sid := range []string{"CA1", "CA2"} {
		if _, err := s.Queues.Push(ctx, "q", store.Member{CallSid: sid, Node: "n"}, 0); err != nil {
			t.Fatal(err)
		}
	}
	q := s.Queues.(queues)
	k := keysOfQueue("q")
	keys := append(k.all(), queueTag+"q}:pop:fixed")
	var got []string
	for range 2 {
		blob, err := popScript.Run(ctx, q.rdb, keys, popReceipt.Milliseconds()).Text()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, blob)
	}
	if got[0] != got[1] {
		t.Errorf("two runs of one Pop returned %q and %q", got[0], got[1])
	}
	if pos, size, _ := s.Queues.Position(ctx, "q", "CA2"); pos != 1 || size != 1 {
		t.Errorf("CA2 at %d of %d, want 1 of 1: the retry took a second member", pos, size)
	}
}
