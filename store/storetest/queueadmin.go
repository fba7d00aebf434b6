package storetest

import (
	"errors"
	"testing"

	"github.com/texml/texml/store"
)

// testQueueAdmin: queues made, changed, renamed and deleted as the REST
// API's Queue resource does it, and the default size limit.
func testQueueAdmin(t *testing.T, open opener) {
	ctx, s := testContext(t), open(t)
	q := s.Queues

	// A queue a Push creates has the default limit.
	_, err := q.Push(ctx, "implicit", member("CA1"), 0)
	check(t, err, "Push")
	info, err := q.Info(ctx, "implicit")
	check(t, err, "Info")
	if info.MaxSize != store.DefaultQueueSize {
		t.Errorf("a queue made by Push: MaxSize %d, want %d", info.MaxSize, store.DefaultQueueSize)
	}

	made, err := q.Create(ctx, "support", 2)
	check(t, err, "Create")
	if made.Name != "support" || made.MaxSize != 2 || made.Size != 0 || len(made.Sid) != 34 || made.Created.IsZero() {
		t.Errorf("Create = %+v", made)
	}
	_, err = q.Create(ctx, "support", 5)
	wantErr(t, err, store.ErrExists, "Create of a taken name")
	if d, err := q.Create(ctx, "defaulted", 0); err != nil || d.MaxSize != store.DefaultQueueSize {
		t.Errorf("Create with no limit = %+v, %v; want MaxSize %d", d, err, store.DefaultQueueSize)
	}

	// The created limit holds for Pushes that give none.
	for i, want := range []error{nil, nil, store.ErrQueueFull} {
		_, err := q.Push(ctx, "support", member("CA"+string(rune('a'+i))), 0)
		if !errors.Is(err, want) {
			t.Errorf("Push %d into a queue of 2: %v, want %v", i+1, err, want)
		}
	}
	grown, err := q.SetMax(ctx, "support", 3)
	check(t, err, "SetMax")
	if grown.MaxSize != 3 || grown.Size != 2 || grown.Sid != made.Sid {
		t.Errorf("SetMax = %+v", grown)
	}
	_, err = q.Push(ctx, "support", member("CAc"), 0)
	check(t, err, "Push after SetMax")
	_, err = q.SetMax(ctx, "nowhere", 3)
	wantErr(t, err, store.ErrNotFound, "SetMax of an unknown queue")

	// Only an empty queue is renamed or deleted.
	_, err = q.Rename(ctx, "support", "help")
	wantErr(t, err, store.ErrNotEmpty, "Rename of a queue with members")
	wantErr(t, q.Delete(ctx, "support"), store.ErrNotEmpty, "Delete of a queue with members")
	for range 3 {
		_, err := q.Pop(ctx, "support")
		check(t, err, "Pop")
	}
	_, err = q.Rename(ctx, "support", "defaulted")
	wantErr(t, err, store.ErrExists, "Rename to a taken name")
	renamed, err := q.Rename(ctx, "support", "help")
	check(t, err, "Rename")
	if renamed.Name != "help" || renamed.Sid != made.Sid || renamed.MaxSize != 3 || !renamed.Created.Equal(made.Created) {
		t.Errorf("Rename = %+v, want help with %s's Sid, Created and MaxSize 3", renamed, made.Sid)
	}
	_, err = q.Info(ctx, "support")
	wantErr(t, err, store.ErrNotFound, "Info of the old name")
	_, err = q.Rename(ctx, "support", "x")
	wantErr(t, err, store.ErrNotFound, "Rename of an unknown queue")
	check(t, q.Delete(ctx, "help"), "Delete")
	wantErr(t, q.Delete(ctx, "help"), store.ErrNotFound, "Delete again")
	list, err := q.List(ctx)
	check(t, err, "List")
	for _, i := range list {
		if i.Name == "help" || i.Name == "support" {
			t.Errorf("List shows %s after its delete", i.Name)
		}
	}
}
