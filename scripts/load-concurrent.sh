#!/usr/bin/env bash
# load-concurrent.sh — many simultaneous calls playing a long WAV
# (issue 3 §8, concurrency).
#
# Builds texml, tools/loadapp and tools/rtpload; starts, on loopback only,
# the load app (serving <Play>tone.wav</Play> and a generated WAV longer
# than any call) and `texml serve`; then runs rtpload, which places CALLS
# calls at RATE calls/s, keeps each HOLD seconds, receives every call's
# RTP and reports gaps, missing packets and texml's RSS (see
# tools/rtpload/main.go). Adds texml's own count of RTP send errors from
# its log, then stops everything. Exits with rtpload's status (1 when a
# call failed or a target was missed).
#
# Usage: scripts/load-concurrent.sh [CALLS] [HOLD] [RATE]   (defaults 1000 60 50)
# Environment: SEND_RTP=1 makes every call send silence to texml too
# (full-duplex media, and texml's RTP inactivity timeout stays at its
# default); OUT, SIP_PORT, HTTP_PORT, APP_PORT, RTP_PORTS, TEXML_BIN (a
# texml binary to measure instead of building bin/texml).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CALLS=${1:-1000}
HOLD=${2:-60}
RATE=${3:-50}
SIP_PORT=${SIP_PORT:-15060}
HTTP_PORT=${HTTP_PORT:-18081}
APP_PORT=${APP_PORT:-18080}
RTP_PORTS=${RTP_PORTS:-30000-50000}
SEND_RTP=${SEND_RTP:-0}
IP=127.0.0.1

if ((CALLS < 1 || CALLS > 5000 || HOLD < 1 || HOLD > 600 || RATE < 1 || RATE > 1000)); then
	echo "load-concurrent: CALLS 1..5000, HOLD 1..600 s, RATE 1..1000" >&2
	exit 2
fi
load_prepare load-concurrent $((2 * CALLS + 200))

echo "== building (output in $OUT)"
load_build

# The WAV outlasts every call, so that texml never runs out of audio:
# each call plays it from the start for HOLD seconds.
RAMP=$(((CALLS + RATE - 1) / RATE))
WAV_SECONDS=$((HOLD + 30))
bin/loadapp -listen "$IP:$APP_PORT" -wav-seconds "$WAV_SECONDS" \
	-twiml "<Response><Play>http://$IP:$APP_PORT/tone.wav</Play><Hangup/></Response>" \
	>"$OUT/loadapp.out" 2>"$OUT/loadapp.err" &
pids+=($!)

RTP_TIMEOUT=()
RTPLOAD_SEND=()
if [[ $SEND_RTP == 1 ]]; then
	RTPLOAD_SEND=(-send-rtp)
else
	# The calls only listen: keep texml's RTP inactivity timeout (60 s by
	# default) from hanging them up.
	RTP_TIMEOUT=(--rtp-timeout "$((HOLD + RAMP + 120))s")
fi
"$TEXML_BIN" serve --sip-listen "$IP:$SIP_PORT" --http-listen "$IP:$HTTP_PORT" \
	--rtp-ports "$RTP_PORTS" --voice-url "http://$IP:$APP_PORT/app" --voice-method POST \
	--stt none --recordings-dir "$OUT/recordings" "${RTP_TIMEOUT[@]}" \
	>"$OUT/texml.out" 2>"$OUT/texml.log" &
pids+=($!)
TEXML_PID=$!

wait_ready load-concurrent

# One short call first, so that the WAV is fetched and decoded (cached)
# before the measured run and the idle RSS includes it.
bin/rtpload -target "$IP:$SIP_PORT" -calls 1 -rate 1 -hold 2s -settle 1s >"$OUT/warmup.out" 2>&1 || {
	echo "load-concurrent: warm-up call failed" >&2
	cat "$OUT/warmup.out" >&2
	exit 1
}
sleep 2

echo "== rtpload: $CALLS calls at $RATE/s, each held ${HOLD}s (send RTP: $SEND_RTP)"
RC=0
bin/rtpload -target "$IP:$SIP_PORT" -calls "$CALLS" -rate "$RATE" -hold "${HOLD}s" \
	-pid "$TEXML_PID" -metrics "http://$IP:$HTTP_PORT/metrics" "${RTPLOAD_SEND[@]}" \
	-deadline "$((RAMP + HOLD + 120))s" | tee "$OUT/rtpload.out" || RC=$?

python3 -c "import urllib.request; print(urllib.request.urlopen('http://$IP:$HTTP_PORT/metrics', timeout=5).read().decode())" \
	>"$OUT/metrics.txt" 2>/dev/null || true
# texml logs each call's RTP counters when it ends; SendErrors are packets
# its socket refused (a sender-side drop the receiver cannot tell apart).
python3 - "$OUT/texml.log" <<'EOF'
import json, sys
calls = sent = errs = 0
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("msg") == "call finished" and isinstance(m.get("rtp"), dict):
        calls += 1
        sent += m["rtp"].get("Sent", 0)
        errs += m["rtp"].get("SendErrors", 0)
print(f"texml's log: {calls} calls finished, {sent} RTP packets sent, {errs} send errors")
EOF
grep -E '^texml_(calls_total|invites_rejected_total|rtp_packets_sent_total)' "$OUT/metrics.txt" || true
exit "$RC"
