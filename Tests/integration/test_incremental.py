"""The event-driven host map equals a map built from scratch after long randomized churn (issue 16).

Daemon A starts first, with full passes a minute apart (`--refresh-ms` and `--reconcile-ms` 60000) and a
subscriber, so between its first pass and the end of the churn it keeps its model current from process and
socket events (one pid at a time, flows from the tracepoint) and the few early passes that events ask for
(a new listener, a socket owner that exited). The churn, from a seeded random generator: servers, clients
connecting to them (held, closed, killed), idle processes, bursts of short-lived execs. Afterwards daemon B
starts fresh and makes one full pass. The `processes` views (`all: true`) of both must agree on every
process the churn left running (name, command, parent) and on the open edges among them; nothing that
exited may still be listed as running in A. A second test adds network namespaces (a server and its clients on
each namespace's own loopback) and Podman containers (started and removed through the engine) to the churn, and
compares the `containers` view too.

Needs root (the process connector and the tracepoint); skipped otherwise.
"""
import os
import shutil
import random
import subprocess
import sys
import threading
import time

import pytest

from conftest import Daemon
from rpc import PEER_PRELUDE, Client, DrainingSubscriber, Peer, collectors, wait_until

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
            execs(rng, started)
        time.sleep(rng.uniform(0, 0.06))
    return servers + clients + idle, started


def execs(rng, started):
    """A burst of 5-24 short-lived execs, one after another, their pids added to `started`."""
    for _ in range(rng.randrange(5, 25)):
        p = subprocess.Popen(["/bin/true"])
        started.add(p.pid)
        p.wait()


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
        sub = DrainingSubscriber(a, options={"all": True})
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
        sub.close()
    finally:
        for p in peers:
            p.stop(kill=True)
        if b:
            b.stop()
        a.stop()


def netns(*args):
    subprocess.run(["ip", "netns", *args], check=True, capture_output=True, timeout=20)


def test_incremental_equals_scratch_with_namespaces_and_containers(tmp_path):
    """The same comparison after churn that also creates network namespaces (a server and its clients inside each,
    on the namespace's own loopback) and starts and removes Podman containers (servers, and clients holding a
    connection to them): the event-driven map of daemon A must equal daemon B's first pass in the `processes` view
    (with the namespaces' processes and edges) and in the `containers` view (the running containers and the edges
    among them)."""
    from test_containers import Stack, podman  # the engine fixture's building blocks (busybox images, service)
    if shutil.which("podman") is None or shutil.which("runc") is None or not os.path.exists("/bin/busybox"):
        pytest.fail("podman, runc and busybox-static are needed (scripts/setup.sh --test installs them)")
    helper = tmp_path / "helper.py"
    helper.write_text(HELPER)
    stack = Stack()
    rng = random.Random(SEED + 1)
    spaces, peers, a, b = [], [], None, None
    try:
        stack.build_images()
        stack.start_service()
        engine = ("--docker-socket", stack.socket)
        a = Daemon("--refresh-ms", "60000", "--reconcile-ms", "60000", *engine, collectors=True)
        sub = DrainingSubscriber(a, options={"all": True})
        wait_until(lambda: collectors(a)["host-map"].get("passes", 0) >= 1, what="daemon A's first pass")
        before = collectors(a)
        started, servers, clients, boxes, box_clients = set(), {}, [], [], []
        for step in range(60):
            action = rng.choice(["netns", "netns-client", "netns-client", "netns-close", "container",
                                 "container-client", "container-rm", "execs"])
            if action == "netns" and len(spaces) < 3 or action == "netns-client" and not spaces:
                name = f"pscope-inc-{os.getpid()}-{step}"
                netns("add", name)
                spaces.append(name)
                netns("exec", name, "ip", "link", "set", "lo", "up")
                p = Peer(["ip", "netns", "exec", name, sys.executable, str(helper), "server"])
                servers[name] = p
                peers.append(p)
                started.add(p.pid)
            elif action == "netns-client" and len(clients) < 12:
                name = rng.choice(spaces)
                p = Peer(["ip", "netns", "exec", name, sys.executable, str(helper), "client", str(servers[name].port)])
                clients.append(p)
                peers.append(p)
                started.add(p.pid)
            elif action == "netns-close" and clients:
                p = clients.pop(rng.randrange(len(clients)))
                p.stop(kill=rng.random() < 0.5)
                peers.remove(p)
            elif action == "container" and len(boxes) < 3:
                boxes.append(f"srv{step}")
                stack.start(boxes[-1], "db", "exec nc -ll -p 5432 -e cat")
            elif action == "container-client" and boxes and len(box_clients) < 3:
                box_clients.append(f"cli{step}")
                stack.start(box_clients[-1], "app", f"sleep 100000 | nc {stack.ips[rng.choice(boxes)]} 5432")
            elif action == "container-rm" and box_clients + boxes:
                kind = box_clients if box_clients and (not boxes or rng.random() < 0.5) else boxes
                podman("rm", "-f", "-t", "0", stack.name(kind.pop(rng.randrange(len(kind)))))
            elif action == "execs":
                execs(rng, started)
            time.sleep(rng.uniform(0, 0.06))
        time.sleep(2.5)  # the last events become patches; a container's connection waits for its engine event
        after = collectors(a)
        got = view_of(a)
        got_boxes = Client(a).call("topology/get", {"view": "containers"})
        b = Daemon("--refresh-ms", "60000", "--reconcile-ms", "60000", *engine, collectors=True)
        want = view_of(b)
        live = {p.pid for p in peers}
        got_nodes, got_edges = summary(got, started)
        want_nodes, want_edges = summary(want, started)
        passes = after["host-map"]["passes"] - before["host-map"]["passes"]
        running = {f"container:{stack.ids[n]}" for n in boxes + box_clients}

        def containers(view):
            nodes = {n["id"]: (n["label"], n["metadata"].get("state")) for n in view["nodes"] if n["id"] in running}
            edges = sorted((e["source"], e["target"], tuple(e["ports"])) for e in view["edges"]
                           if e["source"] in running and e["target"] in running)
            return nodes, edges
        fresh = Client(b)
        wait_until(lambda: set(containers(fresh.call("topology/get", {"view": "containers"}))[0]) == running,
                   what="daemon B's first list of the engine's containers")
        want_boxes = fresh.call("topology/get", {"view": "containers"})
        fresh.close()
        got_c, want_c = containers(got_boxes), containers(want_boxes)
        print(f"churn: {len(spaces)} namespaces, {len(live)} namespace processes left, {len(running)} containers "
              f"left, {len(want_edges)} open process edges, {len(want_c[1])} container edges, {passes} full passes")
        assert want_edges and running, f"seed {SEED + 1} left nothing to compare"
        assert set(want_nodes) == live, "the fresh daemon lists exactly the churn's live processes"
        assert got_nodes == want_nodes, f"processes differ (seed {SEED + 1})"
        assert got_edges == want_edges, (f"open edges differ (seed {SEED + 1}): only incremental "
                                         f"{sorted(set(got_edges) - set(want_edges))}, only fresh "
                                         f"{sorted(set(want_edges) - set(got_edges))}")
        assert set(want_c[0]) == running, f"the fresh daemon lists the running containers: {want_c[0]}"
        assert got_c == want_c, f"containers differ: incremental {got_c}, fresh {want_c}"
        sub.close()
    finally:
        for p in peers:
            p.stop(kill=True)
        for name in spaces:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        stack.cleanup()
        if b:
            b.stop()
        if a:
            a.stop()
