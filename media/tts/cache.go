package tts

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
)

// DefaultCacheBytes is CacheOptions.MaxBytes's default: 64 MiB of
// samples, about 70 minutes of 8 kHz audio, far more prompts than a
// typical set of voice apps speaks.
const DefaultCacheBytes = 64 << 20

// entryOverhead approximates what an entry costs beyond its samples (list
// element, map slot, key), so that many tiny prompts are bounded too.
const entryOverhead = 128

// ErrClosed is returned by a Cache's Synthesize after Close.
var ErrClosed = errors.New("tts cache closed")

// CacheOptions configure a Cache; zero values take the defaults.
type CacheOptions struct {
	// MaxBytes bounds the memory the cached audio takes; the least
	// recently used prompts are dropped first. Default DefaultCacheBytes.
	MaxBytes int64
	// Dir, when set, also keeps every synthesized prompt on disk, so that
	// prompts survive a restart and a memory eviction costs a file read
	// rather than a synthesis. The directory is created if missing; its
	// files are named by a hash of the request and are not pruned.
	Dir string
	// Logger receives disk errors, which never fail a synthesis; nil
	// discards them.
	Logger *slog.Logger
}

// CacheStats are counters since the Cache was made.
type CacheStats struct {
	// Hits counts requests answered without running the engine: from
	// memory, from disk, or by joining an identical synthesis already
	// running.
	Hits int64
	// Misses counts syntheses the engine ran.
	Misses int64
	// DiskHits counts the Hits that read the disk.
	DiskHits int64
}

// Cache is a Synthesizer that remembers what another one produced, keyed
// by (engine, voice, language, text, SSML), so that a prompt an app says
// again is ready at once: the media engine must send the first packet of
// a cached prompt within 20 ms of the verb starting.
// Identical requests that arrive while one is being synthesized share
// that synthesis. Failures are not cached.
//
// The samples a Cache returns are shared by every caller that asks for
// the same prompt: treat them as read-only.
type Cache struct {
	next     Synthesizer
	engine   string
	maxBytes int64
	disk     *diskCache
	log      *slog.Logger

	mu      sync.Mutex
	lru     list.List // of *cacheEntry, most recently used first
	entries map[cacheKey]*list.Element
	bytes   int64
	flights map[cacheKey]*flight
	closed  bool
	wg      sync.WaitGroup // fill goroutines

	hits, misses, diskHits atomic.Int64
}

var _ Synthesizer = (*Cache)(nil)

// cacheKey is a SHA-256 of the request fields; hashing keeps map keys
// small whatever the text length.
type cacheKey [sha256.Size]byte

type cacheEntry struct {
	key     cacheKey
	samples []int16
}

func (e *cacheEntry) size() int64 { return 2*int64(len(e.samples)) + entryOverhead }

// flight is one synthesis in progress that any number of identical
// requests wait for.
type flight struct {
	done    chan struct{}
	samples []int16 // set before done is closed
	err     error
	// waiters and cancelled are guarded by Cache.mu. The synthesis is
	// cancelled when its last waiter gives up, so an abandoned prompt
	// does not keep espeak-ng running.
	waiters   int
	cancelled bool
	cancel    context.CancelFunc
}

// NewCache returns a Cache in front of s. engine names s in the cache key
// ("espeak-ng", the HTTP provider's URL), so that engines sharing a disk
// directory never serve each other's audio.
func NewCache(s Synthesizer, engine string, o CacheOptions) *Cache {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultCacheBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		next:     s,
		engine:   engine,
		maxBytes: o.MaxBytes,
		log:      o.Logger,
		entries:  make(map[cacheKey]*list.Element),
		flights:  make(map[cacheKey]*flight),
	}
	if o.Dir != "" {
		c.disk = &diskCache{dir: o.Dir}
	}
	return c
}

// key hashes the fields that decide the audio. Each field is preceded by
// its length so that no two different requests hash the same input.
func (c *Cache) key(r Request) cacheKey {
	h := sha256.New()
	for _, f := range [...]string{c.engine, r.Voice, r.Language, r.Text, r.SSML} {
		var n [8]byte
		for i := range n {
			n[i] = byte(uint64(len(f)) >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(f))
	}
	var k cacheKey
	h.Sum(k[:0])
	return k
}

// Synthesize returns the cached audio for r, or synthesizes it once for
// every concurrent caller. A caller whose context ends stops waiting at
// once; the synthesis goes on for the others and stops when none is left.
func (c *Cache) Synthesize(ctx context.Context, r Request) ([]int16, error) {
	k := c.key(r)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if el, ok := c.entries[k]; ok {
		c.lru.MoveToFront(el)
		s := el.Value.(*cacheEntry).samples
		c.mu.Unlock()
		c.hits.Add(1)
		return s, nil
	}
	f, ok := c.flights[k]
	if ok && !f.cancelled {
		c.hits.Add(1)
	} else {
		// A flight whose waiters all left is being torn down; start a
		// fresh one rather than inherit its cancellation.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		c.flights[k] = f
		c.wg.Add(1)
		go c.fill(fctx, k, r, f)
	}
	f.waiters++
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.samples, f.err
	case <-ctx.Done():
		c.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancelled = true
			f.cancel()
		}
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

// fill produces one flight's audio: from disk when it is there, else from
// the engine, then hands it to the waiters before writing it to disk so
// that the disk never delays a prompt.
func (c *Cache) fill(ctx context.Context, k cacheKey, r Request, f *flight) {
	defer c.wg.Done()
	defer f.cancel()
	samples, fromDisk := c.disk.load(k, c.log)
	var err error
	if fromDisk {
		c.hits.Add(1)
		c.diskHits.Add(1)
	} else {
		c.misses.Add(1)
		samples, err = c.next.Synthesize(ctx, r)
	}

	c.mu.Lock()
	if c.flights[k] == f {
		delete(c.flights, k)
	}
	if err == nil && !c.closed {
		c.insertLocked(&cacheEntry{key: k, samples: samples})
	}
	c.mu.Unlock()
	f.samples, f.err = samples, err
	close(f.done)

	if err == nil && !fromDisk {
		c.disk.store(k, samples, c.log)
	}
}

// insertLocked adds e to the memory cache, evicting least recently used
// entries to stay within maxBytes. A prompt larger than the whole budget
// is not kept in memory (the disk, if any, still has it).
func (c *Cache) insertLocked(e *cacheEntry) {
	if e.size() > c.maxBytes {
		return
	}
	if el, ok := c.entries[e.key]; ok {
		c.bytes -= el.Value.(*cacheEntry).size()
		c.lru.Remove(el)
		delete(c.entries, e.key)
	}
	for c.bytes+e.size() > c.maxBytes {
		last := c.lru.Back()
		if last == nil {
			break
		}
		old := last.Value.(*cacheEntry)
		c.lru.Remove(last)
		delete(c.entries, old.key)
		c.bytes -= old.size()
	}
	c.entries[e.key] = c.lru.PushFront(e)
	c.bytes += e.size()
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), DiskHits: c.diskHits.Load()}
}

// Close cancels the syntheses in progress, waits for them to end and
// makes later calls fail with ErrClosed. It is safe to call more than
// once.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	for _, f := range c.flights {
		f.cancelled = true
		f.cancel()
	}
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}
