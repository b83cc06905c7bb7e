#!/usr/bin/env bash
# Issue 14: what the L7 BPF programs cost the syscalls they must drop — reads and writes that are not on a TCP or
# UDP socket (a compiler's, a backup's). Measures the CPU time (user + system, from getrusage: less disturbed by
# other load than wall time) of `dd` copying /dev/zero to /dev/null one byte at a time (every read and write is a
# traced syscall doing almost nothing else) and of `cat` over /usr/include, alternately with `periscoped` running
# without and with its BPF programs (`--l7`). The timed runs have kernel.bpf_stats_enabled=0 (the statistics cost
# two clock reads per program run); one more dd run with it on gives the programs' own ns per run.
# Usage (root, repository root): bench/l7-syscalls.sh [ROUNDS]   (default 5; the minimum over rounds is printed,
# the least disturbed figure on a shared machine). PERISCOPED=path compares another build (default
# .build/debug/periscoped); COUNT=bytes for dd (default 500000).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
bin=${PERISCOPED:-.build/debug/periscoped}
count=${COUNT:-500000}
work=$(mktemp -d /tmp/periscope-bench-l7sys.XXXXXX)
daemon_pid=""
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
    [[ -n "$daemon_pid" ]] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    sysctl -qw kernel.bpf_stats_enabled="$old_stats"
    rm -rf "$work"
}
trap cleanup EXIT
sysctl -qw kernel.bpf_stats_enabled=0

stats() { python3 bench/l7_status.py "$work/sock" --run-stats; }
# CPU nanoseconds of one workload (its children's user + system time).
cpu_ns() { python3 - "$@" <<'EOF'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(round((r.ru_utime + r.ru_stime) * 1e9))
EOF
}
dd_run() { cpu_ns dd if=/dev/zero of=/dev/null bs=1 count="$count" status=none; }
cat_run() { cpu_ns sh -c 'find /usr/include -type f -print0 | xargs -0 cat'; }
start_daemon() {  # mode: off (the daemon without its BPF programs) or l7
    local extra=(--no-l7)
    [[ "$1" == l7 ]] && extra=(--l7)
    rm -f "$work/sock"
    "$bin" --socket "$work/sock" --log-level warning "${extra[@]}" 2>>"$work/daemon.log" &
    daemon_pid=$!
    for _ in $(seq 100); do [[ -S "$work/sock" ]] && break; sleep 0.1; done
    sleep 2
}
stop_daemon() { kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""; }

cat_run >/dev/null  # page cache warm
declare -A best
keep_min() { [[ -z "${best[$1]:-}" || "$2" -lt "${best[$1]}" ]] && best[$1]=$2 || true; }
for _ in $(seq "$rounds"); do
    for mode in off l7; do
        start_daemon "$mode"
        keep_min "$mode.dd" "$(dd_run)"
        keep_min "$mode.cat" "$(cat_run)"
        if [[ "$mode" == l7 ]]; then  # the programs' own cost per run, statistics on
            sysctl -qw kernel.bpf_stats_enabled=1
            read -r b_ns b_runs < <(stats)
            dd_run >/dev/null
            read -r a_ns a_runs < <(stats)
            sysctl -qw kernel.bpf_stats_enabled=0
            keep_min bpf_ns_per_run $(( (a_ns - b_ns) / (a_runs - b_runs) ))
            best[runs_per_syscall]=$(( 100 * (a_runs - b_runs) / (2 * count) ))
        fi
        stop_daemon
    done
done
files=$(find /usr/include -type f | wc -l)
echo "$rounds rounds, alternating, minimum of each; $(uptime | sed 's/.*load/load/')"
python3 - "$count" "$files" "${best[off.dd]}" "${best[l7.dd]}" "${best[off.cat]}" "${best[l7.cat]}" \
    "${best[bpf_ns_per_run]}" "${best[runs_per_syscall]}" <<'EOF'
import sys
count, files, off_dd, l7_dd, off_cat, l7_cat, bpf_run, runs = map(int, sys.argv[1:])
n = 2 * count
print(f"dd bs=1, {n} read+write syscalls: {off_dd / n:.0f} ns CPU/syscall without the programs, {l7_dd / n:.0f} with "
      f"({(l7_dd - off_dd) / n:+.0f} ns, {100 * (l7_dd - off_dd) / off_dd:+.0f} %); programs' own run time "
      f"{bpf_run} ns/run, {runs / 100:.2f} runs/syscall (bpf_stats on)")
print(f"cat of /usr/include ({files} files): {off_cat / 1e6:.0f} ms CPU without, {l7_cat / 1e6:.0f} ms with "
      f"({100 * (l7_cat - off_cat) / off_cat:+.1f} %)")
EOF
