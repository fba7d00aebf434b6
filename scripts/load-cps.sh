#!/usr/bin/env bash
# load-cps.sh — call setup rate of `texml serve` (issue 3 §8).
#
# Starts, on loopback only: the load app (tools/loadapp, a <Say>Hi</Say>
# <Hangup/> document), `texml serve`, then SIPp as a UAC running
# fixtures/sipp/say_bye.xml (INVITE → 200 → ACK → texml's BYE → 200) at
# RATE calls/s for DURATION seconds. Prints SIPp's final counters
# (successful/failed calls, achieved rate, INVITE→200 response times),
# texml's RSS and the CPU time each process used, then stops everything.
# Exits non-zero if any call failed or SIPp did not complete every call.
#
# Usage: scripts/load-cps.sh [RATE] [DURATION]      (defaults 300 30)
# Environment: LIMIT (max concurrent calls, default 10*RATE), OUT (where
# logs and SIPp's CSV files go, default a temp dir), SIP_PORT, HTTP_PORT,
# APP_PORT, SIPP_PORT, SIPP_MEDIA_PORT, RTP_PORTS, SAY (the text spoken),
# TEXML_BIN (a texml binary to measure instead of building bin/texml),
# MAX_CALLS (texml's --max-calls), SCENARIO (a SIPp scenario instead of
# fixtures/sipp/say_bye.xml), TEXML_ARGS (more flags for `texml serve`).
#
# PROFILE=SECONDS: a CPU profile of texml (--pprof) over that many seconds
# from 5 s into the run, into $OUT/cpu.pprof.
# RECOVERY=1: once the load has stopped, place one ordinary call
# (fixtures/sipp/say_bye.xml) at once, and again every second until one
# works (at most 30 s): how long the server takes to serve again.
# $OUT/summary.json has the figures for scripts/load-cps-compare.sh.
#
# TARGET=barestack measures tools/barestack instead of texml, with the
# same SIPp run: a bare sipgo+pion server that answers, sends BARE_MEDIA
# (default 600ms) of silence and hangs up (scripts/load-cps-compare.sh
# runs both); with BARE_FETCH=1 it first POSTs to the load app and reads
# the answer, as texml fetches its document before answering.
#
# STATIC=1: texml reads the same document from a file (--voice-url PATH)
# instead of fetching it from the load app over HTTP — a deployment that
# serves static XML; the load app still runs (idle) so the runs compare.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RATE=${1:-300}
DURATION=${2:-30}
LIMIT=${LIMIT:-$((RATE * 10))}
TOTAL=$((RATE * DURATION))
SIP_PORT=${SIP_PORT:-15060}
HTTP_PORT=${HTTP_PORT:-18081}
APP_PORT=${APP_PORT:-18080}
SIPP_PORT=${SIPP_PORT:-25060}
SIPP_MEDIA_PORT=${SIPP_MEDIA_PORT:-26000}
RTP_PORTS=${RTP_PORTS:-30000-50000}
SAY=${SAY:-Hi}
TARGET=${TARGET:-texml}
BARE_MEDIA=${BARE_MEDIA:-600ms}
MAX_CALLS=${MAX_CALLS:-0}
RECOVERY=${RECOVERY:-0}
PROFILE=${PROFILE:-0}
PPROF_PORT=${PPROF_PORT:-16060}
IP=127.0.0.1

if ((RATE < 1 || RATE > 5000 || DURATION < 1 || DURATION > 600)); then
	echo "load-cps: RATE must be 1..5000 and DURATION 1..600 s" >&2
	exit 2
fi
for tool in sipp espeak-ng go python3; do
	command -v "$tool" >/dev/null || { echo "load-cps: $tool is not installed" >&2; exit 2; }
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d /tmp/texml-load-cps.XXXXXX)}
mkdir -p "$OUT"
cd "$ROOT"
SCENARIO=${SCENARIO:-$ROOT/fixtures/sipp/say_bye.xml}

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
if [[ $TARGET == barestack ]]; then
	go build -o bin/barestack ./tools/barestack
elif [[ $TARGET != texml ]]; then
	echo "load-cps: TARGET must be texml or barestack" >&2
	exit 2
elif [[ -z ${TEXML_BIN:-} ]]; then
	go build -o bin/texml ./cmd/texml
	TEXML_BIN=bin/texml
fi
go build -o bin/loadapp ./tools/loadapp
git describe --always --dirty >"$OUT/commit" 2>/dev/null || true

# cpu_seconds PID: user+system CPU time the process has used so far.
cpu_seconds() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}
# rss_kb PID FIELD: VmRSS or VmHWM in kB.
rss_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
# active_calls: texml's count from /healthz ("ok N active calls"), read
# with bash's /dev/tcp so that sampling starts no process.
active_calls() {
	local line n=0
	[[ $TARGET == texml ]] || { echo 0; return; }
	if exec 3<>"/dev/tcp/$IP/$HTTP_PORT"; then
		printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$IP" >&3
		while IFS= read -r -t 2 line <&3; do
			[[ $line =~ ^ok\ ([0-9]+) ]] && n=${BASH_REMATCH[1]}
		done
		exec 3<&-
	fi 2>/dev/null
	echo "$n"
}

bin/loadapp -listen "$IP:$APP_PORT" -twiml "<Response><Say>$SAY</Say><Hangup/></Response>" \
	>"$OUT/loadapp.out" 2>"$OUT/loadapp.err" &
pids+=($!)
APP_PID=$!
if [[ $TARGET == barestack ]]; then
	# TEXML_PID is the server measured, whichever it is.
	BARE_ARGS=()
	if [[ ${BARE_FETCH:-0} == 1 ]]; then
		BARE_ARGS=(-fetch "http://$IP:$APP_PORT/app")
	fi
	bin/barestack -listen "$IP:$SIP_PORT" -media "$BARE_MEDIA" "${BARE_ARGS[@]}" >"$OUT/barestack.out" 2>"$OUT/barestack.log" &
	pids+=($!)
	TEXML_PID=$!
	for _ in $(seq 100); do
		grep -q ready "$OUT/barestack.out" 2>/dev/null && break
		sleep 0.1
	done
	grep -q ready "$OUT/barestack.out" || { echo "load-cps: barestack did not start" >&2; cat "$OUT/barestack.log" >&2; exit 1; }
else
	VOICE_URL="http://$IP:$APP_PORT/app"
	if [[ ${STATIC:-0} == 1 ]]; then
		VOICE_URL="$OUT/app.xml"
		printf '<Response><Say>%s</Say><Hangup/></Response>\n' "$SAY" >"$VOICE_URL"
	fi
	"$TEXML_BIN" serve --sip-listen "$IP:$SIP_PORT" --http-listen "$IP:$HTTP_PORT" \
		--rtp-ports "$RTP_PORTS" --voice-url "$VOICE_URL" --voice-method POST \
		--max-calls "$MAX_CALLS" --pprof "$IP:$PPROF_PORT" \
		--stt none --recordings-dir "$OUT/recordings" ${TEXML_ARGS:-} >"$OUT/texml.out" 2>"$OUT/texml.log" &
	pids+=($!)
	TEXML_PID=$!
	wait_ready load-cps
fi

# One call first, so that the prompt is synthesized (and cached) before
# the measured run: a real deployment says the same prompts all day.
if ! sipp -sf "$SCENARIO" -s load -i "$IP" -p "$SIPP_PORT" -mp "$SIPP_MEDIA_PORT" \
	-m 1 -timeout 20s -timeout_error -nostdin "$IP:$SIP_PORT" >"$OUT/warmup.out" 2>&1; then
	echo "load-cps: warm-up call failed" >&2
	cat "$OUT/warmup.out" >&2
	exit 1
fi

IDLE_RSS=$(rss_kb "$TEXML_PID" VmRSS)
read -r HOST_BUSY0 HOST_IDLE0 < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
TEXML_CPU0=$(cpu_seconds "$TEXML_PID")
APP_CPU0=$(cpu_seconds "$APP_PID")

echo "== SIPp: $TOTAL calls at $RATE/s (limit $LIMIT concurrent)"
START=$(date +%s.%N)
# SIPp writes its response-time file into the working directory: run it in $OUT.
# -buff_size: SIPp's own socket buffers are 64 kB by default, and its
# receive buffer overflowed under bursts of responses (15,027 datagrams
# dropped on SIPp's socket in 15 s at 1,500 calls/s, /proc/net/udp),
# which SIPp then counted as the server's slowness. The servers measured
# ask for 4 MB; so does the caller. (The kernel caps all three at
# net.core.rmem_max / wmem_max: 4 MB on the machine these numbers come from.)
(cd "$OUT" && exec sipp -sf "$SCENARIO" -s load -i "$IP" -p "$SIPP_PORT" -mp "$SIPP_MEDIA_PORT" \
	-r "$RATE" -m "$TOTAL" -l "$LIMIT" -buff_size 4194304 \
	-timeout "$((DURATION + 60))s" -timeout_error -recv_timeout 10000 -nostdin \
	-trace_stat -stf "$OUT/stat.csv" -fd 1 \
	-trace_rtt -rtt_freq 1 \
	-trace_err -error_file "$OUT/errors.log" \
	"$IP:$SIP_PORT" >"$OUT/sipp.out" 2>&1) &
SIPP_PID=$!
pids+=($SIPP_PID)
if ((PROFILE > 0)) && [[ $TARGET == texml ]]; then
	(sleep 5 && python3 -c "import urllib.request; open('$OUT/cpu.pprof', 'wb').write(urllib.request.urlopen('http://$IP:$PPROF_PORT/debug/pprof/profile?seconds=$PROFILE', timeout=$PROFILE + 30).read())" ||
		echo "load-cps: the CPU profile failed" >&2) &
	pids+=($!)
fi

# Sample RSS, CPU and active calls while SIPp runs (bounded: SIPp stops
# itself after DURATION+60 s; the loop gives up after DURATION+90 s).
PEAK_RSS=0
PEAK_ACTIVE=0
SIPP_CPU=0
for _ in $(seq $(((DURATION + 90) * 2))); do
	kill -0 "$SIPP_PID" 2>/dev/null || break
	SIPP_CPU=$(cpu_seconds "$SIPP_PID" 2>/dev/null || echo "$SIPP_CPU")
	r=$(rss_kb "$TEXML_PID" VmRSS)
	((r > PEAK_RSS)) && PEAK_RSS=$r
	a=$(active_calls)
	((a > PEAK_ACTIVE)) && PEAK_ACTIVE=$a
	sleep 0.5
done
SIPP_RC=0
wait "$SIPP_PID" || SIPP_RC=$?
END=$(date +%s.%N)
RECOVERED=-1
if [[ $RECOVERY == 1 ]]; then
	# Right after the load: the first ordinary call that succeeds, and
	# how long after the end of the load it was placed.
	for i in $(seq 0 30); do
		if sipp -sf "$ROOT/fixtures/sipp/say_bye.xml" -s load -i "$IP" -p "$((SIPP_PORT + 1))" -mp "$((SIPP_MEDIA_PORT + 100))" \
			-m 1 -timeout 20s -timeout_error -nostdin "$IP:$SIP_PORT" >"$OUT/recovery-$i.out" 2>&1; then
			RECOVERED=$i
			break
		fi
		sleep 1
	done
	if ((RECOVERED < 0)); then
		echo "recovery: no ordinary call succeeded within 30 s after the load stopped"
	else
		echo "recovery: an ordinary call succeeded at attempt $((RECOVERED + 1)), placed ${RECOVERED} s after the load stopped"
	fi
fi
TEXML_CPU1=$(cpu_seconds "$TEXML_PID")
APP_CPU1=$(cpu_seconds "$APP_PID")
read -r HOST_BUSY1 HOST_IDLE1 < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
HWM=$(rss_kb "$TEXML_PID" VmHWM)
# Sockets the server still holds once every call has ended (a port leak
# would show here): give the last BYEs a moment first.
sleep 2
FDS_AFTER=$(find "/proc/$TEXML_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
if [[ $TARGET == texml ]]; then
	python3 -c "import urllib.request; print(urllib.request.urlopen('http://$IP:$HTTP_PORT/metrics', timeout=5).read().decode())" \
		>"$OUT/metrics.txt" 2>/dev/null || true
fi

echo "== results ($TARGET)"
python3 - "$OUT" "$RATE" "$DURATION" "$TOTAL" "$START" "$END" <<'EOF'
import csv, glob, os, sys
out, rate, duration, total, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
rows = list(csv.reader(open(os.path.join(out, "stat.csv")), delimiter=";"))
head, last = rows[0], rows[-1]
v = dict(zip(head, last))
ok, failed = int(v["SuccessfulCall(C)"]), int(v["FailedCall(C)"])
print(f"calls: {ok} successful, {failed} failed, {total} requested")
# The rate calls were placed at: the first statistics row (one a second)
# where every call had been created.
for r in rows[1:]:
    d = dict(zip(head, r))
    if int(d["OutgoingCall(C)"]) >= total:
        h, m, sec = d["ElapsedTime(C)"].split(":")[:3]
        el = int(h) * 3600 + int(m) * 60 + float(sec)
        print(f"calls placed at {total / el:.1f} calls/s ({total} calls created within {el:.0f} s; SIPp logs once a second)")
        break
else:
    print("SIPp never created all the calls: it was throttled by the concurrency limit or timed out")
rates = []
for r in rows[2:]:
    d = dict(zip(head, r))
    rates.append(float(d["CallRate(P)"]))
    if int(d["OutgoingCall(C)"]) >= total:
        break
if len(rates) > 2:
    inner = rates[1:-1]  # the first and last seconds are partial
    print(f"per-second call rate while placing calls: min {min(inner):.0f}, max {max(inner):.0f}")
print(f"SIPp cumulative call rate: {float(v['CallRate(C)']):.1f} calls/s (target {rate}), retransmissions {v['Retransmissions(C)']}")
for k in ("FailedMaxUDPRetrans(C)", "FailedUnexpectedMessage(C)", "FailedCallRejected(C)", "FailedTimeoutOnRecv(C)", "DeadCallMsgs(C)", "OutOfCallMsgs(C)"):
    if v.get(k, "0") not in ("0", ""):
        print(f"  {k} = {v[k]}")
rtts = []
for f in glob.glob(os.path.join(out, "*_rtt.csv")):
    for line in open(f):
        parts = line.strip().split(";")
        if len(parts) == 3 and parts[1].replace(".", "").isdigit():
            rtts.append(float(parts[1]))
rtts.sort()
if rtts:
    pct = lambda p: rtts[min(len(rtts) - 1, int(p / 100 * len(rtts)))]
    print(f"INVITE -> 200 OK (ms, {len(rtts)} calls): p50 {pct(50):.0f}  p90 {pct(90):.0f}  p99 {pct(99):.0f}  max {rtts[-1]:.0f}")
print(f"SIPp call length (mean, INVITE to end of timewait): {v['CallLength(C)']}")
EOF
WALL=$(python3 -c "print(f'{$END - $START:.1f}')")
echo "wall time of the SIPp run: ${WALL} s"
echo "$TARGET RSS: idle ${IDLE_RSS} kB, peak sampled ${PEAK_RSS} kB, high-water ${HWM} kB; peak active calls ${PEAK_ACTIVE}"
python3 -c "
w = $END - $START
cs = (('$TARGET', $TEXML_CPU1 - $TEXML_CPU0), ('SIPp', $SIPP_CPU), ('loadapp', $APP_CPU1 - $APP_CPU0))
for name, c in cs:
    print(f'CPU {name}: {c:.1f} s = {100 * c / w:.0f}% of one core')
busy, idle = ($HOST_BUSY1 - $HOST_BUSY0) / 100, ($HOST_IDLE1 - $HOST_IDLE0) / 100
print(f'host ($(nproc) cores) meanwhile: busy {100 * busy / w:.0f}% of one core, idle {100 * idle / w:.0f}%; '
      f'everything but these three: {100 * (busy - sum(c for _, c in cs)) / w:.0f}% of one core')
"
echo "$TARGET file descriptors after the run: $FDS_AFTER"
grep -E '^texml_(calls_total|invites_rejected_total|rtp_packets_sent_total)' "$OUT/metrics.txt" 2>/dev/null || true

# The figures again, for scripts/load-cps-compare.sh.
python3 - "$OUT" "$TARGET" "$RATE" "$TOTAL" "$START" "$END" <<EOF2 || true
import csv, glob, json, os, re, sys
out, target, rate, total, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
rows = list(csv.reader(open(os.path.join(out, "stat.csv")), delimiter=";"))
v = dict(zip(rows[0], rows[-1]))
rtts = sorted(float(p[1]) for f in glob.glob(os.path.join(out, "*_rtt.csv")) for p in (l.strip().split(";") for l in open(f))
              if len(p) == 3 and p[1].replace(".", "").isdigit())
pct = lambda q: rtts[min(len(rtts) - 1, int(q / 100 * len(rtts)))] if rtts else None
m = {}
if os.path.exists(os.path.join(out, "metrics.txt")):
    for line in open(os.path.join(out, "metrics.txt")):
        mm = re.match(r'(texml_[a-z_]+)(\{[^}]*\})? (\S+)', line)
        if mm:
            m[mm[1] + (mm[2] or "")] = float(mm[3])
json.dump({
    "target": target, "rate": rate, "total": total, "wall": end - start,
    "successful": int(v["SuccessfulCall(C)"]), "failed": int(v["FailedCall(C)"]),
    "retransmissions": int(v["Retransmissions(C)"]),
    "unexpected": int(v.get("FailedUnexpectedMessage(C)", 0)), "timeouts": int(v.get("FailedTimeoutOnRecv(C)", 0)),
    "max_udp_retrans": int(v.get("FailedMaxUDPRetrans(C)", 0)), "dead_call_msgs": int(v.get("DeadCallMsgs(C)", 0)),
    "p50": pct(50), "p99": pct(99), "max": rtts[-1] if rtts else None,
    "cpu": $TEXML_CPU1 - $TEXML_CPU0, "sipp_cpu": $SIPP_CPU, "fds_after": $FDS_AFTER,
    "host_busy": ($HOST_BUSY1 - $HOST_BUSY0) / 100, "app_cpu": $APP_CPU1 - $APP_CPU0, "rss_peak_kb": $PEAK_RSS, "rss_idle_kb": $IDLE_RSS,
    "recovered_after_s": $RECOVERED,
    "rejected_503": m.get('texml_invites_rejected_total{code="503"}', 0),
    "completed": m.get('texml_calls_total{status="completed"}', 0),
    "rtp_sent": m.get("texml_rtp_packets_sent_total", 0),
}, open(os.path.join(out, "summary.json"), "w"), indent=1)
EOF2

FAILED=$(python3 -c "
import csv
rows = list(csv.reader(open('$OUT/stat.csv'), delimiter=';'))
v = dict(zip(rows[0], rows[-1]))
print(max(int(v['FailedCall(C)']), $TOTAL - int(v['SuccessfulCall(C)'])))
")
if ((SIPP_RC != 0 || FAILED != 0)); then
	echo "FAIL: SIPp exit $SIPP_RC, $FAILED calls failed or missing (see $OUT/errors.log, $OUT/sipp.out)" >&2
	exit 1
fi
echo "PASS: $TOTAL calls, none failed"
