"""The event-driven host map equals a map built from scratch after long randomized churn (issue 16).

Daemon A starts first, with full passes a minute apart (`--refresh-ms` and `--reconcile-ms` 60000) and a
subscriber, so between its first pass and the end of the churn it keeps its model current from process and
socket events (one pid at a time, flows from the tracepoint) and the few early passes that events ask for
(a new listener, a socket owner that exited). The churn, from a seeded random generator: servers, clients
connecting to them (held, closed, killed), idle processes, bursts of short-lived execs. Afterwards daemon B
starts fresh and makes one full pass. The `processes` views (`all: true`) of both must agree on every
process the churn left running (name, command, parent) and on the open edges among them; nothing that
exited may still be listed as running in A.

Needs root (the process connector and the tracepoint); skipped otherwise.
"""
import os
import random
import subprocess
import sys
import threading
import time

import pytest

from conftest import Daemon
from rpc import PEER_PRELUDE, Client, Peer, collectors, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (process connector, tracepoint)")

HELPER = PEER_PRELUDE + r'''
mode = sys.argv[1]
if mode == "server":
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held = []
    def accept():
        while True:
            conn, _ = server.accept()
            held.append(conn)
    threading.Thread(target=accept, daemon=True).start()
    ready(server.getsockname()[1])
    wait_for_stdin_eof()
elif mode == "client":
    s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
    ready(s.getsockname()[1])
    wait_for_stdin_eof()
else:
    ready()
    wait_for_stdin_eof()
'''

SEED = int(os.environ.get("PERISCOPE_CHURN_SEED", "16"))
STEPS = 150


def churn(helper, rng):
    """Runs the random churn; returns (live peers, pids of every process it started)."""
    servers, clients, idle = [], [], []
    started = set()

    def start(*args):
        p = Peer([sys.executable, helper, *args])
        started.add(p.pid)
        return p

    for _ in range(STEPS):
        action = rng.choice(["server", "client", "client", "client", "close", "kill", "idle", "idle", "idle-stop",
                             "execs", "execs"])
        if action == "server" and len(servers) < 5 or not servers:
            servers.append(start("server"))
        elif action == "client" and len(clients) < 30:
            clients.append(start("client", str(rng.choice(servers).port)))
        elif action in ("close", "kill") and clients:
            clients.pop(rng.randrange(len(clients))).stop(kill=action == "kill")
        elif action == "idle" and len(idle) < 15:
            idle.append(start("idle"))
        elif action == "idle-stop" and idle:
            idle.pop(rng.randrange(len(idle))).stop(kill=rng.random() < 0.5)
        elif action == "execs":
            for _ in range(rng.randrange(5, 25)):
                p = subprocess.Popen(["/bin/true"])
                started.add(p.pid)
                p.wait()
        time.sleep(rng.uniform(0, 0.06))
    return servers + clients + idle, started


def view_of(daemon):
    c = Client(daemon)
    try:
        return c.view("processes", options={"all": True})
    finally:
        c.close()


def summary(view, pids):
    """Running processes among `pids` (pid → (name, command, ppid)) and open edges among them."""
    nodes = {}
    for n in view["nodes"]:
        meta = n.get("metadata", {})
        if n["kind"] == "process" and meta.get("pid") in pids and not meta.get("exited"):
            nodes[n["id"]] = (meta["pid"], meta.get("name"), meta.get("command"), meta.get("ppid"))
    edges = sorted((e["source"], e["target"], e["connections"], tuple(e["ports"])) for e in view["edges"]
                   if e["source"] in nodes and e["target"] in nodes and not e.get("closed"))
    return {v[0]: v[1:] for v in nodes.values()}, edges


def test_incremental_equals_scratch_after_churn(tmp_path):
    helper = tmp_path / "helper.py"
    helper.write_text(HELPER)
    a = Daemon("--refresh-ms", "60000", "--reconcile-ms", "60000", collectors=True)
    peers, b = [], None
    try:
        sub = Client(a)
        sub.call("topology/subscribe", {"view": "processes", "options": {"all": True}})
        reading = threading.Event()
        reading.set()

        def drain():  # a subscriber that stops reading is disconnected as too slow
            while reading.is_set() and sub.pump(0.1):
                sub.notes.clear()
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        wait_until(lambda: collectors(a)["host-map"].get("passes", 0) >= 1, what="daemon A's first pass")
        before = collectors(a)
        peers, started = churn(str(helper), random.Random(SEED))
        time.sleep(1.5)  # the last events become patches
        after = collectors(a)
        assert after["host-map"]["inDemand"] is True, "the subscriber is still there"
        got = view_of(a)
        b = Daemon("--refresh-ms", "60000", "--reconcile-ms", "60000", collectors=True)
        want = view_of(b)
        live = {p.pid for p in peers}
        got_nodes, got_edges = summary(got, started)
        want_nodes, want_edges = summary(want, started)
        passes = after["host-map"]["passes"] - before["host-map"]["passes"]
        events = after["process-events"]["eventsSeen"] - before["process-events"]["eventsSeen"]
        print(f"churn: {len(started)} processes started, {len(live)} left, {events} process events, "
              f"{passes} full passes, {len(want_edges)} open edges compared")
        assert set(want_nodes) == live, "the fresh daemon lists exactly the churn's live processes"
        assert got_nodes == want_nodes, f"processes differ (seed {SEED}; {passes} full passes for {events} events)"
        assert got_edges == want_edges, (f"open edges differ (seed {SEED}): only incremental "
                                         f"{sorted(set(got_edges) - set(want_edges))}, only fresh "
                                         f"{sorted(set(want_edges) - set(got_edges))}")
        assert passes < events / 4, f"{passes} full passes for {events} process events: not event-driven"
        reading.clear()
        reader.join(timeout=5)
        sub.close()
    finally:
        for p in peers:
            p.stop(kill=True)
        if b:
            b.stop()
        a.stop()
