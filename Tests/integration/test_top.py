"""`periscope top` driven like a person would: under tmux, with keys, reading the screen."""
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from conftest import BIN, Daemon

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/setup.sh --test installs it)")


def screen(session):
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_screen(session, predicate, timeout=10):
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        text = screen(session)
        if predicate(text):
            return text
        time.sleep(0.1)
    raise AssertionError("screen never matched:\n" + text)


def test_top_shows_live_connections_and_switches_views():
    name = "ptop" + uuid.uuid4().hex[:6]          # a unique process name (comm) for the filter
    python = shutil.copy(sys.executable, f"{tempfile.mkdtemp()}/{name}")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = Daemon("--refresh-ms", "200", collectors=True)
    session = "periscope-top-" + uuid.uuid4().hex[:6]
    procs = []
    try:
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40",
                        f"{BIN}/periscope top --socket {daemon.socket_path} --filter name:{name}"], check=True)
        wait_screen(session, lambda s: "periscope top — processes" in s and f"filter 'name:{name}'" in s)
        server = subprocess.Popen([python, "-c", f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); "
                                                 "s.listen(); c=s.accept(); time.sleep(30)"])
        procs.append(server)
        time.sleep(0.3)
        client = subprocess.Popen([python, "-c", f"import socket,time; s=socket.create_connection(('127.0.0.1',{port})); time.sleep(30)"])
        procs.append(client)
        text = wait_screen(session, lambda s: f"{name} ({server.pid}):{port}" in s and f"{name} ({client.pid})" in s)
        assert "TALKS TO" in text
        subprocess.run(["tmux", "send-keys", "-t", session, "v"], check=True)
        wait_screen(session, lambda s: "periscope top — processes-by-name" in s)
        subprocess.run(["tmux", "send-keys", "-t", session, "v"], check=True)
        wait_screen(session, lambda s: "periscope top — hosts" in s)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.time() + 5
        while time.time() < deadline and subprocess.run(["tmux", "has-session", "-t", session],
                                                         capture_output=True).returncode == 0:
            time.sleep(0.1)
        assert subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode != 0, "q quits"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        for proc in procs:
            proc.kill()
        assert daemon.stop() == 0


def test_top_cycles_every_view_and_opens_details():
    """`v` goes through all six views; ↓ selects a row and Enter opens its details pane (issue 12)."""
    name = "ptsel" + uuid.uuid4().hex[:6]
    python = shutil.copy(sys.executable, f"{tempfile.mkdtemp()}/{name}")
    daemon = Daemon("--refresh-ms", "200", "--docker-socket", "/nonexistent/engine.sock", collectors=True)
    session = "periscope-top-" + uuid.uuid4().hex[:6]
    server = subprocess.Popen([python, "-c", "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); "
                                             "s.listen(); c=socket.create_connection(s.getsockname()); a=s.accept(); "
                                             "time.sleep(60)"])
    try:
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40",
                        f"{BIN}/periscope --socket {daemon.socket_path} top --filter name:{name}"], check=True)
        wait_screen(session, lambda s: f"{name} ({server.pid})" in s)
        subprocess.run(["tmux", "send-keys", "-t", session, "Down"], check=True)
        wait_screen(session, lambda s: f"> {name} ({server.pid})" in s)
        subprocess.run(["tmux", "send-keys", "-t", session, "Enter"], check=True)
        text = wait_screen(session, lambda s: f"── {name} ({server.pid})  [process]" in s and "memory" in s)
        assert "cpu" in text
        subprocess.run(["tmux", "send-keys", "-t", session, "Enter"], check=True)
        wait_screen(session, lambda s: "── " not in s)
        for view in ("processes-by-name", "hosts", "containers", "containers-by-image", "containers-by-hostname",
                     "processes"):
            subprocess.run(["tmux", "send-keys", "-t", session, "v"], check=True)
            text = wait_screen(session, lambda s: f"periscope top — {view} " in s)
            if view.startswith("containers"):
                wait_screen(session, lambda s: "no container engine (see `periscope status`)" in s)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        server.kill()
        assert daemon.stop() == 0
