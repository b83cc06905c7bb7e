"""Container discovery, views and controls (issue 5) against a real Podman engine.

The fixture builds three local images from Debian's busybox-static (no registry), starts
`podman --runtime runc system service` on a private socket as the Docker-compatible engine, and runs the
demo's three-tier stack, every container labelled with this run's id:

* 3 "db" containers (hostname db-RUN) serving TCP 5432 (`nc -ll -e cat`),
* 2 "app" containers (hostname app-RUN) each holding a connection to every db and serving 8080,
* 2 "lb" containers (hostname lb-RUN) each holding a connection to every app and serving 80,
* and a host process (this test) holding a connection to lb1.

A daemon started with `--docker-socket` must show exactly that graph in `containers` (db <- app <- lb <- the
host's "Uncontained" node) and `containers-by-image` / `containers-by-hostname` (merged), report a stopped
container to a subscriber within a few seconds, refuse controls unless enabled (-32010), and run them when
enabled. Everything the fixture creates is removed at the end.
"""
import base64
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import Daemon
from rpc import Client, RPCError, wait_until

pytestmark = [
    pytest.mark.timeout(150),
    pytest.mark.skipif(os.geteuid() != 0, reason="the container tests need root (podman, every namespace)"),
    pytest.mark.skipif(shutil.which("podman") is None or shutil.which("runc") is None
                       or not os.path.exists("/bin/busybox"),
                       reason="podman, runc and busybox-static are not installed (scripts/setup.sh --test)"),
]

WAIT = 20.0
# Facts of these machines (issue 5): crun fails on hybrid cgroups, default ulimits exceed the hard limits.
PODMAN = ["podman", "--runtime", "runc"]
RUN_FLAGS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
CONTROL_DISABLED = -32010


def podman(*args, check=True):
    r = subprocess.run(PODMAN + list(args), capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout.strip()


class Stack:
    def __init__(self):
        self.run = secrets.token_hex(3)
        self.dir = tempfile.mkdtemp(prefix="periscope-containers-")
        self.socket = os.path.join(self.dir, "engine.sock")
        self.images = {tier: f"localhost/pscope-{self.run}-{tier}:1" for tier in ("db", "app", "lb")}
        self.ids = {}  # container name -> full id
        self.ips = {}
        self.service = None
        self.host_conn = None

    def name(self, base):
        return f"{base}-{self.run}"

    def build_images(self):
        rootfs = os.path.join(self.dir, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"))
        os.makedirs(os.path.join(rootfs, "tmp"))
        shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
        applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout.split()
        for applet in applets:
            if applet != "busybox":
                os.symlink("busybox", os.path.join(rootfs, "bin", applet))
        for image in self.images.values():
            tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
            r = subprocess.run(PODMAN + ["import", "-", image], stdin=tar.stdout, capture_output=True, text=True)
            tar.wait()
            assert r.returncode == 0, r.stderr

    def start_service(self):
        self.service = subprocess.Popen(PODMAN + ["system", "service", "--time=0", f"unix://{self.socket}"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.socket):
            assert self.service.poll() is None, "podman system service exited"
            assert time.monotonic() < deadline, "podman system service did not create its socket"
            time.sleep(0.05)

    def start(self, base, tier, script):
        name = self.name(base)
        cid = podman("run", "-d", *RUN_FLAGS, "--name", name, "--hostname", f"{tier}-{self.run}",
                     "--label", f"periscope.test={self.run}", "--label", f"tier={tier}",
                     self.images[tier], "sh", "-c", script)
        self.ids[base] = cid
        self.ips[base] = podman("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name)
        return cid

    def start_stack(self):
        hold = "sleep 100000 | nc {ip} {port}"
        for i in (1, 2, 3):
            self.start(f"db{i}", "db", "exec nc -ll -p 5432 -e cat")
        dbs = [self.ips[f"db{i}"] for i in (1, 2, 3)]
        for i in (1, 2):
            clients = " & ".join(hold.format(ip=ip, port=5432) for ip in dbs)
            self.start(f"app{i}", "app", f"{clients} & exec nc -ll -p 8080 -e cat")
        apps = [self.ips[f"app{i}"] for i in (1, 2)]
        for i in (1, 2):
            clients = " & ".join(hold.format(ip=ip, port=8080) for ip in apps)
            self.start(f"lb{i}", "lb", f"{clients} & exec nc -ll -p 80 -e cat")
        deadline = time.monotonic() + 10
        while True:  # lb1 listens a moment after podman run returns
            try:
                self.host_conn = socket.create_connection((self.ips["lb1"], 80), timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "cannot connect to lb1"
                time.sleep(0.1)

    def cleanup(self):
        if self.host_conn:
            self.host_conn.close()
        subprocess.run(PODMAN + ["rm", "-f", "-t", "0", *[self.name(b) for b in self.ids]], capture_output=True)
        subprocess.run(PODMAN + ["rmi", "-f", *self.images.values()], capture_output=True)
        if self.service and self.service.poll() is None:
            self.service.terminate()
            try:
                self.service.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def running(s):
    """Builds and starts stack `s` (its engine service and containers), yields it and removes it all: the body of
    every module's stack fixture."""
    try:
        s.build_images()
        s.start_service()
        s.start_stack()
        yield s
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def stack():
    yield from running(Stack())


@pytest.fixture(scope="module")
def engine_daemon(stack):
    d = Daemon("--docker-socket", stack.socket, "--refresh-ms", "300", collectors=True)
    yield d
    assert d.stop() == 0, "periscoped exited with an error: " + open(d.stderr_path).read()


def test_views_show_the_three_tier_stack(stack, engine_daemon):
    c = Client(engine_daemon)
    ours = {f"container:{cid}": base for base, cid in stack.ids.items()}
    expected_edges = {(f"app{a}", f"db{d}") for a in (1, 2) for d in (1, 2, 3)}
    expected_edges |= {(f"lb{l}", f"app{a}") for l in (1, 2) for a in (1, 2)}
    expected_edges |= {("Uncontained", "lb1")}

    def label(node_id):
        if node_id.startswith("pseudo:uncontained;"):
            return "Uncontained"
        return ours.get(node_id)

    deadline = time.monotonic() + WAIT
    while True:
        view = c.call("topology/get", {"view": "containers"})
        nodes = {n["id"]: n for n in view["nodes"]}
        edges = {(label(e["source"]), label(e["target"])): e for e in view["edges"]
                 if e["target"] in ours or e["source"] in ours}
        if set(ours) <= set(nodes) and set(edges) == expected_edges:
            break
        assert time.monotonic() < deadline, (
            f"containers view: nodes {sorted(ours.get(n, n) for n in nodes if n in ours)}, "
            f"edges {sorted(map(str, edges))}, expected {sorted(map(str, expected_edges))}; "
            f"status {c.call('daemon/status').get('collectors', {}).get('containers')}")
        time.sleep(0.3)

    for nid, base in ours.items():
        n = nodes[nid]
        tier = base.rstrip("0123456789")
        assert n["kind"] == "container" and n["pseudo"] is False
        assert n["label"] == stack.name(base)
        assert n["metadata"]["image"] == stack.images[tier]
        assert n["metadata"]["state"] == "running" and n["metadata"]["stopped"] is False
        assert n["metadata"]["ips"] == [stack.ips[base]]
        assert n["metadata"]["labels"]["periscope.test"] == stack.run
        assert n["metadata"]["hostname"] == f"{tier}-{stack.run}"
        assert "memory" in n["metrics"] and "cpu" in n["metrics"]
    for (src, dst), e in edges.items():
        port = {"db": 5432, "app": 8080, "lb": 80}[dst.rstrip("0123456789")]
        assert e["ports"] == [port], e
        assert e["connections"] == 1 and e["closed"] is False, e
    uncontained = next(n for n in nodes.values() if n["id"].startswith("pseudo:uncontained;"))
    assert uncontained["label"] == "Uncontained" and uncontained["pseudo"] is True
    # Container addresses are host-internal: never "The Internet".
    internet_edges = [e for e in view["edges"] if "pseudo:internet" in (e["source"], e["target"])
                      and (e["source"] in ours or e["target"] in ours)]
    assert internet_edges == []

    # Node details: metadata, the processes inside, connection tables, controls for the state.
    details = c.call("node/get", {"view": "containers", "id": f"container:{stack.ids['db1']}"})
    assert details["metadata"]["processCount"] >= 1
    assert any(ch["metadata"]["name"] in ("nc", "cat") for ch in details["children"]), details["children"]
    assert {r["peer"] for r in details["inbound"]} == {f"container:{stack.ids['app1']}",
                                                      f"container:{stack.ids['app2']}"}
    assert set(details["metadata"]["controls"]) == {"stop", "restart", "pause", "remove"}

    # containers-by-image: one node per image, members counted, edges merged.
    img = {tier: f"image:{ref}" for tier, ref in stack.images.items()}
    deadline = time.monotonic() + WAIT
    while True:
        by_image = c.call("topology/get", {"view": "containers-by-image"})
        inodes = {n["id"]: n for n in by_image["nodes"]}
        iedges = {(e["source"], e["target"]): e for e in by_image["edges"]
                  if e["target"] in img.values() or e["source"] in img.values()}
        want = {(img["app"], img["db"]), (img["lb"], img["app"])}
        got = {k for k in iedges if not k[0].startswith("pseudo:")}
        if set(img.values()) <= set(inodes) and got == want and any(
                k[0].startswith("pseudo:uncontained;") and k[1] == img["lb"] for k in iedges):
            break
        assert time.monotonic() < deadline, f"containers-by-image: {sorted(iedges)}"
        time.sleep(0.3)
    for tier, count in (("db", 3), ("app", 2), ("lb", 2)):
        n = inodes[img[tier]]
        assert n["kind"] == "container-group"
        assert n["metadata"]["containerCount"] == count, n
        assert n["label"] == f"pscope-{stack.run}-{tier}:1"
        assert n["labelMinor"] == f"{count} containers"
    assert iedges[(img["app"], img["db"])]["connections"] == 6
    assert iedges[(img["lb"], img["app"])]["connections"] == 4
    assert set(ch["id"] for ch in c.call("node/get", {"view": "containers-by-image", "id": img["db"]})["children"]) \
        == {f"container:{stack.ids[f'db{i}']}" for i in (1, 2, 3)}

    # containers-by-hostname: grouped by the container hostname.
    by_host = c.call("topology/get", {"view": "containers-by-hostname"})
    hnodes = {n["id"]: n for n in by_host["nodes"]}
    for tier, count in (("db", 3), ("app", 2), ("lb", 2)):
        assert hnodes[f"hostname:{tier}-{stack.run}"]["metadata"]["containerCount"] == count

    # Health.
    health = c.call("daemon/status")["collectors"]["containers"]
    assert health["state"] == "ok" and health["socket"] == stack.socket, health
    assert health["containersRunning"] >= 7
    c.close()


def test_controls_refused_when_disabled(stack, engine_daemon):
    c = Client(engine_daemon)
    node = f"container:{stack.ids['db3']}"
    with pytest.raises(RPCError) as err:
        c.call("control/invoke", {"node": node, "control": "stop"})
    assert err.value.code == CONTROL_DISABLED, err.value
    with pytest.raises(RPCError) as err:
        c.call("control/invoke", {"node": f"{'x'};1", "control": "signal", "args": {"signal": "KILL"}})
    assert err.value.code == CONTROL_DISABLED
    time.sleep(0.5)
    assert podman("inspect", "-f", "{{.State.Status}}", stack.name("db3")) == "running"
    c.close()


def test_stop_reaches_a_subscriber(stack, engine_daemon):
    """Stopping a container: the subscriber sees its node removed within a few seconds (events, not polling)."""
    c = Client(engine_daemon)
    node = f"container:{stack.ids['lb2']}"
    snap = c.call("topology/subscribe", {"view": "containers", "minInterval": 0})
    deadline = time.monotonic() + WAIT
    present = node in {n["id"] for n in snap["nodes"]}
    while not present:  # the snapshot may predate lb2's first appearance; wait for it
        assert time.monotonic() < deadline
        assert c.pump(0.5), "daemon closed the connection"
        for note in c.notes:
            present |= node in {n["id"] for n in note["params"]["added"]["nodes"]}
        c.notes.clear()
    start = time.monotonic()
    podman("stop", "-t", "0", stack.name("lb2"))
    stopped_at = time.monotonic()
    seen = None
    while seen is None:
        assert time.monotonic() - start < 5, "the subscriber did not see lb2 go within 5 s"
        assert c.pump(0.1), "daemon closed the connection"
        for note in c.notes:
            if note.get("method") == "topology/changed" and node in note["params"]["removed"]["nodes"]:
                seen = time.monotonic()
        c.notes.clear()
    print(f"stop -> subscriber: {(seen - stopped_at) * 1000:.0f} ms after podman stop returned")
    # Running vs all: with all=true the stopped container is shown, marked.
    def stopped_shown():
        nodes = {n["id"]: n for n in c.call("topology/get", {"view": "containers", "options": {"all": True}})["nodes"]}
        return nodes if node in nodes and nodes[node]["metadata"]["stopped"] else None
    everything = wait_until(stopped_shown, WAIT, interval=0.3, what=f"{node} shown stopped with all: true")
    assert everything[node]["metadata"]["state"] == "exited"
    assert everything[node]["labelMinor"].startswith("stopped")
    c.close()


def test_controls_work_when_enabled(stack):
    d = Daemon("--docker-socket", stack.socket, "--refresh-ms", "300", "--controls=stop,start", "--log-level", "info",
               collectors=True)
    try:
        c = Client(d)
        node = f"container:{stack.ids['db3']}"
        with pytest.raises(RPCError) as err:  # enabled list: pause is not on it
            c.call("control/invoke", {"node": node, "control": "pause"})
        assert err.value.code == CONTROL_DISABLED
        result = c.call("control/invoke", {"node": node, "control": "stop"}, timeout=40)
        assert result["ok"] is True
        assert podman("inspect", "-f", "{{.State.Status}}", stack.name("db3")) in ("exited", "stopped")
        status = c.call("daemon/status")["collectors"]
        assert status["controls"]["state"] == "ok"
        c.close()
    finally:
        assert d.stop() == 0, open(d.stderr_path).read()
    log = open(d.stderr_path).read()
    assert "control stop on " + f"container:{stack.ids['db3']}" in log and "done" in log, log
    assert "refused" in log


# --- Pipes: streamed logs and an interactive exec shell (control/invoke logs|exec, pipe/*) ---

NOT_FOUND = -32004
INVALID_PARAMS = -32602


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def read_pipe(c, pipe, until=None, timeout=10.0, eof=False):
    """Collects pipe/data of `pipe` (decoded) until the regular expression `until` (bytes) matches, or its eof
    when `eof`. Returns (data, eof note or None)."""
    data = b""
    end_note = None
    deadline = time.monotonic() + timeout
    while True:
        keep = []
        for note in c.notes:
            if note.get("method") == "pipe/data" and note["params"]["pipe"] == pipe:
                data += base64.b64decode(note["params"]["data"])
                if note["params"].get("eof"):
                    end_note = note["params"]
            else:
                keep.append(note)
        c.notes[:] = keep
        if (until is not None and re.search(until, data)) or (eof and end_note) or (until is None and not eof and data):
            return data, end_note
        assert end_note is None, f"pipe {pipe} ended early: {end_note}; got {data[-400:]!r}"
        assert time.monotonic() < deadline, f"pipe {pipe}: waited for {until or 'eof'!r}, got {data[-400:]!r}"
        assert c.pump(deadline - time.monotonic()), "daemon closed the connection"


def host_pid(cid, nspid):
    """The host pid of the process whose pid inside the container's namespace is `nspid`."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cgroup") as f:
                if cid not in f.read():
                    continue
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("NSpid:") and line.split()[-1] == str(nspid):
                        return int(entry)
        except OSError:
            pass
    return None


def wait_gone(pid, timeout=8.0):
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout, what=f"process {pid} to end")


def wait_no_pipes(c, timeout=8.0):
    def closed():
        pipes = c.call("daemon/status")["collectors"]["pipes"]
        return pipes if pipes["open"] == 0 and pipes["closing"] == 0 else None
    return wait_until(closed, timeout, what="every pipe closed")


def shell_pid(c, pipe, cid):
    """Asks the exec shell for its pid; returns its host pid."""
    c.call("pipe/write", {"pipe": pipe, "data": b64("echo shell-pid=$$-end\n")})
    data, _ = read_pipe(c, pipe, until=rb"shell-pid=\d+-end")
    nspid = int(re.search(rb"shell-pid=(\d+)-end", data).group(1))
    pid = host_pid(cid, nspid)
    assert pid, f"no process with pid {nspid} in container {cid[:12]}"
    return pid


@pytest.fixture(scope="module")
def pipes_daemon(stack):
    d = Daemon("--docker-socket", stack.socket, "--refresh-ms", "300", "--controls", "--log-level", "info",
               collectors=True)
    yield d
    assert d.stop() == 0, "periscoped exited with an error: " + open(d.stderr_path).read()


def test_pipes_refused_when_disabled(stack, engine_daemon):
    c = Client(engine_daemon)
    node = f"container:{stack.ids['app1']}"
    for control in ("logs", "exec"):
        with pytest.raises(RPCError) as err:
            c.call("control/invoke", {"node": node, "control": control})
        assert err.value.code == CONTROL_DISABLED, err.value
    for method, params in (("pipe/write", {"pipe": "p1", "data": b64("x")}), ("pipe/close", {"pipe": "p1"}),
                           ("pipe/resize", {"pipe": "p1", "rows": 10, "cols": 10})):
        with pytest.raises(RPCError) as err:
            c.call(method, params)
        assert err.value.code == NOT_FOUND, (method, err.value)
    pipes = c.call("daemon/status")["collectors"]["pipes"]
    assert pipes["state"] == "disabled" and pipes["open"] == 0 and pipes["opened"] == 0, pipes
    c.close()


def test_exec_pipe(stack, pipes_daemon):
    cid = stack.ids["app1"]
    node = f"container:{cid}"
    c = Client(pipes_daemon)
    pipe = c.call("control/invoke", {"node": node, "control": "exec"})["pipe"]
    assert pipe.startswith("p")
    # A real shell with a TTY: the command runs, its output streams back.
    c.call("pipe/write", {"pipe": pipe, "data": b64("echo periscope-$((6*7))\n")})
    read_pipe(c, pipe, until=b"periscope-42")
    assert c.call("pipe/resize", {"pipe": pipe, "rows": 33, "cols": 99}) is None
    c.call("pipe/write", {"pipe": pipe, "data": b64("stty size\n")})
    read_pipe(c, pipe, until=b"33 99")
    pid = shell_pid(c, pipe, cid)

    # The pipe belongs to this connection.
    other = Client(pipes_daemon)
    for method, params in (("pipe/write", {"pipe": pipe, "data": b64("echo hijack\n")}),
                           ("pipe/resize", {"pipe": pipe, "rows": 5, "cols": 5}), ("pipe/close", {"pipe": pipe})):
        with pytest.raises(RPCError) as err:
            other.call(method, params)
        assert err.value.code == NOT_FOUND, (method, err.value)
    assert os.path.exists(f"/proc/{pid}")
    with pytest.raises(RPCError) as err:
        c.call("pipe/write", {"pipe": pipe, "data": "not base64!"})
    assert err.value.code == INVALID_PARAMS

    # pipe/close ends it, engine side included (the shell is hung up).
    assert c.call("pipe/close", {"pipe": pipe}) is None
    with pytest.raises(RPCError) as err:
        c.call("pipe/write", {"pipe": pipe, "data": b64("echo late\n")})
    assert err.value.code == NOT_FOUND
    wait_gone(pid)
    wait_no_pipes(other)

    # The process exiting ends the pipe with eof and its exit code.
    pipe = c.call("control/invoke", {"node": node, "control": "exec", "args": {"rows": 24, "cols": 80}})["pipe"]
    c.call("pipe/write", {"pipe": pipe, "data": b64("stty size; exit 3\n")})
    data, end = read_pipe(c, pipe, eof=True)
    assert b"24 80" in data and end["eof"] is True and end.get("exitCode") == 3, (data, end)

    # Closing the connection closes its pipes, and the shell goes away.
    pipe = c.call("control/invoke", {"node": node, "control": "exec"})["pipe"]
    pid = shell_pid(c, pipe, cid)
    assert other.call("daemon/status")["collectors"]["pipes"]["open"] == 1
    c.close()
    wait_gone(pid)
    pipes = wait_no_pipes(other)
    assert pipes["state"] == "ok" and pipes["opened"] >= 3
    # Unknown containers and non-container nodes.
    with pytest.raises(RPCError) as err:
        other.call("control/invoke", {"node": "container:0123456789abcdef", "control": "exec"})
    assert err.value.code == NOT_FOUND
    with pytest.raises(RPCError) as err:
        other.call("control/invoke", {"node": "host;1", "control": "logs"})
    assert err.value.code == INVALID_PARAMS
    other.close()
    log = open(pipes_daemon.stderr_path).read()
    assert f"control exec on {node} by session" in log and "pid" in log and "opened" in log, log
    assert "closed: client disconnected" in log and "closed: closed by the client" in log


def test_logs_pipe(stack, pipes_daemon):
    name = stack.name("logger")
    first, second = f"periscope-log-{stack.run}-first", f"periscope-log-{stack.run}-second"
    cid = podman("run", "-d", *RUN_FLAGS, "--name", name, "--label", f"periscope.test={stack.run}",
                 stack.images["app"], "sh", "-c", f"echo {first}; echo to-stderr >&2; sleep 2; echo {second}; "
                 "exec sleep 100000")
    stack.ids["logger"] = cid
    c = Client(pipes_daemon)
    pipe = c.call("control/invoke", {"node": f"container:{cid}", "control": "logs"})["pipe"]
    data, _ = read_pipe(c, pipe, until=first.encode())
    # Followed: a line printed later streams too; stdout and stderr are de-multiplexed into plain text.
    data += read_pipe(c, pipe, until=second.encode())[0]
    assert b"to-stderr\n" in data and data.startswith(first.encode() + b"\n"), data
    with pytest.raises(RPCError) as err:
        c.call("pipe/write", {"pipe": pipe, "data": b64("x")})
    assert err.value.code == INVALID_PARAMS
    with pytest.raises(RPCError) as err:
        c.call("pipe/resize", {"pipe": pipe, "rows": 10, "cols": 10})
    assert err.value.code == INVALID_PARAMS
    assert c.call("pipe/close", {"pipe": pipe}) is None
    # Not followed: the log so far, then eof.
    pipe = c.call("control/invoke", {"node": f"container:{cid}", "control": "logs",
                                     "args": {"follow": False, "tail": 1}})["pipe"]
    data, end = read_pipe(c, pipe, eof=True)
    assert data == second.encode() + b"\n" and end["eof"] is True, data
    wait_no_pipes(c)
    c.close()


def test_pipe_backpressure(stack, pipes_daemon):
    """A client that does not read: the pipe stops reading from the engine; the daemon neither buffers without
    bound nor drops the client, and output resumes once the client reads."""
    cid = stack.ids["app2"]
    c = Client(pipes_daemon)
    watcher = Client(pipes_daemon)
    status = watcher.call("daemon/status")
    dropped = status["clients"]["droppedSlow"]
    pid = status["pid"]

    def rss_kb():
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    rss_before = rss_kb()
    pipe = c.call("control/invoke", {"node": f"container:{cid}", "control": "exec",
                                     "args": {"command": ["yes", "periscope-flood-" + "x" * 100]}})["pipe"]
    # Not reading c at all.
    wait_until(lambda: watcher.call("daemon/status")["collectors"]["pipes"]["paused"] == 1, 15, interval=0.1,
               what="the pipe paused")
    time.sleep(1.0)
    sent = watcher.call("daemon/status")["collectors"]["pipes"]["bytesOut"]
    time.sleep(1.0)
    status = watcher.call("daemon/status")
    assert status["collectors"]["pipes"]["bytesOut"] == sent, "the pipe kept reading while the client did not"
    assert status["clients"]["droppedSlow"] == dropped
    assert rss_kb() - rss_before < 64 * 1024, (rss_before, rss_kb())
    # Reading again resumes the stream.
    got = 0
    deadline = time.monotonic() + 15
    while watcher.call("daemon/status")["collectors"]["pipes"]["bytesOut"] < sent + (4 << 20):
        assert time.monotonic() < deadline, "the pipe did not resume"
        assert c.pump(0.05), "daemon closed the connection"
        got += sum(len(n["params"]["data"]) for n in c.notes if n.get("method") == "pipe/data")
        c.notes.clear()
    assert got > 0
    c.call("pipe/close", {"pipe": pipe}, timeout=30)
    wait_no_pipes(watcher)
    c.close()
    watcher.close()


def test_sigterm_with_pipes_open(stack):
    """SIGTERM around container pipes, alternating two ways: with pipes open and output flowing (an exec flooding a
    client that does not read, so paused with its drain timer armed; an exec that keeps printing; an exec the client
    closes in the same instant, its worker still hanging up the process), and right after every pipe has closed and
    its worker ended (what CI's test_pipe_backpressure left behind). The daemon exits 0 each time. CI once aborted
    here in glibc (tpp.c:83): the event base was freed before the timers on it; under the ASan build
    (scripts/sanitize.sh address) that use-after-free is reported at the settled rounds."""
    cid = stack.ids["app2"]
    node = f"container:{cid}"
    for round in range(4):
        settle = round % 2 == 0
        d = Daemon("--docker-socket", stack.socket, "--refresh-ms", "300", "--controls", "--log-level", "info",
                   collectors=True)
        try:
            c = Client(d)
            watcher = Client(d)
            ticker = watcher.call("control/invoke", {"node": node, "control": "exec", "args": {
                "command": ["sh", "-c", "while :; do echo tick; sleep 0.01; done"]}})["pipe"]
            flood = c.call("control/invoke", {"node": node, "control": "exec",
                                              "args": {"command": ["yes", "periscope-flood-" + "x" * 100]}})["pipe"]
            wait_until(lambda: watcher.call("daemon/status")["collectors"]["pipes"]["paused"] >= 1, 15, interval=0.1,
                       what="the flooding pipe paused")
            closing = watcher.call("control/invoke", {"node": node, "control": "exec",
                                                      "args": {"command": ["sh", "-c", "trap '' HUP; sleep 30"]}})["pipe"]
            watcher.call("pipe/close", {"pipe": closing})
            if settle:
                watcher.call("pipe/close", {"pipe": ticker})
                c.call("pipe/close", {"pipe": flood}, timeout=30)
                wait_no_pipes(watcher)
        finally:
            code = d.stop()
        log = open(d.stderr_path).read()
        assert code == 0, f"round {round}: periscoped exited {code}:\n{log[-4000:]}"
        assert "AddressSanitizer" not in log and "Assertion" not in log, log[-4000:]
