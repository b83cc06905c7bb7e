#!/usr/bin/env bash
# Subscription benchmarks (issue 4), all figures in one run, release build, default daemon settings
# (refresh 1000 ms; subscribers use the default minInterval of 100 ms):
#
#   sudo bench/subscriptions.sh [--trials 200] [--exec-trials 200] [--servers 50] [--clients 20]
#                               [--hold-ms 50] [--connections 10000] [--churn 100] [--subs 100]
#                               [--window 30] [--warmup 5] [--settle 65] [--only latency,capture,fanout]
#                               [--no-build]
#
# 1. Time to see (p50/p99, time.monotonic() in every process): (a) a fresh forked process per trial
#    connects to a loopback server; from connect() returning to a subscriber in a separate process
#    receiving the notification with the new edge; (b) posix_spawn of a uniquely named process ->
#    node added (subscriber on processes, all: true); (c) kill -> node removed or marked exited.
# 2. Short-lived capture: --servers x --clients long-lived processes (seen by the daemon first); each
#    client connects once to each server for --hold-ms; fraction of distinct (client, server) edges seen.
# 3. Fan-out: --connections established loopback connections (bench/connections.py holds
#    connections - 10 x churn, a churn process holds 10 x churn and closes/reopens --churn per second);
#    daemon CPU (utime+stime, /proc/PID/stat) over --window s with 1 subscriber, with --subs subscribers
#    (mixed views and filters), then with 1 again; ratio and VmHWM. The first window starts --settle s
#    after the churn starts (TIME-WAIT sockets from the churn reach their steady state after 60 s).
# Everything runs on loopback, is bounded in time and is cleaned up on exit. Python 3 stdlib only.
# Record the figures in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

TRIALS=200
EXEC_TRIALS=200
SERVERS=50
CLIENTS=20
HOLD_MS=50
CONNECTIONS=10000
CHURN=100
SUBS=100
WINDOW=30
WARMUP=5
SETTLE=65
ONLY=latency,capture,fanout
BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --trials) TRIALS=$2; shift 2 ;;
        --exec-trials) EXEC_TRIALS=$2; shift 2 ;;
        --servers) SERVERS=$2; shift 2 ;;
        --clients) CLIENTS=$2; shift 2 ;;
        --hold-ms) HOLD_MS=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --churn) CHURN=$2; shift 2 ;;
        --subs) SUBS=$2; shift 2 ;;
        --window) WINDOW=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --settle) SETTLE=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $(id -u) -eq 0 ]] || echo "warning: not root; the daemon cannot resolve other users' socket owners nor use the tracepoint" >&2

if [[ $BUILD -eq 1 ]]; then
    for attempt in 1 2 3 4 5; do   # others edit modules in parallel: retry a failed build after a minute
        swift build -c release --product periscoped >&2 && break
        [[ $attempt -eq 5 ]] && { echo "release build failed" >&2; exit 1; }
        echo "build failed (attempt $attempt), retrying in 60 s" >&2
        sleep 60
    done
fi
B=.build/release
[[ -x $B/periscoped ]] || { echo "no release build of periscoped" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d)
SOCK=$TMP/periscope.sock
DAEMON_PID=""
LOAD_PID=""
CHURN_PID=""
DRIVER_PID=""
cleanup() {
    set +e
    [[ -n "$DRIVER_PID" ]] && kill -TERM "$DRIVER_PID" 2>/dev/null && wait "$DRIVER_PID" 2>/dev/null
    [[ -n "$CHURN_PID" ]] && kill -TERM "$CHURN_PID" 2>/dev/null && wait "$CHURN_PID" 2>/dev/null
    [[ -n "$LOAD_PID" ]] && kill -TERM "$LOAD_PID" 2>/dev/null && wait "$LOAD_PID" 2>/dev/null
    [[ -n "$DAEMON_PID" ]] && kill -TERM "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The driver runs in the background and is waited for, so that the INT/TERM trap runs at once and
# can stop it (it reaps its own children on SIGTERM).
D() { python3 bench/subscriptions.py "$@" & DRIVER_PID=$!; wait "$DRIVER_PID"; DRIVER_PID=""; }
wait_daemon() {   # socket up, first report made, >= $1 sockets seen; at most $2 s
    python3 - "$SOCK" "$1" "$2" <<'PY'
import sys, time
sys.path.insert(0, "clients/python")
import periscope
sock, need, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end, last = time.time() + limit, {}
while time.time() < end:
    try:
        with periscope.connect(sock, timeout=10) as c:
            last = c.status()["collectors"].get("host-map", {})
        if last.get("passes", 0) >= 1 and last.get("sockets", 0) >= need:
            sys.exit(0)
    except (OSError, EOFError, periscope.RPCError, TimeoutError):
        pass
    time.sleep(0.3)
sys.exit(f"daemon not ready after {limit} s: {last}")
PY
}

echo "# subscriptions benchmark $(date -u +%FT%TZ) on $(hostname): $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r)"
echo "# commit $(git log --oneline -1 | cut -c1-60); uncommitted changes in Sources/: $(git status --porcelain -- Sources | wc -l) files; periscoped built $(date -u -r "$B/periscoped" +%FT%TZ); load average $(cut -d' ' -f1-3 /proc/loadavg)"

# Leftover TIME-WAIT sockets from a previous run would add ownerless sockets: wait for them to drain.
for _ in $(seq 1 75); do
    [[ $(ss -tan state time-wait | tail -n +2 | wc -l) -lt 1000 ]] && break
    sleep 1
done
"$B/periscoped" --socket "$SOCK" --log-level warning 2>"$TMP/daemon.log" &
DAEMON_PID=$!
wait_daemon 0 30
python3 - "$SOCK" <<'PY'
import sys; sys.path.insert(0, "clients/python"); import periscope
with periscope.connect(sys.argv[1]) as c:
    s = c.status()["collectors"]
    print("# daemon sources: " + "; ".join(f"{k}: {v.get('state')}" for k, v in sorted(s.items()) if isinstance(v, dict)))
PY

if [[ ,$ONLY, == *,latency,* ]]; then
    echo "== 1. time to see"
    D latency --socket "$SOCK" --trials "$TRIALS" --exec-trials "$EXEC_TRIALS" --tmp "$TMP"
fi
if [[ ,$ONLY, == *,capture,* ]]; then
    echo "== 2. short-lived capture"
    D capture --socket "$SOCK" --servers "$SERVERS" --clients "$CLIENTS" --hold-ms "$HOLD_MS"
fi
if [[ ,$ONLY, == *,fanout,* ]]; then
    echo "== 3. fan-out"
    BOUND=$((4 * (WARMUP + WINDOW) + SETTLE + 600))   # the load stops by itself even if this script is killed hard
    HELD=$((CONNECTIONS - 10 * CHURN))
    PROCS=$(( HELD / 50 > 2 ? HELD / 50 : 2 ))
    python3 bench/connections.py --connections "$HELD" --procs "$PROCS" --seconds "$BOUND" >"$TMP/load.out" 2>"$TMP/load.err" &
    LOAD_PID=$!
    for _ in $(seq 1 180); do grep -q ready "$TMP/load.out" && break; kill -0 "$LOAD_PID" 2>/dev/null || break; sleep 1; done
    grep -q ready "$TMP/load.out" || { echo "load generator not ready:" >&2; cat "$TMP/load.err" >&2; exit 1; }
    : >"$TMP/churn.out"
    python3 bench/subscriptions.py _churn --connections $((10 * CHURN)) --rate "$CHURN" --seconds "$BOUND" >"$TMP/churn.out" &
    CHURN_PID=$!
    for _ in $(seq 1 120); do grep -q ready "$TMP/churn.out" && break; kill -0 "$CHURN_PID" 2>/dev/null || break; sleep 0.5; done
    PORT=$(awk '/^ready/ { print $2 }' "$TMP/churn.out")
    [[ -n "$PORT" ]] || { echo "churn not ready" >&2; exit 1; }
    echo "load: $HELD connections over $PROCS processes (connections.py) + $((10 * CHURN)) over 5+5 churn processes," \
         "$CHURN closed and reopened per second; host: $(ss -tan state established | tail -n +2 | wc -l) established TCP sockets"
    wait_daemon $((2 * CONNECTIONS - 200)) 180
    # Churned connections linger 60 s in TIME-WAIT (ownerless sockets the daemon still dumps): let that
    # population reach its steady state (~60 x churn) before the first window, so the windows compare.
    echo "settling ${SETTLE} s for TIME-WAIT to reach steady state ($(ss -tan state time-wait | tail -n +2 | wc -l) now)"
    sleep "$SETTLE"
    D fanout --socket "$SOCK" --pid "$DAEMON_PID" --port "$PORT" --subs "$SUBS" --window "$WINDOW" --warmup "$WARMUP"
fi
grep -v '^$' "$TMP/daemon.log" | tail -5 | sed 's/^/daemon log: /' || true
