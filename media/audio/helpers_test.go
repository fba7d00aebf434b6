package audio

import (
	"bytes"
	"encoding/binary"
	"math"
)

// testWAV describes a WAV file for a test to build.
type testWAV struct {
	tag        uint16 // 1 PCM, 3 float, 6 A-law, 7 µ-law
	channels   int
	rate       int
	bits       int
	extensible bool
	dataSize   int64  // -1: the real size; else written as is (0, 0xFFFFFFFF, too big)
	extra      []byte // chunks placed between fmt and data
	magic      string // "RIFF" unless set
	freq       float64
	seconds    float64
	amp        float64 // peak, fraction of full scale
}

// build renders the file. Every channel carries the same sine, so the
// downmix has the same level.
func (w testWAV) build() []byte {
	frames := int(w.seconds * float64(w.rate))
	var payload bytes.Buffer
	le := binary.LittleEndian
	for i := range frames {
		v := w.amp * math.Sin(2*math.Pi*w.freq*float64(i)/float64(w.rate))
		for range w.channels {
			payload.Write(encodeSample(w.tag, w.bits, v))
		}
	}
	fmtChunk := make([]byte, 16)
	tag := w.tag
	if w.extensible {
		tag = 0xFFFE
	}
	block := w.channels * ((w.bits + 7) / 8)
	le.PutUint16(fmtChunk[0:], tag)
	le.PutUint16(fmtChunk[2:], uint16(w.channels))
	le.PutUint32(fmtChunk[4:], uint32(w.rate))
	le.PutUint32(fmtChunk[8:], uint32(w.rate*block))
	le.PutUint16(fmtChunk[12:], uint16(block))
	le.PutUint16(fmtChunk[14:], uint16(w.bits))
	if w.extensible {
		ext := make([]byte, 24)
		le.PutUint16(ext[0:], 22)
		le.PutUint16(ext[2:], uint16(w.bits))
		le.PutUint32(ext[4:], 0x3)
		le.PutUint16(ext[8:], w.tag)
		copy(ext[10:], []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71})
		fmtChunk = append(fmtChunk, ext...)
	}
	var out bytes.Buffer
	magic := w.magic
	if magic == "" {
		magic = "RIFF"
	}
	out.WriteString(magic)
	binary.Write(&out, le, uint32(4+8+len(fmtChunk)+len(w.extra)+8+payload.Len()))
	out.WriteString("WAVE")
	out.WriteString("fmt ")
	binary.Write(&out, le, uint32(len(fmtChunk)))
	out.Write(fmtChunk)
	out.Write(w.extra)
	out.WriteString("data")
	size := uint32(payload.Len())
	if w.dataSize >= 0 {
		size = uint32(w.dataSize)
	}
	binary.Write(&out, le, size)
	out.Write(payload.Bytes())
	return out.Bytes()
}

// encodeSample stores v in [-1, 1] in the given WAV sample format.
func encodeSample(tag uint16, bits int, v float64) []byte {
	le := binary.LittleEndian
	switch {
	case tag == 7:
		return []byte{linearToULaw(int16(v * 32767))}
	case tag == 6:
		return []byte{linearToALaw(int16(v * 32767))}
	case tag == 3 && bits == 32:
		return le.AppendUint32(nil, math.Float32bits(float32(v)))
	case tag == 3 && bits == 64:
		return le.AppendUint64(nil, math.Float64bits(v))
	case bits == 8:
		return []byte{byte(int(math.Round(v*127)) + 128)}
	case bits == 16:
		return le.AppendUint16(nil, uint16(int16(math.Round(v*32767))))
	case bits == 24:
		x := int32(math.Round(v * 8388607))
		return []byte{byte(x), byte(x >> 8), byte(x >> 16)}
	case bits == 32:
		return le.AppendUint32(nil, uint32(int32(math.Round(v*2147483647))))
	}
	panic("test: unknown sample format")
}

// linearToULaw is the G.711 µ-law compressor (the encoder side of Sun's
// reference g711.c), used to build test files.
func linearToULaw(pcm int16) byte {
	const bias, clip = 0x84, 32635
	p := int32(pcm)
	sign := byte(0)
	if p < 0 {
		p, sign = -p, 0x80
	}
	p = min(p, clip) + bias
	exp := byte(7)
	for mask := int32(0x4000); p&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := byte(p>>(exp+3)) & 0x0F
	return ^(sign | exp<<4 | mant)
}

// linearToALaw is the G.711 A-law compressor.
func linearToALaw(pcm int16) byte {
	p := int32(pcm) >> 3
	mask := byte(0xD5)
	if p < 0 {
		mask, p = 0x55, -p-1
	}
	ends := []int32{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF}
	seg := 0
	for seg < 8 && p > ends[seg] {
		seg++
	}
	if seg >= 8 {
		return 0x7F ^ mask
	}
	a := byte(seg << 4)
	if seg < 2 {
		a |= byte(p>>1) & 0x0F
	} else {
		a |= byte(p>>seg) & 0x0F
	}
	return a ^ mask
}

// testAU builds a Sun .au file of a sine.
func testAU(enc uint32, channels, rate int, size uint32, seconds float64) []byte {
	be := binary.BigEndian
	var payload []byte
	for i := range int(seconds * float64(rate)) {
		v := 0.5 * math.Sin(2*math.Pi*1000*float64(i)/float64(rate))
		for range channels {
			switch enc {
			case 1:
				payload = append(payload, linearToULaw(int16(v*32767)))
			case 3:
				payload = be.AppendUint16(payload, uint16(int16(v*32767)))
			}
		}
	}
	if size == 0 {
		size = uint32(len(payload))
	}
	h := []byte(".snd")
	h = be.AppendUint32(h, 32) // offset past an 8-byte annotation
	h = be.AppendUint32(h, size)
	h = be.AppendUint32(h, enc)
	h = be.AppendUint32(h, uint32(rate))
	h = be.AppendUint32(h, uint32(channels))
	h = append(h, "texml\x00\x00\x00"...)
	return append(h, payload...)
}

// level is the RMS of the middle 80 % of s in dB relative to a full-scale
// sine's RMS, the way the tests state expected loudness.
func level(s []int16) float64 {
	return 20 * math.Log10(rms(s)/(32767/math.Sqrt2))
}
