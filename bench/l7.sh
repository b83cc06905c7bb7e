#!/usr/bin/env bash
# Issue 14: what the L7 BPF programs cost. wrk drives nginx on loopback, once with periscoped running without its
# BPF programs (--no-l7, the default) and once with them (--l7), both with the collectors on and a client asking every second:
#   1. a fixed rate of about RATE requests/s (wrk's Lua delay() paces each connection; Debian's wrk has no -R):
#      added p99 latency, daemon CPU and kernel BPF run time (kernel.bpf_stats_enabled=1) per 1,000 requests,
#      and the CPU time of wrk and nginx per request (their syscalls and the tracing of them included);
#   2. saturation (no delay): throughput with and without the programs.
# Usage (root, repository root): bench/l7.sh [--release] [SECONDS]   (default 10 s per run; debug build unless --release;
# PERISCOPED=path runs that binary instead of building, e.g. to compare two builds; KINDS="saturate" runs only
# the saturation pair, ROUNDS=n repeats the pairs, alternating; BPF_STATS=0 leaves kernel.bpf_stats_enabled off —
# the statistics add two clock reads to every program run — and prints no BPF time)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
config=debug
if [[ "${1:-}" == "--release" ]]; then config=release; shift; fi
seconds=${1:-10}
rate=${RATE:-10000}
bin=${PERISCOPED:-}
if [[ -z "$bin" ]]; then
    swift build -c "$config" --product periscoped >&2
    bin=.build/$config/periscoped
fi
work=$(mktemp -d /tmp/periscope-bench-l7.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/tmp"
cat >"$work/nginx.conf" <<EOF
daemon off; master_process off; user root; worker_processes 1;
error_log stderr error; pid $work/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$port; location / { return 200 "periscope\n"; } }
}
EOF
nginx -p "$work" -c "$work/nginx.conf" 2>"$work/nginx.log" &
nginx_pid=$!
daemon_pid=""
asker_pid=""
cleanup() {
    [[ -n "$asker_pid" ]] && kill "$asker_pid" 2>/dev/null || true
    [[ -n "$daemon_pid" ]] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    kill -TERM "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
# Pace each connection: delay() is whole milliseconds between a response and the next request, so RATE/1000
# connections with 1 ms each give just under RATE requests/s (the response time adds to each 1 ms).
conns=$(( rate / 1000 ))
per_conn_ms=1
cat >"$work/paced.lua" <<EOF
function delay() return $per_conn_ms end
EOF
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled="${BPF_STATS:-1}"
trap 'sysctl -qw kernel.bpf_stats_enabled=$old_stats; cleanup' EXIT

status() { python3 bench/l7_status.py "$work/sock" "$@"; }
# Keeps the daemon refreshing every second (as a watching client does).
asker() { while sleep 1; do status >/dev/null 2>&1 || true; done; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

run() {  # mode(no-l7|l7) kind(paced|saturate)
    local mode=$1 kind=$2 extra=(--no-l7)
    [[ "$mode" == "l7" ]] && extra=(--l7)
    rm -f "$work/sock"
    "$bin" --socket "$work/sock" --log-level warning "${extra[@]}" 2>>"$work/daemon.log" &
    daemon_pid=$!
    for _ in $(seq 100); do [[ -S "$work/sock" ]] && break; sleep 0.1; done
    sleep 2
    asker & asker_pid=$!
    local script=() threads=2 c=$conns
    [[ "$kind" == "paced" ]] && script=(-s "$work/paced.lua")
    [[ "$kind" == "saturate" ]] && c=50
    wrk -t1 -c"$conns" -d2s "${script[@]}" "http://127.0.0.1:$port/" >/dev/null  # warm up
    local before_ns before_cpu after_ns after_cpu
    before_ns=$(status --run-stats)
    before_cpu=$(cpu_ticks "$daemon_pid")
    local before_nginx after_nginx
    before_nginx=$(cpu_ticks "$nginx_pid")
    # wrk's own CPU (user + system, its syscalls' tracing included), from its rusage as a child of python.
    python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "w"), check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN); print(r.ru_utime + r.ru_stime)' "$work/wrk.txt" \
        wrk -t"$threads" -c"$c" -d"${seconds}s" --latency "${script[@]}" "http://127.0.0.1:$port/" >"$work/wrk-cpu"
    after_nginx=$(cpu_ticks "$nginx_pid")
    after_cpu=$(cpu_ticks "$daemon_pid")
    sleep 1.2  # one more refresh so the status reads the programs' run time after the run
    after_ns=$(status --run-stats)
    kill "$asker_pid" 2>/dev/null || true
    wait "$asker_pid" 2>/dev/null || true
    asker_pid=""
    kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""
    python3 - "$work/wrk.txt" "$mode" "$kind" "$before_ns" "$after_ns" "$before_cpu" "$after_cpu" "$hz" "$seconds" \
        "$(( after_nginx - before_nginx ))" "$(cat "$work/wrk-cpu")" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
mode, kind = sys.argv[2], sys.argv[3]
(ns0, runs0), (ns1, runs1) = (map(int, a.split()) for a in (sys.argv[4], sys.argv[5]))
bpf_ns, runs = ns1 - ns0, runs1 - runs0
cpu_s = (int(sys.argv[7]) - int(sys.argv[6])) / int(sys.argv[8])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def ms(label):
    m = re.search(label + r"\s+([\d.]+)(us|ms|s)\b", text)
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
total = rps * float(sys.argv[9])
per_k = 1000 / total if total else 0
print(f"{mode:6} {kind:9} {rps:10.0f} req/s  p50 {ms('50%'):7.3f} ms  p99 {ms('99%'):7.3f} ms  "
      f"daemon CPU {cpu_s * 1000 * per_k:6.3f} ms/1k req  BPF {bpf_ns / 1e6 * per_k:6.3f} ms/1k req  "
      f"(daemon {cpu_s / float(sys.argv[9]) * 100:.2f} % of a core, BPF {bpf_ns / 1e9 / float(sys.argv[9]) * 100:.2f} %; "
      f"{runs / total if total else 0:.1f} program runs/request, {bpf_ns / runs if runs else 0:.0f} ns/run)  "
      f"wrk+nginx CPU {(int(sys.argv[10]) / int(sys.argv[8]) + float(sys.argv[11])) * 1e6 / total if total else 0:.2f} us/request")
EOF
}

echo "nginx on 127.0.0.1:$port, wrk: paced $conns connections x 1 ms delay, saturation 50 connections; ${seconds} s per run, $config periscoped" >&2
for _ in $(seq "${ROUNDS:-1}"); do
    for kind in ${KINDS:-paced saturate}; do
        run no-l7 "$kind"
        run l7 "$kind"
    done
done
