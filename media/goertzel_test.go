package media

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// The test's own tone generator: keypad layout and Q.23 frequencies
// written out independently of the package's tables.
var testKeys = map[byte][2]float64{
	'1': {697, 1209}, '2': {697, 1336}, '3': {697, 1477}, 'A': {697, 1633},
	'4': {770, 1209}, '5': {770, 1336}, '6': {770, 1477}, 'B': {770, 1633},
	'7': {852, 1209}, '8': {852, 1336}, '9': {852, 1477}, 'C': {852, 1633},
	'*': {941, 1209}, '0': {941, 1336}, '#': {941, 1477}, 'D': {941, 1633},
}

// signal is a test signal generator: a sum of sines plus noise.
type signal struct {
	freqs []float64
	amps  []float64
	noise float64
	rnd   *rand.Rand
}

func (g signal) render(n, offset int) []int16 {
	out := make([]int16, n)
	for i := range out {
		v := 0.0
		for k, f := range g.freqs {
			v += g.amps[k] * math.Sin(2*math.Pi*f*float64(offset+i)/SampleRate)
		}
		if g.noise > 0 {
			v += g.noise * g.rnd.NormFloat64()
		}
		out[i] = int16(max(-32768, min(32767, v)))
	}
	return out
}

func key(d byte, amp float64) signal {
	f := testKeys[d]
	return signal{freqs: f[:], amps: []float64{amp, amp}}
}

func TestDetectDigitFrames(t *testing.T) {
	for d := range testKeys {
		t.Run(string(d), func(t *testing.T) {
			if got := detectDigit(key(d, 6000).render(FrameSamples, 37)); got != d {
				t.Errorf("detected %q, want %q", got, d)
			}
		})
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		sig  signal
		want byte
	}{
		{"silence", signal{}, 0},
		{"1 kHz", signal{freqs: []float64{1000}, amps: []float64{8000}}, 0},
		{"row tone only", signal{freqs: []float64{770}, amps: []float64{8000}}, 0},
		{"two rows", signal{freqs: []float64{697, 852}, amps: []float64{6000, 6000}}, 0},
		{"too quiet", key('5', 150), 0},
		{"quiet but valid (-24 dBm0)", key('5', 1500), '5'},
		{"white noise", signal{noise: 6000, rnd: rnd}, 0},
		{"noisy digit (20 dB SNR)", signal{freqs: []float64{852, 1477}, amps: []float64{6000, 6000}, noise: 600, rnd: rnd}, '9'},
		{"twist: row 6 dB above", signal{freqs: []float64{697, 1209}, amps: []float64{8000, 4000}}, '1'},
		{"twist: row 12 dB above", signal{freqs: []float64{697, 1209}, amps: []float64{8000, 2000}}, 0},
		{"reverse twist 6 dB", signal{freqs: []float64{697, 1209}, amps: []float64{4000, 8000}}, 0},
		{"1% off frequency", signal{freqs: []float64{941 * 1.01, 1633 * 0.99}, amps: []float64{6000, 6000}}, 'D'},
		{"chord with a third tone", signal{freqs: []float64{697, 1209, 500}, amps: []float64{4000, 4000, 8000}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := detectDigit(tc.sig.render(FrameSamples, 0)); got != tc.want {
				t.Errorf("detected %q, want %q", got, tc.want)
			}
		})
	}
}

// dialSignal renders digits as tone/gap sequences, starting off a frame
// boundary so that tones straddle frames.
func dialSignal(digits string, tone, gap time.Duration, lead int, noise float64) []int16 {
	rnd := rand.New(rand.NewPCG(3, 4))
	per := func(d time.Duration) int { return int(d.Seconds() * SampleRate) }
	out := signal{noise: noise, rnd: rnd}.render(lead, 0)
	for i := 0; i < len(digits); i++ {
		sig := key(digits[i], 5000)
		sig.noise, sig.rnd = noise, rnd
		out = append(out, sig.render(per(tone), 0)...)
		out = append(out, signal{noise: noise, rnd: rnd}.render(per(gap), 0)...)
	}
	return out
}

func detectAll(x []int16) string {
	var d dtmfDetector
	var got []byte
	for i := 0; i+FrameSamples <= len(x); i += FrameSamples {
		if digit, ok := d.push(x[i : i+FrameSamples]); ok {
			got = append(got, digit)
		}
	}
	return string(got)
}

func TestDTMFDetectorPresses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		digits    string
		tone, gap time.Duration
		lead      int
		noise     float64
		want      string
	}{
		{"keypad timing", "159*#0D", 100 * time.Millisecond, 100 * time.Millisecond, 56, 0, "159*#0D"},
		{"fast dialing", "123456", 60 * time.Millisecond, 60 * time.Millisecond, 91, 0, "123456"},
		{"repeated digit", "777", 80 * time.Millisecond, 70 * time.Millisecond, 13, 0, "777"},
		{"long press is one digit", "8", 2 * time.Second, 100 * time.Millisecond, 0, 0, "8"},
		{"with noise", "2580", 100 * time.Millisecond, 100 * time.Millisecond, 33, 300, "2580"},
		{"too short", "9", 15 * time.Millisecond, 100 * time.Millisecond, 40, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := dialSignal(tc.digits, tc.tone, tc.gap, tc.lead, tc.noise)
			if got := detectAll(x); got != tc.want {
				t.Errorf("detected %q, want %q", got, tc.want)
			}
		})
	}
}

// A one-frame dropout inside a tone does not make a second press.
func TestDTMFDetectorDropout(t *testing.T) {
	tone := key('6', 5000)
	var x []int16
	x = append(x, tone.render(3*FrameSamples, 0)...)
	x = append(x, make([]int16, FrameSamples)...)
	x = append(x, tone.render(3*FrameSamples, 0)...)
	if got := detectAll(x); got != "6" {
		t.Errorf("detected %q, want %q", got, "6")
	}
}

// In-band digits sent as RTP from a plain socket are detected by the
// session (and only when enabled).
func TestInbandDTMFOverRTP(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		p, _, _ := manualPacer(t)
		s := newSession(t, p, nil, func(c *SessionConfig) { c.InbandDTMF = enabled })
		peer := loopConn(t)
		x := dialSignal("3#9", 100*time.Millisecond, 100*time.Millisecond, 80, 100)
		payload := make([]byte, FrameSamples)
		n := 0
		for i := 0; i+FrameSamples <= len(x); i += FrameSamples {
			PCMU.Encode(payload, x[i:i+FrameSamples])
			h := rtp.Header{SequenceNumber: uint16(n), Timestamp: uint32(i), SSRC: 8}
			sendRTP(t, peer, s.LocalAddr(), h, payload)
			n++
			if n%10 == 0 {
				time.Sleep(time.Millisecond) // stay within the socket buffer
			}
		}
		eventually(t, 2*time.Second, "packets", func() bool { return s.Stats().Received == uint64(n) })
		want := "3#9"
		if !enabled {
			want = ""
		}
		if got := collectDigits(s, 50*time.Millisecond); got != want {
			t.Errorf("enabled=%v: digits %q, want %q", enabled, got, want)
		}
		_ = peer.Close()
	}
}
