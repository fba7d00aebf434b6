package audio

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/texml/texml/media"
)

// memFile is an in-memory io.WriteSeeker that can be told to fail after
// a number of bytes, as a full disk would.
type memFile struct {
	data      []byte
	pos       int64
	failAfter int64 // bytes accepted before writes fail; < 0 never fails
}

var errDiskFull = errors.New("disk full")

func (f *memFile) Write(p []byte) (int, error) {
	n := len(p)
	var err error
	if f.failAfter >= 0 && f.pos+int64(n) > f.failAfter {
		n, err = int(max(0, f.failAfter-f.pos)), errDiskFull
	}
	if end := f.pos + int64(n); end > int64(len(f.data)) {
		f.data = append(f.data, make([]byte, end-int64(len(f.data)))...)
	}
	copy(f.data[f.pos:], p[:n])
	f.pos += int64(n)
	return n, err
}

func (f *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		f.pos = off
	case io.SeekCurrent:
		f.pos += off
	case io.SeekEnd:
		f.pos = int64(len(f.data)) + off
	}
	if f.pos < 0 {
		return 0, errors.New("negative position")
	}
	return f.pos, nil
}

func TestWAVWriterRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWAVWriter(f)
	src := Tone([]float64{440}, time.Second, 0.5).Samples
	for off := 0; off < len(src); off += media.FrameSamples {
		if err := w.Write(src[off : off+media.FrameSamples]); err != nil {
			t.Fatal(err)
		}
	}
	if w.Duration() != time.Second {
		t.Errorf("duration %v", w.Duration())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(src[:160]); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	data, _ := os.ReadFile(path)
	if len(data) != 44+16000 || string(data[40:44]) != "\x80\x3e\x00\x00" || string(data[4:8]) != "\xa4\x3e\x00\x00" {
		t.Fatalf("file %d bytes, header % x", len(data), data[:44])
	}
	pcm, err := Decode(data, "audio/wav")
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm.Samples) != len(src) {
		t.Fatalf("%d samples back", len(pcm.Samples))
	}
	for i := range src {
		if pcm.Samples[i] != src[i] {
			t.Fatalf("sample %d: %d, want %d", i, pcm.Samples[i], src[i])
		}
	}
}

func TestWAVWriterAbrupt(t *testing.T) {
	// Never closed (the process died): the placeholder sizes still decode.
	m := &memFile{failAfter: -1}
	w := NewWAVWriter(m)
	for range 10 {
		_ = w.Write(make([]int16, 160))
	}
	if pcm, err := Decode(m.data, ""); err != nil || len(pcm.Samples) != 1600 {
		t.Errorf("unclosed: %v", err)
	}

	// The disk filled mid-sample: Close describes the whole samples only.
	m = &memFile{failAfter: 44 + 1000 + 1}
	w = NewWAVWriter(m)
	var werr error
	for range 10 {
		if werr = w.Write(make([]int16, 160)); werr != nil {
			break
		}
	}
	if !errors.Is(werr, errDiskFull) || !errors.Is(w.Write(make([]int16, 1)), errDiskFull) {
		t.Errorf("write error not sticky: %v", werr)
	}
	m.failAfter = -1 // space freed before the call cleanup runs
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pcm, err := Decode(m.data, "")
	if err != nil || len(pcm.Samples) != 500 {
		t.Errorf("after disk full: %v", err)
	}
	if m.pos != int64(len(m.data)) {
		t.Errorf("Close left the position at %d of %d", m.pos, len(m.data))
	}

	// Closed without a sample: a valid, empty file.
	m = &memFile{failAfter: -1}
	if err := NewWAVWriter(m).Close(); err != nil || len(m.data) != 44 {
		t.Fatalf("empty: %v, %d bytes", err, len(m.data))
	}
	if pcm, err := Decode(m.data, ""); err != nil || len(pcm.Samples) != 0 {
		t.Errorf("empty: %v", err)
	}

	// A header that starts mid-file (after a prefix the caller wrote).
	m = &memFile{failAfter: -1}
	m.Write([]byte("prefix"))
	w = NewWAVWriter(m)
	_ = w.Write([]int16{1, 2, 3})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if pcm, err := Decode(m.data[6:], ""); err != nil || len(pcm.Samples) != 3 || pcm.Samples[2] != 3 {
		t.Errorf("offset header: %v", err)
	}
}
