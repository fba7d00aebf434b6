#!/usr/bin/env bash
# load-conference.sh — many conference rooms at once (issue 7 §7): every
# call is a <Dial><Conference beep="false" waitUrl="">room-K</Conference>
# </Dial>, MEMBERS calls a room, and every member sends and receives RTP.
#
# Builds texml, tools/loadapp and tools/rtpload; starts, on loopback only,
# the load app (-conference: the room is the call's To user, room-K) and
# `texml serve`; then runs rtpload -conference MEMBERS: it places
# ROOMS × MEMBERS calls at RATE calls/s (call i calls room-(i / MEMBERS)),
# each held HOLD seconds, every member sending marked 20 ms µ-law packets.
# Each member hears the mix of the others, so what it receives cannot be
# traced back to a sender: rtpload measures, per member, the gaps between
# texml's packets (kernel arrival timestamps) and texml's sequence
# numbers that never arrived or packet times it skipped ("lost"); it
# prints every member's gap p99 (median, p90 and worst member), the loss,
# texml's CPU per member while every call was up and (peak − idle RSS)
# per member. Exits with rtpload's status (1 when a call failed or a
# target — gap p99 ≤ 25 ms for every member, 0 lost — was missed).
#
# Usage: scripts/load-conference.sh [ROOMS] [MEMBERS] [HOLD] [RATE]   (defaults 100 10 80 50)
# With the defaults the ramp takes 20 s and every call is up for the 60 s
# after it. Environment as scripts/load-bridged.sh: OUT, SIP_PORT,
# HTTP_PORT, APP_PORT, PPROF_PORT, RTP_PORTS, SHARDS, TOOL_NICE (default
# 10 here), TEXML_NICE (texml under `nice -n`, default 0; negative, root
# only, shows what CPU contention costs), PROFILE=SECONDS (a CPU profile of texml once every call is
# up, into $OUT/cpu.pprof), TEXML_BIN.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROOMS=${1:-100}
MEMBERS=${2:-10}
HOLD=${3:-80}
RATE=${4:-50}
SIP_PORT=${SIP_PORT:-15360}
HTTP_PORT=${HTTP_PORT:-18381}
APP_PORT=${APP_PORT:-18380}
PPROF_PORT=${PPROF_PORT:-16360}
RTP_PORTS=${RTP_PORTS:-30000-50000}
SHARDS=${SHARDS:-2}
TOOL_NICE=${TOOL_NICE:-10}
TEXML_NICE=${TEXML_NICE:-0}
PROFILE=${PROFILE:-0}
IP=127.0.0.1
CALLS=$((ROOMS * MEMBERS))

if ((ROOMS < 1 || MEMBERS < 2 || MEMBERS > 250 || CALLS > 5000 || HOLD < 1 || HOLD > 600 || RATE < 1 || RATE > 1000)); then
	echo "load-conference: ROOMS ≥ 1, MEMBERS 2..250, ROOMS × MEMBERS ≤ 5000, HOLD 1..600 s, RATE 1..1000" >&2
	exit 2
fi
if ((PROFILE < 0 || PROFILE > HOLD)); then
	echo "load-conference: PROFILE must be 0..HOLD seconds" >&2
	exit 2
fi
load_prepare load-conference $((2 * CALLS + 200))

echo "== building (output in $OUT)"
load_build

RAMP=$(((CALLS + RATE - 1) / RATE))
bin/loadapp -listen "$IP:$APP_PORT" -conference "$MEMBERS" >"$OUT/loadapp.out" 2>"$OUT/loadapp.err" &
pids+=($!)

PPROF=()
if ((PROFILE > 0)); then
	PPROF=(--pprof "$IP:$PPROF_PORT")
fi
nice -n "$TEXML_NICE" "$TEXML_BIN" serve --sip-listen "$IP:$SIP_PORT" --http-listen "$IP:$HTTP_PORT" \
	--rtp-ports "$RTP_PORTS" --voice-url "http://$IP:$APP_PORT/app" --voice-method POST \
	--stt none --recordings-dir "$OUT/recordings" "${PPROF[@]}" \
	>"$OUT/texml.out" 2>"$OUT/texml.log" &
pids+=($!)
TEXML_PID=$!

wait_ready load-conference

# One room of two first (room-0, gone before the measured calls come):
# it warms up the app's HTTP connection and the mixer's code paths.
bin/rtpload -target "$IP:$SIP_PORT" -conference 2 -send-rtp -poll -calls 2 -rate 10 -hold 2s -settle 1s \
	>"$OUT/warmup.out" 2>&1 || true
if ! grep -q '^== rtpload: 2 calls, 2 answered, 0 failed' "$OUT/warmup.out"; then
	echo "load-conference: warm-up room failed" >&2
	cat "$OUT/warmup.out" >&2
	exit 1
fi
sleep 2

if ((PROFILE > 0)); then
	profile_later $((RAMP + 5)) "$PROFILE"
fi

echo "== rtpload: $ROOMS rooms × $MEMBERS members ($CALLS calls) at $RATE/s, each held ${HOLD}s (rtpload at nice $TOOL_NICE)"
loadavg | tee "$OUT/loadavg.before"
# The load average once every call is up, in the middle of the hold.
(sleep $((RAMP + HOLD / 2)) && loadavg >"$OUT/loadavg.during") &
pids+=($!)
RC=0
nice -n "$TOOL_NICE" bin/rtpload -target "$IP:$SIP_PORT" -conference "$MEMBERS" -send-rtp -poll -shards "$SHARDS" \
	-calls "$CALLS" -rate "$RATE" -hold "${HOLD}s" \
	-pid "$TEXML_PID" -metrics "http://$IP:$HTTP_PORT/metrics" \
	-deadline "$((RAMP + HOLD + 120))s" | tee "$OUT/rtpload.out" || RC=$?
echo "during: $(cat "$OUT/loadavg.during" 2>/dev/null)"
loadavg | tee "$OUT/loadavg.after"

metrics_scrape "$OUT/metrics.txt"
rtp_log_summary "$OUT/texml.log"
pacer_summary "$OUT/metrics.txt"
grep -E '^texml_(calls_total|rtp_packets_[a-z]+_total) ' "$OUT/metrics.txt" || true
[[ -s $OUT/cpu.pprof ]] && echo "CPU profile: $OUT/cpu.pprof (go tool pprof -top $TEXML_BIN $OUT/cpu.pprof)"
exit "$RC"
