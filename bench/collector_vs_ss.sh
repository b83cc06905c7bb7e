#!/usr/bin/env bash
# Periscope collector vs `ss -tanp`, in the same run, at N established loopback connections.
#
#   sudo bench/collector_vs_ss.sh [--connections 10000] [--procs 50] [--window 30] [--ss-runs 10]
#
# 1. bench/connections.py opens the connections (bounded lifetime) and prints "ready".
# 2. `ss -tanp` lists the same sockets with owners --ss-runs times; CPU (user+sys) per run is reported.
# 3. The collector runs one pass per second for --window seconds; its CPU is measured from outside
#    (utime+stime of the process in /proc/PID/stat, after a warm-up), divided by the passes it made.
#    It is either `periscope-bench collect` (when built; see the bench executable) or an already running
#    daemon given by PERISCOPED_PID=<pid> (whose refresh interval must be 1 s).
# Figures are printed; copy them into bench/README.md with the date, kernel and machine.
set -euo pipefail

CONNECTIONS=10000
PROCS=50
WINDOW=30
SS_RUNS=10
while [[ $# -gt 0 ]]; do
    case "$1" in
        --connections) CONNECTIONS=$2; shift 2 ;;
        --procs) PROCS=$2; shift 2 ;;
        --window) WINDOW=$2; shift 2 ;;
        --ss-runs) SS_RUNS=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

HERE=$(cd "$(dirname "$0")" && pwd)
TICKS=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

LOAD_OUT=$(mktemp)
python3 "$HERE/connections.py" --connections "$CONNECTIONS" --procs "$PROCS" --seconds $((WINDOW + 300)) >"$LOAD_OUT" &
LOAD_PID=$!
COLLECTOR_PID=""
cleanup() {
    [[ -n "$COLLECTOR_PID" ]] && kill "$COLLECTOR_PID" 2>/dev/null || true
    kill "$LOAD_PID" 2>/dev/null || true
    wait "$LOAD_PID" 2>/dev/null || true
    rm -f "$LOAD_OUT"
}
trap cleanup EXIT
for _ in $(seq 1 120); do grep -q ready "$LOAD_OUT" && break; sleep 1; done
grep -q ready "$LOAD_OUT" || { echo "load generator not ready" >&2; exit 1; }
echo "load: $CONNECTIONS connections over $PROCS processes; $(ls /proc | grep -c '^[0-9]') processes on the host"

# ss -tanp
TOTAL=0
for _ in $(seq 1 "$SS_RUNS"); do
    T=$( { /usr/bin/time -f "%U %S %e" ss -tanp >/dev/null; } 2>&1 | tail -1)
    TOTAL=$(echo "$T" | awk -v t="$TOTAL" '{ print t + $1 + $2 }')
    echo "ss -tanp: user+sys $(echo "$T" | awk '{ print $1 + $2 }') s, wall $(echo "$T" | awk '{ print $3 }') s"
done
SS_CPU=$(awk -v t="$TOTAL" -v n="$SS_RUNS" 'BEGIN { print t / n }')
echo "ss -tanp mean CPU per run: $SS_CPU s"

# collector
if [[ -n "${PERISCOPED_PID:-}" ]]; then
    COLLECTOR=$PERISCOPED_PID
elif command -v periscope-bench >/dev/null && periscope-bench collect --help >/dev/null 2>&1; then
    periscope-bench collect --interval 1 --seconds $((WINDOW + 5)) >/dev/null &
    COLLECTOR_PID=$!
    COLLECTOR=$COLLECTOR_PID
else
    echo "no collector: build periscope-bench (with a 'collect' subcommand) or set PERISCOPED_PID" >&2
    exit 0
fi
sleep 3   # warm-up: first pass resolves every owner once
START=$(cpu_ticks "$COLLECTOR")
sleep "$WINDOW"
END=$(cpu_ticks "$COLLECTOR")
PER_PASS=$(awk -v s="$START" -v e="$END" -v w="$WINDOW" -v hz="$TICKS" 'BEGIN { print (e - s) / hz / w }')
echo "collector CPU per 1 s pass (steady state): $PER_PASS s"
awk -v c="$PER_PASS" -v s="$SS_CPU" 'BEGIN { printf "ratio collector / ss -tanp: %.3f\n", c / s }'
echo "collector RSS: $(awk '/VmRSS/ { print $2, $3 }' "/proc/$COLLECTOR/status")"
