package signaling

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestGate checks that handlers run while the gate is open, that shut
// waits for the ones running, and that none runs once it is shut.
func TestGate(t *testing.T) {
	var g gate
	release := make(chan struct{})
	started := make(chan struct{})
	ran := 0
	h := g.guard(func(*sip.Request, sip.ServerTransaction) {
		ran++
		close(started)
		<-release
	})
	go h(nil, nil)
	<-started

	shut := make(chan struct{})
	go func() { g.shut(); close(shut) }()
	select {
	case <-shut:
		t.Fatal("shut returned while a handler was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-shut

	late := false
	g.guard(func(*sip.Request, sip.ServerTransaction) { late = true })(nil, nil)
	if late || ran != 1 {
		t.Fatalf("after shut: late handler ran %v, handlers run %d; want false, 1", late, ran)
	}
}
