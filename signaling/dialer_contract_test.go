package signaling

import (
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/interpreter/legtest"
)

// sipDialerHarness runs the Dialer contract on the SIP Dialer: a real
// Server dials the test phone over loopback, and the phone plays the
// callee's script (sipphone.Behaviour).
type sipDialerHarness struct {
	*sipHarness
	mu     sync.Mutex
	phones map[*testing.T]*sipphone.Phone // each case's callee, for CalleeGot
}

// Slack allows for a few SIP round trips over loopback on a busy machine.
func (h *sipDialerHarness) Slack() time.Duration { return 250 * time.Millisecond }

func (h *sipDialerHarness) Start(t *testing.T, s legtest.CalleeScript) (interpreter.Dialer, interpreter.Target, interpreter.Clock) {
	t.Helper()
	ph := sipphone.New(t)
	b := sipphone.Behaviour{Ring: s.Ring, RingForever: s.Final == 0, HangupAfter: s.HangUpAfter}
	if s.Final != 200 {
		b.Reject = s.Final
	}
	if s.EarlyMedia {
		b.EarlyMedia = 440
	}
	ph.Answer(b)
	h.mu.Lock()
	h.phones[t] = ph
	h.mu.Unlock()
	return h.srv, interpreter.Target{Kind: interpreter.SIPTarget, Addr: ph.URI("callee"), From: "+15550001111",
		CallSid: interpreter.NewSid("CA"), Timeout: time.Minute}, interpreter.SystemClock{}
}

// CalleeGot implements legtest.FarEnd with what the phone received.
func (h *sipDialerHarness) CalleeGot(t *testing.T, method string, d time.Duration) bool {
	t.Helper()
	h.mu.Lock()
	ph := h.phones[t]
	h.mu.Unlock()
	in := ph.Next(d)
	if !in.Call().WaitEnd(d) {
		return false
	}
	switch method {
	case "CANCEL":
		return in.Canceled()
	case "BYE":
		return in.Call().RemoteHangup()
	}
	t.Fatalf("CalleeGot(%q): the phone tells CANCEL and BYE", method)
	return false
}

func TestDialerContract(t *testing.T) {
	legtest.RunDialer(t, &sipDialerHarness{sipHarness: newSIPHarness(t), phones: map[*testing.T]*sipphone.Phone{}})
}
