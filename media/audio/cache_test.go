package audio

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/texml/texml/fetcher"
)

// origin is a test server for one audio resource whose headers a test
// sets, counting requests and answering conditional ones.
type origin struct {
	*httptest.Server
	requests atomic.Int32
	mu       sync.Mutex
	body     []byte
	ctype    string
	header   http.Header
	status   int
	gate     chan struct{} // when set, requests wait for it to close
	lastReq  http.Header
}

func newOrigin(t *testing.T, body []byte, header http.Header) *origin {
	o := &origin{body: body, ctype: "audio/wav", header: header}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		o.mu.Lock()
		gate, body, ctype, status := o.gate, o.body, o.ctype, o.status
		for k, v := range o.header {
			w.Header()[k] = v
		}
		o.lastReq = r.Header.Clone()
		o.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		etag := w.Header().Get("ETag")
		if inm := r.Header.Get("If-None-Match"); etag != "" && inm == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		lm := w.Header().Get("Last-Modified")
		if ims := r.Header.Get("If-Modified-Since"); lm != "" && ims == lm {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Write(body)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) set(f func(o *origin)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f(o)
}

// clock is an injectable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func oneSecondWAV(freq float64) []byte {
	return testWAV{tag: 1, channels: 1, rate: 8000, bits: 16, dataSize: -1, freq: freq, seconds: 1, amp: 0.5}.build()
}

func newTestCache(t *testing.T, o CacheOptions) *Cache {
	f := fetcher.New(fetcher.Options{RetryDelay: -1})
	c := NewCache(f, o)
	t.Cleanup(func() { c.Close() })
	return c
}

func mustGet(t *testing.T, c *Cache, url string) *PCM {
	t.Helper()
	p, err := c.Get(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCacheHitAndExpiry(t *testing.T) {
	o := newOrigin(t, oneSecondWAV(440), http.Header{"Cache-Control": {"public, max-age=60"}})
	clk := newClock()
	c := newTestCache(t, CacheOptions{Now: clk.Now})
	a := mustGet(t, c, o.URL+"/a.wav")
	b := mustGet(t, c, o.URL+"/a.wav")
	if a != b || o.requests.Load() != 1 || a.Duration() != time.Second {
		t.Fatalf("second Get: %d requests", o.requests.Load())
	}
	clk.Add(59 * time.Second)
	mustGet(t, c, o.URL+"/a.wav")
	if o.requests.Load() != 1 {
		t.Error("refetched while fresh")
	}
	clk.Add(2 * time.Second)
	if p := mustGet(t, c, o.URL+"/a.wav"); p != a || o.requests.Load() != 2 {
		t.Errorf("after expiry: %d requests, same audio %v", o.requests.Load(), p == a)
	}
	s := c.Stats()
	if s.Hits != 2 || s.Misses != 1 || s.Revalidated != 1 || s.Entries != 1 || s.Bytes < 16000 {
		t.Errorf("stats %+v", s)
	}
	// A changed body after expiry is decoded afresh.
	o.set(func(o *origin) { o.body = oneSecondWAV(1000) })
	clk.Add(61 * time.Second)
	if p := mustGet(t, c, o.URL+"/a.wav"); p == a || zeroCrossings(p.Samples) < 1500 {
		t.Error("changed body not decoded")
	}
}

func TestCacheAge(t *testing.T) {
	o := newOrigin(t, oneSecondWAV(440), http.Header{"Cache-Control": {"max-age=60"}, "Age": {"50"}})
	clk := newClock()
	c := newTestCache(t, CacheOptions{Now: clk.Now})
	mustGet(t, c, o.URL)
	clk.Add(11 * time.Second) // 50 s old upstream + 11 s here
	mustGet(t, c, o.URL)
	if o.requests.Load() != 2 {
		t.Errorf("Age ignored: %d requests", o.requests.Load())
	}
}

func TestCacheRevalidation(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		sent   string // request header that must carry the validator
	}{
		{"etag, no-cache", http.Header{"Cache-Control": {"no-cache"}, "ETag": {`"v1"`}}, "If-None-Match"},
		{"etag, max-age=0", http.Header{"Cache-Control": {"max-age=0"}, "ETag": {`W/"v1"`}}, "If-None-Match"},
		{"last-modified, pragma", http.Header{"Pragma": {"no-cache"}, "Last-Modified": {"Mon, 02 Jan 2006 15:04:05 GMT"}}, "If-Modified-Since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, oneSecondWAV(440), tt.header)
			c := newTestCache(t, CacheOptions{})
			a := mustGet(t, c, o.URL)
			b := mustGet(t, c, o.URL)
			if a != b || o.requests.Load() != 2 {
				t.Fatalf("%d requests, same audio %v", o.requests.Load(), a == b)
			}
			o.mu.Lock()
			sent := o.lastReq.Get(tt.sent)
			o.mu.Unlock()
			if sent == "" {
				t.Errorf("no %s sent", tt.sent)
			}
			if s := c.Stats(); s.Revalidated != 1 || s.Misses != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestCacheNoStore(t *testing.T) {
	o := newOrigin(t, oneSecondWAV(440), http.Header{"Cache-Control": {"no-store, max-age=3600"}, "ETag": {`"x"`}})
	dir := t.TempDir()
	c := newTestCache(t, CacheOptions{Dir: dir})
	mustGet(t, c, o.URL)
	mustGet(t, c, o.URL)
	if o.requests.Load() != 2 {
		t.Errorf("%d requests", o.requests.Load())
	}
	if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 || s.DiskBytes != 0 {
		t.Errorf("stats %+v", s)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("%d files on disk", len(files))
	}
}

func TestCacheSingleFlight(t *testing.T) {
	o := newOrigin(t, oneSecondWAV(440), http.Header{"Cache-Control": {"max-age=60"}})
	gate := make(chan struct{})
	o.set(func(o *origin) { o.gate = gate })
	c := newTestCache(t, CacheOptions{})
	const n = 20
	results := make(chan *PCM, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			p, err := c.Get(context.Background(), o.URL)
			results <- p
			errs <- err
		}()
	}
	// A caller that gives up does not cancel the shared fetch.
	ctx, cancel := context.WithCancel(context.Background())
	quit := make(chan error, 1)
	go func() { _, err := c.Get(ctx, o.URL); quit <- err }()
	for o.requests.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-quit; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Get: %v", err)
	}
	close(gate)
	var first *PCM
	for range n {
		p, err := <-results, <-errs
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = p
		}
		if p != first {
			t.Error("callers got different audio")
		}
	}
	if o.requests.Load() != 1 {
		t.Errorf("%d requests for %d concurrent Gets", o.requests.Load(), n)
	}
}

func TestCacheLRU(t *testing.T) {
	o := newOrigin(t, oneSecondWAV(440), http.Header{"Cache-Control": {"max-age=3600"}})
	// Each entry is 16000 bytes of samples plus bookkeeping: room for two.
	c := newTestCache(t, CacheOptions{MaxBytes: 40000})
	get := func(p string) { mustGet(t, c, o.URL+p) }
	get("/a")
	get("/b")
	get("/a") // a is now the most recent
	get("/c") // evicts b
	if s := c.Stats(); s.Entries != 2 || s.Evictions != 1 || s.Bytes > 40000 {
		t.Errorf("stats %+v", s)
	}
	before := o.requests.Load()
	get("/a")
	if o.requests.Load() != before {
		t.Error("a was evicted")
	}
	get("/b")
	if o.requests.Load() != before+1 {
		t.Error("b was not evicted")
	}
	// Larger than the whole cache: served, never kept.
	big := newTestCache(t, CacheOptions{MaxBytes: 1000})
	mustGet(t, big, o.URL+"/a")
	if s := big.Stats(); s.Entries != 0 || s.Bytes != 0 {
		t.Errorf("oversized entry kept: %+v", s)
	}
}

func TestCacheDisk(t *testing.T) {
	dir := t.TempDir()
	o := newOrigin(t, oneSecondWAV(440), http.Header{"Cache-Control": {"max-age=600"}, "ETag": {`"v1"`}})
	clk := newClock()
	c1 := newTestCache(t, CacheOptions{Dir: dir, Now: clk.Now})
	want := mustGet(t, c1, o.URL+"/a.wav")
	c1.Close()

	// A new process: fresh on disk, so no request and no decode.
	c2 := newTestCache(t, CacheOptions{Dir: dir, Now: clk.Now})
	got := mustGet(t, c2, o.URL+"/a.wav")
	if o.requests.Load() != 1 {
		t.Errorf("%d requests after restart", o.requests.Load())
	}
	if len(got.Samples) != len(want.Samples) || got.Samples[100] != want.Samples[100] {
		t.Error("disk copy differs")
	}
	if s := c2.Stats(); s.DiskHits != 1 || s.Hits != 1 || s.DiskBytes < 16000 {
		t.Errorf("stats %+v", s)
	}

	// Stale on disk: one conditional request, answered 304.
	clk.Add(time.Hour)
	c3 := newTestCache(t, CacheOptions{Dir: dir, Now: clk.Now})
	mustGet(t, c3, o.URL+"/a.wav")
	if o.requests.Load() != 2 || c3.Stats().Revalidated != 1 {
		t.Errorf("%d requests, stats %+v", o.requests.Load(), c3.Stats())
	}

	// A damaged file is a miss, never an error or a panic.
	name := filepath.Join(dir, fileName(o.URL+"/a.wav"))
	data, _ := os.ReadFile(name)
	os.WriteFile(name, data[:len(data)-3], 0o644)
	c4 := newTestCache(t, CacheOptions{Dir: dir, Now: clk.Now})
	if p := mustGet(t, c4, o.URL+"/a.wav"); len(p.Samples) != 8000 {
		t.Error("damaged file")
	}
	if o.requests.Load() != 3 {
		t.Errorf("%d requests", o.requests.Load())
	}

	// The disk bound evicts the least recently used file.
	dir2 := t.TempDir()
	small := newTestCache(t, CacheOptions{Dir: dir2, MaxDiskBytes: 40000, Now: clk.Now})
	for _, p := range []string{"/x", "/y"} {
		mustGet(t, small, o.URL+p)
		clk.Add(time.Second)
	}
	mustGet(t, small, o.URL+"/z")
	if files, _ := os.ReadDir(dir2); len(files) != 2 || small.Stats().DiskBytes > 40000 {
		t.Errorf("%d files, %d bytes", len(files), small.Stats().DiskBytes)
	}
	if _, err := os.Stat(filepath.Join(dir2, fileName(o.URL+"/x"))); !errors.Is(err, os.ErrNotExist) {
		t.Error("oldest file kept")
	}
}

func TestCacheErrors(t *testing.T) {
	o := newOrigin(t, []byte("<html><body>hello</body></html>"), nil)
	o.set(func(o *origin) { o.ctype = "text/html" })
	c := newTestCache(t, CacheOptions{})
	if _, err := c.Get(context.Background(), o.URL+"/page"); !errors.Is(err, ErrNotAudio) {
		t.Errorf("html: %v", err)
	}
	o.set(func(o *origin) { o.status = http.StatusNotFound })
	_, err := c.Get(context.Background(), o.URL+"/missing.wav")
	var fe *fetcher.Error
	if !errors.As(err, &fe) || fe.Status != 404 || fe.Code != fetcher.CodeHTTPRetrieval {
		t.Errorf("404: %v", err)
	}
	// A stale entry whose refetch fails reports the failure.
	o.set(func(o *origin) { o.status, o.ctype, o.body = 0, "audio/wav", oneSecondWAV(440) })
	mustGet(t, c, o.URL+"/flaky.wav")
	o.set(func(o *origin) { o.status = http.StatusInternalServerError })
	if _, err := c.Get(context.Background(), o.URL+"/flaky.wav"); !errors.As(err, &fe) || fe.Status != 500 {
		t.Errorf("500: %v", err)
	}
}

func TestParseCachePolicy(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	tests := []struct {
		name     string
		h        http.Header
		lifetime time.Duration
		noStore  bool
		noCache  bool
	}{
		{"none", http.Header{}, 0, false, false},
		{"max-age", http.Header{"Cache-Control": {"max-age=120"}}, 2 * time.Minute, false, false},
		{"quoted, mixed case", http.Header{"Cache-Control": {`Public, Max-Age="30"`}}, 30 * time.Second, false, false},
		{"s-maxage wins", http.Header{"Cache-Control": {"max-age=10, s-maxage=20"}}, 20 * time.Second, false, false},
		{"two lines", http.Header{"Cache-Control": {"max-age=5", "no-cache"}}, 5 * time.Second, false, true},
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, 0, true, false},
		{"no-cache with field", http.Header{"Cache-Control": {`no-cache="Set-Cookie"`}}, 0, false, true},
		{"bad max-age", http.Header{"Cache-Control": {"max-age=soon"}}, 0, false, false},
		{"huge max-age", http.Header{"Cache-Control": {"max-age=99999999999999999999"}}, (1<<31 - 1) * time.Second, false, false},
		{"expires", http.Header{"Date": {date}, "Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, time.Hour, false, false},
		{"expires 0", http.Header{"Expires": {"0"}}, 0, false, false},
		{"max-age beats expires", http.Header{"Cache-Control": {"max-age=1"}, "Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, time.Second, false, false},
		{"heuristic", http.Header{"Date": {date}, "Last-Modified": {now.Add(-100 * time.Minute).Format(http.TimeFormat)}}, 10 * time.Minute, false, false},
		{"heuristic cap", http.Header{"Last-Modified": {now.Add(-1000 * time.Hour).Format(http.TimeFormat)}}, time.Hour, false, false},
		{"pragma", http.Header{"Pragma": {"no-cache"}}, 0, false, true},
		{"pragma ignored with cache-control", http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=9"}}, 9 * time.Second, false, false},
	}
	for _, tt := range tests {
		p := parseCachePolicy(tt.h, now)
		if p.lifetime != tt.lifetime || p.noStore != tt.noStore || p.noCache != tt.noCache {
			t.Errorf("%s: got %+v", tt.name, p)
		}
	}
}
