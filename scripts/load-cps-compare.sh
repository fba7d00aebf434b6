#!/usr/bin/env bash
# load-cps-compare.sh — texml's call setup rate beside a bare sipgo+pion
# server's, in one run, on loopback only.
#
# 1. scripts/load-cps.sh against `texml serve` with the app
#    <Response><Say>Hello</Say><Hangup/></Response>: SIPp
#    (fixtures/sipp/say_bye.xml) places RATE calls/s for DURATION s.
# 2. The same SIPp run against tools/barestack, which answers, sends as
#    much silence as texml sent per call in step 1 (its packets per call,
#    from texml's /metrics) and hangs up: the floor of what this language
#    and these libraries do for the same call on this machine.
# 3. With OVERLOAD=1, texml again at 2×RATE with --max-calls
#    OVERLOAD_MAX_CALLS (default RATE) and fixtures/sipp/say_bye_or_503.xml: every call must
#    end either as a whole call or with a 503 that SIPp ACKs, nothing else
#    (no timeout, no unexpected message, no dead call); then, at once, an
#    ordinary call must succeed (RECOVERY in load-cps.sh).
#
# Prints a table of both runs (calls, failures, INVITE→200 times, CPU per
# call, RSS) and texml's ratios to the bare server. Exits 1 when a run had
# a failed call (overload: anything but a whole call or a 503) or texml
# did not recover.
#
# Usage: scripts/load-cps-compare.sh [RATE] [DURATION]   (defaults 1500 30)
# Environment: OUT (default a temp dir; each run in a subdirectory),
# OVERLOAD=1, OVERLOAD_MAX_CALLS, STATIC=1 (texml reads its document from a
# file, as the bare server fetches nothing), BARE_FETCH=1 (the bare server fetches the
# load app before answering, as texml does), and load-cps.sh's port variables.
set -uo pipefail

RATE=${1:-1500}
DURATION=${2:-30}
OVERLOAD=${OVERLOAD:-0}
OVERLOAD_MAX_CALLS=${OVERLOAD_MAX_CALLS:-$RATE}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d /tmp/texml-cps-compare.XXXXXX)}
mkdir -p "$OUT"
cd "$ROOT"
RC=0

echo "== texml at $RATE calls/s for $DURATION s (output in $OUT/texml)"
OUT=$OUT/texml TARGET=texml SAY=Hello MAX_CALLS=0 RECOVERY=0 scripts/load-cps.sh "$RATE" "$DURATION" | tee "$OUT/texml.txt" || RC=1

PKTS=$(python3 -c "
import json
s = json.load(open('$OUT/texml/summary.json'))
print(round(s['rtp_sent'] / max(1, s['completed'])))
" 2>/dev/null || echo 42)
echo "== barestack at $RATE calls/s for $DURATION s, $PKTS packets (${PKTS}×20 ms) per call, as texml sent (output in $OUT/barestack)"
OUT=$OUT/barestack TARGET=barestack MAX_CALLS=0 RECOVERY=0 BARE_MEDIA="$((PKTS * 20))ms" scripts/load-cps.sh "$RATE" "$DURATION" | tee "$OUT/barestack.txt" || RC=1

if [[ $OVERLOAD == 1 ]]; then
	O=$((2 * RATE))
	echo "== texml overloaded: $O calls/s for $DURATION s, --max-calls $OVERLOAD_MAX_CALLS (output in $OUT/overload)"
	OUT=$OUT/overload TARGET=texml SAY=Hello MAX_CALLS="$OVERLOAD_MAX_CALLS" RECOVERY=1 \
		SCENARIO="$ROOT/fixtures/sipp/say_bye_or_503.xml" scripts/load-cps.sh "$O" "$DURATION" | tee "$OUT/overload.txt" || true
fi

echo
echo "== comparison (machine: $(nproc) cores, shared; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$OUT" "$OVERLOAD" <<'EOF' || RC=1
import json, os, sys
out, overload = sys.argv[1], sys.argv[2] == "1"
def load(name):
    try:
        return json.load(open(os.path.join(out, name, "summary.json")))
    except OSError:
        return None
t, b = load("texml"), load("barestack")
def row(s):
    per = 1000 * s["cpu"] / max(1, s["successful"])
    return (f"| {s['target']} | {s['total']} | {s['successful']} | {s['failed']} | {s['retransmissions']} | "
            f"{s['p50']:.0f} / {s['p99']:.0f} / {s['max']:.0f} ms | {s['cpu']:.1f} s ({100 * s['cpu'] / s['wall']:.0f}% of a core) | "
            f"{per:.2f} ms | {s['rss_peak_kb'] / 1024:.0f} MB |"), per
print("| server | calls | ok | failed | retrans. | INVITE→200 p50 / p99 / max | CPU | CPU per call | peak RSS |")
print("|---|---|---|---|---|---|---|---|---|")
pt = pb = None
if t:
    line, pt = row(t); print(line)
if b:
    line, pb = row(b); print(line)
if pt and pb:
    print(f"ratio texml / barestack: CPU per call {pt / pb:.1f}×, peak RSS {t['rss_peak_kb'] / max(1, b['rss_peak_kb']):.1f}×, "
          f"INVITE→200 p99 {t['p99']:.0f} vs {b['p99']:.0f} ms")
bad = 0
for s in (t, b):
    if s and (s["failed"] or s["successful"] < s["total"]):
        bad = 1
if overload:
    o = load("overload")
    if not o:
        print("overload: no results"); bad = 1
    else:
        whole = o["completed"] - 1 - (1 if o["recovered_after_s"] >= 0 else 0)  # less the warm-up and recovery calls
        print(f"overload at {o['rate']} calls/s: {o['total']} offered, {o['successful']} ended as SIPp expects "
              f"({whole:.0f} whole calls, {o['rejected_503']:.0f} refused with 503), {o['failed']} failed: "
              f"{o['unexpected']} unexpected messages, {o['timeouts']} timeouts, {o['max_udp_retrans']} retransmission "
              f"give-ups, {o['dead_call_msgs']} messages of dead calls; {o['retransmissions']} retransmissions; "
              f"INVITE→200 p99 {o['p99']:.0f} ms; texml {100 * o['cpu'] / o['wall']:.0f}% of a core, peak RSS {o['rss_peak_kb'] / 1024:.0f} MB")
        if o["recovered_after_s"] < 0:
            print("recovery: FAILED, no ordinary call worked within 30 s"); bad = 1
        else:
            print(f"recovery: an ordinary call succeeded {o['recovered_after_s']} s after the load stopped")
        if o["failed"] or o["unexpected"] or o["timeouts"] or o["dead_call_msgs"]:
            bad = 1
sys.exit(bad)
EOF
exit "$RC"
