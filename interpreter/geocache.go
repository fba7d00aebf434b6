package interpreter

import "sync"

// GeoCache remembers the geography of the numbers that called and were
// called (geo.go) across calls. Deriving it parses the number and, for a
// +1 number, tries the patterns of some twenty NANP regions: tens of
// microseconds a call, the largest cost of starting one. Numbers repeat
// (the called number is one of a few DIDs, callers call again), and a
// number's geography does not change while the process runs.
//
// A GeoCache is safe for concurrent use; the zero value is not usable,
// use NewGeoCache. One is shared by every call of a server
// (Config.Geo).
type GeoCache struct {
	mu  sync.Mutex
	max int
	m   map[string]numberGeo
}

// DefaultGeoCacheSize is the number of numbers a GeoCache made with size
// 0 remembers: about a megabyte at most.
const DefaultGeoCacheSize = 10000

// NewGeoCache returns a cache of at most size numbers (0: the default).
func NewGeoCache(size int) *GeoCache {
	if size <= 0 {
		size = DefaultGeoCacheSize
	}
	return &GeoCache{max: size, m: make(map[string]numberGeo)}
}

// lookup is lookupGeo, remembered; a nil cache looks every number up.
func (c *GeoCache) lookup(number string) numberGeo {
	if c == nil {
		return lookupGeo(number)
	}
	c.mu.Lock()
	g, ok := c.m[number]
	c.mu.Unlock()
	if ok {
		return g
	}
	// Outside the lock: two calls from a new number may both look it up,
	// which is cheaper than making every call wait for one lookup.
	g = lookupGeo(number)
	c.mu.Lock()
	if len(c.m) >= c.max {
		// Full: forget one number, whichever the map yields first (its
		// iteration order is random), to keep the memory bounded without
		// the bookkeeping of an LRU.
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[number] = g
	c.mu.Unlock()
	return g
}
