package media

import (
	"math/bits"
	"strings"
)

// Codec names a G.711 variant and the RTP payload type it travels under.
// The Name decides the companding law ("PCMA" is A-law, anything else is
// treated as µ-law); the PayloadType is what goes on the wire, so a peer
// that maps G.711 to a dynamic payload type still works.
type Codec struct {
	Name        string
	PayloadType uint8
}

// PCMU and PCMA are the two G.711 codecs with their static payload types
// from RFC 3551 section 6 (0 and 8). They are values: copying them is free and
// nothing can change the originals through a copy.
var (
	PCMU = Codec{Name: "PCMU", PayloadType: 0}
	PCMA = Codec{Name: "PCMA", PayloadType: 8}
)

// String returns the codec as it appears in an SDP rtpmap, e.g. "PCMU/8000".
func (c Codec) String() string { return c.Name + "/8000" }

// Supported reports whether the codec is one of the G.711 variants this
// package can encode and decode.
func (c Codec) Supported() bool {
	return strings.EqualFold(c.Name, "PCMU") || strings.EqualFold(c.Name, "PCMA")
}

// Encode compands src into dst, one byte per sample. It converts
// min(len(dst), len(src)) samples and never allocates.
func (c Codec) Encode(dst []byte, src []int16) { c.law().encode(dst, src) }

// Decode expands src into dst, one sample per byte. It converts
// min(len(dst), len(src)) samples and never allocates.
func (c Codec) Decode(dst []int16, src []byte) { c.law().decode(dst, src) }

// law selects the companding tables once; the hot path keeps the result
// so it does not compare strings per packet.
func (c Codec) law() law {
	if strings.EqualFold(c.Name, "PCMA") {
		return aLaw
	}
	return muLaw
}

// law is a companding law: G.711 µ-law or A-law.
type law uint8

const (
	muLaw law = iota
	aLaw
)

// silence is the code word of a zero sample: what an idle line sends.
func (l law) silence() byte {
	if l == aLaw {
		return aLawTables.enc[0]
	}
	return muLawTables.enc[0]
}

func (l law) encode(dst []byte, src []int16) {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	if l == aLaw {
		t := &aLawTables.enc
		for i, x := range src {
			dst[i] = t[uint16(x)>>aLawShift]
		}
		return
	}
	t := &muLawTables.enc
	for i, x := range src {
		dst[i] = t[uint16(x)>>muLawShift]
	}
}

func (l law) decode(dst []int16, src []byte) {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	t := &muLawTables.dec
	if l == aLaw {
		t = &aLawTables.dec
	}
	for i, b := range src {
		dst[i] = t[b]
	}
}

// µ-law quantizes a 14-bit signed value and A-law a 13-bit one (G.711
// sections 3.1 and 3.2), so the low 2 or 3 bits of a 16-bit sample never change the
// code word: the encode tables are indexed by the sample shifted right.
const (
	muLawShift = 2
	aLawShift  = 4 // 16-bit sample → 12-bit magnitude plus sign
)

// The tables are computed once at start-up and only read afterwards.
var (
	muLawTables = buildMuLaw()
	aLawTables  = buildALaw()
)

type muLawTable struct {
	enc [1 << (16 - muLawShift)]byte
	dec [256]int16
}

type aLawTable struct {
	enc [1 << (16 - aLawShift)]byte
	dec [256]int16
}

func buildMuLaw() *muLawTable {
	t := new(muLawTable)
	for i := range t.enc {
		// The index is the top 14 bits of the sample; shifting back
		// restores a representative sample of that class.
		t.enc[i] = muLawCompress(int16(uint16(i) << muLawShift))
	}
	for c := range t.dec {
		t.dec[c] = muLawExpand(byte(c))
	}
	return t
}

func buildALaw() *aLawTable {
	t := new(aLawTable)
	for i := range t.enc {
		t.enc[i] = aLawCompress(int16(uint16(i) << aLawShift))
	}
	for c := range t.dec {
		t.dec[c] = aLawExpand(byte(c))
	}
	return t
}

// muLawCompress encodes one sample. Negative values use the one's
// complement, as the G.191 reference does, so -1 encodes like 0 with the
// sign cleared. The magnitude is biased by 33 so that every segment
// boundary becomes a power of two, and the segment is then simply the
// position of the highest set bit.
func muLawCompress(x int16) byte {
	v := int32(x)
	sign := byte(0x80)
	if v < 0 {
		v = ^v
		sign = 0
	}
	m := v>>muLawShift + 33
	if m > 0x1FFF {
		m = 0x1FFF
	}
	seg := bits.Len32(uint32(m)) - 6 // 33..63 → 0, 4096..8191 → 7
	mant := (m >> (seg + 1)) & 0xF
	// The code word is transmitted inverted (G.711 Table 2a, odd bits
	// complemented for line density), with the sign bit set for positive.
	return ((byte(seg<<4) | byte(mant)) ^ 0x7F) | sign
}

// muLawExpand decodes one code word to the midpoint of its interval.
func muLawExpand(c byte) int16 {
	c = ^c
	seg := (c >> 4) & 7
	mant := int32(c & 0xF)
	mag := (mant<<3+0x84)<<seg - 0x84
	if c&0x80 != 0 {
		return int16(-mag)
	}
	return int16(mag)
}

// aLawCompress encodes one sample. A-law has two linear segments at the
// bottom (0 and 1 share the step size), then one segment per octave.
func aLawCompress(x int16) byte {
	v := int32(x)
	sign := byte(0x80)
	if v < 0 {
		v = ^v
		sign = 0
	}
	m := v >> aLawShift // 0..2047
	var code byte
	if m < 32 {
		code = byte(m)
	} else {
		seg := bits.Len32(uint32(m)) - 4 // 32..63 → 2, 1024..2047 → 7
		code = byte(seg<<4) | byte((m>>(seg-1))&0xF)
	}
	// Even bits are inverted on the line (G.711 section 3.2).
	return (code | sign) ^ 0x55
}

// aLawExpand decodes one code word to the midpoint of its interval.
func aLawExpand(c byte) int16 {
	c ^= 0x55
	seg := (c >> 4) & 7
	mant := int32(c & 0xF)
	var mag int32
	if seg == 0 {
		mag = mant<<4 + 8
	} else {
		mag = (mant<<4 + 0x108) << (seg - 1)
	}
	if c&0x80 != 0 {
		return int16(mag)
	}
	return int16(-mag)
}

// transcodeTable maps every code word of one law to the code word of the
// other law for the same linear value: decoded to its interval's
// midpoint, then encoded. A bridge between a PCMU and a PCMA party then
// converts with one lookup per sample instead of a decode and an encode.
// (G.711 Tables 3 and 4 define a slightly different mapping, tuned so that
// a µ→A→µ round trip is transparent; one pass through a bridge only needs
// the nearest value.)
type transcodeTable struct {
	muToA, aToMu [256]byte
}

// transcodeTables is computed once at start-up and only read afterwards.
var transcodeTables = buildTranscode()

func buildTranscode() *transcodeTable {
	t := new(transcodeTable)
	for c := range 256 {
		t.muToA[c] = aLawCompress(muLawExpand(byte(c)))
		t.aToMu[c] = muLawCompress(aLawExpand(byte(c)))
	}
	return t
}

// transcode converts the code words in b from law from to law to, in
// place.
func transcode(b []byte, from, to law) {
	if from == to {
		return
	}
	t := &transcodeTables.aToMu
	if from == muLaw {
		t = &transcodeTables.muToA
	}
	for i, c := range b {
		b[i] = t[c]
	}
}
