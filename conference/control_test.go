package conference

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store/memory"
)

// room starts a room of two (host creates it with the callback) and
// returns their seats and how many times each was told of a change.
func startedRoom(t *testing.T, cb *posts) (*Service, []interpreter.Seat, []*atomic.Int32) {
	t.Helper()
	st := memory.New()
	s := New(st.Conferences, &fakeMixer{}, Options{Node: "here"})
	var seats []interpreter.Seat
	var changes []*atomic.Int32
	for i, sid := range []string{"CAhost", "CAguest"} {
		n := &atomic.Int32{}
		p := interpreter.Participant{CallSid: sid, StartOnEnter: true, Beep: "true", Changed: func() { n.Add(1) }}
		if i == 0 {
			p.StatusCallback = interpreter.StatusCallback{URL: "http://app/conf", Events: []string{"start", "end", "leave", "mute", "hold", "modify"}, Post: cb.post}
		}
		seat, err := s.Join(context.Background(), "room", p)
		if err != nil {
			t.Fatal(err)
		}
		seats, changes = append(seats, seat), append(changes, n)
	}
	for _, seat := range seats {
		seat.Enter()
	}
	return s, seats, changes
}

func TestUpdateParticipant(t *testing.T) {
	cb := &posts{}
	s, _, _ := startedRoom(t, cb)
	yes, no := true, false
	host, nobody := "CAhost", ""
	ctx := context.Background()
	for _, tc := range []struct {
		u     ParticipantUpdate
		event string
		param string
		want  string
	}{
		{ParticipantUpdate{Muted: &yes}, "participant-mute", "Muted", "true"},
		{ParticipantUpdate{Muted: &no}, "participant-unmute", "Muted", "false"},
		{ParticipantUpdate{Hold: &yes}, "participant-hold", "Hold", "true"},
		{ParticipantUpdate{Hold: &no}, "participant-unhold", "Hold", "false"},
		{ParticipantUpdate{Coach: &host}, "participant-modify", "CallSidToCoach", "CAhost"},
		{ParticipantUpdate{Coach: &nobody}, "participant-modify", "Coaching", "false"},
	} {
		if err := s.UpdateParticipant(ctx, "room", "CAguest", tc.u); err != nil {
			t.Fatal(err)
		}
		v := cb.last(tc.event)
		if v == nil || v.Get("CallSid") != "CAguest" || v.Get(tc.param) != tc.want {
			t.Errorf("%s: callback %v, want %s=%s for CAguest", tc.event, v, tc.param, tc.want)
		}
	}
	if err := s.UpdateParticipant(ctx, "room", "CAguest", ParticipantUpdate{Hold: &yes}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.st.Get(ctx, "room"); err != nil || len(c.Participants) != 2 || !c.Participants[1].Hold {
		t.Errorf("the store after a hold: %+v, %v; want CAguest on hold", c.Participants, err)
	}
	n := len(cb.events())
	if err := s.UpdateParticipant(ctx, "room", "CAguest", ParticipantUpdate{Muted: &no}); err != nil || len(cb.events()) != n {
		t.Errorf("an update that changes nothing: %v, %d new events", err, len(cb.events())-n)
	}
	for _, tc := range []struct{ room, sid string }{{"nowhere", "CAguest"}, {"room", "CAnobody"}} {
		if err := s.UpdateParticipant(ctx, tc.room, tc.sid, ParticipantUpdate{Muted: &yes}); !errors.Is(err, ErrNotHere) {
			t.Errorf("update of %s in %s: %v, want ErrNotHere", tc.sid, tc.room, err)
		}
	}
}

func TestKick(t *testing.T) {
	cb := &posts{}
	s, seats, changes := startedRoom(t, cb)
	ctx := context.Background()
	if err := s.Kick(ctx, "room", "CAguest"); err != nil {
		t.Fatal(err)
	}
	if seats[1].State() != interpreter.SeatEnded || changes[1].Load() == 0 {
		t.Fatalf("the kicked seat: state %v, told %d times", seats[1].State(), changes[1].Load())
	}
	if seats[0].State() != interpreter.SeatTalking {
		t.Fatalf("the other seat: state %v, want still talking", seats[0].State())
	}
	if v := cb.last("participant-leave"); v == nil || v.Get("CallSid") != "CAguest" {
		t.Errorf("participant-leave: %v", v)
	}
	if err := s.Kick(ctx, "room", "CAhost"); err != nil {
		t.Fatal(err)
	}
	if v := cb.last("conference-end"); v == nil || v.Get("ReasonConferenceEnded") != "last-participant-kicked" || v.Get("CallSidEndingConference") != "CAhost" {
		t.Errorf("conference-end after the last was kicked: %v", v)
	}
}

func TestEndViaAPI(t *testing.T) {
	cb := &posts{}
	s, seats, changes := startedRoom(t, cb)
	ctx := context.Background()
	if err := s.End(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	for i, seat := range seats {
		if seat.State() != interpreter.SeatEnded || changes[i].Load() == 0 {
			t.Errorf("seat %d after the API ended the room: state %v, told %d times", i, seat.State(), changes[i].Load())
		}
	}
	if v := cb.last("conference-end"); v == nil || v.Get("ReasonConferenceEnded") != "conference-ended-via-api" || v.Get("CallSidEndingConference") != "" {
		t.Errorf("conference-end: %v", v)
	}
	if err := s.End(ctx, "room"); !errors.Is(err, ErrNotHere) {
		t.Errorf("ending an ended room: %v, want ErrNotHere", err)
	}
	// The participants' calls leave afterwards: nothing more happens.
	n := len(cb.events())
	for _, seat := range seats {
		seat.Leave(ctx)
	}
	if len(cb.events()) != n {
		t.Errorf("leaving an ended room sent %v", cb.events()[n:])
	}
}
