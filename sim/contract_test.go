package sim

import (
	"context"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/interpreter/legtest"
	"github.com/texml/texml/media/amd"
)

// simHarness runs the Leg contract on the simulated leg: the far end's
// script becomes timed --input values, and what it makes heard its
// Greeting.
type simHarness struct{}

func (simHarness) Slack() time.Duration { return 0 }

func (simHarness) Start(t *testing.T, script []legtest.Act) (interpreter.Leg, context.Context, interpreter.Clock) {
	var o Options
	for _, a := range script {
		in := Input{At: a.At, Timed: true}
		switch a.Kind {
		case legtest.Press:
			in.Action, in.Keys = DTMF, a.Digits
		case legtest.HangUp:
			in.Action = Hangup
		case legtest.Talk:
			in.Action, in.Seconds = Talk, a.For.Seconds()
			o.Greeting = append(o.Greeting, amd.Sound{Kind: amd.Voice, At: a.At, For: a.For})
		case legtest.Beep:
			o.Greeting = append(o.Greeting, amd.Sound{Kind: amd.Beep, At: a.At, For: a.For})
			continue
		case legtest.StallRefer:
			o.Outcomes = append(o.Outcomes, Outcome{Status: "in-progress"})
			continue
		}
		o.Inputs = append(o.Inputs, in)
	}
	leg := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := leg.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	return leg, leg.Context(ctx), leg.Clock()
}

func TestLegContract(t *testing.T) { legtest.Run(t, simHarness{}) }
