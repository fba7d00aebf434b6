package amd

import (
	"math"

	"github.com/texml/texml/media"
)

// Pure-tone detection for beeps and fax tones. Each frame runs a bank of
// Goertzel filters 25 Hz apart from 300 to 2175 Hz and compares the
// strongest filter's power with the frame's total energy. A 20 ms frame
// resolves about 50 Hz, so with filters every 25 Hz a sine is never more
// than a quarter of a bin from one and keeps ≥ 80 % of its power there,
// while speech, noise and music spread theirs. An FFT would cost more
// for the same answer: the bank is 76 second-order recursions over 160
// samples, run four at a time so the CPU overlaps them.

const (
	bankLowHz  = 300
	bankStepHz = 25
	bankSize   = 76 // 300 … 2175 Hz, a multiple of 4
	sampleRate = 8000
)

// bankCoef holds 2·cos(2πf/fs) for each filter of the bank.
var bankCoef = func() (c [bankSize]float64) {
	for i := range c {
		c[i] = 2 * math.Cos(2*math.Pi*bankFreq(i)/sampleRate)
	}
	return c
}()

// bankFreq is the centre frequency of filter i.
func bankFreq(i int) float64 { return bankLowHz + bankStepHz*float64(i) }

// frameTone finds the strongest filter of the bank in x and the share of
// x's energy it holds (0-1). meanSquare is x's mean square, passed in
// because the caller has it.
func frameTone(x []int16, meanSquare float64, pow *[bankSize]float64) (bin int, purity float64) {
	n := float64(len(x))
	if n == 0 || meanSquare == 0 {
		return 0, 0
	}
	for i := 0; i < bankSize; i += 4 {
		media.Goertzel4(x, pow[i:i+4], bankCoef[i:i+4])
	}
	best := 0
	for i := range pow {
		if pow[i] > pow[best] {
			best = i
		}
	}
	// A sine of amplitude A gives |X|² ≈ (A·N/2)², mean square A²/2,
	// so its mean square is 2|X|²/N².
	return best, min(1, 2*pow[best]/(n*n)/meanSquare)
}

// toneRun follows a run of consecutive tone frames whose frequency stays
// within one filter of where it started, as a beep's or fax tone's does.
type toneRun struct {
	bin     int // filter of the run's first frame
	samples int // length of the run so far; 0 when none
	sumBin  int // sum of the frames' bins, for the mean frequency
	frames  int
}

// push adds one frame's verdict. It returns the run that just ended, if
// the frame ends one (a frame that is not a tone, or a tone elsewhere).
func (r *toneRun) push(tone bool, bin, n int) (ended toneRun) {
	if tone && r.samples > 0 && abs(bin-r.bin) <= 1 {
		r.samples += n
		r.sumBin += bin
		r.frames++
		return toneRun{}
	}
	ended = *r
	*r = toneRun{}
	if tone {
		*r = toneRun{bin: bin, samples: n, sumBin: bin, frames: 1}
	}
	return ended
}

// freq is the run's mean frequency in Hz.
func (r *toneRun) freq() float64 {
	if r.frames == 0 {
		return 0
	}
	return bankLowHz + bankStepHz*float64(r.sumBin)/float64(r.frames)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
