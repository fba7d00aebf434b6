package audio

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// half is the level of a sine at half of full scale: -6.02 dB.
var half = 20 * math.Log10(0.5)

func TestDecodeWAV(t *testing.T) {
	base := testWAV{tag: 1, channels: 1, rate: 8000, bits: 16, dataSize: -1, freq: 1000, seconds: 0.5, amp: 0.5}
	with := func(f func(*testWAV)) testWAV { w := base; f(&w); return w }
	tests := []struct {
		name string
		wav  testWAV
		tol  float64 // dB
	}{
		{"16-bit 8 kHz", base, 0.1},
		{"8-bit unsigned", with(func(w *testWAV) { w.bits = 8 }), 0.3},
		{"24-bit 16 kHz", with(func(w *testWAV) { w.bits, w.rate = 24, 16000 }), 0.2},
		{"32-bit stereo 11025 Hz", with(func(w *testWAV) { w.bits, w.channels, w.rate = 32, 2, 11025 }), 0.2},
		{"16-bit stereo 44100 Hz", with(func(w *testWAV) { w.channels, w.rate = 2, 44100 }), 0.2},
		{"float32 22050 Hz", with(func(w *testWAV) { w.tag, w.bits, w.rate = 3, 32, 22050 }), 0.2},
		{"float64 48 kHz", with(func(w *testWAV) { w.tag, w.bits, w.rate = 3, 64, 48000 }), 0.2},
		{"µ-law", with(func(w *testWAV) { w.tag, w.bits = 7, 8 }), 0.3},
		{"A-law", with(func(w *testWAV) { w.tag, w.bits = 6, 8 }), 0.3},
		{"µ-law stereo 16 kHz", with(func(w *testWAV) { w.tag, w.bits, w.channels, w.rate = 7, 8, 2, 16000 }), 0.3},
		{"extensible 16-bit stereo 48 kHz", with(func(w *testWAV) { w.extensible, w.channels, w.rate = true, 2, 48000 }), 0.2},
		{"extensible 24-bit", with(func(w *testWAV) { w.extensible, w.bits = true, 24 }), 0.2},
		{"extensible µ-law", with(func(w *testWAV) { w.extensible, w.tag, w.bits = true, 7, 8 }), 0.3},
		{"data size 0", with(func(w *testWAV) { w.dataSize = 0 }), 0.1},
		{"data size 0xFFFFFFFF", with(func(w *testWAV) { w.dataSize = 0xFFFFFFFF }), 0.1},
		{"data size past the end", with(func(w *testWAV) { w.dataSize = 1 << 30 }), 0.1},
		{"unknown chunks, odd size padded", with(func(w *testWAV) {
			w.extra = append([]byte("LIST\x03\x00\x00\x00abc\x00"), "fact\x04\x00\x00\x00\x40\x1f\x00\x00"...)
		}), 0.1},
		{"RF64", with(func(w *testWAV) { w.magic, w.dataSize = "RF64", 0xFFFFFFFF }), 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.wav.build()
			pcm, err := Decode(data, "audio/wav")
			if err != nil {
				t.Fatal(err)
			}
			if d := pcm.Duration(); d < 499*time.Millisecond || d > 501*time.Millisecond {
				t.Errorf("duration %v, want 500ms", d)
			}
			if l := level(pcm.Samples); math.Abs(l-half) > tt.tol {
				t.Errorf("level %.2f dB, want %.2f ± %.1f", l, half, tt.tol)
			}
			if zc := zeroCrossings(pcm.Samples); zc < 798 || zc > 802 {
				t.Errorf("%d zero crossings, want 800 for 1 kHz", zc)
			}
			// The content type is a hint only.
			if _, err := Decode(data, "application/octet-stream"); err != nil {
				t.Errorf("as octet-stream: %v", err)
			}
		})
	}
}

func TestDecodeWAVEdges(t *testing.T) {
	base := testWAV{tag: 1, channels: 1, rate: 8000, bits: 16, dataSize: -1, freq: 1000, seconds: 0.1, amp: 0.5}
	// A partial trailing frame (a writer cut off mid-sample) is dropped.
	data := append(base.build(), 0x12)
	if pcm, err := Decode(data, ""); err != nil || len(pcm.Samples) != 800 {
		t.Errorf("trailing byte: %v", err)
	}
	// An empty but well-formed file is valid, silent audio.
	empty := base
	empty.seconds = 0
	if pcm, err := Decode(empty.build(), ""); err != nil || len(pcm.Samples) != 0 {
		t.Errorf("empty: %v %v", pcm, err)
	}
	bad := []struct {
		name string
		wav  testWAV
	}{
		{"ADPCM", testWAV{tag: 2, channels: 1, rate: 8000, bits: 4, dataSize: -1}},
		{"12-bit µ-law", testWAV{tag: 7, channels: 1, rate: 8000, bits: 16, dataSize: -1}},
		{"no channels", testWAV{tag: 1, channels: 0, rate: 8000, bits: 16, dataSize: -1}},
		{"rate 0", testWAV{tag: 1, channels: 1, rate: 0, bits: 16, dataSize: -1}},
		{"rate 10 MHz", testWAV{tag: 1, channels: 1, rate: 10_000_000, bits: 16, dataSize: -1}},
	}
	for _, tt := range bad {
		if _, err := Decode(tt.wav.build(), "audio/wav"); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: got %v, want ErrUnsupported", tt.name, err)
		}
	}
	// Headers cut short anywhere are errors, never panics.
	whole := base.build()
	for n := 12; n < 44; n++ {
		if _, err := Decode(whole[:n], "audio/wav"); !errors.Is(err, ErrUnsupported) {
			t.Errorf("cut at %d: got %v", n, err)
		}
	}
	if _, err := Decode([]byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"), ""); !errors.Is(err, ErrUnsupported) {
		t.Errorf("data without fmt: %v", err)
	}
}

func TestDecodeAU(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		dur  time.Duration
	}{
		{"µ-law 8 kHz", testAU(1, 1, 8000, 0, 0.5), 500 * time.Millisecond},
		{"16-bit stereo 16 kHz", testAU(3, 2, 16000, 0, 0.5), 500 * time.Millisecond},
		{"unknown size", testAU(1, 1, 8000, 0xFFFFFFFF, 0.25), 250 * time.Millisecond},
		{"size shorter than the file", testAU(1, 1, 8000, 800, 0.25), 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm, err := Decode(tt.data, "audio/basic")
			if err != nil {
				t.Fatal(err)
			}
			if pcm.Duration() != tt.dur {
				t.Errorf("duration %v, want %v", pcm.Duration(), tt.dur)
			}
			if l := level(pcm.Samples); math.Abs(l-half) > 0.3 {
				t.Errorf("level %.2f dB", l)
			}
		})
	}
	bad := testAU(23, 1, 8000, 0, 0.1) // G.721 ADPCM
	if _, err := Decode(bad, "audio/basic"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("G.721: %v", err)
	}
}

func TestDecodeRawG711(t *testing.T) {
	var ulaw, alaw []byte
	for i := range 4000 {
		v := int16(16383 * math.Sin(2*math.Pi*1000*float64(i)/8000))
		ulaw = append(ulaw, linearToULaw(v))
		alaw = append(alaw, linearToALaw(v))
	}
	for _, tt := range []struct {
		ct   string
		data []byte
	}{{"audio/basic", ulaw}, {"audio/ulaw", ulaw}, {"audio/x-mulaw; rate=8000", ulaw}, {"audio/x-alaw", alaw}, {"audio/PCMA", alaw}} {
		pcm, err := Decode(tt.data, tt.ct)
		if err != nil || len(pcm.Samples) != 4000 || math.Abs(level(pcm.Samples)-half) > 0.3 {
			t.Errorf("%s: %v", tt.ct, err)
		}
	}
	// Near-silent µ-law is all bytes ≥ 0x20, which text sniffing would
	// call text/plain.
	quiet := make([]byte, 800)
	for i := range quiet {
		quiet[i] = 0xFF - byte(i%3)
	}
	if pcm, err := Decode(quiet, "audio/basic"); err != nil || len(pcm.Samples) != 800 {
		t.Errorf("quiet µ-law: %v", err)
	}
	// µ-law that happens to start with the bytes " <" is still audio.
	lt := append([]byte(" <"), ulaw...)
	if pcm, err := Decode(lt, "audio/ulaw"); err != nil || len(pcm.Samples) != len(lt) {
		t.Errorf("µ-law starting with '<': %v", err)
	}
}

func TestG711MatchesReference(t *testing.T) {
	// Every code must survive decode → encode unchanged, except µ-law's
	// two zeros (0x7F and 0xFF both mean 0).
	for i := range 256 {
		b := byte(i)
		if got := linearToULaw(expand1(fmtULaw, b)); got != b && !(b == 0x7F && got == 0xFF) {
			t.Errorf("µ-law %#02x → %d → %#02x", b, expand1(fmtULaw, b), got)
		}
		if got := linearToALaw(expand1(fmtALaw, b)); got != b {
			t.Errorf("A-law %#02x → %d → %#02x", b, expand1(fmtALaw, b), got)
		}
	}
	if expand1(fmtULaw, 0x00) != -32124 || expand1(fmtULaw, 0x80) != 32124 || expand1(fmtALaw, 0xAA) != 32256 {
		t.Errorf("extremes: %d %d %d", expand1(fmtULaw, 0x00), expand1(fmtULaw, 0x80), expand1(fmtALaw, 0xAA))
	}
}

func TestDecodeMP3(t *testing.T) {
	tests := []struct {
		file string
		dur  time.Duration // as encoded; the decoder adds the encoder's delay and padding
		freq float64
	}{
		{"tone440_44k_mono.mp3", 500 * time.Millisecond, 440},   // MPEG-1
		{"tone1k_24k_stereo.mp3", 500 * time.Millisecond, 1000}, // MPEG-2, joint stereo
		{"tone440_16k_mono.mp3", time.Second, 440},              // MPEG-2
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := fixture(t, tt.file)
			pcm, err := Decode(data, "audio/mpeg")
			if err != nil {
				t.Fatal(err)
			}
			// LAME adds up to a couple of frames of delay and padding.
			if d := pcm.Duration(); d < tt.dur || d > tt.dur+150*time.Millisecond {
				t.Errorf("duration %v, want about %v", d, tt.dur)
			}
			if l := level(pcm.Samples); math.Abs(l-half) > 1 {
				t.Errorf("level %.2f dB, want %.2f ± 1", l, half)
			}
			want := 2 * tt.freq * 0.8 * pcm.Duration().Seconds()
			if zc := float64(zeroCrossings(pcm.Samples)); math.Abs(zc-want) > want*0.05 {
				t.Errorf("%.0f zero crossings, want about %.0f", zc, want)
			}
			// Sniffed without a hint, and after junk when the hint says MPEG.
			if _, err := Decode(data, ""); err != nil {
				t.Errorf("no content type: %v", err)
			}
			junk := append([]byte{0, 0, 0, 0, 0x42}, data...)
			if _, err := Decode(junk, "audio/mpeg"); err != nil {
				t.Errorf("leading junk: %v", err)
			}
			// Any truncation decodes what is there or fails cleanly.
			for n := 0; n < len(data); n += 397 {
				pcm, err := Decode(data[:n], "audio/mpeg")
				if err == nil && pcm == nil || err != nil && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrNotAudio) {
					t.Fatalf("cut at %d: %v %v", n, pcm, err)
				}
			}
		})
	}
}

// TestDecodeMP3Refused covers MP3s go-mp3 cannot decode correctly: they
// must fail with ErrUnsupported rather than play as noise.
func TestDecodeMP3Refused(t *testing.T) {
	for _, file := range []string{
		"tone1k_8k_mpeg25.mp3",   // MPEG-2.5: not implemented by go-mp3
		"tone440_22k_padded.mp3", // MPEG-2 with padded frames: misframed by go-mp3
	} {
		pcm, err := Decode(fixture(t, file), "audio/mpeg")
		if !errors.Is(err, ErrUnsupported) || pcm != nil {
			t.Errorf("%s: got %v", file, err)
		}
	}
}

func TestDecodeID3(t *testing.T) {
	data := fixture(t, "tone440_44k_mono.mp3")
	// An ID3v2.3 tag with one text frame, sizes syncsafe.
	frame := append([]byte("TIT2\x00\x00\x00\x06\x00\x00\x00"), "texml"...)
	tag := append([]byte("ID3\x03\x00\x00\x00\x00\x00"), byte(len(frame)))
	tagged := append(append(tag, frame...), data...)
	pcm, err := Decode(tagged, "audio/mpeg")
	if err != nil || pcm.Duration() < 500*time.Millisecond {
		t.Fatalf("tagged: %v", err)
	}
	// Layer II behind the same tag is recognised and refused.
	l2 := append(append([]byte{}, tag...), frame...)
	l2 = append(l2, 0xFF, 0xFD, 0x90, 0x00)
	if _, err := Decode(l2, "audio/mpeg"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("layer II: %v", err)
	}
}

func TestDecodeNotAudio(t *testing.T) {
	tests := []struct {
		name string
		data string
		ct   string
		want error
	}{
		{"html", "<!DOCTYPE html><html><body>Not Found</body></html>", "text/html", ErrNotAudio},
		{"html as audio", "<html><body>502 Bad Gateway</body></html>", "audio/mpeg", ErrNotAudio},
		{"html as µ-law", "\n <html>oops</html>", "audio/basic", ErrNotAudio},
		{"twiml", `<?xml version="1.0"?><Response><Say>hi</Say></Response>`, "text/xml", ErrNotAudio},
		{"text", "hello, this is a text file", "text/plain", ErrNotAudio},
		{"text as wav", "404 page not found\n", "audio/wav", ErrNotAudio},
		{"json", `{"error": "nope"}`, "application/json", ErrNotAudio},
		{"empty", "", "audio/mpeg", ErrNotAudio},
		{"binary, not audio", "\x00\x01\x02\x03\x04\x05\x06\x07", "application/octet-stream", ErrNotAudio},
		{"binary as audio", "\x00\x01\x02\x03\x04\x05\x06\x07", "audio/mpeg", ErrUnsupported},
		{"ogg", "OggS\x00\x02\x00\x00\x00\x00\x00\x00", "audio/ogg", ErrUnsupported},
		{"flac", "fLaC\x00\x00\x00\x22", "audio/flac", ErrUnsupported},
		{"aiff", "FORM\x00\x00\x00\x20AIFFCOMM", "audio/aiff", ErrUnsupported},
		{"avi", "RIFF\x00\x00\x00\x00AVI LIST", "video/avi", ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm, err := Decode([]byte(tt.data), tt.ct)
			if !errors.Is(err, tt.want) || pcm != nil {
				t.Errorf("got %v, %v; want %v", pcm, err, tt.want)
			}
		})
	}
}

func TestDecodeTooLong(t *testing.T) {
	// A header claiming a tiny rate makes a small payload decode long:
	// 8 MB of 8-bit mono at 1 kHz is 2.3 hours.
	w := testWAV{tag: 1, channels: 1, rate: 1000, bits: 8, dataSize: -1}
	data := append(w.build(), make([]byte, 8_400_000)...)
	if _, err := Decode(data, "audio/wav"); !errors.Is(err, ErrTooLong) || !errors.Is(err, ErrUnsupported) {
		t.Errorf("got %v", err)
	}
}

// fixture reads a committed test asset from fixtures/audio.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "audio", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func BenchmarkDecodeMP3(b *testing.B) {
	data := fixture(b, "tone440_44k_mono.mp3") // 0.5 s, MPEG-1 64 kbps
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data, "audio/mpeg"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeWAV44100Stereo(b *testing.B) {
	data := testWAV{tag: 1, channels: 2, rate: 44100, bits: 16, dataSize: -1, freq: 440, seconds: 1, amp: 0.5}.build()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data, "audio/wav"); err != nil {
			b.Fatal(err)
		}
	}
}
