package sipphone

import "testing"

func TestG711RoundTrip(t *testing.T) {
	for _, x := range []int16{0, 1, -1, 100, -100, 1000, -5000, 12000, 32767, -32768} {
		tol := max(int(x), -int(x))/16 + 16 // about 4 bits of mantissa
		for name, got := range map[string]int16{"µ-law": ulawDecode(ulawEncode(x)), "A-law": alawDecode(alawEncode(x))} {
			if d := int(got) - int(x); d > tol || d < -tol {
				t.Errorf("%s round trip of %d: %d", name, x, got)
			}
		}
	}
}

// TestG711Reference checks code words of ITU-T G.711's tables: silence
// and the extremes.
func TestG711Reference(t *testing.T) {
	for _, tt := range []struct {
		b    byte
		alaw bool
		want int16
	}{
		{0xFF, false, 0}, {0x7F, false, 0}, {0x80, false, 32124}, {0x00, false, -32124},
		{0xD5, true, 8}, {0x55, true, -8}, {0xAA, true, 32256}, {0x2A, true, -32256},
	} {
		got := ulawDecode(tt.b)
		if tt.alaw {
			got = alawDecode(tt.b)
		}
		if got != tt.want {
			t.Errorf("decode %#02x (A-law %v) = %d, want %d", tt.b, tt.alaw, got, tt.want)
		}
	}
	if alawEncode(0) != 0xD5 || ulawEncode(0) != 0xFF {
		t.Errorf("silence encodes as %#02x (A-law), %#02x (µ-law)", alawEncode(0), ulawEncode(0))
	}
}
