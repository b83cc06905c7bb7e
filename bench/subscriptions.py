#!/usr/bin/env python3
"""Subscription benchmarks (issue 4), driven by bench/subscriptions.sh against a running periscoped.

    subscriptions.py latency  --socket S [--trials 200] [--exec-trials 200]
    subscriptions.py capture  --socket S [--servers 50] [--clients 20] [--hold-ms 50]
    subscriptions.py fanout   --socket S --pid DAEMON_PID [--subs 100] [--window 30] [--warmup 5] ...
    (internal roles: _subscriber, _reader, _churn)

1. latency: time to see, measured with time.monotonic() (CLOCK_MONOTONIC, shared by all processes).
   (a) new connection: a fresh forked client process per trial connects to a long-lived loopback server
       process and writes its monotonic time right after connect() returns to a pipe; a subscriber in a
       separate process (`_subscriber`: `topology/subscribe processes`, default options and minInterval)
       stamps the first notification that contains the edge `HOST;CLIENT->HOST;SERVER`.
   (b) exec: a subscriber on `processes` with `all: true`; a uniquely named copy of /bin/sleep is started
       with posix_spawn; from just before posix_spawn to the node `HOST;PID` being added (and to it
       carrying the unique name).
   (c) exit: SIGKILL (+ immediate reap) of that process; from just before kill() to the node being
       removed (or marked `exited`).
2. capture: S long-lived server processes and C long-lived client processes, seen by the daemon first;
   every client connects once to every server (clients in parallel, connections sequential within a
   client), holds each connection --hold-ms, closes it. A subscriber counts distinct (client, server)
   edges seen in `added` or `updated` (open or closed).
3. fanout: daemon CPU (utime+stime from /proc/PID/stat) over --window s with 1 subscriber, then with
   --subs subscribers (mixed views and filters, one connection each, spread over a few reader processes
   that read and frame every notification and check the revision chain), then with 1 again; and the
   daemon's VmHWM. The load (connections.py + `_churn`) is started by the shell script.
Python 3 stdlib only (+ clients/python); loopback only; every child is bounded in time and reaped.
"""
import argparse
import json
import os
import random
import re
import resource
import select
import selectors
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))
import periscope  # noqa: E402

HOST = socket.gethostname()
HZ = os.sysconf("SC_CLK_TCK")
ME = os.path.abspath(__file__)


def node_id(pid):
    return f"{HOST};{pid}"


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(len(values) - 1, int(k) + 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def mem(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


def timewait():
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            n += sum(1 for line in f if line.split()[3:4] == ["06"])
    return n


def health(sock):
    with periscope.connect(sock, name="bench-status") as c:
        return c.status().get("collectors", {})


def bounded_child(deadline, parent):
    """In a forked child: die with the parent or at the deadline (checked by callers' loops)."""
    return time.time() < deadline and os.getppid() == parent


# ---------------------------------------------------------------------------------------------------
# _subscriber: a separate process that subscribes and prints the first sighting of everything.
#   E <t> <edge id> <closed 0/1>     first time an edge id appears in added/updated
#   N <t> <node id> <label>          first time a node id appears, and whenever its label changes
#   X <t> <node id>                  node updated with metadata.exited true (first time)
#   R <t> <node id>                  node removed
#   READY <revision> / RESET <t>
def cmd_subscriber(args):
    client = periscope.connect(args.socket, name="bench-subscriber", timeout=60)
    options = {"all": True} if args.all else {}
    sub = client.subscribe(args.view, filter=args.filter or None, min_interval=args.min_interval, reconnect=False,
                           **options)
    seen_edges = set(sub.topology.edges)
    labels = {n.id: n.label for n in sub.topology.nodes.values()}
    exited = set()
    out = sys.stdout
    out.write(f"READY {sub.topology.revision} {len(sub.topology.nodes)} {len(sub.topology.edges)}\n")
    out.flush()
    deadline = time.monotonic() + args.seconds
    parent = os.getppid()
    while time.monotonic() < deadline and os.getppid() == parent:
        change = sub.next(timeout=1.0)
        if change is None:
            continue
        t = time.monotonic()
        lines = [f"T {t:.6f}"]
        if change.reset:
            lines.append(f"RESET {t:.6f}")
        for e in change.added_edges + change.updated_edges:
            if e.id not in seen_edges:
                seen_edges.add(e.id)
                lines.append(f"E {t:.6f} {e.id} {int(e.closed)}")
        for n in change.added_nodes + change.updated_nodes:
            if labels.get(n.id) != n.label:
                labels[n.id] = n.label
                lines.append(f"N {t:.6f} {n.id} {n.label}")
            if n.metadata.get("exited") and n.id not in exited:
                exited.add(n.id)
                lines.append(f"X {t:.6f} {n.id}")
        for nid in change.removed_nodes:
            labels.pop(nid, None)
            lines.append(f"R {t:.6f} {nid}")
        if lines:   # always: the T line
            out.write("\n".join(lines) + "\n")
            out.flush()


class Watcher:
    """Starts `_subscriber` in a separate process and indexes what it prints (first time per key)."""

    def __init__(self, sock, view="processes", all_=False, filter_=None, seconds=600, min_interval=100):
        argv = [sys.executable, ME, "_subscriber", "--socket", sock, "--view", view, "--seconds", str(seconds),
                "--min-interval", str(min_interval)]
        self.times = []
        if all_:
            argv.append("--all")
        if filter_:
            argv += ["--filter", filter_]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.cond = threading.Condition()
        self.first = {}      # (kind, id) -> t ; for N also (N, id, label)
        self.resets = 0
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            raise SystemExit(f"subscriber failed: {line!r}")
        self.ready = line.split()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            parts = line.rstrip("\n").split(" ", 3)
            with self.cond:
                if parts[0] == "T":
                    self.times.append(float(parts[1]))
                elif parts[0] == "RESET":
                    self.resets += 1
                elif parts[0] == "E":
                    self.first.setdefault(("E", parts[2]), float(parts[1]))
                elif parts[0] == "N":
                    self.first.setdefault(("N", parts[2]), float(parts[1]))
                    self.first.setdefault(("L", parts[2], parts[3] if len(parts) > 3 else ""), float(parts[1]))
                elif parts[0] in ("X", "R"):
                    self.first.setdefault(("G", parts[2]), float(parts[1]))   # gone: removed or exited
                    self.first.setdefault((parts[0], parts[2]), float(parts[1]))
                self.cond.notify_all()

    def wait(self, key, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while key not in self.first:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.first[key]

    def get(self, key):
        with self.cond:
            return self.first.get(key)

    def keys(self, kind):
        with self.cond:
            return {k[1] for k in self.first if k[0] == kind}

    def rate(self):
        with self.cond:
            t = list(self.times)
        if len(t) < 2:
            return "fewer than 2 notifications"
        gaps = [1000 * (b - a) for a, b in zip(t, t[1:])]
        return (f"{len(t)} notifications, {len(t) / (t[-1] - t[0]):.1f}/s, gap between notifications "
                f"p50 {pct(gaps, 50):.0f} ms, p10 {pct(gaps, 10):.0f} ms")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------------------------------
def serve_forever(listener, deadline, parent, ready_fd=None):
    """Accept and hold connections until the peer closes (selector loop); bounded."""
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ)
    if ready_fd is not None:
        os.write(ready_fd, b"%d\n" % listener.getsockname()[1])
    while bounded_child(deadline, parent):
        for key, _ in sel.select(0.5):
            s = key.fileobj
            if s is listener:
                while True:
                    try:
                        conn, _ = listener.accept()
                    except BlockingIOError:
                        break
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ)
            else:
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    s.close()
    os._exit(0)


def fork_server(seconds):
    """A long-lived listening process on 127.0.0.1; returns (pid, port)."""
    r, w = os.pipe()
    parent = os.getpid()
    deadline = time.time() + seconds
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            listener.listen(4096)
            serve_forever(listener, deadline, parent, w)
        finally:
            os._exit(1)
    os.close(w)
    port = int(os.read(r, 64).split()[0])
    os.close(r)
    return pid, port


def reap(pid, sig=signal.SIGTERM):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def summary(label, values, trials, unit_ms=True):
    ms = [1000 * v for v in values]
    if not ms:
        return f"{label}: no samples ({trials} trials)"
    return (f"{label}: p50 {pct(ms, 50):.1f} ms, p90 {pct(ms, 90):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
            f"max {max(ms):.1f} ms, min {min(ms):.1f} ms ({len(ms)} of {trials} trials seen"
            f"{'' if len(ms) == trials else f'; {trials - len(ms)} NOT SEEN within the timeout'})")


def verdict(values, trials):
    ms = [1000 * v for v in values]
    ok = len(ms) == trials and pct(ms, 50) <= 50 and pct(ms, 99) <= 250
    return "meets p50 <= 50 ms, p99 <= 250 ms" if ok else "MISSES p50 <= 50 ms / p99 <= 250 ms (or trials unseen)"


def pass_stats(h0, h1, wall):
    hm0, hm1 = h0.get("host-map", {}), h1.get("host-map", {})
    pe0, pe1 = h0.get("process-events", {}), h1.get("process-events", {})
    d = lambda a, b, k: b.get(k, 0) - a.get(k, 0)
    return (f"daemon over {wall:.0f} s: {d(hm0, hm1, 'passes') / wall:.1f} full passes/s, "
            f"{d(hm0, hm1, 'revision') / wall:.1f} revisions/s, {d(pe0, pe1, 'eventsSeen') / wall:.0f} process events/s "
            f"(host-wide), last pass {hm1.get('lastPassMillis')} ms")


def cmd_latency(args):
    print(f"# latency: load average {loadavg()}; primary subscriber: default minInterval (100 ms); a second "
          f"subscriber with minInterval 0 runs alongside as a diagnostic", flush=True)
    # (a) new connection -------------------------------------------------------------------------
    if args.trials > 0:
        spid, port = fork_server(args.bound)
        server = node_id(spid)
        watcher = Watcher(args.socket, "processes", seconds=args.bound)
        zero = Watcher(args.socket, "processes", seconds=args.bound, min_interval=0)
        lat, lat0 = [], []
        h0, w0 = health(args.socket), time.monotonic()
        try:
            for i in range(args.trials):
                time.sleep(random.uniform(0, args.jitter))
                r, w = os.pipe()
                rel_r, rel_w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    try:
                        os.close(r)
                        os.close(rel_w)
                        s = socket.create_connection(("127.0.0.1", port))
                        t = time.monotonic()
                        os.write(w, repr(t).encode())
                        select.select([rel_r], [], [], 10)   # hold until released (bounded)
                        s.close()
                    finally:
                        os._exit(0)
                os.close(w)
                os.close(rel_r)
                t0 = float(os.read(r, 64))
                os.close(r)
                key = ("E", f"{node_id(pid)}->{server}")
                seen = watcher.wait(key, args.timeout)
                seen0 = zero.wait(key, 0.5 if seen is not None else 0.0)
                os.close(rel_w)
                os.waitpid(pid, 0)
                if seen is not None:
                    lat.append(seen - t0)
                if seen0 is not None:
                    lat0.append(seen0 - t0)
            wall = time.monotonic() - w0
            h1 = health(args.socket)
        finally:
            watcher.stop()
            zero.stop()
            reap(spid)
        print(summary("(a) new connection: connect() returned -> subscriber got the edge", lat, args.trials), flush=True)
        print(f"    {verdict(lat, args.trials)}; subscriber: {watcher.rate()}, resets {watcher.resets}", flush=True)
        print("    " + summary("diagnostic, minInterval 0", lat0, args.trials) + f"; {zero.rate()}", flush=True)
        print(f"    {pass_stats(h0, h1, wall)}; socket events {h1.get('socket-events', {}).get('state')}", flush=True)
    # (b) exec, (c) exit ---------------------------------------------------------------------------
    if args.exec_trials > 0:
        tmp = args.tmp
        tag = "".join(random.choice(string.ascii_lowercase) for _ in range(4))
        sleep_bin = shutil.which("sleep")
        watcher = Watcher(args.socket, "processes", all_=True, seconds=args.bound)
        zero = Watcher(args.socket, "processes", all_=True, seconds=args.bound, min_interval=0)
        res = {k: [] for k in ("added", "named", "gone", "added0", "named0", "gone0")}
        gone_kind = {"R": 0, "X": 0}
        h0, w0 = health(args.socket), time.monotonic()
        try:
            for i in range(args.exec_trials):
                time.sleep(random.uniform(0, args.jitter))
                name = f"px{tag}{i:04d}"          # <= 15 chars: also the kernel's comm
                path = os.path.join(tmp, name)
                shutil.copyfile(sleep_bin, path)
                os.chmod(path, 0o755)
                t0 = time.monotonic()
                pid = os.posix_spawn(path, [name, str(int(args.timeout * 4))], {"PATH": "/usr/bin:/bin"})
                nid = node_id(pid)
                for w, sfx in ((watcher, ""), (zero, "0")):
                    t_add = w.wait(("N", nid), args.timeout)
                    t_named = w.wait(("L", nid, name), args.timeout)
                    if t_add is not None:
                        res["added" + sfx].append(t_add - t0)
                    if t_named is not None:
                        res["named" + sfx].append(t_named - t0)
                time.sleep(random.uniform(0.05, 0.05 + args.jitter))
                t1 = time.monotonic()
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                for w, sfx in ((watcher, ""), (zero, "0")):
                    t_gone = w.wait(("G", nid), args.timeout)
                    if t_gone is not None:
                        res["gone" + sfx].append(t_gone - t1)
                        if not sfx:
                            gone_kind["R" if w.get(("R", nid)) == t_gone else "X"] += 1
                os.unlink(path)
            wall = time.monotonic() - w0
            h1 = health(args.socket)
        finally:
            watcher.stop()
            zero.stop()
        n = args.exec_trials
        print(summary("(b) exec: posix_spawn -> subscriber got node HOST;PID", res["added"], n), flush=True)
        print(f"    {verdict(res['added'], n)}", flush=True)
        print("    " + summary("diagnostic, minInterval 0", res["added0"], n), flush=True)
        print(summary("(b') exec: posix_spawn -> node carries the new unique name", res["named"], n), flush=True)
        print(f"    {verdict(res['named'], n)}", flush=True)
        print(summary("(c) exit: kill(SIGKILL) -> node removed/marked exited", res["gone"], n), flush=True)
        print(f"    {verdict(res['gone'], n)}; removed {gone_kind['R']}, marked exited {gone_kind['X']}", flush=True)
        print("    " + summary("diagnostic, minInterval 0", res["gone0"], n), flush=True)
        print(f"    subscriber (processes, all): {watcher.rate()}, resets {watcher.resets}; minInterval 0: {zero.rate()}",
              flush=True)
        print(f"    {pass_stats(h0, h1, wall)}", flush=True)
    print(f"# latency done: load average {loadavg()}", flush=True)


# ---------------------------------------------------------------------------------------------------
def cmd_capture(args):
    parent = os.getpid()
    deadline = time.time() + args.bound
    servers = [fork_server(args.bound) for _ in range(args.servers)]
    ports = [p for _, p in servers]
    by_port = {p: pid for pid, p in servers}
    clients = []   # (pid, go_w, done_r)
    for c in range(args.clients):
        go_r, go_w = os.pipe()
        done_r, done_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(go_w)
                os.close(done_r)
                select.select([go_r], [], [], args.bound)
                if not os.read(go_r, 1):
                    os._exit(0)
                order = list(ports)
                random.Random(c).shuffle(order)
                ok = 0
                for port in order:
                    if not bounded_child(deadline, parent):
                        break
                    try:
                        s = socket.create_connection(("127.0.0.1", port), timeout=5)
                        time.sleep(args.hold_ms / 1000)
                        s.close()
                        ok += 1
                    except OSError:
                        pass
                os.write(done_w, b"%d\n" % ok)
                select.select([go_r], [], [], args.bound)   # stay alive until told (pid stays known)
            finally:
                os._exit(0)
        os.close(go_r)
        os.close(done_w)
        clients.append((pid, go_w, done_r))
    watcher = zero = None
    try:
        # Wait until the daemon knows all the processes (processes view, all: true).
        want = {node_id(p) for p, _ in servers} | {node_id(p) for p, _, _ in clients}
        t_wait = time.monotonic()
        with periscope.connect(args.socket, name="bench-capture") as c:
            while True:
                have = set(c.get("processes", all=True).nodes)
                if want <= have:
                    break
                if time.monotonic() - t_wait > 30:
                    raise SystemExit(f"daemon does not see {len(want - have)} of the {len(want)} processes after 30 s")
                time.sleep(0.2)
        print(f"# capture: daemon sees all {len(want)} processes after {time.monotonic() - t_wait:.1f} s; "
              f"load average {loadavg()}", flush=True)
        watcher = Watcher(args.socket, "processes", seconds=args.bound)
        zero = Watcher(args.socket, "processes", seconds=args.bound, min_interval=0)   # diagnostic
        h0 = health(args.socket)
        before = h0.get("socket-events", {})
        time.sleep(1.0)
        t_go = time.monotonic()
        for _, go_w, _ in clients:
            os.write(go_w, b"g")
        made = 0
        for _, _, done_r in clients:
            made += int(os.read(done_r, 64) or b"0")
        t_done = time.monotonic()
        time.sleep(args.settle)
        h1 = health(args.socket)
        after = h1.get("socket-events", {})
        expected = {f"{node_id(cp)}->{node_id(sp)}" for cp, _, _ in clients for sp, _ in servers}
        seen = watcher.keys("E")
        got = expected & seen
        reversed_ = {f"{node_id(sp)}->{node_id(cp)}" for cp, _, _ in clients for sp, _ in servers} & seen
        total = len(expected)
        frac = len(got) / total
        print(f"short-lived capture: {len(got)} of {total} distinct (client, server) edges seen = {100 * frac:.2f} % "
              f"(target >= 99 %: {'met' if frac >= 0.99 else 'MISSED'}); {made} connections made in "
              f"{t_done - t_go:.2f} s (~{args.hold_ms} ms each, {args.clients} clients in parallel); "
              f"reversed edges seen: {len(reversed_)}; subscriber resets: {watcher.resets}", flush=True)
        got0 = expected & zero.keys("E")
        print(f"    diagnostic, a subscriber with minInterval 0 alongside: {len(got0)} of {total} = "
              f"{100 * len(got0) / total:.2f} %; seen by either: {len(got | got0)}", flush=True)
        ev = lambda k: after.get(k, 0) - before.get(k, 0)
        print(f"    socket-events during the run: {ev('eventsSeen')} seen, {ev('eventsLost')} lost; "
              f"state {after.get('state')}; load average {loadavg()}", flush=True)
        print(f"    {pass_stats(h0, h1, time.monotonic() - t_go + 1.0)} (window includes {args.settle:.0f} s settle)", flush=True)
        missed = sorted(expected - got)
        if missed:
            per_client = {}
            for e in missed:
                per_client[e.split("->")[0]] = per_client.get(e.split("->")[0], 0) + 1
            print(f"    missed edges by client: {sorted(per_client.values(), reverse=True)[:20]}; e.g. {missed[:3]}",
                  flush=True)
    finally:
        for w in (watcher, zero):
            if w:
                w.stop()
        for pid, go_w, done_r in clients:
            os.close(go_w)   # EOF: the client exits
        for pid, _, _ in clients:
            reap(pid)
        for pid, _ in servers:
            reap(pid)


# ---------------------------------------------------------------------------------------------------
# _churn: S server processes and C client processes holding N connections; every second 1 % ... i.e.
# --rate connections are closed and re-opened (spread evenly over the second), bounded in time.
def cmd_churn(args):
    deadline = time.time() + args.seconds
    parent = os.getpid()
    servers = [fork_server(args.seconds) for _ in range(args.servers)]
    ports = [p for _, p in servers]
    kids = []
    per_client = args.connections // args.clients
    rate = args.rate / args.clients                      # replacements per second per client
    for c in range(args.clients):
        pid = os.fork()
        if pid == 0:
            try:
                rnd = random.Random(c)
                held = [socket.create_connection(("127.0.0.1", ports[i % len(ports)])) for i in range(per_client)]
                step = 1.0 / rate
                nxt = time.monotonic() + step
                while bounded_child(deadline, parent):
                    time.sleep(max(0.0, nxt - time.monotonic()))
                    nxt += step
                    held.pop(0).close()
                    try:
                        held.append(socket.create_connection(("127.0.0.1", rnd.choice(ports)), timeout=5))
                    except OSError:
                        pass
            finally:
                os._exit(0)
        kids.append(pid)

    def stop(*_):
        for pid in kids:
            reap(pid)
        for pid, _ in servers:
            reap(pid)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"ready {' '.join(map(str, ports))}", flush=True)
    while time.time() < deadline:
        time.sleep(0.5)
    stop()


# ---------------------------------------------------------------------------------------------------
# _reader: holds K subscriptions (one connection each), reads and frames every notification, checks the
# revision chain with a regex (no full JSON parse: 100 Python subscribers parsing ~100 KB notifications
# would compete with the daemon for the 2 cores). Commands on stdin: "stats" -> one JSON line; "quit".
REV = re.compile(rb'"revision":(\d+)')
PREV = re.compile(rb'"previousRevision":(\d+)')


def cmd_reader(args):
    specs = json.loads(args.specs)
    sel = selectors.DefaultSelector()
    subs = []
    for spec in specs:
        client = periscope.connect(args.socket, name="bench-fanout", timeout=60)
        sub = client.subscribe(spec["view"], filter=spec.get("filter"), min_interval=spec.get("minInterval", 100),
                               reconnect=False, **spec.get("options", {}))
        state = {"spec": spec, "client": client, "buf": client._buffer, "last": sub.topology.revision,
                 "n": 0, "bytes": 0, "resets": 0, "chain_errors": 0,
                 "snapshot": (len(sub.topology.nodes), len(sub.topology.edges))}
        for _, params in list(client._notifications):      # notifications that arrived with the snapshot
            state["n"] += 1
            state["last"] = params.get("revision", state["last"])
        client._notifications.clear()
        client._sock.setblocking(False)
        sel.register(client._sock, selectors.EVENT_READ, state)
        subs.append(state)
    sel.register(sys.stdin, selectors.EVENT_READ, None)
    print(json.dumps({"ready": len(subs), "snapshots": [s["snapshot"] for s in subs]}), flush=True)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        for key, _ in sel.select(1.0):
            st = key.data
            if st is None:
                line = sys.stdin.readline()
                if not line or line.startswith("quit"):
                    return
                out = {k: sum(s[k] for s in subs) for k in ("n", "bytes", "resets", "chain_errors")}
                out["subs"] = len(subs)
                out["per_sub_n"] = [s["n"] for s in subs]
                print(json.dumps(out), flush=True)
                continue
            try:
                chunk = key.fileobj.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                continue
            if not chunk:
                sel.unregister(key.fileobj)
                print(json.dumps({"error": f"daemon closed subscription {st['spec']}"}), file=sys.stderr, flush=True)
                continue
            buf = st["buf"] + chunk
            while True:
                end_h = buf.find(b"\r\n\r\n")
                if end_h < 0:
                    break
                length = int(buf[:end_h].split(b":", 1)[1])
                total = end_h + 4 + length
                if len(buf) < total:
                    break
                body = buf[end_h + 4:total]
                buf = buf[total:]
                st["n"] += 1
                st["bytes"] += length
                head = body[:400] + body[-400:]
                prev = PREV.search(body)
                rev = REV.search(head) or REV.search(body)
                if b'"reset":true' in body:
                    st["resets"] += 1
                if prev and rev:
                    if int(prev.group(1)) != st["last"] or int(rev.group(1)) <= st["last"]:
                        st["chain_errors"] += 1
                    st["last"] = int(rev.group(1))
            st["buf"] = buf


class Readers:
    def __init__(self, sock, specs, procs, seconds):
        self.procs = []
        groups = [specs[i::procs] for i in range(procs)]
        for group in groups:
            if not group:
                continue
            p = subprocess.Popen([sys.executable, ME, "_reader", "--socket", sock, "--specs", json.dumps(group),
                                  "--seconds", str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                 bufsize=1)
            self.procs.append(p)
        for p in self.procs:
            line = p.stdout.readline()
            if not line:
                raise SystemExit("a reader failed to subscribe")

    def stats(self):
        total = {"n": 0, "bytes": 0, "resets": 0, "chain_errors": 0, "subs": 0, "per_sub_n": []}
        for p in self.procs:
            p.stdin.write("stats\n")
            p.stdin.flush()
        for p in self.procs:
            d = json.loads(p.stdout.readline())
            for k in total:
                total[k] += d[k]
        return total

    def stop(self):
        for p in self.procs:
            try:
                p.stdin.write("quit\n")
                p.stdin.flush()
            except OSError:
                pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def fan_specs(n, port):
    base = [
        {"view": "processes"},
        {"view": "processes", "filter": "name:python3"},
        {"view": "processes", "filter": "!pseudo:true"},
        {"view": "processes", "filter": f"port:{port}"},
        {"view": "processes-by-name"},
        {"view": "processes-by-name", "filter": "name:python3"},
        {"view": "processes-by-name", "filter": "!pseudo:true"},
        {"view": "hosts"},
        {"view": "hosts", "filter": "!pseudo:true"},
        {"view": "processes", "options": {"all": True}, "filter": "name:python3"},
    ]
    return [base[i % len(base)] for i in range(n)]


def window(args, label, readers_list):
    time.sleep(args.warmup)
    s0 = [r.stats() for r in readers_list]
    h0 = health(args.socket)
    t0, w0 = ticks(args.pid), time.monotonic()
    la0 = loadavg()
    time.sleep(args.window)
    t1, w1 = ticks(args.pid), time.monotonic()
    h1 = health(args.socket)
    s1 = [r.stats() for r in readers_list]
    cpu = (t1 - t0) / HZ
    wall = w1 - w0
    n = sum(b["n"] - a["n"] for a, b in zip(s0, s1))
    nbytes = sum(b["bytes"] - a["bytes"] for a, b in zip(s0, s1))
    resets = sum(b["resets"] for b in s1)
    chain = sum(b["chain_errors"] for b in s1)
    subs = sum(b["subs"] for b in s1)
    hm0, hm1 = h0.get("host-map", {}), h1.get("host-map", {})
    se0, se1 = h0.get("socket-events", {}), h1.get("socket-events", {})
    m = mem(args.pid)
    revs = hm1.get("revision", 0) - hm0.get("revision", 0)
    passes = hm1.get("passes", 0) - hm0.get("passes", 0)
    print(f"{label}: daemon CPU {cpu:.2f} s over {wall:.1f} s = {100 * cpu / wall:.1f} % of a core; "
          f"{revs} revisions ({revs / wall:.1f}/s), {passes} full passes; subscribers ({subs}) got {n} notifications "
          f"({n / wall:.1f}/s, {nbytes / wall / 1e6:.2f} MB/s), resets {resets}, revision-chain errors {chain}; "
          f"socket events {se1.get('eventsSeen', 0) - se0.get('eventsSeen', 0)} "
          f"(lost {se1.get('eventsLost', 0) - se0.get('eventsLost', 0)}); sharedViews "
          f"{h1.get('subscriptions', {}).get('sharedViews')}; VmRSS {m['VmRSS']:.1f} MB, VmHWM {m['VmHWM']:.1f} MB; "
          f"load average {la0} -> {loadavg()}; host TCP sockets in TIME-WAIT {timewait()}", flush=True)
    return cpu / wall


def cmd_fanout(args):
    specs = fan_specs(args.subs, args.port)
    one = Readers(args.socket, specs[:1], 1, args.bound)
    many = None
    try:
        c1 = window(args, "1 subscriber (processes)", [one])
        many = Readers(args.socket, specs[1:], args.reader_procs, args.bound)
        views = sorted({(s['view'], json.dumps(s.get('options', {})), s.get('filter', '')) for s in specs})
        print(f"    {args.subs} subscriptions: {len(views)} distinct view/options/filter combinations over "
              f"{len(many.procs) + 1} reader processes", flush=True)
        c100 = window(args, f"{args.subs} subscribers (mixed)", [one, many])
        many.stop()
        many = None
        c1b = window(args, "1 subscriber again", [one])
        base = (c1 + c1b) / 2
        ratio = c100 / base if base else float("nan")
        print(f"fan-out CPU ratio {args.subs} vs 1 subscriber: {ratio:.2f}x ({100 * c100:.1f} % vs mean "
              f"{100 * base:.1f} % of a core [{100 * c1:.1f}, {100 * c1b:.1f}]; target <= 2x: "
              f"{'met' if ratio <= 2 else 'MISSED'})", flush=True)
        m = mem(args.pid)
        print(f"daemon peak RSS (VmHWM): {m['VmHWM']:.1f} MB (VmRSS now {m['VmRSS']:.1f} MB)", flush=True)
    finally:
        if many:
            many.stop()
        one.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sp = ap.add_subparsers(dest="cmd", required=True)
    p = sp.add_parser("latency")
    p.add_argument("--socket", required=True)
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--exec-trials", type=int, default=200)
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--jitter", type=float, default=0.15)
    p.add_argument("--tmp", default="/tmp")
    p.add_argument("--bound", type=float, default=900)
    p = sp.add_parser("capture")
    p.add_argument("--socket", required=True)
    p.add_argument("--servers", type=int, default=50)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--hold-ms", type=float, default=50)
    p.add_argument("--settle", type=float, default=3.0)
    p.add_argument("--bound", type=float, default=300)
    p = sp.add_parser("fanout")
    p.add_argument("--socket", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--port", type=int, required=True, help="a churn server port (for the port:N filter)")
    p.add_argument("--subs", type=int, default=100)
    p.add_argument("--reader-procs", type=int, default=4)
    p.add_argument("--window", type=float, default=30)
    p.add_argument("--warmup", type=float, default=5)
    p.add_argument("--bound", type=float, default=900)
    p = sp.add_parser("_subscriber")
    p.add_argument("--socket", required=True)
    p.add_argument("--view", default="processes")
    p.add_argument("--all", action="store_true")
    p.add_argument("--filter")
    p.add_argument("--min-interval", type=int, default=100)
    p.add_argument("--seconds", type=float, default=600)
    p = sp.add_parser("_churn")
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--rate", type=float, default=100)
    p.add_argument("--servers", type=int, default=5)
    p.add_argument("--clients", type=int, default=5)
    p.add_argument("--seconds", type=float, default=600)
    p = sp.add_parser("_reader")
    p.add_argument("--socket", required=True)
    p.add_argument("--specs", required=True)
    p.add_argument("--seconds", type=float, default=900)
    args = ap.parse_args()
    # SIGTERM (the shell script's trap) unwinds through the finally blocks that reap every child.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    {"latency": cmd_latency, "capture": cmd_capture, "fanout": cmd_fanout, "_subscriber": cmd_subscriber,
     "_churn": cmd_churn, "_reader": cmd_reader}[args.cmd](args)


if __name__ == "__main__":
    main()
