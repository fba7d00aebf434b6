// Package storetest is the contract of the store package as a test suite:
// every implementation (store/memory, store/redis) runs it, so that a
// texml node behaves the same whichever store it shares state through.
//
// The suite is written against the documented behaviour in store.go, not
// against either implementation, and it includes the races that matter
// in production: agents dequeuing one queue at once, callers filling a
// queue or room with a limit at once.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/store"
)

// Run runs the whole contract against the store that open returns. open
// is called once per subtest and must return an empty store; the suite
// closes it.
func Run(t *testing.T, open func(t *testing.T) *store.Store) {
	fresh := func(t *testing.T) *store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	t.Run("Queues", func(t *testing.T) { testQueues(t, fresh) })
	t.Run("QueueMeanEnqueued", func(t *testing.T) { testQueueMeanEnqueued(t, fresh) })
	t.Run("QueueAdmin", func(t *testing.T) { testQueueAdmin(t, fresh) })
	t.Run("QueuesConcurrent", func(t *testing.T) { testQueuesConcurrent(t, fresh) })
	t.Run("Conferences", func(t *testing.T) { testConferences(t, fresh) })
	t.Run("ConferencesConcurrent", func(t *testing.T) { testConferencesConcurrent(t, fresh) })
	t.Run("ConferenceCallback", func(t *testing.T) { testConferenceCallback(t, fresh) })
	t.Run("Calls", func(t *testing.T) { testCalls(t, fresh) })
	t.Run("Nodes", func(t *testing.T) { testNodes(t, fresh) })
	t.Run("NodesExpire", func(t *testing.T) { testNodesExpire(t, fresh) })
	t.Run("NodeSecret", func(t *testing.T) { testNodeSecret(t, fresh) })
	t.Run("Bus", func(t *testing.T) { testBus(t, fresh) })
}

// opener is Run's open with the Close registered.
type opener = func(t *testing.T) *store.Store

var (
	queueSid      = regexp.MustCompile(`^QU[0-9a-f]{32}$`)
	conferenceSid = regexp.MustCompile(`^CF[0-9a-f]{32}$`)
)

// testContext bounds every store call of a test, so that a store that
// hangs fails the test instead of the whole run.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// check fails the test at once on an unexpected error.
func check(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr fails the test unless err wraps target.
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want one wrapping %v", what, err, target)
	}
}

// near reports whether got is within a few seconds of now: the store's
// clock (the Redis store's is the calling node's) stamps Seen and
// Created.
func near(got time.Time) bool {
	d := time.Since(got)
	return d > -5*time.Second && d < 5*time.Second
}

func testNodes(t *testing.T, open opener) {
	ctx, s := testContext(t), open(t)
	_, err := s.Nodes.Get(ctx, "node-a")
	wantErr(t, err, store.ErrNotFound, "Get of an unknown node")
	list, err := s.Nodes.List(ctx)
	check(t, err, "List")
	if len(list) != 0 {
		t.Fatalf("List of an empty store = %v", list)
	}
	check(t, s.Nodes.Heartbeat(ctx, store.Node{ID: "node-b", Addr: "10.0.0.2:5060"}, time.Hour), "Heartbeat")
	check(t, s.Nodes.Heartbeat(ctx, store.Node{ID: "node-a", Addr: "10.0.0.1:5060"}, time.Hour), "Heartbeat")
	n, err := s.Nodes.Get(ctx, "node-a")
	check(t, err, "Get")
	if n.ID != "node-a" || n.Addr != "10.0.0.1:5060" || !near(n.Seen) {
		t.Errorf("Get = %+v, want node-a at 10.0.0.1:5060 seen now", n)
	}
	list, err = s.Nodes.List(ctx)
	check(t, err, "List")
	if len(list) != 2 || list[0].ID != "node-a" || list[1].ID != "node-b" || list[1].Addr != "10.0.0.2:5060" {
		t.Errorf("List = %+v, want node-a then node-b", list)
	}
	// A heartbeat with a new address replaces the old one.
	check(t, s.Nodes.Heartbeat(ctx, store.Node{ID: "node-a", Addr: "10.0.0.9:5060"}, time.Hour), "Heartbeat")
	if n, _ := s.Nodes.Get(ctx, "node-a"); n.Addr != "10.0.0.9:5060" {
		t.Errorf("Addr after a new heartbeat = %q", n.Addr)
	}
	check(t, s.Nodes.Forget(ctx, "node-a"), "Forget")
	_, err = s.Nodes.Get(ctx, "node-a")
	wantErr(t, err, store.ErrNotFound, "Get after Forget")
	check(t, s.Nodes.Forget(ctx, "node-a"), "Forget of a forgotten node")
	list, _ = s.Nodes.List(ctx)
	if len(list) != 1 || list[0].ID != "node-b" {
		t.Errorf("List after Forget = %+v, want node-b alone", list)
	}
}

// testNodesExpire waits on the real clock (a store's clock is its own
// business): TTLs of a second keep it short, and Redis keeps key TTLs to
// the millisecond. Every wait is measured from the end of the call it
// follows, so that a slow machine makes the test longer, not flaky.
func testNodesExpire(t *testing.T, open opener) {
	ctx, s := testContext(t), open(t)
	const ttl = time.Second
	check(t, s.Nodes.Heartbeat(ctx, store.Node{ID: "lasting", Addr: "h:3"}, time.Hour), "Heartbeat")
	check(t, s.Nodes.Heartbeat(ctx, store.Node{ID: "stopped", Addr: "h:2"}, ttl), "Heartbeat")
	stopped := time.Now()
	// "beating" heartbeats every 200ms, as a node does well within its ttl.
	beatCtx, stopBeating := context.WithCancel(ctx)
	lastBeat := make(chan time.Time, 1)
	go func() {
		var last time.Time
		defer func() { lastBeat <- last }()
		for {
			if err := s.Nodes.Heartbeat(ctx, store.Node{ID: "beating", Addr: "h:1"}, ttl); err != nil {
				t.Errorf("Heartbeat: %v", err)
				return
			}
			last = time.Now()
			select {
			case <-beatCtx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	sleepUntil(stopped.Add(ttl + 300*time.Millisecond))
	if _, err := s.Nodes.Get(ctx, "stopped"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a node silent for longer than its ttl: error %v, want ErrNotFound", err)
	}
	if _, err := s.Nodes.Get(ctx, "beating"); err != nil {
		t.Errorf("Get of a node that heartbeats within its ttl: %v", err)
	}
	list, err := s.Nodes.List(ctx)
	check(t, err, "List")
	if ids := nodeIDs(list); ids != "[beating lasting]" {
		t.Errorf("List while beating heartbeats = %s, want [beating lasting]", ids)
	}
	stopBeating()
	sleepUntil((<-lastBeat).Add(ttl + 100*time.Millisecond))
	if _, err := s.Nodes.Get(ctx, "beating"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after the heartbeats stopped: error %v, want ErrNotFound", err)
	}
	list, err = s.Nodes.List(ctx)
	check(t, err, "List")
	if ids := nodeIDs(list); ids != "[lasting]" {
		t.Errorf("List after the heartbeats stopped = %s, want [lasting]", ids)
	}
}

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

func nodeIDs(list []store.Node) string {
	ids := make([]string, len(list))
	for i, n := range list {
		ids[i] = n.ID
	}
	return fmt.Sprint(ids)
}

// quiet is how long a test waits to see that a message does not arrive.
const quiet = 200 * time.Millisecond

func testBus(t *testing.T, open opener) {
	ctx, s := testContext(t), open(t)
	subCtx, unsubscribe := context.WithCancel(ctx)
	defer unsubscribe()
	a, err := s.Bus.Subscribe(subCtx, "node-a")
	check(t, err, "Subscribe node-a")
	b, err := s.Bus.Subscribe(subCtx, "node-b")
	check(t, err, "Subscribe node-b")

	sent := store.Message{Kind: "update", CallSid: "CA1", Room: "room", Body: []byte(`{"url":"http://x/y"}`)}
	check(t, s.Bus.Publish(ctx, "node-a", sent), "Publish")
	select {
	case got := <-a:
		if got.Kind != sent.Kind || got.CallSid != sent.CallSid || got.Room != sent.Room || !bytes.Equal(got.Body, sent.Body) {
			t.Errorf("received %+v, want %+v", got, sent)
		}
	case <-ctx.Done():
		t.Fatal("node-a received nothing")
	}
	select {
	case got := <-b:
		t.Errorf("node-b received %+v, published to node-a", got)
	case <-time.After(quiet):
	}

	// Messages to one node arrive in the order they were published.
	const n = 50
	for i := range n {
		check(t, s.Bus.Publish(ctx, "node-b", store.Message{Kind: "dequeue", CallSid: fmt.Sprint(i)}), "Publish")
	}
	for i := range n {
		select {
		case got := <-b:
			if got.CallSid != fmt.Sprint(i) {
				t.Fatalf("message %d has CallSid %q: out of order", i, got.CallSid)
			}
		case <-ctx.Done():
			t.Fatalf("node-b received %d of %d messages", i, n)
		}
	}

	// A message for a node that nobody listens to is no error, and is
	// not kept for a later subscriber.
	check(t, s.Bus.Publish(ctx, "node-c", store.Message{Kind: "lost"}), "Publish to a node without subscriber")
	c, err := s.Bus.Subscribe(subCtx, "node-c")
	check(t, err, "Subscribe node-c")
	select {
	case got := <-c:
		t.Errorf("node-c received %+v, published before it subscribed", got)
	case <-time.After(quiet):
	}

	// The end of the context closes every channel of the subscription.
	unsubscribe()
	for name, ch := range map[string]<-chan store.Message{"node-a": a, "node-b": b, "node-c": c} {
		select {
		case _, ok := <-ch:
			if ok {
				t.Errorf("%s received a message after its context ended", name)
			}
		case <-ctx.Done():
			t.Errorf("%s: channel still open after its context ended", name)
		}
	}
	// And a publish after that is not an error either.
	check(t, s.Bus.Publish(ctx, "node-a", sent), "Publish after the subscriber left")
}

// testNodeSecret: one key for every caller, however many ask at once.
func testNodeSecret(t *testing.T, open opener) {
	ctx, s := testContext(t), open(t)
	const n = 8
	keys := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := s.Nodes.Secret(ctx)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	if len(keys[0]) < 32 {
		t.Fatalf("Secret is %d bytes, want at least 32", len(keys[0]))
	}
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("Secret differs between callers")
		}
	}
}
