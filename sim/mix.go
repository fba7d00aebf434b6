package sim

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/texml/texml/interpreter"
)

// Mixer is the simulated line's interpreter.Mixer: there is no audio, so
// a mix only keeps who is in it and how, and traces on each member's leg
// what that member would notice (entering and leaving the mix, a change
// of how it is heard, a beep), so that scenarios can check who hears what.
type Mixer struct {
	// Clock times the mixes' recordings: the simulation's clock. Without
	// it a mix cannot record.
	Clock *Clock
}

var _ interpreter.Mixer = Mixer{}

// NewMix implements interpreter.Mixer.
func (m Mixer) NewMix() interpreter.Mix { return &mix{clk: m.Clock} }

type mix struct {
	clk *Clock

	mu      sync.Mutex
	members []*mixMember
	closed  bool
	recs    []*mixRecording // running
}

type mixMember struct {
	m   *mix
	leg *Leg
	o   interpreter.MixOptions
	out bool
}

// Add implements interpreter.Mix.
func (x *mix) Add(leg interpreter.Leg, o interpreter.MixOptions) (interpreter.MixMember, error) {
	l, ok := leg.(*Leg)
	if !ok {
		return nil, fmt.Errorf("sim: cannot mix a %T", leg)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	mm := &mixMember{m: x, leg: l, o: o}
	if x.closed {
		mm.out = true
		return mm, nil
	}
	x.members = append(x.members, mm)
	x.heardLocked()
	l.trace("mix", mm.fields("in"))
	return mm, nil
}

func (mm *mixMember) fields(state string) map[string]any {
	f := map[string]any{"state": state, "muted": mm.o.Muted, "hold": mm.o.Hold}
	if mm.o.Coach != nil {
		f["coaching"] = true
	}
	return f
}

// Beep implements interpreter.Mix: each member but except hears it.
func (x *mix) Beep(except interpreter.MixMember) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, mm := range x.members {
		if interpreter.MixMember(mm) != except {
			mm.leg.trace("beep", nil)
		}
	}
}

// OnSpeech implements interpreter.Mix; scripted callers do not speak
// into a conference yet.
func (x *mix) OnSpeech(func(interpreter.MixMember, bool)) {}

// Close implements interpreter.Mix.
func (x *mix) Close() {
	x.mu.Lock()
	ms := x.members
	x.members, x.closed = nil, true
	x.heardLocked()
	x.mu.Unlock()
	for _, mm := range ms {
		mm.remove()
	}
}

// Set implements interpreter.MixMember.
func (mm *mixMember) Set(o interpreter.MixOptions) {
	mm.m.mu.Lock()
	defer mm.m.mu.Unlock()
	if mm.out || o == mm.o {
		return
	}
	mm.o = o
	mm.m.heardLocked()
	mm.leg.trace("mix", mm.fields("changed"))
}

// Remove implements interpreter.MixMember.
func (mm *mixMember) Remove() {
	x := mm.m
	x.mu.Lock()
	for i, m := range x.members {
		if m == mm {
			x.members = append(x.members[:i:i], x.members[i+1:]...)
			break
		}
	}
	x.heardLocked()
	x.mu.Unlock()
	mm.remove()
}

func (mm *mixMember) remove() {
	mm.m.mu.Lock()
	defer mm.m.mu.Unlock()
	if mm.out {
		return
	}
	mm.out = true
	mm.leg.trace("mix", map[string]any{"state": "out"})
}

// Record implements interpreter.Mix. A simulated conference has no
// audio, so its recording is only time on the virtual clock, from Record
// to Stop. For trim-silence the members are taken to talk while they are
// in the mix and heard by everyone (not muted, on hold or coaching):
// trimming keeps the time from the first moment someone is heard to the
// last, and a recording in which nobody was heard trims to nothing
// (Empty). Beeps are not counted as sound.
func (x *mix) Record(spec interpreter.MixRecordSpec) (interpreter.MixRecording, error) {
	if x.clk == nil {
		return nil, errors.New("sim: a Mixer without a Clock cannot record")
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil, errors.New("sim: the mix is closed")
	}
	r := &mixRecording{x: x, spec: spec, began: x.clk.Now()}
	x.recs = append(x.recs, r)
	x.heardLocked()
	return r, nil
}

// heardLocked brings the running recordings up to date with whether
// anyone is heard now. x.mu is held.
func (x *mix) heardLocked() {
	if len(x.recs) == 0 {
		return
	}
	heard := slices.ContainsFunc(x.members, func(mm *mixMember) bool {
		return !mm.o.Muted && !mm.o.Hold && mm.o.Coach == nil
	})
	now := x.clk.Now()
	for _, r := range x.recs {
		r.hear(heard, now)
	}
}

// mixRecording is a simulated recording of a mix. Its fields are guarded
// by the mix's lock.
type mixRecording struct {
	x     *mix
	spec  interpreter.MixRecordSpec
	began time.Time
	// talking says someone is heard, since when; from and to span the
	// sound recorded so far, voiced says there was any.
	talking  bool
	since    time.Time
	from, to time.Time
	voiced   bool
	stopped  bool
	out      interpreter.Recording
}

// hear notes whether anyone is heard from now on.
func (r *mixRecording) hear(heard bool, now time.Time) {
	switch {
	case heard && !r.talking:
		r.talking, r.since = true, now
	case !heard && r.talking:
		r.talking = false
		if now.After(r.since) {
			if !r.voiced {
				r.from, r.voiced = r.since, true
			}
			r.to = now
		}
	}
}

// Stop implements interpreter.MixRecording.
func (r *mixRecording) Stop() (interpreter.Recording, error) {
	x := r.x
	x.mu.Lock()
	defer x.mu.Unlock()
	if r.stopped {
		return r.out, nil
	}
	r.stopped = true
	x.recs = slices.DeleteFunc(x.recs, func(q *mixRecording) bool { return q == r })
	now := x.clk.Now()
	r.hear(false, now)
	d := now.Sub(r.began)
	if r.spec.Trim {
		d = 0
		if r.voiced {
			d = r.to.Sub(r.from)
		}
	}
	r.out = interpreter.Recording{Duration: d, Empty: d <= 0}
	return r.out, nil
}

// Announce implements interpreter.Mix: each member that would hear the
// announcement (everyone not on hold, or to alone) gets an "announcement"
// event with its parts' length on the virtual clock, as the sim's Say,
// Play and Pause count them; done runs when that time has passed.
func (x *mix) Announce(parts []interpreter.AnnouncePart, to interpreter.MixMember, done func(error)) {
	var d time.Duration
	var texts []string
	for _, p := range parts {
		var one time.Duration
		switch {
		case p.Speech != nil:
			one = time.Duration(max(utf8.RuneCountInString(p.Speech.Text), 5)) * SpeechPerChar
			texts = append(texts, p.Speech.Text)
		case p.URL != "":
			one = PlayDuration
			texts = append(texts, p.URL)
		default:
			one = p.Pause
		}
		d += one * time.Duration(max(p.Loop, 1))
	}
	x.mu.Lock()
	for _, mm := range x.members {
		if to == nil && !mm.o.Hold || interpreter.MixMember(mm) == to {
			mm.leg.trace("announcement", map[string]any{"parts": texts, "seconds": d.Seconds()})
		}
	}
	x.mu.Unlock()
	if x.clk == nil {
		go done(nil)
		return
	}
	x.clk.AfterFunc(d, func() { done(nil) })
}

// HoldMusic implements interpreter.Mix: the member's leg traces the hold
// music it would hear on hold.
func (x *mix) HoldMusic(member interpreter.MixMember, parts []interpreter.AnnouncePart, done func(error)) {
	mm, ok := member.(*mixMember)
	if !ok {
		go done(errors.New("sim: not a member of this mix"))
		return
	}
	var what []string
	for _, p := range parts {
		switch {
		case p.Speech != nil:
			what = append(what, p.Speech.Text)
		case p.URL != "":
			what = append(what, p.URL)
		}
	}
	mm.leg.trace("hold-music", map[string]any{"parts": what})
	go done(nil)
}
