#!/usr/bin/env bash
# Always on, almost free (issue 16): the daemon's cost on a quiet host, with 10k TIME_WAIT sockets, under
# build-like churn and a real `make -j2`, and latency under load. One release daemon, default settings:
#
#   sudo bench/always-on.sh [--window 20] [--warmup 3] [--settle 22] [--trials 100]
#                           [--only quiet,timewait,churn,make,latency]
#                           [--binary PATH] [--no-build]
#
# quiet     daemon CPU (utime+stime of /proc/PID/stat) over --window s after --warmup s, nothing else started
# timewait  bench/always_on.py opens and closes 10,000 loopback connections (10k TIME_WAIT, inode 0, no owner);
#           after --settle s (the 10k closed connections stay in the map for the 10 s retention, and the history
#           log commits their removal within 10 s more: that one-time cost of the closes is printed apart),
#           the daemon's CPU over --window s while the TIME_WAIT sockets linger (60 s), with `ss -tan` and
#           `ss -tanp` run once per second in the same window (their CPU from getrusage of children)
# churn     50 posix_spawn'd /bin/true per second + 10 new loopback connections per second for the window; the
#           daemon's CPU against the churn's own CPU (self + children)
# make      clean `make -j2` builds of a generated 41-file C project, back to back, for the window; the
#           daemon's CPU against make's CPU
# latency   bench/subscriptions.py latency (connect → edge, exec → node, exit → removal) while the churn runs,
#           then again with 10k TIME_WAIT sockets lingering (after --settle s)
# Python 3 stdlib only; everything on loopback, bounded and cleaned up. Record the figures in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

WINDOW=20
WARMUP=3
TRIALS=100
SETTLE=22
ONLY=quiet,timewait,churn,make,latency
BUILD=1
BINARY=.build/release/periscoped
while [[ $# -gt 0 ]]; do
    case "$1" in
        --window) WINDOW=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --trials) TRIALS=$2; shift 2 ;;
        --settle) SETTLE=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --binary) BINARY=$2; BUILD=0; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $(id -u) -eq 0 ]] || echo "warning: not root; no process connector, no tracepoint, no foreign owners" >&2
[[ $BUILD -eq 1 ]] && swift build -c release --product periscoped >&2
[[ -x $BINARY ]] || { echo "no binary $BINARY" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d)
SOCK=$TMP/periscope.sock
DAEMON_PID=""
BG_PID=""
cleanup() {
    set +e
    [[ -n "$BG_PID" ]] && kill -TERM "$BG_PID" 2>/dev/null && wait "$BG_PID" 2>/dev/null
    [[ -n "$DAEMON_PID" ]] && kill -TERM "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

A() { python3 bench/always_on.py "$@"; }
# Starts a background load with Python itself as BG_PID (`A ... &` would make BG_PID a subshell, and killing that
# left the Python running).
background() { python3 bench/always_on.py "$@" & BG_PID=$!; }
wait_time_wait_gone() {   # other runs' TIME_WAIT sockets would inflate the quiet figure
    for _ in $(seq 1 75); do
        [[ $(ss -tan state time-wait | tail -n +2 | wc -l) -lt 200 ]] && return
        sleep 1
    done
}
part() { [[ ,$ONLY, == *,$1,* ]]; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, clock ticks

echo "# always-on benchmark $(date -u +%FT%TZ) on $(hostname): $(nproc) cores, Linux $(uname -r)"
echo "# binary $BINARY built $(date -u -r "$BINARY" +%FT%TZ); commit $(git log --oneline -1 | cut -c1-60); uncommitted files in Sources/: $(git status --porcelain -- Sources | wc -l); load average $(cut -d' ' -f1-3 /proc/loadavg)"
wait_time_wait_gone
"$BINARY" --socket "$SOCK" --log-level warning 2>"$TMP/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 1 100); do [[ -S $SOCK ]] && break; sleep 0.1; done
sleep 2

if part quiet; then
    echo "# quiet, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    A cpu --pid "$DAEMON_PID" --socket "$SOCK" --label quiet --window "$WINDOW" --warmup "$WARMUP"
fi
if part timewait; then
    wait_time_wait_gone
    CPU0=$(cpu_ticks "$DAEMON_PID")
    A timewait --count 10000
    sleep "$SETTLE"
    CPU1=$(cpu_ticks "$DAEMON_PID")
    echo "# the 10k connections opened, closed, kept 10 s and removed cost the daemon $(( (CPU1 - CPU0) * 1000 / $(getconf CLK_TCK) )) ms of CPU in the $SETTLE s settle"
    echo "# 10k TIME_WAIT, load average $(cut -d' ' -f1-3 /proc/loadavg); TIME_WAIT now $(ss -tan state time-wait | tail -n +2 | wc -l)"
    A cpu --pid "$DAEMON_PID" --socket "$SOCK" --label timewait --window "$WINDOW" --warmup "$WARMUP" --ss
fi
if part churn; then
    wait_time_wait_gone
    echo "# churn, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    background churn --seconds "$(echo "$WINDOW + $WARMUP + 1" | bc)"
    A cpu --pid "$DAEMON_PID" --socket "$SOCK" --label churn --window "$WINDOW" --warmup "$WARMUP"
    wait "$BG_PID"; BG_PID=""
fi
if part make; then
    echo "# make -j2, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    background make --seconds "$(echo "$WINDOW + $WARMUP + 1" | bc)" --tmp "$TMP"
    A cpu --pid "$DAEMON_PID" --socket "$SOCK" --label make --window "$WINDOW" --warmup "$WARMUP"
    wait "$BG_PID"; BG_PID=""
fi
if part latency; then
    echo "# latency under churn, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    background churn --seconds 600
    python3 bench/subscriptions.py latency --socket "$SOCK" --trials "$TRIALS" --exec-trials "$TRIALS" --tmp "$TMP"
    kill -TERM "$BG_PID" 2>/dev/null; wait "$BG_PID" 2>/dev/null || true; BG_PID=""
    A timewait --count 10000
    sleep "$SETTLE"
    echo "# latency with 10k TIME_WAIT, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    python3 bench/subscriptions.py latency --socket "$SOCK" --trials "$TRIALS" --exec-trials "$TRIALS" --tmp "$TMP"
fi
echo "# daemon VmRSS $(awk '/VmRSS/ { print $2 / 1024 " MB" }' /proc/$DAEMON_PID/status); log:"
tail -5 "$TMP/daemon.log"
