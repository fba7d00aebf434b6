package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/store"
)

// t0 is the conferences' clock: Join and the others take the time from
// their caller, and the suite checks that it is the one kept.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(seconds int) time.Time { return t0.Add(time.Duration(seconds) * time.Second) }

func participant(sid, node string) store.Participant {
	return store.Participant{CallSid: sid, Node: node, Joined: t0}
}

// callSids lists the CallSids of a conference's participants.
func callSids(c store.Conference) string {
	out := make([]string, len(c.Participants))
	for i, p := range c.Participants {
		out[i] = p.CallSid
	}
	return fmt.Sprint(out)
}

// sameParticipant compares participants with time.Equal for Joined: a
// store may keep the instant in another location.
func sameParticipant(a, b store.Participant) bool {
	ja, jb := a.Joined, b.Joined
	a.Joined, b.Joined = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b) && ja.Equal(jb)
}

func testConferences(t *testing.T, open opener) {
	t.Run("JoinCreates", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		_, err := s.Conferences.Get(ctx, "room")
		wantErr(t, err, store.ErrNotFound, "Get of an unknown conference")
		first := store.Participant{
			CallSid: "CA1", Node: "node-a", Label: "host", Muted: true, Hold: true,
			Coaching: true, CallSidToCoach: "CA2", StartOnEnter: true, EndOnExit: true, Joined: t0,
		}
		c, created, err := s.Conferences.Join(ctx, "room", first, 0, at(1))
		check(t, err, "Join")
		if !created || !conferenceSid.MatchString(c.Sid) || c.Name != "room" || c.Home != "node-a" ||
			c.Status != store.ConferenceInit || !c.Created.Equal(at(1)) || !c.Updated.Equal(at(1)) {
			t.Errorf("first Join = %+v, created %v; want a new init room homed on node-a at t+1", c, created)
		}
		if len(c.Participants) != 1 || !sameParticipant(c.Participants[0], first) {
			t.Errorf("Participants = %+v, want %+v", c.Participants, first)
		}
		c2, created, err := s.Conferences.Join(ctx, "room", participant("CA2", "node-b"), 0, at(2))
		check(t, err, "Join")
		if created || c2.Sid != c.Sid || c2.Home != "node-a" || !c2.Created.Equal(at(1)) || !c2.Updated.Equal(at(2)) {
			t.Errorf("second Join = %+v, created %v; want the same room, still homed on node-a", c2, created)
		}
		if got := callSids(c2); got != "[CA1 CA2]" {
			t.Errorf("Participants = %s, want [CA1 CA2] in order of joining", got)
		}
		got, err := s.Conferences.Get(ctx, "room")
		check(t, err, "Get")
		if got.Sid != c.Sid || callSids(got) != "[CA1 CA2]" || !sameParticipant(got.Participants[0], first) {
			t.Errorf("Get = %+v", got)
		}
		other, created, err := s.Conferences.Join(ctx, "other room", participant("CA3", "node-b"), 0, at(3))
		check(t, err, "Join")
		if !created || other.Sid == c.Sid || other.Home != "node-b" {
			t.Errorf("Join of another room = %+v, created %v", other, created)
		}
	})

	t.Run("JoinRefused", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		for _, tc := range []struct {
			sid     string
			max     int
			wantErr error
		}{
			{"CA1", 2, nil},
			{"CA1", 2, store.ErrExists},
			{"CA2", 2, nil},
			{"CA3", 2, store.ErrConferenceFull},
			{"CA1", 2, store.ErrExists},
			{"CA3", 0, nil}, // no limit given
			{"CA4", 3, store.ErrConferenceFull},
		} {
			_, _, err := s.Conferences.Join(ctx, "room", participant(tc.sid, "node-a"), tc.max, at(1))
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Join(%s, max %d): error %v, want %v", tc.sid, tc.max, err, tc.wantErr)
			}
		}
		c, err := s.Conferences.Get(ctx, "room")
		check(t, err, "Get")
		if got := callSids(c); got != "[CA1 CA2 CA3]" {
			t.Errorf("Participants = %s: a refused Join changed the room", got)
		}
	})

	t.Run("LeaveUpdateStart", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		for i, sid := range []string{"CA1", "CA2", "CA3"} {
			_, _, err := s.Conferences.Join(ctx, "room", participant(sid, "node-a"), 0, at(i))
			check(t, err, "Join")
		}
		c, err := s.Conferences.Leave(ctx, "room", "CA2", at(5))
		check(t, err, "Leave")
		if callSids(c) != "[CA1 CA3]" || !c.Updated.Equal(at(5)) {
			t.Errorf("Leave = %+v, want CA1 and CA3 updated at t+5", c)
		}
		_, err = s.Conferences.Leave(ctx, "room", "CA2", at(6))
		wantErr(t, err, store.ErrNotFound, "Leave of a call that left")
		_, err = s.Conferences.Leave(ctx, "no room", "CA1", at(6))
		wantErr(t, err, store.ErrNotFound, "Leave of an unknown room")

		muted := participant("CA3", "node-a")
		muted.Muted, muted.Label = true, "coach"
		check(t, s.Conferences.Update(ctx, "room", muted, at(7)), "Update")
		c, _ = s.Conferences.Get(ctx, "room")
		if len(c.Participants) != 2 || !sameParticipant(c.Participants[1], muted) || !c.Updated.Equal(at(7)) {
			t.Errorf("after Update: %+v", c)
		}
		err = s.Conferences.Update(ctx, "room", participant("CA2", "node-a"), at(8))
		wantErr(t, err, store.ErrNotFound, "Update of a call that left")
		err = s.Conferences.Update(ctx, "no room", muted, at(8))
		wantErr(t, err, store.ErrNotFound, "Update in an unknown room")

		check(t, s.Conferences.Start(ctx, "room", at(9)), "Start")
		c, _ = s.Conferences.Get(ctx, "room")
		if c.Status != store.ConferenceInProgress || !c.Updated.Equal(at(9)) {
			t.Errorf("after Start: status %q updated %v", c.Status, c.Updated)
		}
		check(t, s.Conferences.Start(ctx, "room", at(10)), "second Start")
		wantErr(t, s.Conferences.Start(ctx, "no room", at(10)), store.ErrNotFound, "Start of an unknown room")

		// The store makes no decisions: a room its last participant
		// left is still there until End.
		for _, sid := range []string{"CA1", "CA3"} {
			_, err := s.Conferences.Leave(ctx, "room", sid, at(11))
			check(t, err, "Leave")
		}
		c, err = s.Conferences.Get(ctx, "room")
		check(t, err, "Get of an empty room")
		if len(c.Participants) != 0 || c.Status != store.ConferenceInProgress {
			t.Errorf("empty room = %+v", c)
		}
	})

	t.Run("End", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		_, err := s.Conferences.End(ctx, "room", "x", "", at(0))
		wantErr(t, err, store.ErrNotFound, "End of an unknown room")
		first, _, err := s.Conferences.Join(ctx, "room", participant("CA1", "node-a"), 0, at(1))
		check(t, err, "Join")
		_, _, err = s.Conferences.Join(ctx, "room", participant("CA2", "node-b"), 0, at(2))
		check(t, err, "Join")
		check(t, s.Conferences.Start(ctx, "room", at(3)), "Start")
		const reason = "Participant CA2 with endConferenceOnExit left the conference"
		ended, err := s.Conferences.End(ctx, "room", reason, "CA2", at(4))
		check(t, err, "End")
		if ended.Sid != first.Sid || ended.Status != store.ConferenceCompleted || ended.Reason != reason ||
			ended.EndedBy != "CA2" || !ended.Updated.Equal(at(4)) || callSids(ended) != "[CA1 CA2]" {
			t.Errorf("End = %+v", ended)
		}
		_, err = s.Conferences.Get(ctx, "room")
		wantErr(t, err, store.ErrNotFound, "Get of an ended room")
		_, err = s.Conferences.End(ctx, "room", reason, "CA2", at(5))
		wantErr(t, err, store.ErrNotFound, "second End")
		// The next join of the name creates a new conference; CA1 may
		// join it, being in the completed one only.
		next, created, err := s.Conferences.Join(ctx, "room", participant("CA1", "node-b"), 0, at(5))
		check(t, err, "Join after End")
		if !created || next.Home != "node-b" || next.Sid == first.Sid || !conferenceSid.MatchString(next.Sid) || next.Status != store.ConferenceInit ||
			callSids(next) != "[CA1]" || next.Reason != "" {
			t.Errorf("the room after End = %+v, created %v; want a new init conference", next, created)
		}
		if got, err := s.Conferences.Get(ctx, "room"); err != nil || got.Sid != next.Sid {
			t.Errorf("Get after End and Join = %+v, %v", got, err)
		}
		old, err := s.Conferences.BySid(ctx, first.Sid)
		check(t, err, "BySid of the completed room")
		if old.Status != store.ConferenceCompleted || old.Reason != reason || old.EndedBy != "CA2" ||
			old.Name != "room" || old.Home != "node-a" || callSids(old) != "[CA1 CA2]" || !old.Created.Equal(at(1)) {
			t.Errorf("BySid(completed) = %+v", old)
		}
		done, err := s.Conferences.Completed(ctx)
		check(t, err, "Completed")
		if len(done) != 1 || done[0].Sid != first.Sid || done[0].Status != store.ConferenceCompleted {
			t.Errorf("Completed = %+v, want the ended room alone", done)
		}
		cur, err := s.Conferences.BySid(ctx, next.Sid)
		check(t, err, "BySid of the active room")
		if cur.Status != store.ConferenceInit || callSids(cur) != "[CA1]" {
			t.Errorf("BySid(active) = %+v", cur)
		}
		_, err = s.Conferences.BySid(ctx, "CF00000000000000000000000000000000")
		wantErr(t, err, store.ErrNotFound, "BySid of an unknown Sid")
	})

	t.Run("List", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		list, err := s.Conferences.List(ctx)
		check(t, err, "List")
		if len(list) != 0 {
			t.Fatalf("List of an empty store = %+v", list)
		}
		for i, name := range []string{"b", "a {x}*", "c"} {
			_, _, err := s.Conferences.Join(ctx, name, participant("CA"+name, "node-a"), 0, at(i))
			check(t, err, "Join")
		}
		_, err = s.Conferences.End(ctx, "c", "done", "", at(9))
		check(t, err, "End")
		list, err = s.Conferences.List(ctx)
		check(t, err, "List")
		var names []string
		for _, c := range list {
			names = append(names, c.Name)
		}
		if fmt.Sprint(names) != "[b a {x}*]" || callSids(list[1]) != "[CAa {x}*]" {
			t.Errorf("List = %q, want the active rooms [b, a {x}*], oldest first", names)
		}
	})
}

func testConferencesConcurrent(t *testing.T, open opener) {
	// Callers on several nodes join one room with a limit at once: one of
	// them creates it, and it never holds one too many.
	ctx, s := testContext(t), open(t)
	const callers, max = 30, 5
	var mu sync.Mutex
	var joined, full, created int
	sids := map[string]bool{}
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			c, made, err := s.Conferences.Join(ctx, "room", participant(fmt.Sprint("CA", i), fmt.Sprint("node-", i)), max, at(i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				joined++
				sids[c.Sid] = true
				if made {
					created++
				}
				if len(c.Participants) > max {
					t.Errorf("Join returned %d participants, max %d", len(c.Participants), max)
				}
			case errors.Is(err, store.ErrConferenceFull):
				full++
			default:
				t.Errorf("Join: %v", err)
			}
		})
	}
	wg.Wait()
	if joined != max || full != callers-max || created != 1 || len(sids) != 1 {
		t.Errorf("%d joined, %d refused, %d created, %d Sids; want %d, %d, 1, 1", joined, full, created, len(sids), max, callers-max)
	}
	c, err := s.Conferences.Get(ctx, "room")
	check(t, err, "Get")
	if len(c.Participants) != max || c.Home != c.Participants[0].Node {
		t.Errorf("room = %+v, want %d participants homed on the first joiner's node", c, max)
	}
}

// testConferenceCallback: the creator's RoomCallback is the room's
// Callback; a later participant's is not kept.
func testConferenceCallback(t *testing.T, open opener) {
	ctx, s := testContext(t), open(t)
	now := time.Now()
	_, created, err := s.Conferences.Join(ctx, "cb", store.Participant{CallSid: "CA1", Node: "a", RoomCallback: "first"}, 0, now)
	check(t, err, "Join")
	if !created {
		t.Fatal("the first Join did not create the room")
	}
	c, _, err := s.Conferences.Join(ctx, "cb", store.Participant{CallSid: "CA2", Node: "b", RoomCallback: "second"}, 0, now)
	check(t, err, "Join")
	if c.Callback != "first" {
		t.Errorf("Callback %q after a second join, want the creator's", c.Callback)
	}
	got, err := s.Conferences.Get(ctx, "cb")
	check(t, err, "Get")
	if got.Callback != "first" {
		t.Errorf("Get: Callback %q, want the creator's", got.Callback)
	}
	for _, p := range got.Participants {
		if p.RoomCallback != "" {
			t.Errorf("participant %s carries a RoomCallback %q; the store keeps it on the room only", p.CallSid, p.RoomCallback)
		}
	}
}
