package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// quantileOf returns quantile q of sorted (nearest rank), 0 when empty.
func quantileOf(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// memberStats is the conference mode's account of every member: what
// texml sent it (the mix of the others), gaps by the kernel's arrival
// times, and loss by texml's sequence numbers and RTP timestamps — mixed
// audio cannot be traced back to its senders, so loss is what texml sent
// each member and never arrived, or packet times it skipped.
type memberStats struct {
	members, rooms int
	size           int             // members a room
	p99            []time.Duration // each member's own gap p99, sorted
	worstID        int
	over           int    // members whose gap p99 is above 25 ms
	lost           uint64 // missing sequence numbers + skipped packet times
	lossy          int    // members that lost any
	packets        uint64
	voiced         uint64 // packets with some of the others' audio
	deaf           int    // members that received no voiced packet
	quiet          int    // members that received no packet at all
}

// conferenceMembers sums up the answered calls of a conference run
// (rooms of size members).
func conferenceMembers(calls []*call, size int) memberStats {
	m := memberStats{worstID: -1, size: max(1, size)}
	rooms := map[int]bool{}
	var worst time.Duration
	for _, c := range calls {
		if c == nil || c.err != nil || c.leg == nil {
			continue
		}
		r := &c.leg.rx
		m.members++
		rooms[c.id/m.size] = true
		p := r.kernel.quantile(0.99)
		if r.kernel.n == 0 {
			p = time.Hour // no gap measured: as bad as it gets
		}
		m.p99 = append(m.p99, p)
		if m.worstID < 0 || p > worst {
			worst, m.worstID = p, c.id
		}
		if p > ptime+tolerance {
			m.over++
		}
		if l := r.missing + r.tsSkips; l > 0 {
			m.lost += l
			m.lossy++
		}
		m.packets += r.packets
		m.voiced += r.voiced
		if r.voiced == 0 {
			m.deaf++
		}
		if r.packets == 0 {
			m.quiet++
		}
	}
	m.rooms = len(rooms)
	slices.Sort(m.p99)
	return m
}

// print writes the per-member figures and texml's CPU per member while
// every call was up.
func (m memberStats) print(w io.Writer, cpu cpuUse, answered int64) {
	ms := func(x time.Duration) string { return fmt.Sprintf("%.1f ms", float64(x)/1e6) }
	fmt.Fprintf(w, "-- conference: %d members in %d rooms\n", m.members, m.rooms)
	if m.members == 0 {
		return
	}
	fmt.Fprintf(w, "   each member's gap p99: median member %s, p90 member %s, worst member %s (#%d, room-%d); %d members above 25 ms\n",
		ms(quantileOf(m.p99, 0.5)), ms(quantileOf(m.p99, 0.9)), ms(m.p99[len(m.p99)-1]), m.worstID, m.worstID/max(1, m.size), m.over)
	fmt.Fprintf(w, "   lost (texml's sequence numbers never received + packet times skipped): %d, in %d members\n", m.lost, m.lossy)
	fmt.Fprintf(w, "   packets per member %.0f; with the others' audio in them %.1f%%; members that heard no audio %d, no packet at all %d\n",
		float64(m.packets)/float64(m.members), 100*float64(m.voiced)/float64(max(1, m.packets)), m.deaf, m.quiet)
	if st := cpu.steady; st.ended && st.t1.Sub(st.t0) > time.Second && answered > 0 {
		secs := st.t1.Sub(st.t0).Seconds()
		share := st.texml.Seconds() / secs // cores
		fmt.Fprintf(w, "   texml CPU while all were up: %.0f%% of one core = %.3f%% of a core per member = %.1f µs per member per 20 ms packet time\n",
			100*share, 100*share/float64(answered), share/float64(answered)*float64(ptime)/float64(time.Microsecond))
	}
}

// queueStats is the queue mode's account: when each agent heard the
// first packet of a caller's audio, from its INVITE and from its 200 OK,
// and when each caller heard its agent, from the agent's 200 OK.
type queueStats struct {
	agents     int
	fromInvite []time.Duration // sorted
	fromAnswer []time.Duration // sorted
	callerHear []time.Duration // sorted: caller's first packet of the agent's audio − the agent's 200 OK
	noAgent    int             // callers that heard no agent
}

// queueLatencies computes the queue mode's latencies from the calls.
func queueLatencies(calls []*call) queueStats {
	var q queueStats
	agents := map[uint32]*call{} // stream id → agent
	for _, c := range calls {
		if c != nil && c.agent && c.err == nil && c.leg != nil {
			agents[c.leg.stream] = c
		}
	}
	for _, c := range calls {
		if c == nil || c.err != nil || c.leg == nil {
			continue
		}
		r := &c.leg.rx
		if c.agent {
			q.agents++
			if r.marked > 0 {
				q.fromInvite = append(q.fromInvite, r.firstMark.Sub(c.inviteAt))
				q.fromAnswer = append(q.fromAnswer, r.firstMark.Sub(c.answeredAt))
			}
			continue
		}
		a := agents[r.peer]
		if r.marked == 0 || a == nil {
			q.noAgent++
			continue
		}
		q.callerHear = append(q.callerHear, r.firstMark.Sub(a.answeredAt))
	}
	slices.Sort(q.fromInvite)
	slices.Sort(q.fromAnswer)
	slices.Sort(q.callerHear)
	return q
}

func (q queueStats) print(w io.Writer) {
	line := func(name string, d []time.Duration) {
		ms := func(x time.Duration) string { return fmt.Sprintf("%.1f", float64(x)/1e6) }
		if len(d) == 0 {
			fmt.Fprintf(w, "   %s: none\n", name)
			return
		}
		fmt.Fprintf(w, "   %s (%d): min %s  p50 %s  p90 %s  p99 %s  max %s ms\n", name, len(d),
			ms(d[0]), ms(quantileOf(d, 0.5)), ms(quantileOf(d, 0.9)), ms(quantileOf(d, 0.99)), ms(d[len(d)-1]))
	}
	fmt.Fprintf(w, "-- queue: %d agents answered, %d heard a caller; %d callers heard no agent\n", q.agents, len(q.fromInvite), q.noAgent)
	line("agent INVITE sent → first packet of the caller's audio at the agent", q.fromInvite)
	line("agent 200 OK received → first packet of the caller's audio at the agent", q.fromAnswer)
	line("agent 200 OK received → first packet of the agent's audio at the caller", q.callerHear)
}
