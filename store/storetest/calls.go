package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/store"
)

// The call records' times are relative to the real clock, not to t0:
// the Redis store's retention is a key expiry, which Redis times by its
// own clock, and a record dated 2025 would have expired long ago.

// callRecord is a live record of account created at created.
func callRecord(sid, account string, created time.Time) store.CallRecord {
	return store.CallRecord{
		Sid: sid, AccountSid: account, From: "+15550100", To: "+15550199",
		Direction: "inbound", Status: store.CallRinging, Node: "node-a",
		Created: created, Updated: created, Start: created,
	}
}

// sameCall compares records with time.Equal for the times: a store may
// keep an instant in another Location.
func sameCall(a, b store.CallRecord) bool {
	ta := []time.Time{a.Created, a.Updated, a.Start, a.Answered, a.End}
	tb := []time.Time{b.Created, b.Updated, b.Start, b.Answered, b.End}
	for i := range ta {
		if !ta[i].Equal(tb[i]) {
			return false
		}
	}
	a.Created, a.Updated, a.Start, a.Answered, a.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	b.Created, b.Updated, b.Start, b.Answered, b.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// callSidsOf lists the Sids of records, in order.
func callSidsOf(list []store.CallRecord) string {
	out := make([]string, len(list))
	for i, r := range list {
		out[i] = r.Sid
	}
	return fmt.Sprint(out)
}

func testCalls(t *testing.T, open opener) {
	// base is a whole second: the records' Created differ by seconds
	// and compare the same in either store.
	base := time.Now().Truncate(time.Second)

	t.Run("PutGet", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		_, err := s.Calls.Get(ctx, "CA404")
		wantErr(t, err, store.ErrNotFound, "Get of an unknown call")
		if err != nil && !strings.Contains(err.Error(), "CA404") {
			t.Errorf("Get of an unknown call: error %q does not name the call", err)
		}
		// Every field set, the times with nanoseconds and in a Location
		// of their own.
		zone := time.FixedZone("X", -5*3600)
		created := base.Add(-90*time.Second + 123456789).In(zone)
		r := store.CallRecord{
			Sid: "CA1", AccountSid: "AC1", ParentCallSid: "CA0",
			From: "+15550100", To: "sip:bob@example.com;transport=tcp", Direction: "outbound-dial",
			Status: store.CallInProgress, AnsweredBy: "human", CallerName: `Zoë "Z" <z>`,
			ForwardedFrom: "+15550111", Node: "node-a",
			Created: created, Updated: created.Add(3 * time.Second), Start: created.Add(time.Second),
			Answered: created.Add(2*time.Second + 1),
		}
		check(t, s.Calls.Put(ctx, r), "Put")
		got, err := s.Calls.Get(ctx, "CA1")
		check(t, err, "Get")
		if !sameCall(got, r) {
			t.Errorf("Get = %+v\nwant  %+v", got, r)
		}
		// A Put replaces the record whole.
		done := r
		done.Status, done.AnsweredBy, done.Node = store.CallCompleted, "", ""
		done.End, done.Updated = created.Add(time.Minute), created.Add(time.Minute)
		check(t, s.Calls.Put(ctx, done), "Put of the ended call")
		got, err = s.Calls.Get(ctx, "CA1")
		check(t, err, "Get after the second Put")
		if !sameCall(got, done) {
			t.Errorf("Get after the second Put = %+v\nwant  %+v", got, done)
		}
		list, err := s.Calls.List(ctx, "AC1", 0, 0)
		check(t, err, "List")
		if len(list) != 1 || !sameCall(list[0], done) {
			t.Errorf("List after two Puts = %+v, want the second record once", list)
		}
	})

	t.Run("PutRefused", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		for name, r := range map[string]store.CallRecord{
			"no Sid":     callRecord("", "AC1", base),
			"no Created": callRecord("CA1", "AC1", time.Time{}),
		} {
			if err := s.Calls.Put(ctx, r); err == nil {
				t.Errorf("Put with %s: no error", name)
			}
		}
		if list, err := s.Calls.List(ctx, "AC1", 0, 0); err != nil || len(list) != 0 {
			t.Errorf("List after refused Puts = %v, %v; want nothing", callSidsOf(list), err)
		}
	})

	t.Run("List", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		at := func(seconds int) time.Time { return base.Add(time.Duration(seconds) * time.Second) }
		// Put out of order, across two accounts, with three calls
		// created in one microsecond.
		for _, r := range []store.CallRecord{
			callRecord("CA3", "AC1", at(-8)),
			callRecord("CB1", "AC2", at(-9)),
			callRecord("CA1", "AC1", at(-10)),
			callRecord("CA5", "AC1", at(-6)),
			callRecord("CA4c", "AC1", at(-7)),
			callRecord("CA2", "AC1", at(-9)),
			callRecord("CB2", "AC2", at(-5)),
			callRecord("CA4a", "AC1", at(-7)),
			callRecord("CA4b", "AC1", at(-7)),
		} {
			check(t, s.Calls.Put(ctx, r), "Put "+r.Sid)
		}
		for _, tc := range []struct {
			account       string
			offset, limit int
			want          string
		}{
			{"AC1", 0, 0, "[CA5 CA4c CA4b CA4a CA3 CA2 CA1]"},
			{"AC1", 0, -1, "[CA5 CA4c CA4b CA4a CA3 CA2 CA1]"},
			{"AC1", 0, 3, "[CA5 CA4c CA4b]"},
			{"AC1", 2, 3, "[CA4b CA4a CA3]"},
			{"AC1", 3, 0, "[CA4a CA3 CA2 CA1]"},
			{"AC1", 5, 10, "[CA2 CA1]"},
			{"AC1", 6, 1, "[CA1]"},
			{"AC1", 7, 5, "[]"},
			{"AC1", 100, 0, "[]"},
			{"AC2", 0, 0, "[CB2 CB1]"},
			{"AC2", 1, 51, "[CB1]"},
			{"AC3", 0, 0, "[]"},
		} {
			list, err := s.Calls.List(ctx, tc.account, tc.offset, tc.limit)
			check(t, err, "List")
			if got := callSidsOf(list); got != tc.want {
				t.Errorf("List(%s, %d, %d) = %s, want %s", tc.account, tc.offset, tc.limit, got, tc.want)
			}
			for _, r := range list {
				if r.AccountSid != tc.account || r.Status != store.CallRinging || r.Node != "node-a" {
					t.Errorf("List(%s) returned %+v", tc.account, r)
				}
			}
		}
	})

	t.Run("Delete", func(t *testing.T) {
		ctx, s := testContext(t), open(t)
		for i, sid := range []string{"CA1", "CA2", "CA3"} {
			check(t, s.Calls.Put(ctx, callRecord(sid, "AC1", base.Add(time.Duration(i)*time.Second))), "Put")
		}
		check(t, s.Calls.Delete(ctx, "CA2"), "Delete")
		_, err := s.Calls.Get(ctx, "CA2")
		wantErr(t, err, store.ErrNotFound, "Get after Delete")
		check(t, s.Calls.Delete(ctx, "CA2"), "Delete of a deleted call")
		check(t, s.Calls.Delete(ctx, "CA404"), "Delete of an unknown call")
		list, err := s.Calls.List(ctx, "AC1", 0, 0)
		check(t, err, "List")
		if got := callSidsOf(list); got != "[CA3 CA1]" {
			t.Errorf("List after Delete = %s, want [CA3 CA1]", got)
		}
		if list, _ := s.Calls.List(ctx, "AC1", 1, 1); callSidsOf(list) != "[CA1]" {
			t.Errorf("List(1, 1) after Delete = %s, want [CA1]: the deleted call still takes a place", callSidsOf(list))
		}
		if _, err := s.Calls.Get(ctx, "CA1"); err != nil {
			t.Errorf("Get of another call after Delete: %v", err)
		}
	})

	t.Run("Retention", func(t *testing.T) { testCallRetention(t, open) })
	t.Run("Concurrent", func(t *testing.T) { testCallsConcurrent(t, open) })
}

// testCallRetention dates the records' End (and Created) around the
// retention instead of waiting for it: Put of a record past it stores
// nothing, and one before it is kept. The store's clock moving a record
// past its time is each store's own test (memory's clock, Redis's key
// expiry times).
func testCallRetention(t *testing.T, open opener) {
	ctx, s := testContext(t), open(t)
	now := time.Now()
	ended := func(sid string, end time.Time) store.CallRecord {
		r := callRecord(sid, "AC1", end.Add(-time.Hour))
		r.Status, r.Answered, r.End, r.Updated = store.CallCompleted, r.Created.Add(time.Second), end, end
		return r
	}
	live := func(sid string, created time.Time) store.CallRecord {
		r := callRecord(sid, "AC1", created)
		r.Status = store.CallInProgress
		return r
	}
	noEnd := ended("CAnoend", now)
	noEnd.End = time.Time{}
	for _, tc := range []struct {
		r    store.CallRecord
		kept bool
	}{
		{ended("CAkept", now.Add(-store.Retention+time.Minute)), true},
		{ended("CAgone", now.Add(-store.Retention-time.Minute)), false},
		{ended("CAbusy", now.Add(-store.Retention-time.Minute)), false},
		// An ended call without End is kept from the Put.
		{noEnd, true},
		// A call never ended goes CallMaxAge after Created, and then
		// Retention.
		{live("CAlive", now.Add(-store.CallMaxAge-store.Retention+time.Minute)), true},
		{live("CAstale", now.Add(-store.CallMaxAge-store.Retention-time.Minute)), false},
	} {
		if tc.r.Sid == "CAbusy" {
			tc.r.Status, tc.r.Answered = store.CallBusy, time.Time{}
		}
		check(t, s.Calls.Put(ctx, tc.r), "Put "+tc.r.Sid)
		_, err := s.Calls.Get(ctx, tc.r.Sid)
		if tc.kept && err != nil {
			t.Errorf("Get(%s) within retention: %v", tc.r.Sid, err)
		}
		if !tc.kept && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%s) past retention: error %v, want ErrNotFound", tc.r.Sid, err)
		}
	}
	// A call listed while live leaves the listing when a Put ends it
	// long enough ago.
	late := live("CAlate", now.Add(-store.Retention-2*time.Hour))
	check(t, s.Calls.Put(ctx, late), "Put of the live call")
	list, err := s.Calls.List(ctx, "AC1", 0, 0)
	check(t, err, "List")
	if got := callSidsOf(list); got != "[CAnoend CAkept CAlate CAlive]" {
		t.Errorf("List = %s, want [CAnoend CAkept CAlate CAlive]", got)
	}
	late.Status, late.End = store.CallCompleted, late.Created.Add(time.Hour)
	check(t, s.Calls.Put(ctx, late), "Put of the call ended past retention")
	_, err = s.Calls.Get(ctx, "CAlate")
	wantErr(t, err, store.ErrNotFound, "Get of a call ended past retention")
	list, err = s.Calls.List(ctx, "AC1", 0, 0)
	check(t, err, "List")
	if got := callSidsOf(list); got != "[CAnoend CAkept CAlive]" {
		t.Errorf("List after the late end = %s, want [CAnoend CAkept CAlive]", got)
	}
	if list, _ := s.Calls.List(ctx, "AC1", 2, 1); callSidsOf(list) != "[CAlive]" {
		t.Errorf("List(2, 1) = %s, want [CAlive]: an expired call still takes a place", callSidsOf(list))
	}
}

// testCallsConcurrent: nodes put their calls into one account at once;
// the listing has each once, in order.
func testCallsConcurrent(t *testing.T, open opener) {
	ctx, s := testContext(t), open(t)
	const writers, each = 8, 25
	base := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				n := w*each + i
				r := callRecord(fmt.Sprintf("CA%03d", n), "AC1", base.Add(time.Duration(n)*time.Millisecond))
				for _, status := range []string{store.CallRinging, store.CallInProgress} {
					r.Status = status
					if err := s.Calls.Put(ctx, r); err != nil {
						t.Errorf("Put: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	list, err := s.Calls.List(ctx, "AC1", 0, 0)
	check(t, err, "List")
	if len(list) != writers*each {
		t.Fatalf("List has %d calls, want %d", len(list), writers*each)
	}
	for i, r := range list {
		if want := fmt.Sprintf("CA%03d", writers*each-1-i); r.Sid != want || r.Status != store.CallInProgress {
			t.Fatalf("List[%d] = %s %s, want %s in-progress", i, r.Sid, r.Status, want)
		}
	}
}
