package calls

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// TestSiprecChanges checks the Siprec resource's way through the
// service (https://www.twilio.com/docs/voice/api/siprec): a change for a
// call of another node goes over the bus with the sid chosen here, a
// change for an ended call or of no session is refused, and an unknown
// session cannot be stopped.
func TestSiprecChanges(t *testing.T) {
	a, b, bus, p, rec := twoNodes(t)

	// From node b: over the bus, answered at once with the sid.
	res, err := b.Siprec(context.Background(), "ACone", rec.Sid, SiprecChange{Start: &interpreter.SiprecRequest{ConnectorName: "srs", Name: "r1"}})
	if err != nil || !res.Remote || !strings.HasPrefix(res.Sid, "SR") || res.Name != "r1" {
		t.Fatalf("remote start: %+v %v", res, err)
	}
	bus.mu.Lock()
	sent := bus.sent
	bus.mu.Unlock()
	var ch Change
	if len(sent) != 1 || sent[0].Kind != UpdateKind || json.Unmarshal(sent[0].Body, &ch) != nil ||
		ch.Siprec == nil || ch.Siprec.Start == nil || ch.Siprec.Start.Sid != res.Sid || ch.Siprec.Start.ConnectorName != "srs" ||
		ch.Stream != nil || ch.Update.URL != "" {
		t.Fatalf("sent %+v", sent)
	}
	res, err = b.Siprec(context.Background(), "ACone", rec.Sid, SiprecChange{Stop: "r1"})
	if err != nil || !res.Remote || res.Sid != "r1" {
		t.Fatalf("remote stop: %+v %v", res, err)
	}

	for _, tc := range []struct {
		name    string
		sc      SiprecChange
		refusal bool
	}{
		{"neither start nor stop", SiprecChange{}, false},
		{"both", SiprecChange{Start: &interpreter.SiprecRequest{ConnectorName: "srs"}, Stop: "x"}, false},
		{"stop an unknown session", SiprecChange{Stop: "nope"}, true},
		{"start on a call not started", SiprecChange{Start: &interpreter.SiprecRequest{ConnectorName: "srs"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Siprec(context.Background(), "ACone", rec.Sid, tc.sc)
			if err == nil {
				t.Fatal("accepted")
			}
			if _, ok := IsRefusal(err); ok != tc.refusal {
				t.Errorf("%v: refusal %v, want %v", err, ok, tc.refusal)
			}
		})
	}

	// An unknown call: the store's not-found, which the API answers 404.
	if _, err := a.Siprec(context.Background(), "ACone", "CA00000000000000000000000000000000", SiprecChange{Stop: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown call: %v, want store.ErrNotFound", err)
	}

	// Once the call has ended: 21220.
	if _, err := a.Update(context.Background(), "ACone", rec.Sid, Change{Status: store.CallCanceled}); err != nil {
		t.Fatal(err)
	}
	<-p.ended
	waitRecord(t, a.o.Store, rec.Sid)
	_, err = a.Siprec(context.Background(), "ACone", rec.Sid, SiprecChange{Start: &interpreter.SiprecRequest{ConnectorName: "srs"}})
	if e, ok := IsRefusal(err); !ok || e.Code != CodeNotInProgress {
		t.Errorf("SIPREC on an ended call: %v, want 21220", err)
	}
}
