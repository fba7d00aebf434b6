package conference

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
)

// fakeMixer records the mixes it makes and who is in them.
type fakeMixer struct {
	mu     sync.Mutex
	mixes  []*fakeMix
	recErr error // what its mixes' Record fails with
}

func (m *fakeMixer) NewMix() interpreter.Mix {
	m.mu.Lock()
	defer m.mu.Unlock()
	x := &fakeMix{recErr: m.recErr}
	m.mixes = append(m.mixes, x)
	return x
}

func (m *fakeMixer) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mixes)
}

type fakeMix struct {
	mu      sync.Mutex
	members []*fakeMember
	closed  bool
	recs    []*fakeRecording
	recErr  error // what Record fails with

	announced   []announced
	announceErr error       // what every Announce ends with
	held        []announced // HoldMusic calls
}

// announced is one Announce of a fakeMix.
type announced struct {
	parts []interpreter.AnnouncePart
	to    interpreter.MixMember
}

// fakeRecording is a Mix.Record: what it was asked, and whether it was
// stopped before the mix closed.
type fakeRecording struct {
	mix     *fakeMix
	spec    interpreter.MixRecordSpec
	out     interpreter.Recording // what Stop returns
	stopped bool                  // guarded by mix.mu
	late    bool                  // stopped after the mix's Close
}

func (x *fakeMix) Record(spec interpreter.MixRecordSpec) (interpreter.MixRecording, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.recErr != nil {
		return nil, x.recErr
	}
	r := &fakeRecording{mix: x, spec: spec, out: interpreter.Recording{Duration: 7 * time.Second}}
	x.recs = append(x.recs, r)
	return r, nil
}

func (r *fakeRecording) Stop() (interpreter.Recording, error) {
	r.mix.mu.Lock()
	defer r.mix.mu.Unlock()
	if !r.stopped {
		r.stopped, r.late = true, r.mix.closed
	}
	return r.out, nil
}

func (x *fakeMix) Add(interpreter.Leg, interpreter.MixOptions) (interpreter.MixMember, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := &fakeMember{mix: x}
	x.members = append(x.members, m)
	return m, nil
}

func (x *fakeMix) Beep(interpreter.MixMember) {}

// HoldMusic records the hold music and is done at once.
func (x *fakeMix) HoldMusic(to interpreter.MixMember, parts []interpreter.AnnouncePart, done func(error)) {
	x.mu.Lock()
	x.held = append(x.held, announced{parts: parts, to: to})
	x.mu.Unlock()
	done(nil)
}

// Announce records the announcement and ends it at once.
func (x *fakeMix) Announce(parts []interpreter.AnnouncePart, to interpreter.MixMember, done func(error)) {
	x.mu.Lock()
	x.announced = append(x.announced, announced{parts: parts, to: to})
	x.mu.Unlock()
	done(x.announceErr)
}
func (x *fakeMix) OnSpeech(func(interpreter.MixMember, bool)) {}

func (x *fakeMix) Close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
}

// in counts the members not removed from a mix that is open.
func (x *fakeMix) in() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return 0
	}
	n := 0
	for _, m := range x.members {
		if !m.removed {
			n++
		}
	}
	return n
}

type fakeMember struct {
	mix     *fakeMix
	removed bool // guarded by mix.mu
}

func (m *fakeMember) Set(interpreter.MixOptions) {}

func (m *fakeMember) Remove() {
	m.mix.mu.Lock()
	defer m.mix.mu.Unlock()
	m.removed = true
}

// flakyConferences is a store that can go down, failing every call as a
// store whose Redis is gone does, and come back with or without what it
// held.
type flakyConferences struct {
	mu   sync.Mutex
	st   *store.Store
	down bool
}

var errDown = errors.New("connection refused")

func newFlaky(t *testing.T) *flakyConferences {
	f := &flakyConferences{st: memory.New()}
	t.Cleanup(func() { f.st.Close() })
	return f
}

func (f *flakyConferences) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// forget replaces the state with an empty one.
func (f *flakyConferences) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Close()
	f.st = memory.New()
}

func (f *flakyConferences) c() (store.Conferences, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errDown
	}
	return f.st.Conferences, nil
}

func (f *flakyConferences) Join(ctx context.Context, name string, p store.Participant, max int, now time.Time) (store.Conference, bool, error) {
	c, err := f.c()
	if err != nil {
		return store.Conference{}, false, err
	}
	return c.Join(ctx, name, p, max, now)
}

func (f *flakyConferences) Leave(ctx context.Context, name, callSid string, now time.Time) (store.Conference, error) {
	c, err := f.c()
	if err != nil {
		return store.Conference{}, err
	}
	return c.Leave(ctx, name, callSid, now)
}

func (f *flakyConferences) Update(ctx context.Context, name string, p store.Participant, now time.Time) error {
	c, err := f.c()
	if err != nil {
		return err
	}
	return c.Update(ctx, name, p, now)
}

func (f *flakyConferences) Start(ctx context.Context, name string, now time.Time) error {
	c, err := f.c()
	if err != nil {
		return err
	}
	return c.Start(ctx, name, now)
}

func (f *flakyConferences) End(ctx context.Context, name, reason, endedBy string, now time.Time) (store.Conference, error) {
	c, err := f.c()
	if err != nil {
		return store.Conference{}, err
	}
	return c.End(ctx, name, reason, endedBy, now)
}

func (f *flakyConferences) Get(ctx context.Context, name string) (store.Conference, error) {
	c, err := f.c()
	if err != nil {
		return store.Conference{}, err
	}
	return c.Get(ctx, name)
}

func (f *flakyConferences) BySid(ctx context.Context, sid string) (store.Conference, error) {
	c, err := f.c()
	if err != nil {
		return store.Conference{}, err
	}
	return c.BySid(ctx, sid)
}

func (f *flakyConferences) Completed(ctx context.Context) ([]store.Conference, error) {
	c, err := f.c()
	if err != nil {
		return nil, err
	}
	return c.Completed(ctx)
}

func (f *flakyConferences) List(ctx context.Context) ([]store.Conference, error) {
	c, err := f.c()
	if err != nil {
		return nil, err
	}
	return c.List(ctx)
}

// joined is one participant of a test, with how often its seat changed.
type joined struct {
	seat    interpreter.Seat
	changed *atomic.Int32
}

// join seats sid in room "room" and enters the mix when the room has
// started, as the participant's call does.
func join(t *testing.T, s *Service, sid string, endOnExit bool) joined {
	t.Helper()
	var changed atomic.Int32
	seat, err := s.Join(context.Background(), "room", interpreter.Participant{
		CallSid: sid, StartOnEnter: true, EndOnExit: endOnExit, Changed: func() { changed.Add(1) },
	})
	if err != nil {
		t.Fatalf("Join %s: %v", sid, err)
	}
	return joined{seat, &changed}
}

// enterAll enters every talking seat into the mix.
func enterAll(ps []joined) {
	for _, p := range ps {
		if p.seat.State() == interpreter.SeatTalking {
			p.seat.Enter()
		}
	}
}

// TestLeaveWhileStoreIsDown: participants leave, end the room or hang up
// while the store fails; the room's audio and state follow at once, no
// Leave waits on the store, and the room works again once the store is
// back.
func TestLeaveWhileStoreIsDown(t *testing.T) {
	tests := []struct {
		name      string
		endOnExit bool  // the first participant ends the room when it leaves
		leave     []int // who leaves while the store is down
		wantIn    int   // members left in the mix
		ended     bool  // the room ended
	}{
		{"one of three leaves", false, []int{2}, 2, false},
		{"everyone leaves", false, []int{0, 1, 2}, 0, true},
		{"endConferenceOnExit leaves", true, []int{0}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlaky(t)
			mixer := &fakeMixer{}
			s := New(f, mixer, Options{Node: "n1"})
			ps := []joined{join(t, s, "CA0", tt.endOnExit), join(t, s, "CA1", false), join(t, s, "CA2", false)}
			enterAll(ps)
			if mixer.count() != 1 || mixer.mixes[0].in() != 3 {
				t.Fatalf("before the outage: %d mixes, want one with the 3 participants", mixer.count())
			}
			before := make([]int32, len(ps))
			for i, p := range ps {
				before[i] = p.changed.Load()
			}
			f.setDown(true)
			for _, i := range tt.leave {
				done := make(chan struct{})
				go func() {
					ps[i].seat.Leave(context.Background())
					close(done)
				}()
				select {
				case <-done:
				case <-time.After(2 * time.Second):
					t.Fatalf("participant %d's Leave hangs while the store is down", i)
				}
			}
			if n := mixer.mixes[0].in(); n != tt.wantIn {
				t.Errorf("%d in the mix after the leaves, want %d", n, tt.wantIn)
			}
			for i, p := range ps {
				gone := tt.ended || containsInt(tt.leave, i)
				if got := p.seat.State() == interpreter.SeatEnded; got != gone {
					t.Errorf("participant %d: state %v, want ended %v", i, p.seat.State(), gone)
				}
				if tt.ended && !containsInt(tt.leave, i) && p.changed.Load() == before[i] {
					t.Errorf("participant %d was not told the room ended", i)
				}
			}
			s.mu.Lock()
			rooms := len(s.rooms)
			s.mu.Unlock()
			if tt.ended != (rooms == 0) {
				t.Errorf("%d rooms kept, room ended %v", rooms, tt.ended)
			}

			// The store is back: whoever remains and a newcomer share a
			// mix.
			f.setDown(false)
			n := join(t, s, "CA9", false)
			enterAll([]joined{n})
			last := mixer.mixes[mixer.count()-1]
			if want := tt.wantIn + 1; tt.wantIn > 0 && last.in() != want {
				t.Errorf("after the store returned: %d in the mix, want %d", last.in(), want)
			}
		})
	}
}

func containsInt(list []int, x int) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

// TestJoinAfterStoreLostLiveRoom: the store comes back without the room
// (a Redis restarted empty) while its participants still talk; the next
// one to join enters their mix, not a room of its own, and the store
// holds them all again, in progress.
func TestJoinAfterStoreLostLiveRoom(t *testing.T) {
	tests := []struct {
		name    string
		started bool // the room had started before the loss
	}{
		{"started room", true},
		{"waiting room", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlaky(t)
			mixer := &fakeMixer{}
			s := New(f, mixer, Options{Node: "n1"})
			var ps []joined
			if tt.started {
				ps = append(ps, join(t, s, "CA0", false), join(t, s, "CA1", false))
			} else {
				var changed atomic.Int32
				seat, err := s.Join(context.Background(), "room", interpreter.Participant{CallSid: "CA0", Changed: func() { changed.Add(1) }})
				if err != nil {
					t.Fatal(err)
				}
				ps = append(ps, joined{seat, &changed})
			}
			enterAll(ps)
			oldSid := ps[0].seat.Sid()
			f.forget()
			ps = append(ps, join(t, s, "CA2", false))
			enterAll(ps)
			if mixer.count() != 1 {
				t.Fatalf("%d mixes, want the room's one", mixer.count())
			}
			if n := mixer.mixes[0].in(); n != len(ps) {
				t.Errorf("%d in the mix, want %d", n, len(ps))
			}
			c, err := f.Get(context.Background(), "room")
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Participants) != len(ps) || c.Status != store.ConferenceInProgress {
				t.Errorf("store after the rejoin: %d participants, %s; want %d, in-progress", len(c.Participants), c.Status, len(ps))
			}
			for i, p := range ps {
				if p.seat.Sid() != c.Sid || c.Sid == oldSid {
					t.Errorf("participant %d: ConferenceSid %s, want the store's new %s", i, p.seat.Sid(), c.Sid)
				}
			}
			for _, p := range ps {
				p.seat.Leave(context.Background())
			}
			if _, err := f.Get(context.Background(), "room"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the room is active after everyone left: %v", err)
			}
		})
	}
}
