package sim

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media/amd"
)

// Callee is how a scripted party behaves when a Dial calls it.
type Callee struct {
	// Target is what it answers to: a number as dialed ("+15551230000"),
	// a SIP URI ("sip:alice@example.com"), "client:IDENTITY", or "*" for
	// any target no other Callee names.
	Target string
	// Ring is how long it rings before its Result.
	Ring time.Duration
	// Result is "answer", "busy", "no-answer" (rings until canceled),
	// "failed" or "reject" (with Code), or "unreachable" (never answers
	// anything, not even 100 Trying, as a host that is down).
	Result string
	// Code is the SIP final response for busy, failed and reject.
	Code int
	// Early makes it send early media while it rings (SIP 183).
	Early bool
	// Talk, when set, is how long after answering it hangs up; zero
	// means it stays until the caller, hangupOnStar or timeLimit ends the
	// bridge.
	Talk time.Duration
	// CallerHangsUp, when set, is how long after the callee answers the
	// caller hangs up (the --dial-outcome hangup:N shorthand).
	CallerHangsUp time.Duration
	// CallerLeaves makes the caller hang up as soon as the callee rings
	// (the canceled shorthand).
	CallerLeaves bool
	// Inputs are the callee's inputs to a whisper document's Gathers.
	Inputs []Input
	// Greeting is what it makes heard once it answers (ParseGreeting),
	// for machineDetection; nil is silence.
	Greeting amd.Party
	// ReferTo, when set, is the transfer target of a REFER the callee
	// sends ReferAfter after answering (a blind transfer, Dial
	// referUrl).
	ReferTo    string
	ReferAfter time.Duration
}

// timerB is how long an INVITE that gets no response at all is
// retransmitted before its transaction gives up: 64*T1 with T1 = 500 ms
// (RFC 3261 §17.1.1.2).
const timerB = 32 * time.Second

// ParseCallee parses a --callee value: TARGET=STEP[,STEP...], where a STEP
// is one of
//
//	ring:SECONDS     ring this long first (default 0)
//	answer           answer (the default result)
//	busy             486 Busy Here
//	no-answer        ring until the Dial gives up
//	failed           404 Not Found
//	unreachable      no response at all, as a host that is down: the
//	                 ring timeout, or Timer B (32 s), fails the Dial
//	reject:CODE      any SIP final response, e.g. reject:603
//	early            send early media while ringing
//	refer:SECONDS:URI  SECONDS after answering, send a REFER to URI (transfer the caller)
//	talk:SECONDS     hang up this long after answering
//	input:VALUE      input for a whisper Gather, in --input syntax
//	human[:SECONDS]  once it answers, say hello for SECONDS (default 1)
//	machine[:SECONDS][:beep]
//	                 once it answers, play a voicemail greeting of SECONDS
//	                 (default 6), then a beep
//	fax              once it answers, play a fax answer tone
//	silent           once it answers, say nothing (the default)
//
// The last four are what answering machine detection hears
// (ParseGreeting), e.g. "+15551230000=ring:5,answer,talk:30",
// "*=busy" or "+15551230000=ring:2,machine:8:beep,talk:20".
func ParseCallee(v string) (Callee, error) {
	target, steps, ok := strings.Cut(v, "=")
	c := Callee{Target: strings.TrimSpace(target), Result: "answer"}
	if !ok || c.Target == "" {
		return c, fmt.Errorf("callee %q: want TARGET=BEHAVIOUR, e.g. +15551230000=ring:5,answer,talk:30", v)
	}
	if t := strings.ToLower(c.Target); c.Target != "*" && !strings.HasPrefix(t, "sip:") && !strings.HasPrefix(t, "sips:") && !strings.HasPrefix(t, "client:") {
		// A number is named as a Dial will dial it: "4155551234" is the
		// callee <Number>(415) 555-1234</Number> reaches, +14155551234.
		c.Target, _ = interpreter.DialNumber(c.Target)
	}
	for _, st := range strings.Split(steps, ",") {
		kind, arg, _ := strings.Cut(strings.TrimSpace(st), ":")
		var err error
		switch kind {
		case "ring":
			c.Ring, err = seconds(arg)
		case "talk":
			c.Talk, err = seconds(arg)
		case "answer", "busy", "no-answer", "failed", "unreachable":
			c.Result, c.Code = kind, map[string]int{"busy": 486, "failed": 404}[kind]
		case "reject":
			c.Result = "reject"
			c.Code, err = strconv.Atoi(arg)
			if err == nil && (c.Code < 300 || c.Code > 699) {
				err = fmt.Errorf("%d is not a SIP final failure code (300-699)", c.Code)
			}
		case "early":
			c.Early = true
		case "refer":
			secs, uri, _ := strings.Cut(arg, ":")
			c.ReferTo = uri
			if c.ReferAfter, err = seconds(secs); err == nil && !strings.HasPrefix(strings.ToLower(uri), "sip") {
				err = fmt.Errorf("refer needs SECONDS:URI, e.g. refer:5:sip:agent@pbx.example.com")
			}
		case "input":
			var in Input
			in, err = ParseInput(arg)
			c.Inputs = append(c.Inputs, in)
		case "human", "machine", "fax", "silent":
			c.Greeting, err = ParseGreeting(strings.TrimSpace(st))
		default:
			err = fmt.Errorf("unknown step %q (ring, answer, busy, no-answer, failed, unreachable, reject, early, refer, talk, input, human, machine, fax, silent)", st)
		}
		if err != nil {
			return c, fmt.Errorf("callee %q: %w", v, err)
		}
	}
	return c, nil
}

func seconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 24*3600 {
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// calleeFromOutcome turns a --dial-outcome into the callee every fork of
// one Dial meets (the forks it rings at once: a sequential Dial takes an
// outcome for each noun).
func calleeFromOutcome(o Outcome) Callee {
	talk := time.Duration(o.Seconds) * time.Second
	switch o.Status {
	case "completed", "answered", "bridged":
		return Callee{Result: "answer", Talk: talk}
	case "hangup":
		return Callee{Result: "answer", CallerHangsUp: talk}
	case "busy":
		return Callee{Result: "busy", Code: 486}
	case "no-answer":
		return Callee{Result: "no-answer"}
	case "canceled":
		return Callee{Result: "no-answer", CallerLeaves: true}
	}
	return Callee{Result: "failed", Code: 404}
}

// dialer implements interpreter.Dialer with scripted callees on the
// caller's virtual clock.
type dialer struct {
	caller *Leg
	mu     sync.Mutex
	// round is the Dial whose forks share an outcome: the forks a parent
	// starts at one instant while an earlier one of them is still live. A
	// Dial that follows one ended at the same instant (a busy outcome
	// takes no time) is a new round.
	round string
	atts  []*attempt // the round's attempts
	out   *Callee    // that Dial's --dial-outcome, if any
}

// Dialer returns the simulated world's Dialer: it calls the scripted
// callees of Options.Callees (and Options.Outcomes, one per Dial).
func (l *Leg) Dialer() interpreter.Dialer { return &dialer{caller: l} }

func (d *dialer) script(t interpreter.Target) (Callee, bool) {
	name := t.Addr
	if t.Kind == interpreter.ClientTarget {
		name = "client:" + t.Addr
	}
	var any *Callee
	for i, c := range d.caller.o.Callees {
		if c.Target == name {
			return c, true
		}
		if c.Target == "*" && any == nil {
			any = &d.caller.o.Callees[i]
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	round := t.ParentCallSid + "@" + d.caller.clk.Now().String()
	if round != d.round || d.roundOver() {
		d.round, d.out, d.atts = round, nil, nil
		if o, ok := d.caller.popOutcome(); ok {
			c := calleeFromOutcome(o)
			d.out = &c
		}
	}
	if d.out != nil {
		return *d.out, true
	}
	if any != nil {
		return *any, true
	}
	return Callee{}, false
}

// roundOver reports whether every attempt of the current round has
// ended. d.mu is held.
func (d *dialer) roundOver() bool {
	for _, a := range d.atts {
		a.mu.Lock()
		over := a.over
		a.mu.Unlock()
		if !over {
			return false
		}
	}
	return len(d.atts) > 0
}

// Dial implements interpreter.Dialer.
func (d *dialer) Dial(ctx context.Context, t interpreter.Target, progress func(interpreter.Progress)) (interpreter.Attempt, error) {
	c, ok := d.script(t)
	if !ok {
		d.caller.trace("warning", map[string]any{"message": "no --callee or --dial-outcome for " + t.Addr + "; it rings without answering"})
		c = Callee{Result: "no-answer"}
	}
	clk := d.caller.clk
	a := &attempt{clk: clk, progress: progress}
	if t.Kind == interpreter.SIPTarget {
		// A SIP callee has a dialog, so a <Sip> Dial gets DialSipCallId.
		a.callID = interpreter.NewSid("")[:16] + "@texml.sim"
	}
	d.mu.Lock()
	d.atts = append(d.atts, a)
	d.mu.Unlock()
	party := t.Kind.String() + ":" + t.Addr
	o := Options{PlayDuration: d.caller.o.PlayDuration, Greeting: c.Greeting}
	a.leg = newLeg(o, clk, c.Inputs, d.caller.start, interpreter.WithParty(d.caller.o.Tracer, party))
	a.leg.answered, a.leg.party = true, party
	a.leg.onGone = func() { a.finish(interpreter.Progress{Kind: interpreter.Ended}) }
	a.leg.bye = a.Cancel

	if c.Result == "unreachable" {
		// Nothing comes back; the INVITE's transaction gives up after
		// Timer B, 64*T1 (RFC 3261 §17.1.1.2), as a SIP leg's does.
		a.at(timerB, func() {
			a.finish(interpreter.Progress{Kind: interpreter.Failed, Reason: "no response (unreachable)"})
		})
		return a, nil
	}
	a.emit(interpreter.Progress{Kind: interpreter.Trying, Code: 100})
	// Only early media carries the leg, as on SIP, where a 180 has no
	// media to give (interpreter.Progress.Leg; legtest.RunDialer).
	ring := interpreter.Progress{Kind: interpreter.Ringing, Code: 180}
	if c.Early {
		ring = interpreter.Progress{Kind: interpreter.EarlyMedia, Code: 183, Leg: a.leg}
	}
	a.emit(ring)
	if c.CallerLeaves {
		a.at(0, func() { d.caller.hangUp("hangup while ringing") })
	}
	switch c.Result {
	case "no-answer":
	case "answer":
		a.at(c.Ring, func() {
			a.answered = true
			a.leg.answeredAt = clk.Now() // its greeting starts now
			a.emit(interpreter.Progress{Kind: interpreter.Answered, Code: 200, Leg: a.leg})
			if c.Talk > 0 {
				a.at(c.Talk, func() { a.leg.hangUp("callee hangs up") })
			}
			if c.CallerHangsUp > 0 {
				a.at(c.CallerHangsUp, func() { d.caller.hangUp("hangup") })
			}
			if c.ReferTo != "" {
				a.at(c.ReferAfter, func() { a.refer(c.ReferTo) })
			}
		})
	default:
		a.at(c.Ring, func() {
			a.finish(interpreter.Progress{Kind: interpreter.Failed, Code: c.Code, Reason: c.Result})
		})
	}
	return a, nil
}

// attempt is one scripted callee being called.
type attempt struct {
	clk      *Clock
	progress func(interpreter.Progress)
	leg      *Leg

	mu       sync.Mutex
	stops    []func() bool
	answered bool
	over     bool
	callID   string // the simulated SIP Call-ID of a <Sip> callee
}

// at schedules f after d on the virtual clock, unless the attempt ends.
func (a *attempt) at(d time.Duration, f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stops = append(a.stops, a.clk.AfterFunc(d, f))
}

func (a *attempt) emit(p interpreter.Progress) {
	a.mu.Lock()
	over := a.over
	a.mu.Unlock()
	if !over {
		p.CallID = a.callID
		a.progress(p)
	}
}

// finish reports the attempt's last event once and stops its timers.
func (a *attempt) finish(p interpreter.Progress) {
	a.mu.Lock()
	if a.over {
		a.mu.Unlock()
		return
	}
	a.over = true
	for _, stop := range a.stops {
		stop()
	}
	a.mu.Unlock()
	a.leg.gone.Store(true)
	p.CallID = a.callID
	a.progress(p)
}

// Cancel implements interpreter.Attempt: CANCEL while ringing (487), BYE
// once answered.
func (a *attempt) Cancel() {
	a.mu.Lock()
	answered := a.answered
	a.mu.Unlock()
	if answered {
		a.finish(interpreter.Progress{Kind: interpreter.Ended, Reason: "bye"})
		return
	}
	a.finish(interpreter.Progress{Kind: interpreter.Failed, Code: 487, Reason: "canceled"})
}

// refer has the callee send a REFER to uri (RFC 3515): the answer to it
// and the NOTIFYs it gets show in the trace as refer-reply and notify.
func (a *attempt) refer(uri string) {
	a.leg.trace("refer-sent", map[string]any{"target": uri})
	a.emit(interpreter.Progress{Kind: interpreter.Referred, Transfer: &interpreter.Transfer{
		Target: "<" + uri + ">",
		Reply:  func(code int) { a.leg.trace("refer-reply", map[string]any{"code": code}) },
		Notify: func(code int) { a.leg.trace("notify", map[string]any{"code": code}) },
	}})
}
