#!/usr/bin/env bash
# Memory A/B at 10,000 connections, in one run and away from other loads on a shared machine:
#
#   sudo bench/memory-ab.sh [--window 30] [--warmup 20] BINARY [BINARY...]
#
# Re-runs itself in a private pid + net + mount namespace (loopback up; /proc shows only its own processes), opens
# 10,000 loopback connections over 200 processes (bench/connections.py) plus 100 idle sleeps, starts every BINARY
# as a daemon (history off) with one `topology/subscribe processes` subscriber each, waits --warmup seconds, then
# prints each daemon's CPU over --window seconds (utime + stime per wall second) and its VmRSS / VmHWM / RssAnon.
# All daemons see the same sockets in the same period, so the figures compare even on a loaded machine.
# Caveat: the kernel's process connector only works in the initial network namespace, so in here the daemons
# have no process events and make a full pass every second (bench/host-map.sh makes counters updates instead):
# compare binaries with this, report the benchmark's own figures with bench/host-map.sh.
# Python 3 stdlib only; bounded in time; everything it starts ends with the namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOW=30
WARMUP=20
while [[ $# -gt 0 ]]; do
    case "$1" in
        --window) WINDOW=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) break ;;
    esac
done
[[ $# -ge 1 ]] || { echo "usage: $0 [--window S] [--warmup S] BINARY [BINARY...]" >&2; exit 2; }
if [[ -z "${MEMORY_AB_INSIDE:-}" ]]; then
    exec env MEMORY_AB_INSIDE=1 unshare --pid --net --mount --fork --mount-proc "$0" --window "$WINDOW" --warmup "$WARMUP" "$@"
fi
ip link set lo up
ulimit -n "$(ulimit -Hn)"
TMP=$(mktemp -d)
BOUND=$((WARMUP + WINDOW + 200))
python3 bench/connections.py --connections 10000 --procs 200 --seconds "$BOUND" >"$TMP/load.out" 2>"$TMP/load.err" &
for _ in $(seq 1 100); do sleep "$BOUND" & done
for _ in $(seq 1 180); do grep -q ready "$TMP/load.out" && break; sleep 1; done
grep -q ready "$TMP/load.out" || { cat "$TMP/load.err" >&2; exit 1; }
cat >"$TMP/sub.py" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
for _ in range(150):
    try:
        s.connect(sys.argv[1]); break
    except OSError:
        time.sleep(0.2)
def send(m):
    b = json.dumps(m).encode(); s.sendall(b"Content-Length: %d\r\n\r\n" % len(b) + b)
send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
send({"jsonrpc": "2.0", "id": 2, "method": "topology/subscribe", "params": {"view": "processes"}})
s.settimeout(1)
end = time.time() + float(sys.argv[2])
while time.time() < end:   # notifications read and dropped
    try:
        s.recv(1 << 20)
    except socket.timeout:
        pass
PY
PIDS=()
for i in $(seq 1 $#); do
    "${!i}" --socket "$TMP/s$i.sock" --log-level warning --history off 2>"$TMP/d$i.log" &
    PIDS+=($!)
    python3 "$TMP/sub.py" "$TMP/s$i.sock" $((WARMUP + WINDOW + 10)) &
done
sleep "$WARMUP"
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
declare -a T0
for i in "${!PIDS[@]}"; do T0[$i]=$(ticks "${PIDS[$i]}"); done
sleep "$WINDOW"
echo "# memory A/B $(date -u +%FT%TZ): 10000 connections / 200 processes, 1 subscriber each, window $WINDOW s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for i in "${!PIDS[@]}"; do
    p=${PIDS[$i]}
    cpu=$(( ($(ticks "$p") - T0[$i]) * 1000 / HZ / WINDOW ))
    mem=$(awk '/^(VmRSS|VmHWM|RssAnon):/ { printf "%s %.1f MB, ", $1, $2 / 1024 }' "/proc/$p/status")
    echo "${@:$((i + 1)):1}: CPU ${cpu} ms/s; ${mem%, }"
done
rm -rf "$TMP"
