package signaling

import (
	"context"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/amd"
)

// amdIdle is how often DetectMachine looks for a peer that sends nothing.
// A phone that suppresses silence (DTX) sends no packets once its party
// stops talking, so no frame brings the detector the silence that ends a
// greeting (SpeechEndThreshold) or that means nobody is there
// (SilenceTimeout): the clock brings it instead, to within this.
const amdIdle = 40 * time.Millisecond

// amdAhead is how far, in frames, the detector may run ahead of the clock
// before silent frames are dropped: when a silent peer's packets resume
// after a timestamp gap, the session fills the gap with silence (recv.go)
// that the clock already brought.
const amdAhead = 5

// amdTap feeds what the party says into a detector, from the session's
// receive goroutine, frame by frame; idle brings the silence of a peer
// that sends nothing. Write does not allocate.
type amdTap struct {
	now   func() time.Time
	began time.Time
	done  chan struct{} // closed once res is decided

	mu      sync.Mutex
	det     *amd.Detector
	frames  int       // frames the detector heard
	last    time.Time // when a frame last arrived (or began)
	res     amd.Result
	decided bool
	quiet   [media.FrameSamples]int16
}

func newAMDTap(o amd.Options, now func() time.Time) *amdTap {
	t0 := now()
	return &amdTap{now: now, began: t0, last: t0, det: amd.New(o), done: make(chan struct{})}
}

// Write implements media.Sink.
func (t *amdTap) Write(frame []int16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.decided {
		return
	}
	now := t.now()
	t.last = now
	if t.frames > t.due(now)+amdAhead && silent(frame) {
		return // silence for a gap the clock has covered already
	}
	t.push(frame)
}

// idle gives the detector silence for the time no frame came, up to now.
func (t *amdTap) idle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.decided || now.Sub(t.last) < amdIdle {
		return
	}
	for due := t.due(now); !t.decided && t.frames < due; {
		t.push(t.quiet[:])
	}
}

// due is how many frames the time since began holds.
func (t *amdTap) due(now time.Time) int { return int(now.Sub(t.began) / media.FrameDuration) }

// push gives the detector one frame; t.mu is held.
func (t *amdTap) push(frame []int16) {
	t.frames++
	if r, ok := t.det.Push(frame); ok {
		t.res, t.decided = r, true
		close(t.done)
	}
}

// result is the decision, once done is closed.
func (t *amdTap) result() amd.Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.res
}

func silent(frame []int16) bool {
	for _, v := range frame {
		if v != 0 {
			return false
		}
	}
	return true
}

// DetectMachine implements interpreter.Leg: a tap on what the party says
// feeds the detector of package media/amd until it decides. It runs on
// the caller's goroutine and touches only the session's taps, so it may
// run alongside the leg's other primitives (asynchronous AMD).
func (l *Leg) DetectMachine(ctx context.Context, d interpreter.MachineDetection) (interpreter.MachineResult, error) {
	o, err := d.Options()
	if err != nil {
		return interpreter.MachineResult{}, err
	}
	t := newAMDTap(o, time.Now)
	untap := l.sess.Tap(t)
	defer untap()
	tick := time.NewTicker(amdIdle)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			r := t.result()
			l.log.Debug("machine detection", "answered_by", r.AnsweredBy, "duration", r.Duration)
			return interpreter.MachineResult{AnsweredBy: string(r.AnsweredBy), Duration: r.Duration}, nil
		case <-tick.C:
			t.idle()
		case <-l.sess.Done():
			return interpreter.MachineResult{}, interpreter.ErrHangup
		case <-l.dialogCtx().Done():
			return interpreter.MachineResult{}, interpreter.ErrHangup
		case <-ctx.Done():
			return interpreter.MachineResult{}, l.ctxErr(ctx)
		}
	}
}
