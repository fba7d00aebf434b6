package conference

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
)

// fakeRemote is the other nodes of the cluster, as a conference sees them.
type fakeRemote struct {
	mu       sync.Mutex
	alive    map[string]bool
	joins    []string
	progress func(interpreter.Progress)
	canceled int
	sent     []store.Message
	nodes    map[string]*Service // Send's destinations
}

func (f *fakeRemote) Alive(_ context.Context, node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive[node]
}

func (f *fakeRemote) Join(_ context.Context, node, name string, p interpreter.Participant, progress func(interpreter.Progress)) (interpreter.Attempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joins = append(f.joins, node+"/"+name+"/"+p.CallSid)
	f.progress = progress
	return cancelFunc(func() {
		f.mu.Lock()
		f.canceled++
		f.mu.Unlock()
	}), nil
}

func (f *fakeRemote) Notify(context.Context, string, string, string) error { return nil }

// Send hands a control message to the node's service in f.nodes.
func (f *fakeRemote) Send(_ context.Context, node string, m store.Message) error {
	f.mu.Lock()
	f.sent = append(f.sent, m)
	dst := f.nodes[node]
	f.mu.Unlock()
	if dst == nil {
		return errors.New("no such node")
	}
	go dst.DeliverControl(m) // as the bus delivers: on another goroutine
	return nil
}

type cancelFunc func()

func (c cancelFunc) Cancel() { c() }

// TestGuestSeat: a participant joining a room whose home is another node
// reaches it over a node leg, waits until the home says "talking", is
// ended when the home hangs up, and ends when its home node dies.
func TestGuestSeat(t *testing.T) {
	st := memory.New()
	ctx := context.Background()
	cb := encodeCallback(interpreter.StatusCallback{URL: "http://app/conf", Method: "POST", Events: []string{"end"}})
	if _, _, err := st.Conferences.Join(ctx, "room", store.Participant{CallSid: "CAhost", Node: "home", RoomCallback: cb}, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	r := &fakeRemote{alive: map[string]bool{"home": true}}
	var posted []url.Values
	s := New(st.Conferences, &fakeMixer{}, Options{Node: "here", Remote: r, Alive: r.Alive,
		Post: func(u, method string, p url.Values) {
			if u == "http://app/conf" && method == "POST" {
				posted = append(posted, p)
			}
		}})
	var changes atomic.Int32
	seat, err := s.Join(ctx, "room", interpreter.Participant{CallSid: "CAguest", Changed: func() { changes.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.joins) != 1 || r.joins[0] != "home/room/CAguest" {
		t.Fatalf("node legs %v, want one to the home node", r.joins)
	}
	if seat.State() != interpreter.SeatWaiting {
		t.Fatalf("state %v before the home node said anything", seat.State())
	}
	s.Deliver("CAguest", "talking")
	if seat.State() != interpreter.SeatTalking || changes.Load() != 1 {
		t.Fatalf("after talking: state %v, %d changes", seat.State(), changes.Load())
	}
	r.mu.Lock()
	r.alive["home"] = false
	r.mu.Unlock()
	if n, _ := s.Sweep(ctx); n < 1 {
		t.Errorf("Sweep ended %d participants, want the guest of a dead home", n)
	}
	if seat.State() != interpreter.SeatEnded || changes.Load() != 2 {
		t.Fatalf("after the home died: state %v, %d changes", seat.State(), changes.Load())
	}
	if len(posted) != 1 || posted[0].Get("StatusCallbackEvent") != "conference-end" || posted[0].Get("ReasonConferenceEnded") == "" || posted[0].Get("ConferenceSid") != seat.Sid() {
		t.Errorf("callbacks after the home died: %v; want one conference-end for the room", posted)
	}
	if n, _ := s.Sweep(ctx); n != 0 || len(posted) != 1 {
		t.Errorf("a second sweep ended %d more and sent %d callbacks in all", n, len(posted))
	}
	seat.Leave(ctx)
	seat.Leave(ctx)
	if r.canceled != 1 {
		t.Errorf("node leg canceled %d times, want once", r.canceled)
	}
	// The home node is dead: the guest took itself out of the store, and
	// as the last one in (the sweep took the home's host out), ended it.
	if c, err := st.Conferences.Get(ctx, "room"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after the last guest left a room of a dead home: %+v, %v; want it ended", c, err)
	}
}

// TestGuestTalkingBeforeAnswer: the home node's "talking" may arrive over
// the bus before the node leg's 200 OK; the participant is told again
// once the leg is there, so that its Enter finds the leg to bridge.
func TestGuestTalkingBeforeAnswer(t *testing.T) {
	st := memory.New()
	ctx := context.Background()
	if _, _, err := st.Conferences.Join(ctx, "room", store.Participant{CallSid: "CAhost", Node: "home"}, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	r := &fakeRemote{alive: map[string]bool{"home": true}}
	s := New(st.Conferences, &fakeMixer{}, Options{Node: "here", Remote: r, Alive: r.Alive})
	var changes atomic.Int32
	seat, err := s.Join(ctx, "room", interpreter.Participant{CallSid: "CAguest", Changed: func() { changes.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	s.Deliver("CAguest", "talking")
	if seat.State() != interpreter.SeatTalking || changes.Load() != 1 {
		t.Fatalf("after talking: state %v, told %d times", seat.State(), changes.Load())
	}
	r.progress(interpreter.Progress{Kind: interpreter.Answered})
	if changes.Load() != 2 {
		t.Errorf("the leg answered after talking: told %d times, want 2 (Enter again, with the leg)", changes.Load())
	}
}

// answerLeg is a node leg that answers once wait is closed (its 200 OK
// takes a round trip) and counts its hangups.
type answerLeg struct {
	interpreter.Leg // the rest: a room that never starts does not use them
	wait            chan struct{}
	hangups         atomic.Int32
}

func (l *answerLeg) Answer(context.Context) error {
	select {
	case <-l.wait:
	case <-time.After(5 * time.Second): // the test fails on the kick's outcome
	}
	return nil
}

func (l *answerLeg) Hangup(context.Context) error { l.hangups.Add(1); return nil }

// TestAcceptJoinKickedAsSeated: a Kick that found the room before the
// home node seated a guest's node leg finds the guest as soon as sit
// releases the room's lock, before AcceptJoin has its seat, and calls its
// Changed from its own goroutine. That Changed must wait for the seat:
// not read it unset (a data race, or a nil seat), nor be lost (the guest
// would be served until its node hung up). AcceptJoin must hang the leg
// up and return. The kicker is released by the guest's join event, which
// sit sends under the room's lock, and the leg answers only once the kick
// is done, so that nothing AcceptJoin does after seating the guest (its
// State takes the room's lock) orders its seat before the kicker's
// Changed: every iteration meets the window, and under -race the
// detector reports an unguarded read.
func TestAcceptJoinKickedAsSeated(t *testing.T) {
	ctx := context.Background()
	for i := range 200 {
		st := memory.New()
		joining := make(chan struct{})
		post := func(_, _ string, p url.Values) {
			if p.Get("StatusCallbackEvent") == "participant-join" && p.Get("CallSid") == "CAguest" {
				close(joining)
			}
		}
		s := New(st.Conferences, &fakeMixer{}, Options{Node: "home"})
		cb := interpreter.StatusCallback{URL: "http://app/conf", Method: "POST", Events: []string{"join"}, Post: post}
		host, err := s.Join(ctx, "room", interpreter.Participant{CallSid: "CAhost", StatusCallback: cb})
		if err != nil {
			t.Fatal(err)
		}
		// The guest's node joined it in the store before placing the leg.
		if _, _, err := st.Conferences.Join(ctx, "room", store.Participant{CallSid: "CAguest", Node: "other"}, 0, time.Now()); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		r := s.rooms["room"] // as Kick's seatOf found it, before AcceptJoin took s.mu
		s.mu.Unlock()
		leg := &answerLeg{wait: make(chan struct{})}
		kicked := make(chan bool, 1)
		go func() {
			defer close(leg.wait)
			<-joining
			g := r.live("CAguest") // waits for sit to release the room
			if g != nil {
				g.leave(ctx, true) // kickLocal's rest
			}
			kicked <- g != nil
		}()
		done := make(chan error, 1)
		go func() {
			done <- s.AcceptJoin(ctx, "room", interpreter.Participant{CallSid: "CAguest"}, "other", leg)
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("iteration %d: AcceptJoin: %v", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("iteration %d: AcceptJoin still serves a kicked guest: its Changed was lost", i)
		}
		if !<-kicked {
			t.Fatalf("iteration %d: the kick did not find the seated guest", i)
		}
		if n := leg.hangups.Load(); n != 1 {
			t.Fatalf("iteration %d: the kicked guest's leg hung up %d times, want once", i, n)
		}
		if c, err := st.Conferences.Get(ctx, "room"); err != nil || holds(c, "CAguest") || !holds(c, "CAhost") {
			t.Fatalf("iteration %d: the store after the kick: %+v, %v; want the host alone", i, c, err)
		}
		host.Leave(ctx)
		st.Close()
	}
}
