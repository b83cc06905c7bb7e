#!/usr/bin/env bash
# Issue 14: the L7 programs' kernel run time per HTTP request at saturation (wrk → nginx on loopback, 50
# connections), as the minimum and median over short samples — the minimum is the figure least disturbed by other
# work on a shared machine. For each periscoped binary given, alternating over ROUNDS (default 2): one nginx, the
# daemon with --l7, SAMPLES (default 6) runs of wrk of SECONDS (default 3) each, kernel.bpf_stats_enabled=1.
# Usage (root, repository root): bench/l7-runcost.sh /path/to/periscoped [/path/to/other/periscoped ...]
set -euo pipefail
cd "$(dirname "$0")/.."
(( $# > 0 )) || { echo "usage: $0 PERISCOPED..." >&2; exit 2; }
seconds=${SECONDS_PER_SAMPLE:-3} samples=${SAMPLES:-6} rounds=${ROUNDS:-2}
work=$(mktemp -d /tmp/periscope-bench-l7cost.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/nginx.conf" <<CONF
daemon off; master_process off; user root; worker_processes 1;
error_log stderr error; pid $work/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work;
    scgi_temp_path $work; keepalive_requests 1000000;
    server { listen 127.0.0.1:$port; location / { return 200 "periscope\n"; } }
}
CONF
nginx -p "$work" -c "$work/nginx.conf" 2>"$work/nginx.log" &
nginx_pid=$!
daemon_pid=""
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
    [[ -n "$daemon_pid" ]] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    kill -TERM "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    sysctl -qw kernel.bpf_stats_enabled="$old_stats"
    rm -rf "$work"
}
trap cleanup EXIT
sysctl -qw kernel.bpf_stats_enabled=1
status() { python3 bench/l7_status.py "$work/sock" --run-stats; }
for _ in $(seq "$rounds"); do
    for bin in "$@"; do
        rm -f "$work/sock"
        "$bin" --socket "$work/sock" --log-level warning --l7 2>>"$work/daemon.log" &
        daemon_pid=$!
        for _ in $(seq 100); do [[ -S "$work/sock" ]] && break; sleep 0.1; done
        sleep 2
        wrk -t2 -c50 -d1s "http://127.0.0.1:$port/" >/dev/null  # warm up
        out=()
        for _ in $(seq "$samples"); do
            before=$(status)
            rps=$(wrk -t2 -c50 -d"${seconds}s" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')
            after=$(status)
            out+=("$before $after $rps")
        done
        kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""
        python3 - "$bin" "$seconds" "$(uptime | sed 's/.*load average: //')" "${out[@]}" <<'PY'
import statistics, sys
binary, seconds, load = sys.argv[1], float(sys.argv[2]), sys.argv[3]
per_req, per_run, runs = [], [], []
for sample in sys.argv[4:]:
    ns0, n0, ns1, n1, rps = sample.split()
    requests = float(rps) * seconds
    per_req.append((int(ns1) - int(ns0)) / requests)
    per_run.append((int(ns1) - int(ns0)) / max(1, int(n1) - int(n0)))
    runs.append((int(n1) - int(n0)) / requests)
print(f"{binary}: BPF ns/request min {min(per_req):.0f} median {statistics.median(per_req):.0f}; "
      f"ns/run min {min(per_run):.0f} median {statistics.median(per_run):.0f}; "
      f"runs/request median {statistics.median(runs):.2f} (load {load})", flush=True)
PY
    done
done
