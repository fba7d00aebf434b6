#!/usr/bin/env bash
# load-queue-wait.sh — many callers waiting in one queue with a waitUrl
# document (issue 7 §7).
#
# Builds texml, tools/loadapp and tools/rtpload; starts, on loopback only,
# the load app (-queue support -wait-twiml: every call gets
# <Enqueue waitUrl="http://…/wait">support</Enqueue>, and /wait serves
# <Response><Play>http://…/tone.wav?seconds=WAIT</Play></Response>) and
# `texml serve`; then rtpload places CALLERS calls at RATE calls/s, each
# held HOLD seconds, sending and receiving RTP. No agent ever comes, so
# every caller hears the wait document again and again: texml requests
# the waitUrl each time the document ends (Twilio's Enqueue page), with
# the queue's parameters. The app counts the requests per caller with
# their times: the re-requests per caller per minute should be
# 60 / (WAIT + the fetch). rtpload reports the gaps of the wait music and
# (peak − idle RSS) per waiting caller; texml's CPU while all wait.
#
# Usage: scripts/load-queue-wait.sh [CALLERS] [HOLD] [RATE] [WAIT]   (defaults 1000 80 50 10)
# CALLERS ≤ 1000 (a queue's default maxQueueSize). Environment: REDIS=1
# (texml --redis-url against a redis-server of its own on a free port,
# never 6379), OUT, SIP_PORT, HTTP_PORT, APP_PORT, PPROF_PORT, RTP_PORTS,
# TOOL_NICE (default 10), TEXML_NICE (texml under `nice -n`, default 0),
# PROFILE=SECONDS (a CPU profile of texml once
# every caller waits), TEXML_BIN. Exits with rtpload's status.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CALLERS=${1:-1000}
HOLD=${2:-80}
RATE=${3:-50}
WAIT=${4:-10}
SIP_PORT=${SIP_PORT:-15560}
HTTP_PORT=${HTTP_PORT:-18581}
APP_PORT=${APP_PORT:-18580}
PPROF_PORT=${PPROF_PORT:-16560}
RTP_PORTS=${RTP_PORTS:-30000-50000}
TOOL_NICE=${TOOL_NICE:-10}
TEXML_NICE=${TEXML_NICE:-0}
REDIS=${REDIS:-0}
PROFILE=${PROFILE:-0}
IP=127.0.0.1

if ((CALLERS < 1 || CALLERS > 1000 || HOLD < 1 || HOLD > 600 || RATE < 1 || RATE > 1000 || WAIT < 1 || WAIT > 600)); then
	echo "load-queue-wait: CALLERS 1..1000, HOLD 1..600 s, RATE 1..1000, WAIT 1..600 s" >&2
	exit 2
fi
if ((PROFILE < 0 || PROFILE > HOLD)); then
	echo "load-queue-wait: PROFILE must be 0..HOLD seconds" >&2
	exit 2
fi
load_prepare load-queue-wait $((2 * CALLERS + 200))

echo "== building (output in $OUT)"
load_build

STORE=()
if ((REDIS)); then
	start_redis
	STORE=(--redis-url "redis://$IP:$REDIS_PORT/0")
	echo "redis-server on $IP:$REDIS_PORT"
fi
PPROF=()
if ((PROFILE > 0)); then
	PPROF=(--pprof "$IP:$PPROF_PORT")
fi

RAMP=$(((CALLERS + RATE - 1) / RATE))
WAIT_DOC="<Response><Play>http://$IP:$APP_PORT/tone.wav?seconds=$WAIT</Play></Response>"
bin/loadapp -listen "$IP:$APP_PORT" -queue support -wait-twiml "$WAIT_DOC" >"$OUT/loadapp.out" 2>"$OUT/loadapp.err" &
pids+=($!)
nice -n "$TEXML_NICE" "$TEXML_BIN" serve --sip-listen "$IP:$SIP_PORT" --http-listen "$IP:$HTTP_PORT" \
	--rtp-ports "$RTP_PORTS" --voice-url "http://$IP:$APP_PORT/app" --voice-method POST \
	--stt none --recordings-dir "$OUT/recordings" "${STORE[@]}" "${PPROF[@]}" \
	>"$OUT/texml.out" 2>"$OUT/texml.log" &
pids+=($!)
TEXML_PID=$!

wait_ready load-queue-wait

# One caller first: it caches the wait music and warms up the app's
# HTTP connection; then the app forgets its counts.
bin/rtpload -target "$IP:$SIP_PORT" -user caller -send-rtp -poll -calls 1 -rate 1 -hold 2s -settle 1s \
	>"$OUT/warmup.out" 2>&1 || true
if ! grep -q '^== rtpload: 1 calls, 1 answered, 0 failed' "$OUT/warmup.out"; then
	echo "load-queue-wait: warm-up call failed" >&2
	cat "$OUT/warmup.out" >&2
	exit 1
fi
sleep 2
python3 -c "import urllib.request; urllib.request.urlopen('http://$IP:$APP_PORT/reset', timeout=5).read()"

if ((PROFILE > 0)); then
	profile_later $((RAMP + 5)) "$PROFILE"
fi

echo "== rtpload: $CALLERS callers waiting in one queue, placed at $RATE/s, each held ${HOLD}s; wait document: $WAIT_DOC (rtpload at nice $TOOL_NICE)"
loadavg | tee "$OUT/loadavg.before"
(sleep $((RAMP + HOLD / 2)) && loadavg >"$OUT/loadavg.during") &
pids+=($!)
RC=0
nice -n "$TOOL_NICE" bin/rtpload -target "$IP:$SIP_PORT" -user caller -send-rtp -poll \
	-calls "$CALLERS" -rate "$RATE" -hold "${HOLD}s" \
	-pid "$TEXML_PID" -metrics "http://$IP:$HTTP_PORT/metrics" | tee "$OUT/rtpload.out" || RC=$?
echo "during: $(cat "$OUT/loadavg.during" 2>/dev/null)"
loadavg | tee "$OUT/loadavg.after"

echo "== the app's count of waitUrl requests (one run of the wait document lasts ${WAIT}s: expect about $(python3 -c "print(round(60 / $WAIT, 2))") re-requests per caller per minute, a little fewer for the fetch)"
python3 -c "import urllib.request; print(urllib.request.urlopen('http://$IP:$APP_PORT/stats', timeout=5).read().decode(), end='')" |
	tee "$OUT/app-stats.txt"
metrics_scrape "$OUT/metrics.txt"
rtp_log_summary "$OUT/texml.log"
pacer_summary "$OUT/metrics.txt"
[[ -s $OUT/cpu.pprof ]] && echo "CPU profile: $OUT/cpu.pprof (go tool pprof -top $TEXML_BIN $OUT/cpu.pprof)"
exit "$RC"
