package media

import "math"

// In-band DTMF detection. Each 20 ms frame is tested for the eight ITU-T
// Q.23 frequencies with the Goertzel algorithm (one second-order filter
// per frequency, cheaper than an FFT for 8 bins). A frame holds a digit
// when exactly one row and one column tone stand out:
//
//   - each tone is at least about -34 dBm0;
//   - twist: the column tone is at most 4 dB above the row tone and at
//     most 8 dB below it (Q.24 allows for the line's high-frequency loss,
//     hence the asymmetry);
//   - the strongest tone of each group beats the others of its group by
//     8 dB;
//   - the two tones carry at least half of the frame's energy, which
//     rejects speech and music that happen to contain the frequencies.
//
// A press is reported after two consecutive frames with the same digit
// (≥ 40 ms, Q.24's minimum tone length) and released after two frames
// without it, so one key press is one digit and a one-frame dropout
// inside a tone does not split it.

// rowCol are the DTMF frequencies: four rows, then four columns.
var rowCol = [8]float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}

// keypad maps row and column to the digit.
var keypad = [4][4]byte{
	{'1', '2', '3', 'A'},
	{'4', '5', '6', 'B'},
	{'7', '8', '9', 'C'},
	{'*', '0', '#', 'D'},
}

// goertzelCoef holds 2·cos(2πf/fs) per frequency, computed once.
var goertzelCoef = func() (c [8]float64) {
	for i, f := range rowCol {
		c[i] = 2 * math.Cos(2*math.Pi*f/SampleRate)
	}
	return c
}()

const (
	minToneMS    = 1.0e5 // mean square of one tone: rms 316, ≈ -34 dBm0
	maxRevTwist  = 2.51  // +4 dB: column above row
	maxTwist     = 6.31  // +8 dB: row above column
	peakRatio    = 6.31  // 8 dB over the rest of the group
	minToneShare = 0.5   // of the frame's energy
	pressFrames  = 2
	releaseAfter = 2
)

// detectDigit returns the DTMF digit present in x, or 0.
func detectDigit(x []int16) byte {
	n := float64(len(x))
	if n == 0 {
		return 0
	}
	var energy float64
	for _, v := range x {
		f := float64(v)
		energy += f * f
	}
	total := energy / n
	if total < minToneMS {
		return 0
	}
	// Mean square of a tone from its Goertzel power: a sine of amplitude
	// A gives |X|² ≈ (A·N/2)², and its mean square is A²/2 = 2|X|²/N².
	var ms [8]float64
	Goertzel4(x, ms[:4], goertzelCoef[:4])
	Goertzel4(x, ms[4:], goertzelCoef[4:])
	for i := range ms {
		ms[i] *= 2 / (n * n)
	}
	r, okR := peak(ms[:4])
	c, okC := peak(ms[4:])
	if !okR || !okC {
		return 0
	}
	row, col := ms[r], ms[4+c]
	switch {
	case row < minToneMS || col < minToneMS:
		return 0
	case col > row*maxRevTwist || row > col*maxTwist:
		return 0
	case row+col < minToneShare*total:
		return 0
	}
	return keypad[r][c]
}

// Goertzel4 runs four Goertzel filters over x in one pass and stores
// their powers |X(f)|² in out; coef[i] is 2·cos(2π·f_i/8000). The four
// recursions are independent, so the CPU overlaps them; one filter at a
// time would wait on each multiply-add in turn. The DTMF detector and
// the answering-machine detector's tone bank (media/amd) share it.
func Goertzel4(x []int16, out, coef []float64) {
	c0, c1, c2, c3 := coef[0], coef[1], coef[2], coef[3]
	var a1, a2, b1, b2, d1, d2, e1, e2 float64
	for _, v := range x {
		f := float64(v)
		a1, a2 = f+c0*a1-a2, a1
		b1, b2 = f+c1*b1-b2, b1
		d1, d2 = f+c2*d1-d2, d1
		e1, e2 = f+c3*e1-e2, e1
	}
	out[0] = a1*a1 + a2*a2 - c0*a1*a2
	out[1] = b1*b1 + b2*b2 - c1*b1*b2
	out[2] = d1*d1 + d2*d2 - c2*d1*d2
	out[3] = e1*e1 + e2*e2 - c3*e1*e2
}

// peak returns the index of the strongest of four tones if it beats each
// of the others by peakRatio.
func peak(ms []float64) (int, bool) {
	best := 0
	for i := range ms {
		if ms[i] > ms[best] {
			best = i
		}
	}
	for i := range ms {
		if i != best && ms[i]*peakRatio > ms[best] {
			return 0, false
		}
	}
	return best, true
}

// dtmfDetector turns per-frame detections into key presses.
type dtmfDetector struct {
	cand    byte // digit seen in the previous frames
	hits    int  // consecutive frames with cand
	pressed byte // digit reported and not yet released
	misses  int  // consecutive frames without pressed
}

// push analyses one frame and returns a digit when a new press starts.
func (d *dtmfDetector) push(frame []int16) (byte, bool) {
	digit := detectDigit(frame)
	if digit != 0 && digit == d.cand {
		d.hits++
	} else {
		d.cand, d.hits = digit, 1
	}
	if d.pressed != 0 {
		if digit == d.pressed {
			d.misses = 0
			return 0, false
		}
		if d.misses++; d.misses < releaseAfter {
			return 0, false
		}
		d.pressed, d.misses = 0, 0
	}
	if digit != 0 && d.hits >= pressFrames {
		d.pressed = digit
		return digit, true
	}
	return 0, false
}
