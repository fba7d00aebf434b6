package conference

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// A room is mixed on its home node, the node of the participant that
// created it. A participant who calls another node joins it in the store
// there, then reaches the home node with a node-to-node SIP leg: the home
// node seats that leg in its room like a participant of its own, and the
// participant's node bridges its caller with the leg once the room is in
// progress. The home node says when that is with a "talking" message on
// the store's bus, and ends the participant (the room ended) by hanging
// the leg up.

// Remote is how a conference service reaches rooms mixed on other nodes
// (package cluster implements it).
type Remote interface {
	// Alive reports whether node is alive.
	Alive(ctx context.Context, node string) bool
	// Join places a node-to-node leg to node for p in the room called
	// name. progress: Answered with the leg once the home node seated
	// it; Ended when it hangs up (the room ended); Failed when it
	// refused.
	Join(ctx context.Context, node, name string, p interpreter.Participant, progress func(interpreter.Progress)) (interpreter.Attempt, error)
	// Notify tells node that its participant callSid is in state
	// ("talking": the room is in progress).
	Notify(ctx context.Context, node, callSid, state string) error
	// Send carries a message to node over the store's bus (a REST
	// action for a room mixed there: forward.go).
	Send(ctx context.Context, node string, m store.Message) error
}

// ErrGone refuses a node's join for a participant the store does not
// hold in an active room.
var ErrGone = errors.New("conference: no such participant in an active room")

// remoteSeat is a participant of this node in a room mixed elsewhere.
type remoteSeat struct {
	s    *Service
	sid  string
	name string
	home string
	p    interpreter.Participant

	mu     sync.Mutex
	state  interpreter.SeatState
	att    interpreter.Attempt
	leg    interpreter.Leg // the node leg, once answered
	bridge func()          // the bridge of the caller with it
	left   bool
}

// joinRemote seats p in a room mixed on conf.Home. s.mu is held.
func (s *Service) joinRemote(ctx context.Context, conf store.Conference, p interpreter.Participant, now time.Time) (interpreter.Seat, error) {
	rs := &remoteSeat{s: s, sid: conf.Sid, name: conf.Name, home: conf.Home, p: p}
	s.guests[p.CallSid] = rs
	att, err := s.o.Remote.Join(ctx, conf.Home, conf.Name, p, rs.progress)
	if err != nil {
		delete(s.guests, p.CallSid)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		_, _ = s.st.Leave(cctx, conf.Name, p.CallSid, now) // undo the join: nobody will seat it
		return nil, fmt.Errorf("conference %q on node %s: %w", conf.Name, conf.Home, err)
	}
	rs.mu.Lock()
	rs.att = att
	rs.mu.Unlock()
	return rs, nil
}

// storeTimeout bounds a store operation that outlives the call's context.
const storeTimeout = 5 * time.Second

func (rs *remoteSeat) progress(p interpreter.Progress) {
	rs.mu.Lock()
	switch p.Kind {
	case interpreter.Answered:
		rs.leg = p.Leg
		talking := rs.state == interpreter.SeatTalking
		rs.mu.Unlock()
		if talking && rs.p.Changed != nil {
			// The home node's "talking" came over the bus before its
			// 200 OK: the call's Enter found no leg to bridge; now it
			// can.
			rs.p.Changed()
		}
		return
	case interpreter.Failed, interpreter.Ended:
		rs.state = interpreter.SeatEnded
	default:
		rs.mu.Unlock()
		return
	}
	rs.mu.Unlock()
	if rs.p.Changed != nil {
		rs.p.Changed()
	}
}

// Deliver passes a home node's message about its guest callSid (package
// cluster calls it for the bus's "seat" messages).
func (s *Service) Deliver(callSid, state string) {
	s.mu.Lock()
	rs := s.guests[callSid]
	s.mu.Unlock()
	if rs == nil || state != "talking" {
		return
	}
	rs.mu.Lock()
	change := rs.state == interpreter.SeatWaiting
	if change {
		rs.state = interpreter.SeatTalking
	}
	rs.mu.Unlock()
	if change && rs.p.Changed != nil {
		rs.p.Changed()
	}
}

// Sid implements interpreter.Seat.
func (rs *remoteSeat) Sid() string { return rs.sid }

// State implements interpreter.Seat.
func (rs *remoteSeat) State() interpreter.SeatState {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.state
}

// Enter implements interpreter.Seat: the caller is bridged with the node
// leg, which the home node mixes.
func (rs *remoteSeat) Enter() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.state != interpreter.SeatTalking || rs.leg == nil || rs.bridge != nil || rs.left {
		return
	}
	stop, err := rs.p.Leg.Bridge(rs.leg)
	if err != nil {
		rs.s.log.Warn("conference: bridge with the home node", "call_sid", rs.p.CallSid, "home", rs.home, "err", err)
		return
	}
	rs.bridge = stop
}

// Leave implements interpreter.Seat: the node leg is hung up, and the home
// node takes the participant out of the room and the store.
func (rs *remoteSeat) Leave(ctx context.Context) {
	rs.mu.Lock()
	if rs.left {
		rs.mu.Unlock()
		return
	}
	rs.left, rs.state = true, interpreter.SeatEnded
	stop, att := rs.bridge, rs.att
	rs.mu.Unlock()
	if stop != nil {
		stop()
	}
	if att != nil {
		att.Cancel()
	}
	s := rs.s
	s.mu.Lock()
	if s.guests[rs.p.CallSid] == rs {
		delete(s.guests, rs.p.CallSid)
	}
	s.mu.Unlock()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if s.o.Remote.Alive(cctx, rs.home) {
		return // the home node takes the participant out of the store
	}
	// The home node is gone: nobody else will clear this participant,
	// nor end the room once its last participant is out.
	c, err := s.st.Leave(cctx, rs.name, rs.p.CallSid, s.o.Clock.Now())
	if err == nil && len(c.Participants) == 0 {
		_, _ = s.st.End(cctx, rs.name, "last-participant-left", rs.p.CallSid, s.o.Clock.Now())
	}
}

// AcceptJoin seats, in this home node's room called name, the participant
// p of node from, whose media is leg (the node-to-node leg, not yet
// answered); it serves the leg until the participant leaves (the other
// node hangs up) or the room ends (this node hangs up). The other node
// joined p in the store already.
func (s *Service) AcceptJoin(ctx context.Context, name string, p interpreter.Participant, from string, leg interpreter.Leg) error {
	conf, err := s.st.Get(ctx, name)
	if err != nil || !holds(conf, p.CallSid) {
		return ErrGone
	}
	ended := make(chan struct{})
	var once sync.Once
	var st *seat
	talking := func() {
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if err := s.o.Remote.Notify(nctx, from, p.CallSid, "talking"); err != nil {
			s.log.Warn("conference: tell a guest's node", "call_sid", p.CallSid, "node", from, "err", err)
		}
	}
	p.Leg = leg
	// Changed may run on another goroutine as soon as sit has released
	// the room's lock, before st below is assigned: a Kick that found
	// the room before this took s.mu finds the guest under the room's
	// lock alone, and calls its Changed. (A room that ends calls the
	// seats' Changed only after forget has taken s.mu, which this holds
	// until st is assigned.) Changed waits for st.
	seated := make(chan struct{})
	p.Changed = func() {
		<-seated
		switch st.State() {
		case interpreter.SeatTalking:
			st.Enter() // no wait music plays on a node leg: in at once
			talking()
		case interpreter.SeatEnded:
			once.Do(func() { close(ended) })
		}
	}
	// The room keeps its creator's callbacks and recording.
	p.StatusCallback, p.Record = interpreter.StatusCallback{}, nil
	s.mu.Lock()
	st, notify := s.sit(ctx, name, conf, false, p, s.o.Clock.Now())
	s.mu.Unlock()
	close(seated)
	if err := leg.Answer(ctx); err != nil {
		st.Leave(ctx)
		return nil
	}
	for _, f := range notify {
		f()
	}
	if st.State() == interpreter.SeatTalking {
		talking() // it joined a room in progress
	}
	select {
	case <-ctx.Done():
		st.Leave(ctx) // the participant left: its node hung up
	case <-ended:
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		_ = leg.Hangup(hctx)
	}
	return nil
}

func holds(c store.Conference, callSid string) bool {
	for _, p := range c.Participants {
		if p.CallSid == callSid {
			return true
		}
	}
	return false
}

// sweepGuests ends this node's participants in rooms whose home node is
// gone: their room went with it (Twilio's conference-end cannot come from
// a dead node; the participant's Dial completes as for a room that ended).
func (s *Service) sweepGuests(ctx context.Context) int {
	if s.o.Remote == nil {
		return 0
	}
	s.mu.Lock()
	guests := make([]*remoteSeat, 0, len(s.guests))
	for _, rs := range s.guests {
		guests = append(guests, rs)
	}
	s.mu.Unlock()
	ended := 0
	rooms := map[string]bool{}
	for _, rs := range guests {
		if rs.State() == interpreter.SeatEnded || s.o.Remote.Alive(ctx, rs.home) {
			continue // ended already (its call will Leave), or its room lives
		}
		if !rooms[rs.name] {
			rooms[rs.name] = true
			s.endOrphan(ctx, rs.name, rs.sid)
		}
		rs.progress(interpreter.Progress{Kind: interpreter.Ended})
		ended++
	}
	return ended
}

// endOrphan ends, in the store, the room called name whose home node
// died, and reports conference-end to the creator's status callback. The
// store's End is atomic: of the nodes that find the room orphaned, one
// ends it and reports. Twilio documents no reason for a media server
// that is gone; the room is reported as last-participant-left (its
// participants there are gone with their node), with Reason saying why.
func (s *Service) endOrphan(ctx context.Context, name, sid string) {
	c, err := s.st.End(ctx, name, "last-participant-left", "", s.o.Clock.Now())
	if err != nil || c.Sid != sid {
		return // another node ended it, or it is another room by now
	}
	cb, ok := decodeCallback(c.Callback)
	if !ok || s.o.Post == nil || !slices.Contains(cb.Events, "end") {
		return
	}
	s.o.Post(cb.URL, cb.Method, url.Values{
		"ConferenceSid":         {c.Sid},
		"FriendlyName":          {c.Name},
		"AccountSid":            {s.o.AccountSid},
		"StatusCallbackEvent":   {"conference-end"},
		"ReasonConferenceEnded": {"last-participant-left"},
		"Reason":                {"The node that mixed the conference stopped"},
		"Timestamp":             {s.o.Clock.Now().UTC().Format(time.RFC1123Z)},
	})
}

// roomCallback is how a room's status callback is kept in the store
// (store.Participant.RoomCallback).
type roomCallback struct {
	URL, Method string
	Events      []string
}

func encodeCallback(cb interpreter.StatusCallback) string {
	if cb.URL == "" {
		return ""
	}
	b, _ := json.Marshal(roomCallback{cb.URL, cb.Method, cb.Events}) // strings only: cannot fail
	return string(b)
}

func decodeCallback(s string) (roomCallback, bool) {
	var cb roomCallback
	if s == "" || json.Unmarshal([]byte(s), &cb) != nil || cb.URL == "" {
		return cb, false
	}
	return cb, true
}
