package redistest

import (
	"net/url"
	"strconv"
	"testing"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	u, err := url.Parse(s.URL)
	if err != nil || u.Scheme != "redis" || u.Hostname() != "127.0.0.1" {
		t.Fatalf("URL %q, want redis://127.0.0.1:PORT", s.URL)
	}
	port, _ := strconv.Atoi(u.Port())
	if port == 0 || port == 6379 {
		t.Fatalf("port %d: want a free one of the test's own", port)
	}
	if err := ping(port); err != nil {
		t.Fatalf("PING after Start: %v", err)
	}
	s.Stop()
	if err := ping(port); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Stop() // twice is harmless
	s.Restart()
	if err := ping(port); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	// Restart of a running server stops it first.
	s.Restart()
	if err := ping(port); err != nil {
		t.Fatalf("PING after a second Restart: %v", err)
	}
}
