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

// WAVWriter writes a recording as an 8 kHz 16-bit PCM WAV file, mono or
// stereo. The header is written first with unknown sizes and fixed up on
// Close, which always leaves a valid header describing exactly the whole
// sample frames that reached the underlying writer, even after a write
// error. A WAVWriter is not safe for concurrent use.
type WAVWriter struct {
	w        io.WriteSeeker
	channels int
	buf      []byte
	hdrN     int64 // header bytes accepted by w (44 unless that write failed)
	written  int64 // data bytes accepted by w
	err      error // first write error, returned by every later Write
	started  bool
	closed   bool
	cut      bool // Truncate shortened the data: the file must shrink on Close
}

// NewWAVWriter returns a mono writer that starts its file at w's current
// offset. Nothing is written until the first Write or Close, so creating
// one cannot fail.
func NewWAVWriter(w io.WriteSeeker) *WAVWriter {
	return &WAVWriter{w: w, channels: 1}
}

// NewStereoWAVWriter returns a two-channel writer (a dual-channel call
// recording: channel 1, the left, is the caller). Write takes
// interleaved samples, left first.
func NewStereoWAVWriter(w io.WriteSeeker) *WAVWriter {
	return &WAVWriter{w: w, channels: 2}
}

// Channels is 1 for a mono writer, 2 for a stereo one.
func (w *WAVWriter) Channels() int { return w.channels }

// block is the size in bytes of one sample frame: a sample per channel.
func (w *WAVWriter) block() int64 { return 2 * int64(w.channels) }

// Write appends samples (normally one 20 ms frame: 160 samples, or 320
// interleaved ones in stereo). After an error every later Write returns
// it; Close still fixes the header.
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
	h := wavHeader(unknownSize, unknownSize, w.channels)
	n, err := w.w.Write(h[:])
	w.hdrN = int64(n)
	if err != nil {
		w.err = fmt.Errorf("wav: write header: %w", err)
		return w.err
	}
	return nil
}

// wavHeader renders the canonical header for the engine format with the
// given number of channels.
func wavHeader(riffSize, dataSize uint32, channels int) [wavHeaderSize]byte {
	var h [wavHeaderSize]byte
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], riffSize)
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 16)
	le.PutUint16(h[20:], wavePCM)
	le.PutUint16(h[22:], uint16(channels))
	le.PutUint32(h[24:], media.SampleRate)
	le.PutUint32(h[28:], media.SampleRate*2*uint32(channels)) // byte rate
	le.PutUint16(h[32:], 2*uint16(channels))                  // block align
	le.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	le.PutUint32(h[40:], dataSize)
	return h
}

// Truncate shortens the data to its first n sample frames (one sample per
// channel), for trailing silence found only after it was written; the
// next Write continues from there. Data shorter than that is left as it
// is. When w has a Truncate method (an *os.File), Close also shrinks the
// file; otherwise the bytes past the data chunk stay, where readers skip
// them.
func (w *WAVWriter) Truncate(n int64) error {
	if w.closed {
		return ErrWriterClosed
	}
	keep := max(n, 0) * w.block()
	if keep >= w.written {
		return nil
	}
	if _, err := w.w.Seek(keep-w.written, io.SeekCurrent); err != nil {
		w.err = fmt.Errorf("wav: seek to truncate: %w", err)
		return w.err
	}
	w.written, w.cut = keep, true
	return nil
}

// Close writes the final sizes into the header and leaves w positioned at
// the end of the data. It does not close w. A second Close does nothing.
// A half-written last sample frame (a short write) is left outside the
// data chunk, where readers skip it as padding.
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
	data := uint32(w.written - w.written%w.block())
	h := wavHeader(4+8+16+8+data, data, w.channels)
	// The header may not sit at offset 0 of w, so seek relative to where
	// the writing ended.
	if _, err := w.w.Seek(-(w.hdrN + w.written), io.SeekCurrent); err != nil {
		return fmt.Errorf("wav: seek to header: %w", err)
	}
	if _, err := w.w.Write(h[:]); err != nil {
		return fmt.Errorf("wav: rewrite header: %w", err)
	}
	end, err := w.w.Seek(w.written, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("wav: seek to end: %w", err)
	}
	if t, ok := w.w.(interface{ Truncate(int64) error }); ok && w.cut {
		if err := t.Truncate(end); err != nil {
			return fmt.Errorf("wav: truncate: %w", err)
		}
	}
	return nil
}

// Duration is the playing time of the sample frames written so far.
func (w *WAVWriter) Duration() time.Duration {
	return samplesDuration(w.written / w.block())
}
