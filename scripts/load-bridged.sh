#!/usr/bin/env bash
# load-bridged.sh — many bridged calls at once: every call is a <Dial> that
# texml bridges between two SIP legs, with RTP both ways.
#
# Builds texml, tools/loadapp and tools/rtpload; starts, on loopback only,
# the load app (serving <Response><Dial><Sip>sip:callee@127.0.0.1:CALLEE_PORT
# </Sip></Dial></Response>) and `texml serve`; then runs rtpload as both
# ends: the callers (CALLS calls placed at RATE calls/s, each held HOLD
# seconds, then hung up with BYE) and, with -callee, the callees that
# answer texml's outbound INVITEs. Every leg sends 20 ms µ-law packets
# whose payload carries a mark (leg id, packet count) and measures what
# arrives: per direction, the gaps between packets timed by the kernel,
# the sequence numbers texml sent that never arrived, the other side's
# packets that never came out of texml, texml's RSS per leg and both
# processes' CPU (see tools/rtpload). Exits with rtpload's status (1 when
# a call failed or a target was missed).
#
# Usage: scripts/load-bridged.sh [CALLS] [HOLD] [RATE]   (defaults 1000 60 50)
# Environment: OUT (logs, metrics and profiles; default a temp dir),
# SIP_PORT, HTTP_PORT, APP_PORT, CALLEE_PORT, RTP_PORTS, SHARDS (rtpload's
# sending goroutines), TOOL_NICE (run rtpload under `nice -n TOOL_NICE`,
# default 0: the load tool stands in for the phones and the network, and
# with a higher nice value it takes the cores only when texml leaves
# them; its packets' arrival times stay kernel timestamps either way), PROFILE=SECONDS (also take a CPU profile of texml
# over that many seconds once every call is up, into $OUT/cpu.pprof, via
# texml's --pprof on PPROF_PORT), TEXML_BIN (a texml binary to measure
# instead of building bin/texml), TEXML_ARGS (more `texml serve` flags,
# e.g. "--pacer-shards 4"), TEXML_CPUS and TOOL_CPUS (CPU lists for
# `taskset -c`: e.g. TEXML_CPUS=0 TOOL_CPUS=1 gives texml one core of its
# own and the load tool the other, so the tool's bursts do not take
# texml's CPU; texml then runs with GOMAXPROCS 1).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CALLS=${1:-1000}
HOLD=${2:-60}
RATE=${3:-50}
SIP_PORT=${SIP_PORT:-15060}
HTTP_PORT=${HTTP_PORT:-18081}
APP_PORT=${APP_PORT:-18080}
CALLEE_PORT=${CALLEE_PORT:-25070}
PPROF_PORT=${PPROF_PORT:-16060}
RTP_PORTS=${RTP_PORTS:-30000-50000}
SHARDS=${SHARDS:-2}
TOOL_NICE=${TOOL_NICE:-0}
PROFILE=${PROFILE:-0}
IP=127.0.0.1

if ((CALLS < 1 || CALLS > 5000 || HOLD < 1 || HOLD > 600 || RATE < 1 || RATE > 1000)); then
	echo "load-bridged: CALLS 1..5000, HOLD 1..600 s, RATE 1..1000" >&2
	exit 2
fi
if ((PROFILE < 0 || PROFILE > HOLD)); then
	echo "load-bridged: PROFILE must be 0..HOLD seconds" >&2
	exit 2
fi
load_prepare load-bridged $((4 * CALLS + 200))

echo "== building (output in $OUT)"
load_build

RAMP=$(((CALLS + RATE - 1) / RATE))
bin/loadapp -listen "$IP:$APP_PORT" -dial "sip:callee@$IP:$CALLEE_PORT" \
	>"$OUT/loadapp.out" 2>"$OUT/loadapp.err" &
pids+=($!)

PIN_TEXML=() PIN_TOOL=()
[[ -n ${TEXML_CPUS:-} ]] && PIN_TEXML=(taskset -c "$TEXML_CPUS")
[[ -n ${TOOL_CPUS:-} ]] && PIN_TOOL=(taskset -c "$TOOL_CPUS")
PPROF=()
if ((PROFILE > 0)); then
	PPROF=(--pprof "$IP:$PPROF_PORT")
fi
"${PIN_TEXML[@]}" "$TEXML_BIN" serve --sip-listen "$IP:$SIP_PORT" --http-listen "$IP:$HTTP_PORT" \
	--rtp-ports "$RTP_PORTS" --voice-url "http://$IP:$APP_PORT/app" --voice-method POST \
	--stt none --recordings-dir "$OUT/recordings" "${PPROF[@]}" ${TEXML_ARGS:-} \
	>"$OUT/texml.out" 2>"$OUT/texml.log" &
pids+=($!)
TEXML_PID=$!

wait_ready load-bridged

# One bridged call first: the first Dial warms up what every later one
# reuses (the HTTP connection to the app, the outbound SIP transport).
# Only the call has to work here, not the targets.
bin/rtpload -target "$IP:$SIP_PORT" -callee "$IP:$CALLEE_PORT" -poll -calls 1 -rate 1 -hold 2s -settle 1s \
	>"$OUT/warmup.out" 2>&1 || true
if ! grep -q '^callee legs: 1 answered and ended, 0 failed' "$OUT/warmup.out"; then
	echo "load-bridged: warm-up call failed" >&2
	cat "$OUT/warmup.out" >&2
	exit 1
fi
sleep 2

if ((PROFILE > 0)); then
	# Once every call is up (the ramp, plus 5 s), a CPU profile of
	# PROFILE seconds; the request ends by itself.
	(
		sleep $((RAMP + 5))
		python3 -c "import urllib.request; open('$OUT/cpu.pprof', 'wb').write(urllib.request.urlopen('http://$IP:$PPROF_PORT/debug/pprof/profile?seconds=$PROFILE', timeout=$PROFILE + 30).read())" ||
			echo "load-bridged: the CPU profile failed" >&2
	) &
	pids+=($!)
fi

echo "== rtpload: $CALLS bridged calls ($((2 * CALLS)) legs) at $RATE/s, each held ${HOLD}s (rtpload at nice $TOOL_NICE)"
RC=0
"${PIN_TOOL[@]}" nice -n "$TOOL_NICE" bin/rtpload -target "$IP:$SIP_PORT" -callee "$IP:$CALLEE_PORT" -poll -shards "$SHARDS" \
	-calls "$CALLS" -rate "$RATE" -hold "${HOLD}s" \
	-pid "$TEXML_PID" -metrics "http://$IP:$HTTP_PORT/metrics" \
	-deadline "$((RAMP + HOLD + 120))s" | tee "$OUT/rtpload.out" || RC=$?

metrics_scrape "$OUT/metrics.txt"
# texml logs each leg's RTP counters when it ends.
rtp_log_summary "$OUT/texml.log"
grep -E '^texml_(calls_total|invites_rejected_total|rtp_packets_[a-z]+_total) ' "$OUT/metrics.txt" || true
# The pacer's shards over the whole run: how late they woke, how long a
# tick of their sessions took (cumulative shares by bucket).
python3 - "$OUT/metrics.txt" <<'EOF'
import re, sys
hist = {}
for line in open(sys.argv[1]):
    m = re.match(r'texml_rtp_pacer_(\w+)_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
    if m:
        hist.setdefault(m[1], []).append((float(m[2]), float(m[3])))
for name, b in hist.items():
    total = b[-1][1] or 1
    print(f"pacer {name.replace('_', ' ')} ({int(total)} ticks): " +
          ", ".join(f"≤{le * 1000:g} ms {100 * c / total:.1f}%" for le, c in b if le != float("inf")))
EOF
[[ -s $OUT/cpu.pprof ]] && echo "CPU profile: $OUT/cpu.pprof (go tool pprof -top $TEXML_BIN $OUT/cpu.pprof)"
exit "$RC"
