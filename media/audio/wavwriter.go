package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/texml/texml/media"
)

// WAVWriter errors.
var (
	// ErrWriterClosed is returned by Write after Close.
	ErrWriterClosed = errors.New("wav writer closed")
	// ErrWAVFull is returned when a recording would pass the 4 GiB a RIFF
	// size field can describe (about 74 hours at 8 kHz 16-bit).
	ErrWAVFull = errors.New("wav file full")
)

// wavHeaderSize is the canonical 44-byte header: RIFF, a 16-byte PCM fmt
// chunk, and the data chunk header.
const wavHeaderSize = 44

// unknownSize is what the header holds until Close: the value streaming
// writers use for "to the end of the file", so a file left behind by a
// crash still plays in readers (this package's Decode included) that
// honour the convention.
const unknownSize = 0xFFFFFFFF

// WAVWriter writes a recording as an 8 kHz mono 16-bit PCM WAV file. The
// header is written first with unknown sizes and fixed up on Close, which
// always leaves a valid header describing exactly the whole samples that
// reached the underlying writer, even after a write error. A WAVWriter is
// not safe for concurrent use.
type WAVWriter struct {
	w       io.WriteSeeker
	buf     []byte
	hdrN    int64 // header bytes accepted by w (44 unless that write failed)
	written int64 // data bytes accepted by w
	err     error // first write error, returned by every later Write
	started bool
	closed  bool
}

// NewWAVWriter returns a writer that starts its file at w's current
// offset. Nothing is written until the first Write or Close, so creating
// one cannot fail.
func NewWAVWriter(w io.WriteSeeker) *WAVWriter {
	return &WAVWriter{w: w}
}

// Write appends samples (normally one 160-sample frame). After an error
// every later Write returns it; Close still fixes the header.
func (w *WAVWriter) Write(frame []int16) error {
	if w.closed {
		return ErrWriterClosed
	}
	if w.err != nil {
		return w.err
	}
	if !w.started {
		if err := w.writeHeader(); err != nil {
			return err
		}
	}
	if w.written+2*int64(len(frame)) > math.MaxUint32-wavHeaderSize {
		w.err = ErrWAVFull
		return w.err
	}
	w.buf = w.buf[:0]
	for _, s := range frame {
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(s))
	}
	n, err := w.w.Write(w.buf)
	w.written += int64(n)
	if err != nil {
		w.err = fmt.Errorf("wav: write: %w", err)
		return w.err
	}
	return nil
}

// writeHeader writes the 44-byte header with placeholder sizes and
// remembers where the file starts.
func (w *WAVWriter) writeHeader() error {
	w.started = true
	h := wavHeader(unknownSize, unknownSize)
	n, err := w.w.Write(h[:])
	w.hdrN = int64(n)
	if err != nil {
		w.err = fmt.Errorf("wav: write header: %w", err)
		return w.err
	}
	return nil
}

// wavHeader renders the canonical header for the engine format.
func wavHeader(riffSize, dataSize uint32) [wavHeaderSize]byte {
	var h [wavHeaderSize]byte
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], riffSize)
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 16)
	le.PutUint16(h[20:], wavePCM)
	le.PutUint16(h[22:], 1)
	le.PutUint32(h[24:], media.SampleRate)
	le.PutUint32(h[28:], media.SampleRate*2)
	le.PutUint16(h[32:], 2)
	le.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	le.PutUint32(h[40:], dataSize)
	return h
}

// Close writes the final sizes into the header and leaves w positioned at
// the end of the data. It does not close w. A second Close does nothing.
// A half-written last sample (a short write) is left outside the data
// chunk, where readers skip it as padding.
func (w *WAVWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if !w.started {
		// Even an empty recording gets a header; a failure here is
		// retried by the rewrite below.
		_ = w.writeHeader()
	}
	data := uint32(w.written &^ 1)
	h := wavHeader(4+8+16+8+data, data)
	// The header may not sit at offset 0 of w, so seek relative to where
	// the writing ended.
	if _, err := w.w.Seek(-(w.hdrN + w.written), io.SeekCurrent); err != nil {
		return fmt.Errorf("wav: seek to header: %w", err)
	}
	if _, err := w.w.Write(h[:]); err != nil {
		return fmt.Errorf("wav: rewrite header: %w", err)
	}
	if _, err := w.w.Seek(w.written, io.SeekCurrent); err != nil {
		return fmt.Errorf("wav: seek to end: %w", err)
	}
	return nil
}

// Duration is the playing time of the samples written so far.
func (w *WAVWriter) Duration() time.Duration {
	return samplesDuration(w.written / 2)
}
