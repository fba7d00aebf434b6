package audio

import (
	"encoding/binary"
	"fmt"
)

// WAVE format tags (RFC 2361, mmreg.h) that decodeWAV handles.
const (
	wavePCM        = 0x0001
	waveFloat      = 0x0003
	waveALaw       = 0x0006
	waveULaw       = 0x0007
	waveExtensible = 0xFFFE
)

// waveFormat is the part of a "fmt " chunk decoding needs.
type waveFormat struct {
	tag      uint16
	channels int
	rate     int
	bits     int
}

// decodeWAV parses RIFF/WAVE (and RF64, whose 32-bit sizes are
// placeholders) and decodes its data chunk. Unknown chunks are skipped.
// The RIFF size is ignored and a data size of 0, 0xFFFFFFFF or past the end
// of the file means "to the end": streaming writers cannot know the size
// when they write the header, and a recording cut off mid-write is still
// worth playing.
func decodeWAV(data []byte) (*PCM, error) {
	var (
		f       *waveFormat
		payload []byte
	)
	rest := data[12:]
	for len(rest) >= 8 {
		id := string(rest[:4])
		size := int64(binary.LittleEndian.Uint32(rest[4:8]))
		rest = rest[8:]
		if id == "data" {
			if size == 0 || size == 0xFFFFFFFF || size > int64(len(rest)) {
				payload = rest
				break
			}
			payload = rest[:size]
			if f != nil {
				// Chunks after the data (LIST, id3) are only metadata.
				break
			}
			// A fmt chunk after a well-sized data chunk is legal, if odd.
		}
		if size > int64(len(rest)) {
			return nil, fmt.Errorf("%w: wav: %q chunk of %d bytes runs past the end", ErrUnsupported, id, size)
		}
		if id == "fmt " {
			wf, err := parseWaveFormat(rest[:size])
			if err != nil {
				return nil, err
			}
			f = wf
		}
		// Chunks are word-aligned: an odd size is followed by a pad byte.
		size += size & 1
		rest = rest[min(size, int64(len(rest))):]
	}
	if f == nil {
		return nil, fmt.Errorf("%w: wav: no fmt chunk", ErrUnsupported)
	}
	if payload == nil {
		return nil, fmt.Errorf("%w: wav: no data chunk", ErrUnsupported)
	}
	sf, err := f.sampleFormat()
	if err != nil {
		return nil, err
	}
	pcm, err := interleaved{format: sf, channels: f.channels, rate: f.rate}.toPCM(payload)
	if err != nil {
		return nil, fmt.Errorf("wav: %w", err)
	}
	return pcm, nil
}

// parseWaveFormat reads a WAVEFORMAT(EX/EXTENSIBLE) structure.
func parseWaveFormat(b []byte) (*waveFormat, error) {
	if len(b) < 16 {
		return nil, fmt.Errorf("%w: wav: fmt chunk of %d bytes", ErrUnsupported, len(b))
	}
	f := &waveFormat{
		tag:      binary.LittleEndian.Uint16(b[0:2]),
		channels: int(binary.LittleEndian.Uint16(b[2:4])),
		rate:     int(binary.LittleEndian.Uint32(b[4:8])),
		bits:     int(binary.LittleEndian.Uint16(b[14:16])),
	}
	if f.tag == waveExtensible {
		// WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4)
		// then the SubFormat GUID, whose first two bytes are the real
		// format tag. The channel mask only says where speakers are;
		// a mono downmix does not care.
		if len(b) < 40 {
			return nil, fmt.Errorf("%w: wav: extensible fmt chunk of %d bytes", ErrUnsupported, len(b))
		}
		f.tag = binary.LittleEndian.Uint16(b[24:26])
	}
	return f, nil
}

// sampleFormat maps the format tag and container width to a sampleFormat.
// The container width (bitsPerSample rounded up to bytes) decides the
// layout: 20-bit audio sits in 24-bit containers, left-justified.
func (f *waveFormat) sampleFormat() (sampleFormat, error) {
	bytes := (f.bits + 7) / 8
	switch f.tag {
	case wavePCM:
		switch bytes {
		case 1:
			return fmtU8, nil
		case 2:
			return fmtS16LE, nil
		case 3:
			return fmtS24LE, nil
		case 4:
			return fmtS32LE, nil
		}
	case waveFloat:
		switch bytes {
		case 4:
			return fmtF32LE, nil
		case 8:
			return fmtF64LE, nil
		}
	case waveULaw:
		if bytes == 1 {
			return fmtULaw, nil
		}
	case waveALaw:
		if bytes == 1 {
			return fmtALaw, nil
		}
	default:
		return 0, fmt.Errorf("%w: wav: format tag 0x%04x", ErrUnsupported, f.tag)
	}
	return 0, fmt.Errorf("%w: wav: format tag 0x%04x with %d bits per sample", ErrUnsupported, f.tag, f.bits)
}

// Sun/NeXT .au encodings (the "Audio file format" of Sun's audio_filehdr.h).
const (
	auULaw     = 1
	auLinear8  = 2
	auLinear16 = 3
	auLinear24 = 4
	auLinear32 = 5
	auFloat    = 6
	auDouble   = 7
	auALaw     = 27
)

// decodeAU parses a Sun .au file: a big-endian header of magic, data
// offset, data size, encoding, rate and channels, then big-endian samples.
// A size of 0xFFFFFFFF means unknown; it, 0 and a too-large size are read
// to the end of the file, as in WAV.
func decodeAU(data []byte) (*PCM, error) {
	if len(data) < 24 {
		return nil, fmt.Errorf("%w: au: header of %d bytes", ErrUnsupported, len(data))
	}
	be := binary.BigEndian
	off := int64(be.Uint32(data[4:8]))
	size := int64(be.Uint32(data[8:12]))
	enc := be.Uint32(data[12:16])
	rate := int(be.Uint32(data[16:20]))
	channels := int(be.Uint32(data[20:24]))
	if off < 24 || off > int64(len(data)) {
		return nil, fmt.Errorf("%w: au: data offset %d", ErrUnsupported, off)
	}
	payload := data[off:]
	if size != 0 && size < int64(len(payload)) {
		payload = payload[:size]
	}
	var sf sampleFormat
	switch enc {
	case auULaw:
		sf = fmtULaw
	case auALaw:
		sf = fmtALaw
	case auLinear8:
		sf = fmtS8
	case auLinear16:
		sf = fmtS16BE
	case auLinear24:
		sf = fmtS24BE
	case auLinear32:
		sf = fmtS32BE
	case auFloat:
		sf = fmtF32BE
	case auDouble:
		sf = fmtF64BE
	default:
		return nil, fmt.Errorf("%w: au: encoding %d", ErrUnsupported, enc)
	}
	pcm, err := interleaved{format: sf, channels: channels, rate: rate}.toPCM(payload)
	if err != nil {
		return nil, fmt.Errorf("au: %w", err)
	}
	return pcm, nil
}
