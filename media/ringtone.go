package media

import (
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
)

// Ringback tones for <Dial ringTone="…">, generated locally: what the
// caller hears while the called party is being alerted.
//
// Each country's tone is one of
//
//   - a single tone (most of Europe: 425 Hz);
//   - a dual tone, two frequencies summed at equal level (US 440+480 Hz,
//     UK 400+450 Hz);
//   - an amplitude-modulated tone (Japan: 400 Hz modulated by 16 Hz). It
//     is generated exactly, not approximated: (1 + d·cos 2πmt)·sin 2πft
//     is the carrier f plus two side tones f−m and f+m of amplitude d/2,
//     so a modulated tone is three summed sines. Asterisk approximates
//     some of these with a dual tone (Japan as 400+15 Hz); the ITU list
//     gives some as the two side tones alone (Japan 384+416 Hz, South
//     Africa 367+433 Hz, Singapore 401+449 Hz). Here the carrier is kept,
//     as AS/CA S002 states outright for Australia ("carrier unsuppressed").
//
// played on and off with the country's cadence, starting with a burst and
// repeating forever.
//
// Level: every frequency sounds at -13 dBm0 (for a modulated tone, the
// carrier; its side tones are d/2 of it), so a dual tone peaks at about
// 10,200 and a fully modulated one at the same: far from clipping. Each
// burst starts and ends with a 5 ms raised-cosine ramp, and the sines run
// from one continuous clock (sample n of every frequency f is
// sin(2π·f·n/8000), whatever the frame size), so neither frame edges nor
// burst edges click.
//
// All frequencies are whole hertz, which lets one 8000-entry table of
// sin(2πk/8000) serve every tone exactly: the phase of f at sample n is
// f·n mod 8000, an integer, with no drift however long the call rings.

// ringTone is one country's ringback as the sources give it.
type ringTone struct {
	// freqs sound together at equal level. With mod > 0 there is one
	// frequency, the carrier, amplitude-modulated by mod Hz to depth.
	freqs []int
	mod   int
	depth float64
	// cadence alternates on and off, in milliseconds, starting with on.
	cadence []int
}

// Cadences of the two patterns most countries share.
var (
	ring1on4off = []int{1000, 4000}
	ringDouble  = []int{400, 200, 400, 2000} // UK style: 0.4 on 0.2 off 0.4 on 2.0 off
)

// ringTones holds every ringTone code Twilio accepts (its <Dial> page,
// attribute ringTone), with the national ringing tone of each.
//
// Sources, in order of precedence:
//   - national specifications: AS/CA S002:2010 clause 5.3.4.1 (au: Ring
//     Tone A, 425 Hz modulated 90-99 % by 25 Hz, 0.4 on 0.2 off 0.4 on
//     2.0 off; its Ring Tone B, 400+450 Hz, is the same side tones without
//     the carrier); BT SIN 350 (uk) and IDA TS PSTN1 (sg: 425 Hz modulated
//     100 % by 24 Hz), as quoted in Asterisk's indications.conf; for jp,
//     400 Hz modulated by 16 Hz, 1 s on 2 s off (wdic.org "リングバック
//     トーン", Wikipedia "Ringing tone", and the ITU list's 384+416 Hz);
//   - ITU-T E.180 Supplement 2 / ITU Operational Bulletin annex "Various
//     tones used in national networks", as transcribed in spandsp's
//     global-tones.xml; where it lists alternatives, the first;
//   - Asterisk's indications.conf "ring" entries (not "ringcadence", which
//     is the bell cadence) for what the ITU list lacks (tw, ve, us-old)
//     and for ru, where Asterisk follows the Russian standard (1 s on 4 s
//     off; the older ITU entry has 0.8 s on 3.2 s off).
//
// Depth of modulation where no standard gives one: 90 % (Asterisk's).
var ringTones = map[string]ringTone{
	"at":     {freqs: []int{420}, cadence: []int{1000, 5000}},
	"au":     {freqs: []int{425}, mod: 25, depth: 0.95, cadence: ringDouble},
	"be":     {freqs: []int{425}, cadence: []int{1000, 3000}},
	"bg":     {freqs: []int{425}, cadence: ring1on4off},
	"br":     {freqs: []int{425}, cadence: ring1on4off},
	"ch":     {freqs: []int{425}, cadence: ring1on4off},
	"cl":     {freqs: []int{400}, cadence: []int{1000, 3000}},
	"cn":     {freqs: []int{450}, cadence: ring1on4off},
	"cz":     {freqs: []int{425}, cadence: ring1on4off},
	"de":     {freqs: []int{425}, cadence: ring1on4off},
	"dk":     {freqs: []int{425}, cadence: ring1on4off},
	"ee":     {freqs: []int{425}, cadence: ring1on4off},
	"es":     {freqs: []int{425}, cadence: []int{1500, 3000}},
	"fi":     {freqs: []int{425}, cadence: ring1on4off},
	"fr":     {freqs: []int{440}, cadence: []int{1500, 3500}},
	"gr":     {freqs: []int{425}, cadence: ring1on4off},
	"hu":     {freqs: []int{425}, cadence: []int{1200, 3700}},
	"il":     {freqs: []int{400}, cadence: []int{1000, 3000}},
	"in":     {freqs: []int{400}, mod: 25, depth: 0.9, cadence: ringDouble},
	"it":     {freqs: []int{425}, cadence: ring1on4off},
	"jp":     {freqs: []int{400}, mod: 16, depth: 0.9, cadence: []int{1000, 2000}},
	"lt":     {freqs: []int{425}, cadence: []int{800, 3200}},
	"mx":     {freqs: []int{425}, cadence: ring1on4off},
	"my":     {freqs: []int{425}, cadence: ringDouble},
	"nl":     {freqs: []int{425}, cadence: ring1on4off},
	"no":     {freqs: []int{425}, cadence: ring1on4off},
	"nz":     {freqs: []int{400, 450}, cadence: ringDouble},
	"ph":     {freqs: []int{425, 480}, cadence: ring1on4off},
	"pl":     {freqs: []int{425}, cadence: ring1on4off},
	"pt":     {freqs: []int{425}, cadence: []int{1000, 5000}},
	"ru":     {freqs: []int{425}, cadence: ring1on4off},
	"se":     {freqs: []int{425}, cadence: []int{1000, 5000}},
	"sg":     {freqs: []int{425}, mod: 24, depth: 1, cadence: ringDouble},
	"th":     {freqs: []int{400}, cadence: ring1on4off},
	"tw":     {freqs: []int{440, 480}, cadence: []int{1000, 2000}},
	"uk":     {freqs: []int{400, 450}, cadence: ringDouble},
	"us":     {freqs: []int{440, 480}, cadence: []int{2000, 4000}},
	"us-old": {freqs: []int{420}, mod: 40, depth: 0.9, cadence: []int{2000, 4000}},
	"ve":     {freqs: []int{425}, cadence: ring1on4off},
	"za":     {freqs: []int{400}, mod: 33, depth: 0.9, cadence: ringDouble},
}

// defaultRingTone is Twilio's default, and what an unknown code plays.
const defaultRingTone = "us"

const (
	// ringLevelDBm0 is the level of each frequency of a ringback tone.
	ringLevelDBm0 = -13
	// dBm0Peak is the peak of a 0 dBm0 sine in 16-bit linear: G.711's
	// full-scale sine is +3.17 dBm0 (µ-law) or +3.14 dBm0 (A-law).
	dBm0Peak = 22700
	// ringRamp is the length of the fade at each end of a burst: 5 ms.
	ringRamp = 40
	// ringComps is the most frequencies a tone has (a modulated one).
	ringComps = 3
)

// ringPlan is a ringTone ready to play: components and cadence in
// samples. Plans are built once and shared read-only by every Source.
type ringPlan struct {
	freq [ringComps]int     // Hz; an unused component has 0 and amp 0
	amp  [ringComps]float32 // peak, 16-bit linear
	segs []int              // samples, on/off alternating, starting with on
}

func newRingPlan(t ringTone) *ringPlan {
	p := &ringPlan{}
	a := float32(dBm0Peak * math.Pow(10, ringLevelDBm0/20.0))
	if t.mod > 0 {
		f := t.freqs[0]
		side := a * float32(t.depth/2)
		p.freq = [ringComps]int{f, f - t.mod, f + t.mod}
		p.amp = [ringComps]float32{a, side, side}
	} else {
		for i, f := range t.freqs {
			p.freq[i], p.amp[i] = f, a
		}
	}
	p.segs = make([]int, len(t.cadence))
	for i, ms := range t.cadence {
		p.segs[i] = ms * SampleRate / 1000
	}
	return p
}

// ringPlans holds the plan of every entry of ringTones.
var ringPlans = sync.OnceValue(func() map[string]*ringPlan {
	m := make(map[string]*ringPlan, len(ringTones))
	for code, t := range ringTones {
		m[code] = newRingPlan(t)
	}
	return m
})

// sineTable holds sin(2πk/SampleRate) for k in [0, SampleRate): the value
// at sample n of a whole-hertz frequency f is entry f·n mod SampleRate.
var sineTable = sync.OnceValue(func() *[SampleRate]float32 {
	var t [SampleRate]float32
	for k := range t {
		t[k] = float32(math.Sin(2 * math.Pi * float64(k) / SampleRate))
	}
	return &t
})

// rampTable is the raised-cosine fade-in of a burst; a fade-out reads it
// backwards.
var rampTable = sync.OnceValue(func() *[ringRamp]float32 {
	var t [ringRamp]float32
	for k := range t {
		t[k] = float32(0.5 - 0.5*math.Cos(math.Pi*(float64(k)+0.5)/ringRamp))
	}
	return &t
})

// RingbackCountries returns the codes Ringback knows, sorted: every value
// Twilio accepts for <Dial ringTone>.
func RingbackCountries() []string {
	return slices.Sorted(maps.Keys(ringTones))
}

// Ringback returns an endless Source of the ringback tone of country, a
// <Dial ringTone> code such as "us", "uk" or "de" (case-insensitive). An
// unknown or empty code plays "us", Twilio's default. Read always fills
// the whole frame and never returns an error; it does not allocate.
func Ringback(country string) Source {
	plans := ringPlans()
	p, ok := plans[strings.ToLower(strings.TrimSpace(country))]
	if !ok {
		p = plans[defaultRingTone]
	}
	return &ringback{plan: p, sin: sineTable(), ramp: rampTable()}
}

// ringback plays a ringPlan.
type ringback struct {
	plan  *ringPlan
	sin   *[SampleRate]float32
	ramp  *[ringRamp]float32
	clock int // samples played, modulo SampleRate
	seg   int // index into plan.segs
	pos   int // samples played of the current segment
}

// Read implements Source.
func (r *ringback) Read(frame []int16) (int, error) {
	segs := r.plan.segs
	for i := 0; i < len(frame); {
		n := min(len(frame)-i, segs[r.seg]-r.pos)
		if r.seg%2 == 0 {
			r.burst(frame[i:i+n], segs[r.seg])
		} else {
			clear(frame[i : i+n])
		}
		i += n
		r.clock = (r.clock + n) % SampleRate
		if r.pos += n; r.pos == segs[r.seg] {
			r.pos = 0
			r.seg = (r.seg + 1) % len(segs)
		}
	}
	return len(frame), nil
}

// burst writes the next len(out) samples of an on segment of length
// segLen, of which r.pos have been played, fading in and out at its ends.
func (r *ringback) burst(out []int16, segLen int) {
	p := r.plan
	sin, ramp := r.sin, r.ramp
	f0, f1, f2 := p.freq[0], p.freq[1], p.freq[2]
	a0, a1, a2 := p.amp[0], p.amp[1], p.amp[2]
	// Phases at r.clock; f·clock < 4000·8000 fits an int easily.
	k0, k1, k2 := f0*r.clock%SampleRate, f1*r.clock%SampleRate, f2*r.clock%SampleRate
	for i := range out {
		v := a0*sin[k0] + a1*sin[k1] + a2*sin[k2]
		if at := r.pos + i; at < ringRamp {
			v *= ramp[at]
		} else if left := segLen - 1 - at; left < ringRamp {
			v *= ramp[left]
		}
		if v >= 0 {
			out[i] = int16(v + 0.5)
		} else {
			out[i] = int16(v - 0.5)
		}
		if k0 += f0; k0 >= SampleRate {
			k0 -= SampleRate
		}
		if k1 += f1; k1 >= SampleRate {
			k1 -= SampleRate
		}
		if k2 += f2; k2 >= SampleRate {
			k2 -= SampleRate
		}
	}
}
