#!/usr/bin/env bash
# Container benchmarks (issue 5), release build, default daemon settings (refresh 1000 ms), a private
# `podman --runtime runc system service` as the engine and a local busybox image (no registry):
#
#   sudo bench/containers.sh [--trials 50] [--window 30] [--scratch-path .build] [--no-build]
#
# 1. Start -> subscriber: --trials containers (sleep) are created, then started one at a time through the
#    engine API; for each, the time from the engine's `start` event (received on /events by the driver) to
#    a subscriber in a separate process (topology/subscribe on `containers`, minInterval 100 ms, the
#    stdlib client in clients/python) receiving the notification that adds the node. p50/p99.
# 2. Daemon CPU (utime+stime over --window s, percent of one core) with those containers running idle
#    (engine connected), versus the same host with the daemon pointed at no engine
#    (--docker-socket to a path that does not exist), versus no containers at all and no engine.
# Everything is removed on exit. Needs root, podman, runc, /bin/busybox. Record figures in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

TRIALS=50
WINDOW=30
SCRATCH=.build
BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --trials) TRIALS=$2; shift 2 ;;
        --window) WINDOW=$2; shift 2 ;;
        --scratch-path) SCRATCH=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $(id -u) -eq 0 ]] || { echo "needs root (podman, every namespace)" >&2; exit 1; }
for tool in podman runc; do command -v $tool >/dev/null || { echo "$tool is not installed" >&2; exit 1; }; done
[[ -x /bin/busybox ]] || { echo "/bin/busybox (busybox-static) is not installed" >&2; exit 1; }

if [[ $BUILD -eq 1 ]]; then
    swift build -c release --product periscoped --scratch-path "$SCRATCH" >&2
fi
B=$SCRATCH/release
[[ -x $B/periscoped ]] || { echo "no release build of periscoped in $B" >&2; exit 1; }

PODMAN=(podman --runtime runc)
RUN=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
IMAGE=localhost/pscope-bench-$RUN:1
TMP=$(mktemp -d)
ENGINE=$TMP/engine.sock
SOCK=$TMP/periscope.sock
DAEMON_PID=""
SERVICE_PID=""
stop_daemon() {
    if [[ -n "$DAEMON_PID" ]]; then kill -TERM "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null || true; fi
    DAEMON_PID=""
}
remove_containers() {
    local ids
    ids=$("${PODMAN[@]}" ps -aq --filter "label=periscope.bench=$RUN" 2>/dev/null || true)
    [[ -n "$ids" ]] && "${PODMAN[@]}" rm -f -t 0 $ids >/dev/null 2>&1 || true
}
cleanup() {
    set +e
    stop_daemon
    remove_containers
    "${PODMAN[@]}" rmi -f "$IMAGE" >/dev/null 2>&1
    if [[ -n "$SERVICE_PID" ]]; then kill -TERM "$SERVICE_PID" 2>/dev/null; wait "$SERVICE_PID" 2>/dev/null; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_daemon() {   # $@: extra flags
    rm -f "$SOCK"
    "$B/periscoped" --socket "$SOCK" --log-level warning "$@" 2>"$TMP/daemon.log" &
    DAEMON_PID=$!
    python3 - "$SOCK" <<'PY'
import sys, time
sys.path.insert(0, "clients/python")
import periscope
end = time.time() + 30
while time.time() < end:
    try:
        with periscope.connect(sys.argv[1], timeout=10) as c:
            if c.status()["collectors"].get("host-map", {}).get("passes", 0) >= 1:
                sys.exit(0)
    except (OSError, EOFError, periscope.RPCError, TimeoutError):
        pass
    time.sleep(0.2)
sys.exit("daemon not ready")
PY
}
containers_health() {
    python3 - "$SOCK" <<'PY'
import sys
sys.path.insert(0, "clients/python")
import periscope
with periscope.connect(sys.argv[1], timeout=10) as c:
    print(c.status()["collectors"]["containers"]["summary"])
PY
}

echo "# containers benchmark $(date -u +%FT%TZ) on $(hostname): $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r), $(podman --version)"
echo "# commit $(git log --oneline -1 | cut -c1-60); uncommitted changes in Sources/: $(git status --porcelain -- Sources | wc -l) files; periscoped built $(date -u -r "$B/periscoped" +%FT%TZ); load average $(cut -d' ' -f1-3 /proc/loadavg)"

# Image and engine.
mkdir -p "$TMP/rootfs/bin" "$TMP/rootfs/tmp"
cp /bin/busybox "$TMP/rootfs/bin/"
for applet in $(/bin/busybox --list); do [[ $applet == busybox ]] || ln -s busybox "$TMP/rootfs/bin/$applet"; done
tar -C "$TMP/rootfs" -c . | "${PODMAN[@]}" import - "$IMAGE" >/dev/null 2>&1
"${PODMAN[@]}" system service --time=0 "unix://$ENGINE" >/dev/null 2>&1 &
SERVICE_PID=$!
for _ in $(seq 1 200); do [[ -S $ENGINE ]] && break; sleep 0.05; done

# 1. Start -> subscriber.
start_daemon --docker-socket "$ENGINE"
echo "## start -> subscriber ($TRIALS starts)"
python3 bench/containers.py latency --socket "$SOCK" --engine "$ENGINE" --image "$IMAGE" --run "$RUN" --trials "$TRIALS"
sleep 3
echo "daemon: $(containers_health)"

# 2. CPU.
echo "## daemon CPU over $WINDOW s (percent of one core)"
sleep 5
echo "$TRIALS idle containers, engine connected: $(python3 bench/containers.py cpu --pid "$DAEMON_PID" --window "$WINDOW") %"
stop_daemon
start_daemon --docker-socket "$TMP/no-engine.sock"
sleep 5
echo "$TRIALS idle containers, no engine (daemon pointed at a missing socket): $(python3 bench/containers.py cpu --pid "$DAEMON_PID" --window "$WINDOW") %"
stop_daemon
remove_containers
start_daemon --docker-socket "$TMP/no-engine.sock"
sleep 5
echo "no containers, no engine: $(python3 bench/containers.py cpu --pid "$DAEMON_PID" --window "$WINDOW") %"
