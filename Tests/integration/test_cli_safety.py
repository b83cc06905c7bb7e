"""Issue #10 for the shell client: no process name can forge the operator's screen, and
`periscope watch` survives a daemon restart. (Socket trust: test_socket_trust.py.)"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from cli_helpers import PERISCOPE, FakeDaemon, LineReader, run, start_daemon, stop, wait_for

pytestmark = pytest.mark.timeout(90)


# What a hostile local user puts in its process name (comm, via prctl) and argv: a screen clear, an
# OSC title, CR and LF to forge rows, a C1 CSI and a right-to-left override.
EVIL_COMM = b"\x1b[2Jev\n\r\xc2\x9b\xe2\x80\xaex"
EVIL_ARGV0 = "\x1b]0;owned\x07ev\nil"
EVIL_ARG = "row\nforged\r\x1b[2J"
RAW_CONTROLS = ["\x1b", "\r", "\x07", "\x9b", "\u202e"]


# -- 1. terminal escape injection ---------------------------------------------------------------

@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    """A collecting daemon, and a process with a hostile name and argv that serves a connection."""
    path = str(tmp_path_factory.mktemp("evil") / "p.sock")
    daemon = start_daemon(path, "--refresh-ms", "200", collectors=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = ("import ctypes, socket, time\n"
            f"ctypes.CDLL(None).prctl(15, {EVIL_COMM!r}, 0, 0, 0)\n"
            f"s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); c = s.accept(); time.sleep(80)\n")
    # The program comes from the environment, so the hostile argument is within the 100 characters
    # `periscope node` shows of a command line.
    server = subprocess.Popen([EVIL_ARGV0, "-c", "exec(__import__('os').environ['EVIL'])", EVIL_ARG],
                              executable=sys.executable, env=dict(os.environ, EVIL=code))
    time.sleep(0.3)
    client = subprocess.Popen([sys.executable, "-c",
                               f"import socket, time; s = socket.create_connection(('127.0.0.1', {port})); time.sleep(80)"])
    node_id = wait_for(lambda: next((n["id"] for n in json.loads(run("get", "--socket", path, "--json").stdout)["nodes"]
                                     if n.get("metadata", {}).get("pid") == server.pid), None), what="evil node")
    yield path, server.pid, node_id
    server.kill()
    client.kill()
    assert stop(daemon) == 0


def assert_safe(text):
    for control in RAW_CONTROLS:
        assert control not in text, f"raw {control!r} in output:\n{text!r}"
    for line in text.splitlines():
        assert not line.startswith("forged") and not line.startswith("il"), f"a forged row: {line!r} in\n{text}"


def test_get_escapes_control_characters(evil):
    path, pid, _ = evil
    r = run("get", "--socket", path)
    assert r.returncode == 0, r.stderr
    assert_safe(r.stdout)
    row = next(line for line in r.stdout.splitlines() if f"({pid})" in line)
    assert "\\e[2Jev\\n\\r" in row, row


def test_node_escapes_metadata(evil):
    path, pid, node_id = evil
    r = run("node", "--socket", path, "processes", node_id)
    assert r.returncode == 0, r.stderr
    assert_safe(r.stdout)
    assert "row\\nforged\\r\\e[2J" in r.stdout, r.stdout


def test_watch_escapes_lines(evil):
    path, pid, _ = evil
    watch = subprocess.Popen([PERISCOPE, "watch", "--socket", path, "--initial"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        reader = LineReader(watch.stdout)
        reader.wait(lambda line: f"({pid})".encode() in line, what="evil process")
        time.sleep(0.3)
    finally:
        watch.kill()
        watch.wait()
    assert_safe(b"".join(reader.lines).decode())


def test_dot_escapes_labels(evil):
    path, pid, _ = evil
    r = run("dot", "--socket", path)
    assert r.returncode == 0, r.stderr
    assert_safe(r.stdout)
    assert f"({pid})" in r.stdout


def test_json_output_stays_exact(evil):
    path, pid, _ = evil
    r = run("get", "--socket", path, "--json")
    node = next(n for n in json.loads(r.stdout)["nodes"] if n.get("metadata", {}).get("pid") == pid)
    assert node["label"].encode() == EVIL_COMM
    for control in ["\x1b", "\r", "\x9b", "\u202e"]:
        assert control not in r.stdout


def test_backslashes_in_names_are_shown_doubled(tmp_path):
    """So `\\xFF` text is never confused with the escapes the client itself writes."""
    # Rendering is checked on a hand-made reply: a fake daemon (of this user) answering daemon/status.
    fake = FakeDaemon(str(tmp_path / "fake.sock"), status={"version": "1.0\\xFF\x1b[2J", "collectors": {
        "pro\\c": {"state": "ok\nforged", "summary": "\u202e"}}})
    try:
        r = run("status", "--socket", fake.path)
        assert r.returncode == 0, r.stderr
        assert "periscoped 1.0\\\\xFF\\e[2J" in r.stdout, r.stdout
        assert "pro\\\\c: ok\\nforged" in r.stdout, r.stdout
        assert_safe(r.stdout)
    finally:
        fake.close()


# -- 2. watch outlives a daemon restart -------------------------------------------------------------

def test_watch_reconnects_after_a_daemon_restart(tmp_path):
    path = str(tmp_path / "p.sock")
    name = "pw" + uuid.uuid4().hex[:8]
    python = shutil.copy(sys.executable, f"{tempfile.mkdtemp()}/{name}")
    first = start_daemon(path, "--refresh-ms", "200", collectors=True)
    second = None
    procs = []
    watches = []
    try:
        for extra in ([], ["--json"]):
            proc = subprocess.Popen([PERISCOPE, "watch", "--socket", path, "--filter", f"name:{name}", *extra],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            watches.append((proc, LineReader(proc.stdout), LineReader(proc.stderr)))
        text, json_lines = watches[0][1], watches[1][1]
        text.wait(lambda line: line.startswith(b"# watching"))
        json_lines.wait(lambda line: b'"snapshot"' in line)
        assert stop(first) == 0
        second = start_daemon(path, "--refresh-ms", "200", collectors=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen([python, "-c", f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); "
                                                 "s.listen(); c=s.accept(); time.sleep(60)"])
        procs.append(server)
        time.sleep(0.3)
        procs.append(subprocess.Popen([python, "-c", f"import socket,time; s=socket.create_connection(('127.0.0.1',{port})); "
                                                     "time.sleep(60)"]))
        text.wait(lambda line: line.startswith(f"+ process {name} ({server.pid})".encode()), what="the new process")
        for proc, _, errors in watches:
            assert proc.poll() is None, "watch exited"
            errors.wait(lambda line: b"reconnecting" in line)
            errors.wait(lambda line: b"reconnected" in line)
        reset = json.loads(json_lines.wait(lambda line: b'"reset"' in line))
        assert reset["reset"] is True and "snapshot" in reset, reset
        json_lines.wait(lambda line: str(server.pid).encode() in line, what="the new process in NDJSON")
    finally:
        for proc, _, _ in watches:
            proc.kill()
            proc.wait()
        for proc in procs:
            proc.kill()
        stop(first)
        if second is not None:
            assert stop(second) == 0


def test_invalid_utf8_is_shown_unlike_its_escape_text(evil):
    path, _, _ = evil
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    names = [b"inv\xff", b"inv\\xFF"]
    children = [subprocess.Popen([sys.executable, "-c",
                                  f"import ctypes, socket, time; ctypes.CDLL(None).prctl(15, {name!r}, 0, 0, 0); "
                                  f"s = socket.create_connection(('127.0.0.1', {port})); time.sleep(60)"])
                for name in names]
    try:
        def node_ids():
            # Both processes, once their new names (set after exec, with prctl) have been read.
            nodes = json.loads(run("get", "--socket", path, "--json").stdout)["nodes"]
            ids = {n.get("metadata", {}).get("pid"): n["id"] for n in nodes
                   if n.get("metadata", {}).get("name", "").startswith("inv")}
            return [ids[c.pid] for c in children] if all(c.pid in ids for c in children) else None
        ids = wait_for(node_ids, what="both processes")
        first_lines = [run("node", "--socket", path, "processes", node_id).stdout.split(f" ({child.pid})")[0]
                       for node_id, child in zip(ids, children)]
        assert first_lines[0] != first_lines[1], first_lines
    finally:
        for child in children:
            child.kill()
        listener.close()
