// Package memory is the default store: the shared state of one texml
// node, held in the process and lost when it exits. It needs nothing to
// run and passes the same contract suite (store/storetest) as the Redis
// store, so a single node behaves as one node of a cluster would.
//
// Every part holds its state behind its own mutex; no call blocks on
// anything but that mutex, except the Bus, which waits for its context.
package memory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/texml/texml/store"
)

// Option configures a memory store.
type Option func(*config)

type config struct {
	now      func() time.Time
	maxCalls int
}

// DefaultMaxCallRecords is how many call records a memory store keeps at
// most (WithMaxCallRecords): some 80 MB, a day of calls at one a second
// and more than an hour at 20 a second.
const DefaultMaxCallRecords = 100_000

// WithMaxCallRecords bounds the call records the store keeps: beyond n,
// the records that would expire first (the calls that ended first) are
// dropped before their store.Retention is up, so that a busy process
// does not grow without bound. n <= 0 keeps the default.
func WithMaxCallRecords(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxCalls = n
		}
	}
}

// WithClock makes the store read the time from now instead of time.Now,
// so that tests can expire nodes and call records without sleeping.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// New returns an empty in-process store.
func New(opts ...Option) *store.Store {
	c := config{now: time.Now, maxCalls: DefaultMaxCallRecords}
	for _, o := range opts {
		o(&c)
	}
	return &store.Store{
		Queues:      &queues{now: c.now, byName: map[string]*queue{}},
		Conferences: &conferences{active: map[string]*store.Conference{}, bySid: map[string]*store.Conference{}},
		Calls:       newCalls(c.now, c.maxCalls),
		Nodes:       &nodes{now: c.now, live: map[string]node{}},
		Bus:         &bus{subs: map[string]map[*subscriber]struct{}{}},
		Closer:      closer{},
	}
}

// closer closes nothing: the state goes with the process.
type closer struct{}

func (closer) Close() error { return nil }

// newSid returns prefix and 32 random hex digits, the form of Twilio's
// resource Sids.
func newSid(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	return prefix + hex.EncodeToString(b[:])
}

type queue struct {
	info    store.QueueInfo // Size is kept as len(members)
	members []store.Member
}

type queues struct {
	now    func() time.Time
	mu     sync.Mutex
	byName map[string]*queue
}

func (q *queues) Push(_ context.Context, name string, m store.Member, max int) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qu := q.byName[name]
	if qu != nil {
		if slices.ContainsFunc(qu.members, func(x store.Member) bool { return x.CallSid == m.CallSid }) {
			return 0, fmt.Errorf("queue %q: call %s: %w", name, m.CallSid, store.ErrExists)
		}
		limit := qu.info.MaxSize
		if max > 0 {
			limit = max
		}
		if limit > 0 && len(qu.members) >= limit {
			return 0, fmt.Errorf("queue %q: %d of %d: %w", name, len(qu.members), limit, store.ErrQueueFull)
		}
	} else {
		qu = q.newQueue(name, 0)
	}
	if max > 0 {
		qu.info.MaxSize = max
	}
	if m.Enqueued.IsZero() {
		m.Enqueued = q.now()
	}
	qu.members = append(qu.members, m)
	return len(qu.members), nil
}

// newQueue adds an empty queue; q.mu is held.
func (q *queues) newQueue(name string, max int) *queue {
	if max <= 0 {
		max = store.DefaultQueueSize
	}
	qu := &queue{info: store.QueueInfo{Name: name, Sid: newSid("QU"), Created: q.now(), MaxSize: max}}
	q.byName[name] = qu
	return qu
}

func (q *queues) Create(_ context.Context, name string, max int) (store.QueueInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.byName[name] != nil {
		return store.QueueInfo{}, fmt.Errorf("queue %q: %w", name, store.ErrExists)
	}
	return q.newQueue(name, max).describe(), nil
}

func (q *queues) SetMax(_ context.Context, name string, max int) (store.QueueInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qu := q.byName[name]
	if qu == nil {
		return store.QueueInfo{}, fmt.Errorf("queue %q: %w", name, store.ErrNotFound)
	}
	if max > 0 {
		qu.info.MaxSize = max
	}
	return qu.describe(), nil
}

func (q *queues) Rename(_ context.Context, name, to string) (store.QueueInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qu := q.byName[name]
	switch {
	case qu == nil:
		return store.QueueInfo{}, fmt.Errorf("queue %q: %w", name, store.ErrNotFound)
	case name == to:
		return qu.describe(), nil
	case len(qu.members) > 0:
		return store.QueueInfo{}, fmt.Errorf("queue %q: %d members: %w", name, len(qu.members), store.ErrNotEmpty)
	case q.byName[to] != nil:
		return store.QueueInfo{}, fmt.Errorf("queue %q: %w", to, store.ErrExists)
	}
	delete(q.byName, name)
	qu.info.Name = to
	q.byName[to] = qu
	return qu.describe(), nil
}

func (q *queues) Delete(_ context.Context, name string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	qu := q.byName[name]
	switch {
	case qu == nil:
		return fmt.Errorf("queue %q: %w", name, store.ErrNotFound)
	case len(qu.members) > 0:
		return fmt.Errorf("queue %q: %d members: %w", name, len(qu.members), store.ErrNotEmpty)
	}
	delete(q.byName, name)
	return nil
}

func (q *queues) Pop(_ context.Context, name string) (store.Member, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qu := q.byName[name]
	if qu == nil || len(qu.members) == 0 {
		return store.Member{}, fmt.Errorf("queue %q: empty: %w", name, store.ErrNotFound)
	}
	m := qu.members[0]
	qu.members = slices.Delete(qu.members, 0, 1)
	return m, nil
}

func (q *queues) Remove(_ context.Context, name, callSid string) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qu := q.byName[name]
	if qu == nil {
		return false, nil
	}
	i := slices.IndexFunc(qu.members, func(x store.Member) bool { return x.CallSid == callSid })
	if i < 0 {
		return false, nil
	}
	qu.members = slices.Delete(qu.members, i, i+1)
	return true, nil
}

func (q *queues) Position(_ context.Context, name, callSid string) (int, int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qu := q.byName[name]
	if qu == nil {
		return 0, 0, nil
	}
	i := slices.IndexFunc(qu.members, func(x store.Member) bool { return x.CallSid == callSid })
	return i + 1, len(qu.members), nil
}

func (q *queues) Members(_ context.Context, name string) ([]store.Member, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qu := q.byName[name]; qu != nil {
		return slices.Clone(qu.members), nil
	}
	return nil, nil
}

func (q *queues) Info(_ context.Context, name string) (store.QueueInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qu := q.byName[name]
	if qu == nil {
		return store.QueueInfo{}, fmt.Errorf("queue %q: %w", name, store.ErrNotFound)
	}
	return qu.describe(), nil
}

func (q *queues) List(context.Context) ([]store.QueueInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	list := make([]store.QueueInfo, 0, len(q.byName))
	for _, qu := range q.byName {
		list = append(list, qu.describe())
	}
	slices.SortFunc(list, func(a, b store.QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	return list, nil
}

func (qu *queue) describe() store.QueueInfo {
	info := qu.info
	info.Size = len(qu.members)
	if n := len(qu.members); n > 0 {
		var sum int64 // Unix milliseconds, as Redis keeps them
		for _, m := range qu.members {
			sum += m.Enqueued.UnixMilli()
		}
		info.MeanEnqueued = time.UnixMilli(sum / int64(n))
	}
	return info
}

type node struct {
	store.Node
	expires time.Time
}

type nodes struct {
	now    func() time.Time
	mu     sync.Mutex
	live   map[string]node
	secret []byte
}

func (ns *nodes) Secret(context.Context) ([]byte, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.secret == nil {
		ns.secret = make([]byte, 32)
		_, _ = rand.Read(ns.secret) // crypto/rand.Read never fails on supported platforms
	}
	return ns.secret, nil
}

func (ns *nodes) Heartbeat(_ context.Context, n store.Node, ttl time.Duration) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	now := ns.now()
	n.Seen = now
	ns.live[n.ID] = node{Node: n, expires: now.Add(ttl)}
	return nil
}

func (ns *nodes) Get(_ context.Context, id string) (store.Node, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	n, ok := ns.live[id]
	if !ok || !ns.now().Before(n.expires) {
		return store.Node{}, fmt.Errorf("node %s: %w", id, store.ErrNotFound)
	}
	return n.Node, nil
}

func (ns *nodes) List(context.Context) ([]store.Node, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	now := ns.now()
	var list []store.Node
	for id, n := range ns.live {
		if !now.Before(n.expires) {
			// Dropped here, as Redis drops an expired key, so that a
			// node that is gone for good does not stay in the map.
			delete(ns.live, id)
			continue
		}
		list = append(list, n.Node)
	}
	slices.SortFunc(list, func(a, b store.Node) int { return strings.Compare(a.ID, b.ID) })
	return list, nil
}

func (ns *nodes) Forget(_ context.Context, id string) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	delete(ns.live, id)
	return nil
}
