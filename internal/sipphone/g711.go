package sipphone

// G.711 (ITU-T G.711) µ-law and A-law, written here apart from texml's
// media package so that a test checks texml's codec rather than trusts
// it: the phone decodes what it hears with its own tables.

// Codec is a G.711 codec the phone speaks, named as in SDP rtpmap.
type Codec string

// The codecs the phone offers and answers, with their static payload
// types (RFC 3551 §6).
const (
	PCMU Codec = "PCMU" // µ-law, payload type 0
	PCMA Codec = "PCMA" // A-law, payload type 8
)

// PayloadType is the codec's static RTP payload type.
func (c Codec) PayloadType() uint8 {
	if c == PCMA {
		return 8
	}
	return 0
}

// codecOf names the codec of a static payload type; ok is false for any
// other payload type.
func codecOf(pt uint8) (Codec, bool) {
	switch pt {
	case 0:
		return PCMU, true
	case 8:
		return PCMA, true
	}
	return "", false
}

// encode compresses one sample with the codec.
func (c Codec) encode(x int16) byte {
	if c == PCMA {
		return alawEncode(x)
	}
	return ulawEncode(x)
}

// decode expands one byte of the codec with payload type pt.
func decode(pt uint8, b byte) int16 {
	if pt == 8 {
		return alawDecode(b)
	}
	return ulawDecode(b)
}

// ulawDecode expands one µ-law byte.
func ulawDecode(b byte) int16 {
	b = ^b
	sign := b & 0x80
	exp := (b >> 4) & 7
	mant := int(b & 0x0F)
	v := ((mant << 3) + 0x84) << exp
	v -= 0x84
	if sign != 0 {
		return int16(-v)
	}
	return int16(v)
}

// ulawEncode is µ-law compression (the segment search of the reference
// implementation), the inverse of ulawDecode.
func ulawEncode(x int16) byte {
	const bias, clip = 0x84, 32635
	v, sign := int(x), 0
	if v < 0 {
		v, sign = -v, 0x80
	}
	v = min(v, clip) + bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mant)
}

// alawDecode expands one A-law byte (even bits inverted, sign bit set
// for positive values).
func alawDecode(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	switch seg := int(a&0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t = (t + 0x108) << (seg - 1)
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// alawEncode is A-law compression of the 13 most significant bits, the
// inverse of alawDecode.
func alawEncode(x int16) byte {
	v := int(x) >> 3
	mask := byte(0xD5)
	if v < 0 {
		mask, v = 0x55, -v-1
	}
	seg := 0
	for end := 0x1F; seg < 8 && v > end; end = end<<1 | 1 {
		seg++
	}
	if seg >= 8 {
		return 0x7F ^ mask
	}
	a := byte(seg << 4)
	if seg < 2 {
		a |= byte(v>>1) & 0x0F
	} else {
		a |= byte(v>>seg) & 0x0F
	}
	return a ^ mask
}
