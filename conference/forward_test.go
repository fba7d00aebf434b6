package conference

import (
	"context"
	"errors"
	"testing"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
)

// The REST API's actions asked of a node that is not a room's home go to
// the home over the bus, and return once the store shows them.
func TestForwardToHome(t *testing.T) {
	st := memory.New()
	home := New(st.Conferences, &fakeMixer{}, Options{Node: "home"})
	ctx := context.Background()
	for _, sid := range []string{"CAhost", "CAguest", "CAthird"} {
		seat, err := home.Join(ctx, "room", interpreter.Participant{CallSid: sid, StartOnEnter: true})
		if err != nil {
			t.Fatal(err)
		}
		seat.Enter()
	}
	r := &fakeRemote{alive: map[string]bool{"home": true}, nodes: map[string]*Service{"home": home}}
	other := New(st.Conferences, &fakeMixer{}, Options{Node: "other", Remote: r})

	yes := true
	if err := other.UpdateParticipant(ctx, "room", "CAguest", ParticipantUpdate{Muted: &yes, Hold: &yes}); err != nil {
		t.Fatalf("forwarded update: %v", err)
	}
	c, _ := st.Conferences.Get(ctx, "room")
	if p := participantIn(c, "CAguest"); p == nil || !p.Muted || !p.Hold {
		t.Errorf("after the forwarded update: %+v", p)
	}
	if err := other.Kick(ctx, "room", "CAthird"); err != nil {
		t.Fatalf("forwarded kick: %v", err)
	}
	if c, _ := st.Conferences.Get(ctx, "room"); participantIn(c, "CAthird") != nil {
		t.Error("the kicked participant is still in the room")
	}
	if err := other.End(ctx, "room"); err != nil {
		t.Fatalf("forwarded end: %v", err)
	}
	if _, err := st.Conferences.Get(ctx, "room"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after the forwarded end the room is still active: %v", err)
	}
	r.mu.Lock()
	ops := len(r.sent)
	r.mu.Unlock()
	if ops != 3 {
		t.Errorf("%d messages sent, want 3", ops)
	}

	// A room whose home is not alive is not reached: ErrNotHere, nothing sent.
	seat, err := home.Join(ctx, "room2", interpreter.Participant{CallSid: "CAx", StartOnEnter: true})
	if err != nil {
		t.Fatal(err)
	}
	seat.Enter()
	r.mu.Lock()
	r.alive["home"] = false
	r.mu.Unlock()
	if err := other.Kick(ctx, "room2", "CAx"); !errors.Is(err, ErrNotHere) {
		t.Errorf("kick in a dead node's room: %v, want ErrNotHere", err)
	}
}
