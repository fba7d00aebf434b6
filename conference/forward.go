package conference

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/texml/texml/store"
)

// The REST API's actions on a room mixed on another node (its home) go to
// that node over the store's bus, which carries them at most once; the
// node asked then waits, a bounded time, for the store to show the
// effect, so that the API answers with the room as it is after the
// action, as Twilio does.

// ControlKind is the kind of the bus message that carries a REST action
// to a room's home node; DeliverControl takes it.
const ControlKind = "conference-control"

// forwardWait bounds the wait for a forwarded action's effect: the bus
// and the home node's store write take milliseconds; a home node that
// does not act within this is answered as gone.
const forwardWait = 3 * time.Second

// control is one forwarded action.
type control struct {
	Op      string // "update", "kick", "end" or "announce"
	CallSid string `json:",omitempty"`
	Update  ParticipantUpdate
	// URL and Method are an announcement's.
	URL, Method string `json:",omitempty"`
}

// forward sends c for the room called name to its home node and waits
// until done says the store shows its effect. ErrNotHere when the room is
// not live, is this node's own, or its home cannot be reached.
func (s *Service) forward(ctx context.Context, name string, c control, done func(store.Conference, error) bool) error {
	conf, err := s.st.Get(ctx, name)
	if err != nil || conf.Home == s.o.Node || s.o.Remote == nil || !s.o.Remote.Alive(ctx, conf.Home) {
		return fmt.Errorf("conference %q: %w", name, ErrNotHere)
	}
	body, _ := json.Marshal(c)
	if err := s.o.Remote.Send(ctx, conf.Home, store.Message{Kind: ControlKind, Room: name, CallSid: c.CallSid, Body: body}); err != nil {
		return fmt.Errorf("conference %q: reaching its node %s: %w", name, conf.Home, err)
	}
	wctx, cancel := context.WithTimeout(ctx, forwardWait)
	defer cancel()
	for {
		conf, err := s.st.Get(wctx, name)
		if done(conf, err) {
			return nil
		}
		if err := s.o.Clock.Sleep(wctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("conference %q: its node %s did not act within %v: %w", name, conf.Home, forwardWait, ErrNotHere)
		}
	}
}

// DeliverControl carries out an action another node forwarded for a room
// mixed here; register it with cluster.Node.Handle for ControlKind. It
// never forwards again: a room that is not here any more is left alone.
func (s *Service) DeliverControl(m store.Message) {
	var c control
	if err := json.Unmarshal(m.Body, &c); err != nil {
		s.log.Warn("conference: bad control message", "room", m.Room, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	var err error
	switch c.Op {
	case "update":
		err = s.updateLocal(ctx, m.Room, c.CallSid, c.Update)
	case "kick":
		err = s.kickLocal(ctx, m.Room, c.CallSid)
	case "end":
		err = s.endLocal(ctx, m.Room)
	case "announce":
		err = s.announceLocal(ctx, m.Room, c.CallSid, c.URL, c.Method)
	default:
		err = fmt.Errorf("unknown action %q", c.Op)
	}
	if err != nil {
		s.log.Info("conference: forwarded action not carried out", "room", m.Room, "op", c.Op, "call_sid", c.CallSid, "err", err)
	}
}

// participantIn returns callSid's participant in c, nil when it is not there.
func participantIn(c store.Conference, callSid string) *store.Participant {
	for i := range c.Participants {
		if c.Participants[i].CallSid == callSid {
			return &c.Participants[i]
		}
	}
	return nil
}

// applied reports whether p shows u.
func applied(p *store.Participant, u ParticipantUpdate) bool { // the store keeps no hold music: HoldURL is not checked
	return p != nil && (u.Muted == nil || p.Muted == *u.Muted) && (u.Hold == nil || p.Hold == *u.Hold) &&
		(u.Coach == nil || p.CallSidToCoach == *u.Coach)
}

// gone reports whether the room's active conference has ended (or the
// store no longer has one by that name).
func gone(c store.Conference, err error) bool {
	return errors.Is(err, store.ErrNotFound) || err == nil && c.Status == store.ConferenceCompleted
}
