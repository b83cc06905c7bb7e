#!/usr/bin/env python3
"""The report bus (issue 15): change -> subscriber latency through a 3-node NATS JetStream cluster, at two
aggregators, with N simulated publishers loading the bus; aggregator CPU and RSS, NATS servers' CPU, bus bytes/s.

Real daemons as in Tests/integration/test_nats.py (each in its own UTS namespace: its own host id): one real
publisher (bp-p1) and two aggregators (bp-a1, bp-a2). A change is a new process on bp-p1's host connecting to
a server there; its latency is from the client's connect() to the `topology/changed` notification adding the
edge from `bp-p1;CLIENT` at each aggregator's subscriber. The simulated publishers (sim0 ...) publish synthetic
reports (bench/publishers.py's SimHost: P processes, C connections, 1 % changing per second) once a second per
host, zlib-compressed as the daemon does, over the plain NATS protocol (HPUB, captured by the stream).

    python3 bench/nats.py [--publishers 200 --procs 200 --conns 1000 --samples 20]

As root (UTS namespaces); needs nats-server. Prints one JSON object.
"""
import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
import random
import signal

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "Tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))
import test_nats  # noqa: E402  (NatsCluster, BusDaemon)
from publishers import SimHost  # noqa: E402
from rpc import Client, wait_until  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--publishers", type=int, default=200)
ap.add_argument("--procs", type=int, default=200)
ap.add_argument("--conns", type=int, default=1000)
ap.add_argument("--samples", type=int, default=20)
ap.add_argument("--full-every", type=int, default=1,
                help="a simulated host publishes a full report every N messages, revisioned deltas in between (1: only full reports)")
ap.add_argument("--settle", type=float, default=120, help="seconds to wait for every simulated host at both aggregators")
args = ap.parse_args()


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)


class SimPublishers(threading.Thread):
    """N synthetic hosts publishing once a second each over one plain NATS connection."""

    def __init__(self, port, count):
        super().__init__(daemon=True)
        rng = random.Random(15)
        self.sims = [SimHost(f"sim{i}", args.procs, args.conns, rng) for i in range(count)]
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.recv(4096)  # INFO
        connect = {"verbose": False, "pedantic": False, "headers": True, "auth_token": test_nats.TOKEN, "name": "sim"}
        self.sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\n")
        self.sent, self.late, self.stop, self.fulls, self.deltas = 0, 0, False, 0, 0

    def answer(self):
        """Reads what the server sends and answers its PINGs (an unanswered PING ends the connection)."""
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            for _ in range(data.count(b"PING\r\n")):
                self.sock.sendall(b"PONG\r\n")

    def run(self):
        threading.Thread(target=self.answer, daemon=True).start()
        next_round = time.monotonic()
        while not self.stop:
            for sim in self.sims:
                base = sim.revision
                sim.step()
                full = sim.revision % args.full_every == 1 or args.full_every <= 1
                body = zlib.compress(sim.json() if full else sim.delta(), 6)
                headers = b"NATS/1.0\r\nPeriscope-Revision: %d\r\nPeriscope-Refresh-Ms: 1000\r\n" % sim.revision
                headers += (b"" if full else b"Periscope-Base: %d\r\n" % base) + b"\r\n"
                self.fulls, self.deltas = self.fulls + full, self.deltas + (not full)
                self.sock.sendall(b"HPUB periscope.report.%s %d %d\r\n" % (sim.name.encode(), len(headers), len(headers) + len(body))
                                  + headers + body + b"\r\n")
                self.sent += len(body)
            next_round += 1.0
            wait = next_round - time.monotonic()
            if wait < 0:
                self.late += 1
            time.sleep(max(0, wait))


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # through the finally below: nothing left running
    work = tempfile.mkdtemp(prefix="periscope-bench-nats-")
    with open(os.path.join(work, "token"), "w") as f:
        f.write(test_nats.TOKEN + "\n")
    cluster = test_nats.NatsCluster(work)
    daemons, load, server = [], None, None
    try:
        publisher = test_nats.BusDaemon(work, "bp-p1", cluster.urls)
        aggregators = [test_nats.BusDaemon(work, h, cluster.urls, aggregate=True) for h in ("bp-a1", "bp-a2")]
        daemons = [publisher, *aggregators]
        for a in aggregators:
            wait_until(lambda: "bp-p1" in a.bus().get("hosts", {}), timeout=120, what="the publisher at the aggregators")
        if args.publishers:
            load = SimPublishers(cluster.ports[0], args.publishers)
            load.start()
            try:
                wait_until(lambda: all(len(a.bus()["hosts"]) >= args.publishers + 2 for a in aggregators), timeout=args.settle,
                           what="every simulated host at both aggregators")
            except AssertionError as e:  # measured anyway: the figures say how many hosts were held
                print(f"not settled: {e}", file=sys.stderr)
            time.sleep(10)  # warm-up: the 10 s rate windows fill
        cpu0 = [cpu_seconds(d.proc.pid) for d in aggregators] + [cpu_seconds(p.pid) for p in cluster.procs]
        wall0 = time.monotonic()
        server = subprocess.Popen([sys.executable, "-c", "import socket,sys\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(512)\n"
                                   "print(s.getsockname()[1],flush=True)\nheld=[]\nwhile True: held.append(s.accept())"],
                                  stdout=subprocess.PIPE, text=True)
        port = int(server.stdout.readline())
        subs = []
        watched = [publisher, *aggregators]  # the publisher's own view: the collection part of the latency
        for a in watched:
            sub = Client(a)
            sub.call("topology/subscribe", {"view": "processes", "minInterval": 0})
            subs.append(sub)
        latencies = [[], [], []]
        clients = []
        for _ in range(args.samples):
            for sub in subs:
                sub.pump(0)
                sub.notes.clear()
            client = subprocess.Popen([sys.executable, "-c", "import socket,sys,time\nc=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n"
                                       "print(time.time(),flush=True)\nsys.stdin.read()", str(port)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            clients.append(client)
            opened = float(client.stdout.readline())
            wanted = f"bp-p1;{client.pid}"
            waiting = set(range(len(subs)))  # every subscriber read at once: none waits on another's timeout
            deadline = time.monotonic() + 10
            while waiting and time.monotonic() < deadline:
                for i in sorted(waiting):
                    sub = subs[i]
                    sub.pump(0.005)
                    if any(e["source"] == wanted for n in sub.notes
                           for e in n.get("params", {}).get("added", {}).get("edges", [])):
                        latencies[i].append((time.time() - opened) * 1000)
                        waiting.discard(i)
                    sub.notes[:] = [n for n in sub.notes if i in waiting][-50:]
            time.sleep(0.5)
        wall = time.monotonic() - wall0
        cpu1 = [cpu_seconds(d.proc.pid) for d in aggregators] + [cpu_seconds(p.pid) for p in cluster.procs]
        status = [a.bus() for a in aggregators]
        pick = lambda xs, q: round(sorted(xs)[min(len(xs) - 1, int(q * len(xs)))], 1) if xs else None
        print(json.dumps({
            "simulated_publishers": args.publishers, "procs": args.procs, "conns": args.conns,
            "latency_ms": {a.host: {"samples": len(xs), "of": args.samples, "p50": pick(xs, 0.5), "p99": pick(xs, 0.99)}
                           for a, xs in zip(watched, latencies)},
            "aggregator_cpu_percent": [round(100 * (c1 - c0) / wall, 1) for c0, c1 in zip(cpu0[:2], cpu1[:2])],
            "aggregator_rss_mib": [rss_mib(d.proc.pid) for d in aggregators],
            "nats_cpu_percent": [round(100 * (c1 - c0) / wall, 1) for c0, c1 in zip(cpu0[2:], cpu1[2:])],
            "bus_bytes_in_per_s_at_aggregator": [s["bytesInPerSecond"] for s in status],
            "messages_in_per_s_at_aggregator": [s["messagesInPerSecond"] for s in status],
            "coalesced": [s["consumer"]["coalesced"] for s in status], "lag": [s["consumer"]["lag"] for s in status],
            "hosts_held": [len(s["hosts"]) for s in status],
            "hosts_stale": [sum(h["stale"] for h in s["hosts"].values()) for s in status],
            "awaiting_full": [sum(h.get("awaitingFull", False) for h in s["hosts"].values()) for s in status],
            "load_average": os.getloadavg(),
            "generator_bytes_per_s": round(load.sent / (time.monotonic() - wall0 + 10), 1) if load else 0,
            "generator_late_rounds": load.late if load else 0,
            "generator_full_reports": load.fulls if load else 0, "generator_deltas": load.deltas if load else 0,
            "full_every": args.full_every, "binary": test_nats.PERISCOPED,
        }, indent=1))
        for client in clients:
            client.kill()
            client.wait()
    finally:
        if load:
            load.stop = True
        if server:
            server.kill()
            server.wait()
        for d in daemons:
            d.stop(9)
        cluster.close()


if __name__ == "__main__":
    main()
