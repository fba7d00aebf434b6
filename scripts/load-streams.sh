#!/usr/bin/env bash
# load-streams.sh — many bidirectional Media Streams at once (issue 9 §5):
# every call is a <Connect><Stream> to an app that echoes the caller's
# audio, so each caller hears its own packets come back through texml,
# the app's WebSocket and texml again.
#
# Builds texml, tools/loadapp, tools/rtpload and tools/wsecho; starts, on
# loopback only, wsecho (the echo app; its first STALL connections stall
# after their start message, as a hung app does), the load app (serving
# <Response><Connect><Stream url="ws://127.0.0.1:WS_PORT/echo"/></Connect>
# </Response>) and `texml serve`; then runs rtpload -echo: STREAMS calls
# placed at RATE calls/s (the STALL stalled ones first, so that they are
# wsecho's first connections), each held HOLD seconds, every caller
# sending 20 ms µ-law packets that carry a mark (call id, packet count).
# rtpload measures at each caller: the gaps between texml's packets
# (kernel arrival timestamps; p50/p99/p99.9/max), texml's packets that
# never arrived, the caller's own packets that never came back (between
# the first and the last that did), any that came back changed, the echo
# delay (packet sent → back at the caller), texml's RSS per stream and
# both processes' CPU; the stalled calls apart from the others. Then it
# prints wsecho's CPU and counters (media in and out), the stream
# sockets' backlog, texml's RTP counters, the streams' dropped frames and
# other warnings from texml's log, and the pacer's summary.
#
# A stalled app reaches texml once the kernel stops taking texml's
# writes: texml's stream sockets have a fixed 64 KB send buffer, and
# wsecho's connections a 64 KB receive buffer (-rcvbuf, as an app across a
# network holds a bounded window; loopback would autotune megabytes), so
# the ~20 KB/s of a stream's messages fill both in a few seconds; then
# texml's queue drops frames and its write timeout (10 s) ends the stalled
# stream, while the others go on. The script prints the most that texml's
# stream sockets held unsent and wsecho's unread (ss, every 5 s).
#
# Targets (for the calls whose app echoes): gap p99 ≤ 25 ms at the
# callers, no packet lost either way; a stalled app must not disturb
# them. Exits with rtpload's status (1 when a call failed or a target was
# missed).
#
# Usage: scripts/load-streams.sh [STREAMS] [HOLD] [RATE] [STALL]   (defaults 500 60 50 1)
# Environment as scripts/load-bridged.sh: OUT, SIP_PORT, HTTP_PORT,
# APP_PORT, PPROF_PORT, RTP_PORTS, SHARDS, TOOL_NICE (default 10 here: the
# load tool and the echo app stand in for the phones and the app's
# servers, and take the cores only when texml leaves them; arrival times
# are kernel timestamps either way), TEXML_NICE (texml under `nice -n`,
# default 0), PROFILE=SECONDS (a CPU profile of texml once every call is
# up, into $OUT/cpu.pprof), TEXML_BIN; and WS_PORT, wsecho's;
# TEXML_CPUS and TOOL_CPUS (CPU lists for `taskset -c`, default none):
# issue 9's target is texml on 2 cores, and on a machine with more, e.g.
# TEXML_CPUS=0,1 TOOL_CPUS=2-5 keeps the load tool's and the echo app's
# work (which a real app does elsewhere) off texml's cores.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

STREAMS=${1:-500}
HOLD=${2:-60}
RATE=${3:-50}
STALL=${4:-1}
SIP_PORT=${SIP_PORT:-15460}
HTTP_PORT=${HTTP_PORT:-18481}
APP_PORT=${APP_PORT:-18480}
WS_PORT=${WS_PORT:-18490}
PPROF_PORT=${PPROF_PORT:-16460}
RTP_PORTS=${RTP_PORTS:-30000-50000}
SHARDS=${SHARDS:-2}
TOOL_NICE=${TOOL_NICE:-10}
TEXML_NICE=${TEXML_NICE:-0}
PROFILE=${PROFILE:-0}
TEXML_CPUS=${TEXML_CPUS:-}
TOOL_CPUS=${TOOL_CPUS:-}
IP=127.0.0.1

if ((STREAMS < 2 || STREAMS > 5000 || HOLD < 1 || HOLD > 600 || RATE < 1 || RATE > 1000 || STALL < 0 || STALL >= STREAMS)); then
	echo "load-streams: STREAMS 2..5000, HOLD 1..600 s, RATE 1..1000, STALL 0..STREAMS-1" >&2
	exit 2
fi
if ((PROFILE < 0 || PROFILE > HOLD)); then
	echo "load-streams: PROFILE must be 0..HOLD seconds" >&2
	exit 2
fi
# texml holds a socket for the call's RTP and one for its stream, wsecho
# one per stream, rtpload a few in all.
load_prepare load-streams $((4 * STREAMS + 200))

PIN_TEXML=() PIN_TOOL=()
if [[ -n $TEXML_CPUS ]]; then
	PIN_TEXML=(taskset -c "$TEXML_CPUS")
fi
if [[ -n $TOOL_CPUS ]]; then
	PIN_TOOL=(taskset -c "$TOOL_CPUS")
fi

echo "== building (output in $OUT)"
load_build
go build -o bin/wsecho ./tools/wsecho

RAMP=$(((STREAMS + RATE - 1) / RATE + 1))
# No stall until /reset says how many: the warm-up call needs its echo.
"${PIN_TOOL[@]}" nice -n "$TOOL_NICE" bin/wsecho -listen "$IP:$WS_PORT" -stall 0 >"$OUT/wsecho.out" 2>"$OUT/wsecho.err" &
pids+=($!)
WSECHO_PID=$!
bin/loadapp -listen "$IP:$APP_PORT" \
	-twiml "<Response><Connect><Stream url=\"ws://$IP:$WS_PORT/echo\"/></Connect></Response>" \
	>"$OUT/loadapp.out" 2>"$OUT/loadapp.err" &
pids+=($!)

PPROF=()
if ((PROFILE > 0)); then
	PPROF=(--pprof "$IP:$PPROF_PORT")
fi
# A loopback stream URL needs no --fetch-any-address: only link-local
# and cloud metadata addresses are refused by default.
"${PIN_TEXML[@]}" nice -n "$TEXML_NICE" "$TEXML_BIN" serve --sip-listen "$IP:$SIP_PORT" --http-listen "$IP:$HTTP_PORT" \
	--rtp-ports "$RTP_PORTS" --voice-url "http://$IP:$APP_PORT/app" --voice-method POST \
	--stt none --recordings-dir "$OUT/recordings" "${PPROF[@]}" \
	>"$OUT/texml.out" 2>"$OUT/texml.log" &
pids+=($!)
TEXML_PID=$!

wait_ready load-streams
for _ in $(seq 50); do
	grep -q ready "$OUT/wsecho.out" 2>/dev/null && break
	sleep 0.1
done
if ! grep -q ready "$OUT/wsecho.out"; then
	echo "load-streams: wsecho did not start" >&2
	cat "$OUT/wsecho.err" >&2
	exit 1
fi

wsecho_get() {
	python3 -c "import urllib.request; print(urllib.request.urlopen('http://$IP:$WS_PORT/$1', timeout=5).read().decode(), end='')"
}

# One echoed call first: it warms up what every later one reuses (the
# HTTP connection to the app, the stream code paths) and shows the echo
# works. /reset then makes wsecho's next STALL connections, the first
# measured calls', stall.
bin/rtpload -target "$IP:$SIP_PORT" -echo -poll -calls 1 -rate 1 -hold 2s -settle 1s \
	>"$OUT/warmup.out" 2>&1 || true
if ! grep -q '^== rtpload: 1 calls, 1 answered, 0 failed' "$OUT/warmup.out" ||
	! grep -q ' 1 calls heard theirs, 0 heard none' "$OUT/warmup.out"; then
	echo "load-streams: warm-up call failed" >&2
	cat "$OUT/warmup.out" "$OUT/wsecho.err" >&2
	exit 1
fi
wsecho_get "reset?stall=$STALL" >/dev/null
sleep 2

if ((PROFILE > 0)); then
	profile_later $((RAMP + 5)) "$PROFILE"
fi

echo "== rtpload: $STREAMS echoed streams ($STALL stalled) at $RATE/s, each held ${HOLD}s (rtpload and wsecho at nice $TOOL_NICE${TOOL_CPUS:+ on CPUs $TOOL_CPUS}${TEXML_CPUS:+, texml on CPUs $TEXML_CPUS})"
loadavg | tee "$OUT/loadavg.before"
# The load average once every call is up, in the middle of the hold.
(sleep $((RAMP + HOLD / 2)) && loadavg >"$OUT/loadavg.during") &
pids+=($!)
# The stream sockets (to and from wsecho's port) every 5 s while calls
# are up: what texml could not send yet, what wsecho has not read.
(
	for _ in $(seq $(((RAMP + HOLD) / 5 + 1))); do
		t=$(date +%s)
		ss -tnH state established "( dport = :$WS_PORT or sport = :$WS_PORT )" 2>/dev/null | sed "s/^/$t /"
		sleep 5
	done >"$OUT/ss.log"
) &
pids+=($!)
# wsecho's CPU time (utime + stime, in clock ticks): the app's work is
# not texml's, but it shares the cores here.
wsecho_cpu() { awk '{print $14 + $15}' "/proc/$WSECHO_PID/stat" 2>/dev/null || echo 0; }
WS_CPU0=$(wsecho_cpu)
WS_T0=$(date +%s.%N)
RC=0
"${PIN_TOOL[@]}" nice -n "$TOOL_NICE" bin/rtpload -target "$IP:$SIP_PORT" -echo -stalled "$STALL" -poll -shards "$SHARDS" \
	-calls "$STREAMS" -rate "$RATE" -hold "${HOLD}s" \
	-pid "$TEXML_PID" -metrics "http://$IP:$HTTP_PORT/metrics" \
	-deadline "$((RAMP + HOLD + 120))s" | tee "$OUT/rtpload.out" || RC=$?
echo "during: $(cat "$OUT/loadavg.during" 2>/dev/null)"
loadavg | tee "$OUT/loadavg.after"

WS_CPU1=$(wsecho_cpu)
python3 -c "import sys; c, t = (int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3]), float(sys.argv[5]) - float(sys.argv[4]); print(f'wsecho CPU over the run: {c:.1f} s = {100 * c / t:.0f}% of one core')" \
	"$WS_CPU0" "$WS_CPU1" "$(getconf CLK_TCK)" "$WS_T0" "$(date +%s.%N)" || true
wsecho_get stats | tee "$OUT/wsecho.stats" || true
if [[ -s $OUT/ss.log ]]; then
	# Lines: the time, then ss -tnH's Recv-Q Send-Q local peer; wsecho's
	# end of a connection has its port as the local one.
	awk -v app=":$WS_PORT" '
		index($4, app) == length($4) - length(app) + 1 { r[$1] += $2; if ($2 > rm) rm = $2; next }
		{ s[$1] += $3; if ($3 > m) m = $3 }
		END {
			for (t in s) if (s[t] > sm) sm = s[t]
			for (t in r) if (r[t] > rr) rr = r[t]
			printf "stream sockets, every 5 s: texml'"'"'s unsent (Send-Q) at most %d bytes in all, %d in one; wsecho'"'"'s unread (Recv-Q) at most %d in all, %d in one\n", sm, m, rr, rm
		}' "$OUT/ss.log"
fi
metrics_scrape "$OUT/metrics.txt"
rtp_log_summary "$OUT/texml.log"
# texml warns when a stream dropped frames for an app that did not keep
# up (the stalled ones should); its other warnings and errors (a stream
# that failed) by message, sids and ports left out.
python3 - "$OUT/texml.log" <<'PY'
import json, re, sys
drops, dropped, sent, problems = 0, 0, 0, {}
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    msg = str(m.get("msg", ""))
    if "did not keep up" in msg:
        drops += 1
        dropped += int(m.get("dropped", 0))
        sent += int(m.get("sent", 0))
    elif m.get("level") in ("WARN", "ERROR"):
        k = re.sub(r"MZ[0-9a-f]+|CA[0-9a-f]+|:\d+", "…", msg)[:160]
        problems[k] = problems.get(k, 0) + 1
print(f"texml's log: {drops} streams dropped frames for their app ({dropped} dropped, {sent} sent); other warnings and errors:")
for k, n in sorted(problems.items(), key=lambda x: -x[1])[:10]:
    print(f"   {n}× {k}")
PY
pacer_summary "$OUT/metrics.txt"
grep -E '^texml_(calls_total|rtp_packets_[a-z]+_total) ' "$OUT/metrics.txt" || true
[[ -s $OUT/cpu.pprof ]] && echo "CPU profile: $OUT/cpu.pprof (go tool pprof -top $TEXML_BIN $OUT/cpu.pprof)"
exit "$RC"
