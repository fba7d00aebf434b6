// Package legtest is the contract every interpreter.Leg honours, written
// once and run against each implementation (the simulated leg in package
// sim, the SIP leg in package signaling), so that a verb behaves the same
// on a simulated and a real call: the same errors on a hang-up, the same
// recording kept, the same input reported.
package legtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
)

// ActKind is what the far end does.
type ActKind int

// What the far end can do.
const (
	Press  ActKind = iota // press Digits (RFC 4733 on SIP)
	HangUp                // hang up (BYE on SIP)
	Talk                  // talk for For: sound that voice activity detectors take for speech
	Beep                  // a voicemail's record tone (1 kHz) for For
	// StallRefer makes the party take a REFER (202), report the target
	// ringing (a NOTIFY with 180) and nothing more; At is ignored: it
	// holds from the start.
	StallRefer
)

// Act is one thing the far end does At a time after the case starts.
type Act struct {
	At     time.Duration
	Kind   ActKind
	Digits string
	For    time.Duration
}

// Harness gives the suite legs of one implementation.
type Harness interface {
	// Start returns an answered leg whose far end follows script, the
	// call's context (which the leg cancels with cause
	// interpreter.ErrHangup when the far end hangs up), and the clock
	// the leg waits on. Everything is torn down with the test.
	Start(t *testing.T, script []Act) (interpreter.Leg, context.Context, interpreter.Clock)
	// Slack is how far the leg's timing may be from the script's: zero
	// on a virtual clock, a few packet times on a real one.
	Slack() time.Duration
}

// Run runs the contract against h.
func Run(t *testing.T, h Harness) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leg, ctx, clk := h.Start(t, tc.script)
			c := &check{t: t, clk: clk, start: clk.Now(), slack: h.Slack()}
			tc.run(ctx, leg, c)
		})
	}
}

// check carries what a case asserts with.
type check struct {
	t     *testing.T
	clk   interpreter.Clock
	start time.Time
	slack time.Duration
}

// at checks that now is want after the start, within the slack (and a
// packet time more for real legs).
func (c *check) at(what string, want time.Duration) {
	c.t.Helper()
	got := c.clk.Now().Sub(c.start)
	if got < want-c.slack || got > want+c.slack {
		c.t.Errorf("%s at %v, want %v (±%v)", what, got, want, c.slack)
	}
}

// transcribe runs a transcription for d on the leg's clock and stops
// it; false means the leg has no recognizer, which it may say.
func (c *check) transcribe(ctx context.Context, leg interpreter.Leg, spec interpreter.TranscribeSpec, d time.Duration) bool {
	c.t.Helper()
	stop, err := leg.Transcribe(ctx, spec)
	if errors.Is(err, interpreter.ErrNoRecognizer) {
		return false
	}
	if err != nil {
		c.t.Fatal(err)
	}
	defer stop()
	if err := c.clk.Sleep(ctx, d); err != nil {
		c.t.Fatal(err)
	}
	return true
}

// hungUp checks that err is a hang-up and that the call's context says so.
func (c *check) hungUp(ctx context.Context, err error) {
	c.t.Helper()
	if !errors.Is(err, interpreter.ErrHangup) {
		c.t.Fatalf("err %v, want one matching ErrHangup", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		c.t.Fatal("the call's context is not done after the far end hung up")
	}
	if cause := context.Cause(ctx); !errors.Is(cause, interpreter.ErrHangup) {
		c.t.Errorf("the call's context ended with %v, want ErrHangup", cause)
	}
}

var dtmf = interpreter.InputSpec{Turn: 1, DTMF: true, Timeout: 5 * time.Second}

// contractCase is one case: the far end's script, and what the leg must
// do while it plays.
type contractCase struct {
	name   string
	script []Act
	run    func(ctx context.Context, leg interpreter.Leg, c *check)
}

// cases are the contract, in the order Run runs them: the basics, then
// machine detection (amd.go), media streams (stream.go) and transfers
// (refer.go).
var cases = append(append(append(basics, amdCases...), streamCases...), referCases...)

var basics = []contractCase{
	{"digit while waiting", []Act{{At: 400 * time.Millisecond, Kind: Press, Digits: "5"}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			in, err := leg.WaitInput(ctx, dtmf)
			if err != nil || in == nil || in.Kind != interpreter.Digit || in.Digit != '5' {
				c.t.Fatalf("WaitInput = %+v, %v; want the digit 5", in, err)
			}
			c.at("the digit", 400*time.Millisecond)
		}},
	{"timeout without input", nil,
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			spec := dtmf
			spec.Timeout = time.Second
			in, err := leg.WaitInput(ctx, spec)
			if err != nil || in == nil || in.Kind != interpreter.Timeout {
				c.t.Fatalf("WaitInput = %+v, %v; want a Timeout", in, err)
			}
			c.at("the timeout", time.Second)
		}},
	{"hang-up while waiting for input", []Act{{At: 300 * time.Millisecond, Kind: HangUp}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			_, err := leg.WaitInput(ctx, dtmf)
			c.hungUp(ctx, err)
			c.at("the hang-up", 300*time.Millisecond)
		}},
	{"barge-in stops a prompt", []Act{{At: 300 * time.Millisecond, Kind: Press, Digits: "1"}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			spec := dtmf
			in, err := leg.Pause(ctx, 3*time.Second, interpreter.Prompt{Interrupt: &spec})
			if err != nil || in == nil || in.Kind != interpreter.Digit || in.Digit != '1' {
				c.t.Fatalf("Pause = %+v, %v; want it interrupted by the digit 1", in, err)
			}
			c.at("the barge-in", 300*time.Millisecond)
		}},
	{"hang-up during a prompt", []Act{{At: 300 * time.Millisecond, Kind: HangUp}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			_, err := leg.Pause(ctx, 3*time.Second, interpreter.Prompt{})
			c.hungUp(ctx, err)
			c.at("the hang-up", 300*time.Millisecond)
		}},
	{"hang-up during a recording keeps what was said", []Act{{At: 0, Kind: Talk, For: 1500 * time.Millisecond}, {At: 1800 * time.Millisecond, Kind: HangUp}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			rec, err := leg.Record(ctx, interpreter.RecordSpec{Turn: 1, Sid: interpreter.NewSid("RE"),
				Timeout: 5 * time.Second, FinishOnKey: "#", MaxLength: 10 * time.Second, Trim: true})
			c.hungUp(ctx, err)
			if rec.Empty || rec.Duration < time.Second || rec.Digits != "" {
				c.t.Errorf("recording %+v, want the 1.5 s said before the hang-up and no Digits (ErrHangup says it)", rec)
			}
		}},
	{"a key ends a recording", []Act{{At: 0, Kind: Talk, For: time.Second}, {At: 1200 * time.Millisecond, Kind: Press, Digits: "#"}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			rec, err := leg.Record(ctx, interpreter.RecordSpec{Turn: 1, Sid: interpreter.NewSid("RE"),
				Timeout: 5 * time.Second, FinishOnKey: "#", MaxLength: 10 * time.Second, Trim: true})
			if err != nil || rec.Digits != "#" || rec.Empty {
				c.t.Fatalf("Record = %+v, %v; want it ended by # with audio", rec, err)
			}
			c.at("the end of the recording", 1200*time.Millisecond)
		}},
	{"silence ends a recording", []Act{{At: 0, Kind: Talk, For: time.Second}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			rec, err := leg.Record(ctx, interpreter.RecordSpec{Turn: 1, Sid: interpreter.NewSid("RE"),
				Timeout: 2 * time.Second, FinishOnKey: "#", MaxLength: 10 * time.Second, Trim: true})
			if err != nil || rec.Digits != "" || rec.Empty {
				c.t.Fatalf("Record = %+v, %v; want it ended by the silence timeout", rec, err)
			}
			c.at("the end of the recording", 3*time.Second)
		}},
	{"a call recording lasts from its start to Stop", []Act{{At: 0, Kind: Talk, For: 500 * time.Millisecond}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			rec, err := leg.RecordCall(interpreter.CallRecordSpec{Sid: interpreter.NewSid("RE"), Dual: true})
			if err != nil {
				c.t.Fatal(err)
			}
			if err := c.clk.Sleep(ctx, 1200*time.Millisecond); err != nil {
				c.t.Fatal(err)
			}
			if err := rec.Peer(nil); err != nil {
				c.t.Errorf("Peer(nil): %v", err)
			}
			got, err := rec.Stop()
			if err != nil || got.Empty || got.Duration < 1200*time.Millisecond-c.slack || got.Duration > 1200*time.Millisecond+c.slack {
				c.t.Errorf("Stop = %+v, %v; want 1.2 s (±%v) kept", got, err, c.slack)
			}
			if again, err := rec.Stop(); again != got || err != nil {
				c.t.Errorf("a second Stop = %+v, %v; want the first's result", again, err)
			}
		}},
	{"a call recording is kept when the far end hangs up", []Act{{At: 0, Kind: Talk, For: 300 * time.Millisecond}, {At: 400 * time.Millisecond, Kind: HangUp}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			rec, err := leg.RecordCall(interpreter.CallRecordSpec{Sid: interpreter.NewSid("RE")})
			if err != nil {
				c.t.Fatal(err)
			}
			c.hungUp(ctx, c.clk.Sleep(ctx, 5*time.Second))
			got, err := rec.Stop()
			if err != nil || got.Empty || got.Duration < 400*time.Millisecond-c.slack {
				c.t.Errorf("Stop = %+v, %v; want the 0.4 s before the hang-up kept", got, err)
			}
		}},
	{"a transcription stops at once and for good", []Act{{At: 0, Kind: Talk, For: 500 * time.Millisecond}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			var stopped atomic.Bool
			var late atomic.Int32
			stop, err := leg.Transcribe(ctx, interpreter.TranscribeSpec{Inbound: true, Outbound: true, Result: func(interpreter.Transcript) {
				if stopped.Load() {
					late.Add(1)
				}
			}})
			if errors.Is(err, interpreter.ErrNoRecognizer) {
				return // a leg without a recognizer says so
			}
			if err != nil {
				c.t.Fatal(err)
			}
			if err := c.clk.Sleep(ctx, 300*time.Millisecond); err != nil {
				c.t.Fatal(err)
			}
			stop()
			stopped.Store(true)
			stop() // idempotent
			if err := c.clk.Sleep(ctx, 2*time.Second); err != nil {
				c.t.Fatal(err)
			}
			if n := late.Load(); n != 0 {
				c.t.Errorf("%d results after stop returned", n)
			}
		}},
	{"a transcription tells the onset of speech", []Act{{At: 300 * time.Millisecond, Kind: Talk, For: time.Second}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			var mu sync.Mutex
			var onsets []time.Duration
			if !c.transcribe(ctx, leg, interpreter.TranscribeSpec{Inbound: true,
				Result: func(interpreter.Transcript) {},
				Speaking: func(tr interpreter.Track) {
					mu.Lock()
					defer mu.Unlock()
					if tr == interpreter.TrackInbound {
						onsets = append(onsets, c.clk.Now().Sub(c.start))
					}
				}}, 2*time.Second) {
				return // a leg without a recognizer says so
			}
			mu.Lock()
			defer mu.Unlock()
			// Voice activity detection needs a few frames of speech.
			if len(onsets) != 1 || onsets[0] < 300*time.Millisecond-c.slack || onsets[0] > 300*time.Millisecond+c.slack+100*time.Millisecond {
				c.t.Errorf("onsets at %v, want one at 300 ms", onsets)
			}
		}},
	{"a transcription ends an utterance after its EndSilence", []Act{{At: 300 * time.Millisecond, Kind: Talk, For: time.Second}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			// <ConversationRelay speechTimeout>: the pause after the
			// sound that ends the utterance, told by Ended before the
			// final result.
			var mu sync.Mutex
			var events []string
			var endAt time.Duration
			if !c.transcribe(ctx, leg, interpreter.TranscribeSpec{Inbound: true, EndSilence: 1500 * time.Millisecond,
				Result:   func(interpreter.Transcript) { mu.Lock(); events = append(events, "result"); mu.Unlock() },
				Speaking: func(interpreter.Track) { mu.Lock(); events = append(events, "onset"); mu.Unlock() },
				Ended: func(interpreter.Track) {
					mu.Lock()
					defer mu.Unlock()
					events = append(events, "ended")
					endAt = c.clk.Now().Sub(c.start)
				}}, 4*time.Second) {
				return // a leg without a recognizer says so
			}
			mu.Lock()
			defer mu.Unlock()
			if len(events) < 2 || events[0] != "onset" || events[1] != "ended" || len(events) > 3 || len(events) == 3 && events[2] != "result" {
				c.t.Errorf("events %q, want onset, ended (and a result, if the sound had words)", events)
			}
			// The sound ends at 1.3 s; voice activity detection may hold on
			// a frame or so.
			if want := 2800 * time.Millisecond; endAt < want-c.slack || endAt > want+c.slack+100*time.Millisecond {
				c.t.Errorf("the utterance ended at %v, want %v", endAt, want)
			}
		}},
	{"a transcription tells sustained speech, not a short sound", []Act{{At: 300 * time.Millisecond, Kind: Talk, For: 200 * time.Millisecond},
		{At: 1500 * time.Millisecond, Kind: Talk, For: time.Second}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			// <ConversationRelay interruptSensitivity="medium">: a sound
			// shorter than SustainAfter (a backchannel) has an onset and
			// an end and is never told sustained; a longer one is, once,
			// SustainAfter after its onset.
			var mu sync.Mutex
			var events []string
			var longAt time.Duration
			note := func(e string) func(interpreter.Track) {
				return func(interpreter.Track) {
					mu.Lock()
					defer mu.Unlock()
					events = append(events, e)
					if e == "sustained" {
						longAt = c.clk.Now().Sub(c.start)
					}
				}
			}
			if !c.transcribe(ctx, leg, interpreter.TranscribeSpec{Inbound: true, SustainAfter: 500 * time.Millisecond,
				Result: func(interpreter.Transcript) {}, Speaking: note("onset"), Sustained: note("sustained"), Ended: note("ended")}, 4*time.Second) {
				return // a leg without a recognizer says so
			}
			mu.Lock()
			defer mu.Unlock()
			want := []string{"onset", "ended", "onset", "sustained", "ended"}
			if len(events) != len(want) {
				c.t.Fatalf("events %q, want %q", events, want)
			}
			for i := range want {
				if events[i] != want[i] {
					c.t.Fatalf("events %q, want %q", events, want)
				}
			}
			// The onset takes voice activity detection a few frames.
			if want := 2000 * time.Millisecond; longAt < want-c.slack || longAt > want+c.slack+100*time.Millisecond {
				c.t.Errorf("sustained at %v, want %v", longAt, want)
			}
		}},
	{"the far end hangs up while nothing runs", []Act{{At: 300 * time.Millisecond, Kind: HangUp}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			// The interpreter may be waiting on its own (a Dial ringing):
			// the call's context still ends, on the leg's clock.
			err := c.clk.Sleep(ctx, 5*time.Second)
			c.hungUp(ctx, err)
			c.at("the hang-up", 300*time.Millisecond)
			for name, f := range map[string]func() error{
				"WaitInput": func() error { _, err := leg.WaitInput(context.WithoutCancel(ctx), dtmf); return err },
				"Pause": func() error {
					_, err := leg.Pause(context.WithoutCancel(ctx), time.Second, interpreter.Prompt{})
					return err
				},
			} {
				if err := f(); !errors.Is(err, interpreter.ErrHangup) {
					c.t.Errorf("%s after the hang-up: %v, want ErrHangup", name, err)
				}
			}
		}},
}
