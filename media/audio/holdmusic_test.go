package audio

import (
	"context"
	"testing"
)

func TestHoldMusic(t *testing.T) {
	p := HoldMusic()
	if got, want := p.Duration().Seconds(), 8.0; got != want {
		t.Fatalf("hold music lasts %v s, want %v", got, want)
	}
	var peak, energy float64
	for _, s := range p.Samples {
		v := float64(s)
		if v < 0 {
			v = -v
		}
		peak = max(peak, v)
		energy += v * v
	}
	if peak < 4000 || peak > 8001 {
		t.Errorf("peak %v, want a background level near 8000", peak)
	}
	// No silent stretch: the arpeggio never stops (RMS of every 100 ms).
	for i := 0; i+800 <= len(p.Samples); i += 800 {
		var e float64
		for _, s := range p.Samples[i : i+800] {
			e += float64(s) * float64(s)
		}
		if e/800 < 100*100 {
			t.Fatalf("near silence at %d ms", i/8)
		}
	}
	if HoldMusic() != p {
		t.Error("hold music is synthesized again instead of shared")
	}
	c := NewCache(nil, CacheOptions{})
	got, err := c.Get(context.Background(), HoldMusicURL)
	if err != nil || got != p {
		t.Fatalf("Cache.Get(%q) = %v, %v; want the shared hold music", HoldMusicURL, got, err)
	}
}
