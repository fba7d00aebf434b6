package media

import (
	"sort"
	"sync"
	"testing"
	"time"
)

// tapPoint is an Endpoint that the test speaks for: Say hands a frame
// to its taps, as a session's receive goroutine does.
type tapPoint struct {
	mu   sync.Mutex
	taps []Sink
}

func (e *tapPoint) Format() Format                  { return Format{Codec: PCMU} }
func (e *tapPoint) SetOutput(Source) (clear func()) { return func() {} }
func (e *tapPoint) Done() <-chan struct{}           { return nil }

func (e *tapPoint) Tap(k Sink) func() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.taps = append(e.taps, k)
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, t := range e.taps {
			if t == k {
				e.taps = append(e.taps[:i], e.taps[i+1:]...)
				return
			}
		}
	}
}

// Say delivers a frame of value v (0 is silence).
func (e *tapPoint) Say(v int16) {
	var f [FrameSamples]int16
	for i := range f {
		f[i] = v
	}
	e.mu.Lock()
	taps := append([]Sink(nil), e.taps...)
	e.mu.Unlock()
	for _, k := range taps {
		k.Write(f[:])
	}
}

// utterance is one frame an endpoint delivers at a time after the start.
type utterance struct {
	at time.Duration
	e  *tapPoint
	v  int16
}

// recordRig runs a Recorder on a fake clock and collects what it writes.
type recordRig struct {
	clk *fakeClock
	t0  time.Time
	rec *Recorder
	mu  sync.Mutex
	out []int16
}

func newRecordRig(stereo bool) *recordRig {
	r := &recordRig{clk: newFakeClock()}
	r.t0 = r.clk.Now()
	r.rec = NewRecorder(RecorderConfig{Stereo: stereo, Now: r.clk.Now, Write: func(s []int16) error {
		r.mu.Lock()
		r.out = append(r.out, s...)
		r.mu.Unlock()
		return nil
	}})
	return r
}

// play delivers the utterances in time order, each at its time.
func (r *recordRig) play(us []utterance) {
	sort.SliceStable(us, func(i, j int) bool { return us[i].at < us[j].at })
	for _, u := range us {
		r.clk.Advance(r.t0.Add(u.at).Sub(r.clk.Now()))
		u.e.Say(u.v) // the queue holds all of a test's frames
	}
}

// close ends the recording at d after the start.
func (r *recordRig) close(t *testing.T, d time.Duration) time.Duration {
	t.Helper()
	r.clk.Advance(r.t0.Add(d).Sub(r.clk.Now()))
	got, err := r.rec.Close()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// slot is frame k of the recording: one value per channel (the frames
// in these tests are constant).
func (r *recordRig) slot(k, channels int) []int16 {
	return r.out[k*FrameSamples*channels : k*FrameSamples*channels+channels]
}

func slotTime(k int) time.Duration { return time.Duration(k) * FrameDuration }

func TestRecorderStereoAlignsBursts(t *testing.T) {
	r := newRecordRig(true)
	near, far := &tapPoint{}, &tapPoint{}
	r.rec.Attach(Near, near)
	r.rec.Attach(Far, far)
	var us []utterance
	for k := range 50 {
		us = append(us, utterance{slotTime(k) + 5*time.Millisecond, near, int16(k + 1)})
		// The far side's jitter buffer releases its frames four at a
		// time, after the first.
		at := slotTime(k)
		if k > 0 {
			at = slotTime((k+3)/4*4) + 7*time.Millisecond
		}
		us = append(us, utterance{at, far, -int16(k + 1)})
	}
	r.play(us)
	if d := r.close(t, slotTime(50)+10*time.Millisecond); d != time.Second {
		t.Errorf("duration %v, want 1s", d)
	}
	if len(r.out) != 50*2*FrameSamples {
		t.Fatalf("%d samples, want 50 stereo frames", len(r.out))
	}
	for k := range 50 {
		if got := r.slot(k, 2); got[0] != int16(k+1) || got[1] != -int16(k+1) {
			t.Fatalf("frame %d = %v, want [%d %d]", k, got, k+1, -(k + 1))
		}
	}
}

func TestRecorderMonoMixes(t *testing.T) {
	r := newRecordRig(false)
	near, far := &tapPoint{}, &tapPoint{}
	r.rec.Attach(Near, near)
	r.rec.Attach(Far, far)
	r.play([]utterance{
		{0, near, 100}, {0, far, -30},
		{slotTime(1), near, 30000}, {slotTime(1), far, 30000},
		{slotTime(2), near, -30000}, {slotTime(2), far, -30000},
	})
	r.close(t, slotTime(3))
	for k, want := range []int16{70, 32767, -32768} {
		if got := r.slot(k, 1)[0]; got != want {
			t.Errorf("frame %d = %d, want %d", k, got, want)
		}
	}
}

func TestRecorderFilledPauseKeepsItsPlace(t *testing.T) {
	// The far side pauses (silence suppression) from frame 10 to 29; when
	// it resumes at 30 its session fills the pause with silent frames,
	// all at once, before frame 30.
	r := newRecordRig(true)
	near, far := &tapPoint{}, &tapPoint{}
	r.rec.Attach(Near, near)
	r.rec.Attach(Far, far)
	var us []utterance
	for k := range 40 {
		us = append(us, utterance{slotTime(k), near, 1})
		switch {
		case k < 10 || k > 30:
			us = append(us, utterance{slotTime(k) + time.Millisecond, far, int16(k)})
		case k == 30:
			for range 20 {
				us = append(us, utterance{slotTime(30) + time.Millisecond, far, 0})
			}
			us = append(us, utterance{slotTime(30) + time.Millisecond, far, 30})
		}
	}
	r.play(us)
	r.close(t, slotTime(40))
	for k := range 40 {
		want := int16(k)
		if k >= 10 && k < 30 {
			want = 0
		}
		if got := r.slot(k, 2); got[0] != 1 || got[1] != want {
			t.Fatalf("frame %d = %v, want [1 %d]", k, got, want)
		}
	}
}

func TestRecorderNewPeerStartsWhereItArrives(t *testing.T) {
	r := newRecordRig(true)
	a, b := &tapPoint{}, &tapPoint{}
	r.rec.Attach(Far, a)
	var us []utterance
	for k := range 10 {
		us = append(us, utterance{slotTime(k), a, 5})
	}
	r.play(us)
	r.clk.Advance(slotTime(20) - r.clk.Now().Sub(r.t0))
	r.rec.Attach(Far, b)
	a.Say(99) // detached: not heard
	us = us[:0]
	for k := 25; k < 30; k++ {
		us = append(us, utterance{slotTime(k), b, 7})
	}
	r.play(us)
	r.close(t, slotTime(30))
	for k := range 30 {
		want := int16(0)
		switch {
		case k < 10:
			want = 5
		case k >= 25:
			want = 7
		}
		if got := r.slot(k, 2); got[0] != 0 || got[1] != want {
			t.Fatalf("frame %d = %v, want [0 %d]", k, got, want)
		}
	}
}

func TestRecorderSideRestartsBehind(t *testing.T) {
	// The far side stops without a trace (a hold) and resumes its frame
	// sequence 30 frames later: once it has been late for 100 ms it goes
	// on where its frames arrive.
	r := newRecordRig(true)
	near, far := &tapPoint{}, &tapPoint{}
	r.rec.Attach(Near, near)
	r.rec.Attach(Far, far)
	var us []utterance
	for k := range 60 {
		us = append(us, utterance{slotTime(k), near, 1})
		if k < 10 || k >= 40 {
			us = append(us, utterance{slotTime(k) + time.Millisecond, far, int16(k)})
		}
	}
	r.play(us)
	r.close(t, slotTime(60))
	if got := len(r.out) / (2 * FrameSamples); got != 60 {
		t.Fatalf("%d frames, want 60", got)
	}
	for k := 46; k < 60; k++ {
		if got := r.slot(k, 2); got[1] != int16(k) {
			t.Fatalf("frame %d = %v, want the far side's frame %d in its place", k, got, k)
		}
	}
}

func TestRecorderSilentWithoutSides(t *testing.T) {
	r := newRecordRig(false)
	if d := r.close(t, 990*time.Millisecond); d != 980*time.Millisecond {
		t.Errorf("duration %v, want the 49 whole frames of 990 ms", d)
	}
	for _, v := range r.out {
		if v != 0 {
			t.Fatal("a recording of nobody is not silent")
		}
	}
	if d, err := r.rec.Close(); d != 980*time.Millisecond || err != nil {
		t.Errorf("second Close: %v, %v", d, err)
	}
	r.rec.Attach(Near, &tapPoint{}) // after Close: nothing happens
}

func TestRecorderAllocations(t *testing.T) {
	a := newAligner(time.Unix(0, 0), true, func([]int16) error { return nil })
	f := &stampedFrame{at: time.Unix(0, 0)}
	if n := testing.AllocsPerRun(1000, func() {
		f.at = f.at.Add(FrameDuration)
		f.side = 1 - f.side
		a.push(f)
	}); n != 0 {
		t.Errorf("%v allocations per frame placed", n)
	}
	r := NewRecorder(RecorderConfig{Write: func([]int16) error { return nil }})
	defer r.Close()
	tap := &recorderTap{r: r}
	frame := make([]int16, FrameSamples)
	frame[0] = 1
	if n := testing.AllocsPerRun(1000, func() { tap.Write(frame) }); n != 0 {
		t.Errorf("%v allocations per frame tapped", n)
	}
}
