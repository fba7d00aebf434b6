package media

import (
	"math"
	"testing"
)

// The reference below follows the ITU-T G.191 software tools' G.711
// module step by step (segment found by a shift loop, nibbles
// complemented explicitly), independently of the bit tricks in g711.go.

func refULawCompress(lin int16) byte {
	var absno int32
	if lin < 0 {
		absno = int32(^lin)>>2 + 33
	} else {
		absno = int32(lin)>>2 + 33
	}
	if absno > 0x1FFF {
		absno = 0x1FFF
	}
	i := absno >> 6
	segno := int32(1)
	for i != 0 {
		segno++
		i >>= 1
	}
	high := 0x8 - segno
	low := 0xF - (absno>>segno)&0xF
	out := byte(high<<4 | low)
	if lin >= 0 {
		out |= 0x80
	}
	return out
}

func refULawExpand(logbuf byte) int16 {
	sign := int32(1)
	if logbuf < 0x80 {
		sign = -1
	}
	mantissa := int32(^logbuf)
	exponent := (mantissa >> 4) & 0x7
	segment := exponent + 1
	mantissa &= 0xF
	step := int32(4) << segment
	return int16(sign * ((0x80 << exponent) + step*mantissa + step/2 - 4*33))
}

func refALawCompress(lin int16) byte {
	var ix int32
	if lin < 0 {
		ix = int32(^lin) >> 4
	} else {
		ix = int32(lin) >> 4
	}
	if ix > 15 {
		iexp := int32(1)
		for ix > 16+15 {
			ix >>= 1
			iexp++
		}
		ix -= 16
		ix += iexp << 4
	}
	if lin >= 0 {
		ix |= 0x80
	}
	return byte(ix ^ 0x55)
}

func refALawExpand(logbuf byte) int16 {
	ix := int32(logbuf^0x55) & 0x7F
	iexp := ix >> 4
	mant := ix & 0xF
	if iexp > 0 {
		mant += 16
	}
	mant = mant<<4 + 8
	if iexp > 1 {
		mant <<= iexp - 1
	}
	if logbuf > 127 {
		return int16(mant)
	}
	return int16(-mant)
}

func TestG711MatchesReference(t *testing.T) {
	for _, tc := range []struct {
		codec    Codec
		compress func(int16) byte
		expand   func(byte) int16
	}{
		{PCMU, refULawCompress, refULawExpand},
		{PCMA, refALawCompress, refALawExpand},
	} {
		t.Run(tc.codec.Name, func(t *testing.T) {
			src := make([]int16, 1<<16)
			for i := range src {
				src[i] = int16(i - 1<<15)
			}
			enc := make([]byte, len(src))
			tc.codec.Encode(enc, src)
			for i, x := range src {
				if want := tc.compress(x); enc[i] != want {
					t.Fatalf("Encode(%d) = %#02x, reference %#02x", x, enc[i], want)
				}
			}
			codes := make([]byte, 256)
			for i := range codes {
				codes[i] = byte(i)
			}
			dec := make([]int16, 256)
			tc.codec.Decode(dec, codes)
			for i, c := range codes {
				if want := tc.expand(c); dec[i] != want {
					t.Fatalf("Decode(%#02x) = %d, reference %d", c, dec[i], want)
				}
			}
		})
	}
}

func TestG711KnownValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec Codec
		code  byte
		lin   int16
	}{
		{"µ-law zero", PCMU, 0xFF, 0},
		{"µ-law negative zero", PCMU, 0x7F, 0},
		{"µ-law max", PCMU, 0x80, 32124},
		{"µ-law min", PCMU, 0x00, -32124},
		{"A-law +8", PCMA, 0xD5, 8},
		{"A-law -8", PCMA, 0x55, -8},
		{"A-law max", PCMA, 0xAA, 32256},
		{"A-law min", PCMA, 0x2A, -32256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [1]int16
			tc.codec.Decode(got[:], []byte{tc.code})
			if got[0] != tc.lin {
				t.Errorf("Decode(%#02x) = %d, want %d", tc.code, got[0], tc.lin)
			}
		})
	}
	var b [2]byte
	PCMU.Encode(b[:1], []int16{0})
	PCMA.Encode(b[1:], []int16{0})
	if b != [2]byte{0xFF, 0xD5} {
		t.Errorf("Encode(0) = %#02x %#02x, want 0xff 0xd5", b[0], b[1])
	}
}

// The companding error of G.711 stays within half a quantization step,
// which is at most about 4% of the value above the smallest segments
// (µ-law's bias makes the start of each segment the worst case).
func TestG711RoundTrip(t *testing.T) {
	for _, c := range []Codec{PCMU, PCMA} {
		t.Run(c.Name, func(t *testing.T) {
			for x := -32000; x <= 32000; x += 7 {
				var b [1]byte
				var y [1]int16
				c.Encode(b[:], []int16{int16(x)})
				c.Decode(y[:], b[:])
				limit := max(16, math.Abs(float64(x))*0.04)
				if d := math.Abs(float64(int(y[0]) - x)); d > limit {
					t.Fatalf("%d → %#02x → %d: error %.0f > %.0f", x, b[0], y[0], d, limit)
				}
			}
		})
	}
}

func TestCodecSupported(t *testing.T) {
	for _, tc := range []struct {
		c    Codec
		want bool
	}{
		{PCMU, true}, {PCMA, true}, {Codec{"pcma", 8}, true}, {Codec{"G729", 18}, false},
	} {
		if got := tc.c.Supported(); got != tc.want {
			t.Errorf("%v.Supported() = %v, want %v", tc.c, got, tc.want)
		}
	}
}

func TestG711EncodeAllocs(t *testing.T) {
	src := make([]int16, FrameSamples)
	dst := make([]byte, FrameSamples)
	if n := testing.AllocsPerRun(100, func() { PCMA.Encode(dst, src); PCMU.Decode(src, dst) }); n != 0 {
		t.Errorf("allocs per run = %v, want 0", n)
	}
}

// The transcoding tables match the G.191 reference decode-then-encode,
// and a round trip through both stays within one step of the coarser law.
func TestTranscodeTables(t *testing.T) {
	for c := range 256 {
		b := byte(c)
		if got, want := transcodeTables.muToA[b], refALawCompress(refULawExpand(b)); got != want {
			t.Errorf("µ %#02x → A %#02x, want %#02x", b, got, want)
		}
		if got, want := transcodeTables.aToMu[b], refULawCompress(refALawExpand(b)); got != want {
			t.Errorf("A %#02x → µ %#02x, want %#02x", b, got, want)
		}
		v := float64(muLawExpand(b))
		back := float64(muLawExpand(transcodeTables.aToMu[transcodeTables.muToA[b]]))
		if d := math.Abs(back - v); d > math.Abs(v)/8+16 {
			t.Errorf("µ %#02x (%v) → A → µ: %v", b, v, back)
		}
	}
	b := []byte{0x00, 0x7F, 0x80, 0xFF}
	want := []byte{transcodeTables.muToA[0x00], transcodeTables.muToA[0x7F], transcodeTables.muToA[0x80], transcodeTables.muToA[0xFF]}
	transcode(b, muLaw, aLaw)
	if string(b) != string(want) {
		t.Errorf("transcode = %x, want %x", b, want)
	}
	transcode(b, aLaw, aLaw)
	if string(b) != string(want) {
		t.Error("transcode within one law changed the bytes")
	}
}
