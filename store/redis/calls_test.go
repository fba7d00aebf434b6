package redisstore

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/texml/texml/internal/redistest"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/storetest"
)

// TestCallKeys reads what a Put leaves in Redis: the record's expiry
// time (Redis's own clock then drops it, which no test waits for) and
// the two index scores, before and after the call ends.
func TestCallKeys(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	d, err := open(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := d.store()
	created := time.Now().Add(-time.Minute).Round(0)
	r := store.CallRecord{Sid: "CA1", AccountSid: "AC1", Status: store.CallInProgress, Created: created}
	keys := accountKeys("AC1")
	for _, step := range []struct {
		status string
		end    time.Time
		expiry time.Time
	}{
		{store.CallInProgress, time.Time{}, created.Add(store.CallMaxAge + store.Retention)},
		{store.CallCompleted, created.Add(30 * time.Second), created.Add(30*time.Second + store.Retention)},
	} {
		r.Status, r.End = step.status, step.end
		if err := s.Calls.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
		at, err := d.rdb.PExpireTime(ctx, callKey("CA1")).Result()
		if err != nil || at != time.Duration(step.expiry.UnixMilli())*time.Millisecond {
			t.Errorf("%s: record expires at %v (%v), want %v", step.status, at, err, step.expiry.UnixMilli())
		}
		for _, k := range keys {
			if at, err := d.rdb.PExpireTime(ctx, k).Result(); err != nil || at != time.Duration(step.expiry.UnixMilli())*time.Millisecond {
				t.Errorf("%s: %s expires at %v (%v), want with its last record", step.status, k, at, err)
			}
		}
		if got, err := d.rdb.ZScore(ctx, keys[0], "CA1").Result(); err != nil || int64(got) != created.UnixMicro() {
			t.Errorf("%s: index score %v (%v), want Created %d µs", step.status, int64(got), err, created.UnixMicro())
		}
		if got, err := d.rdb.ZScore(ctx, keys[1], "CA1").Result(); err != nil || int64(got) != step.expiry.UnixMilli() {
			t.Errorf("%s: expires score %v (%v), want %d ms", step.status, int64(got), err, step.expiry.UnixMilli())
		}
	}
	if err := s.Calls.Delete(ctx, "CA1"); err != nil {
		t.Fatal(err)
	}
	if n, err := d.rdb.Exists(ctx, callKey("CA1"), keys[0], keys[1]).Result(); err != nil || n != 0 {
		t.Errorf("after Delete, %d of the call's keys are left (%v)", n, err)
	}
}

// TestCallsListRefills drops records behind the index's back, as Redis
// does when its clock runs ahead of the node's: List skips them, takes
// them out of the index, and still returns a full page.
func TestCallsListRefills(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	d, err := open(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := d.store()
	base := time.Now()
	var want []string // newest first
	for i := range 60 {
		sid := fmt.Sprintf("CA%02d", i)
		if err := s.Calls.Put(ctx, store.CallRecord{Sid: sid, AccountSid: "AC1", Created: base.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
		want = append([]string{sid}, want...)
	}
	for _, i := range []int{59, 50, 30, 12, 11} {
		sid := fmt.Sprintf("CA%02d", i)
		if err := d.rdb.Del(ctx, callKey(sid)).Err(); err != nil {
			t.Fatal(err)
		}
		want = slices.DeleteFunc(want, func(s string) bool { return s == sid })
	}
	list, err := s.Calls.List(ctx, "AC1", 0, 51)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(list))
	for i, r := range list {
		got[i] = r.Sid
	}
	if !slices.Equal(got, want[:51]) {
		t.Errorf("List = %v\nwant %v", got, want[:51])
	}
	if n, err := d.rdb.ZCard(ctx, accountKeys("AC1")[0]).Result(); err != nil || n != 55 {
		t.Errorf("index holds %d entries (%v), want 55", n, err)
	}
}

func BenchmarkCallsList(b *testing.B) {
	srv := redistest.Start(b)
	s, err := Open(b.Context(), srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchCallsList(b, s)
}
