package audio

// G.711 expansion (ITU-T G.711, tables 1a and 2a), for µ-law and A-law in
// WAV, .au and raw bodies. The codec tables of package media are for the
// RTP edge; this package keeps its own two tiny functions so decoding has
// no dependency on the engine's internals.

// ulawToLinear expands one µ-law byte to 16-bit linear PCM.
func ulawToLinear(u byte) int16 {
	u = ^u
	exp := (u >> 4) & 0x07
	mant := int16(u & 0x0f)
	v := ((mant << 3) + 0x84) << exp
	v -= 0x84
	if u&0x80 != 0 {
		return -v
	}
	return v
}

// alawToLinear expands one A-law byte to 16-bit linear PCM.
func alawToLinear(a byte) int16 {
	a ^= 0x55
	exp := (a >> 4) & 0x07
	mant := int16(a & 0x0f)
	var v int16
	if exp == 0 {
		v = (mant << 4) + 8
	} else {
		v = ((mant << 4) + 0x108) << (exp - 1)
	}
	if a&0x80 != 0 {
		return v
	}
	return -v
}
