#!/usr/bin/env python3
"""Simulated publishers for the aggregator (issue 11, benchmark 2): N hosts, each a synthetic report of P
processes and C connections (loopback, host-scoped), 1 % of its nodes changing per second, each sent once a
second over mutual TLS with the real wire format and a certificate per host made by `periscope certs issue` in
PKI: the full report (report/publish) on connect and whenever the aggregator asks (report/resend), otherwise a
revisioned delta of the changed nodes (report/delta), all on one zlib stream per connection, base64.

    python3 bench/publishers.py --aggregator ADDR:PORT --pki DIR [--publishers 50 --procs 200 --conns 1000]
        [--seconds 60]

Runs until --seconds have passed; prints one JSON line of what it sent. Used by bench/multihost.py --load.
"""
import argparse
import base64
import json
import random
import select
import socket
import ssl
import subprocess
import sys
import time
import zlib


def node(nid, topology, latest, t, parents=None, adjacency=(), metrics=None):
    return json.dumps({"id": nid, "topology": topology,
                       "latest": {k: {"timestamp": t, "value": v} for k, v in latest.items()},
                       "sets": {}, "adjacency": list(adjacency), "parents": parents or {},
                       "metrics": {k: [{"timestamp": t, "value": v}] for k, v in (metrics or {}).items()}})


class SimHost:
    def __init__(self, name, procs, conns, rng):
        self.name, self.rng, self.t = name, rng, time.time()
        self.changed = set()
        self.procs = [f"{name};{1000 + p}" for p in range(procs)]
        self.nodes = {"host": {}, "process": {}, "endpoint": {}, "connection": {}}
        self.nodes["host"][name] = node(name, "host", {"hostname": name, "os": "sim"}, self.t)
        for p, pid in enumerate(self.procs):
            self.process(p)
        self.conns = []
        for c in range(conns):
            client, server = c % procs, (c * 7 + 3) % procs
            ce, se = f"{name}/1;127.0.0.1;{20000 + c};tcp", f"{name}/1;127.0.0.1;{5000 + server};tcp"
            self.nodes["endpoint"][ce] = node(ce, "endpoint", {}, self.t, {"process": [self.procs[client]], "host": [name]}, [se])
            self.nodes["endpoint"][se] = node(se, "endpoint", {}, self.t, {"process": [self.procs[server]], "host": [name]})
            self.conns.append((f"{ce}->{se}", c))
            self.connection(len(self.conns) - 1)
        self.revision = 0

    def process(self, p):
        pid = self.procs[p]
        self.changed.add(("process", pid))
        self.nodes["process"][pid] = node(pid, "process", {"name": f"svc{p % 20}", "pid": pid.split(";")[1]}, self.t,
                                          {"host": [self.name]}, metrics={"cpu": self.rng.random() * 10})

    def connection(self, i):
        cid, c = self.conns[i]
        self.changed.add(("connection", cid))
        self.nodes["connection"][cid] = node(cid, "connection", {"state": "established", "proto": "tcp",
                                             "bytes_sent": str(self.rng.randrange(1 << 30))}, self.t)

    def step(self):
        """1 % of the processes and connections change."""
        self.t = time.time()
        for p in self.rng.sample(range(len(self.procs)), max(1, len(self.procs) // 100)):
            self.process(p)
        for i in self.rng.sample(range(len(self.conns)), max(1, len(self.conns) // 100)):
            self.connection(i)
        self.revision += 1

    def delta(self):
        """The nodes changed since the last call, in the report/delta data shape."""
        kinds = {}
        for kind, nid in self.changed:
            kinds.setdefault(kind, []).append(f"{json.dumps(nid)}:{self.nodes[kind][nid]}")
        self.changed = set()
        parts = [f'"{kind}":{{"nodes":{{' + ",".join(items) + "}}" for kind, items in kinds.items()]
        return ("{\"topologies\":{" + ",".join(parts) + "},\"removed\":{}}").encode()

    def json(self):
        self.changed = set()
        parts = []
        for kind, nodes in self.nodes.items():
            parts.append(f'"{kind}":{{"nodes":{{' + ",".join(f"{json.dumps(k)}:{v}" for k, v in nodes.items()) + "}}")
        return ("{\"topologies\":{" + ",".join(parts) + "}}").encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--aggregator", required=True)
    ap.add_argument("--pki", required=True)
    ap.add_argument("--publishers", type=int, default=50)
    ap.add_argument("--procs", type=int, default=200)
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    a = ap.parse_args()
    host, port = a.aggregator.rsplit(":", 1)
    rng = random.Random(11)
    links = []
    sims = [SimHost(f"sim{i}", a.procs, a.conns, rng) for i in range(a.publishers)]  # before connecting:
    for sim in sims:                                                                   # the aggregator drops
        name = sim.name                                                                # a silent peer in 10 s
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(f"{a.pki}/ca.crt")
        ctx.load_cert_chain(f"{a.pki}/{name}.crt", f"{a.pki}/{name}.key")
        s = ctx.wrap_socket(socket.create_connection((host, int(port))))
        links.append([s, zlib.compressobj(1), 0, True, b""])  # socket, stream, bytes, full report next, input
    sent = fulls = deltas = 0
    end = time.monotonic() + a.seconds
    next_round = time.monotonic()
    while time.monotonic() < end:
        for sim, link in zip(sims, links):
            base = sim.revision
            sim.step()
            full = link[3]
            link[3] = False
            data = link[1].compress(sim.json() if full else sim.delta()) + link[1].flush(zlib.Z_SYNC_FLUSH)
            params = {"host": sim.name, "revision": sim.revision, "refreshMs": 1000, "encoding": "zlib-stream",
                      "data": base64.b64encode(data).decode()}
            if not full:
                params["base"] = base
            fulls, deltas = fulls + full, deltas + (not full)
            body = json.dumps({"jsonrpc": "2.0", "method": "report/publish" if full else "report/delta",
                               "params": params}).encode()
            frame = b"Content-Length: %d\r\n\r\n" % len(body) + body
            link[0].sendall(frame)
            link[2] += len(frame)
            sent += len(frame)
        for link in links:  # drain acks; a report/resend (a gap) makes the next message a full report
            link[0].setblocking(False)
            try:
                while chunk := link[0].recv(65536):
                    link[4] = (link[4] + chunk)[-4096:]
                    if b"report/resend" in link[4]:
                        link[3], link[4] = True, b""
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            link[0].setblocking(True)
        next_round += 1.0
        time.sleep(max(0, next_round - time.monotonic()))
    print(json.dumps({"publishers": a.publishers, "bytes_sent": sent, "seconds": a.seconds,
                      "full_reports": fulls, "deltas": deltas,
                      "bytes_per_s_per_publisher": round(sent / a.seconds / a.publishers, 1),
                      "late_rounds": next_round < time.monotonic()}))


if __name__ == "__main__":
    main()
