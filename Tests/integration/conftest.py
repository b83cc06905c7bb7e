"""Shared fixtures: a real periscoped started on a temporary socket (and TCP with a token).

The binaries come from PERISCOPE_BIN (a directory), else .build/debug under the repo root.
Every daemon is stopped with SIGTERM at the end of its test and must exit cleanly.
"""
import json
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("PERISCOPE_BIN", REPO / ".build" / "debug"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """A running periscoped. `socket_path`, `tcp_port` and `token` say how to reach it."""

    def __init__(self, *extra, collectors=False, tcp=False):
        self.dir = tempfile.mkdtemp(prefix="periscope-test-")
        self.socket_path = os.path.join(self.dir, "periscope.sock")
        self.token = None
        self.tcp_port = None
        args = [str(BIN / "periscoped"), "--socket", self.socket_path, "--log-level", "warning"]
        if not collectors:
            args.append("--no-collectors")
        if tcp:
            self.token = secrets.token_hex(16)
            token_file = os.path.join(self.dir, "token")
            with open(token_file, "w") as f:
                f.write(self.token + "\n")
            self.tcp_port = free_port()
            args += ["--listen", f"127.0.0.1:{self.tcp_port}", "--token-file", token_file]
        args += list(extra)
        if collectors and not any(a == "--history" or a.startswith("--history=") for a in extra):
            args += ["--history", os.path.join(self.dir, "history.db")]  # each test daemon its own log
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.time() + 20
        while not os.path.exists(self.socket_path):
            if self.proc.poll() is not None:
                raise RuntimeError("periscoped exited: " + open(self.stderr_path).read())
            if time.time() > deadline:
                raise RuntimeError("periscoped did not create its socket")
            time.sleep(0.02)

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.socket_path)
        return s

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("periscoped did not stop on SIGTERM")
        self.stderr.close()
        return self.proc.returncode


@pytest.fixture
def daemon():
    d = Daemon()
    yield d
    assert d.stop() == 0, "periscoped exited with an error: " + open(d.stderr_path).read()


@pytest.fixture
def tcp_daemon():
    d = Daemon(tcp=True)
    yield d
    assert d.stop() == 0


def frame(obj):
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class FramedReader:
    """Reads LSP-framed messages from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read(self, timeout=10):
        self.sock.settimeout(timeout)
        while True:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if sep:
                length = None
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                assert length is not None, head
                if len(rest) >= length:
                    self.buf = rest[length:]
                    return json.loads(rest[:length])
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("daemon closed the connection")
            self.buf += chunk


@pytest.fixture(scope="module")
def collector_daemon():
    """A daemon WITH the kernel collectors, refreshing every 200 ms, shared by the tests of one module."""
    d = Daemon("--refresh-ms", "200", collectors=True)
    yield d
    assert d.stop() == 0, "periscoped exited with an error: " + open(d.stderr_path).read()
