package media

import (
	"sync"
	"sync/atomic"
	"time"
)

// Side is one party of a two-party recording.
type Side int

// The sides of a recording.
const (
	// Near is the call's own party: the left channel (channel 1) of a
	// stereo recording.
	Near Side = iota
	// Far is the party it is connected to: the right channel (2).
	Far
)

// Recorder timing, in 20 ms slots.
const (
	// recorderSlots is how much audio the aligner holds (640 ms).
	recorderSlots = 32
	// recorderLag is how long a slot waits for a side that is late or
	// silent (160 ms): twice the most a jitter buffer releases at once.
	recorderLag = 8
	// recorderResync: a side whose frames keep arriving too late for
	// their place for this long (100 ms) restarted behind (a resumed
	// hold, a new stream) and goes on where its frames arrive.
	recorderResync = 5
	// recorderQueue is how many frames of both sides the taps may hand
	// over before the recorder's goroutine takes them (1.28 s): a full
	// queue drops frames, the receive goroutines never wait.
	recorderQueue = 128
)

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	// Stereo records Near on the left and Far on the right; otherwise the
	// two are mixed into one channel.
	Stereo bool
	// Write receives the recording 20 ms at a time (160 samples, or 320
	// interleaved left-right in stereo) on the recorder's goroutine.
	// Once it fails nothing more is written and Close returns the error.
	Write func(samples []int16) error
	// Now is the clock frames are placed by; default time.Now.
	Now func() time.Time
}

// Tapper is what a Recorder records a side from: an Endpoint (what its
// party says), or a Mixer (the conference everyone hears).
type Tapper interface {
	Tap(k Sink) (untap func())
}

// Recorder records what the two parties of a call say, each tapped on
// its Endpoint (or a Mixer), as one recording that lasts from NewRecorder to Close: a
// side that is not attached or sends nothing is silence.
//
// The two sides' frames arrive on different receive goroutines, each in
// order but with its own delay and bursts: a jitter buffer releases a few
// frames at once, and a session fills a sender's pause (silence
// suppression) with silent frames when it resumes. The taps never wait:
// they copy a frame and its arrival time into a queue, and hand a run of
// all-zero frames over as a count with the next frame that has sound.
// The recorder's goroutine places each side's frames one after another
// on the recording's timeline of 20 ms slots, from where the side's
// first frame arrived (again after Attach, or after a restart), and
// writes a slot once every attached side has passed it, or once it is
// 160 ms old. The two channels are thus in step to within the sides'
// jitter buffer delays. Nothing is allocated per frame.
type Recorder struct {
	cfg    RecorderConfig
	frames chan stampedFrame
	quit   chan struct{}
	done   chan struct{}

	mu     sync.Mutex // guards untap, gen and closed
	untap  [2]func()
	gen    [2]uint32
	closed bool
	on     [2]atomic.Bool // which sides are attached, for the aligner

	dur  time.Duration
	err  error
	once sync.Once
}

// stampedFrame is a frame of one side, when it arrived, and how many
// silent frames came before it.
type stampedFrame struct {
	side Side
	gen  uint32 // the Attach it came through
	skip int64
	at   time.Time
	f    [FrameSamples]int16
}

// NewRecorder starts a recorder with no side attached.
func NewRecorder(cfg RecorderConfig) *Recorder {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Recorder{cfg: cfg, frames: make(chan stampedFrame, recorderQueue),
		quit: make(chan struct{}), done: make(chan struct{})}
	a := newAligner(cfg.Now(), cfg.Stereo, cfg.Write)
	go r.run(a)
	return r
}

// Attach makes what e says side s of the recording from now on, in place
// of the endpoint attached before; nil leaves the side silent. It does
// nothing once the recorder is closed. e is usually an Endpoint; a Mixer
// records its conference.
func (r *Recorder) Attach(s Side, e Tapper) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if u := r.untap[s]; u != nil {
		u()
		r.untap[s] = nil
	}
	r.on[s].Store(e != nil)
	if e != nil {
		r.gen[s]++
		r.untap[s] = e.Tap(&recorderTap{r: r, side: s, gen: r.gen[s]})
	}
}

// Close detaches both sides, writes what is left up to now, and returns
// the recording's duration and the first write error. Calling it again
// returns the same.
func (r *Recorder) Close() (time.Duration, error) {
	r.once.Do(func() {
		r.mu.Lock()
		r.closed = true
		for i, u := range r.untap {
			if u != nil {
				u()
				r.untap[i] = nil
			}
		}
		r.mu.Unlock()
		close(r.quit)
		<-r.done
	})
	return r.dur, r.err
}

// run is the recorder's goroutine: it places frames until Close.
func (r *Recorder) run(a *aligner) {
	defer close(r.done)
	push := func(f *stampedFrame) {
		a.attached = [2]bool{r.on[Near].Load(), r.on[Far].Load()}
		a.push(f)
	}
	for {
		select {
		case f := <-r.frames:
			push(&f)
		case <-r.quit:
			// What the taps queued before Close detached them is kept.
			for drained := false; !drained; {
				select {
				case f := <-r.frames:
					push(&f)
				default:
					drained = true
				}
			}
			a.finish(r.cfg.Now())
			r.dur, r.err = time.Duration(a.emitted)*FrameDuration, a.err
			return
		}
	}
}

// recorderTap is one side's Sink. Its Write runs on that side's receive
// goroutine, the only user of silent.
type recorderTap struct {
	r      *Recorder
	side   Side
	gen    uint32
	silent int64 // all-zero frames not handed over yet
}

// Write implements Sink: the frame is queued, or dropped when the queue
// is full; an all-zero frame is only counted.
func (t *recorderTap) Write(frame []int16) {
	if isSilent(frame) {
		t.silent++
		return
	}
	f := stampedFrame{side: t.side, gen: t.gen, skip: t.silent, at: t.r.cfg.Now()}
	copy(f.f[:], frame)
	select {
	case t.r.frames <- f:
		t.silent = 0
	default:
		t.silent++ // lost: it takes its place as silence
	}
}

func isSilent(frame []int16) bool {
	for _, v := range frame {
		if v != 0 {
			return false
		}
	}
	return true
}

// aligner lines the two sides' frames up on the recording's timeline of
// 20 ms slots, counted from start. The ring holds slots [emitted,
// emitted+recorderSlots).
type aligner struct {
	start   time.Time
	stereo  bool
	write   func([]int16) error
	err     error
	emitted int64     // slots written
	next    [2]int64  // each side's next slot; -1 until its first frame
	gen     [2]uint32 // the Attach each side's frames come through
	late    [2]int64  // arrival slot of a side's first frame too late for its place; -1 if on time
	// attached says which sides have an endpoint: only they are waited
	// for.
	attached [2]bool
	ring     [recorderSlots]struct {
		f   [2][FrameSamples]int16
		has [2]bool
	}
	out [2 * FrameSamples]int16
}

func newAligner(start time.Time, stereo bool, write func([]int16) error) *aligner {
	return &aligner{start: start, stereo: stereo, write: write, next: [2]int64{-1, -1}, late: [2]int64{-1, -1}}
}

// slot is the slot of time t.
func (a *aligner) slot(t time.Time) int64 {
	return int64(t.Sub(a.start) / FrameDuration)
}

// push places one frame, and writes the slots that are complete.
func (a *aligner) push(f *stampedFrame) {
	s, arr := f.side, a.slot(f.at)
	n := a.next[s] + f.skip
	if a.next[s] < 0 || f.gen != a.gen[s] {
		// The side's first frame, or the first of a new endpoint: it
		// starts where it arrives (the silence before it is silence
		// anyway).
		n, a.gen[s], a.late[s] = arr, f.gen, -1
	}
	switch {
	case n < a.emitted:
		// Too late: its slot is written. Frames that catch up at once
		// (a burst) are dropped until they do; a side that stays late
		// restarted behind, and goes on where its frames arrive.
		if a.late[s] < 0 {
			a.late[s] = arr
		}
		if arr-a.late[s] <= recorderResync {
			a.next[s] = n + 1
			a.flush(arr)
			return
		}
		n = max(arr, a.emitted)
	case n > arr+recorderSlots/2:
		n = max(arr, a.emitted) // running ahead of real time: back to it
	}
	a.late[s] = -1
	for n >= a.emitted+recorderSlots {
		a.emit() // a side far ahead of the other: make room
	}
	sl := &a.ring[n%recorderSlots]
	sl.f[s], sl.has[s] = f.f, true
	a.next[s] = n + 1
	a.flush(arr)
}

// flush writes the slots that every attached side has passed, and those
// older than the lag (a side late, or silent).
func (a *aligner) flush(now int64) {
	for {
		k := a.emitted
		passed, any := true, false
		for s, n := range a.next {
			if a.attached[s] {
				any = true
				passed = passed && n > k // n < 0: no frame yet
			}
		}
		if !(any && passed) && k >= now-recorderLag {
			return
		}
		a.emit()
	}
}

// finish writes every slot up to t and any placed beyond it.
func (a *aligner) finish(t time.Time) {
	end := max(a.slot(t), a.next[0], a.next[1])
	for a.emitted < end {
		a.emit()
	}
}

// emit writes the oldest slot, silence where a side has no frame.
func (a *aligner) emit() {
	sl := &a.ring[a.emitted%recorderSlots]
	a.emitted++
	var out []int16
	if a.stereo {
		out = a.out[:2*FrameSamples]
		for i := range FrameSamples {
			out[2*i], out[2*i+1] = 0, 0
			if sl.has[Near] {
				out[2*i] = sl.f[Near][i]
			}
			if sl.has[Far] {
				out[2*i+1] = sl.f[Far][i]
			}
		}
	} else {
		out = a.out[:FrameSamples]
		for i := range FrameSamples {
			var v int32
			if sl.has[Near] {
				v += int32(sl.f[Near][i])
			}
			if sl.has[Far] {
				v += int32(sl.f[Far][i])
			}
			out[i] = int16(min(max(v, -32768), 32767))
		}
	}
	sl.has = [2]bool{}
	if a.err == nil && a.write != nil {
		a.err = a.write(out)
	}
}
