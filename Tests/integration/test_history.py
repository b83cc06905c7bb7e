"""History and time travel against a real periscoped with a real SQLite log (SPEC.md section 18).

* live answers recorded while real connections come and go equal `topology/get` with `at` later;
* `topology/diff` and `periscope diff` list exactly what came and went; `periscope history` shows a node;
* kill -9 during heavy writing: the log reopens cleanly and keeps what was committed;
* a corrupt or unwritable log: the daemon serves the live map, history is off and `daemon/status` says why.
"""
import datetime
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from cli_helpers import run
from conftest import Daemon
from rpc import PEER_PRELUDE, Client, Peer, RPCError, wait_until

SERVER = PEER_PRELUDE + r'''
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
def serve(c):
    while c.recv(4096):
        pass
    c.close()
def accept():
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
threading.Thread(target=accept, daemon=True).start()
ready(s.getsockname()[1])
wait_for_stdin_eof()
'''

CLIENT = PEER_PRELUDE + r'''
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
ready(c.getsockname()[1])
wait_for_stdin_eof()
'''


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shape(view):
    """What must match exactly: node ids and labels, edge ids, ends and ports (metrics are sampled)."""
    return ({n["id"]: n["label"] for n in view["nodes"]},
            {e["id"]: (e["source"], e["target"], tuple(e["ports"]), e["closed"]) for e in view["edges"]})


def history_daemon(tmp_path, *extra):
    return Daemon("--refresh-ms", "200", "--history", str(tmp_path / "history.db"), *extra, collectors=True)


def wait_for_edge(client, flt, present=True):
    """Until the view has an edge (`present`), or none at all, closed ones included (closed connections are
    kept about 10 s)."""
    return wait_until(lambda: (len(client.view("processes", filter=flt)["edges"]) > 0) == present, timeout=40,
                      what=f"edge on {flt} {'present' if present else 'gone'}")


def test_get_at_equals_what_was_live(tmp_path):
    d = history_daemon(tmp_path)
    server = Peer([sys.executable, "-c", SERVER])
    clients = []
    try:
        c = Client(d)
        flt = f"port:{server.port}"
        recorded = []
        for round in range(3):
            clients.append(Peer([sys.executable, "-c", CLIENT, str(server.port)]))
            wait_until(lambda: len(c.view("processes", filter=flt)["edges"]) == len(clients)
                       and len(c.view("processes", filter=flt)["nodes"]) == 1 + len(clients), what="the new client")
            # A live answer, the same again a second later: the instant between them was that state too.
            before, a = time.time(), c.view("processes", filter=flt)
            time.sleep(1.0)
            b, after = c.view("processes", filter=flt), time.time()
            if shape(a) == shape(b):
                recorded.append(((before + after) / 2, a))
            recorded.append((time.time(), None))  # marks the change that follows
        for p in clients:
            p.stop()
        server.stop()
        open_edges = lambda view: [e for e in view["edges"] if not e["closed"]]
        wait_until(lambda: not open_edges(c.view("processes", filter=flt)), what="the clients gone")
        time.sleep(2.5)  # recorded (a query has the writer commit what it holds)
        checked = 0
        for t, live in recorded:
            if live is None:
                continue
            past = c.call("topology/get", {"view": "processes", "filter": flt, "at": rfc3339(t)})
            assert past["at"].startswith(rfc3339(t)[:19])
            assert "revision" not in past
            assert shape(past) == shape(live), f"at {rfc3339(t)}"
            checked += 1
        assert checked >= 2
        # The same instants through the shell client.
        t, live = next(r for r in recorded if r[1] is not None)
        r = run("get", "processes", "--socket", d.socket_path, "--filter", flt, "--at", rfc3339(t), "--json")
        assert r.returncode == 0, r.stderr
        import json
        assert shape(json.loads(r.stdout)) == shape(live)
        # Now: nothing on that port.
        assert open_edges(c.call("topology/get", {"view": "processes", "filter": flt, "at": "now"})) == []
        c.close()
    finally:
        for p in clients:
            p.stop(kill=True)
        server.stop(kill=True)
        assert d.stop() == 0


def test_diff_lists_what_came_and_went(tmp_path):
    d = history_daemon(tmp_path)
    server = Peer([sys.executable, "-c", SERVER])
    try:
        c = Client(d)
        flt = f"port:{server.port}"
        wait_until(lambda: c.call("daemon/status")["collectors"]["history"].get("commits", 0) > 0, what="a commit")
        t0 = time.time()
        client = Peer([sys.executable, "-c", CLIENT, str(server.port)])
        wait_for_edge(c, flt)
        time.sleep(2.5)
        t1 = time.time()
        diff = c.call("topology/diff", {"view": "processes", "filter": flt, "from": rfc3339(t0), "to": rfc3339(t1)})
        edge_id = f"{socket.gethostname()};{client.pid}->{socket.gethostname()};{server.pid}"
        assert [e["id"] for e in diff["added"]["edges"]] == [edge_id]
        assert {n["id"] for n in diff["added"]["nodes"]} >= {f"{socket.gethostname()};{client.pid}"}
        assert diff["removed"] == {"nodes": [], "edges": []}
        # The shell client says it as a person reads it.
        r = run("diff", "processes", "--socket", d.socket_path, "--filter", flt, "--since", rfc3339(t0))
        assert r.returncode == 0, r.stderr
        hhmm = datetime.datetime.fromtimestamp(t0).strftime("%H:%M")
        assert f"+ edge python3 ({client.pid}) → python3 ({server.pid}):{server.port} (new since {hhmm})" in r.stdout, r.stdout
        # Gone again: from t1 it is removed (as it was at t1); from t0 nothing changed at all.
        client.stop()
        wait_for_edge(c, flt, present=False)
        time.sleep(2.5)
        gone = c.call("topology/diff", {"view": "processes", "filter": flt, "from": rfc3339(t1)})
        assert [e["id"] for e in gone["removed"]["edges"]] == [edge_id]
        assert gone["removed"]["edges"][0]["ports"] == [server.port]
        same = c.call("topology/diff", {"view": "processes", "filter": flt, "from": rfc3339(t0)})
        assert same["added"]["edges"] == [] and same["removed"]["edges"] == []
        r = run("diff", "processes", "--socket", d.socket_path, "--filter", flt, "--since", rfc3339(t0), "--until", rfc3339(t1))
        assert f"+ edge python3 ({client.pid})" in r.stdout, r.stdout
        # node/history of the client process: exact existence, its peer, and periscope history prints it.
        node = f"{socket.gethostname()};{client.pid}"
        h = c.call("node/history", {"view": "processes", "id": node, "from": rfc3339(t0)})
        assert h["exact"] is True and len(h["existed"]) == 1 and "to" in h["existed"][0]
        assert [(p["id"], p["direction"]) for p in h["peers"]] == [(f"{socket.gethostname()};{server.pid}", "out")]
        assert any(s["present"] for s in h["samples"])
        r = run("history", node, "--socket", d.socket_path, "--since", rfc3339(t0))
        assert r.returncode == 0, r.stderr
        assert f"→ python3 [{socket.gethostname()};{server.pid}]" in r.stdout, r.stdout
        # Before the oldest history kept: an error that says so, never an empty answer.
        with pytest.raises(RPCError) as e:
            c.call("topology/get", {"view": "processes", "at": "-1h"})
        assert e.value.code == -32004 and "before the oldest history kept" in e.value.message
        r = run("get", "processes", "--socket", d.socket_path, "--at", "-1h")
        assert r.returncode == 1 and "before the oldest history kept" in r.stderr
        c.close()
    finally:
        server.stop(kill=True)
        assert d.stop() == 0


CHURN = PEER_PRELUDE + r'''
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(256)
def accept():
    while True:
        c, _ = s.accept(); c.close()
threading.Thread(target=accept, daemon=True).start()
ready(s.getsockname()[1])
def churn():
    while True:
        try:
            socket.create_connection(("127.0.0.1", s.getsockname()[1])).close()
        except OSError:
            pass
        time.sleep(0.002)
threading.Thread(target=churn, daemon=True).start()
wait_for_stdin_eof()
'''


def test_query_sees_reports_not_yet_committed(tmp_path):
    """With an hour between timed commits, a query still answers from the last report: it has the writer
    commit what it holds first."""
    d = history_daemon(tmp_path, "--history-commit-interval", "1h")
    server = Peer([sys.executable, "-c", SERVER])
    client = None
    try:
        c = Client(d)
        flt = f"port:{server.port}"
        status = lambda: c.call("daemon/status")["collectors"]["history"]
        wait_until(lambda: status().get("commits", 0) > 0, what="the first report committed at once")
        time.sleep(1.0)
        commits = status()["commits"]
        assert commits <= 2, status()  # no timed commit within the hour
        client = Peer([sys.executable, "-c", CLIENT, str(server.port)])
        wait_for_edge(c, flt)
        time.sleep(0.5)  # a report with the edge installed and queued for the log
        past = c.call("topology/get", {"view": "processes", "filter": flt, "at": rfc3339(time.time())})
        assert len(past["edges"]) == 1, past
        assert status()["commits"] > commits
        c.close()
    finally:
        if client:
            client.stop(kill=True)
        server.stop(kill=True)
        assert d.stop() == 0


def test_kill_during_heavy_writes_then_reopen(tmp_path):
    db = tmp_path / "history.db"
    d = history_daemon(tmp_path, "--refresh-ms", "100", "--history-commit-interval", "1s")
    churn = Peer([sys.executable, "-c", CHURN])
    try:
        c = Client(d)
        wait_until(lambda: c.call("daemon/status")["collectors"]["history"].get("eventsWritten", 0) > 200,
                   what="heavy writing")
        hosts = lambda view: sorted(n["id"] for n in view["nodes"] if n["kind"] == "host")  # pseudo peers vary
        live_hosts = hosts(c.view("hosts"))
        time.sleep(2.5)
        committed = time.time() - 1.5  # at most the last commit interval (1 s here) is lost
        c.close()
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        d.stderr.close()
    finally:
        churn.stop(kill=True)
    # The file opens cleanly and is intact.
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] >= 1
    d2 = history_daemon(tmp_path)
    try:
        c = Client(d2)
        h = wait_until(lambda: c.call("daemon/status")["collectors"]["history"], what="status")
        assert h["state"] == "ok" and h["enabled"] is True, h
        past = c.call("topology/get", {"view": "hosts", "at": rfc3339(committed)})
        assert hosts(past) == live_hosts and live_hosts
        c.close()
    finally:
        assert d2.stop() == 0


def test_corrupt_log_leaves_history_off(tmp_path):
    db = tmp_path / "history.db"
    db.write_bytes(b"this is not a database\n" * 1000)
    d = history_daemon(tmp_path)
    try:
        c = Client(d)
        assert c.view("hosts")["nodes"], "the live map is served"
        h = c.call("daemon/status")["collectors"]["history"]
        assert h["state"] == "unavailable" and h["enabled"] is False, h
        assert "not a database" in h["reason"] and str(db) in h["reason"], h
        with pytest.raises(RPCError) as e:
            c.call("topology/get", {"view": "processes", "at": "-1s"})
        assert e.value.code == -32004 and "history is off" in e.value.message and "not a database" in e.value.message
        r = run("status", "--socket", d.socket_path)
        assert "history off" in r.stdout, r.stdout
        c.close()
    finally:
        assert d.stop() == 0
    assert db.read_bytes().startswith(b"this is not a database"), "the corrupt file is left as it was"


def test_unwritable_log_leaves_history_off(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    d = Daemon("--history", str(blocker / "history.db"), collectors=True)
    try:
        c = Client(d)
        assert c.view("hosts")["nodes"]
        h = c.call("daemon/status")["collectors"]["history"]
        assert h["enabled"] is False and h["state"] == "unavailable" and "Not a directory" in h["reason"], h
        c.close()
    finally:
        assert d.stop() == 0


def test_two_daemons_do_not_share_a_log(tmp_path):
    d1 = history_daemon(tmp_path)
    d2 = history_daemon(tmp_path)
    try:
        c1, c2 = Client(d1), Client(d2)
        assert c1.call("daemon/status")["collectors"]["history"]["state"] == "ok"
        h = c2.call("daemon/status")["collectors"]["history"]
        assert h["enabled"] is False and "in use by another periscoped" in h["reason"], h
        c1.close()
        c2.close()
    finally:
        assert d2.stop() == 0
        assert d1.stop() == 0


NVIM_HARNESS = r"""
local out = os.getenv('PSC_OUT')
vim.cmd('runtime! plugin/periscope.lua')
require('periscope').setup{ cmd = { os.getenv('PSC_BIN'), 'rpc' }, socket = os.getenv('PSC_SOCKET') }
vim.cmd('cd ' .. vim.fn.fnameescape(os.getenv('PSC_WORKSPACE')))
vim.cmd('Periscope diff ' .. os.getenv('PSC_SINCE'))
local tries = 0
local function poll()
  tries = tries + 1
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_get_name(b):find('periscope://diff/', 1, true) then
      local f = io.open(out, 'w')
      f:write(table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), '\n'))
      f:close()
      vim.cmd('qa!')
      return
    end
  end
  if tries > 150 then vim.cmd('cq') end
  vim.defer_fn(poll, 100)
end
poll()
"""


@pytest.mark.skipif(not __import__("shutil").which("nvim"), reason="nvim is not installed")
def test_neovim_periscope_diff(tmp_path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    d = history_daemon(tmp_path)
    server = Peer([sys.executable, "-c", SERVER])
    client = None
    try:
        c = Client(d)
        wait_until(lambda: c.call("daemon/status")["collectors"]["history"].get("commits", 0) > 0, what="a commit")
        t0 = time.time()
        client = Peer([sys.executable, "-c", "import os; os.chdir(%r)\n" % str(workspace) + CLIENT, str(server.port)])
        wait_for_edge(c, f"port:{server.port}")
        time.sleep(2.5)
        harness = tmp_path / "harness.lua"
        harness.write_text(NVIM_HARNESS)
        out = tmp_path / "diff.txt"
        env = dict(os.environ, PSC_OUT=str(out), PSC_BIN=str(__import__("conftest").BIN / "periscope"),
                   PSC_SOCKET=d.socket_path, PSC_WORKSPACE=str(workspace), PSC_SINCE=rfc3339(t0),
                   XDG_STATE_HOME=str(tmp_path / "state"), XDG_DATA_HOME=str(tmp_path / "data"),
                   XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"))
        plugin = __import__("conftest").REPO / "clients" / "nvim"
        proc = subprocess.run(["nvim", "--headless", "-u", "NONE", "-i", "NONE", "-n", "--cmd", f"set rtp+={plugin}",
                               "-c", f"luafile {harness}"], env=env, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, cwd=tmp_path)
        assert proc.returncode == 0 and out.exists(), (proc.returncode, proc.stdout, proc.stderr)
        lines = out.read_text().splitlines()
        assert lines[0].startswith("processes since ") and "workspace:" in lines[0], lines
        hhmm = datetime.datetime.fromtimestamp(t0).strftime("%H:%M")
        assert f"+ edge python3 ({client.pid}) → python3 ({server.pid}):{server.port} (new since {hhmm})" in lines, lines
        c.close()
    finally:
        if client:
            client.stop(kill=True)
        server.stop(kill=True)
        assert d.stop() == 0


def test_disk_full_leaves_history_off(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(full)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    d = None
    churn = None
    try:
        d = Daemon("--refresh-ms", "100", "--history", str(full / "history.db"), collectors=True)
        churn = Peer([sys.executable, "-c", CHURN])
        c = Client(d)
        h = wait_until(lambda: (lambda h: h if not h["enabled"] else None)(c.call("daemon/status")["collectors"]["history"]),
                       timeout=60, what="history to fill the disk and turn off")
        assert h["state"] == "unavailable" and "full" in h["reason"], h
        assert c.view("hosts")["nodes"], "the live map is still served"
        with pytest.raises(RPCError) as e:
            c.call("topology/get", {"view": "hosts", "at": "now"})
        assert e.value.code == -32004 and "history is off" in e.value.message
        c.close()
    finally:
        if churn:
            churn.stop(kill=True)
        if d:
            assert d.stop() == 0
        subprocess.run(["umount", "-l", str(full)], capture_output=True)
