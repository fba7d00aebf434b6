package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/texml/texml/store"
)

// TestCallIndex checks the index's moving front against a plain sorted
// slice, over inserts and removes at the back, the front and the middle.
func TestCallIndex(t *testing.T) {
	for _, tc := range []struct {
		name string
		// next returns the created time of the i-th insert.
		next   func(r *rand.Rand, i int) int64
		remove func(r *rand.Rand, n int) int // which of n keys to remove
	}{
		{"in order, oldest removed", func(_ *rand.Rand, i int) int64 { return int64(i) },
			func(_ *rand.Rand, _ int) int { return 0 }},
		{"in order, newest removed", func(_ *rand.Rand, i int) int64 { return int64(i) },
			func(_ *rand.Rand, n int) int { return n - 1 }},
		{"nearly in order, near the front removed", func(r *rand.Rand, i int) int64 { return int64(i - r.IntN(5)) },
			func(r *rand.Rand, n int) int { return r.IntN(min(n, 8)) }},
		{"random, with ties", func(r *rand.Rand, _ int) int64 { return int64(r.IntN(50)) },
			func(r *rand.Rand, n int) int { return r.IntN(n) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var x callIndex
			var want []callKey
			for i := range 3000 {
				if len(want) > 0 && r.IntN(3) == 0 {
					k := want[tc.remove(r, len(want))]
					x.remove(k)
					want = slices.DeleteFunc(want, func(w callKey) bool { return w == k })
				} else {
					k := callKey{created: tc.next(r, i), sid: fmt.Sprintf("CA%05d", i)}
					x.insert(k)
					want = append(want, k)
					slices.SortFunc(want, compareKeys)
				}
				if got := x.keys[x.head:]; !slices.Equal(got, want) {
					t.Fatalf("after step %d: index %v, want %v", i, got, want)
				}
				if x.len() != len(want) {
					t.Fatalf("after step %d: len %d, want %d", i, x.len(), len(want))
				}
			}
			x.remove(callKey{created: -1, sid: "CA-none"}) // absent: no change
			if x.len() != len(want) {
				t.Errorf("removing an absent key changed the length")
			}
		})
	}
}

// TestCallsPurge: once every record has expired, a List leaves nothing
// behind: no record, no account index, no heap entry.
func TestCallsPurge(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c := newCalls(func() time.Time { return now }, 0)
	for i := range 100 {
		r := store.CallRecord{Sid: fmt.Sprint("CA", i), AccountSid: fmt.Sprint("AC", i%3),
			Status: store.CallRinging, Created: now.Add(time.Duration(i) * time.Second)}
		if err := c.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
		// Half of them end, which gives them a second expiry.
		if i%2 == 0 {
			r.Status, r.End = store.CallCompleted, r.Created.Add(time.Minute)
			if err := c.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(c.expiries) != 150 {
		t.Errorf("%d heap entries, want 150 (one per Put that changed an expiry)", len(c.expiries))
	}
	now = now.Add(store.CallMaxAge + store.Retention + time.Hour)
	if list, err := c.List(ctx, "AC0", 0, 0); err != nil || len(list) != 0 {
		t.Fatalf("List after every expiry = %d records, %v", len(list), err)
	}
	if len(c.bySid) != 0 || len(c.byAccount) != 0 || len(c.expiries) != 0 {
		t.Errorf("after the purge: %d records, %d indexes, %d heap entries; want none",
			len(c.bySid), len(c.byAccount), len(c.expiries))
	}
}

// Beyond WithMaxCallRecords the calls that ended first are dropped.
func TestMaxCallRecords(t *testing.T) {
	s := New(WithMaxCallRecords(3))
	ctx := context.Background()
	t0 := time.Now()
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Second)
		r := store.CallRecord{Sid: fmt.Sprintf("CA%d", i), AccountSid: "AC1", Status: store.CallCompleted, Created: at, Start: at, End: at}
		if i == 4 {
			r.Status, r.End = store.CallInProgress, time.Time{} // still running: kept
		}
		if err := s.Calls.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.Calls.List(ctx, "AC1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		got = append(got, r.Sid)
	}
	if fmt.Sprint(got) != "[CA4 CA3 CA2]" {
		t.Errorf("kept %v, want the newest three", got)
	}
}
