package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sendGap is texml's texml_rtp_send_gap_seconds histogram: cumulative
// counts by upper bound (seconds), plus the total.
type sendGap struct {
	le    []float64
	cum   []float64
	count float64
}

// scrapeSendGap reads the histogram from texml's /metrics.
func scrapeSendGap(url string) (*sendGap, error) {
	if url == "" {
		return nil, errors.New("no -metrics URL")
	}
	cl := &http.Client{Timeout: 10 * time.Second}
	res, err := cl.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	g := &sendGap{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, `texml_rtp_send_gap_seconds_bucket{le="`):
			rest := strings.TrimPrefix(line, `texml_rtp_send_gap_seconds_bucket{le="`)
			leText, valText, ok := strings.Cut(rest, `"} `)
			if !ok {
				continue
			}
			le, err1 := strconv.ParseFloat(leText, 64)
			v, err2 := strconv.ParseFloat(valText, 64)
			if err1 == nil && err2 == nil {
				g.le = append(g.le, le)
				g.cum = append(g.cum, v)
			}
		case strings.HasPrefix(line, "texml_rtp_send_gap_seconds_count "):
			g.count, _ = strconv.ParseFloat(strings.TrimPrefix(line, "texml_rtp_send_gap_seconds_count "), 64)
		}
	}
	if len(g.le) == 0 {
		return nil, errors.New("texml_rtp_send_gap_seconds not found in /metrics")
	}
	return g, sc.Err()
}

// delta returns g minus an earlier scrape of the same histogram.
func (g *sendGap) delta(before *sendGap) *sendGap {
	d := &sendGap{le: g.le, cum: slices.Clone(g.cum), count: g.count}
	if before != nil && len(before.cum) == len(g.cum) {
		for i := range d.cum {
			d.cum[i] -= before.cum[i]
		}
		d.count -= before.count
	}
	return d
}

// share returns the share of observations at or below bound (a bucket edge).
func (g *sendGap) share(bound float64) float64 {
	for i, le := range g.le {
		if math.Abs(le-bound) < 1e-9 && g.count > 0 {
			return g.cum[i] / g.count
		}
	}
	return math.NaN()
}

// quantileBound returns the bucket that holds quantile q, as a range.
func (g *sendGap) quantileBound(q float64) string {
	for i, le := range g.le {
		if g.count > 0 && g.cum[i]/g.count >= q {
			if i == 0 {
				return fmt.Sprintf("≤ %g ms", le*1000)
			}
			return fmt.Sprintf("in (%g, %g] ms", g.le[i-1]*1000, le*1000)
		}
	}
	return "above the largest bucket"
}

// reportMem are texml's VmRSS readings in kB.
type reportMem struct{ idle, peak, peakAny, after int64 }

// direction sums up what one side's legs received: the callers (texml's
// media to them), or with -callee the callees.
type direction struct {
	legs                                     int
	all, allU                                hist
	packets, missing, reordered, skips, noKT uint64
	marked, e2eMissing, e2eReorder, filler   uint64
	peerSwitch                               uint64
	unmarked                                 int // legs that heard no mark at all
	gapBad                                   int // legs with < 99% of gaps in 20 ± 5 ms
	worstDev                                 time.Duration
	worstID                                  int
}

// add accounts for leg id's received stream.
func (d *direction) add(id int, r *rxStats) {
	d.legs++
	d.all.merge(&r.kernel)
	d.allU.merge(&r.user)
	d.packets += r.packets
	d.missing += r.missing
	d.reordered += r.reordered
	d.skips += r.tsSkips
	d.noKT += r.noKernelT
	d.marked += r.marked
	d.e2eMissing += r.e2eMissing
	d.e2eReorder += r.e2eReorder
	d.filler += r.filler
	d.peerSwitch += r.peerSwitch
	if r.marked == 0 {
		d.unmarked++
	}
	// The leg's p99 deviation from 20 ms: 99% of its gaps are within
	// 20 ms ± dev.
	dev := r.kernel.deviation(ptime, 0.99)
	if dev > tolerance {
		d.gapBad++
	}
	if d.worstID < 0 || dev > d.worstDev {
		d.worstDev, d.worstID = dev, id
	}
}

// lost is every packet that went missing on the way: sequence numbers
// texml sent that never arrived, packet times texml skipped, and (bridged)
// the other side's packets that never came out of texml.
func (d *direction) lost() uint64 { return d.missing + d.skips + d.e2eMissing }

// print writes the direction's figures.
func (d *direction) print(w io.Writer, name string, poll, bridged bool) {
	ms := func(x time.Duration) string { return fmt.Sprintf("%.1f ms", float64(x)/1e6) }
	in := d.all.within(ptime-tolerance, ptime+tolerance)
	fmt.Fprintf(w, "-- %s: %d legs, %d packets received (%.0f per leg)\n", name, d.legs, d.packets, float64(d.packets)/float64(max(1, d.legs)))
	fmt.Fprintf(w, "   missing sequence numbers: %d; late/duplicate: %d; skipped packet times (RTP timestamp jumps): %d\n",
		d.missing, d.reordered, d.skips)
	if d.noKT > 0 {
		fmt.Fprintf(w, "   packets without a kernel timestamp: %d\n", d.noKT)
	}
	fmt.Fprintf(w, "   gap at arrival (kernel timestamps): p1 %s  p50 %s  p99 %s  p99.9 %s  max %s; %.3f%% of gaps in 15–25 ms, %d of %d outside\n",
		ms(d.all.quantile(0.01)), ms(d.all.quantile(0.5)), ms(d.all.quantile(0.99)), ms(d.all.quantile(0.999)), ms(d.all.max),
		100*float64(in)/float64(max(1, d.all.n)), d.all.n-in, d.all.n)
	if !poll {
		fmt.Fprintf(w, "   gap as read by the load tool:       p1 %s  p50 %s  p99 %s  p99.9 %s  max %s; %.3f%% of gaps in 15–25 ms\n",
			ms(d.allU.quantile(0.01)), ms(d.allU.quantile(0.5)), ms(d.allU.quantile(0.99)), ms(d.allU.quantile(0.999)), ms(d.allU.max),
			100*float64(d.allU.within(ptime-tolerance, ptime+tolerance))/float64(max(1, d.allU.n)))
	}
	fmt.Fprintf(w, "   legs with fewer than 99%% of their gaps in 20 ± 5 ms: %d of %d; worst #%d: 99%% within 20 ± %s\n",
		d.gapBad, d.legs, d.worstID, ms(d.worstDev))
	if bridged {
		fmt.Fprintf(w, "   end to end: %d of the other side's packets relayed, %d never came out of texml, %d out of order; "+
			"%d packet times of texml silence between relayed packets; %d legs heard nothing relayed, %d packets from a leg not their peer\n",
			d.marked, d.e2eMissing, d.e2eReorder, d.filler, d.unmarked, d.peerSwitch)
	}
}

// report prints the results and checks the targets.
func report(w io.Writer, o options, calls []*call, callees []*calleeLeg, answered int64, mem reportMem, cpu cpuUse,
	send0, send1 *sendGap, sendErr error, snmp0, snmp1 udpCounters, elapsed time.Duration) bool {
	ok := true
	verdict := func(pass bool) string {
		if pass {
			return "met"
		}
		ok = false
		return "MISSED"
	}
	bridged := o.callee != ""
	callers, heard := direction{worstID: -1}, direction{worstID: -1}
	var failed, byPeer, byeErr int
	firstErrs := map[string]int{}
	for _, c := range calls {
		if c == nil {
			failed++
			continue
		}
		if c.err != nil {
			failed++
			firstErrs[c.err.Error()]++
			continue
		}
		if c.byPeer {
			byPeer++
		}
		if c.byeErr != nil {
			byeErr++
		}
		if c.agent {
			heard.add(c.id, &c.leg.rx)
			continue
		}
		callers.add(c.id, &c.leg.rx)
	}
	var calleeOK, calleeFailed, calleeNoBye int
	for i, c := range callees {
		if c.err != nil {
			calleeFailed++
			firstErrs["callee: "+c.err.Error()]++
			continue
		}
		calleeOK++
		if !c.byPeer {
			calleeNoBye++
		}
		heard.add(i, &c.leg.rx)
	}

	fmt.Fprintf(w, "\n== rtpload: %d calls, %d answered, %d failed, %d hung up by texml early, %d BYE errors; run %.1f s\n",
		len(calls), answered, failed, byPeer, byeErr, elapsed.Seconds())
	if bridged {
		fmt.Fprintf(w, "callee legs: %d answered and ended, %d failed, %d still up at the end or ended without texml's BYE\n",
			calleeOK, calleeFailed, calleeNoBye)
	}
	for e, n := range firstErrs {
		fmt.Fprintf(w, "   %d× %s\n", n, e)
	}
	queue := o.agentDelay > 0
	switch {
	case bridged:
		callers.print(w, "callee → caller (texml's media as the callers received it)", o.poll, true)
		heard.print(w, "caller → callee (texml's media as the callees received it)", o.poll, true)
	case queue:
		callers.print(w, "hold music, then agent → caller (texml's media as the callers received it)", o.poll, true)
		heard.print(w, "caller → agent (texml's media as the agents received it)", o.poll, true)
	case o.conference > 0:
		callers.print(w, "texml → members (each member's mix of the others)", o.poll, false)
	case o.echo:
		// echoStats prints the callers in two groups below.
	default:
		callers.print(w, "texml → callers", o.poll, false)
	}
	var members memberStats
	var lat queueStats
	var echo echoStats
	switch {
	case o.echo:
		echo = echoSummary(calls, o.stalled)
		echo.print(w, o.poll, o.stalled)
	case o.conference > 0:
		members = conferenceMembers(calls, o.conference)
		members.print(w, cpu, answered)
	case queue:
		lat = queueLatencies(calls)
		lat.print(w)
	}
	if sendErr == nil && send1 != nil {
		d := send1.delta(send0)
		fmt.Fprintf(w, "texml sender-side gap (texml_rtp_send_gap_seconds, %0.f observations): ≤ 15 ms %.3f%%, 15–25 ms %.3f%%, > 25 ms %.3f%%; p99 %s, p1 %s\n",
			d.count, 100*d.share(0.015), 100*(d.share(0.025)-d.share(0.015)), 100*(1-d.share(0.025)),
			d.quantileBound(0.99), d.quantileBound(0.01))
	} else {
		fmt.Fprintf(w, "texml sender-side gap: not measured (%v)\n", sendErr)
	}
	if snmp0 != nil && snmp1 != nil {
		fmt.Fprintf(w, "host UDP counters during the run: RcvbufErrors +%d, SndbufErrors +%d, InErrors +%d\n",
			snmp1["RcvbufErrors"]-snmp0["RcvbufErrors"], snmp1["SndbufErrors"]-snmp0["SndbufErrors"],
			snmp1["InErrors"]-snmp0["InErrors"])
	}
	fmt.Fprintf(w, "CPU over the run (%.0f s, includes ramp and settle): texml %.1f s = %.0f%% of one core, rtpload %.1f s = %.0f%%\n",
		elapsed.Seconds(), cpu.texml.Seconds(), 100*cpu.texml.Seconds()/elapsed.Seconds(),
		cpu.self.Seconds(), 100*cpu.self.Seconds()/elapsed.Seconds())
	if st := cpu.steady; st.ended && st.t1.Sub(st.t0) > time.Second {
		secs := st.t1.Sub(st.t0).Seconds()
		fmt.Fprintf(w, "CPU while all %d calls were up (%.0f s): texml %.0f%% of one core, rtpload %.0f%%\n",
			answered, secs, 100*st.texml.Seconds()/secs, 100*st.self.Seconds()/secs)
		if h := st.host; h.cores > 0 {
			other := h.busy - st.texml - st.self
			fmt.Fprintf(w, "host (%d cores) meanwhile: busy %.0f%% of one core (of which softirq %.0f%%), idle %.0f%%, steal %.0f%%; "+
				"everything but texml and rtpload: %.0f%% of one core\n",
				h.cores, 100*h.busy.Seconds()/secs, 100*h.softirq.Seconds()/secs, 100*h.idle.Seconds()/secs,
				100*h.steal.Seconds()/secs, 100*other.Seconds()/secs)
		}
	}
	legsPerCall, target := int64(1), int64(targetRSSPerKB)
	if bridged {
		legsPerCall, target = 2, targetRSSPerLegKB
	}
	if o.pid > 0 {
		n := answered * legsPerCall
		per := float64(mem.peak-mem.idle) / float64(max(1, n))
		unit := "call"
		switch {
		case bridged:
			unit = "leg"
		case o.conference > 0:
			unit = "member"
		case o.echo:
			unit = "stream"
		}
		fmt.Fprintf(w, "texml VmRSS: idle %d kB, peak with all calls up %d kB (highest seen %d kB), after %d kB; (peak − idle) / %d %ss = %.1f kB per %s\n",
			mem.idle, mem.peak, mem.peakAny, mem.after, n, unit, per, unit)
		// Queue mode: the calls are never all up at once; echo mode:
		// reported, with no target yet.
		if !queue && !o.echo {
			fmt.Fprintf(w, "target RSS ≤ %d KB per %s: %s\n", target, unit, verdict(mem.peak > 0 && per <= float64(target)))
		}
	}
	if bridged {
		for _, d := range []struct {
			name string
			d    *direction
		}{{"callee → caller", &callers}, {"caller → callee", &heard}} {
			fmt.Fprintf(w, "target %s gap p99 ≤ 25 ms: %s\n", d.name,
				verdict(d.d.all.n > 0 && d.d.all.quantile(0.99) <= ptime+tolerance && failed == 0))
			fmt.Fprintf(w, "target %s no packet lost: %s\n", d.name, verdict(d.d.lost() == 0 && d.d.unmarked == 0 && failed == 0))
		}
		if calleeFailed > 0 || calleeOK < int(answered) {
			ok = false
		}
	} else if o.conference > 0 {
		fmt.Fprintf(w, "target every member's gap p99 ≤ 25 ms: %s\n", verdict(members.members > 0 && members.over == 0 && failed == 0))
		fmt.Fprintf(w, "target no packet lost (texml's sequence numbers and packet times to every member): %s\n",
			verdict(members.lost == 0 && failed == 0))
		fmt.Fprintf(w, "check every member heard the others' audio: %s\n", verdict(members.deaf == 0))
	} else if o.echo {
		echo.verdicts(w, o.stalled, verdict)
	} else if queue {
		fmt.Fprintf(w, "target agent INVITE → first packet of the caller's audio p99 ≤ %s: %s\n", o.latencyMax,
			verdict(len(lat.fromInvite) > 0 && quantileOf(lat.fromInvite, 0.99) <= o.latencyMax && failed == 0))
		fmt.Fprintf(w, "check every agent heard a caller: %s\n", verdict(lat.agents > 0 && len(lat.fromInvite) == lat.agents))
		fmt.Fprintf(w, "check no caller packet lost on the way to its agent: %s\n", verdict(heard.e2eMissing == 0))
	} else {
		fmt.Fprintf(w, "target every call's gap 20 ± 5 ms at p99: %s\n", verdict(callers.gapBad == 0 && failed == 0))
		fmt.Fprintf(w, "target no packet dropped: %s\n", verdict(callers.missing == 0 && callers.skips == 0 && failed == 0))
	}
	if failed > 0 || answered < int64(len(calls)) {
		ok = false
	}
	if ok {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL")
	}
	return ok
}
