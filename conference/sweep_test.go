package conference

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
)

func TestSweep(t *testing.T) {
	st := memory.New()
	ctx, now := context.Background(), time.Now()
	join := func(room, sid, node string) {
		t.Helper()
		if _, _, err := st.Conferences.Join(ctx, room, store.Participant{CallSid: sid, Node: node}, 0, now); err != nil {
			t.Fatal(err)
		}
	}
	join("gone", "CA1", "dead")
	join("gone", "CA2", "dead")
	join("mixed", "CA3", "dead")
	join("mixed", "CA4", "alive")
	s := New(st.Conferences, nil, Options{Node: "here", Alive: func(_ context.Context, n string) bool { return n != "dead" }})
	n, err := s.Sweep(ctx)
	if err != nil || n != 3 {
		t.Fatalf("Sweep = %d, %v; want the dead node's 3 participants removed", n, err)
	}
	if _, err := st.Conferences.Get(ctx, "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a room with only dead participants is still active: %v", err)
	}
	c, err := st.Conferences.Get(ctx, "mixed")
	if err != nil || len(c.Participants) != 1 || c.Participants[0].CallSid != "CA4" {
		t.Errorf("room mixed = %+v, %v; want CA4 alone", c, err)
	}
}
