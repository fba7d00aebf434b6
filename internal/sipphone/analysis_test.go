package sipphone

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestAnalysis(t *testing.T) {
	tone := ToneSamples(440, time.Second)
	if f := DominantFreq(tone); math.Abs(f-440) > 5 {
		t.Errorf("DominantFreq of 440 Hz: %.1f", f)
	}
	if v := VoicedTime(tone); v != time.Second {
		t.Errorf("VoicedTime of 1 s of tone: %v", v)
	}
	// -10 dBFS: a squared amplitude of 0.1.
	if p := Goertzel(tone, 440); math.Abs(p-0.1) > 0.01 {
		t.Errorf("Goertzel power at 440 Hz: %.3f, want 0.1", p)
	}
	if p := Goertzel(tone, 1000); p > 0.001 {
		t.Errorf("Goertzel power at 1000 Hz of a 440 Hz tone: %.4f", p)
	}
	if !HasTone(tone, 440) || HasTone(tone, 480) || HasTone(tone, 1000) {
		t.Errorf("HasTone 440/480/1000: %v %v %v", HasTone(tone, 440), HasTone(tone, 480), HasTone(tone, 1000))
	}
	quiet := make([]int16, Rate)
	for i := range quiet {
		quiet[i] = tone[i] / 1000 // -70 dBFS: below the floor
	}
	if HasTone(quiet, 440) || VoicedTime(quiet) != 0 || DominantFreq(quiet) != 0 {
		t.Error("a tone under the silence floor counts")
	}
	noise := make([]int16, Rate)
	for i := range noise {
		noise[i] = int16(rand.IntN(20000) - 10000)
	}
	if HasTone(noise, 440) {
		t.Error("noise has a 440 Hz tone")
	}
	// 80 ms of tone is too short to count; 150 ms counts.
	if HasTone(tone[:640], 440) || !HasTone(append(make([]int16, Rate/2), tone[:1200]...), 440) {
		t.Error("HasTone's 100 ms minimum")
	}
}
