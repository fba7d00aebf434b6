package sim

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/verbs"
)

// nextOutcome pops the next scripted outcome, or returns def with a
// warning in the trace when the script has run out.
func (l *Leg) nextOutcome(verb string, def Outcome) Outcome {
	if len(l.outs) == 0 {
		l.trace("warning", map[string]any{"message": "no --dial-outcome left for <" + verb + ">; simulating " + def.Status})
		return def
	}
	o := l.outs[0]
	l.outs = l.outs[1:]
	return o
}

// connected runs Seconds of connected time, during which a timed hangup
// may end the call.
func (l *Leg) connected(ctx context.Context, o Outcome) (hungUp bool, err error) {
	err = l.advance(ctx, time.Duration(o.Seconds)*time.Second)
	if errors.Is(err, interpreter.ErrHangup) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if o.Status == "hangup" {
		l.hangUp("hangup")
		return true, nil
	}
	return false, nil
}

// popOutcome takes the next --dial-outcome, if any is left.
func (l *Leg) popOutcome() (Outcome, bool) {
	if len(l.outs) == 0 {
		return Outcome{}, false
	}
	o := l.outs[0]
	l.outs = l.outs[1:]
	return o, true
}

// DialRoom implements interpreter.HandOff for a Dial to a Conference with
// the next scripted outcome. A conference never rings: joining is
// immediate, and the action gets DialCallStatus=answered without a
// DialCallSid (https://www.twilio.com/docs/voice/twiml/conference).
func (l *Leg) DialRoom(ctx context.Context, d *verbs.Dial) (interpreter.Outcome, error) {
	var out interpreter.Outcome
	_, conf := d.Nouns[0].(*verbs.Conference)
	def := Outcome{Status: "no-answer"}
	if conf {
		def = Outcome{Status: "answered"}
	}
	o := l.nextOutcome("Dial", def)
	l.trace("dial", map[string]any{"targets": targets(d.Nouns), "outcome": o.Status, "seconds": o.Seconds})
	p := url.Values{"DialBridged": {"false"}}
	out.Params = p
	status := o.Status
	switch o.Status {
	case "completed", "answered", "hangup", "bridged":
		bridged := l.Now()
		hung, err := l.connected(ctx, o)
		if err != nil {
			return out, err
		}
		status = "completed"
		if conf {
			status = "answered"
		}
		out.CallerHungUp = hung
		p.Set("DialCallDuration", strconv.Itoa(int(l.Now().Sub(bridged).Round(time.Second).Seconds())))
		p.Set("DialBridged", "true")
	case "no-answer":
		if !conf {
			if err := l.advance(ctx, time.Duration(d.Timeout)*time.Second); err != nil {
				return out, err
			}
		}
	case "canceled":
		l.hangUp("hangup while ringing")
		out.CallerHungUp = true
	case "busy", "failed":
	default:
		status = "failed"
	}
	p.Set("DialCallStatus", status)
	if !conf {
		p.Set("DialCallSid", interpreter.NewSid("CA"))
	}
	return out, nil
}

// targets describes nouns for the trace, e.g. "Number:+15551234567".
func targets(nouns []verbs.Noun) []string {
	out := make([]string, 0, len(nouns))
	for _, n := range nouns {
		var v string
		switch n := n.(type) {
		case *verbs.Number:
			v = n.Number
		case *verbs.Client:
			v = n.Identity
		case *verbs.Sip:
			v = n.URI
		case *verbs.Conference:
			v = n.Room
		case *verbs.Queue:
			v = n.Queue
		case *verbs.Stream:
			v = n.URL
		case *verbs.ConversationRelay:
			v = n.URL
		}
		out = append(out, n.Name()+":"+v)
	}
	return out
}
