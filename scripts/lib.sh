# Shared by the load scripts (sourced, not run).

# wait_ready NAME: waits up to 10 s for the load app to say "ready" and for
# texml's /healthz to answer; on failure prints the logs and exits 1.
# Uses OUT, IP, HTTP_PORT and TEXML_PID from the calling script.
wait_ready() {
	local name=$1
	for _ in $(seq 100); do
		if grep -q ready "$OUT/loadapp.out" 2>/dev/null &&
			python3 -c "import urllib.request; urllib.request.urlopen('http://$IP:$HTTP_PORT/healthz', timeout=1)" 2>/dev/null; then
			return 0
		fi
		kill -0 "$TEXML_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "$name: texml or the load app did not start" >&2
	cat "$OUT/texml.out" "$OUT/texml.log" "$OUT/loadapp.err" >&2 || true
	exit 1
}

# loadavg prints the host's 1/5/15-minute load averages and what runs
# (other sessions' work shares the cores with the measurement).
loadavg() {
	echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
}

# free_port prints a free TCP port on 127.0.0.1 in 20000..29999 (never
# Redis's 6379, which may be someone else's).
free_port() {
	python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 29999)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
PY
}

# profile_later DELAY SECONDS: after DELAY s, a CPU profile of texml over
# SECONDS s into $OUT/cpu.pprof (texml must run with --pprof on
# $IP:$PPROF_PORT); in the background, its pid appended to pids.
profile_later() {
	local delay=$1 secs=$2
	(
		sleep "$delay"
		python3 -c "import urllib.request; open('$OUT/cpu.pprof', 'wb').write(urllib.request.urlopen('http://$IP:$PPROF_PORT/debug/pprof/profile?seconds=$secs', timeout=$secs + 30).read())" ||
			echo "the CPU profile failed" >&2
	) &
	pids+=($!)
}

# rtp_log_summary FILE: texml logs each leg's RTP counters when it ends;
# prints their sums (SendErrors: packets its sockets refused; Lost/Late:
# what its receivers missed).
rtp_log_summary() {
	python3 - "$1" <<'PY'
import json, sys
legs = 0
tot = {}
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if isinstance(m.get("rtp"), dict):
        legs += 1
        for k, v in m["rtp"].items():
            tot[k] = tot.get(k, 0) + v
print(f"texml's log, legs' RTP counters ({legs} legs): " + ", ".join(f"{k} {v}" for k, v in sorted(tot.items())))
PY
}

# metrics_scrape FILE: texml's /metrics into FILE.
metrics_scrape() {
	python3 -c "import urllib.request; print(urllib.request.urlopen('http://$IP:$HTTP_PORT/metrics', timeout=5).read().decode())" \
		>"$1" 2>/dev/null || true
}

# start_redis: a redis-server of the run's own on a free loopback port
# (REDIS_PORT, chosen by free_port unless set; never 6379), no
# persistence, its files in $OUT/redis; its pid appended to pids.
start_redis() {
	command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 2; }
	REDIS_PORT=${REDIS_PORT:-$(free_port)}
	if [[ $REDIS_PORT == 6379 ]]; then
		echo "REDIS_PORT 6379 is not ours to use" >&2
		exit 2
	fi
	mkdir -p "$OUT/redis"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT/redis" \
		>"$OUT/redis/redis.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "redis-server did not start on $REDIS_PORT" >&2
	cat "$OUT/redis/redis.log" >&2
	exit 1
}

# redis_monitor: from now on, every command the run's Redis executes into
# $OUT/redis.monitor (MONITOR; a script's own commands show as from
# "lua"); in the background, its pid appended to pids.
redis_monitor() {
	redis-cli -p "$REDIS_PORT" monitor >"$OUT/redis.monitor" &
	pids+=($!)
	sleep 0.5
}

# redis_mark FILE: the time now (seconds since the epoch), a phase
# boundary for redis_phase.
redis_mark() {
	date +%s.%N >"$1"
}

# redis_phase FROM TO N WHAT: from $OUT/redis.monitor, the round trips to
# Redis between the times in files FROM and TO (commands sent by clients;
# INFO, PING and MONITOR left out) in total and per WHAT (N of them), and
# the commands Redis ran inside scripts meanwhile.
redis_phase() {
	python3 - "$OUT/redis.monitor" "$@" <<'PY'
import re, sys
mon, t0, t1, n, what = sys.argv[1], float(open(sys.argv[2]).read()), float(open(sys.argv[3]).read()), int(sys.argv[4]), sys.argv[5]
trips, inner = {}, {}
for line in open(mon, errors="replace"):
    m = re.match(r'(\d+\.\d+) \[\d+ ([^\]]+)\] "([^"]+)"', line)
    if not m or not (t0 <= float(m[1]) < t1):
        continue
    cmd = m[3].lower()
    if cmd in ("info", "ping", "monitor"):
        continue
    d = inner if m[2] == "lua" else trips
    d[cmd] = d.get(cmd, 0) + 1
def fmt(d):
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda x: -x[1])) or "none"
tot = sum(trips.values())
print(f"redis round trips per {what}: {tot / max(n, 1):.2f} ({tot} for {n}: {fmt(trips)}); "
      f"inside scripts {sum(inner.values()) / max(n, 1):.2f} per {what.split()[0]} ({fmt(inner)})")
PY
}

# pacer_summary FILE: from a /metrics scrape, the pacer's shards over the
# whole run: how late they woke, how long a tick of their sessions took
# (cumulative shares by bucket).
pacer_summary() {
	python3 - "$1" <<'PY'
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
PY
}

# load_prepare NAME FDS is the set-up every load script shares: it checks
# that go and espeak-ng (which texml serve needs) are installed, raises
# the open-file limit to FDS (texml and the load tools hold sockets per
# call), sets ROOT and OUT (default a new /tmp/texml-NAME.XXXXXX), moves
# to ROOT, and arms the clean-up that stops, at exit, every process whose
# PID the script appends to pids.
load_prepare() {
	local name=$1 fds=$2 tool
	for tool in go espeak-ng; do
		command -v "$tool" >/dev/null || { echo "$name: $tool is not installed" >&2; exit 2; }
	done
	if (($(ulimit -n) < fds)); then
		ulimit -n "$fds" 2>/dev/null || {
			echo "$name: open-file limit $(ulimit -n) is too low: this run needs $fds" >&2
			exit 2
		}
	fi
	ROOT=$(cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd)
	OUT=${OUT:-$(mktemp -d "/tmp/texml-$name.XXXXXX")}
	mkdir -p "$OUT"
	cd "$ROOT"
	pids=()
	trap load_cleanup EXIT
}

# load_cleanup stops the processes in pids and waits for them.
load_cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
}

# load_build builds bin/texml (unless TEXML_BIN names a texml to
# measure), bin/loadapp and bin/rtpload, and records in OUT the commit
# measured and whether the tree had changes.
load_build() {
	if [[ -z ${TEXML_BIN:-} ]]; then
		go build -o bin/texml ./cmd/texml
		TEXML_BIN=bin/texml
	fi
	go build -o bin/loadapp ./tools/loadapp
	go build -o bin/rtpload ./tools/rtpload
	git describe --always --dirty >"$OUT/commit" 2>/dev/null || true
	git status --short >"$OUT/worktree-status" 2>/dev/null || true
}
