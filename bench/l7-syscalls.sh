#!/usr/bin/env bash
# Issue 14: what the L7 BPF programs cost the syscalls they must drop — reads and writes that are not on a TCP or
# UDP socket (a compiler's, a backup's). Times `dd` copying /dev/zero to /dev/null with tiny blocks (every read
# and write is a traced syscall doing almost nothing else), and `cat` of a file tree, alternately with `periscoped` running without
# and with its BPF programs (`--l7`), and prints the wall time per syscall and the programs' kernel run time per run
# (kernel.bpf_stats_enabled=1).
# Usage (root, repository root): bench/l7-syscalls.sh [ROUNDS]   (default 5 rounds of each; PERISCOPED=path to
# compare another build, default .build/debug/periscoped)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
bin=${PERISCOPED:-.build/debug/periscoped}
count=${COUNT:-1000000}
work=$(mktemp -d /tmp/periscope-bench-l7sys.XXXXXX)
daemon_pid=""
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
    [[ -n "$daemon_pid" ]] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    sysctl -qw kernel.bpf_stats_enabled="$old_stats"
    rm -rf "$work"
}
trap cleanup EXIT
sysctl -qw kernel.bpf_stats_enabled=1

stats() { python3 - "$work/sock" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon/status"}\n')
buf = b""
while not buf.endswith(b"\n"):
    buf += s.recv(1 << 20)
l7 = json.loads(buf)["result"]["collectors"]["l7"]
print(l7.get("runTimeNs", 0), l7.get("runCount", 0))
EOF
}
now_ns() { date +%s%N; }
# One timed workload; prints "wall_ns syscalls".
dd_run() {
    local t0 t1
    t0=$(now_ns); dd if=/dev/zero of=/dev/null bs=1 count="$count" status=none; t1=$(now_ns)
    echo "$(( t1 - t0 )) $(( 2 * count ))"
}
cat_run() {  # /usr/include read with 4 KiB blocks (cat uses 128 KiB: read + write per block, plus open/close)
    local t0 t1 n
    n=$(find /usr/include -type f | wc -l)
    t0=$(now_ns); find /usr/include -type f -print0 | xargs -0 cat >/dev/null; t1=$(now_ns)
    echo "$(( t1 - t0 )) $n"
}
start_daemon() {  # mode: off (the daemon without its BPF programs) or l7
    local extra=()
    [[ "$1" == l7 ]] && extra=(--l7)
    rm -f "$work/sock"
    "$bin" --socket "$work/sock" --log-level warning "${extra[@]}" 2>>"$work/daemon.log" &
    daemon_pid=$!
    for _ in $(seq 100); do [[ -S "$work/sock" ]] && break; sleep 0.1; done
    sleep 2
}
stop_daemon() { kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""; }

cat_run >/dev/null  # page cache warm
declare -A sum
for r in $(seq "$rounds"); do
    for mode in off l7; do
        start_daemon "$mode"
        for w in dd cat; do
            before="0 0"; [[ "$mode" == l7 ]] && before=$(stats)
            read -r ns n < <("${w}_run")
            after="0 0"; [[ "$mode" == l7 ]] && after=$(stats)
            read -r b_ns b_runs <<<"$before"; read -r a_ns a_runs <<<"$after"
            sum[$mode.$w.ns]=$(( ${sum[$mode.$w.ns]:-0} + ns ))
            sum[$mode.$w.n]=$n
            sum[$mode.$w.bpf]=$(( ${sum[$mode.$w.bpf]:-0} + a_ns - b_ns ))
            sum[$mode.$w.runs]=$(( ${sum[$mode.$w.runs]:-0} + a_runs - b_runs ))
        done
        stop_daemon
    done
done
echo "$rounds rounds, alternating; $(uptime | sed 's/.*load/load/')"
for w in dd cat; do
    python3 - "$w" "$rounds" "${sum[off.$w.ns]}" "${sum[l7.$w.ns]}" "${sum[l7.$w.n]}" "${sum[l7.$w.bpf]}" "${sum[l7.$w.runs]}" <<'EOF'
import sys
w, rounds, off_ns, l7_ns, n, bpf, runs = sys.argv[1], *map(int, sys.argv[2:])
if w == "dd":
    per = lambda ns: ns / rounds / n
    print(f"dd bs=1 ({n} read+write syscalls/run): {per(off_ns):.0f} ns/syscall without, {per(l7_ns):.0f} ns with --l7 "
          f"(+{per(l7_ns) - per(off_ns):.0f} ns, {100 * (l7_ns - off_ns) / off_ns:+.1f} %); BPF {bpf / runs if runs else 0:.0f} ns/program run, "
          f"{runs / rounds / n:.2f} runs/syscall")
else:
    print(f"cat of /usr/include ({n} files): {off_ns / rounds / 1e6:.0f} ms without, {l7_ns / rounds / 1e6:.0f} ms with --l7 "
          f"({100 * (l7_ns - off_ns) / off_ns:+.1f} %); BPF {bpf / rounds / 1e6:.1f} ms/run, {bpf / runs if runs else 0:.0f} ns/program run")
EOF
done
