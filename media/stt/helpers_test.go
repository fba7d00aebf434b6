package stt

import (
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/texml/texml/media/tts"
)

// need skips a test when a program is missing on a developer machine and
// fails it under CI=true, where .ci/run installs the packages: a skipped
// recognition suite would hide a broken install step.
func need(tb testing.TB, programs ...string) {
	tb.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") == "true" {
				tb.Fatalf("%s is required under CI: %v", p, err)
			}
			tb.Skipf("%s not installed: %v", p, err)
		}
	}
}

// sharedSphinx loads the dictionary once for the whole test binary; the
// Sphinx itself is safe for concurrent use.
var sharedSphinx = sync.OnceValues(func() (*Sphinx, error) { return NewSphinx(SphinxOptions{}) })

func needSphinx(tb testing.TB) *Sphinx {
	tb.Helper()
	need(tb, DefaultSphinxBinary)
	s, err := sharedSphinx()
	if err != nil {
		tb.Fatalf("NewSphinx: %v", err)
	}
	return s
}

// speak synthesizes text with the real espeak-ng at 8 kHz, as a caller's
// audio would arrive.
func speak(tb testing.TB, text, voice string) []int16 {
	tb.Helper()
	need(tb, tts.DefaultEspeakBinary)
	e, err := tts.NewEspeak(tts.EspeakOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := e.Synthesize(tb.Context(), tts.Request{Text: text, Voice: voice})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// ulawRoundTrip passes audio through G.711 µ-law as an RTP call does
// (ITU-T G.711 segment encoding with the 0x84 bias).
func ulawRoundTrip(s []int16) []int16 {
	out := make([]int16, len(s))
	for i, v := range s {
		out[i] = ulawDecode(ulawEncode(v))
	}
	return out
}

func ulawEncode(v int16) byte {
	const bias, clip = 0x84, 32635
	x := int(v)
	sign := 0
	if x < 0 {
		x, sign = -x, 0x80
	}
	x = min(x, clip) + bias
	exp := 7
	for mask := 0x4000; x&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (x >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

func ulawDecode(u byte) int16 {
	u = ^u
	x := ((int(u&0x0f) << 3) + 0x84) << ((u >> 4) & 7)
	if u&0x80 != 0 {
		return int16(0x84 - x)
	}
	return int16(x - 0x84)
}
