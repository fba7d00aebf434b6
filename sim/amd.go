package sim

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media/amd"
)

// Greetings of the simulated parties, for answering machine detection
// (https://www.twilio.com/docs/voice/answering-machine-detection). A
// party's greeting is sound (amd.Party: speech, a beep, a fax tone), not
// an AnsweredBy: DetectMachine renders it and lets the real detector of
// package media/amd listen, on the virtual clock. What a simulated call
// learns is what a real call to the same party would.

// Default lengths of the greetings ParseGreeting builds.
const (
	// HumanHello is how long a person says "Hello?".
	HumanHello = time.Second
	// MachineGreeting is a voicemail greeting ("Hi, you've reached
	// Alex, leave a message after the tone"), as long as most are.
	MachineGreeting = 6 * time.Second
	// BeepGap is the pause between a greeting and its beep, BeepLength
	// the beep's.
	BeepGap    = 300 * time.Millisecond
	BeepLength = 500 * time.Millisecond
	// FaxAnswer is how long a fax machine's answer tone (CED) lasts
	// (ITU-T T.30: 2.6-4 s).
	FaxAnswer = 3 * time.Second
)

// ParseGreeting parses what a party makes heard once it answers:
//
//	human[:SECONDS]              says hello for SECONDS (default 1), then listens
//	machine[:SECONDS][:beep]     a voicemail greeting of SECONDS (default 6), then a beep
//	fax                          a fax machine's answer tone
//	silent                       nothing at all
func ParseGreeting(v string) (amd.Party, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(v), ":")
	length := func(s string, def time.Duration) (time.Duration, error) {
		if s == "" {
			return def, nil
		}
		d, err := seconds(s)
		if err == nil && d <= 0 {
			err = fmt.Errorf("%q is not a positive number of seconds", s)
		}
		return d, err
	}
	switch kind {
	case "human":
		d, err := length(arg, HumanHello)
		if err != nil {
			return nil, fmt.Errorf("greeting %q: %w", v, err)
		}
		return amd.Party{{Kind: amd.Voice, For: d}}, nil
	case "machine":
		secs, beep := arg, false
		if s, ok := strings.CutSuffix(arg, "beep"); ok {
			secs, beep = strings.TrimSuffix(s, ":"), true
		}
		d, err := length(secs, MachineGreeting)
		if err != nil {
			return nil, fmt.Errorf("greeting %q: %w (want machine[:SECONDS][:beep])", v, err)
		}
		p := amd.Party{{Kind: amd.Voice, For: d}}
		if beep {
			p = append(p, amd.Sound{Kind: amd.Beep, At: d + BeepGap, For: BeepLength})
		}
		return p, nil
	case "fax":
		return amd.Party{{Kind: amd.FaxTone, For: FaxAnswer}}, nil
	case "silent":
		return amd.Party{}, nil
	}
	return nil, fmt.Errorf("greeting %q: want human[:SECONDS], machine[:SECONDS][:beep], fax or silent", v)
}

// DetectMachine implements interpreter.Leg: the party's greeting, from
// where it is now, goes through the detector, and the decision comes once
// the virtual clock has passed the audio the detector needed. A hang-up
// before then ends it with ErrHangup. It touches none of the leg's
// scripted state, so it may run alongside the other primitives.
func (l *Leg) DetectMachine(ctx context.Context, d interpreter.MachineDetection) (interpreter.MachineResult, error) {
	if l.gone.Load() {
		return interpreter.MachineResult{}, interpreter.ErrHangup
	}
	o, err := d.Options()
	if err != nil {
		return interpreter.MachineResult{}, err
	}
	r := l.o.Greeting.Detect(o, l.Now().Sub(l.answeredAt))
	if err := l.advance(ctx, r.Duration); err != nil {
		return interpreter.MachineResult{}, err
	}
	return interpreter.MachineResult{AnsweredBy: string(r.AnsweredBy), Duration: r.Duration}, nil
}
