package audio

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/texml/texml/fetcher"
)

// Fetcher is the part of *fetcher.Fetcher the Cache uses.
type Fetcher interface {
	Fetch(ctx context.Context, r fetcher.Request) (*fetcher.Response, error)
}

var _ Fetcher = (*fetcher.Fetcher)(nil)

// Defaults for CacheOptions.
const (
	DefaultCacheMaxBytes = 64 << 20
	DefaultCacheDiskMax  = 1 << 30
)

// CacheOptions configure a Cache; zero values take the defaults.
type CacheOptions struct {
	// MaxBytes bounds the decoded audio held in memory [64 MiB]. Entries
	// are dropped least recently used first; one larger than the bound is
	// not kept in memory at all.
	MaxBytes int64
	// Dir, when set, also keeps decoded audio on disk, in files named by
	// the SHA-256 of the URL, so a restart needs neither a download nor a
	// decode for audio that is still fresh, and only a revalidation for
	// audio that is not. "" keeps memory only.
	Dir string
	// MaxDiskBytes bounds the files in Dir [1 GiB], least recently used
	// dropped first.
	MaxDiskBytes int64
	// Now is the clock for freshness [time.Now].
	Now func() time.Time
}

// CacheStats are counters since the Cache was made. Every Get that does
// not give up on its context adds one to exactly one of Hits, Misses and
// Revalidated.
type CacheStats struct {
	Hits        int64 // answered from memory or disk without a request
	Misses      int64 // needed a full fetch (or failed)
	Revalidated int64 // a request confirmed the cached audio: 304, or an identical body
	Bytes       int64 // decoded audio in memory
	Entries     int64 // entries in memory
	Evictions   int64 // entries dropped from memory for space
	DiskHits    int64 // the part of Hits served from Dir
	DiskBytes   int64 // size of the files in Dir
	DiskErrors  int64 // failed disk reads and writes; the Cache carries on without them
}

// Cache fetches and decodes audio once and serves it to every call that
// plays it. It honours Cache-Control (max-age, s-maxage, no-cache,
// no-store), Expires and Age, and revalidates with If-None-Match and
// If-Modified-Since, so a 304 keeps the decoded audio. Concurrent Gets for
// one URL share a single fetch. A Cache is safe for concurrent use.
type Cache struct {
	f      Fetcher
	max    int64
	now    func() time.Time
	disk   *diskStore // nil without Dir
	wg     sync.WaitGroup
	mu     sync.Mutex
	items  map[string]*entry
	lru    *list.List // of *entry, most recent first
	flight map[string]*fill
	stats  CacheStats
}

// entry is one cached URL. Its fields other than elem are immutable once
// the entry is in the map: a 304 replaces the entry rather than edit it,
// so readers need no lock after lookup.
type entry struct {
	url      string
	pcm      *PCM
	policy   cachePolicy
	bodyHash [sha256.Size]byte // detects an unchanged body when there are no validators
	expires  time.Time         // fresh before this instant
	elem     *list.Element
}

// size is what the entry counts against MaxBytes: the samples plus a
// rough allowance for the bookkeeping.
func (e *entry) size() int64 { return 2*int64(len(e.pcm.Samples)) + int64(len(e.url)) + 256 }

// fresh reports whether e may be served without asking the server.
func (e *entry) fresh(now time.Time) bool { return !e.policy.noCache && now.Before(e.expires) }

// outcome says how a fill was answered, for the stats.
type outcome int

const (
	outMiss outcome = iota
	outHit
	outDiskHit
	outRevalidated
)

// fill is one fetch in flight, shared by every Get for its URL.
type fill struct {
	done chan struct{}
	pcm  *PCM
	err  error
	out  outcome
}

// NewCache builds a Cache that fetches through f.
func NewCache(f Fetcher, o CacheOptions) *Cache {
	c := &Cache{
		f:      f,
		max:    o.MaxBytes,
		now:    o.Now,
		items:  make(map[string]*entry),
		lru:    list.New(),
		flight: make(map[string]*fill),
	}
	if c.max <= 0 {
		c.max = DefaultCacheMaxBytes
	}
	if c.now == nil {
		c.now = time.Now
	}
	if o.Dir != "" {
		limit := o.MaxDiskBytes
		if limit <= 0 {
			limit = DefaultCacheDiskMax
		}
		c.disk = openDiskStore(o.Dir, limit, c.now)
	}
	return c
}

// Get returns the decoded audio at url. Errors are the fetcher's
// *fetcher.Error as is, or for a body that is not playable audio an error
// wrapping ErrNotAudio or ErrUnsupported. If ctx ends first Get returns
// its cause, but the fetch goes on for the other callers and the cache.
func (c *Cache) Get(ctx context.Context, url string) (*PCM, error) {
	if url == HoldMusicURL {
		return HoldMusic(), nil
	}
	now := c.now()
	c.mu.Lock()
	if e := c.items[url]; e != nil && e.fresh(now) {
		c.lru.MoveToFront(e.elem)
		c.stats.Hits++
		c.mu.Unlock()
		return e.pcm, nil
	}
	fl := c.flight[url]
	if fl == nil {
		fl = &fill{done: make(chan struct{})}
		c.flight[url] = fl
		stale := c.items[url]
		c.wg.Add(1)
		// The fetch must outlive this caller: others may be waiting, and
		// a hung-up call should still leave the audio cached for the next.
		// The fetcher's own total timeout bounds it.
		go c.run(context.WithoutCancel(ctx), url, stale, fl)
	}
	c.mu.Unlock()

	select {
	case <-fl.done:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	c.mu.Lock()
	switch fl.out {
	case outHit:
		c.stats.Hits++
	case outDiskHit:
		c.stats.Hits++
		c.stats.DiskHits++
	case outRevalidated:
		c.stats.Revalidated++
	default:
		c.stats.Misses++
	}
	c.mu.Unlock()
	return fl.pcm, fl.err
}

// run performs one fill and publishes its result.
func (c *Cache) run(ctx context.Context, url string, stale *entry, fl *fill) {
	defer c.wg.Done()
	fl.pcm, fl.out, fl.err = c.load(ctx, url, stale)
	c.mu.Lock()
	delete(c.flight, url)
	c.mu.Unlock()
	close(fl.done)
}

// load finds url on disk or fetches it, revalidating stale when it can.
func (c *Cache) load(ctx context.Context, url string, stale *entry) (*PCM, outcome, error) {
	now := c.now()
	if stale == nil && c.disk != nil {
		if e := c.disk.load(url); e != nil {
			if e.fresh(now) {
				c.insert(e, false)
				return e.pcm, outDiskHit, nil
			}
			stale = e
		}
	}
	req := fetcher.Request{URL: url, Method: http.MethodGet}
	if stale != nil && stale.policy.validators() {
		req.Header = http.Header{}
		if stale.policy.etag != "" {
			req.Header.Set("If-None-Match", stale.policy.etag)
		}
		if stale.policy.lastModified != "" {
			req.Header.Set("If-Modified-Since", stale.policy.lastModified)
		}
	}
	res, err := c.f.Fetch(ctx, req)
	now = c.now()
	if err != nil {
		var fe *fetcher.Error
		if stale != nil && errors.As(err, &fe) && fe.Status == http.StatusNotModified {
			// The fetcher reports a 304 as an error without its headers,
			// so the freshness of the original response is reused.
			return c.refresh(stale, stale.policy, now), outRevalidated, nil
		}
		return nil, outMiss, err
	}
	policy := parseCachePolicy(res.Header, now)
	hash := sha256.Sum256(res.Body)
	if stale != nil && bytes.Equal(hash[:], stale.bodyHash[:]) {
		// Same bytes as before: skip the decode (an MP3 takes far longer
		// to decode than a local file takes to read).
		if policy.noStore {
			c.remove(url)
			return stale.pcm, outRevalidated, nil
		}
		return c.refresh(stale, policy, now), outRevalidated, nil
	}
	pcm, err := Decode(res.Body, res.ContentType)
	if err != nil {
		return nil, outMiss, fmt.Errorf("audio %s: %w", url, err)
	}
	if policy.noStore {
		c.remove(url)
		return pcm, outMiss, nil
	}
	e := &entry{url: url, pcm: pcm, policy: policy, bodyHash: hash, expires: expiry(policy, now)}
	c.insert(e, true)
	return pcm, outMiss, nil
}

// refresh replaces stale by a copy with new freshness, stores it, and
// returns its audio.
func (c *Cache) refresh(stale *entry, p cachePolicy, now time.Time) *PCM {
	// A 304 may omit validators it does not change (RFC 9111 section 4.3.4).
	if p.etag == "" {
		p.etag = stale.policy.etag
	}
	if p.lastModified == "" {
		p.lastModified = stale.policy.lastModified
	}
	e := &entry{url: stale.url, pcm: stale.pcm, policy: p, bodyHash: stale.bodyHash, expires: expiry(p, now)}
	c.insert(e, true)
	return e.pcm
}

// expiry is the instant a response received at now stops being fresh.
func expiry(p cachePolicy, now time.Time) time.Time {
	return now.Add(p.lifetime - p.age)
}

// insert puts e in memory, replacing any entry for its URL, evicts to
// fit, and when persist is set writes it to disk.
func (c *Cache) insert(e *entry, persist bool) {
	c.mu.Lock()
	if old := c.items[e.url]; old != nil {
		c.unlink(old)
	}
	if e.size() <= c.max {
		e.elem = c.lru.PushFront(e)
		c.items[e.url] = e
		c.stats.Bytes += e.size()
		c.stats.Entries++
		for c.stats.Bytes > c.max {
			victim := c.lru.Back().Value.(*entry)
			c.unlink(victim)
			c.stats.Evictions++
		}
	}
	c.mu.Unlock()
	if persist && c.disk != nil {
		c.disk.store(e)
	}
}

// unlink drops e from memory; c.mu must be held.
func (c *Cache) unlink(e *entry) {
	c.lru.Remove(e.elem)
	delete(c.items, e.url)
	c.stats.Bytes -= e.size()
	c.stats.Entries--
}

// remove forgets url in memory and on disk, for a response that now says
// no-store.
func (c *Cache) remove(url string) {
	c.mu.Lock()
	if e := c.items[url]; e != nil {
		c.unlink(e)
	}
	c.mu.Unlock()
	if c.disk != nil {
		c.disk.remove(url)
	}
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	if c.disk != nil {
		s.DiskBytes, s.DiskErrors = c.disk.stats()
	}
	return s
}

// Close waits for the fetches that Gets started in the background to
// finish. The Cache must not be used afterwards.
func (c *Cache) Close() error {
	c.wg.Wait()
	return nil
}
