"""`periscope top` (issue #9): --hide-pseudo is honoured, and a message arriving in pieces never
freezes the screen."""
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from cli_helpers import PERISCOPE, FakeDaemon, start_daemon, stop
from test_top import screen, wait_screen

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/setup.sh --test installs it)")]


def start_top(*args):
    session = "periscope-top-" + uuid.uuid4().hex[:6]
    command = " ".join([PERISCOPE, "top", *args])
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", command], check=True)
    return session


def wait_gone(session, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode != 0:
            return True
        time.sleep(0.1)
    return False


def test_top_hide_pseudo(tmp_path):
    path = str(tmp_path / "p.sock")
    daemon = start_daemon(path, "--refresh-ms", "200", collectors=True)
    # A connection that never completes, to a documentation address: a remote pseudo node.
    remote = "192.0.2.%d" % (1 + uuid.uuid4().int % 250)
    name = "ph" + uuid.uuid4().hex[:8]
    python = shutil.copy(sys.executable, f"{tempfile.mkdtemp()}/{name}")
    client = subprocess.Popen([python, "-c", "import socket, time; s = socket.socket(); s.setblocking(False)\n"
                                             f"try: s.connect(('{remote}', 9))\nexcept BlockingIOError: pass\ntime.sleep(60)"])
    sessions = []
    try:
        sessions.append(start_top("--socket", path, "--filter", "port:9"))
        wait_screen(sessions[0], lambda s: remote in s and f"{name} ({client.pid})" in s)
        sessions.append(start_top("--socket", path, "--filter", "port:9", "--hide-pseudo"))
        text = wait_screen(sessions[1], lambda s: f"{name} ({client.pid})" in s)
        time.sleep(0.5)
        text = screen(sessions[1])
        assert remote not in text, text
        assert "no pseudo nodes" in text, text
    finally:
        for session in sessions:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        client.kill()
        assert stop(daemon) == 0


def test_top_quits_while_a_message_is_half_received(tmp_path):
    fake = FakeDaemon(str(tmp_path / "fake.sock"), status={"subscription": "s1", "revision": 1, "nodes": [], "edges": []},
                      stall_after="topology/subscribe")
    session = start_top("--socket", fake.path)
    try:
        wait_screen(session, lambda s: "periscope top — processes" in s)
        time.sleep(1)  # the half message has arrived
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        assert wait_gone(session), "top did not quit: it is stuck reading a message:\n" + screen(session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        fake.close()
