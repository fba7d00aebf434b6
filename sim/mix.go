package sim

import (
	"fmt"
	"sync"

	"github.com/texml/texml/interpreter"
)

// Mixer is the simulated line's interpreter.Mixer: there is no audio, so
// a mix only keeps who is in it and how, and traces on each member's leg
// what that member would notice (entering and leaving the mix, a change
// of how it is heard, a beep), so that scenarios can check who hears what.
type Mixer struct{}

var _ interpreter.Mixer = Mixer{}

// NewMix implements interpreter.Mixer.
func (Mixer) NewMix() interpreter.Mix { return &mix{} }

type mix struct {
	mu      sync.Mutex
	members []*mixMember
	closed  bool
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
