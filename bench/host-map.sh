#!/usr/bin/env bash
# Host map benchmark (issue 3), all figures in one run, release build:
#
#   sudo bench/host-map.sh [--connections 10000] [--procs 200] [--idle-procs 100] [--window 30]
#                          [--warmup 5] [--ss-runs 10] [--lsof-runs 3] [--calls 20] [--subscribers 1]
#                          [--perf SECONDS] [--no-build] [--binary PATH] [--history PATH]
#
# 1. Idle: a fresh periscoped (default 1 s refresh, no load generator); its utime+stime from
#    /proc/PID/stat over --window seconds after --warmup seconds, as % of a core and per refresh.
# 2. Load: bench/connections.py opens --connections established loopback TCP connections over --procs
#    processes (2 sockets each), plus --idle-procs idle `sleep` processes. Once the daemon sees the
#    sockets: its CPU over --window seconds after --warmup, divided by the refreshes it made in that
#    window (daemon/status -> collectors.host-map.passes); VmRSS / VmHWM. --subscribers clients hold a
#    `topology/subscribe processes` through this window (someone looking: full passes at the refresh rate).
# 3. Same run, same load: CPU (user+sys, from getrusage of children) of `ss -tanp`, `ss -tan` and
#    `lsof -nP -iTCP` (if installed), and the ratio daemon-per-refresh / `ss -tanp`.
# 4. topology/get {"view":"processes"} over the Unix socket (Content-Length framing), client-measured
#    from request sent to last reply byte: --calls rounds; each waits for a new revision
#    (collectors.host-map.revision), calls once (uncached: first render of that revision) and once more
#    (cached: same revision, answered from the render cache).
# --binary runs that periscoped instead of .build/release's (implies --no-build): A/B runs in one period.
# --history PATH records the history log there (default off), to measure the recorder's cost on purpose.
# Everything runs on loopback, is bounded in time and is cleaned up on exit. Python 3 stdlib only.
# Record the figures in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

CONNECTIONS=10000
PROCS=200
IDLE_PROCS=100
WINDOW=30
WARMUP=5
SS_RUNS=10
LSOF_RUNS=3
CALLS=20
SUBSCRIBERS=1
PERF=0
BUILD=1
DAEMON_BIN=""
HISTORY=off
while [[ $# -gt 0 ]]; do
    case "$1" in
        --connections) CONNECTIONS=$2; shift 2 ;;
        --procs) PROCS=$2; shift 2 ;;
        --idle-procs) IDLE_PROCS=$2; shift 2 ;;
        --window) WINDOW=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --ss-runs) SS_RUNS=$2; shift 2 ;;
        --lsof-runs) LSOF_RUNS=$2; shift 2 ;;
        --calls) CALLS=$2; shift 2 ;;
        --subscribers) SUBSCRIBERS=$2; shift 2 ;;
        --perf) PERF=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --binary) DAEMON_BIN=$2; BUILD=0; shift 2 ;;
        --history) HISTORY=$2; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $(id -u) -eq 0 ]] || echo "warning: not root; the daemon cannot resolve other users' socket owners" >&2

if [[ $BUILD -eq 1 ]]; then
    swift build -c release --product periscoped >&2
fi
B=.build/release
DAEMON_BIN=${DAEMON_BIN:-$B/periscoped}
[[ -x $DAEMON_BIN ]] || { echo "no release build of periscoped ($DAEMON_BIN)" >&2; exit 1; }

# 10k connections = 20k sockets, spread over the worker processes (connections.py raises each
# worker's soft limit to what it needs); the daemon and the tools get the hard limit.
ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d)
SOCK=$TMP/periscope.sock
DAEMON_PID=""
LOAD_PID=""
SLEEP_PIDS=()
cleanup() {
    set +e
    [[ -n "$LOAD_PID" ]] && kill -TERM "$LOAD_PID" 2>/dev/null && wait "$LOAD_PID" 2>/dev/null
    for p in "${SLEEP_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${SLEEP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    [[ -n "$DAEMON_PID" ]] && kill -TERM "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- measuring client (Python 3 stdlib)
cat >"$TMP/hm.py" <<'PY'
import json, os, resource, socket, statistics, subprocess, sys, threading, time

HZ = os.sysconf("SC_CLK_TCK")

class Client:
    """JSON-RPC 2.0 over a Unix socket, LSP Content-Length framing."""
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = bytearray()
        self.next_id = 0
        self.call("initialize", {})
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    def send(self, msg):
        body = json.dumps(msg, separators=(",", ":")).encode()
        self.s.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    def read(self):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                length = None
                for line in bytes(self.buf[:end]).split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                total = end + 4 + length
                while len(self.buf) < total:
                    chunk = self.s.recv(max(1 << 20, total - len(self.buf)))
                    if not chunk:
                        raise EOFError("daemon closed the connection")
                    self.buf += chunk
                body = bytes(self.buf[end + 4:total])
                del self.buf[:total]
                return body
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("daemon closed the connection")
            self.buf += chunk
    def call_raw(self, method, params=None):
        """Returns (seconds from send to last reply byte, raw body)."""
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        t0 = time.perf_counter()
        self.send(msg)
        while True:
            body = self.read()
            t1 = time.perf_counter()
            if b'"id"' in body:   # skip notifications
                return t1 - t0, body
    def call(self, method, params=None):
        _, body = self.call_raw(method, params)
        reply = json.loads(body)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]
    def hostmap(self):
        return self.call("daemon/status")["collectors"].get("host-map", {})

def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime (fields 14, 15)

def mem(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024   # MiB
    return out

def emit(vals, key, value):
    with open(vals, "a") as f:
        f.write(f"{key}={value}\n")

def cmd_wait(sock, min_sockets, timeout):
    """Wait until the socket exists and the daemon has a report (and sees >= min_sockets sockets)."""
    deadline = time.time() + float(timeout)
    last = {}
    while time.time() < deadline:
        try:
            last = Client(sock).hostmap()
            if last.get("passes", 0) >= 1 and last.get("sockets", 0) >= int(min_sockets):
                return
        except (OSError, EOFError, RuntimeError):
            pass
        time.sleep(0.2)
    sys.exit(f"daemon not ready after {timeout} s: {last}")

def cmd_window(sock, pid, warmup, window, label, vals, subscribers="0"):
    pid = int(pid)
    c = Client(sock)
    for _ in range(int(subscribers)):   # held through the window, notifications read and dropped
        sub = Client(sock)
        sub.call("topology/subscribe", {"view": "processes"})
        threading.Thread(target=lambda s=sub: [s.read() for _ in iter(int, 1)], daemon=True).start()
    time.sleep(float(warmup))
    s0 = c.call("daemon/status")["collectors"]
    h0, t0, w0 = s0.get("host-map", {}), ticks(pid), time.monotonic()
    samples = []
    end = w0 + float(window)
    while time.monotonic() < end:           # one status call a second: negligible next to a pass
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        samples.append(c.hostmap())
    s1 = c.call("daemon/status")["collectors"]
    h1, t1, w1 = s1.get("host-map", {}), ticks(pid), time.monotonic()
    cpu = (t1 - t0) / HZ
    # Refreshes: full passes plus counters updates (between full passes while someone looks).
    passes = h1["passes"] - h0["passes"] + h1.get("counterUpdates", 0) - h0.get("counterUpdates", 0)
    wall = w1 - w0
    per = cpu / passes if passes else float("nan")
    events = s1.get("process-events", {}).get("eventsSeen", 0) - s0.get("process-events", {}).get("eventsSeen", 0)
    m = mem(pid)
    def dist(key):
        v = [s[key] for s in samples if key in s]
        return f"median {statistics.median(v):.1f}, max {max(v):.1f}" if v else "n/a"
    walks = sum(1 for s in samples if s.get("fdReadlinksLastPass", 0) > 0)
    print(f"{label}: host-map sees {h1.get('processes')} processes, {h1.get('sockets')} sockets "
          f"({h1.get('socketsWithOwner')} with owner)")
    print(f"{label} daemon CPU: {cpu:.2f} s over {wall:.1f} s = {100 * cpu / wall:.2f} % of a core; "
          f"{passes} refreshes = {passes / wall:.2f}/s (1 s timer + early passes on {events / wall:.0f} process events/s)")
    print(f"{label} daemon CPU per refresh: {1000 * per:.1f} ms ({passes} refreshes)")
    print(f"{label} daemon status, sampled every 1 s: lastPassMillis {dist('lastPassMillis')}; "
          f"buildMillis {dist('buildMillis')}; fdReadlinksLastPass {dist('fdReadlinksLastPass')} "
          f"(non-zero in {walks}/{len(samples)} samples)")
    print(f"{label} daemon RSS: VmRSS {m['VmRSS']:.1f} MB, VmHWM {m['VmHWM']:.1f} MB")
    def per_s(key):
        return (h1.get(key, 0) - h0.get(key, 0)) / wall
    if "patchCPUMillis" in h1:   # the collection queue's thread CPU, split (daemon/status figures)
        print(f"{label} collection queue CPU: full passes {per_s('fullPassCPUMillis'):.1f} ms/s "
              f"({per_s('fullPasses'):.2f}/s), patches {per_s('patchCPUMillis'):.1f} ms/s ({per_s('patches'):.2f}/s), "
              f"counters updates {per_s('counterCPUMillis'):.1f} ms/s ({per_s('counterUpdates'):.2f}/s); "
              f"the rest (event threads, loop, renders) {1000 * cpu / wall - per_s('fullPassCPUMillis') - per_s('patchCPUMillis') - per_s('counterCPUMillis'):.1f} ms/s")
    r0, r1 = s0.get("subscriptions", {}), s1.get("subscriptions", {})
    if r1.get("renders", 0) > r0.get("renders", 0):   # the shared views' renders over the window
        n = r1["renders"] - r0.get("renders", 0)
        print(f"{label} subscription renders: {n} ({n / wall:.2f}/s), "
              f"{r1.get('rendersStartedOver', 0) - r0.get('rendersStartedOver', 0)} started over, "
              f"{r1.get('connectionsResolved', 0) - r0.get('connectionsResolved', 0)} connections resolved, "
              f"{(r1.get('renderMillis', 0) - r0.get('renderMillis', 0)) / wall:.1f} ms/s")
    tag = label.upper()
    emit(vals, f"{tag}_CPU_PCT", f"{100 * cpu / wall:.4f}")
    emit(vals, f"{tag}_PER_REFRESH_S", f"{per:.6f}")
    emit(vals, f"{tag}_PER_SECOND_S", f"{cpu / wall:.6f}")

def cmd_cpu(runs, name, vals, *argv):
    """CPU (user+sys from getrusage of children) and wall of running argv `runs` times."""
    cpus, walls = [], []
    for _ in range(int(runs)):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        w0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        w1 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
        walls.append(w1 - w0)
    mean = statistics.mean(cpus)
    print(f"{' '.join(argv)} CPU: {1000 * mean:.0f} ms mean user+sys over {runs} runs "
          f"(min {1000 * min(cpus):.0f}, max {1000 * max(cpus):.0f}); wall mean {1000 * statistics.mean(walls):.0f} ms")
    emit(vals, f"{name}_CPU_S", f"{mean:.6f}")

def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

def cmd_get(sock, calls, vals):
    c = Client(sock)
    params = {"view": "processes"}
    uncached, cached, sizes, poll = [], [], [], Client(sock)
    misses = 0
    info = None
    for _ in range(int(calls)):
        rev = poll.hostmap()["revision"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:   # poll for the next revision (every 5 ms)
            time.sleep(0.005)
            now = poll.hostmap()["revision"]
            if now != rev:
                break
        else:
            sys.exit("no new revision within 10 s")
        t_first, body = c.call_raw("topology/get", params)
        first = json.loads(body)["result"]
        t_second, body2 = c.call_raw("topology/get", params)
        second = json.loads(body2)["result"]
        if first["revision"] != now:
            misses += 1                        # a newer pass landed in between: still a first render
        uncached.append(t_first)
        (cached if second["revision"] == first["revision"] else uncached).append(t_second)
        sizes.append(len(body))
        info = first
    ms = lambda v: f"{1000 * v:.1f}"
    print(f"topology/get processes: {len(info['nodes'])} nodes, {len(info['edges'])} edges, "
          f"reply {statistics.median(sizes) / 1024:.0f} KiB")
    print(f"topology/get processes uncached (first call after a new revision): p50 {ms(statistics.median(uncached))} ms, "
          f"p90 {ms(pct(uncached, 90))} ms, max {ms(max(uncached))} ms ({len(uncached)} calls)")
    if cached:
        print(f"topology/get processes cached (same revision again): p50 {ms(statistics.median(cached))} ms, "
              f"p90 {ms(pct(cached, 90))} ms, max {ms(max(cached))} ms ({len(cached)} calls)")
    if misses:
        print(f"  ({misses} first calls answered a revision newer than the one polled)")
    emit(vals, "GET_UNCACHED_P50_S", f"{statistics.median(uncached):.6f}")

def cmd_mem(pid, label):
    m = mem(int(pid))
    print(f"{label} daemon RSS: VmRSS {m['VmRSS']:.1f} MB, VmHWM {m['VmHWM']:.1f} MB")

if __name__ == "__main__":
    {"wait": cmd_wait, "window": cmd_window, "cpu": cmd_cpu, "get": cmd_get, "mem": cmd_mem}[sys.argv[1]](*sys.argv[2:])
PY
HM() { python3 "$TMP/hm.py" "$@"; }
VALS=$TMP/vals
: >"$VALS"

nprocs() { find /proc -maxdepth 1 -name '[0-9]*' | wc -l; }

echo "# host-map benchmark $(date -u +%FT%TZ) on $(hostname): $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r), $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)"
echo "# commit $(git log --oneline -1 | cut -c1-60); uncommitted changes in Sources/: $(git status --porcelain -- Sources | wc -l) files; periscoped $DAEMON_BIN built $(date -u -r "$DAEMON_BIN" +%FT%TZ); load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- 1. idle daemon
# A previous run's connections linger 60 s in TIME-WAIT (no owner, but the daemon still lists them).
for _ in $(seq 1 75); do
    [[ $(ss -tan state time-wait | tail -n +2 | wc -l) -lt 1000 ]] && break
    sleep 1
done
# History off unless --history: with the default log the recorder only ran when no other daemon held it, which
# made runs on a shared VM incomparable.
"$DAEMON_BIN" --socket "$SOCK" --log-level warning --history "$HISTORY" 2>"$TMP/daemon.log" &
DAEMON_PID=$!
HM wait "$SOCK" 0 30
echo "idle host: $(nprocs) processes, $(ss -tan | tail -n +2 | wc -l) TCP sockets"
HM window "$SOCK" "$DAEMON_PID" "$WARMUP" "$WINDOW" idle "$VALS"

# ---------------------------------------------------------------- 2. under load
BOUND=$((WARMUP + WINDOW + 600))   # the load stops by itself even if this script is killed hard
python3 bench/connections.py --connections "$CONNECTIONS" --procs "$PROCS" --seconds "$BOUND" >"$TMP/load.out" 2>"$TMP/load.err" &
LOAD_PID=$!
for _ in $(seq 1 "$IDLE_PROCS"); do sleep "$BOUND" & SLEEP_PIDS+=($!); done
for _ in $(seq 1 180); do grep -q ready "$TMP/load.out" && break; kill -0 "$LOAD_PID" 2>/dev/null || break; sleep 1; done
grep -q ready "$TMP/load.out" || { echo "load generator not ready:" >&2; cat "$TMP/load.err" >&2; exit 1; }
echo "load: $CONNECTIONS connections over $PROCS processes + $IDLE_PROCS idle sleeps; host: $(nprocs) processes, $(ss -tan state established | tail -n +2 | wc -l) established TCP sockets"
HM wait "$SOCK" $((2 * CONNECTIONS)) 120
HM window "$SOCK" "$DAEMON_PID" "$WARMUP" "$WINDOW" load "$VALS" "$SUBSCRIBERS"

# ---------------------------------------------------------------- 3. the tools, same load
HM cpu "$SS_RUNS" SS_P "$VALS" ss -tanp
HM cpu "$SS_RUNS" SS "$VALS" ss -tan
if [[ $LSOF_RUNS -eq 0 ]]; then
    echo "lsof -nP -iTCP: skipped (--lsof-runs 0)"
elif command -v lsof >/dev/null; then
    HM cpu "$LSOF_RUNS" LSOF "$VALS" lsof -nP -iTCP
else
    echo "lsof -nP -iTCP: not installed"
fi
# shellcheck disable=SC1090
source "$VALS"
awk -v d="$LOAD_PER_REFRESH_S" -v s="$SS_P_CPU_S" 'BEGIN {
    printf "ratio daemon CPU per refresh / ss -tanp CPU: %.3f (%.1f ms / %.0f ms; target <= 0.10)\n", d / s, 1000 * d, 1000 * s }'
awk -v d="$LOAD_PER_SECOND_S" -v s="$SS_P_CPU_S" 'BEGIN {
    printf "ratio daemon CPU per second / ss -tanp CPU: %.3f (%.1f ms / %.0f ms; i.e. vs running ss -tanp once a second)\n", d / s, 1000 * d, 1000 * s }'
awk -v i="$IDLE_CPU_PCT" 'BEGIN { printf "idle daemon CPU: %.2f %% of a core (target <= 0.5 %%)\n", i }'

# ---------------------------------------------------------------- 4. topology/get processes
HM get "$SOCK" "$CALLS" "$VALS"
HM mem "$DAEMON_PID" "after topology/get,"

if [[ $PERF -gt 0 ]] && command -v perf >/dev/null; then
    perf record -q -F 499 -g -p "$DAEMON_PID" -o "$TMP/perf.data" -- sleep "$PERF" >/dev/null 2>&1 || true
    demangle() { if command -v swift >/dev/null; then swift demangle --simplified; else cat; fi; }
    echo "# perf, $PERF s of the loaded daemon (self time by object, then top symbols):"
    perf report -q -i "$TMP/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | sed '/^$/d' | head -12 || true
    perf report -q -i "$TMP/perf.data" --no-children --sort dso,sym --percent-limit 1 --stdio -g none 2>/dev/null \
        | sed '/^$/d' | head -40 | demangle | cut -c1-160 || true
fi
grep -v '^$' "$TMP/daemon.log" | tail -5 | sed 's/^/daemon log: /' || true
