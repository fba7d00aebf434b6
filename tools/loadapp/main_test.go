package main

import (
	"strings"
	"testing"
	"time"
)

func TestDialDoc(t *testing.T) {
	for _, tc := range []struct {
		target, want string
		ok           bool
	}{
		{"sip:callee@127.0.0.1:25070", "<Response><Dial><Sip>sip:callee@127.0.0.1:25070</Sip></Dial></Response>", true},
		{"sip:a&b@127.0.0.1:5", "<Response><Dial><Sip>sip:a&amp;b@127.0.0.1:5</Sip></Dial></Response>", true},
		{"+15550001111", "<Response><Dial><Number>+15550001111</Number></Dial></Response>", true},
		{"sip:callee@10.0.0.1:5060", "", false}, // not loopback
		{"sip:callee@example.com", "", false},
		{"1555<x>", "", false},
	} {
		got, err := dialDoc(tc.target)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("dialDoc(%q) = %q, %v; want %q (ok %v)", tc.target, got, err, tc.want, tc.ok)
		}
	}
}

func TestConferenceDoc(t *testing.T) {
	for _, tc := range []struct {
		user  string
		index int64
		size  int
		room  string
	}{
		{"room-7", 0, 10, "room-7"},
		{"load", 0, 10, "room-0"},
		{"load", 9, 10, "room-0"},
		{"load", 10, 10, "room-1"},
		{"load", 249, 250, "room-0"},
		{"room-", 25, 10, "room-2"},
		{"room-x", 35, 10, "room-3"},
	} {
		want := `<Response><Dial><Conference beep="false" waitUrl="">` + tc.room + `</Conference></Dial></Response>`
		if got := conferenceDoc(tc.user, tc.index, tc.size); got != want {
			t.Errorf("conferenceDoc(%q, %d, %d) = %q, want room %s", tc.user, tc.index, tc.size, got, tc.room)
		}
	}
}

func TestQueueDoc(t *testing.T) {
	if got, want := queueDoc(toUser("sip:agent-3@127.0.0.1"), "agent", "q&1", ""),
		"<Response><Dial><Queue>q&amp;1</Queue></Dial></Response>"; got != want {
		t.Errorf("agent: %q", got)
	}
	if got, want := queueDoc(toUser("sip:caller@127.0.0.1"), "agent", "q", ""),
		"<Response><Enqueue>q</Enqueue></Response>"; got != want {
		t.Errorf("caller, hold music: %q", got)
	}
	if got, want := queueDoc(toUser("+15550001111"), "agent", "q", "http://127.0.0.1:1/wait?a=1&b=2"),
		`<Response><Enqueue waitUrl="http://127.0.0.1:1/wait?a=1&amp;b=2">q</Enqueue></Response>`; got != want {
		t.Errorf("caller, waitUrl: %q", got)
	}
}

func TestWaitStats(t *testing.T) {
	l := newWaitLog()
	t0 := time.Unix(1000, 0)
	// Caller A: every 10 s for a minute (7 requests, 6 re-requests a
	// minute); B: twice, 12 s apart; C: once.
	for i := range 7 {
		l.add("A", t0.Add(time.Duration(i)*10*time.Second))
	}
	l.add("B", t0)
	l.add("B", t0.Add(12*time.Second))
	l.add("C", t0)
	s := l.stats()
	if s.requests != 10 || s.callers != 3 || s.perMin != 1 || s.perMed != 2 || s.perMax != 7 {
		t.Errorf("counts: %+v", s)
	}
	if s.intervals != 7 || s.ivMin != 10*time.Second || s.ivP50 != 10*time.Second || s.ivP99 != 12*time.Second || s.ivMax != 12*time.Second {
		t.Errorf("intervals: %+v", s)
	}
	if s.rateMin != 5 || s.rateMax != 6 {
		t.Errorf("rates: min %v max %v", s.rateMin, s.rateMax)
	}
	var b strings.Builder
	s.write(&b)
	if !strings.Contains(b.String(), "wait_interval_ms n 7 min 10000 p50 10000 p99 12000 max 12000") {
		t.Errorf("written:\n%s", b.String())
	}
	l.reset()
	if s := l.stats(); s.requests != 0 {
		t.Errorf("after reset: %+v", s)
	}
}
