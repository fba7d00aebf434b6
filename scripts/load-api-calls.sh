#!/usr/bin/env bash
# load-api-calls.sh — call creation through the REST API (issue 8 §6):
# POST …/Calls.json at RATE calls/s for DURATION seconds, each call to a
# SIPp callee that answers; each call's Twiml pauses HOLD seconds, then
# ends (texml's BYE).
#
# Starts, on loopback only: `texml serve` with API credentials, SIPp as
# the callee (UAS, fixtures/sipp/callee_answer.xml: 180, 200 with SDP,
# waits for texml's BYE), then tools/apiload, which creates the calls on
# a fixed schedule (not waiting for answers), records how the API
# answered and how long it took, waits for every call to end and counts
# the calls' final statuses through the API's list. Prints those, the
# callee's counters, texml's RSS and CPU time. Exits non-zero unless every
# request was answered 201 and every call completed.
#
# Then READS (default 2000) list requests (a random page of 50 of the
# account's calls) and as many fetches of one call, one at a time: their
# p50/p99 with the run's calls in the store.
#
# Usage: scripts/load-api-calls.sh [RATE] [DURATION]   (defaults 300 30)
# Environment: HOLD (seconds each call lasts after the answer, default 1),
# REDIS=1 (texml keeps its state, call records too, in a redis-server of
# its own on a free port), READS, PPROF_PORT (serve net/http/pprof there
# and save a heap profile at the end of the creation phase), OUT, SIP_PORT, HTTP_PORT, CALLEE_PORT, CALLEE_MEDIA_PORT, RTP_PORTS,
# TEXML_BIN.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RATE=${1:-300}
DURATION=${2:-30}
HOLD=${HOLD:-1}
SIP_PORT=${SIP_PORT:-15560}
HTTP_PORT=${HTTP_PORT:-18581}
CALLEE_PORT=${CALLEE_PORT:-25570}
CALLEE_MEDIA_PORT=${CALLEE_MEDIA_PORT:-27500}
RTP_PORTS=${RTP_PORTS:-30000-50000}
IP=127.0.0.1
ACCOUNT=AC0123456789abcdef0123456789abcdef
TOKEN=load-secret

if ((RATE < 1 || RATE > 5000 || DURATION < 1 || DURATION > 600 || HOLD < 0 || HOLD > 600)); then
	echo "load-api-calls: RATE 1..5000, DURATION 1..600 s, HOLD 0..600 s" >&2
	exit 2
fi
command -v sipp >/dev/null || { echo "load-api-calls: sipp is not installed" >&2; exit 2; }
load_prepare load-api-calls $((8 * RATE * (HOLD + 2) + 500))

echo "== building (output in $OUT)"
load_build
go build -o bin/apiload ./tools/apiload

cpu_seconds() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}
rss_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

STORE=()
if [[ ${REDIS:-0} == 1 ]]; then
	start_redis
	STORE=(--redis-url "redis://$IP:$REDIS_PORT/0")
	echo "redis-server on $IP:$REDIS_PORT"
fi
PPROF=()
[[ -n ${PPROF_PORT:-} ]] && PPROF=(--pprof "$IP:$PPROF_PORT")
"$TEXML_BIN" serve "${STORE[@]}" "${PPROF[@]}" --sip-listen "$IP:$SIP_PORT" --http-listen "$IP:$HTTP_PORT" --rtp-ports "$RTP_PORTS" \
	--account-sid "$ACCOUNT" --auth-token "$TOKEN" --voice-url "file://$ROOT/fixtures/apps/hello.xml" \
	--stt none --recordings-dir "$OUT/recordings" >"$OUT/texml.out" 2>"$OUT/texml.log" &
pids+=($!)
TEXML_PID=$!
for _ in $(seq 100); do
	python3 -c "import urllib.request; urllib.request.urlopen('http://$IP:$HTTP_PORT/healthz', timeout=1)" 2>/dev/null && break
	sleep 0.1
done

mkdir -p "$OUT/callee"
(cd "$OUT/callee" && exec sipp -sf "$ROOT/fixtures/sipp/callee_answer.xml" -i "$IP" -p "$CALLEE_PORT" -mp "$CALLEE_MEDIA_PORT" \
	-nostdin -trace_stat -stf "$OUT/callee/stat.csv" -fd 1 -trace_err -error_file "$OUT/callee/errors.log" \
	>"$OUT/callee/sipp.out" 2>&1) &
CALLEE_PID=$!
pids+=($CALLEE_PID)
sleep 1

API="http://$IP:$HTTP_PORT/2010-04-01/Accounts/$ACCOUNT"
TWIML="<Response><Pause length=\"$HOLD\"/></Response>"
# One call first: the first placement warms up what later ones reuse.
bin/apiload -api "$API" -account "$ACCOUNT" -token "$TOKEN" -to "sip:callee@$IP:$CALLEE_PORT" \
	-twiml "$TWIML" -rate 1 -duration 1 >"$OUT/warmup.json" || { echo "load-api-calls: warm-up failed" >&2; cat "$OUT/warmup.json" >&2; exit 1; }
sleep 2
IDLE_RSS=$(rss_kb "$TEXML_PID" VmRSS)
TEXML_CPU0=$(cpu_seconds "$TEXML_PID")
loadavg

echo "== apiload: $((RATE * DURATION)) calls at $RATE/s, each ${HOLD} s after the answer"
RC=0
if [[ -n ${PPROF_PORT:-} ]]; then
	(sleep "$((DURATION - 1))" && python3 -c "import urllib.request; open('$OUT/heap.pprof', 'wb').write(urllib.request.urlopen('http://$IP:$PPROF_PORT/debug/pprof/heap', timeout=30).read())") &
	pids+=($!)
fi
bin/apiload -api "$API" -account "$ACCOUNT" -token "$TOKEN" -to "sip:callee@$IP:$CALLEE_PORT" \
	-twiml "$TWIML" -rate "$RATE" -duration "$DURATION" -reads "${READS:-2000}" >"$OUT/apiload.json" || RC=$?
TEXML_CPU1=$(cpu_seconds "$TEXML_PID")
sleep 2
kill "$CALLEE_PID" 2>/dev/null || true
wait "$CALLEE_PID" 2>/dev/null || true

echo "== results"
python3 - "$OUT" <<'PY'
import csv, json, os, sys
out = sys.argv[1]
r = json.load(open(os.path.join(out, "apiload.json")))
w = json.load(open(os.path.join(out, "warmup.json")))
print(f"requested {r['requested']} at {r['rate']}/s over {r['placing_seconds']:.1f} s; API answers {r['answers']}")
c = r["create_ms"]
print(f"POST /Calls → 201 (ms): p50 {c['p50']:.1f}  p90 {c['p90']:.1f}  p99 {c['p99']:.1f}  max {c['max']:.1f}")
fs = dict(r["final_statuses"])
for k, v in w["final_statuses"].items():  # the warm-up call is listed too
    fs[k] = fs.get(k, 0) - v
print(f"final statuses of the run's calls: {fs}")
for k in ("list_page_ms", "fetch_ms"):
    if k in r:
        q = r[k]
        print(f"{k} ({sum(r['answers'].values())} calls stored + 1): p50 {q['p50']:.2f}  p90 {q['p90']:.2f}  p99 {q['p99']:.2f}  max {q['max']:.2f}")
rows = list(csv.reader(open(os.path.join(out, "callee", "stat.csv")), delimiter=";"))
v = dict(zip(rows[0], rows[-1]))
print(f"callee: {v['IncomingCall(C)']} INVITEs from texml, {v['SuccessfulCall(C)']} successful, {v['FailedCall(C)']} failed, retransmissions {v['Retransmissions(C)']}")
PY
echo "texml RSS: idle $((IDLE_RSS / 1024)) MB, high-water $(($(rss_kb "$TEXML_PID" VmHWM) / 1024)) MB; CPU during the run $(python3 -c "print(round($TEXML_CPU1 - $TEXML_CPU0, 2))") s"
echo "commit $(cat "$OUT/commit")"
exit "$RC"
