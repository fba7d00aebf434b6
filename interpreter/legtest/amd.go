package legtest

import (
	"context"
	"errors"
	"time"

	"github.com/texml/texml/interpreter"
)

// amdTolerance is how far a detection may be from the time the rules
// give, on top of the harness's slack: the detector works in 20 ms
// frames and its voice activity detector needs two of them to hear
// speech start.
const amdTolerance = 100 * time.Millisecond

// errStop ends a detection from the interpreter's side.
var errStop = errors.New("the call went on without the detection")

// decided checks a detection: no error, who answered, and that the
// decision came want after the start (and says so in its Duration).
func (c *check) decided(r interpreter.MachineResult, err error, answeredBy string, want time.Duration) {
	c.t.Helper()
	if err != nil {
		c.t.Fatalf("DetectMachine: %v, want %s", err, answeredBy)
	}
	if r.AnsweredBy != answeredBy {
		c.t.Errorf("AnsweredBy %q after %v, want %q", r.AnsweredBy, r.Duration, answeredBy)
	}
	tol := c.slack + amdTolerance
	if r.Duration < want-tol || r.Duration > want+tol {
		c.t.Errorf("Duration %v, want %v (±%v)", r.Duration, want, tol)
	}
	got := c.clk.Now().Sub(c.start)
	if got < want-tol || got > want+tol {
		c.t.Errorf("decided at %v, want %v (±%v)", got, want, tol)
	}
}

// amdCases are machine detection with Twilio's default thresholds
// (https://www.twilio.com/docs/voice/answering-machine-detection): what
// the far end makes heard decides, at the time the rules say.
var amdCases = []contractCase{
	{"a short hello is a human", []Act{{At: 0, Kind: Talk, For: 800 * time.Millisecond}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			// Speech shorter than SpeechThreshold, ended by
			// SpeechEndThreshold (1.2 s) of silence.
			r, err := leg.DetectMachine(ctx, interpreter.MachineDetection{Mode: interpreter.MachineEnable})
			c.decided(r, err, "human", 2*time.Second)
		}},
	{"a long greeting is machine_start", []Act{{At: 0, Kind: Talk, For: 4 * time.Second}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			// Enable decides once speech outlasts SpeechThreshold (2.4 s).
			r, err := leg.DetectMachine(ctx, interpreter.MachineDetection{Mode: interpreter.MachineEnable})
			c.decided(r, err, "machine_start", 2400*time.Millisecond)
		}},
	{"DetectMessageEnd waits for the beep", []Act{{At: 0, Kind: Talk, For: 3500 * time.Millisecond},
		{At: 3800 * time.Millisecond, Kind: Beep, For: 500 * time.Millisecond}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			// The decision comes when the beep ends, so that a message
			// left then is recorded after the tone.
			r, err := leg.DetectMachine(ctx, interpreter.MachineDetection{Mode: interpreter.MachineMessageEnd})
			c.decided(r, err, "machine_end_beep", 4300*time.Millisecond)
		}},
	{"silence is unknown", nil,
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			r, err := leg.DetectMachine(ctx, interpreter.MachineDetection{SilenceTimeout: 2 * time.Second})
			c.decided(r, err, "unknown", 2*time.Second)
		}},
	{"a hang-up ends detection", []Act{{At: 0, Kind: Talk, For: 400 * time.Millisecond}, {At: 600 * time.Millisecond, Kind: HangUp}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			_, err := leg.DetectMachine(ctx, interpreter.MachineDetection{})
			c.hungUp(ctx, err)
			c.at("the hang-up", 600*time.Millisecond)
		}},
	{"the call's context ends detection", []Act{{At: 0, Kind: Talk, For: 3 * time.Second}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			dctx, cancel := context.WithCancelCause(ctx)
			defer cancel(nil)
			stop := c.clk.AfterFunc(500*time.Millisecond, func() { cancel(errStop) })
			defer stop()
			_, err := leg.DetectMachine(dctx, interpreter.MachineDetection{})
			if !errors.Is(err, errStop) {
				c.t.Fatalf("DetectMachine: %v, want the context's cause", err)
			}
			c.at("the end", 500*time.Millisecond)
		}},
}
