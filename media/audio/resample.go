package audio

import "math"

// Resampler design. A rational-ratio polyphase FIR: the output sample at
// input time t = n·from/to is the input convolved with a Kaiser-windowed
// sinc centred on t. The low-pass cuts at 95 % of the lower Nyquist
// frequency with a transition band of 10 % of it (0.9·Nyq .. 1.0·Nyq), so
// everything that would fold back into the output band is in the stopband,
// and the telephone band (300-3400 Hz at 8 kHz) is flat. The window is
// designed for 80 dB so that float32 coefficients and phase quantisation
// still leave a measured stopband well beyond the 60 dB target.
const (
	resampleStopbandDB = 80.0
	resampleCutoff     = 0.95 // of the lower Nyquist frequency
	resampleTransition = 0.10 // of the lower Nyquist frequency
	// maxExactPhases bounds the coefficient table. Common ratios need few
	// phases (44100→8000: 80, 11025→8000: 320); an odd rate like 44101 Hz
	// would need 8000, so beyond this the table holds maxExactPhases evenly
	// spaced phases and interpolates linearly between neighbours.
	maxExactPhases = 512
)

// Resample converts mono 16-bit PCM from one sample rate to another with a
// proper low-pass (anti-aliasing) filter; out is a new slice. The output has
// ceil(len(in)·to/from) samples and is time-aligned with the input (the
// filter's delay is compensated). Equal rates copy; a non-positive rate
// yields nil rather than a panic, since rates come from untrusted headers.
func Resample(in []int16, from, to int) []int16 {
	if from <= 0 || to <= 0 {
		return nil
	}
	if from == to {
		return append([]int16(nil), in...)
	}
	r := NewResampler(from, to)
	r.buf = make([]float32, 0, len(in))
	out := make([]int16, 0, outputLen(len(in), from, to))
	out = r.Resample(out, in)
	return r.Flush(out)
}

// outputLen is ceil(n·to/from), the number of output instants that fall
// inside n input samples.
func outputLen(n, from, to int) int {
	return int((int64(n)*int64(to) + int64(from) - 1) / int64(from))
}

// Resampler is a streaming form of Resample for audio that arrives in
// pieces (TTS chunks, decoded MP3 frames): feeding the pieces in order and
// then calling Flush gives the same samples as one Resample call over their
// concatenation. A Resampler is not safe for concurrent use.
type Resampler struct {
	from, to int
	l, m     int     // to/g and from/g: output instant n is at input time n·m/l
	half     int     // taps on each side of t; a row has 2·half taps
	phases   int     // filter phases held (rows has one more, for interpolation)
	exact    bool    // phases == l: the row index is the phase itself
	fc, beta float64 // cutoff in cycles per input sample; Kaiser β
	i0beta   float64
	// rows holds phases+1 filter rows of 2·half taps, each computed on
	// first use: a short clip at an odd rate touches a handful of the
	// hundreds of rows, and building them all costs more than the clip.
	rows [][]float32

	buf   []float32 // pending input; buf[0] is input sample number base
	base  int64
	total int64 // input samples received
	i     int64 // integer input time of the next output
	p     int   // its fractional part, in units of 1/l
	n     int64 // outputs produced
}

// NewResampler builds a resampler from one positive rate to another. Rates
// that are not positive make a Resampler that outputs nothing.
func NewResampler(from, to int) *Resampler {
	r := &Resampler{from: from, to: to}
	if from <= 0 || to <= 0 {
		return r
	}
	g := gcd(from, to)
	r.l, r.m = to/g, from/g
	if from == to {
		return r
	}
	// Work in input-sample units: the lower Nyquist frequency as a fraction
	// of the input rate, then the Kaiser length estimate for the transition
	// width (Oppenheim & Schafer, eq. 7.63).
	nyq := float64(min(from, to)) / 2 / float64(from)
	fc := resampleCutoff * nyq
	dw := 2 * math.Pi * resampleTransition * nyq
	taps := (resampleStopbandDB-7.95)/(2.285*dw) + 1
	r.half = int(math.Ceil(taps / 2))
	beta := 0.1102 * (resampleStopbandDB - 8.7)

	r.phases, r.exact = r.l, true
	if r.l > maxExactPhases {
		r.phases, r.exact = maxExactPhases, false
	}
	r.fc, r.beta, r.i0beta = fc, beta, besselI0(beta)
	r.rows = make([][]float32, r.phases+1)
	return r
}

// row returns filter row ph (the fractional delay ph/phases), building it
// on first use.
func (r *Resampler) row(ph int) []float32 {
	if c := r.rows[ph]; c != nil {
		return c
	}
	width := 2 * r.half
	// Row phases-ph is row ph reversed (tap k delays by -tau where row ph
	// delays by tau, and the windowed sinc is even), so half the rows
	// are copies; building rows is half the cost of resampling a second.
	if m := r.rows[r.phases-ph]; m != nil {
		c := make([]float32, width)
		for k := range c {
			c[k] = m[width-1-k]
		}
		r.rows[ph] = c
		return c
	}
	frac := float64(ph) / float64(r.phases)
	row := make([]float64, width)
	var sum float64
	for k := range width {
		// Tap k multiplies input sample i-half+1+k, which lies
		// tau = t - j input samples before the output instant.
		tau := frac + float64(r.half-1-k)
		x := tau / float64(r.half)
		w := 0.0
		if x > -1 && x < 1 {
			w = besselI0(r.beta*math.Sqrt(1-x*x)) / r.i0beta
		}
		row[k] = 2 * r.fc * sinc(2*r.fc*tau) * w
		sum += row[k]
	}
	// Unit DC gain on every phase: otherwise the tiny gain differences
	// between phases modulate the signal at the phase period and show up
	// as spurious tones.
	c := make([]float32, width)
	for k := range width {
		c[k] = float32(row[k] / sum)
	}
	r.rows[ph] = c
	return c
}

// Resample appends to dst the output that the input so far determines and
// returns the extended slice. Up to about half a filter length of output
// is held back until more input (or Flush) arrives.
func (r *Resampler) Resample(dst, in []int16) []int16 {
	if r.l == 0 {
		return dst
	}
	if r.from == r.to {
		r.total += int64(len(in))
		return append(dst, in...)
	}
	for _, s := range in {
		r.buf = append(r.buf, float32(s))
	}
	r.total += int64(len(in))
	return r.drain(dst, r.total)
}

// Flush appends the held-back output, treating the input as ended (zeros
// beyond it), and resets the Resampler for a new stream.
func (r *Resampler) Flush(dst []int16) []int16 {
	if r.l == 0 || r.from == r.to {
		r.total = 0
		return dst
	}
	dst = r.drain(dst, r.total+int64(r.half))
	*r = Resampler{from: r.from, to: r.to, l: r.l, m: r.m, half: r.half,
		phases: r.phases, exact: r.exact, fc: r.fc, beta: r.beta, i0beta: r.i0beta,
		rows: r.rows, buf: r.buf[:0]}
	return dst
}

// drain produces every output whose filter window ends before input sample
// number avail (samples at or past r.total read as zero) and whose instant
// lies inside the input, then discards input no later output needs.
func (r *Resampler) drain(dst []int16, avail int64) []int16 {
	want := int64(outputLen(int(r.total), r.from, r.to))
	for r.n < want && r.i+int64(r.half) < avail {
		first := r.i - int64(r.half) + 1 // input sample under tap 0
		var acc float32
		if r.exact {
			acc = r.dot(r.row(r.p), first)
		} else {
			// Position between two table rows, then a linear blend.
			pos := int64(r.p) * int64(r.phases)
			row := int(pos / int64(r.l))
			w := float32(pos%int64(r.l)) / float32(r.l)
			a := r.dot(r.row(row), first)
			b := r.dot(r.row(row+1), first)
			acc = a + w*(b-a)
		}
		dst = append(dst, clamp16(acc))
		r.n++
		r.p += r.m
		r.i += int64(r.p / r.l)
		r.p %= r.l
	}
	// Keep from the first sample the next output's window touches.
	if drop := r.i - int64(r.half) + 1 - r.base; drop > 0 {
		drop = min(drop, int64(len(r.buf)))
		r.buf = append(r.buf[:0], r.buf[drop:]...)
		r.base += drop
	}
	return dst
}

// dot is one filter row against the input starting at sample number first.
// Samples before the stream or beyond what was received count as silence,
// which is what lets the first and last outputs be computed at all.
func (r *Resampler) dot(c []float32, first int64) float32 {
	lo := first - r.base
	k0 := 0
	if lo < 0 {
		k0 = int(-lo)
	}
	k1 := len(c)
	if end := int64(len(r.buf)) - lo; end < int64(k1) {
		k1 = int(max(end, 0))
	}
	if k0 >= k1 {
		return 0
	}
	x := r.buf[lo+int64(k0) : lo+int64(k1)]
	c = c[k0:k1]
	c = c[:len(x)] // lets the compiler drop the bounds checks below
	// Four independent sums keep the FPU pipeline full; one running sum
	// waits on each addition.
	var a0, a1, a2, a3 float32
	k := 0
	for ; k+4 <= len(x); k += 4 {
		a0 += x[k] * c[k]
		a1 += x[k+1] * c[k+1]
		a2 += x[k+2] * c[k+2]
		a3 += x[k+3] * c[k+3]
	}
	for ; k < len(x); k++ {
		a0 += x[k] * c[k]
	}
	return (a0 + a1) + (a2 + a3)
}

// clamp16 rounds to the nearest sample value, saturating rather than
// wrapping when filter overshoot pushes a full-scale input past int16.
func clamp16(v float32) int16 {
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	case v >= 0:
		return int16(v + 0.5)
	default:
		return int16(v - 0.5)
	}
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// by its power series, which converges quickly for the β values a Kaiser
// window uses.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 200; k++ {
		term *= q / float64(k*k)
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
