"""Shared fixtures: a real periscoped started on a temporary socket (and TCP with a token).

The binaries come from PERISCOPE_BIN (a directory), else .build/debug under the repo root.
Every daemon is stopped with SIGTERM at the end of its test and must exit cleanly.
"""
import json
import os
import pathlib
import random
import secrets
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("PERISCOPE_BIN", REPO / ".build" / "debug"))


_HANDED_OUT = set()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(v) for v in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port(address="127.0.0.1"):
    """A TCP port free on `address` now, below the kernel's ephemeral range and not handed out before in this run.

    Not bind(0): that port comes from the ephemeral range, where the kernel may give it again to the next
    bind(0) or to any outgoing connection while its server is stopped (a restarted NATS node then cannot listen).
    """
    low, _ = _ephemeral_range()
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randrange(10000, max(10001, low))
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind((address, port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free TCP port below the ephemeral range")


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
