package legtest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
)

// CalleeScript is what a dialed party does: it rings (180 Ringing, or 183
// with early media) for Ring, then sends Final; once it answered, it hangs
// up HangUpAfter later, or stays until the attempt is canceled.
type CalleeScript struct {
	// Ring is how long it rings before its final response.
	Ring time.Duration
	// Final is its final response: 200 answers, 4xx-6xx refuse (486
	// Busy Here, 603 Decline); 0 rings until the attempt is canceled.
	Final int
	// EarlyMedia makes it ring with 183 Session Progress and media
	// instead of 180 Ringing.
	EarlyMedia bool
	// HangUpAfter, when not 0, is how long after answering it hangs up.
	HangUpAfter time.Duration
}

// DialerHarness gives the Dialer suite the Dialer of one implementation
// and callees for it.
type DialerHarness interface {
	// Start makes a callee that follows callee and returns a Dialer, the
	// Target that reaches that callee, and the clock the Dialer's
	// attempts run on. Everything is torn down with the test.
	Start(t *testing.T, callee CalleeScript) (interpreter.Dialer, interpreter.Target, interpreter.Clock)
	// Slack is how far an attempt's timing may be from the script's:
	// zero on a virtual clock, a few round trips on a real network.
	Slack() time.Duration
}

// FarEnd is a DialerHarness whose callee can tell what it received: a
// real phone can, a scripted callee has no side of its own. The cases
// that cancel an attempt check it when the harness has it, since a
// CANCEL or BYE that never reaches the callee leaves it ringing or
// talking to no one.
type FarEnd interface {
	// CalleeGot waits up to d for the callee Start made for t to end,
	// and reports whether the request method ("CANCEL" or "BYE") ended
	// it.
	CalleeGot(t *testing.T, method string, d time.Duration) bool
}

// RunDialer runs the Dialer contract against h: what a <Dial> sees of an
// attempt (its progress, its final event, what Cancel does) must be the
// same on a simulated and a real call. Every case also checks that the
// progress is well formed: Trying, then Ringing or EarlyMedia, then
// Answered and Ended or just Failed; exactly one final event, nothing
// after it, and no two calls of the callback at once (the Dial acts on
// the events in the order they come, and two calls at once have none).
func RunDialer(t *testing.T, h DialerHarness) {
	for _, tc := range dialerCases {
		t.Run(tc.name, func(t *testing.T) {
			d, target, clk := h.Start(t, tc.callee)
			far, _ := h.(FarEnd)
			c := &dialCheck{t: t, clk: clk, slack: h.Slack(), far: far, waiters: map[*dialWaiter]bool{}}
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			c.start = clk.Now()
			att, err := d.Dial(ctx, target, c.progress)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			t.Cleanup(att.Cancel)
			tc.run(c, att)
			c.settled()
		})
	}
}

// errSeen ends a wait: the event it waited for came.
var errSeen = errors.New("seen")

// quiet is how long a case listens on after its attempt's final event
// for anything that should not come.
const quiet = 500 * time.Millisecond

// dialEvent is one progress event and when it came, from the Dial.
type dialEvent struct {
	interpreter.Progress
	at time.Duration
}

func (e dialEvent) String() string {
	s := fmt.Sprintf("%v", e.Kind)
	if e.Code != 0 {
		s += fmt.Sprintf(" %d", e.Code)
	}
	if e.Leg != nil {
		s += " +leg"
	}
	return s + fmt.Sprintf(" @%v", e.at)
}

func isFinal(k interpreter.ProgressKind) bool {
	return k == interpreter.Failed || k == interpreter.Ended
}

// dialWaiter is a case waiting for the events to satisfy pred.
type dialWaiter struct {
	pred   func([]dialEvent) bool
	cancel context.CancelCauseFunc
}

// dialCheck records one attempt's progress and carries what a case
// asserts with.
type dialCheck struct {
	t     *testing.T
	clk   interpreter.Clock
	start time.Time
	slack time.Duration
	far   FarEnd // nil when the harness's callee cannot tell

	// inCall counts the progress callbacks running; overlaps the times
	// one began while another ran.
	inCall, overlaps atomic.Int32

	mu      sync.Mutex
	events  []dialEvent
	late    []dialEvent // events after the first final one
	waiters map[*dialWaiter]bool
}

// progress is the attempt's callback: it records and wakes the waits. It
// does not block, as the Dialer requires.
func (c *dialCheck) progress(p interpreter.Progress) {
	if c.inCall.Add(1) > 1 {
		c.overlaps.Add(1)
	}
	defer c.inCall.Add(-1)
	// Stay in the callback a little, yielding, so that a call made
	// meanwhile from another goroutine overlaps this one and is seen.
	for range 100 {
		runtime.Gosched()
	}
	ev := dialEvent{p, c.clk.Now().Sub(c.start)}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.events {
		if isFinal(e.Kind) {
			c.late = append(c.late, ev)
			break
		}
	}
	c.events = append(c.events, ev)
	for w := range c.waiters {
		if w.pred(c.events) {
			w.cancel(errSeen)
		}
	}
}

// snapshot is a copy of the events so far.
func (c *dialCheck) snapshot() []dialEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]dialEvent(nil), c.events...)
}

// waitFor waits on the attempt's clock, up to within, for the events to
// satisfy pred, and fails the test when they do not. On a virtual clock
// the wait moves time to the event (or the deadline); on a real one it
// ends as the event comes.
func (c *dialCheck) waitFor(what string, within time.Duration, pred func([]dialEvent) bool) []dialEvent {
	c.t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := &dialWaiter{pred: pred, cancel: cancel}
	c.mu.Lock()
	ok := pred(c.events)
	if !ok {
		c.waiters[w] = true
	}
	c.mu.Unlock()
	if !ok {
		err := c.clk.Sleep(ctx, within)
		c.mu.Lock()
		delete(c.waiters, w)
		ok = pred(c.events)
		c.mu.Unlock()
		if !ok && err != nil && !errors.Is(err, errSeen) {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	evs := c.snapshot()
	if !ok {
		c.t.Fatalf("no %s within %v; progress: %v", what, within, evs)
	}
	return evs
}

// waitKind waits for the first event of kind k and returns it.
func (c *dialCheck) waitKind(k interpreter.ProgressKind, within time.Duration) dialEvent {
	c.t.Helper()
	evs := c.waitFor(k.String(), within, func(evs []dialEvent) bool { return index(evs, k) >= 0 })
	return evs[index(evs, k)]
}

// waitFinal waits for the final event (Failed or Ended) and returns it.
func (c *dialCheck) waitFinal(within time.Duration) dialEvent {
	c.t.Helper()
	evs := c.waitFor("final event (failed or ended)", within, func(evs []dialEvent) bool { return finalIndex(evs) >= 0 })
	return evs[finalIndex(evs)]
}

func index(evs []dialEvent, k interpreter.ProgressKind) int {
	for i, e := range evs {
		if e.Kind == k {
			return i
		}
	}
	return -1
}

func finalIndex(evs []dialEvent) int {
	for i, e := range evs {
		if isFinal(e.Kind) {
			return i
		}
	}
	return -1
}

// sleep lets d pass on the attempt's clock.
func (c *dialCheck) sleep(d time.Duration) {
	c.t.Helper()
	if err := c.clk.Sleep(context.Background(), d); err != nil {
		c.t.Fatal(err)
	}
}

// near checks that an event came want after the Dial, within the slack.
func (c *dialCheck) near(e dialEvent, want time.Duration) {
	c.t.Helper()
	if e.at < want-c.slack || e.at > want+c.slack {
		c.t.Errorf("%v at %v, want %v (±%v)", e.Kind, e.at, want, c.slack)
	}
}

// failed checks that the attempt failed with code and nothing answered,
// that DialCallStatus says status, and that a <Sip> attempt's failure
// names its Call-ID (DialSipCallId).
func (c *dialCheck) failed(e dialEvent, code int, status string) {
	c.t.Helper()
	if e.Kind != interpreter.Failed || e.Code != code {
		c.t.Fatalf("final event %v, want failed %d; progress: %v", e, code, c.snapshot())
	}
	if i := index(c.snapshot(), interpreter.Answered); i >= 0 {
		c.t.Errorf("a failed attempt was answered; progress: %v", c.snapshot())
	}
	if got := interpreter.DialStatus(e.Code); got != status {
		c.t.Errorf("DialStatus(%d) = %q, want %q", e.Code, got, status)
	}
	c.callID(e)
}

// callID checks that an Answered or Failed event of a <Sip> attempt has
// the Call-ID, which a <Sip> Dial's action reports as DialSipCallId.
func (c *dialCheck) callID(e dialEvent) {
	c.t.Helper()
	if e.CallID == "" {
		c.t.Errorf("%v of a <Sip> attempt has no Call-ID", e.Kind)
	}
}

// calleeGot checks, when the harness can tell, that method reached the
// callee.
func (c *dialCheck) calleeGot(method string) {
	c.t.Helper()
	if c.far != nil && !c.far.CalleeGot(c.t, method, 5*time.Second+c.slack) {
		c.t.Errorf("the callee did not get our %s", method)
	}
}

// settled listens on for a while after the case and checks what every
// case must hold: one final event, nothing after it, the events in their
// order, no overlapping callbacks.
func (c *dialCheck) settled() {
	c.t.Helper()
	c.sleep(quiet + c.slack)
	evs := c.snapshot()
	c.t.Logf("progress: %v", evs)
	c.mu.Lock()
	late := append([]dialEvent(nil), c.late...)
	c.mu.Unlock()
	if len(late) > 0 {
		c.t.Errorf("progress after the final event: %v (all: %v)", late, evs)
	}
	if n := c.overlaps.Load(); n > 0 {
		c.t.Errorf("the progress callback was called %d times while it ran", n)
	}
	if finalIndex(evs) < 0 {
		c.t.Errorf("no final event; progress: %v", evs)
	}
	if err := wellFormed(evs); err != nil {
		c.t.Errorf("%v; progress: %v", err, evs)
	}
}

// wellFormed checks the order of an attempt's events: Trying first (any
// number, or none: a 100 may not come, or be lost), then any Ringing
// (without a Leg) and EarlyMedia (with one), then either Failed, or
// Answered (with a Leg, once), Referred any number of times, and Ended.
func wellFormed(evs []dialEvent) error {
	const (
		trying = iota
		ringing
		answered
		over
	)
	stage := trying
	for _, e := range evs {
		if stage == over {
			return nil // the late events are reported on their own
		}
		switch e.Kind {
		case interpreter.Trying:
			if stage != trying {
				return fmt.Errorf("trying after the attempt rang")
			}
		case interpreter.Ringing, interpreter.EarlyMedia:
			if stage > ringing {
				return fmt.Errorf("%v after the answer", e.Kind)
			}
			// The Dialer's doc: Leg is for EarlyMedia and Answered. A
			// Leg on Ringing would let the interpreter use a leg that a
			// SIP attempt does not have yet.
			if (e.Kind == interpreter.EarlyMedia) != (e.Leg != nil) {
				return fmt.Errorf("%v: Leg set %v, want it set only on early media", e.Kind, e.Leg != nil)
			}
			stage = ringing
		case interpreter.Answered:
			if stage == answered {
				return fmt.Errorf("answered twice")
			}
			if e.Leg == nil {
				return fmt.Errorf("answered without a Leg")
			}
			stage = answered
		case interpreter.Referred:
			if stage != answered {
				return fmt.Errorf("referred before the answer")
			}
		case interpreter.Ended:
			if stage != answered {
				return fmt.Errorf("ended without an answer (an unanswered attempt fails)")
			}
			stage = over
		case interpreter.Failed:
			if stage == answered {
				return fmt.Errorf("failed after the answer (an answered attempt ends)")
			}
			stage = over
		}
	}
	return nil
}

// kinds lists the kinds of evs, for comparing sequences.
func kinds(evs []dialEvent) string {
	var b strings.Builder
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.Kind.String())
	}
	return b.String()
}

// dialerCase is one case: what the callee does, and what the attempt
// must do meanwhile.
type dialerCase struct {
	name   string
	callee CalleeScript
	run    func(c *dialCheck, att interpreter.Attempt)
}

// long bounds a wait that should end much sooner: on a virtual clock it
// costs nothing, on a real one it only runs out when the case fails.
const long = 10 * time.Second

// until lets time pass on the attempt's clock until d after the Dial.
func (c *dialCheck) until(d time.Duration) {
	c.t.Helper()
	if left := d - c.clk.Now().Sub(c.start); left > 0 {
		c.sleep(left)
	}
}

// ended checks that e is the Ended of an answered attempt.
func (c *dialCheck) ended(e dialEvent) {
	c.t.Helper()
	if e.Kind != interpreter.Ended {
		c.t.Fatalf("final event %v, want ended; progress: %v", e, c.snapshot())
	}
}

// legGone checks that the answered leg of an ended attempt is gone for
// the verbs that may still run on it (a Dial's whisper document): they
// end with ErrHangup at once instead of playing to no one.
func (c *dialCheck) legGone(leg interpreter.Leg) {
	c.t.Helper()
	if leg == nil {
		return // wellFormed reports it
	}
	began := c.clk.Now()
	_, err := leg.Pause(context.Background(), 2*time.Second, interpreter.Prompt{})
	if !errors.Is(err, interpreter.ErrHangup) {
		c.t.Errorf("a Pause on the leg after its attempt ended: %v, want ErrHangup", err)
	}
	if took := c.clk.Now().Sub(began); took > c.slack {
		c.t.Errorf("the Pause took %v, want it to end at once", took)
	}
}

// dialerCases are the contract, in the order RunDialer runs them.
var dialerCases = []dialerCase{
	{"a callee rings, answers and hangs up", CalleeScript{Ring: 2 * time.Second, Final: 200, HangUpAfter: time.Second},
		func(c *dialCheck, att interpreter.Attempt) {
			ans := c.waitKind(interpreter.Answered, long)
			c.near(ans, 2*time.Second)
			c.callID(ans)
			evs := c.snapshot()
			// The Dial's ringing callback and DialCallStatus ringing
			// come from the 180.
			if i := index(evs, interpreter.Ringing); i < 0 || i > index(evs, interpreter.Answered) || evs[i].Code != 180 {
				c.t.Errorf("no ringing 180 before the answer; progress: %v", evs)
			}
			end := c.waitFinal(long)
			c.ended(end)
			c.near(end, 3*time.Second)
			c.legGone(ans.Leg)
			// Nothing happens to a bridged call until a side leaves.
			if evs := c.snapshot(); finalIndex(evs) != index(evs, interpreter.Answered)+1 {
				c.t.Errorf("events between the answer and the hang-up: %s", kinds(evs))
			}
		}},
	{"a busy callee fails with 486", CalleeScript{Ring: time.Second, Final: 486},
		func(c *dialCheck, att interpreter.Attempt) {
			end := c.waitFinal(long)
			c.failed(end, 486, "busy")
			c.near(end, time.Second)
			if index(c.snapshot(), interpreter.Ringing) < 0 {
				c.t.Errorf("the callee rang before it was busy, and no ringing came; progress: %v", c.snapshot())
			}
		}},
	{"a declining callee fails with 603", CalleeScript{Ring: time.Second, Final: 603},
		func(c *dialCheck, att interpreter.Attempt) {
			end := c.waitFinal(long)
			c.failed(end, 603, "failed")
			c.near(end, time.Second)
		}},
	{"Cancel while ringing fails with 487", CalleeScript{},
		func(c *dialCheck, att interpreter.Attempt) {
			c.waitKind(interpreter.Ringing, long)
			c.until(time.Second)
			att.Cancel()
			// At once on a virtual clock; a CANCEL's round trip on SIP.
			end := c.waitFinal(long)
			c.failed(end, 487, "no-answer")
			c.near(end, time.Second)
			c.calleeGot("CANCEL")
		}},
	{"Cancel at once fails with 487", CalleeScript{},
		func(c *dialCheck, att interpreter.Attempt) {
			// Another fork answered, or the caller left, as the Dial
			// began: on SIP the CANCEL waits for the callee's first
			// provisional response (RFC 3261 §9.1).
			att.Cancel()
			end := c.waitFinal(long)
			c.failed(end, 487, "no-answer")
			c.near(end, 0)
			c.calleeGot("CANCEL")
		}},
	{"Cancel after the answer ends the call", CalleeScript{Ring: 500 * time.Millisecond, Final: 200},
		func(c *dialCheck, att interpreter.Attempt) {
			ans := c.waitKind(interpreter.Answered, long)
			c.until(time.Second)
			att.Cancel()
			end := c.waitFinal(long)
			c.ended(end)
			c.near(end, time.Second)
			c.calleeGot("BYE")
			c.legGone(ans.Leg)
		}},
	{"early media comes before the answer, on the answered leg", CalleeScript{Ring: time.Second, Final: 200, EarlyMedia: true, HangUpAfter: 500 * time.Millisecond},
		func(c *dialCheck, att interpreter.Attempt) {
			early := c.waitKind(interpreter.EarlyMedia, long)
			if early.Code != 183 || early.Leg == nil {
				c.t.Errorf("early media %v, want 183 with a Leg", early)
			}
			c.near(early, 0)
			ans := c.waitKind(interpreter.Answered, long)
			c.near(ans, time.Second)
			// The Dial bridges the caller to the early media's leg; the
			// answer must not take the call to another one.
			if ans.Leg != early.Leg {
				c.t.Errorf("the answered leg %v is not the early media's %v", ans.Leg, early.Leg)
			}
			c.ended(c.waitFinal(long))
		}},
	{"Cancel twice while ringing fails once", CalleeScript{},
		func(c *dialCheck, att interpreter.Attempt) {
			c.waitKind(interpreter.Ringing, long)
			c.until(time.Second)
			att.Cancel()
			att.Cancel()
			c.failed(c.waitFinal(long), 487, "no-answer")
			att.Cancel()
		}},
	{"Cancel after a failure does nothing", CalleeScript{Ring: 500 * time.Millisecond, Final: 486},
		func(c *dialCheck, att interpreter.Attempt) {
			c.failed(c.waitFinal(long), 486, "busy")
			att.Cancel()
			att.Cancel()
		}},
	{"Cancel after the callee hung up does nothing", CalleeScript{Ring: 500 * time.Millisecond, Final: 200, HangUpAfter: 500 * time.Millisecond},
		func(c *dialCheck, att interpreter.Attempt) {
			c.ended(c.waitFinal(long))
			att.Cancel()
			att.Cancel()
		}},
	{"Cancel racing the answer ends the attempt once", CalleeScript{Ring: time.Second, Final: 200},
		func(c *dialCheck, att interpreter.Attempt) {
			c.waitKind(interpreter.Ringing, long)
			c.until(time.Second)
			att.Cancel()
			// Either the CANCEL won (487, never answered), or the answer
			// did and Cancel ended the call (RFC 3261 §9.1: a 2xx that
			// crosses the CANCEL is ACKed and hung up on).
			end := c.waitFinal(long)
			if end.Kind == interpreter.Failed {
				c.failed(end, 487, "no-answer")
			}
			c.near(end, time.Second)
		}},
	{"Cancel racing the callee's hang-up ends the call once", CalleeScript{Ring: 500 * time.Millisecond, Final: 200, HangUpAfter: 500 * time.Millisecond},
		func(c *dialCheck, att interpreter.Attempt) {
			ans := c.waitKind(interpreter.Answered, long)
			c.until(ans.at + 500*time.Millisecond)
			att.Cancel()
			end := c.waitFinal(long)
			c.ended(end)
			c.near(end, time.Second)
		}},
}
