#!/usr/bin/env bash
# load-dial-cps.sh — bridged call setup rate of `texml serve`: every call
# is a <Dial> to a SIP callee.
#
# Starts, on loopback only: the load app (tools/loadapp serving
# <Response><Dial><Sip>sip:callee@127.0.0.1:CALLEE_PORT</Sip></Dial>
# </Response>), `texml serve`, SIPp as the callee (UAS,
# fixtures/sipp/callee_answer.xml: 180, 200 with SDP, waits for texml's
# BYE), then SIPp as the caller (UAC, fixtures/sipp/dial_caller.xml:
# INVITE, 200, ACK, HOLD ms while texml dials and bridges the callee,
# BYE) at RATE calls/s for DURATION seconds. Prints both SIPps' final
# counters (a call fails on either side for a timeout, an unexpected
# message such as texml's BYE to a caller whose Dial failed, or an error
# response), the caller's INVITE→200 times, texml's RSS and the CPU time
# of every process, then stops everything. Exits non-zero if any call
# failed on either side or did not complete.
#
# Usage: scripts/load-dial-cps.sh [RATE] [DURATION]   (defaults 300 30)
# Environment: HOLD (ms the caller stays after the answer, default 1000),
# ANSWER_ON_BRIDGE=1 (the caller's 200 OK waits for the callee's, so the
# caller's INVITE→200 time is the whole bridged setup), LIMIT (concurrent
# calls, default 10*RATE), OUT (logs and SIPp's CSV files, default a temp
# dir), SIP_PORT, HTTP_PORT, APP_PORT, CALLEE_PORT, SIPP_PORT,
# SIPP_MEDIA_PORT, CALLEE_MEDIA_PORT, RTP_PORTS, TEXML_BIN (a texml binary
# to measure instead of building bin/texml).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RATE=${1:-300}
DURATION=${2:-30}
HOLD=${HOLD:-1000}
LIMIT=${LIMIT:-$((RATE * 10))}
TOTAL=$((RATE * DURATION))
SIP_PORT=${SIP_PORT:-15060}
HTTP_PORT=${HTTP_PORT:-18081}
APP_PORT=${APP_PORT:-18080}
CALLEE_PORT=${CALLEE_PORT:-25070}
SIPP_PORT=${SIPP_PORT:-25060}
SIPP_MEDIA_PORT=${SIPP_MEDIA_PORT:-26000}
CALLEE_MEDIA_PORT=${CALLEE_MEDIA_PORT:-27000}
RTP_PORTS=${RTP_PORTS:-30000-50000}
ANSWER_ON_BRIDGE=${ANSWER_ON_BRIDGE:-0}
IP=127.0.0.1

if ((RATE < 1 || RATE > 5000 || DURATION < 1 || DURATION > 600 || HOLD < 0 || HOLD > 60000)); then
	echo "load-dial-cps: RATE must be 1..5000, DURATION 1..600 s, HOLD 0..60000 ms" >&2
	exit 2
fi
for tool in sipp espeak-ng go python3; do
	command -v "$tool" >/dev/null || { echo "load-dial-cps: $tool is not installed" >&2; exit 2; }
done
if (($(ulimit -n) < 4 * LIMIT + 200)); then
	ulimit -n $((4 * LIMIT + 200)) 2>/dev/null || true
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d /tmp/texml-load-dial-cps.XXXXXX)}
mkdir -p "$OUT/caller" "$OUT/callee"
cd "$ROOT"
CALLER=$ROOT/fixtures/sipp/dial_caller.xml
CALLEE=$ROOT/fixtures/sipp/callee_answer.xml

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT

echo "== building (output in $OUT)"
if [[ -z ${TEXML_BIN:-} ]]; then
	go build -o bin/texml ./cmd/texml
	TEXML_BIN=bin/texml
fi
go build -o bin/loadapp ./tools/loadapp
git describe --always --dirty >"$OUT/commit" 2>/dev/null || true

cpu_seconds() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}
rss_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
host_busy() { awk '/^cpu / { printf "%d %d\n", $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }

APP_ARGS=(-dial "sip:callee@$IP:$CALLEE_PORT")
if [[ $ANSWER_ON_BRIDGE == 1 ]]; then
	APP_ARGS=(-twiml "<Response><Dial answerOnBridge=\"true\"><Sip>sip:callee@$IP:$CALLEE_PORT</Sip></Dial></Response>")
fi
bin/loadapp -listen "$IP:$APP_PORT" "${APP_ARGS[@]}" >"$OUT/loadapp.out" 2>"$OUT/loadapp.err" &
pids+=($!)
APP_PID=$!
"$TEXML_BIN" serve --sip-listen "$IP:$SIP_PORT" --http-listen "$IP:$HTTP_PORT" \
	--rtp-ports "$RTP_PORTS" --voice-url "http://$IP:$APP_PORT/app" --voice-method POST \
	--stt none --recordings-dir "$OUT/recordings" >"$OUT/texml.out" 2>"$OUT/texml.log" &
pids+=($!)
TEXML_PID=$!
wait_ready load-dial-cps

# The callee: answers every INVITE texml sends, for as long as the run
# lasts (it is stopped by its PID at the end).
(cd "$OUT/callee" && exec sipp -sf "$CALLEE" -i "$IP" -p "$CALLEE_PORT" -mp "$CALLEE_MEDIA_PORT" \
	-nostdin -trace_stat -stf "$OUT/callee/stat.csv" -fd 1 -trace_err -error_file "$OUT/callee/errors.log" \
	>"$OUT/callee/sipp.out" 2>&1) &
CALLEE_PID=$!
pids+=($CALLEE_PID)
sleep 1

# One call first: the first Dial warms up what later ones reuse.
if ! (cd "$OUT/caller" && sipp -sf "$CALLER" -s load -i "$IP" -p "$SIPP_PORT" -mp "$SIPP_MEDIA_PORT" \
	-d 200 -m 1 -timeout 20s -timeout_error -nostdin "$IP:$SIP_PORT" >"$OUT/warmup.out" 2>&1); then
	echo "load-dial-cps: warm-up call failed" >&2
	cat "$OUT/warmup.out" >&2
	exit 1
fi
sleep 2

IDLE_RSS=$(rss_kb "$TEXML_PID" VmRSS)
TEXML_CPU0=$(cpu_seconds "$TEXML_PID")
APP_CPU0=$(cpu_seconds "$APP_PID")
CALLEE_CPU0=$(cpu_seconds "$CALLEE_PID")
read -r HOST_BUSY0 HOST_IDLE0 < <(host_busy)

echo "== SIPp caller: $TOTAL calls at $RATE/s, hold ${HOLD} ms (limit $LIMIT concurrent)"
START=$(date +%s.%N)
(cd "$OUT/caller" && exec sipp -sf "$CALLER" -s load -i "$IP" -p "$SIPP_PORT" -mp "$SIPP_MEDIA_PORT" \
	-r "$RATE" -m "$TOTAL" -l "$LIMIT" -d "$HOLD" \
	-timeout "$((DURATION + 60))s" -timeout_error -recv_timeout 10000 -nostdin \
	-trace_stat -stf "$OUT/caller/stat.csv" -fd 1 -trace_rtt -rtt_freq 1 \
	-trace_err -error_file "$OUT/caller/errors.log" \
	"$IP:$SIP_PORT" >"$OUT/caller/sipp.out" 2>&1) &
SIPP_PID=$!
pids+=($SIPP_PID)

PEAK_RSS=0
SIPP_CPU=0
for _ in $(seq $(((DURATION + 90) * 2))); do
	kill -0 "$SIPP_PID" 2>/dev/null || break
	SIPP_CPU=$(cpu_seconds "$SIPP_PID" 2>/dev/null || echo "$SIPP_CPU")
	r=$(rss_kb "$TEXML_PID" VmRSS)
	((r > PEAK_RSS)) && PEAK_RSS=$r
	sleep 0.5
done
SIPP_RC=0
wait "$SIPP_PID" || SIPP_RC=$?
END=$(date +%s.%N)
# Let the callee's last calls end (texml's BYEs, SIPp's timewait), and its
# statistics reach the file, before stopping it.
sleep 3
TEXML_CPU1=$(cpu_seconds "$TEXML_PID")
APP_CPU1=$(cpu_seconds "$APP_PID")
CALLEE_CPU1=$(cpu_seconds "$CALLEE_PID")
read -r HOST_BUSY1 HOST_IDLE1 < <(host_busy)
kill "$CALLEE_PID" 2>/dev/null || true
wait "$CALLEE_PID" 2>/dev/null || true
HWM=$(rss_kb "$TEXML_PID" VmHWM)
python3 -c "import urllib.request; print(urllib.request.urlopen('http://$IP:$HTTP_PORT/metrics', timeout=5).read().decode())" \
	>"$OUT/metrics.txt" 2>/dev/null || true

echo "== results"
python3 - "$OUT" "$RATE" "$TOTAL" <<'EOF'
import csv, glob, os, sys
out, rate, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def last(path):
    rows = list(csv.reader(open(path), delimiter=";"))
    return rows, dict(zip(rows[0], rows[-1]))
rows, v = last(os.path.join(out, "caller", "stat.csv"))
head = rows[0]
print(f"caller: {v['SuccessfulCall(C)']} successful, {v['FailedCall(C)']} failed, {total} requested; retransmissions {v['Retransmissions(C)']}")
rates = []
for r in rows[2:]:
    d = dict(zip(head, r))
    rates.append(float(d["CallRate(P)"]))
    if int(d["OutgoingCall(C)"]) >= total:
        break
if len(rates) > 2:
    inner = rates[1:-1]
    print(f"caller: per-second call rate while placing calls: min {min(inner):.0f}, max {max(inner):.0f} (target {rate})")
for k in ("FailedMaxUDPRetrans(C)", "FailedUnexpectedMessage(C)", "FailedCallRejected(C)", "FailedTimeoutOnRecv(C)", "DeadCallMsgs(C)", "OutOfCallMsgs(C)"):
    if v.get(k, "0") not in ("0", ""):
        print(f"  caller {k} = {v[k]}")
rtts = []
for f in glob.glob(os.path.join(out, "caller", "*_rtt.csv")):
    for line in open(f):
        parts = line.strip().split(";")
        if len(parts) == 3 and parts[1].replace(".", "").isdigit():
            rtts.append(float(parts[1]))
rtts.sort()
if rtts:
    pct = lambda p: rtts[min(len(rtts) - 1, int(p / 100 * len(rtts)))]
    print(f"caller INVITE -> 200 OK (ms, {len(rtts)} calls): p50 {pct(50):.0f}  p90 {pct(90):.0f}  p99 {pct(99):.0f}  max {rtts[-1]:.0f}")
try:
    _, c = last(os.path.join(out, "callee", "stat.csv"))
    print(f"callee: {c['IncomingCall(C)']} INVITEs from texml, {c['SuccessfulCall(C)']} successful, {c['FailedCall(C)']} failed, retransmissions {c['Retransmissions(C)']}")
    for k in ("FailedUnexpectedMessage(C)", "FailedTimeoutOnRecv(C)", "FailedMaxUDPRetrans(C)", "DeadCallMsgs(C)", "OutOfCallMsgs(C)"):
        if c.get(k, "0") not in ("0", ""):
            print(f"  callee {k} = {c[k]}")
except (OSError, KeyError, IndexError) as e:
    print(f"callee: no statistics ({e})")
EOF
WALL=$(python3 -c "print(f'{$END - $START:.1f}')")
echo "wall time of the caller's run: ${WALL} s"
echo "texml RSS: idle ${IDLE_RSS} kB, peak sampled ${PEAK_RSS} kB, high-water ${HWM} kB"
python3 -c "
w = $END - $START + 4
for name, c in (('texml', $TEXML_CPU1 - $TEXML_CPU0), ('SIPp caller', $SIPP_CPU), ('SIPp callee', $CALLEE_CPU1 - $CALLEE_CPU0), ('loadapp', $APP_CPU1 - $APP_CPU0)):
    print(f'CPU {name}: {c:.1f} s = {100 * c / w:.0f}% of one core')
busy, idle = ($HOST_BUSY1 - $HOST_BUSY0) / 100, ($HOST_IDLE1 - $HOST_IDLE0) / 100
print(f'host: busy {100 * busy / w:.0f}% of one core, idle {100 * idle / w:.0f}% (2 cores = 200%)')
"
grep -E '^texml_(calls_total|invites_rejected_total)' "$OUT/metrics.txt" 2>/dev/null || true
grep -E '^texml_verb_duration_seconds_(count|sum)\{verb="Dial"\}' "$OUT/metrics.txt" 2>/dev/null || true

FAILED=$(python3 -c "
import csv
def v(p):
    rows = list(csv.reader(open(p), delimiter=';'))
    return dict(zip(rows[0], rows[-1]))
a = v('$OUT/caller/stat.csv')
bad = max(int(a['FailedCall(C)']), $TOTAL - int(a['SuccessfulCall(C)']))
try:
    b = v('$OUT/callee/stat.csv')
    bad += int(b['FailedCall(C)']) + max(0, $TOTAL + 1 - int(b['SuccessfulCall(C)']))
except Exception:
    bad += $TOTAL
print(bad)
")
if ((SIPP_RC != 0 || FAILED != 0)); then
	echo "FAIL: caller SIPp exit $SIPP_RC, $FAILED calls failed or missing on either side (see $OUT/caller, $OUT/callee)" >&2
	exit 1
fi
echo "PASS: $TOTAL bridged calls, none failed on either side"
