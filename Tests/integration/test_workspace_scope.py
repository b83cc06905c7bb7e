"""Workspace scope in the daemon: `under:` and `workspace:` filters, for topology/get and subscriptions."""
import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import Daemon
from rpc import FramedClient, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the kernel collectors need root to attribute every socket")


def pids(nodes):
    return {n["metadata"].get("pid") for n in nodes}


def test_workspace_filter_keeps_the_workspace_and_its_peers():
    workspace = tempfile.mkdtemp(prefix="pscope-ws-")
    elsewhere = tempfile.mkdtemp(prefix="pscope-other-")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = Daemon("--refresh-ms", "200", collectors=True)
    procs = []
    try:
        rpc = FramedClient(daemon.socket_path)
        sub = rpc.call("topology/subscribe", {"view": "processes", "filter": f"workspace:{workspace}", "minInterval": 0})
        # The program being developed runs in the workspace and calls a database that runs elsewhere.
        db = subprocess.Popen([sys.executable, "-c", f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); "
                                                     "s.listen(); c=s.accept(); time.sleep(60)"], cwd=elsewhere)
        procs.append(db)
        time.sleep(0.3)
        app = subprocess.Popen([sys.executable, "-c", f"import socket,time; s=socket.create_connection(('127.0.0.1',{port})); "
                                                      "time.sleep(60)"], cwd=workspace)
        procs.append(app)

        def both_shown():
            view = rpc.call("topology/get", {"view": "processes", "filter": f"workspace:{workspace}"})
            return view if pids(view["nodes"]) == {app.pid, db.pid} else None
        view = wait_until(both_shown, 20, interval=0.2, what="the app and its database in the workspace view")
        assert [(e["source"].split(";")[-1], e["target"].split(";")[-1]) for e in view["edges"]] == [(str(app.pid), str(db.pid))]
        # `under:` is the workspace alone, without peers.
        only = rpc.call("topology/get", {"view": "processes", "filter": f"under:{workspace}"})
        assert pids(only["nodes"]) == {app.pid}
        # The subscriber built the same state from its notifications.
        state = {n["id"]: n for n in sub["nodes"]}
        edges = {e["id"] for e in sub["edges"]}

        def applied():
            nonlocal edges
            if pids(state.values()) == {app.pid, db.pid}:
                return True
            rpc.call("daemon/ping")
            for note in rpc.notes:
                if note.get("method") != "topology/changed":
                    continue
                change = note["params"]
                for nid in change["removed"]["nodes"]:
                    state.pop(nid, None)
                for kind in ("added", "updated"):
                    for n in change[kind]["nodes"]:
                        state[n["id"]] = n
                    edges |= {e["id"] for e in change[kind]["edges"]}
                edges -= set(change["removed"]["edges"])
            rpc.notes.clear()
            return False
        wait_until(applied, 20, interval=0.1, what="the subscriber's state to hold the app and its database")
        assert len(edges) == 1, edges  # the app → db edge
    finally:
        for proc in procs:
            proc.kill()
        assert daemon.stop() == 0
