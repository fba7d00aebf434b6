package calls

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// TestStreamChanges checks the Stream resource's way through the
// service: a change for a call of another node goes over the bus with
// the sid chosen here, a change for an ended call or of no stream is
// refused, and an unknown stream cannot be stopped.
func TestStreamChanges(t *testing.T) {
	a, b, bus, p, rec := twoNodes(t)

	// From node b: over the bus, answered at once with the sid.
	res, err := b.Stream(context.Background(), "ACone", rec.Sid, StreamChange{Start: &interpreter.StreamRequest{URL: "wss://app.test/s", Name: "n1"}})
	if err != nil || !res.Remote || !strings.HasPrefix(res.Sid, "MZ") || res.Name != "n1" {
		t.Fatalf("remote start: %+v %v", res, err)
	}
	bus.mu.Lock()
	sent := bus.sent
	bus.mu.Unlock()
	var ch Change
	if len(sent) != 1 || sent[0].Kind != UpdateKind || json.Unmarshal(sent[0].Body, &ch) != nil ||
		ch.Stream == nil || ch.Stream.Start == nil || ch.Stream.Start.Sid != res.Sid || ch.Update.URL != "" {
		t.Fatalf("sent %+v", sent)
	}

	for _, tc := range []struct {
		name string
		sc   StreamChange
		code int // 0: any error
	}{
		{"neither start nor stop", StreamChange{}, 0},
		{"both", StreamChange{Start: &interpreter.StreamRequest{URL: "wss://app.test/s"}, Stop: "x"}, 0},
		{"stop an unknown stream", StreamChange{Stop: "nope"}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Stream(context.Background(), "ACone", rec.Sid, tc.sc)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.code == -1 {
				if _, ok := IsRefusal(err); !ok {
					t.Errorf("%v, want a refusal", err)
				}
			}
		})
	}

	// Once the call has ended: 21220.
	if _, err := a.Update(context.Background(), "ACone", rec.Sid, Change{Status: store.CallCanceled}); err != nil {
		t.Fatal(err)
	}
	<-p.ended
	waitRecord(t, a.o.Store, rec.Sid)
	_, err = a.Stream(context.Background(), "ACone", rec.Sid, StreamChange{Start: &interpreter.StreamRequest{URL: "wss://app.test/s"}})
	if e, ok := IsRefusal(err); !ok || e.Code != CodeNotInProgress {
		t.Errorf("stream on an ended call: %v, want 21220", err)
	}
}
