package audio

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/texml/texml/media"
)

// writeFrames writes s to w 20 ms at a time (interleaved frames of ch
// channels).
func writeFrames(t *testing.T, write func([]int16) error, s []int16, ch int) {
	t.Helper()
	step := media.FrameSamples * ch
	for off := 0; off < len(s); off += step {
		if err := write(s[off:min(off+step, len(s))]); err != nil {
			t.Fatal(err)
		}
	}
}

// stereoData reads a stereo file this package wrote: its header says two
// channels, and its data splits into left and right.
func stereoData(t *testing.T, data []byte) (left, right []int16) {
	t.Helper()
	le := binary.LittleEndian
	if string(data[:4]) != "RIFF" || le.Uint16(data[22:]) != 2 || le.Uint32(data[28:]) != 32000 || le.Uint16(data[32:]) != 4 {
		t.Fatalf("not a stereo 8 kHz 16-bit header: % x", data[:44])
	}
	n := int(le.Uint32(data[40:]))
	if 44+n > len(data) {
		t.Fatalf("data chunk of %d bytes in a file of %d", n, len(data))
	}
	for i := 44; i+4 <= 44+n; i += 4 {
		left = append(left, int16(le.Uint16(data[i:])))
		right = append(right, int16(le.Uint16(data[i+2:])))
	}
	return left, right
}

func interleave(l, r []int16) []int16 {
	out := make([]int16, 0, 2*len(l))
	for i := range l {
		out = append(out, l[i], r[i])
	}
	return out
}

func TestStereoWAVWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dual.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewStereoWAVWriter(f)
	l, r := Tone([]float64{440}, 500e6, 0.5).Samples, Tone([]float64{1000}, 500e6, 0.3).Samples
	writeFrames(t, w.Write, interleave(l, r), 2)
	if w.Duration() != 500e6 || w.Channels() != 2 {
		t.Errorf("duration %v, %d channels", w.Duration(), w.Channels())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	gotL, gotR := stereoData(t, data)
	if !slices.Equal(gotL, l) || !slices.Equal(gotR, r) {
		t.Fatal("the channels did not come back as written")
	}
	// Decode (for playback) mixes the channels down.
	pcm, err := Decode(data, "audio/wav")
	if err != nil || len(pcm.Samples) != len(l) {
		t.Fatalf("decode: %v", err)
	}
}

func TestWAVWriterTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cut.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewStereoWAVWriter(f)
	writeFrames(t, w.Write, make([]int16, 2*1600), 2)
	if err := w.Truncate(5000); err != nil { // longer than the data: nothing to do
		t.Fatal(err)
	}
	if err := w.Truncate(800); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]int16{7, 8}); err != nil { // continues after the cut
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if len(data) != 44+801*4 {
		t.Errorf("file of %d bytes: it did not shrink to its data", len(data))
	}
	l, r := stereoData(t, data)
	if len(l) != 801 || l[800] != 7 || r[800] != 8 {
		t.Fatalf("%d frames, last %d/%d", len(l), l[len(l)-1], r[len(r)-1])
	}
	if err := w.Truncate(1); err == nil {
		t.Error("Truncate after Close succeeded")
	}

	// A writer without Truncate (memFile) keeps the bytes after the data,
	// and the header still describes the data alone.
	m := &memFile{failAfter: -1}
	w = NewWAVWriter(m)
	writeFrames(t, w.Write, make([]int16, 1600), 1)
	_ = w.Truncate(100)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if pcm, err := Decode(m.data, ""); err != nil || len(pcm.Samples) != 100 {
		t.Errorf("truncated mono: %v", err)
	}
}

// trimmed runs s through a TrimWriter (channels ch) and returns the file.
func trimmed(t *testing.T, s []int16, ch int) []byte {
	t.Helper()
	m := &memFile{failAfter: -1}
	w := NewWAVWriter(m)
	if ch == 2 {
		w = NewStereoWAVWriter(m)
	}
	tw := NewTrimWriter(w)
	writeFrames(t, tw.Write, s, ch)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return m.data
}

func TestTrimWriterMatchesTrimSilence(t *testing.T) {
	const sec = media.SampleRate
	for _, tc := range []struct {
		name string
		s    []int16
	}{
		{"speech in the middle", func() []int16 {
			s := make([]int16, 4*sec)
			copy(s[sec+sec/2:], speechLike(sec, -20))
			return mix(s, noise(len(s), -60, 13))
		}()},
		{"speech from the start", append(speechLike(sec, -20), make([]int16, sec)...)},
		{"speech to the end", append(make([]int16, sec+37), speechLike(sec, -20)...)},
		{"silence", noise(2*sec, -60, 14)},
		{"nothing", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := TrimSilence(&PCM{Samples: tc.s}).Samples
			pcm, err := Decode(trimmed(t, tc.s, 1), "")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pcm.Samples, want) {
				t.Errorf("streamed trim kept %d samples, TrimSilence %d", len(pcm.Samples), len(want))
			}
		})
	}
}

func TestTrimWriterStereo(t *testing.T) {
	// The caller talks from 1 s to 2 s on the left, the callee from 2.5 s
	// to 3 s on the right: the trim keeps 1 s to 3 s (with its margins) of
	// both channels, in step.
	const sec = media.SampleRate
	l, r := make([]int16, 4*sec), make([]int16, 4*sec)
	copy(l[sec:], speechLike(sec, -20))
	copy(r[sec*5/2:], speechLike(sec/2, -20))
	left, right := stereoData(t, trimmed(t, interleave(l, r), 2))
	if d := float64(len(left)) / sec; d < 1.8 || d > 2.3 {
		t.Errorf("trimmed to %.2f s, want about 2", d)
	}
	// Both channels are cut where TrimSilence cuts their mix.
	m := make([]int16, len(l))
	for i := range m {
		m[i] = int16((int32(l[i]) + int32(r[i])) / 2)
	}
	want := TrimSilence(&PCM{Samples: m}).Samples
	first := cap(m) - cap(want)
	if len(left) != len(want) || !slices.Equal(left, l[first:first+len(want)]) || !slices.Equal(right, r[first:first+len(want)]) {
		t.Errorf("kept %d samples per channel, want %d from %d of both channels", len(left), len(want), first)
	}
}
