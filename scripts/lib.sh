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
