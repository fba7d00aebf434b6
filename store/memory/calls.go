package memory

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/texml/texml/store"
)

// calls keeps every record by Sid, an index per account in listing
// order, and a heap of expiry times, all behind one mutex. Expired
// records are dropped lazily, on Put and List, by popping the heap: no
// goroutine sweeps, and an idle store costs nothing.
type calls struct {
	now       func() time.Time
	max       int // records kept at most (WithMaxCallRecords)
	mu        sync.Mutex
	bySid     map[string]*callEntry
	byAccount map[string]*callIndex
	expiries  expiryHeap
}

func newCalls(now func() time.Time, max int) *calls {
	return &calls{now: now, max: max, bySid: map[string]*callEntry{}, byAccount: map[string]*callIndex{}}
}

type callEntry struct {
	rec     store.CallRecord
	key     callKey
	expires time.Time // store.CallExpires at the last Put
}

// callKey orders an account's calls: Created to the microsecond, as the
// Redis store's index scores it, then Sid.
type callKey struct {
	created int64 // Unix microseconds
	sid     string
}

func keyOf(r store.CallRecord) callKey {
	return callKey{created: r.Created.UnixMicro(), sid: r.Sid}
}

func compareKeys(a, b callKey) int {
	if a.created != b.created {
		if a.created < b.created {
			return -1
		}
		return 1
	}
	return strings.Compare(a.sid, b.sid)
}

func (c *calls) Put(_ context.Context, r store.CallRecord) error {
	if r.Sid == "" || r.Created.IsZero() {
		return fmt.Errorf("call %q: %w", r.Sid, errIncomplete)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	exp := store.CallExpires(r, now)
	old := c.bySid[r.Sid]
	if !now.Before(exp) {
		// Already past its retention: dropped at once, as Redis drops a
		// key SET with an expiry in the past.
		if old != nil {
			c.unindex(old)
			delete(c.bySid, r.Sid)
		}
		c.purge(now)
		return nil
	}
	scheduled := old != nil && old.expires.Equal(exp)
	e := &callEntry{rec: r, key: keyOf(r), expires: exp}
	if old != nil && old.key == e.key && old.rec.AccountSid == r.AccountSid {
		// The usual update (ringing → in-progress → completed): the
		// record keeps its place in the index.
		*old = *e
	} else {
		if old != nil {
			c.unindex(old)
		}
		c.bySid[r.Sid] = e
		x := c.byAccount[r.AccountSid]
		if x == nil {
			x = &callIndex{}
			c.byAccount[r.AccountSid] = x
		}
		x.insert(e.key)
	}
	// A Put that keeps the expiry (ringing → in-progress) adds nothing
	// to the heap; a changed one leaves the old entry, which purge
	// skips.
	if !scheduled {
		heap.Push(&c.expiries, expiry{at: exp, sid: r.Sid})
	}
	c.purge(now)
	return nil
}

// errIncomplete refuses a record that cannot be stored: without a Sid
// it has no key, without Created no place in its account's listing.
var errIncomplete = errors.New("store: call record without Sid or Created")

func (c *calls) Get(_ context.Context, sid string) (store.CallRecord, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Get does not purge, so it checks the expiry itself.
	e := c.bySid[sid]
	if e == nil || !c.now().Before(e.expires) {
		return store.CallRecord{}, fmt.Errorf("call %s: %w", sid, store.ErrNotFound)
	}
	return e.rec, nil
}

func (c *calls) List(_ context.Context, account string, offset, limit int) ([]store.CallRecord, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.purge(c.now())
	x := c.byAccount[account]
	if x == nil {
		return nil, nil
	}
	keys := x.keys[x.head:]
	// keys are oldest first: the page is read backwards from the end.
	last := len(keys) - 1 - max(offset, 0)
	n := last + 1
	if limit > 0 {
		n = min(n, limit)
	}
	if n <= 0 {
		return nil, nil
	}
	list := make([]store.CallRecord, n)
	for i := range list {
		list[i] = c.bySid[keys[last-i].sid].rec
	}
	return list, nil
}

func (c *calls) Delete(_ context.Context, sid string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.bySid[sid]; e != nil {
		c.unindex(e)
		delete(c.bySid, sid)
	}
	// The heap's entry stays until its time; purge skips it then.
	return nil
}

// unindex takes e out of its account's index.
func (c *calls) unindex(e *callEntry) {
	x := c.byAccount[e.rec.AccountSid]
	if x == nil {
		return
	}
	x.remove(e.key)
	if x.len() == 0 {
		delete(c.byAccount, e.rec.AccountSid)
	}
}

// purge drops the records whose time is up. A heap entry that no longer
// matches its record (the record was Put again with another expiry, or
// deleted) is skipped.
func (c *calls) purge(now time.Time) {
	// Past the bound, the records due first go early: ended calls expire
	// a day after their end, calls in progress hours later, so these
	// are the calls that ended first.
	for len(c.expiries) > 0 && (!now.Before(c.expiries[0].at) || c.max > 0 && len(c.bySid) > c.max) {
		top := heap.Pop(&c.expiries).(expiry)
		e := c.bySid[top.sid]
		if e == nil || !e.expires.Equal(top.at) {
			continue
		}
		c.unindex(e)
		delete(c.bySid, top.sid)
	}
}

// callIndex is one account's keys, oldest first, in keys[head:]. New
// calls arrive at the back, nearly always after the last key (Created is
// the INVITE or the API request, which come in time order), so insert
// appends; the oldest calls expire first, so remove takes a key near the
// front by moving the keys before it up one place and head past the
// hole. Both common changes are thus O(1) after an O(log n) search.
type callIndex struct {
	keys []callKey
	head int
}

func (x *callIndex) len() int { return len(x.keys) - x.head }

func (x *callIndex) insert(k callKey) {
	live := x.keys[x.head:]
	if n := len(live); n == 0 || compareKeys(live[n-1], k) < 0 {
		x.keys = append(x.keys, k)
		return
	}
	i, found := slices.BinarySearchFunc(live, k, compareKeys)
	if found {
		return
	}
	x.keys = slices.Insert(x.keys, x.head+i, k)
}

func (x *callIndex) remove(k callKey) {
	live := x.keys[x.head:]
	i, found := slices.BinarySearchFunc(live, k, compareKeys)
	if !found {
		return
	}
	// Move whichever side of the hole is shorter.
	if i < len(live)/2 {
		copy(live[1:i+1], live[:i])
		live[0] = callKey{} // drop the Sid for the collector
		x.head++
	} else {
		x.keys = slices.Delete(x.keys, x.head+i, x.head+i+1)
	}
	// Reclaim the dead front once it is half the slice: amortized O(1).
	if x.head > 0 && x.head >= len(x.keys)/2 {
		n := copy(x.keys, x.keys[x.head:])
		clear(x.keys[n:])
		x.keys = x.keys[:n]
		x.head = 0
	}
}

// expiry is when the record with sid is due to go.
type expiry struct {
	at  time.Time
	sid string
}

// expiryHeap is a min-heap of expiries (container/heap).
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = expiry{}
	*h = old[:len(old)-1]
	return x
}
