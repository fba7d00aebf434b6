package sim

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/verbs"
)

// Record implements interpreter.Leg: the next scripted input decides what
// the caller does while recording (audio:SECONDS[:KEY] talks).
func (l *Leg) Record(ctx context.Context, r interpreter.RecordSpec) (interpreter.Recording, error) {
	var rec interpreter.Recording
	if l.gone {
		return rec, interpreter.ErrHangup
	}
	if r.PlayBeep {
		l.trace("beep", nil)
		if err := l.advance(ctx, 500*time.Millisecond); err != nil {
			return rec, err
		}
	}
	if len(l.inputs) == 0 && l.o.Ask != nil {
		if err := l.ask(ctx, "Caller while recording (audio:SECONDS[:KEY], silence, hangup, keys)"); err != nil {
			return interpreter.Recording{Empty: true, Digits: "hangup"}, nil
		}
	}
	silence := r.Timeout
	if silence <= 0 || silence > r.MaxLength {
		silence = r.MaxLength // timeout 0 disables silence detection
	}
	in := Input{Action: Silence}
	if len(l.inputs) > 0 {
		next := l.inputs[0]
		if wait := next.At - l.elapsed(); next.Timed && wait > 0 {
			// The caller acts later. Until then the line is silent: a
			// wait longer than the silence timeout ends the recording
			// empty and leaves the input for what comes next (a timed
			// hangup is applied by advance when its time comes).
			if wait >= silence || next.Action == Hangup {
				return interpreter.Recording{Empty: true}, l.advance(ctx, silence)
			}
			if err := l.advance(ctx, wait); err != nil {
				return rec, err
			}
		}
		in = next
		l.inputs = l.inputs[1:]
		l.trace("input", map[string]any{"type": actionName(in.Action), "value": in.String()})
	}
	switch in.Action {
	case Hangup:
		l.hangUp("")
		return interpreter.Recording{Empty: true, Digits: "hangup"}, nil
	case DTMF:
		if strings.Contains(r.FinishOnKey, in.Keys[:1]) {
			return interpreter.Recording{Empty: true, Digits: in.Keys[:1]}, nil
		}
		in = Input{Action: Silence}
	case Speak:
		in = Input{Action: Talk, Seconds: (time.Duration(len(in.Text)) * SpeechPerChar).Seconds()}
	}
	if in.Action != Talk {
		err := l.advance(ctx, silence)
		return interpreter.Recording{Empty: true}, err
	}
	talk := time.Duration(in.Seconds * float64(time.Second))
	if talk >= r.MaxLength {
		err := l.advance(ctx, r.MaxLength)
		return interpreter.Recording{Duration: r.MaxLength}, err
	}
	began := l.Now()
	if err := l.advance(ctx, talk); err != nil {
		if errors.Is(err, interpreter.ErrHangup) {
			// A timed hangup cut the caller off: keep what was recorded.
			return interpreter.Recording{Duration: l.Now().Sub(began), Digits: "hangup"}, nil
		}
		return rec, err
	}
	switch {
	case in.Key == "hangup":
		l.hangUp("hangup after talking")
		return interpreter.Recording{Duration: talk, Digits: "hangup"}, nil
	case in.Key != "" && strings.Contains(r.FinishOnKey, in.Key):
		return interpreter.Recording{Duration: talk, Digits: in.Key}, nil
	}
	// The caller stops talking; the silence timeout ends the recording.
	rec.Duration = talk
	if talk+silence > r.MaxLength {
		silence = r.MaxLength - talk
	}
	if !r.Trim {
		rec.Duration += silence
	}
	return rec, l.advance(ctx, silence)
}

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

// bridge runs a Dial's connected time: the scripted seconds, cut short by
// timeLimit, or by the caller pressing '*' (a timed dtmf:*@MS input) when
// hangupOnStar is set, which drops the callee and returns the caller to
// the document.
func (l *Leg) bridge(ctx context.Context, d *verbs.Dial, o Outcome) (hungUp bool, err error) {
	talk := time.Duration(o.Seconds) * time.Second
	status := o.Status
	if d.TimeLimit > 0 && talk > time.Duration(d.TimeLimit)*time.Second {
		talk, status = time.Duration(d.TimeLimit)*time.Second, "completed"
	}
	if len(l.inputs) > 0 && d.HangupOnStar {
		in := l.inputs[0]
		if in.Action == DTMF && strings.HasPrefix(in.Keys, "*") && in.Timed && in.At-l.elapsed() < talk {
			wait := max(in.At-l.elapsed(), 0)
			if err := l.advance(ctx, wait); err != nil {
				return errors.Is(err, interpreter.ErrHangup), ignoreHangup(err)
			}
			l.inputs = l.inputs[1:]
			l.trace("input", map[string]any{"type": "dtmf", "value": in.String()})
			return false, nil
		}
	}
	return l.connected(ctx, Outcome{Status: status, Seconds: int(talk / time.Second)})
}

func ignoreHangup(err error) error {
	if errors.Is(err, interpreter.ErrHangup) {
		return nil
	}
	return err
}

// Dial implements interpreter.Leg with the next scripted outcome:
// completed:N, answered:N, hangup:N (the caller hangs up after N seconds
// bridged), busy, no-answer, failed, canceled.
func (l *Leg) Dial(ctx context.Context, d *verbs.Dial) (interpreter.Outcome, error) {
	var out interpreter.Outcome
	o := l.nextOutcome("Dial", Outcome{Status: "no-answer"})
	l.trace("dial", map[string]any{"targets": targets(d.Nouns), "outcome": o.Status, "seconds": o.Seconds})
	p := url.Values{}
	out.Params = p
	status := o.Status
	sid := interpreter.NewSid("CA")
	switch o.Status {
	case "completed", "answered", "hangup", "bridged":
		if !l.answered {
			l.answered = true // answerOnBridge: the caller is answered with the callee
			out.Answered = l.Now()
		}
		bridged := l.Now()
		hung, err := l.bridge(ctx, d, o)
		if err != nil {
			return out, err
		}
		status = "completed"
		if o.Status == "answered" {
			status = "answered"
		}
		out.CallerHungUp = hung
		p.Set("DialCallDuration", strconv.Itoa(int(l.Now().Sub(bridged).Round(time.Second).Seconds())))
		p.Set("DialBridged", "true")
	case "no-answer":
		if err := l.advance(ctx, time.Duration(d.Timeout)*time.Second); err != nil {
			return out, err
		}
		p.Set("DialBridged", "false")
	case "canceled":
		// The caller gave up while the callee was ringing.
		l.hangUp("hangup while ringing")
		out.CallerHungUp = true
		p.Set("DialBridged", "false")
	case "busy", "failed":
		p.Set("DialBridged", "false")
	default:
		status = "failed"
		p.Set("DialBridged", "false")
	}
	p.Set("DialCallStatus", status)
	p.Set("DialCallSid", sid)
	return out, nil
}

// Enqueue implements interpreter.Leg: bridged:N (dequeued and bridged for
// N seconds), leave, redirected, queue-full, error, hangup[:N].
func (l *Leg) Enqueue(ctx context.Context, e *verbs.Enqueue) (interpreter.Outcome, error) {
	var out interpreter.Outcome
	o := l.nextOutcome("Enqueue", Outcome{Status: "hangup"})
	l.trace("enqueue", map[string]any{"queue": e.Queue, "targets": []string{"Queue:" + e.Queue}, "outcome": o.Status, "seconds": o.Seconds})
	result := o.Status
	switch o.Status {
	case "bridged", "completed", "answered":
		result = "bridged"
		hung, err := l.connected(ctx, Outcome{Seconds: o.Seconds})
		if err != nil {
			return out, err
		}
		out.CallerHungUp = hung
	case "hangup", "canceled":
		result = "hangup"
		if _, err := l.connected(ctx, Outcome{Status: "hangup", Seconds: o.Seconds}); err != nil {
			return out, err
		}
		out.CallerHungUp = true
	case "leave", "redirected", "queue-full", "error":
	default:
		result = "error"
	}
	out.Params = url.Values{
		"QueueResult": {result},
		"QueueSid":    {"QU" + queueHex(e.Queue)},
		"QueueTime":   {"0"},
	}
	return out, nil
}

// queueHex gives a queue a stable 32-hex-digit id from its name.
func queueHex(name string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	s := strconv.FormatUint(h, 16)
	return strings.Repeat("0", 32-len(s)) + s
}

// Connect implements interpreter.Leg: completed:N[:HANDOFF], failed,
// hangup:N.
func (l *Leg) Connect(ctx context.Context, c *verbs.Connect) (interpreter.Outcome, error) {
	var out interpreter.Outcome
	o := l.nextOutcome("Connect", Outcome{Status: "completed"})
	l.trace("connect", map[string]any{"targets": targets(c.Nouns), "outcome": o.Status, "seconds": o.Seconds})
	hung, err := l.connected(ctx, o)
	if err != nil {
		return out, err
	}
	out.CallerHungUp = hung
	out.Params = url.Values{}
	for _, n := range c.Nouns {
		if _, ok := n.(*verbs.ConversationRelay); ok {
			status := "completed"
			if o.Status == "failed" || o.Status == "error" {
				status = "failed"
			} else if hung {
				status = "ended"
			}
			out.Params.Set("SessionId", interpreter.NewSid("VX"))
			out.Params.Set("SessionStatus", status)
			out.Params.Set("SessionDuration", strconv.Itoa(o.Seconds))
			if o.Data != "" {
				out.Params.Set("HandoffData", o.Data)
			}
		}
	}
	return out, nil
}

// Refer implements interpreter.Leg: completed (transfer accepted and
// connected), busy, no-answer, failed.
func (l *Leg) Refer(ctx context.Context, r *verbs.Refer) (interpreter.Outcome, error) {
	o := l.nextOutcome("Refer", Outcome{Status: "completed"})
	target := ""
	if r.Target != nil {
		target = r.Target.URI
	}
	l.trace("refer", map[string]any{"target": target, "outcome": o.Status})
	notify := map[string]string{"completed": "200", "busy": "486", "no-answer": "487", "failed": "503"}[o.Status]
	if notify == "" {
		notify = "500"
	}
	p := url.Values{"ReferCallStatus": {o.Status}, "ReferSipResponseCode": {"202"}, "NotifySipResponseCode": {notify}}
	return interpreter.Outcome{Params: p}, nil
}

// Start implements interpreter.Leg: the fork is only traced.
func (l *Leg) Start(_ context.Context, s *verbs.Start) error {
	l.trace("start", map[string]any{"targets": targets(s.Nouns)})
	return nil
}

// Stop implements interpreter.Leg: the fork is only traced.
func (l *Leg) Stop(_ context.Context, s *verbs.Stop) error {
	l.trace("stop", map[string]any{"targets": targets(s.Nouns)})
	return nil
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
