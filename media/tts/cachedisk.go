package tts

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// diskMagic starts every cache file: it names the format and the sample
// rate, so a file from another program or a future format is ignored
// rather than played as noise.
const diskMagic = "texml-tts s16le 8000\n"

// diskCache keeps synthesized prompts as files named by the request hash.
// A nil *diskCache is a cache that holds nothing.
type diskCache struct {
	dir string
}

func (d *diskCache) path(k cacheKey) string {
	return filepath.Join(d.dir, hex.EncodeToString(k[:])+".pcm")
}

// load returns the prompt stored for k. A missing file is the usual miss;
// an unreadable or malformed one is logged and treated as a miss, since
// the engine can always make the audio again.
func (d *diskCache) load(k cacheKey, log *slog.Logger) ([]int16, bool) {
	if d == nil {
		return nil, false
	}
	data, err := os.ReadFile(d.path(k))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			log.Warn("tts disk cache read", "err", err)
		}
		return nil, false
	}
	if !bytes.HasPrefix(data, []byte(diskMagic)) || (len(data)-len(diskMagic))%2 != 0 {
		log.Warn("tts disk cache: malformed file ignored", "path", d.path(k))
		return nil, false
	}
	data = data[len(diskMagic):]
	samples := make([]int16, len(data)/2)
	for i := range samples {
		samples[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return samples, true
}

// store writes a prompt. The file is written under a temporary name and
// renamed into place, so a concurrent reader or a crash never sees half a
// prompt.
func (d *diskCache) store(k cacheKey, samples []int16, log *slog.Logger) {
	if d == nil {
		return
	}
	if err := d.write(k, samples); err != nil {
		log.Warn("tts disk cache write", "err", err)
	}
}

func (d *diskCache) write(k cacheKey, samples []int16) error {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return fmt.Errorf("tts disk cache: %w", err)
	}
	buf := make([]byte, len(diskMagic)+2*len(samples))
	copy(buf, diskMagic)
	for i, s := range samples {
		binary.LittleEndian.PutUint16(buf[len(diskMagic)+2*i:], uint16(s))
	}
	tmp, err := os.CreateTemp(d.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("tts disk cache: %w", err)
	}
	_, werr := tmp.Write(buf)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("tts disk cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), d.path(k)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("tts disk cache: %w", err)
	}
	return nil
}
