package main

import (
	"fmt"
	"io"
	"time"
)

// Echo mode (-echo): every call runs a bidirectional Media Streams app
// that sends the caller's audio straight back (tools/wsecho), so each
// caller hears its own marked packets. Its receive statistics (rxStats)
// then say how texml paced the stream's audio to the caller, and the
// marks say which of the caller's packets made the round trip through
// texml and the app, in what order, unchanged or not, and how long it
// took. The first -stalled calls are those whose app stalls (wsecho
// -stall): they are accounted apart, and the targets are the others'.

// echoRing is how many of its packets' send times a leg keeps: 5.12 s.
// A packet back later than that has no delay measured (echoRx.unknown).
const echoRing = 256

// echoRx is what a caller in echo mode knows of its own packets: when
// each went out (written by the engine's shard that sends for the leg),
// and what came back (by the one that reads it: the same shard, since
// echo mode polls).
type echoRx struct {
	self      uint32
	sentAt    [echoRing]int64  // Unix ns when packet count c went out, at c % echoRing
	sentCount [echoRing]uint32 // the count each slot holds
	delay     delayHist
	altered   uint64 // own packets back with their payload changed beyond the mark
	unknown   uint64 // own packets back whose send time was no longer kept
}

// newEchoRx returns the echo state of the leg whose stream id is self.
func newEchoRx(self uint32) *echoRx { return &echoRx{self: self} }

// sent records that packet count left at now.
func (e *echoRx) sent(count uint32, now time.Time) {
	e.sentAt[count%echoRing], e.sentCount[count%echoRing] = now.UnixNano(), count
}

// back accounts for the leg's own packet count, which arrived at at
// carrying payload p.
func (e *echoRx) back(count uint32, p []byte, at time.Time) {
	if len(p) != samplesPerPkt || !silent(p[markLen:]) {
		e.altered++
	}
	i := count % echoRing
	if e.sentCount[i] != count || e.sentAt[i] == 0 || at.IsZero() {
		e.unknown++
		return
	}
	e.delay.add(time.Duration(at.UnixNano() - e.sentAt[i]))
}

// delayHist is a histogram of echo delays in 1 ms buckets up to 2 s.
type delayHist struct {
	b    [2000]uint32
	n    uint64
	over uint64
	max  time.Duration
}

// add records one delay.
func (h *delayHist) add(d time.Duration) {
	h.n++
	h.max = max(h.max, d)
	i := max(int(d/time.Millisecond), 0)
	if i >= len(h.b) {
		h.over++
		return
	}
	h.b[i]++
}

func (h *delayHist) merge(o *delayHist) {
	for i, v := range o.b {
		h.b[i] += v
	}
	h.n += o.n
	h.over += o.over
	h.max = max(h.max, o.max)
}

// quantile returns the upper edge of the bucket holding quantile q (the
// largest delay when it lies beyond the buckets).
func (h *delayHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := max(uint64(q*float64(h.n)+0.999999), 1)
	var seen uint64
	for i, v := range h.b {
		if seen += uint64(v); seen >= rank {
			return time.Duration(i+1) * time.Millisecond
		}
	}
	return h.max
}

// echoGroup sums up one kind of echo call: those with a working app, or
// those whose app stalled.
type echoGroup struct {
	d        direction // texml's packets to the callers, and their own marks back
	delay    delayHist
	altered  uint64
	unknown  uint64
	crossed  int // calls that heard another call's packets first
	early    int // calls texml hung up before their hold time
	echoed   int // calls that heard any of their own packets
	pktsSent uint64
}

// echoStats is the echo mode's account.
type echoStats struct {
	ok, stalled echoGroup
	failed      int // calls that did not come up (not in either group)
}

// echoSummary sums up the calls of an echo run; the first stalled of
// them (by id) are the stalled apps'.
func echoSummary(calls []*call, stalled int) echoStats {
	s := echoStats{ok: echoGroup{d: direction{worstID: -1}}, stalled: echoGroup{d: direction{worstID: -1}}}
	for _, c := range calls {
		if c == nil || c.err != nil || c.leg == nil {
			s.failed++
			continue
		}
		g := &s.ok
		if c.id < stalled {
			g = &s.stalled
		}
		r := &c.leg.rx
		g.d.add(c.id, r)
		g.pktsSent += uint64(c.leg.count)
		if c.byPeer {
			g.early++
		}
		if r.marked > 0 && r.peer != c.leg.stream {
			g.crossed++
		}
		if e := r.echo; e != nil {
			g.delay.merge(&e.delay)
			g.altered += e.altered
			g.unknown += e.unknown
			if e.delay.n+e.unknown > 0 {
				g.echoed++
			}
		}
	}
	return s
}

// lost is what the callers with a working app lost: texml's packets to
// them that never arrived or were skipped, and their own packets that
// never came back between the first and the last that did.
func (g *echoGroup) lost() uint64 { return g.d.lost() }

// print writes the echo mode's figures.
func (s *echoStats) print(w io.Writer, poll bool, stalled int) {
	ms := func(x time.Duration) string { return fmt.Sprintf("%.1f", float64(x)/1e6) }
	// A quantile beyond the delay histogram's buckets is only known to
	// be above it.
	q := func(h *delayHist, p float64) string {
		if x := h.quantile(p); x <= time.Duration(len(h.b))*time.Millisecond {
			return ms(x)
		}
		return fmt.Sprintf("> %d", len(h.b))
	}
	g := &s.ok
	g.d.print(w, "texml → callers whose app echoes (each caller's own packets, back through texml and the app)", poll, false)
	fmt.Fprintf(w, "   own packets back: %d of %d sent (the others went out before the stream was up, or came back after the hangup); "+
		"%d calls heard theirs, %d heard none; %d never came back between the first and the last back, %d out of order, "+
		"%d changed beyond the mark; %d calls heard another call's packets, %d packets of another call; %d packet times of texml silence between echoed packets\n",
		g.d.marked, g.pktsSent, g.echoed, g.d.legs-g.echoed, g.d.e2eMissing, g.d.e2eReorder, g.altered, g.crossed, g.d.peerSwitch, g.d.filler)
	if d := &g.delay; d.n > 0 {
		fmt.Fprintf(w, "   echo delay (packet sent → back at the caller, kernel time): p50 %s  p90 %s  p99 %s  p99.9 %s  max %s ms (%d measured, %d over 2 s, %d with no send time kept)\n",
			q(d, 0.5), q(d, 0.9), q(d, 0.99), q(d, 0.999), ms(d.max), d.n, d.over, g.unknown)
	}
	if stalled == 0 {
		return
	}
	st := &s.stalled
	st.d.print(w, fmt.Sprintf("texml → callers whose app stalled (the first %d calls; not in the targets)", stalled), poll, false)
	fmt.Fprintf(w, "   stalled calls: %d up, %d hung up by texml before their hold time, %d heard their own packets back (should be none)\n",
		st.d.legs, st.early, st.echoed)
}

// verdicts checks the echo mode's targets with verdict (which records
// a miss): for the calls with a working app, the gap p99 at the callers
// and no packet lost; and that the stalled calls were the ones stalled.
func (s *echoStats) verdicts(w io.Writer, stalled int, verdict func(bool) string) {
	g := &s.ok
	fmt.Fprintf(w, "target gap p99 ≤ 25 ms at the callers whose app echoes: %s\n",
		verdict(g.d.all.n > 0 && g.d.all.quantile(0.99) <= ptime+tolerance && s.failed == 0))
	fmt.Fprintf(w, "target no packet lost for the callers whose app echoes (texml's to them, their own back): %s\n",
		verdict(g.lost() == 0 && g.echoed == g.d.legs && g.crossed == 0 && g.d.peerSwitch == 0 && g.altered == 0 && s.failed == 0))
	fmt.Fprintf(w, "check no call whose app echoes was hung up early: %s\n", verdict(g.early == 0))
	if stalled > 0 {
		fmt.Fprintf(w, "check the stalled calls are the first %d (none heard its echo): %s\n",
			stalled, verdict(s.stalled.d.legs == stalled && s.stalled.echoed == 0))
	}
}
