package audio

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// diskMagic starts every cache file; the last byte is the format version,
// so a future layout change reads old files as misses instead of garbage.
const diskMagic = "TXPCM\x00\n\x01"

// diskExt names cache files; anything else in the directory is left alone.
const diskExt = ".pcm"

// diskMeta is the JSON header of a cache file: everything in an entry but
// the samples, and the URL itself so a file is never served for the wrong
// URL however it got its name.
type diskMeta struct {
	URL          string        `json:"url"`
	ETag         string        `json:"etag,omitempty"`
	LastModified string        `json:"last_modified,omitempty"`
	NoCache      bool          `json:"no_cache,omitempty"`
	Lifetime     time.Duration `json:"lifetime"`
	Age          time.Duration `json:"age,omitempty"`
	Expires      time.Time     `json:"expires"`
	BodyHash     string        `json:"body_hash"`
	Samples      int           `json:"samples"`
}

// diskStore keeps decoded audio in a directory, bounded in bytes with
// least-recently-used eviction. Its index is in memory, rebuilt from the
// directory listing (sizes and modification times) when the Cache is
// made; file I/O happens outside its lock.
type diskStore struct {
	dir   string
	limit int64
	now   func() time.Time

	mu     sync.Mutex
	files  map[string]diskFile // by file name
	total  int64
	errors int64
}

// diskFile is the index record of one cache file.
type diskFile struct {
	size int64
	used time.Time
}

// openDiskStore indexes dir, creating it if needed. Leftover temporary
// files from a crash mid-write are removed. A directory that cannot be
// used leaves a store that counts errors and finds nothing.
func openDiskStore(dir string, limit int64, now func() time.Time) *diskStore {
	d := &diskStore{dir: dir, limit: limit, now: now, files: make(map[string]diskFile)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		d.errors++
		return d
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		d.errors++
		return d
	}
	for _, de := range ents {
		name := de.Name()
		if strings.HasPrefix(name, ".tmp-") {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		if !strings.HasSuffix(name, diskExt) || de.IsDir() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		d.files[name] = diskFile{size: info.Size(), used: info.ModTime()}
		d.total += info.Size()
	}
	d.evict("")
	return d
}

// fileName is the SHA-256 of the URL: fixed length, safe on any file
// system, and not revealing the URL in a directory listing.
func fileName(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:]) + diskExt
}

// load reads the entry for url, or returns nil when there is none or the
// file is damaged (which is then removed).
func (d *diskStore) load(url string) *entry {
	name := fileName(url)
	d.mu.Lock()
	_, ok := d.files[name]
	d.mu.Unlock()
	if !ok {
		return nil
	}
	path := filepath.Join(d.dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		d.forget(name, !errors.Is(err, fs.ErrNotExist))
		return nil
	}
	e, err := decodeDiskEntry(data, url)
	if err != nil {
		_ = os.Remove(path)
		d.forget(name, true)
		return nil
	}
	now := d.now()
	_ = os.Chtimes(path, now, now) // keeps the LRU order across restarts
	d.mu.Lock()
	if f, ok := d.files[name]; ok {
		f.used = now
		d.files[name] = f
	}
	d.mu.Unlock()
	return e
}

// decodeDiskEntry parses a cache file written by encodeDiskEntry.
func decodeDiskEntry(data []byte, url string) (*entry, error) {
	if len(data) < len(diskMagic)+4 || string(data[:len(diskMagic)]) != diskMagic {
		return nil, errors.New("not a cache file")
	}
	data = data[len(diskMagic):]
	n := binary.LittleEndian.Uint32(data)
	data = data[4:]
	if int64(n) > int64(len(data)) {
		return nil, errors.New("truncated header")
	}
	var m diskMeta
	if err := json.Unmarshal(data[:n], &m); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	data = data[n:]
	if m.URL != url || m.Samples < 0 || len(data) != 2*m.Samples {
		return nil, errors.New("wrong URL or length")
	}
	e := &entry{url: url, expires: m.Expires, pcm: &PCM{Samples: make([]int16, m.Samples)},
		policy: cachePolicy{etag: m.ETag, lastModified: m.LastModified, noCache: m.NoCache,
			lifetime: m.Lifetime, age: m.Age}}
	if h, err := hex.DecodeString(m.BodyHash); err == nil && len(h) == len(e.bodyHash) {
		copy(e.bodyHash[:], h)
	}
	for i := range e.pcm.Samples {
		e.pcm.Samples[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return e, nil
}

// encodeDiskEntry renders e as a cache file.
func encodeDiskEntry(e *entry) ([]byte, error) {
	meta, err := json.Marshal(diskMeta{
		URL: e.url, ETag: e.policy.etag, LastModified: e.policy.lastModified,
		NoCache: e.policy.noCache, Lifetime: e.policy.lifetime, Age: e.policy.age,
		Expires: e.expires, BodyHash: hex.EncodeToString(e.bodyHash[:]), Samples: len(e.pcm.Samples),
	})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(diskMagic) + 4 + len(meta) + 2*len(e.pcm.Samples))
	b.WriteString(diskMagic)
	b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(meta))))
	b.Write(meta)
	buf := make([]byte, 0, 2*len(e.pcm.Samples))
	for _, s := range e.pcm.Samples {
		buf = binary.LittleEndian.AppendUint16(buf, uint16(s))
	}
	b.Write(buf)
	return b.Bytes(), nil
}

// store writes e's file atomically (temporary file, then rename), so a
// crash leaves the old file or the new one, never half of one.
func (d *diskStore) store(e *entry) {
	data, err := encodeDiskEntry(e)
	if err != nil || int64(len(data)) > d.limit {
		return
	}
	name := fileName(e.url)
	if err := d.writeFile(name, data); err != nil {
		d.mu.Lock()
		d.errors++
		d.mu.Unlock()
		return
	}
	d.mu.Lock()
	if old, ok := d.files[name]; ok {
		d.total -= old.size
	}
	d.files[name] = diskFile{size: int64(len(data)), used: d.now()}
	d.total += int64(len(data))
	d.mu.Unlock()
	d.evict(name)
}

// writeFile replaces name with data.
func (d *diskStore) writeFile(name string, data []byte) error {
	tmp, err := os.CreateTemp(d.dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.dir, name)); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}

// evict removes least recently used files until the total fits, sparing
// keep (the file just written).
func (d *diskStore) evict(keep string) {
	d.mu.Lock()
	var victims []string
	if d.total > d.limit {
		names := make([]string, 0, len(d.files))
		for n := range d.files {
			names = append(names, n)
		}
		slices.SortFunc(names, func(a, b string) int { return d.files[a].used.Compare(d.files[b].used) })
		for _, n := range names {
			if d.total <= d.limit {
				break
			}
			if n == keep {
				continue
			}
			d.total -= d.files[n].size
			delete(d.files, n)
			victims = append(victims, n)
		}
	}
	d.mu.Unlock()
	for _, n := range victims {
		_ = os.Remove(filepath.Join(d.dir, n))
	}
}

// remove deletes the file for url.
func (d *diskStore) remove(url string) {
	name := fileName(url)
	d.mu.Lock()
	_, ok := d.files[name]
	d.mu.Unlock()
	if !ok {
		return
	}
	err := os.Remove(filepath.Join(d.dir, name))
	d.forget(name, err != nil && !errors.Is(err, fs.ErrNotExist))
}

// forget drops name from the index, counting an error if asked.
func (d *diskStore) forget(name string, failed bool) {
	d.mu.Lock()
	if f, ok := d.files[name]; ok {
		d.total -= f.size
		delete(d.files, name)
	}
	if failed {
		d.errors++
	}
	d.mu.Unlock()
}

// stats returns the bytes on disk and the error count.
func (d *diskStore) stats() (total, errs int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total, d.errors
}
