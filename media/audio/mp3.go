package audio

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	mp3 "github.com/hajimehoshi/go-mp3"

	"github.com/texml/texml/media"
)

// mpegBitrates holds kbps by [table][index]: tables are MPEG-1 layers I,
// II, III, then MPEG-2/2.5 layer I, then MPEG-2/2.5 layers II and III
// (ISO/IEC 11172-3 section 2.4.2.3, 13818-3 section 2.4.2.3). Index 0 is free format.
var mpegBitrates = [5][15]int{
	{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},
	{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},
	{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},
	{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},
	{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
}

// mpegRates holds Hz by [version][index] for MPEG-1, MPEG-2 and MPEG-2.5.
var mpegRates = [3][3]int{{44100, 48000, 32000}, {22050, 24000, 16000}, {11025, 12000, 8000}}

// mpegHeader is the part of an MPEG audio frame header sniffing needs.
type mpegHeader struct {
	layer  int  // 1, 2 or 3
	length int  // frame length in bytes, header included
	lsf    bool // MPEG-2 or 2.5 ("low sampling frequency")
	padded bool
	// misframed is true for a frame go-mp3 v0.3.4 gets the length of
	// wrong; see goMP3Misframes.
	misframed bool
}

// parseMPEGHeader reads the 4-byte frame header at the start of b. It
// rejects free-format frames (bitrate index 0), whose length cannot be
// known from the header and which the decoder does not handle either.
func parseMPEGHeader(b []byte) (mpegHeader, bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return mpegHeader{}, false
	}
	verBits := (b[1] >> 3) & 3 // 0: 2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
	layer := 4 - int((b[1]>>1)&3)
	brIdx := int(b[2] >> 4)
	srIdx := int((b[2] >> 2) & 3)
	pad := int((b[2] >> 1) & 1)
	if verBits == 1 || layer == 4 || brIdx == 0 || brIdx == 15 || srIdx == 3 {
		return mpegHeader{}, false
	}
	ver := 2 // index into mpegRates
	switch verBits {
	case 3:
		ver = 0
	case 2:
		ver = 1
	}
	table := layer - 1
	if ver > 0 {
		table = 4
		if layer == 1 {
			table = 3
		}
	}
	br := mpegBitrates[table][brIdx] * 1000
	sr := mpegRates[ver][srIdx]
	var n int
	switch {
	case layer == 1:
		n = (12*br/sr + pad) * 4
	case layer == 3 && ver > 0:
		// MPEG-2 layer III frames carry 576 samples, half of MPEG-1's.
		n = 72*br/sr + pad
	default:
		n = 144*br/sr + pad
	}
	h := mpegHeader{layer: layer, length: n, lsf: ver > 0, padded: pad == 1}
	// go-mp3 computes an LSF frame's length as (144·br/sr + pad) >> 1,
	// which drops the padding byte whenever 144·br/sr is even; the
	// correct length is 72·br/sr + pad.
	h.misframed = layer == 3 && h.lsf && h.padded && (144*br/sr)%2 == 0
	return h, true
}

// mpegStart reports whether data begins with an MPEG audio frame: a valid
// header followed by another valid header right after the frame, unless
// the data ends first. One header alone is 4 bytes that random data (or
// raw µ-law) matches too often.
func mpegStart(data []byte) bool {
	h, ok := parseMPEGHeader(data)
	if !ok {
		return false
	}
	if len(data) < h.length+4 {
		return len(data) >= h.length
	}
	_, ok = parseMPEGHeader(data[h.length:])
	return ok
}

// errMP3Panic reports a panic inside the third-party decoder.
var errMP3Panic = errors.New("mp3 decoder panic")

// decodeMP3 decodes MPEG-1/2/2.5 layer III with go-mp3, which always
// outputs 16-bit little-endian stereo at the stream's rate, then downmixes
// and resamples as it goes, so a long file never exists at 44.1 kHz
// stereo in memory.
func decodeMP3(data []byte) (pcm *PCM, err error) {
	// go-mp3 is fuzzed upstream, but a panic on crafted input would take
	// down every call in the process; contain it as a decode error.
	defer func() {
		if r := recover(); r != nil {
			pcm, err = nil, fmt.Errorf("%w: mp3: %w: %v", ErrUnsupported, errMP3Panic, r)
		}
	}()
	start := skipID3v2(data)
	if h, ok := parseMPEGHeader(data[start:]); ok && h.layer != 3 {
		return nil, fmt.Errorf("%w: MPEG layer %d", ErrUnsupported, h.layer)
	}
	if goMP3Misframes(data[start:]) {
		return nil, fmt.Errorf("%w: mp3: MPEG-2 layer III with padded frames (22050 Hz at 32 kbps, say), which the decoder misframes", ErrUnsupported)
	}
	// Hiding Seek stops go-mp3 from pre-scanning every frame to compute a
	// length we do not need; the pre-scan fails the whole file on one bad
	// frame that streaming would just stop at.
	d, err := mp3.NewDecoder(struct{ io.Reader }{bytes.NewReader(data)})
	if err != nil {
		return nil, fmt.Errorf("%w: mp3: %w", ErrUnsupported, err)
	}
	rate := d.SampleRate()
	if rate <= 0 {
		return nil, fmt.Errorf("%w: mp3: sample rate %d", ErrUnsupported, rate)
	}
	rs := NewResampler(rate, media.SampleRate)
	var out []int16
	buf := make([]byte, 4*1152*4)
	mono := make([]int16, 0, len(buf)/4)
	for {
		n, rerr := io.ReadFull(d, buf)
		n &^= 3
		mono = mono[:0]
		for i := 0; i < n; i += 4 {
			l := int32(int16(uint16(buf[i]) | uint16(buf[i+1])<<8))
			r := int32(int16(uint16(buf[i+2]) | uint16(buf[i+3])<<8))
			mono = append(mono, int16((l+r)/2))
		}
		out = rs.Resample(out, mono)
		if len(out) > maxSamples {
			return nil, ErrTooLong
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("%w: mp3: %w", ErrUnsupported, rerr)
		}
	}
	out = rs.Flush(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: mp3: no audio frames", ErrUnsupported)
	}
	return &PCM{Samples: out}, nil
}

// skipID3v2 returns the offset of the first byte after an ID3v2 tag at
// the start of data, or 0 when there is none.
func skipID3v2(data []byte) int {
	if len(data) < 10 || string(data[:3]) != "ID3" {
		return 0
	}
	// The tag size is a 28-bit "syncsafe" integer (7 bits per byte), plus
	// a 10-byte footer when flag bit 4 is set (ID3v2.4 section 3.1).
	size := int(data[6]&0x7F)<<21 | int(data[7]&0x7F)<<14 | int(data[8]&0x7F)<<7 | int(data[9]&0x7F)
	size += 10
	if data[5]&0x10 != 0 {
		size += 10
	}
	return min(size, len(data))
}

// goMP3Misframes walks the frames from the start of data and reports
// whether any is one go-mp3 v0.3.4 reads one byte short. After such a
// frame its bit reservoir is out of step and it decodes noise without
// reporting an error (measured: -3 to -20 dB SNR on a pure tone), so
// refusing the file beats playing it. The walk stops at the first bytes
// that are not a frame header (an ID3v1 tag, junk).
func goMP3Misframes(data []byte) bool {
	for off := 0; off+4 <= len(data); {
		h, ok := parseMPEGHeader(data[off:])
		if !ok {
			return false
		}
		if h.misframed {
			return true
		}
		off += h.length
	}
	return false
}
