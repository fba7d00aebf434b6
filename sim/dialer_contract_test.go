package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/interpreter/legtest"
)

// simDialerHarness runs the Dialer contract on the simulated Dialer: the
// callee script becomes a --callee value, parsed as the CLI parses it, on
// a caller's virtual clock.
type simDialerHarness struct{}

func (simDialerHarness) Slack() time.Duration { return 0 }

func (simDialerHarness) Start(t *testing.T, s legtest.CalleeScript) (interpreter.Dialer, interpreter.Target, interpreter.Clock) {
	t.Helper()
	// A <Sip> target, so that the attempt has a Call-ID as a SIP one
	// does.
	const addr = "sip:callee@sim.test"
	spec := fmt.Sprintf("%s=ring:%g", addr, s.Ring.Seconds())
	switch {
	case s.Final == 0:
		spec += ",no-answer"
	case s.Final == 200:
		spec += ",answer"
	case s.Final == 486:
		spec += ",busy"
	default:
		spec += fmt.Sprintf(",reject:%d", s.Final)
	}
	if s.EarlyMedia {
		spec += ",early"
	}
	if s.HangUpAfter > 0 {
		spec += fmt.Sprintf(",talk:%g", s.HangUpAfter.Seconds())
	}
	c, err := ParseCallee(spec)
	if err != nil {
		t.Fatal(err)
	}
	caller := New(Options{Callees: []Callee{c}})
	return caller.Dialer(), interpreter.Target{Kind: interpreter.SIPTarget, Addr: addr, From: "+15550001111",
		CallSid: interpreter.NewSid("CA"), Timeout: time.Minute}, caller.Clock()
}

func TestDialerContract(t *testing.T) { legtest.RunDialer(t, simDialerHarness{}) }
