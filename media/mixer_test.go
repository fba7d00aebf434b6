package media

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
)

// mixRig is a mixer of fakeEndpoints, driven by hand: tick writes one
// frame into each member's tap and then reads each member's output, as
// the members' receive sides and pacer ticks would.
type mixRig struct {
	t   testing.TB
	x   *Mixer
	eps []*fakeEndpoint
	ms  []*Member
}

func newMixRig(t testing.TB, opts ...MemberOptions) *mixRig {
	r := &mixRig{t: t, x: NewMixer(MixerOptions{})}
	t.Cleanup(r.x.Close)
	for _, o := range opts {
		r.add(o)
	}
	return r
}

// add adds a member and returns its index.
func (r *mixRig) add(o MemberOptions) int {
	e := &fakeEndpoint{format: Format{Codec: PCMU}, done: make(chan struct{})}
	r.eps = append(r.eps, e)
	r.ms = append(r.ms, r.x.Add(e, o))
	return len(r.ms) - 1
}

// sink returns the Sink the mixer tapped member i's endpoint with.
func (r *mixRig) sink(i int) Sink {
	e := r.eps[i]
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.taps) != 1 {
		r.t.Fatalf("member %d: %d taps", i, len(e.taps))
	}
	for _, k := range e.taps {
		return k
	}
	return nil
}

// read reads member i's output; nil if its endpoint has none.
func (r *mixRig) read(i int) []int16 {
	_, out := r.eps[i].state()
	if out == nil {
		return nil
	}
	f := make([]int16, FrameSamples)
	if n, err := out.Read(f); n != FrameSamples || err != nil {
		r.t.Fatalf("member %d: Read = %d, %v", i, n, err)
	}
	return f
}

// tick feeds in[i] (nil: nothing) to member i and returns what each
// member hears this packet time.
func (r *mixRig) tick(in [][]int16) [][]int16 {
	for i, f := range in {
		if f != nil {
			r.sink(i).Write(f)
		}
	}
	heard := make([][]int16, len(r.ms))
	for i := range r.ms {
		heard[i] = r.read(i)
	}
	return heard
}

// dc is a frame of one constant value.
func dc(v int16) []int16 {
	f := make([]int16, FrameSamples)
	for i := range f {
		f[i] = v
	}
	return f
}

// The arithmetic, with constant frames: who hears whom, 32-bit sums,
// clamping once at the end.
func TestMixArithmetic(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []MemberOptions
		coach map[int]int // member → the member it coaches
		in    []int16     // what each sends; 0 sends nothing
		want  []int16     // what each hears
	}{
		{"alone", make([]MemberOptions, 1), nil, []int16{1000}, []int16{0}},
		{"two", make([]MemberOptions, 2), nil, []int16{1000, -300}, []int16{-300, 1000}},
		{"three", make([]MemberOptions, 3), nil, []int16{100, 200, 400}, []int16{600, 500, 300}},
		{"one sends nothing", make([]MemberOptions, 3), nil, []int16{100, 0, 400}, []int16{400, 500, 100}},
		{"saturation", make([]MemberOptions, 3), nil, []int16{30000, 30000, 30000}, []int16{32767, 32767, 32767}},
		{"negative saturation", make([]MemberOptions, 3), nil, []int16{-30000, -30000, -30000}, []int16{-32768, -32768, -32768}},
		// The total, 40000, is out of range: clamped before subtracting,
		// the first two would hear 2767.
		{"clamp after subtracting", make([]MemberOptions, 3), nil, []int16{30000, 30000, -20000}, []int16{10000, 10000, 32767}},
		{"muted", []MemberOptions{{Muted: true}, {}, {}}, nil, []int16{100, 200, 400}, []int16{600, 400, 200}},
		{"all muted", []MemberOptions{{Muted: true}, {Muted: true}}, nil, []int16{100, 200}, []int16{0, 0}},
		{"held", []MemberOptions{{Hold: true}, {}, {}}, nil, []int16{100, 200, 400}, []int16{0, 400, 200}},
		{"listener", []MemberOptions{{}, {}, {}}, nil, []int16{0, 200, 400}, []int16{600, 400, 200}},
		// Member 3 coaches member 0: heard by 0 only, hears everyone.
		{"coach", make([]MemberOptions, 4), map[int]int{3: 0}, []int16{100, 200, 400, 800}, []int16{1400, 500, 300, 700}},
		{"muted coach", []MemberOptions{{}, {}, {}, {Muted: true}}, map[int]int{3: 0}, []int16{100, 200, 400, 800}, []int16{600, 500, 300, 700}},
		{"two coaches", make([]MemberOptions, 4), map[int]int{2: 0, 3: 0}, []int16{100, 200, 400, 800}, []int16{1400, 100, 300, 300}},
		{"coach of a muted member", []MemberOptions{{Muted: true}, {}, {}}, map[int]int{2: 0}, []int16{100, 200, 400}, []int16{600, 0, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newMixRig(t, tc.opts...)
			for c, of := range tc.coach {
				o := tc.opts[c]
				o.Coach = r.ms[of]
				r.ms[c].Set(o)
			}
			in := make([][]int16, len(tc.in))
			for i, v := range tc.in {
				if v != 0 {
					in[i] = dc(v)
				}
			}
			for tick := range 3 {
				heard := r.tick(in)
				for i, f := range heard {
					if !slices.Equal(f, dc(tc.want[i])) {
						t.Errorf("tick %d: member %d hears %d…, want %d", tick, i, f[0], tc.want[i])
					}
				}
			}
		})
	}
}

// A coach whose coached member left is heard by no one; a Coach that is
// the member itself or from another mixer is ignored.
func TestMixerCoachValidity(t *testing.T) {
	r := newMixRig(t, MemberOptions{}, MemberOptions{}, MemberOptions{})
	other := newMixRig(t, MemberOptions{})
	r.ms[2].Set(MemberOptions{Coach: r.ms[0]})
	r.ms[0].Remove()
	heard := r.tick([][]int16{nil, dc(200), dc(400)})
	if heard[1][0] != 0 || heard[2][0] != 200 {
		t.Errorf("coached member gone: 1 hears %d, 2 hears %d; want 0, 200", heard[1][0], heard[2][0])
	}
	r.ms[2].Set(MemberOptions{Coach: r.ms[2]})
	if heard := r.tick([][]int16{nil, dc(200), dc(400)}); heard[1][0] != 400 {
		t.Errorf("self-coach: 1 hears %d, want 400", heard[1][0])
	}
	r.ms[2].Set(MemberOptions{Coach: other.ms[0]})
	if heard := r.tick([][]int16{nil, dc(200), dc(400)}); heard[1][0] != 400 {
		t.Errorf("coach from another mixer: 1 hears %d, want 400", heard[1][0])
	}
}

// Three members each sending a tone: each hears the other two and not
// itself.
func TestMixerTones(t *testing.T) {
	freqs := []float64{500, 1000, 1500}
	const amp, frames = 6000, 10
	r := newMixRig(t, make([]MemberOptions, len(freqs))...)
	tones := make([][][]int16, len(freqs))
	for i, f := range freqs {
		tones[i] = toneFrames(f, amp, frames)
	}
	heard := make([][]int16, len(freqs))
	for n := range frames {
		in := make([][]int16, len(freqs))
		for i := range freqs {
			in[i] = tones[i][n]
		}
		for i, f := range r.tick(in) {
			heard[i] = append(heard[i], f...)
		}
	}
	for i := range freqs {
		checkMix(t, fmt.Sprintf("member %d", i), heard[i], freqs, i, amp)
	}
}

// checkMix asserts that x holds every tone of freqs at amp but the own-th
// (-1: all), which is at least 40 dB down.
func checkMix(t *testing.T, what string, x []int16, freqs []float64, own int, amp float64) {
	t.Helper()
	var f4 [4]float64
	copy(f4[:], freqs)
	lv := toneLevels(x, f4)
	want := amp * amp / 2
	for i, f := range freqs {
		switch {
		case i == own && lv[i] > want/1e4:
			t.Errorf("%s hears itself: %.0f Hz at %.3g", what, f, lv[i])
		case i != own && (lv[i] < 0.8*want || lv[i] > 1.2*want):
			t.Errorf("%s: %.0f Hz at %.3g, want ≈ %.3g", what, f, lv[i], want)
		}
	}
}

// A held member hears the hold source (the mixer's, or its own) and is
// not heard; taken off hold it is back in the conference.
func TestMixerHold(t *testing.T) {
	r := newMixRig(t, MemberOptions{Hold: true}, MemberOptions{})
	in := [][]int16{dc(100), dc(200)}
	if heard := r.tick(in); heard[0][0] != 0 || heard[1][0] != 0 {
		t.Errorf("no hold source: %d, %d; want silence for both", heard[0][0], heard[1][0])
	}
	r.x.SetHoldSource(constSource(7))
	if heard := r.tick(in); heard[0][0] != 7 || heard[1][0] != 0 {
		t.Errorf("mixer's hold source: %d, %d; want 7, 0", heard[0][0], heard[1][0])
	}
	// Two held members share the mixer's source, read once per mix.
	seq := &seqSource{}
	r.x.SetHoldSource(seq)
	two := r.add(MemberOptions{Hold: true})
	in = append(in, dc(400))
	for n := range 3 {
		heard := r.tick(in)
		if heard[0][0] != int16(n) || heard[two][0] != int16(n) {
			t.Errorf("shared hold, tick %d: %d and %d", n, heard[0][0], heard[two][0])
		}
	}
	r.ms[0].Set(MemberOptions{Hold: true, HoldSource: constSource(9)})
	if heard := r.tick(in); heard[0][0] != 9 {
		t.Errorf("own hold source: %d, want 9", heard[0][0])
	}
	r.ms[0].Set(MemberOptions{})
	r.ms[two].Set(MemberOptions{})
	if heard := r.tick(in); heard[0][0] != 600 || heard[1][0] != 500 {
		t.Errorf("off hold: %d, %d; want 600, 500", heard[0][0], heard[1][0])
	}
	// A hold source that ends leaves silence.
	r.ms[0].Set(MemberOptions{Hold: true, HoldSource: &toneSource{freq: 400, amp: 1000, total: FrameSamples / 2}})
	r.tick(in)
	if heard := r.tick(in); heard[0][0] != 0 || rms(heard[0]) != 0 {
		t.Errorf("after the hold source ended: rms %.0f", rms(heard[0]))
	}
}

// constSource reads frames of one value, forever.
type constSource int16

func (c constSource) Read(f []int16) (int, error) {
	for i := range f {
		f[i] = int16(c)
	}
	return len(f), nil
}

// seqSource reads frames of 0, 1, 2…
type seqSource struct{ n int16 }

func (s *seqSource) Read(f []int16) (int, error) {
	for i := range f {
		f[i] = s.n
	}
	s.n++
	return len(f), nil
}

// Mixer.Play is heard by all but except and by the taps, ends at the
// end of its source, and stops when told.
func TestMixerPlay(t *testing.T) {
	r := newMixRig(t, make([]MemberOptions, 3)...)
	tap := &recorder{}
	defer r.x.Tap(tap)()
	beep := &toneSource{freq: 1000, amp: 1000, total: 2 * FrameSamples}
	r.x.Play(beep, r.ms[0])
	r.x.Play(constSource(5), nil)() // stopped at once: never heard
	in := [][]int16{dc(100), dc(200), nil}
	var heard [3][]int16
	for range 3 {
		for i, f := range r.tick(in) {
			heard[i] = append(heard[i], f...)
		}
	}
	tone := toneFrames(1000, 1000, 2)
	for i, wantBeep := range []bool{false, true, true} {
		for n := range 3 {
			f := heard[i][n*FrameSamples : (n+1)*FrameSamples]
			var want [FrameSamples]int16
			for k := range want {
				want[k] = []int16{200, 100, 300}[i]
				if wantBeep && n < 2 {
					want[k] += tone[n][k]
				}
			}
			if !slices.Equal(f, want[:]) {
				t.Errorf("member %d, frame %d: not the mix with beep=%v", i, n, wantBeep && n < 2)
			}
		}
	}
	frames := tap.Frames()
	if len(frames) != 3 || frames[0][0] != 300+tone[0][0] || frames[0][7] != 300+tone[0][7] || frames[2][0] != 300 {
		t.Errorf("tap: %d frames, not the conference with the beep", len(frames))
	}
	r.x.mu.Lock()
	plays := len(r.x.plays)
	r.x.mu.Unlock()
	if plays != 0 {
		t.Errorf("%d plays left after the beep ended", plays)
	}
}

// Member.Play is heard by that member only, on top of its mix, and on
// top of its hold source.
func TestMemberPlay(t *testing.T) {
	r := newMixRig(t, make([]MemberOptions, 3)...)
	stop := r.ms[0].Play(constSource(30000))
	in := [][]int16{dc(100), dc(200), dc(400)}
	if heard := r.tick(in); heard[0][0] != 30600 || heard[1][0] != 500 || heard[2][0] != 300 {
		t.Errorf("whisper: %d, %d, %d; want 30600, 500, 300", heard[0][0], heard[1][0], heard[2][0])
	}
	r.ms[0].Play(constSource(32500)) // replaces the first
	if heard := r.tick(in); heard[0][0] != 32767 {
		t.Errorf("second whisper: %d, want 32767 (clamped)", heard[0][0])
	}
	stop() // no longer the member's play: does nothing
	if heard := r.tick(in); heard[0][0] != 32767 {
		t.Errorf("after a stale stop: %d, want 32767", heard[0][0])
	}
	r.ms[0].Set(MemberOptions{Hold: true, HoldSource: constSource(-50)})
	if heard := r.tick(in); heard[0][0] != 32450 || heard[1][0] != 400 {
		t.Errorf("whisper on hold: %d, %d; want 32450, 400", heard[0][0], heard[1][0])
	}
	r.ms[0].Set(MemberOptions{})
	r.ms[0].Play(&toneSource{freq: 300, amp: 100, total: FrameSamples})
	r.tick(in)
	if heard := r.tick(in); heard[0][0] != 600 {
		t.Errorf("after the whisper ended: %d, want 600", heard[0][0])
	}
}

// The taps get the conference as everyone hears it: not a coach, a
// whisper or a hold source; untap stops them.
func TestMixerTap(t *testing.T) {
	r := newMixRig(t, MemberOptions{}, MemberOptions{}, MemberOptions{Hold: true, HoldSource: constSource(3)}, MemberOptions{})
	r.ms[3].Set(MemberOptions{Coach: r.ms[0]})
	r.ms[1].Play(constSource(1000))
	tap, quiet := &recorder{}, &recorder{}
	untap := r.x.Tap(tap)
	defer r.x.Tap(quiet)()
	r.tick([][]int16{dc(100), dc(200), dc(400), dc(800)})
	untap()
	untap()
	r.tick([][]int16{dc(100), dc(200), dc(400), dc(800)})
	r.ms[1].Play(nil)
	for _, m := range r.ms {
		m.Set(MemberOptions{Muted: true})
	}
	r.tick([][]int16{dc(100), dc(200), dc(400), dc(800)})
	if got := tap.Frames(); len(got) != 1 || !slices.Equal(got[0], dc(300)) {
		t.Errorf("tap: %d frames, first %v…; want one frame of 300", len(got), got[0][:2])
	}
	if got := quiet.Frames(); len(got) != 3 || !slices.Equal(got[2], dc(0)) {
		t.Errorf("second tap: %d frames; want 3, the last one silence", len(got))
	}
}

// Remove untaps the endpoint and returns it to silence, once; Close
// removes everyone; Add after Close leaves the endpoint alone. The mixer
// starts no goroutine.
func TestMixerRemoveClose(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newMixRig(t, make([]MemberOptions, 3)...)
	_, out := r.eps[0].state()
	r.ms[0].Remove()
	r.ms[0].Remove()
	if taps, o := r.eps[0].state(); taps != 0 || o != nil {
		t.Errorf("after Remove: %d taps, output %v", taps, o)
	}
	f := dc(77)
	if n, err := out.Read(f); n != FrameSamples || err != nil || rms(f) != 0 {
		t.Errorf("Read after Remove: %d, %v, rms %.0f; want silence", n, err, rms(f))
	}
	r.ms[0].Set(MemberOptions{Muted: true}) // no effect, no panic
	r.ms[0].Play(constSource(1))()
	if heard := r.tick([][]int16{nil, dc(200), dc(400)})[1:]; heard[0][0] != 400 || heard[1][0] != 200 {
		t.Errorf("after Remove: %d, %d", heard[0][0], heard[1][0])
	}
	// An endpoint whose output was replaced keeps the replacement.
	prompt := constSource(5)
	r.eps[1].SetOutput(prompt)
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines more with a mixer of 3", n-before)
	}
	r.x.Close()
	r.x.Close()
	for i := 1; i < 3; i++ {
		if taps, o := r.eps[i].state(); taps != 0 || (i == 1) != (o != nil) {
			t.Errorf("after Close: member %d: %d taps, output %v", i, taps, o)
		}
	}
	e := &fakeEndpoint{}
	m := r.x.Add(e, MemberOptions{})
	m.Remove()
	if taps, o := e.state(); taps != 0 || o != nil {
		t.Errorf("Add after Close touched the endpoint: %d taps, output %v", taps, o)
	}
	r.x.Play(constSource(1), nil)()
	r.x.Tap(&recorder{})()
	r.x.SetHoldSource(constSource(1))
}

// A member reading a packet time behind hears the previous mix; further
// behind, it skips to the newest.
func TestMixerLag(t *testing.T) {
	r := newMixRig(t, make([]MemberOptions, 2)...)
	for n := range int16(4) {
		r.sink(0).Write(dc(10 + n))
		r.sink(1).Write(dc(20 + n))
	}
	// Member 0's shard catches up two packet times: it computes mixes 1
	// and 2; member 1 then reads 1 and 2, a packet time behind.
	a1, a2 := r.read(0), r.read(0)
	b1, b2 := r.read(1), r.read(1)
	if a1[0] != 20 || a2[0] != 21 || b1[0] != 10 || b2[0] != 11 {
		t.Errorf("catching up: member 0 heard %d, %d; member 1 %d, %d", a1[0], a2[0], b1[0], b2[0])
	}
	// Member 0 runs three ahead: member 1 skips to the newest mix.
	for _, v := range []int16{14, 15} {
		r.sink(0).Write(dc(v))
		r.sink(1).Write(dc(v + 10))
	}
	r.read(0)
	r.read(0)
	a5 := r.read(0)
	if b := r.read(1); b[0] != 14 || a5[0] != 24 {
		t.Errorf("two behind: member 1 heard %d, want 14 (the newest); member 0 heard %d, want 24", b[0], a5[0])
	}
}

// The input ring: it drops its oldest frame when full, waits for a
// cushion after running dry mid-stream, and drains a standing excess.
func TestMemberInput(t *testing.T) {
	var f [FrameSamples]int16
	m := &Member{x: &Mixer{}}
	w := func(v int16) { (*memberTap)(m).Write(dc(v)) }
	pop := func() int16 {
		if !m.in.pop(&f) {
			return -1
		}
		return f[0]
	}
	for v := range int16(6) {
		w(v + 1)
	}
	for _, want := range []int16{3, 4, 5, 6, -1} { // 1 and 2 were dropped
		if got := pop(); got != want {
			t.Fatalf("full ring: popped %d, want %d", got, want)
		}
	}
	w(7)
	if got := pop(); got != -1 {
		t.Errorf("after running dry: popped %d with one frame, want to wait for the cushion", got)
	}
	w(8)
	if got := pop(); got != 7 {
		t.Errorf("with the cushion: popped %d, want 7", got)
	}
	// Two frames more than the cushion for mixDrainTicks mixes: one is
	// dropped.
	w(9)
	w(10)
	for range mixDrainTicks {
		w(0)
		pop()
	}
	if m.in.n != 2 {
		t.Errorf("%d frames held after draining, want 2", m.in.n)
	}
}
