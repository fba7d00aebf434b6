package audio

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/texml/texml/media"
)

// Decoding errors. Every error from Decode wraps either ErrNotAudio or
// ErrUnsupported, so the interpreter can tell "the URL did not serve
// audio" (Twilio 11200) from "it served audio this platform cannot play".
var (
	// ErrNotAudio means the body is not audio at all: HTML, text, an
	// empty body, or unrecognisable bytes under a non-audio content type.
	ErrNotAudio = errors.New("not audio")
	// ErrUnsupported means the body is audio (or claims to be) in a
	// format, codec or layout this package cannot decode, or is corrupt.
	ErrUnsupported = errors.New("unsupported audio format")
	// ErrTooLong means the audio decodes to more than MaxDuration. It
	// wraps ErrUnsupported.
	ErrTooLong = fmt.Errorf("%w: longer than %v", ErrUnsupported, MaxDuration)
)

// MaxDuration bounds what Decode produces. Compressed audio expands about
// 100-fold (an 8 kbps MP3 in a 4 MiB body is over four hours, 250 MB of
// PCM), so without a bound one crafted file could exhaust memory.
const MaxDuration = 2 * time.Hour

// maxSamples is MaxDuration in samples at the engine rate.
const maxSamples = int(MaxDuration / time.Second * media.SampleRate)

// Decode sniffs data and decodes it to 8 kHz mono. The bytes decide the
// format: RIFF/WAVE (and RF64), ID3 or an MPEG audio frame header, and
// Sun .au (".snd"). contentType is only a hint, used for headerless
// G.711 (audio/basic, audio/ulaw and the like as µ-law, audio/alaw as
// A-law) and to word the error for bytes that match nothing.
func Decode(data []byte, contentType string) (*PCM, error) {
	ct := strings.ToLower(strings.TrimSpace(contentType))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	switch {
	case len(data) == 0:
		return nil, fmt.Errorf("%w: empty body", ErrNotAudio)
	case len(data) >= 12 && (string(data[:4]) == "RIFF" || string(data[:4]) == "RF64") && string(data[8:12]) == "WAVE":
		return decodeWAV(data)
	case len(data) >= 4 && string(data[:4]) == ".snd":
		return decodeAU(data)
	case len(data) >= 3 && string(data[:3]) == "ID3":
		return decodeMP3(data)
	case mpegStart(data):
		return decodeMP3(data)
	case looksLikeMarkup(data):
		// Before raw G.711: a misconfigured server sending an HTML error
		// page as audio/basic must not be played as noise.
		return nil, fmt.Errorf("%w: body is markup (%s)", ErrNotAudio, ct)
	}
	if enc, ok := rawG711(ct); ok {
		if len(data) > maxSamples {
			return nil, ErrTooLong
		}
		return &PCM{Samples: expandG711(data, enc)}, nil
	}
	if kind := knownContainer(data); kind != "" {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, kind)
	}
	// Some MP3s start with junk or padding before the first frame; only
	// look for one when the server says it is MPEG audio.
	if ct == "audio/mpeg" || ct == "audio/mp3" || ct == "audio/x-mp3" || ct == "audio/mpeg3" {
		for i := range min(len(data), 8192) {
			if mpegStart(data[i:]) {
				return decodeMP3(data[i:])
			}
		}
	}
	// Plain text only now: near-silent µ-law is all bytes ≥ 0x20 and
	// would pass for text.
	if looksLikeText(data) {
		return nil, fmt.Errorf("%w: body is text (%s)", ErrNotAudio, ct)
	}
	if strings.HasPrefix(ct, "audio/") {
		return nil, fmt.Errorf("%w: unrecognised %s data", ErrUnsupported, ct)
	}
	return nil, fmt.Errorf("%w: unrecognised data (%s)", ErrNotAudio, ct)
}

// rawG711 maps the content types of headerless G.711 to its law. RFC 2046
// registers audio/basic as 8 kHz µ-law; the rest are in common use.
func rawG711(ct string) (sampleFormat, bool) {
	switch ct {
	case "audio/basic", "audio/ulaw", "audio/x-ulaw", "audio/mulaw", "audio/x-mulaw", "audio/pcmu":
		return fmtULaw, true
	case "audio/alaw", "audio/x-alaw", "audio/pcma":
		return fmtALaw, true
	}
	return 0, false
}

// expandG711 decodes 8 kHz G.711 bytes; it is the one path that needs no
// resampling.
func expandG711(data []byte, enc sampleFormat) []int16 {
	out := make([]int16, len(data))
	g711(enc).Decode(out, data)
	return out
}

// g711 is the engine's codec for a G.711 sample format, so that files and
// RTP share one implementation of the laws.
func g711(enc sampleFormat) media.Codec {
	if enc == fmtALaw {
		return media.PCMA
	}
	return media.PCMU
}

// expand1 expands one G.711 byte.
func expand1(enc sampleFormat, b byte) int16 {
	var out [1]int16
	g711(enc).Decode(out[:], []byte{b})
	return out[0]
}

// looksLikeMarkup reports whether data is HTML or XML: what the WHATWG
// sniffing rules (as net/http implements them) call HTML or XML, or text
// that starts with '<', such as TwiML. The text condition keeps raw µ-law
// that happens to start with the byte '<' from being refused.
func looksLikeMarkup(data []byte) bool {
	t := http.DetectContentType(data)
	if strings.HasPrefix(t, "text/html") || strings.HasPrefix(t, "text/xml") {
		return true
	}
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n\ufeff"), []byte("<")) && looksLikeText(data)
}

// looksLikeText reports whether data is plain text or JSON.
func looksLikeText(data []byte) bool {
	t := http.DetectContentType(data)
	return strings.HasPrefix(t, "text/") || strings.HasPrefix(t, "application/json")
}

// knownContainer names audio containers recognised by their magic but not
// decoded here, so the error says what the file was.
func knownContainer(data []byte) string {
	switch {
	case len(data) >= 12 && string(data[:4]) == "FORM" && (string(data[8:12]) == "AIFF" || string(data[8:12]) == "AIFC"):
		return "AIFF"
	case len(data) >= 4 && string(data[:4]) == "OggS":
		return "Ogg"
	case len(data) >= 4 && string(data[:4]) == "fLaC":
		return "FLAC"
	case len(data) >= 12 && string(data[4:8]) == "ftyp":
		return "MP4/M4A"
	case len(data) >= 6 && string(data[:6]) == "#!AMR\n":
		return "AMR"
	case len(data) >= 4 && string(data[:4]) == "RIFF":
		return "RIFF (not WAVE)"
	}
	return ""
}

// sampleFormat is how one sample of one channel is stored.
type sampleFormat int

const (
	fmtU8 sampleFormat = iota // unsigned 8-bit (WAV)
	fmtS8                     // signed 8-bit (.au)
	fmtS16LE
	fmtS16BE
	fmtS24LE
	fmtS24BE
	fmtS32LE
	fmtS32BE
	fmtF32LE
	fmtF32BE
	fmtF64LE
	fmtF64BE
	fmtULaw
	fmtALaw
)

// size is the bytes per sample.
func (f sampleFormat) size() int {
	switch f {
	case fmtS16LE, fmtS16BE:
		return 2
	case fmtS24LE, fmtS24BE:
		return 3
	case fmtS32LE, fmtS32BE, fmtF32LE, fmtF32BE:
		return 4
	case fmtF64LE, fmtF64BE:
		return 8
	}
	return 1
}

// sample reads one sample from b (len ≥ f.size()) scaled to the int16
// range, as an int32 so channels can be summed without overflow. Wider
// formats keep their top 16 bits: telephone audio has no use for more.
func (f sampleFormat) sample(b []byte) int32 {
	switch f {
	case fmtU8:
		return (int32(b[0]) - 128) << 8
	case fmtS8:
		return int32(int8(b[0])) << 8
	case fmtS16LE:
		return int32(int16(uint16(b[0]) | uint16(b[1])<<8))
	case fmtS16BE:
		return int32(int16(uint16(b[1]) | uint16(b[0])<<8))
	case fmtS24LE:
		return int32(int16(uint16(b[1]) | uint16(b[2])<<8))
	case fmtS24BE:
		return int32(int16(uint16(b[1]) | uint16(b[0])<<8))
	case fmtS32LE:
		return int32(int16(uint16(b[2]) | uint16(b[3])<<8))
	case fmtS32BE:
		return int32(int16(uint16(b[1]) | uint16(b[0])<<8))
	case fmtF32LE:
		return floatSample(float64(math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)))
	case fmtF32BE:
		return floatSample(float64(math.Float32frombits(uint32(b[3]) | uint32(b[2])<<8 | uint32(b[1])<<16 | uint32(b[0])<<24)))
	case fmtF64LE, fmtF64BE:
		var u uint64
		for i := range 8 {
			if f == fmtF64LE {
				u |= uint64(b[i]) << (8 * i)
			} else {
				u |= uint64(b[7-i]) << (8 * i)
			}
		}
		return floatSample(math.Float64frombits(u))
	case fmtULaw, fmtALaw:
		return int32(expand1(f, b[0]))
	}
	return 0
}

// floatSample maps a [-1, 1] float sample to the int16 range, clipping
// out-of-range values and reading NaN as silence.
func floatSample(v float64) int32 {
	switch {
	case v != v:
		return 0
	case v >= 1:
		return math.MaxInt16
	case v <= -1:
		return math.MinInt16
	}
	return int32(math.Round(v * math.MaxInt16))
}

// interleaved describes a block of uncompressed frames.
type interleaved struct {
	format   sampleFormat
	channels int
	rate     int
}

// toPCM downmixes interleaved frames to mono by averaging the channels and
// resamples to 8 kHz. A trailing partial frame is dropped: streaming
// writers cut off mid-frame, and the rest of the file is still good.
func (in interleaved) toPCM(data []byte) (*PCM, error) {
	if in.channels < 1 || in.channels > 64 {
		return nil, fmt.Errorf("%w: %d channels", ErrUnsupported, in.channels)
	}
	if in.rate < 1000 || in.rate > 768000 {
		return nil, fmt.Errorf("%w: sample rate %d", ErrUnsupported, in.rate)
	}
	size := in.format.size()
	block := size * in.channels
	frames := len(data) / block
	if int64(frames)*media.SampleRate/int64(in.rate) > int64(maxSamples) {
		return nil, ErrTooLong
	}
	mono := make([]int16, frames)
	ch := int32(in.channels)
	for i := range mono {
		b := data[i*block : (i+1)*block]
		var sum int32
		for c := 0; c < len(b); c += size {
			sum += in.format.sample(b[c:])
		}
		mono[i] = int16(sum / ch)
	}
	if in.rate == media.SampleRate {
		return &PCM{Samples: mono}, nil
	}
	return &PCM{Samples: Resample(mono, in.rate, media.SampleRate)}, nil
}
