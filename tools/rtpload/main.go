//go:build linux && (amd64 || arm64)

// Command rtpload measures how `texml serve` sends media to many
// simultaneous calls: it places N calls over
// loopback UDP SIP, keeps each for a while, receives every call's RTP on
// its own socket and reports the inter-packet gaps, the sequence numbers
// that never arrived, and texml's memory.
//
// With -callee it is also the far end of bridged calls: a user agent
// server on that address answers the INVITEs texml sends for
// <Dial><Sip>sip:callee@ADDR</Sip></Dial>, and every leg, caller and
// callee, sends 20 ms RTP and measures what arrives. Each payload carries
// a mark (the sending leg's id and packet count), which texml relays byte
// for byte, so the report also counts, per direction, the packets that
// went in on one side and never came out on the other (see
// scripts/load-bridged.sh, which starts everything):
//
//	bin/rtpload -target 127.0.0.1:15060 -callee 127.0.0.1:25070 -send-rtp -poll \
//	    -calls 1000 -rate 50 -hold 60s -pid "$TEXML_PID"
//
// It is written apart from texml's own packages (it uses only sipgo and
// pion/rtp), so it checks texml's media rather than trusting it.
//
// Usage, with texml serving an app that plays a long WAV (see
// scripts/load-concurrent.sh, which starts everything):
//
//	go build -o bin/rtpload ./tools/rtpload
//	bin/rtpload -target 127.0.0.1:15060 -calls 1000 -rate 50 -hold 60s \
//	    -pid "$(pgrep -n texml)" -metrics http://127.0.0.1:18081/metrics
//
// What it measures, per call and over all calls:
//
//   - the gap between consecutive RTP packets, timed twice: by the kernel
//     as each datagram reached the call's socket (SO_TIMESTAMPNS, which
//     leaves out the load tool's own scheduling) and by the receiving
//     goroutine when it read the datagram (which includes it);
//   - missing sequence numbers (packets the receiver never got) and
//     skipped packet times (the RTP timestamp advanced by more than the
//     sequence number, which is how texml's pacer drops packets it is too
//     late to send);
//   - texml's sender-side gap histogram (texml_rtp_send_gap_seconds from
//     -metrics), as the difference between two scrapes around the test;
//   - texml's VmRSS from /proc/PID/status: idle before the first call,
//     the highest value while all calls were up, and after the last one.
//
// The targets checked: every call's gap within 20 ± 5 ms at p99 (99% of
// its gaps in 15–25 ms), no packet missing, and (peak RSS − idle RSS) per
// call ≤ 150 KB (the targets in docs/benchmarks.md), or per leg ≤ 100 KB with -callee (two legs a
// call). With -echo (media streams): at the callers whose app echoes, the gap
// p99 of all their packets ≤ 25 ms and nothing lost either way; the RSS
// per stream is reported, with no target. The exit status is 1 when a call failed or a target was missed,
// 2 on bad flags.
//
// With -echo every call runs a Media Streams app that echoes the
// caller's audio (tools/wsecho behind <Connect><Stream>): the callers
// send marked packets and measure what comes back to them, texml's gaps
// and loss as above plus their own packets' round trip (the ones that
// never came back, and the delay from sending to hearing them); the
// first -stalled calls are those whose app stalls (wsecho -stall), and
// are accounted apart (see scripts/load-streams.sh and echo.go).
//
// -poll reads every socket from the few goroutines that send (one
// recvmmsg per leg per 20 ms) instead of one goroutine per call: far less
// CPU for the load tool, which shares the cores with texml. The gaps are
// timed by the kernel either way; the read-time gaps are then not
// measured.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Packet timing of G.711 at 20 ms ptime.
const (
	ptime          = 20 * time.Millisecond
	samplesPerPkt  = 160
	tolerance      = 5 * time.Millisecond
	targetRSSPerKB = 150 // per call, one leg each (docs/benchmarks.md)
	// targetRSSPerLegKB is the bridged calls' target: two legs a call.
	targetRSSPerLegKB = 100
)

// options are the command-line flags.
type options struct {
	target      string
	user        string
	calls       int
	rate        float64
	hold        time.Duration
	pid         int
	metricsURL  string
	sendRTP     bool
	callee      string
	poll        bool
	shards      int
	deadline    time.Duration
	inviteWait  time.Duration
	settle      time.Duration
	maxGapCheck time.Duration
	conference  int           // members a room: call i's user is room-(i / conference)
	agentUser   string        // the user the agents call
	agentTarget string        // where the agents call; "" = target
	agentDelay  time.Duration // > 0: queue mode, an agent this long after every caller
	latencyMax  time.Duration // queue mode: the target p99 of agent INVITE → caller's audio
	echo        bool          // echo mode: each caller hears its own packets back (a Media Streams echo app)
	stalled     int           // echo mode: the first this many calls' apps stall
}

// main parses the flags, runs the calls under a hard deadline and exits
// with the verdict.
func main() {
	var o options
	flag.StringVar(&o.target, "target", "127.0.0.1:15060", "texml's SIP address (UDP, loopback)")
	flag.StringVar(&o.user, "user", "load", "user part of the request URI")
	flag.IntVar(&o.calls, "calls", 1000, "number of calls (1..5000)")
	flag.Float64Var(&o.rate, "rate", 50, "calls placed per second")
	flag.DurationVar(&o.hold, "hold", 60*time.Second, "how long each call stays up after its answer")
	flag.IntVar(&o.pid, "pid", 0, "texml's process id, for VmRSS (0: memory is not measured)")
	flag.StringVar(&o.metricsURL, "metrics", "", "texml's /metrics URL, for the sender-side gap histogram")
	flag.BoolVar(&o.sendRTP, "send-rtp", false, "also send 20 ms µ-law silence to texml on every call (full-duplex media)")
	flag.StringVar(&o.callee, "callee", "", "also answer texml's outbound INVITEs on this loopback IP:port (bridged calls)")
	flag.BoolVar(&o.poll, "poll", false, "read the sockets from the sending goroutines at every packet time, not from a goroutine per call")
	flag.IntVar(&o.shards, "shards", 2, "goroutines that send (and, with -poll, read) the RTP of all legs")
	flag.DurationVar(&o.deadline, "deadline", 0, "hard bound on the whole run (default: ramp + hold + 60 s)")
	flag.DurationVar(&o.inviteWait, "invite-timeout", 15*time.Second, "how long to wait for a call's answer")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait after the last call before the final RSS reading")
	flag.IntVar(&o.conference, "conference", 0, "conference mode: this many calls a room, call i calling user room-(i/N) (see loadapp -conference); report per member")
	flag.StringVar(&o.agentUser, "agent-user", "agent", "queue mode: the user the agents call (see loadapp -queue)")
	flag.StringVar(&o.agentTarget, "agent-target", "", "queue mode: the agents call this SIP address (another texml node sharing the callers' Redis); default -target")
	flag.DurationVar(&o.agentDelay, "agent-delay", 0, "queue mode: place an agent call this long after each caller and measure when the caller's audio reaches it")
	flag.DurationVar(&o.latencyMax, "latency-target", 50*time.Millisecond, "queue mode: target p99 from the agent's INVITE to the first packet of the caller's audio")
	flag.BoolVar(&o.echo, "echo", false, "echo mode: the app echoes each caller's audio (loadapp -twiml with <Connect><Stream> to tools/wsecho); send marked packets and measure what comes back (needs -poll)")
	flag.IntVar(&o.stalled, "stalled", 0, "echo mode: the first N calls' apps stall (wsecho -stall N); they are placed first and accounted apart")
	flag.Parse()
	// sipgo logs through slog; keep its routine warnings (e.g. on
	// shutdown) out of the report.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))

	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "rtpload:", err)
		os.Exit(2)
	}
	ramp := time.Duration(float64(o.calls) / o.rate * float64(time.Second))
	if o.deadline == 0 {
		o.deadline = ramp + o.agentDelay + o.hold + 60*time.Second
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.deadline)
	defer cancel()

	ok, err := run(ctx, o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtpload:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// check validates the flags; only loopback targets are allowed.
func (o *options) check() error {
	ap, err := netip.ParseAddrPort(o.target)
	if err != nil || !ap.Addr().IsLoopback() {
		return fmt.Errorf("-target %q: want a loopback IP:port", o.target)
	}
	if o.calls < 1 || o.calls > 5000 {
		return errors.New("-calls must be 1..5000")
	}
	if o.rate <= 0 || o.rate > 1000 {
		return errors.New("-rate must be in (0, 1000]")
	}
	if o.hold < time.Second || o.hold > 30*time.Minute {
		return errors.New("-hold must be 1s..30m")
	}
	if o.deadline < 0 || o.deadline > time.Hour {
		return errors.New("-deadline must be at most 1h")
	}
	if o.callee != "" {
		ap, err := netip.ParseAddrPort(o.callee)
		if err != nil || !ap.Addr().IsLoopback() {
			return fmt.Errorf("-callee %q: want a loopback IP:port", o.callee)
		}
	}
	if o.shards < 1 || o.shards > 64 {
		return errors.New("-shards must be 1..64")
	}
	if o.conference < 0 || o.conference > 250 {
		return errors.New("-conference must be 0..250 members a room")
	}
	if o.agentDelay < 0 || o.agentDelay > 10*time.Minute {
		return errors.New("-agent-delay must be 0..10m")
	}
	if o.agentTarget != "" {
		if _, err := netip.ParseAddrPort(o.agentTarget); err != nil || o.agentDelay <= 0 {
			return fmt.Errorf("-agent-target %q: want a loopback IP:port, with -agent-delay", o.agentTarget)
		}
	}
	if o.agentDelay > 0 && (o.conference > 0 || o.callee != "") {
		return errors.New("-agent-delay (queue mode) goes with neither -conference nor -callee")
	}
	if o.echo && (o.conference > 0 || o.callee != "" || o.agentDelay > 0) {
		return errors.New("-echo goes with none of -conference, -callee and -agent-delay")
	}
	if o.echo && !o.poll {
		// The send times and the packets back are then kept by the
		// same goroutine.
		return errors.New("-echo needs -poll")
	}
	if o.stalled < 0 || o.stalled >= o.calls || (o.stalled > 0 && !o.echo) {
		return errors.New("-stalled must be 0..calls-1, with -echo")
	}
	return nil
}

// callUser is the request URI's user of caller i: its room in conference
// mode, -user otherwise.
func (o *options) callUser(i int) string {
	if o.conference > 0 {
		return fmt.Sprintf("room-%d", i/o.conference)
	}
	return o.user
}

// streamGrace is how long echo mode waits, after the stalled apps'
// calls are answered, for texml to open their streams.
const streamGrace = time.Second

// waitAnswered waits until n calls are answered (or limit has passed:
// one failed), then streamGrace; it returns how long it waited.
func waitAnswered(ctx context.Context, answered *atomic.Int64, n int64, limit time.Duration) (time.Duration, error) {
	t0 := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for answered.Load() < n && time.Since(t0) < limit {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(streamGrace):
	}
	return time.Since(t0), nil
}

// run places the calls, waits for them and prints the report. ok is false
// when a call failed or a target was missed.
func run(ctx context.Context, o options, w io.Writer) (ok bool, err error) {
	ph, err := newPhone(o.target)
	if err != nil {
		return false, err
	}
	defer ph.close()
	aph := ph // the agents' phone: another node's when -agent-target says so
	if o.agentTarget != "" {
		if aph, err = newPhone(o.agentTarget); err != nil {
			return false, err
		}
		defer aph.close()
	}
	// With -callee every leg sends (it is a conversation); otherwise the
	// callers send only with -send-rtp.
	eng, err := newEngine(o.shards, o.sendRTP || o.callee != "" || o.echo, o.poll)
	if err != nil {
		return false, fmt.Errorf("RTP sockets: %w", err)
	}
	defer eng.stop()
	var cs *callees
	if o.callee != "" {
		if cs, err = newCallees(ctx, o.callee, eng); err != nil {
			return false, fmt.Errorf("-callee: %w", err)
		}
		defer cs.close()
	}

	snmp0 := readUDPCounters()
	cpu0, self0 := procCPU(o.pid), selfCPU()
	send0, _ := scrapeSendGap(o.metricsURL)
	idle := readRSS(o.pid)
	fmt.Fprintf(w, "placing %d calls at %.0f/s to %s, each held %s; texml pid %d, idle VmRSS %d kB\n",
		o.calls, o.rate, o.target, o.hold, o.pid, idle)

	n := o.calls
	if o.agentDelay > 0 {
		n *= 2 // callers 0..calls-1, their agents after them
	}
	calls := make([]*call, n)
	var wg sync.WaitGroup
	var up, answered atomic.Int64
	place := func(c *call) {
		p := ph
		if c.agent {
			p = aph
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx, p, o, eng, func() {
				answered.Add(1)
				up.Add(1)
			}, func() {
				// A stalled app's call may end early (texml gives up
				// on the app): it stays counted as up, so that the
				// others' steady state is still measured.
				if c.id >= o.stalled {
					up.Add(-1)
				}
			})
		}()
	}

	start := time.Now()
	interval := time.Duration(float64(time.Second) / o.rate)
placing:
	for i := range o.calls {
		if i > 0 && i == o.stalled {
			// The stalled apps are the first connections wsecho takes:
			// their calls come up, and their streams open, before any
			// other call is placed.
			d, err := waitAnswered(ctx, &answered, int64(i), o.inviteWait)
			if err != nil {
				break placing
			}
			start = start.Add(d)
		}
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-ctx.Done():
				break placing
			case <-time.After(d):
			}
		}
		c := &call{id: i, user: o.callUser(i), hold: o.hold}
		calls[i] = c
		if o.agentDelay > 0 {
			// The caller waits in the queue until its agent (or an
			// earlier one) takes it; texml ends it when the agent hangs
			// up, before this longer hold.
			c.hold = o.hold + o.agentDelay + 10*time.Second
			a := &call{id: o.calls + i, user: o.agentUser, agent: true, hold: o.hold}
			calls[o.calls+i] = a
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-ctx.Done():
					a.err = fmt.Errorf("not placed: %w", ctx.Err())
					return
				case <-time.After(o.agentDelay):
				}
				place(a)
			}()
		}
		place(c)
	}

	// Watch RSS while calls run: the peak is the highest reading taken
	// while every call (and with -callee, every callee leg) was up.
	allUp := func() bool {
		return up.Load() == int64(len(calls)) && (cs == nil || cs.active.Load() == int64(o.calls))
	}
	var peak, peakAny int64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	everyoneUp := false
	// CPU while everything is up: from the first tick that found every
	// leg up to the first tick after one ended.
	var steady cpuWindow
watch:
	for {
		select {
		case <-done:
			break watch
		case <-tick.C:
		}
		r := readRSS(o.pid)
		peakAny = max(peakAny, r)
		switch {
		case !everyoneUp && allUp():
			everyoneUp = true
			steady.begin(o.pid)
			fmt.Fprintf(w, "all %d calls up after %.1f s\n", len(calls), time.Since(start).Seconds())
		case everyoneUp && allUp():
			peak = max(peak, r)
		case everyoneUp:
			steady.end(o.pid)
		}
	}
	steady.end(o.pid)
	var legs []*calleeLeg
	if cs != nil {
		legs = cs.results(10 * time.Second)
	}
	eng.stop()
	select {
	case <-time.After(o.settle):
	case <-ctx.Done():
	}
	after := readRSS(o.pid)
	cpu := cpuUse{texml: procCPU(o.pid) - cpu0, self: selfCPU() - self0, steady: steady}
	unmatched := eng.unmatched()
	send1, serr := scrapeSendGap(o.metricsURL)
	snmp1 := readUDPCounters()

	if unmatched > 0 {
		fmt.Fprintf(w, "datagrams from no known leg (before a leg was up or after it ended): %d\n", unmatched)
	}
	return report(w, o, calls, legs, answered.Load(), reportMem{idle: idle, peak: peak, peakAny: peakAny, after: after},
		cpu, send0, send1, serr, snmp0, snmp1, time.Since(start)), nil
}
