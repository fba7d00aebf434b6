package audio

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds Decode arbitrary bytes under the content types servers
// send: it must never panic, and must return either audio or an error
// wrapping one of the package's sentinels.
func FuzzDecode(f *testing.F) {
	w := testWAV{tag: 1, channels: 2, rate: 11025, bits: 16, dataSize: -1, freq: 440, seconds: 0.02, amp: 0.5}
	f.Add(w.build(), "audio/wav")
	w.tag, w.bits, w.extensible = 7, 8, true
	f.Add(w.build(), "audio/x-wav")
	w.tag, w.bits, w.extensible, w.dataSize = 3, 32, false, 0xFFFFFFFF
	f.Add(w.build(), "audio/wav")
	f.Add(testAU(1, 1, 8000, 0, 0.02), "audio/basic")
	f.Add(testAU(3, 2, 16000, 0xFFFFFFFF, 0.02), "audio/basic")
	f.Add([]byte("\xff\xfe\x7f\x7e"), "audio/ulaw")
	f.Add([]byte("<html></html>"), "text/html")
	f.Add([]byte("ID3\x03\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00"), "audio/mpeg")
	files, _ := filepath.Glob(filepath.Join("..", "..", "fixtures", "audio", "*.mp3"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		// The first frames are enough to reach every decoder stage and
		// keep each fuzz iteration fast.
		f.Add(data[:min(len(data), 1500)], "audio/mpeg")
	}
	f.Fuzz(func(t *testing.T, data []byte, ct string) {
		pcm, err := Decode(data, ct)
		switch {
		case err != nil && pcm != nil:
			t.Fatalf("both audio and %v", err)
		case err != nil && !errors.Is(err, ErrNotAudio) && !errors.Is(err, ErrUnsupported):
			t.Fatalf("unclassified error %v", err)
		case err == nil && pcm == nil:
			t.Fatal("no audio and no error")
		case err == nil && len(pcm.Samples) > maxSamples:
			t.Fatalf("%d samples", len(pcm.Samples))
		}
	})
}
