#!/usr/bin/env bash
# Where a daemon's CPU and wake-ups go, thread by thread (issue 16): a fresh periscoped, then over --window
# seconds each thread's CPU time (the first field of /proc/PID/task/TID/schedstat, in ns, so no 10 ms ticks) and
# its voluntary context switches (≈ wake-ups) per second.
#
#   sudo bench/threads.sh [--binary PATH] [--window 20] [--warmup 5] [--subscriber] [--churn]
#
# --subscriber  a `periscope watch processes` client holds a subscription through the window (someone looks)
# --churn       bench/always_on.py churn runs through the window (50 execs/s + 10 connections/s); its own CPU
#               is printed, so the daemon's share of it can be read off
# On this 2-core VM a wake-up costs the woken thread ~50-70 us of CPU whatever it then does, so wake-ups are the
# figure to watch on a quiet host. Python 3 and the release build only; cleans up on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BINARY=.build/release/periscoped
CLIENT=.build/release/periscope
WINDOW=20
WARMUP=5
SUBSCRIBER=0
CHURN=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --binary) BINARY=$2; shift 2 ;;
        --window) WINDOW=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --subscriber) SUBSCRIBER=1; shift ;;
        --churn) CHURN=1; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[[ -x $BINARY && -x $CLIENT ]] || { echo "build first: swift build -c release" >&2; exit 2; }
TMP=$(mktemp -d)
SOCK=$TMP/periscope.sock
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

"$BINARY" --socket "$SOCK" --log-level warning 2>"$TMP/daemon.log" &
DAEMON=$!
PIDS+=("$DAEMON")
for _ in $(seq 50); do [[ -S $SOCK ]] && break; sleep 0.1; done
if [[ $SUBSCRIBER -eq 1 ]]; then
    "$CLIENT" --socket "$SOCK" watch processes >/dev/null 2>&1 &
    PIDS+=("$!")
fi
if [[ $CHURN -eq 1 ]]; then
    python3 bench/always_on.py churn --seconds "$((WINDOW + WARMUP + 2))" >"$TMP/churn.txt" 2>&1 &
    PIDS+=("$!")
fi
sleep "$WARMUP"

snapshot() {
    for t in /proc/"$DAEMON"/task/*; do
        printf '%s|%s|%s|%s\n' "$(basename "$t")" "$(cat "$t/comm" 2>/dev/null || echo gone)" \
            "$(cut -d' ' -f1 "$t/schedstat" 2>/dev/null || echo 0)" \
            "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status" 2>/dev/null || echo 0)"
    done | sort
}
ticks() { awk '{print $14 + $15}' /proc/"$DAEMON"/stat; }
TICKS_A=$(ticks); snapshot >"$TMP/a"
sleep "$WINDOW"
TICKS_B=$(ticks); snapshot >"$TMP/b"
echo "# $(basename "$BINARY") $(git log --oneline -1 | cut -c1-40); subscriber $SUBSCRIBER, churn $CHURN; load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Threads present at both ends (dispatch workers come and go: those are summed under "others").
join -t'|' "$TMP/a" "$TMP/b" | awk -F'|' -v w="$WINDOW" '
    { cpu = ($6 - $3) / 1e6 / w; wk = ($7 - $4) / w; total += cpu; wakes += wk
      printf "%-18s cpu %6.2f ms/s   wake-ups %6.1f /s\n", $2, cpu, wk }
    END { printf "threads present throughout: cpu %.2f ms/s = %.3f %% of a core, wake-ups %.1f /s\n", total, total / 10, wakes }'
awk -v w="$WINDOW" -v a="$TICKS_A" -v b="$TICKS_B" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "whole process (utime+stime, %d ms ticks): %.1f ms/s\n", 1000 / hz, (b - a) * 1000 / hz / w }'
if [[ $CHURN -eq 1 ]]; then
    wait "${PIDS[-1]}" 2>/dev/null || true
    cat "$TMP/churn.txt"
fi
