"""Issue 12 against a real Podman engine: processes inside their containers, names instead of ids, controls,
logs and exec from the shell client, and a container restart that never draws edges through "Uncontained".

Reuses the three-tier stack of test_containers.py (3 db, 2 app, 2 lb busybox containers, a host connection to
lb1) with its own daemon, started with every control enabled (`--controls`). Every check drives the real
`periscope` binary or the daemon's JSON-RPC.
"""
import json
import os
import pty
import re
import select
import shutil
import socket
import subprocess
import time

import pytest

from cli_helpers import PERISCOPE, run
from conftest import Daemon
from rpc import Client, wait_until
from test_containers import Stack, podman, running

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(os.geteuid() != 0, reason="the container tests need root (podman, every namespace)"),
    pytest.mark.skipif(not os.path.exists("/usr/bin/podman") and not os.path.exists("/bin/podman"),
                       reason="podman is not installed (scripts/setup.sh --test)"),
]

WAIT = 20.0


class RunStack(Stack):
    """The stack with names that start with this run's id (`uRUN-db1`), so a prefix such as `uRUN-db` is unique
    to this run even while other runs' stacks share the machine's Podman storage."""

    def name(self, base):
        return f"u{self.run}-{base}"


@pytest.fixture(scope="module")
def stack():
    yield from running(RunStack())


@pytest.fixture(scope="module")
def d(stack):
    daemon = Daemon("--docker-socket", stack.socket, "--refresh-ms", "300", "--controls", collectors=True)
    yield daemon
    assert daemon.stop() == 0, "periscoped exited with an error: " + open(daemon.stderr_path).read()


def cli(d, *args, timeout=30):
    return run("--socket", d.socket_path, *args, timeout=timeout)


def processes_in(c, cid, view="processes"):
    nodes = c.call("topology/get", {"view": view, "options": {"all": True}})["nodes"]
    return [n for n in nodes if n["parents"].get("container") == [f"container:{cid}"]]


def test_processes_carry_their_container(stack, d):
    c = Client(d)
    db1 = stack.name("db1")
    # db1 serves with `nc -ll -e cat`: each connection is served by a `cat` in db1, the clients are the app
    # containers' `nc`.
    found = wait_until(lambda: [n for n in processes_in(c, stack.ids["db1"]) if n["label"] == "cat"], WAIT,
                       what="db1's cat with its container as parent")
    cat = found[0]
    assert cat["metadata"]["container"] == db1
    assert cat["metadata"]["containerID"] == stack.ids["db1"]
    assert f"in {db1}" in cat["labelMinor"], cat
    details = c.call("node/get", {"view": "processes", "id": cat["id"]})
    assert {"topology": "container", "id": f"container:{stack.ids['db1']}", "label": db1} in details["parents"]
    # The peers of db1's cats are the app containers' nc clients, named with their container.
    apps = {f"nc ({stack.name('app1')})", f"nc ({stack.name('app2')})"}

    inbound = []

    def peers():
        found[:] = [n for n in processes_in(c, stack.ids["db1"]) if n["label"] == "cat"]
        inbound[:] = [r for n in found for r in c.call("node/get", {"view": "processes", "id": n["id"]})["inbound"]]
        return {r["peerLabel"] for r in inbound}
    try:
        wait_until(lambda: apps <= peers(), WAIT, what="inbound peers named 'nc (app…)'")
    except AssertionError as e:
        # What the daemon saw instead (these rows once went to db1's listening nc when its pid sorted after the cats').
        ncs = [(n["id"], n["parents"].get("container"), n.get("adjacency")) for n in
               c.call("topology/get", {"view": "processes", "options": {"all": True}})["nodes"] if n["label"] == "nc"]
        status = c.call("daemon/status")["collectors"]
        raise AssertionError(f"{e}; db1's cats' inbound rows: {inbound}; nc processes: {ncs}; "
                             f"collectors: {json.dumps(status)[:3000]}") from None
    # The shell client shows them the same way, in the view and in the node's connection table.
    out = cli(d, "get", "processes").stdout
    assert f"cat ({db1})" in out and f"nc ({stack.name('app1')})" in out, out
    rows = ""
    for n in found:
        r = cli(d, "node", "processes", str(n["metadata"]["pid"]))
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"cat ({db1})") and f"in container: {db1}" in r.stdout, r.stdout
        rows += r.stdout
    assert f"nc ({stack.name('app1')})" in rows and f"nc ({stack.name('app2')})" in rows, rows
    c.close()


def test_processes_by_name_groups_by_process_name(stack, d):
    c = Client(d)

    app1 = f"container:{stack.ids['app1']}"

    def groups(**options):
        view = c.call("topology/get", {"view": "processes-by-name", "options": options})
        return {n["label"]: n for n in view["nodes"] if n["kind"] == "process-group"}
    # nc and sleep of the busybox containers are one executable (busybox) but two process names.
    found = wait_until(lambda: (lambda g: g if app1 in g.get("nc", {}).get("parents", {}).get("container", [])
                                else None)(groups()), WAIT, what="an nc group holding app1's nc")
    nc = found["nc"]
    assert "busybox" in nc["metadata"]["executables"], nc["metadata"]
    everything = groups(all=True)
    assert app1 in everything["sleep"]["parents"]["container"], everything["sleep"]
    assert app1 not in everything.get("busybox", {}).get("parents", {}).get("container", []), everything["busybox"]
    details = c.call("node/get", {"view": "processes-by-name", "id": nc["id"]})
    assert any(e.endswith("/busybox") for e in details["metadata"]["executables"]), details["metadata"]
    c.close()


def test_internally_connected_group_stays(stack, d):
    """A process talking only to itself (one group, only internal edges) is kept by the hide-unconnected
    default of processes and processes-by-name."""
    name = f"pslp{stack.run}"
    code = ("import socket,sys\n"
            f"open('/proc/self/comm','w').write('{name}')\n"
            "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n"
            "a=socket.create_connection(s.getsockname()); b,_=s.accept()\n"
            "print('ready', flush=True); sys.stdin.read()\n")
    proc = subprocess.Popen(["python3", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        c = Client(d)
        wait_until(lambda: any(n["label"] == name for n in c.call("topology/get", {"view": "processes-by-name"})["nodes"]),
                   WAIT, what=f"group {name} in processes-by-name (hide-unconnected default)")
        wait_until(lambda: any(n["label"] == name for n in c.call("topology/get", {"view": "processes"})["nodes"]),
                   WAIT, what=f"process {name} in processes")
        assert name in cli(d, "get", "processes-by-name").stdout
        c.close()
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_names_pids_and_prefixes(stack, d):
    db1 = stack.name("db1")
    r = cli(d, "node", "containers", db1)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(db1) and "memory" in r.stdout and "cpu" in r.stdout, r.stdout
    # cpu and memory with a sparkline (bars) once the histories have a few samples.
    time.sleep(1.5)
    r = cli(d, "node", "containers", db1)
    assert re.search(r"memory\s+[\d.]+ (B|KiB|MiB|GiB)\s+[▁▂▃▄▅▆▇█]{2,}", r.stdout), r.stdout
    # An id prefix, and one argument only (a container first).
    r = cli(d, "node", "containers", stack.ids["db1"][:8])
    assert r.returncode == 0 and r.stdout.startswith(db1), r.stdout + r.stderr
    r = cli(d, "node", db1)
    assert r.returncode == 0 and r.stdout.startswith(db1), r.stdout + r.stderr
    # Ambiguous: every db container starts with "db"; the candidates are listed.
    r = cli(d, "node", "containers", stack.name("db"))
    assert r.returncode == 1
    assert "matches 3 nodes" in r.stderr and all(stack.name(f"db{i}") in r.stderr for i in (1, 2, 3)), r.stderr
    r = cli(d, "node", "containers", f"nothing-{stack.run}")
    assert r.returncode == 1 and "no node" in r.stderr, r.stderr
    # Tables show short container ids.
    out = cli(d, "get", "containers").stdout
    assert f"container:{stack.ids['db1'][:12]} " in out and stack.ids["db1"] not in out, out
    # Global options before the subcommand.
    r = run("--socket", d.socket_path, "--json", "node", "containers", db1)
    assert r.returncode == 0 and '"view"' in r.stdout, r.stderr


def test_closed_connection_says_closed(stack, d):
    c = Client(d)
    conn = socket.create_connection((stack.ips["lb2"], 80), timeout=5)
    lb2 = f"container:{stack.ids['lb2']}"
    port = conn.getsockname()[1]

    last = []

    def inbound(state):
        rows = c.call("node/get", {"view": "containers", "id": lb2})["inbound"]
        last[:] = [r for r in rows if r["remotePort"] == port]
        return [r for r in last if r["state"] == state]
    wait_until(lambda: inbound("established"), WAIT, what="the host connection to lb2")
    conn.close()
    try:
        rows = wait_until(lambda: inbound("closed"), WAIT, what="the closed connection marked closed")
    except AssertionError as e:
        raise AssertionError(f"{e}; rows of port {port}: {last}") from None
    assert rows[0]["closed"] is True
    out = cli(d, "node", "containers", stack.name("lb2")).stdout
    line = next(line for line in out.splitlines() if f":{port}" in line)
    assert "closed" in line and "established" not in line, line
    c.close()


def test_controls_from_the_shell(stack, d):
    app2 = stack.name("app2")
    r = cli(d, "pause", app2)
    assert r.returncode == 0 and r.stdout.strip() == f"paused {app2}", r.stdout + r.stderr
    assert podman("inspect", "-f", "{{.State.Status}}", app2) == "paused"
    r = cli(d, "unpause", stack.ids["app2"][:10])
    assert r.returncode == 0 and r.stdout.strip() == f"unpaused {app2}", r.stdout + r.stderr
    assert podman("inspect", "-f", "{{.State.Status}}", app2) == "running"
    r = cli(d, "pause", stack.name("db"))
    assert r.returncode == 1 and "matches 3 nodes" in r.stderr, r.stderr


def test_exec_and_logs_through_pipes(stack, d):
    db3 = stack.name("db3")
    r = cli(d, "exec", db3, "--", "sh", "-c", "echo exec-out-$((6*7)); exit 3")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "exec-out-42" in r.stdout
    marker = f"log-line-{stack.run}"
    r = cli(d, "exec", db3, "--", "sh", "-c", f"echo {marker}-1 > /proc/1/fd/1")
    assert r.returncode == 0, r.stderr
    r = wait_until(lambda: (lambda r: r if f"{marker}-1" in r.stdout else None)(cli(d, "logs", db3)), WAIT,
                   what="the log line in `periscope logs`")
    assert r.returncode == 0
    # -f keeps following: a line written later arrives.
    follow = subprocess.Popen([PERISCOPE, "--socket", d.socket_path, "logs", "-f", "--tail", "0", db3],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        assert follow.poll() is None, follow.stderr.read()
        cli(d, "exec", db3, "--", "sh", "-c", f"echo {marker}-2 > /proc/1/fd/1")
        got = b""
        deadline = time.monotonic() + WAIT
        while f"{marker}-2".encode() not in got:
            assert time.monotonic() < deadline, got
            ready, _, _ = select.select([follow.stdout], [], [], 1.0)
            if ready:
                got += os.read(follow.stdout.fileno(), 4096)
        assert f"{marker}-1".encode() not in got  # --tail 0
    finally:
        follow.terminate()
        follow.wait(timeout=10)


def test_exec_interactive_tty(stack, d):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(PERISCOPE, [PERISCOPE, "--socket", d.socket_path, "exec", "-it", stack.name("app1"), "--", "sh"])
    out = b""

    def expect(pattern, timeout=WAIT):
        nonlocal out
        deadline = time.monotonic() + timeout
        while not re.search(pattern, out):
            assert time.monotonic() < deadline, out[-500:]
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
    try:
        time.sleep(1.0)
        os.write(fd, b"stty size; echo tty-$((6*7))\r")
        expect(rb"tty-42")
        os.write(fd, b"exit 5\r")
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 5, (status, out[-500:])
    finally:
        os.close(fd)


def test_restart_never_draws_uncontained(stack, d):
    """Restarting a db container ends the app containers' connections to it; the closed connections (kept a
    while, their processes exited) must still be drawn between containers, never through Uncontained."""
    c = Client(d)
    db2 = f"container:{stack.ids['db2']}"
    apps = {f"container:{stack.ids[f'app{i}']}" for i in (1, 2)}
    wait_until(lambda: {(e["source"], e["target"]) for e in c.call("topology/get", {"view": "containers"})["edges"]}
               >= {(a, db2) for a in apps}, WAIT, what="app → db2 edges")
    r = cli(d, "restart", stack.name("db2"), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    ours = {f"container:{cid}" for cid in stack.ids.values()}
    deadline = time.monotonic() + 8
    seen_closed = False
    while time.monotonic() < deadline:
        view = c.call("topology/get", {"view": "containers"})
        for e in view["edges"]:
            ends = (e["source"], e["target"])
            if any(x.startswith("pseudo:uncontained;") for x in ends):
                other = e["target"] if e["source"].startswith("pseudo:uncontained;") else e["source"]
                # Between Uncontained and our containers, only this test's own host connections to the load
                # balancers (other host processes of this machine may talk to anything else).
                if other in ours:
                    assert other in (f"container:{stack.ids['lb1']}", f"container:{stack.ids['lb2']}"), e
            if e["target"] == db2 and e["source"] in apps and e["closed"]:
                seen_closed = True
            assert not (e["source"] in ours and e["target"].startswith("pseudo:unknown")), e
        time.sleep(0.3)
    assert seen_closed, "the app → db2 connections closed by the restart were not shown closed"
    c.close()


def test_no_container_engine_explained(tmp_path):
    daemon = Daemon("--docker-socket", str(tmp_path / "none.sock"), collectors=True)
    try:
        for view in ("containers", "containers-by-image", "containers-by-hostname"):
            r = run("--socket", daemon.socket_path, "get", view)
            assert r.returncode == 0, r.stderr
            assert "no container engine (see `periscope status`)" in r.stdout, r.stdout
            assert "try --all" not in r.stdout
        assert "no nodes" in run("--socket", daemon.socket_path, "get", "processes", "--filter", "name:nothing-here").stdout
    finally:
        assert daemon.stop() == 0


def test_nvim_container_details_float(stack, d, tmp_path):
    """Neovim: `:Periscope containers` lists the containers; the details float shows a container's labels as
    `key=value`, and a container without labels as nothing — never `vim.empty_dict()`."""
    from test_nvim_panel import Nvim, assert_clean
    if not shutil.which("nvim"):
        pytest.skip("nvim is not installed")
    bare = stack.name("bare")
    stack.ids["bare"] = podman("run", "-d", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                               "--name", bare, stack.images["db"], "sh", "-c", "exec sleep 100000")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    nvim = Nvim(tmp_path, d.socket_path, workspace, view="containers")
    try:
        nvim.wait(lambda s: s["lines"] and s["lines"][0].startswith("Periscope · containers"), "the containers panel")
        nvim.send("key s")  # scope: all (no process of the workspace runs in a container)
        nvim.wait(lambda s: any(l.startswith(bare) for l in s["lines"]) and any(l.startswith(stack.name("db1"))
                                                                                 for l in s["lines"]),
                  "the containers in the panel")

        def float_of(name):
            nvim.send(f"cursor {name}")
            nvim.send("key <CR>")
            state = nvim.wait(lambda s: any(f["lines"] and f["lines"][0].startswith(name) for f in s["floats"]),
                              f"the details float of {name}")
            lines = next(f for f in state["floats"] if f["lines"][0].startswith(name))["lines"]
            nvim.send("key q")
            return lines
        lines = float_of(bare)
        text = "\n".join(lines)
        assert "empty_dict" not in text, text
        label_line = next(line for line in lines if line.strip().startswith("labels"))
        assert label_line.strip() == "labels", label_line
        lines = float_of(stack.name("db1"))
        label_line = next(line for line in lines if line.strip().startswith("labels"))
        assert f"periscope.test={stack.run}" in label_line and "tier=db" in label_line, label_line
        nvim.send("quit")
        state = nvim.wait(lambda s: s["finished"], "quit")
        assert nvim.quit() == 0, nvim.output()
        assert_clean(nvim, state)
    finally:
        nvim.kill()
