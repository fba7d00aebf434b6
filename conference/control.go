package conference

import (
	"context"
	"errors"
	"fmt"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// What the REST API does to a live room (Twilio's Conference and
// Participant resources: https://www.twilio.com/docs/voice/api/conference-resource,
// https://www.twilio.com/docs/voice/api/conference-participant-resource).
// These work on rooms mixed on this node; a room of another node is
// reached through its home node, over the bus (forward.go).

// ErrNotHere is returned for a room or participant that this node does
// not hold.
var ErrNotHere = errors.New("conference: not a live room or participant of this node")

// ParticipantUpdate changes a participant; nil fields stay as they are.
type ParticipantUpdate struct {
	Muted *bool
	Hold  *bool
	// Coach makes the participant a coach of that CallSid, or ("") not
	// a coach any more: participant-modify (the "modify" keyword).
	Coach *string
	// HoldURL, when set, is the music the participant hears on hold
	// (the REST API's HoldUrl, fetched with HoldMethod, default GET):
	// audio, or a document of <Play>, <Say>, <Pause> and <Redirect>,
	// looped.
	HoldURL, HoldMethod string
}

// seatOf finds the live seat of callSid in the room called name. s.mu is
// not held.
func (s *Service) seatOf(name, callSid string) (*room, *seat, error) {
	s.mu.Lock()
	r := s.rooms[name]
	s.mu.Unlock()
	if r == nil {
		return nil, nil, fmt.Errorf("conference %q: %w", name, ErrNotHere)
	}
	if st := r.live(callSid); st != nil {
		return r, st, nil
	}
	return nil, nil, fmt.Errorf("conference %q: participant %s: %w", name, callSid, ErrNotHere)
}

// live is the seat of callSid in r that has not left, or nil. r.mu is not
// held.
func (r *room) live(callSid string) *seat {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.seats {
		if st.p.CallSid == callSid && !st.left {
			return st
		}
	}
	return nil
}

// UpdateParticipant mutes or unmutes a participant, puts it on hold (it
// hears hold music and is heard by no one) or takes it off, or changes
// whom it coaches, with the participant-mute/-unmute, -hold/-unhold and
// -modify events (the "mute", "hold" and "modify" statusCallbackEvent
// keywords).
func (s *Service) UpdateParticipant(ctx context.Context, name, callSid string, u ParticipantUpdate) error {
	err := s.updateLocal(ctx, name, callSid, u)
	if !errors.Is(err, ErrNotHere) {
		return err
	}
	return s.forward(ctx, name, control{Op: "update", CallSid: callSid, Update: u}, func(c store.Conference, err error) bool {
		return err == nil && applied(participantIn(c, callSid), u) || gone(c, err)
	})
}

// updateLocal is UpdateParticipant for a room mixed here.
func (s *Service) updateLocal(ctx context.Context, name, callSid string, u ParticipantUpdate) error {
	r, st, err := s.seatOf(name, callSid)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	if u.Muted != nil && *u.Muted != st.p.Muted {
		st.p.Muted, changed = *u.Muted, true
		ev := "participant-unmute"
		if st.p.Muted {
			ev = "participant-mute"
		}
		r.event(ev, "mute", st, nil)
	}
	if u.Hold != nil && *u.Hold != st.hold {
		st.hold, changed = *u.Hold, true
		ev := "participant-unhold"
		if st.hold {
			ev = "participant-hold"
		}
		r.event(ev, "hold", st, nil)
	}
	if u.Coach != nil && *u.Coach != st.p.Coach {
		st.p.Coach, changed = *u.Coach, true
		r.event("participant-modify", "modify", st, nil)
	}
	if u.HoldURL != "" {
		s.holdMusic(r, st, u.HoldURL, u.HoldMethod)
	}
	if !changed {
		return nil
	}
	if st.mem != nil {
		st.mem.Set(r.options(st))
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	sp := s.stored(st.p, st.joined)
	sp.RoomCallback, sp.Hold = "", st.hold
	if err := s.st.Update(cctx, name, sp, s.o.Clock.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("conference: store update", "room", name, "call_sid", callSid, "err", err)
	}
	return nil
}

// Kick removes a participant from the room (the Participant resource's
// delete): its Dial completes, and the room reports it with the -kicked
// reasons when that ends the room.
func (s *Service) Kick(ctx context.Context, name, callSid string) error {
	err := s.kickLocal(ctx, name, callSid)
	if !errors.Is(err, ErrNotHere) {
		return err
	}
	return s.forward(ctx, name, control{Op: "kick", CallSid: callSid}, func(c store.Conference, err error) bool {
		return err == nil && participantIn(c, callSid) == nil || gone(c, err)
	})
}

// kickLocal is Kick for a room mixed here.
func (s *Service) kickLocal(ctx context.Context, name, callSid string) error {
	_, st, err := s.seatOf(name, callSid)
	if err != nil {
		return err
	}
	st.leave(ctx, true)
	return nil
}

// End ends the room for everyone (the Conference resource's update with
// Status=completed): ReasonConferenceEnded=conference-ended-via-api.
func (s *Service) End(ctx context.Context, name string) error {
	err := s.endLocal(ctx, name)
	if !errors.Is(err, ErrNotHere) {
		return err
	}
	return s.forward(ctx, name, control{Op: "end"}, gone)
}

// endLocal is End for a room mixed here.
func (s *Service) endLocal(ctx context.Context, name string) error {
	s.mu.Lock()
	r := s.rooms[name]
	s.mu.Unlock()
	if r == nil {
		return fmt.Errorf("conference %q: %w", name, ErrNotHere)
	}
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return fmt.Errorf("conference %q: %w", name, ErrNotHere)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	notify := r.end(cctx, "conference-ended-via-api", nil)
	r.mu.Unlock()
	r.forget()
	for _, f := range notify {
		f()
	}
	return nil
}

var _ interpreter.Seat = (*seat)(nil)
