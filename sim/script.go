// Package sim is the simulated call leg behind `texml call` and the
// conformance suite: a virtual clock and a scripted caller, so that a call
// runs deterministically and a thirty-second Pause takes no real time. A
// World puts several such callers on one clock, with the queues and
// conferences real calls use.
package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Action is what a scripted caller does.
type Action int

// Scripted caller actions (the --input VALUE forms).
const (
	DTMF    Action = iota // press Keys
	Speak                 // say Text
	Silence               // do nothing: the timeout path
	Hangup                // hang up
	Talk                  // talk for Seconds, then press Key or hang up (Record)
	Refer                 // send a REFER to Target (at its time: a Dial's bridge takes it)
)

// Input is one scripted caller input, consumed each time the call waits for
// the caller (one Gather or Record).
type Input struct {
	Action  Action
	Keys    string        // DTMF keys
	Text    string        // speech
	Seconds float64       // Talk duration
	Key     string        // Talk: key pressed after talking, "hangup", or ""
	Target  string        // Refer: the SIP URI to transfer to
	At      time.Duration // when the input happens, since the call started
	Timed   bool          // At was given (VALUE@MS): the input may barge in
}

// ParseInput parses an --input VALUE: dtmf:KEYS, speech:TEXT, silence,
// hangup, audio:SECONDS[:KEY], each optionally followed by @MS, the virtual
// time in milliseconds since the call started at which the caller acts;
// and refer:SIP-URI@MS, the caller's REFER (a blind transfer of the party
// a Dial bridged it with: Dial referUrl), which needs its time.
func ParseInput(v string) (Input, error) {
	var in Input
	body := v
	if i := strings.LastIndexByte(v, '@'); i >= 0 {
		if ms, err := strconv.ParseUint(v[i+1:], 10, 32); err == nil {
			in.At, in.Timed = time.Duration(ms)*time.Millisecond, true
			body = v[:i]
		}
	}
	kind, arg, _ := strings.Cut(body, ":")
	switch strings.ToLower(kind) {
	case "dtmf":
		if arg == "" {
			return in, fmt.Errorf("input %q: dtmf needs keys, e.g. dtmf:12#", v)
		}
		for _, r := range arg {
			if !strings.ContainsRune("0123456789*#ABCDabcd", r) {
				return in, fmt.Errorf("input %q: %q is not a DTMF key (0-9 * # A-D)", v, r)
			}
		}
		in.Action, in.Keys = DTMF, strings.ToUpper(arg)
	case "speech":
		if strings.TrimSpace(arg) == "" {
			return in, fmt.Errorf("input %q: speech needs text, e.g. speech:sales", v)
		}
		in.Action, in.Text = Speak, arg
	case "silence":
		in.Action = Silence
	case "hangup":
		in.Action = Hangup
	case "audio":
		secs, key, _ := strings.Cut(arg, ":")
		f, err := strconv.ParseFloat(secs, 64)
		if err != nil || f <= 0 {
			return in, fmt.Errorf("input %q: audio needs a positive number of seconds, e.g. audio:5:#", v)
		}
		if key != "" && key != "hangup" && (len(key) != 1 || !strings.Contains("0123456789*#", key)) {
			return in, fmt.Errorf("input %q: audio key must be one of 0-9 * # or hangup", v)
		}
		in.Action, in.Seconds, in.Key = Talk, f, key
	case "refer":
		if !in.Timed || !strings.HasPrefix(strings.ToLower(arg), "sip") {
			return in, fmt.Errorf("input %q: refer needs a SIP URI and a time, e.g. refer:sip:sales@pbx.example.com@5000", v)
		}
		in.Action, in.Target = Refer, arg
	default:
		return in, fmt.Errorf("input %q: want dtmf:KEYS, speech:TEXT, silence, hangup, audio:SECONDS[:KEY] or refer:URI@MS", v)
	}
	return in, nil
}

// String returns the input in --input syntax.
func (in Input) String() string {
	var s string
	switch in.Action {
	case DTMF:
		s = "dtmf:" + in.Keys
	case Speak:
		s = "speech:" + in.Text
	case Silence:
		s = "silence"
	case Hangup:
		s = "hangup"
	case Talk:
		s = "audio:" + strconv.FormatFloat(in.Seconds, 'f', -1, 64)
		if in.Key != "" {
			s += ":" + in.Key
		}
	case Refer:
		s = "refer:" + in.Target
	}
	if in.Timed {
		s += "@" + strconv.FormatInt(in.At.Milliseconds(), 10)
	}
	return s
}

// Outcome is one scripted result of a Dial to a room or a Refer.
type Outcome struct {
	Status  string // completed, answered, busy, no-answer, failed, canceled, hangup, bridged, leave, ...
	Seconds int    // talk time when connected
	Data    string // extra (ConversationRelay handoff data)
}

// ParseOutcome parses a --dial-outcome VALUE: STATUS[:SECONDS[:DATA]].
func ParseOutcome(v string) (Outcome, error) {
	parts := strings.SplitN(v, ":", 3)
	o := Outcome{Status: strings.ToLower(strings.TrimSpace(parts[0]))}
	if !knownOutcomes[o.Status] {
		return o, fmt.Errorf("dial outcome %q: unknown status %q", v, o.Status)
	}
	if len(parts) > 1 && parts[1] != "" {
		n, err := strconv.Atoi(parts[1])
		if err != nil || n < 0 {
			return o, fmt.Errorf("dial outcome %q: seconds must be a whole number ≥ 0", v)
		}
		o.Seconds = n
	}
	if len(parts) > 2 {
		o.Data = parts[2]
	}
	return o, nil
}

var knownOutcomes = map[string]bool{
	"completed": true, "answered": true, "busy": true, "no-answer": true, "failed": true,
	"canceled": true, "hangup": true, "bridged": true, "leave": true, "redirected": true,
	"queue-full": true, "error": true, "rejected": true, "in-progress": true,
}
