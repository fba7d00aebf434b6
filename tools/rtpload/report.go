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

// report prints the results and checks the targets.
func report(w io.Writer, o options, calls []*call, answered int64, mem reportMem, cpu cpuUse,
	send0, send1 *sendGap, sendErr error, snmp0, snmp1 udpCounters, elapsed time.Duration) bool {
	ok := true
	verdict := func(pass bool) string {
		if pass {
			return "met"
		}
		ok = false
		return "MISSED"
	}
	var all, allU hist
	var packets, missing, reordered, skips, noKT uint64
	var failed, byPeer, byeErr, gapBad int
	var worstDev time.Duration
	worstID := -1
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
		all.merge(&c.kernel)
		allU.merge(&c.user)
		packets += c.packets
		missing += c.missing
		reordered += c.reordered
		skips += c.tsSkips
		noKT += c.noKernelT
		// The call's p99 deviation from 20 ms: 99% of its gaps are
		// within 20 ms ± dev.
		dev := c.kernel.deviation(ptime, 0.99)
		if dev > tolerance {
			gapBad++
		}
		if dev > worstDev {
			worstDev, worstID = dev, c.id
		}
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

	fmt.Fprintf(w, "\n== rtpload: %d calls, %d answered, %d failed, %d hung up by texml early, %d BYE errors; run %.1f s\n",
		len(calls), answered, failed, byPeer, byeErr, elapsed.Seconds())
	for e, n := range firstErrs {
		fmt.Fprintf(w, "   %d× %s\n", n, e)
	}
	fmt.Fprintf(w, "packets received: %d (%.0f per call)\n", packets, float64(packets)/float64(max(1, answered)))
	fmt.Fprintf(w, "missing sequence numbers: %d; late/duplicate: %d; skipped packet times (RTP timestamp jumps): %d\n",
		missing, reordered, skips)
	if noKT > 0 {
		fmt.Fprintf(w, "packets without a kernel timestamp: %d\n", noKT)
	}
	fmt.Fprintf(w, "gap at arrival (kernel timestamps): p1 %s  p50 %s  p99 %s  p99.9 %s  max %s; %.3f%% of gaps in 15–25 ms\n",
		ms(all.quantile(0.01)), ms(all.quantile(0.5)), ms(all.quantile(0.99)), ms(all.quantile(0.999)), ms(all.max),
		100*float64(all.within(ptime-tolerance, ptime+tolerance))/float64(max(1, all.n)))
	fmt.Fprintf(w, "gap as read by the load tool:       p1 %s  p50 %s  p99 %s  p99.9 %s  max %s; %.3f%% of gaps in 15–25 ms\n",
		ms(allU.quantile(0.01)), ms(allU.quantile(0.5)), ms(allU.quantile(0.99)), ms(allU.quantile(0.999)), ms(allU.max),
		100*float64(allU.within(ptime-tolerance, ptime+tolerance))/float64(max(1, allU.n)))
	fmt.Fprintf(w, "calls with fewer than 99%% of their gaps in 20 ± 5 ms (kernel timestamps): %d of %d; worst call #%d: 99%% within 20 ± %s\n",
		gapBad, answered, worstID, ms(worstDev))
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
	}
	if o.pid > 0 {
		per := float64(mem.peak-mem.idle) / float64(max(1, answered))
		fmt.Fprintf(w, "texml VmRSS: idle %d kB, peak with all calls up %d kB (highest seen %d kB), after %d kB; (peak − idle) / %d calls = %.1f kB per call\n",
			mem.idle, mem.peak, mem.peakAny, mem.after, answered, per)
		fmt.Fprintf(w, "target RSS ≤ %d KB per call: %s\n", targetRSSPerKB, verdict(mem.peak > 0 && per <= targetRSSPerKB))
	}
	fmt.Fprintf(w, "target every call's gap 20 ± 5 ms at p99: %s\n", verdict(gapBad == 0 && failed == 0))
	fmt.Fprintf(w, "target no packet dropped: %s\n", verdict(missing == 0 && skips == 0 && failed == 0))
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
