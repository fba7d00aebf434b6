//go:build linux && (amd64 || arm64)

package main

import (
	"strings"
	"testing"
	"time"
)

// feed gives r n packets 20 ms apart, every slowEvery-th one extra late
// (0: none), sequence number skip never sent (-1: none), carrying payload.
func feed(r *rxStats, t0 time.Time, n int, slowEvery int, extra time.Duration, skip int, payload []byte) {
	at := t0
	seq := uint16(0)
	for i := range n {
		if i == skip {
			seq++ // this sequence number never arrives
		}
		if slowEvery > 0 && i%slowEvery == slowEvery/2 {
			at = at.Add(extra)
		}
		r.packet(seq, uint32(seq)*160, payload, time.Time{}, at, true)
		seq++
		at = at.Add(20 * time.Millisecond)
	}
}

func TestQuantileOf(t *testing.T) {
	var d []time.Duration
	if quantileOf(d, 0.99) != 0 {
		t.Error("empty")
	}
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if quantileOf(d, 0.5) != 100*time.Millisecond || quantileOf(d, 0.99) != 198*time.Millisecond || quantileOf(d, 1) != 200*time.Millisecond {
		t.Errorf("p50 %v p99 %v max %v", quantileOf(d, 0.5), quantileOf(d, 0.99), quantileOf(d, 1))
	}
}

func TestConferenceMembers(t *testing.T) {
	t0 := time.Unix(1000, 0)
	voice := make([]byte, 160)
	for i := range voice {
		voice[i] = 0xFF
	}
	silence := append([]byte(nil), voice...)
	voice[3] = 0x80
	var calls []*call
	for id := range 4 {
		c := &call{id: id, leg: &leg{}}
		switch id {
		case 0: // steady
			feed(&c.leg.rx, t0, 500, 0, 0, -1, voice)
		case 1: // ten packets 15 ms late: p99 above 25 ms
			feed(&c.leg.rx, t0, 500, 50, 15*time.Millisecond, -1, voice)
		case 2: // one sequence number lost
			feed(&c.leg.rx, t0, 500, 0, 0, 100, voice)
		case 3: // alone: silence only
			feed(&c.leg.rx, t0, 500, 0, 0, -1, silence)
		}
		calls = append(calls, c)
	}
	calls = append(calls, &call{id: 4, err: errTest}, nil)
	m := conferenceMembers(calls, 2)
	if m.members != 4 || m.rooms != 2 || m.over != 1 || m.worstID != 1 || m.lost != 1 || m.lossy != 1 || m.deaf != 1 || m.quiet != 0 {
		t.Errorf("%+v", m)
	}
	if got := quantileOf(m.p99, 0.5); got != 20100*time.Microsecond {
		t.Errorf("median member p99 %v", got)
	}
	var b strings.Builder
	m.print(&b, cpuUse{}, 4)
	if !strings.Contains(b.String(), "worst member 35.1 ms (#1, room-0); 1 members above 25 ms") {
		t.Errorf("printed:\n%s", b.String())
	}
}

type testErr struct{}

func (testErr) Error() string { return "failed" }

var errTest error = testErr{}

func TestQueueLatencies(t *testing.T) {
	t0 := time.Unix(1000, 0)
	caller := &call{id: 0, leg: &leg{stream: 1}}
	agent := &call{id: 1, agent: true, leg: &leg{stream: 2}, inviteAt: t0, answeredAt: t0.Add(10 * time.Millisecond)}
	idle := &call{id: 2, agent: true, leg: &leg{stream: 3}, inviteAt: t0, answeredAt: t0}
	// The agent hears hold silence, then the caller's packets from 40 ms.
	agent.leg.rx.packet(0, 0, make([]byte, 160), time.Time{}, t0.Add(20*time.Millisecond), true)
	agent.leg.rx.packet(1, 160, marked(1, 77), time.Time{}, t0.Add(40*time.Millisecond), true)
	agent.leg.rx.packet(2, 320, marked(1, 78), time.Time{}, t0.Add(60*time.Millisecond), true)
	// The caller hears the agent from 35 ms.
	caller.leg.rx.packet(0, 0, marked(2, 5), time.Time{}, t0.Add(35*time.Millisecond), true)
	q := queueLatencies([]*call{caller, agent, idle, nil})
	if q.agents != 2 || len(q.fromInvite) != 1 || q.fromInvite[0] != 40*time.Millisecond || q.fromAnswer[0] != 30*time.Millisecond ||
		len(q.callerHear) != 1 || q.callerHear[0] != 25*time.Millisecond || q.noAgent != 0 {
		t.Errorf("%+v", q)
	}
	var b strings.Builder
	q.print(&b)
	if !strings.Contains(b.String(), "-- queue: 2 agents answered, 1 heard a caller; 0 callers heard no agent") {
		t.Errorf("printed:\n%s", b.String())
	}
}
