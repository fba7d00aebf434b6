package sim

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/texml/texml/interpreter"
)

// Record implements interpreter.Leg: the next scripted input decides what
// the caller does while recording (audio:SECONDS[:KEY] talks).
func (l *Leg) Record(ctx context.Context, r interpreter.RecordSpec) (interpreter.Recording, error) {
	var rec interpreter.Recording
	if l.gone.Load() {
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
			return interpreter.Recording{Empty: true}, err
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
			if wait >= silence {
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
		return interpreter.Recording{Empty: true}, interpreter.ErrHangup
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
		// A timed hangup cut the caller off: what was recorded is kept.
		return interpreter.Recording{Duration: l.Now().Sub(began)}, err
	}
	switch {
	case in.Key == "hangup":
		l.hangUp("hangup after talking")
		return interpreter.Recording{Duration: talk}, interpreter.ErrHangup
	case in.Key != "" && strings.Contains(r.FinishOnKey, in.Key):
		return interpreter.Recording{Duration: talk, Digits: in.Key}, nil
	}
	// The caller stops talking; the silence timeout ends the recording,
	// unless a finish key pressed in time (a timed dtmf input) ends it
	// first.
	rec.Duration = talk
	if talk+silence > r.MaxLength {
		silence = r.MaxLength - talk
	}
	if len(l.inputs) > 0 {
		next := l.inputs[0]
		wait := next.At - l.elapsed()
		if next.Action == DTMF && next.Timed && wait < silence && strings.Contains(r.FinishOnKey, next.Keys[:1]) {
			if err := l.advance(ctx, max(wait, 0)); err != nil {
				return rec, err
			}
			l.inputs = l.inputs[1:]
			l.trace("input", map[string]any{"type": "dtmf", "value": next.String()})
			if !r.Trim {
				rec.Duration += max(wait, 0)
			}
			rec.Digits = next.Keys[:1]
			return rec, nil
		}
	}
	if !r.Trim {
		rec.Duration += silence
	}
	return rec, l.advance(ctx, silence)
}

// RecordCall implements interpreter.Leg. A simulated call has no audio,
// so the recording is only time on the virtual clock: it lasts from
// RecordCall to Stop. For trim-silence the parties are taken to talk
// while a peer is connected (a bridge, or a callee's early media) and to
// be silent otherwise, so trimming keeps the time from the first peer's
// arrival to the last one's departure; a recording without a peer trims
// to nothing (Empty).
func (l *Leg) RecordCall(r interpreter.CallRecordSpec) (interpreter.CallRecording, error) {
	if l.gone.Load() {
		return nil, interpreter.ErrHangup
	}
	channels := 1
	if r.Dual {
		channels = 2
	}
	f := map[string]any{"sid": r.Sid, "channels": channels, "track": trackName(r.Track), "trim": r.Trim}
	if r.Source != "" {
		f["source"] = r.Source
	}
	l.trace("record-call", f)
	return &callRecording{l: l, spec: r, began: l.Now()}, nil
}

func trackName(t interpreter.Track) string {
	switch t {
	case interpreter.TrackInbound:
		return "inbound"
	case interpreter.TrackOutbound:
		return "outbound"
	}
	return "both"
}

// callRecording is a simulated call recording.
type callRecording struct {
	l     *Leg
	spec  interpreter.CallRecordSpec
	began time.Time
	peer  *Leg
	since time.Time // when peer was connected
	// The talk heard so far: from the first peer's arrival to the last
	// one's departure; voiced says there was any.
	from, to time.Time
	voiced   bool
	stopped  bool
	out      interpreter.Recording
}

// Peer implements interpreter.CallRecording.
func (r *callRecording) Peer(p interpreter.Leg) error {
	var next *Leg
	if p != nil {
		pl, ok := p.(*Leg)
		if !ok {
			return fmt.Errorf("sim: cannot record a %T", p)
		}
		next = pl
	}
	if r.stopped || next == r.peer {
		return nil
	}
	now := r.l.Now()
	r.hangUpPeer(now)
	r.peer, r.since = next, now
	party := ""
	if next != nil {
		party = next.party
	}
	r.l.trace("record-peer", map[string]any{"sid": r.spec.Sid, "peer": party})
	return nil
}

// hangUpPeer counts the time the current peer was heard.
func (r *callRecording) hangUpPeer(now time.Time) {
	if r.peer == nil || !now.After(r.since) {
		return
	}
	if !r.voiced {
		r.from, r.voiced = r.since, true
	}
	r.to = now
}

// Stop implements interpreter.CallRecording.
func (r *callRecording) Stop() (interpreter.Recording, error) {
	if r.stopped {
		return r.out, nil
	}
	r.stopped = true
	now := r.l.Now()
	r.hangUpPeer(now)
	r.peer = nil
	d := now.Sub(r.began)
	// A recording of what the party hears (Heard) has the call's
	// prompts in it, which the simulation does not time one by one: it
	// counts as talk from its start to its stop.
	if r.spec.Trim && !r.spec.Heard {
		d = 0
		if r.voiced {
			d = r.to.Sub(r.from)
		}
	}
	r.out = interpreter.Recording{Duration: d, Empty: d <= 0}
	return r.out, nil
}
