"""Helpers for driving the shell client and daemons by hand: several daemons on one socket path,
a fake daemon, a child's output read line by line."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

from conftest import BIN

PERISCOPE = str(BIN / "periscope")
PERISCOPED = str(BIN / "periscoped")


def run(*args, timeout=20):
    """Runs the shell client; decodes its output by hand (text mode would turn CR into LF)."""
    r = subprocess.run([PERISCOPE, *args], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    r.stdout, r.stderr = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    return r


def wait_for(predicate, timeout=15.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not met in time")


def start_daemon(path, *extra, collectors=False):
    """A periscoped on `path` (waits for the socket file; returns the Popen)."""
    args = [PERISCOPED, "--socket", path, "--log-level", "warning", *extra]
    if not collectors:
        args.append("--no-collectors")
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: os.path.exists(path) or proc.poll() is not None, what="socket file")
    assert proc.poll() is None, proc.stderr.read().decode()
    return proc


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    return proc.returncode


class LineReader:
    """Collects a child's output lines on a thread, so a test can wait for one without blocking."""

    def __init__(self, stream):
        self.lines = []
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream):
        for line in stream:
            self.lines.append(line)

    def wait(self, predicate, timeout=20.0, what="line"):
        try:
            return wait_for(lambda: next((line for line in list(self.lines) if predicate(line)), None), timeout)
        except AssertionError:
            raise AssertionError(f"no {what} in {self.lines!r}") from None


class FakeDaemon:
    """A Unix socket answering every request with `status` (initialize too), served by a child
    process running as `uid`. After answering `stall_after`, it sends the first bytes of a message
    and never the rest."""

    SERVER = r'''
import json, os, socket, sys, time
path, uid, status, stall_after = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
if uid != os.getuid():
    os.setgid(uid); os.setuid(uid)
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen()
os.chmod(path, 0o666)
print("ready", flush=True)
while True:
    c, _ = s.accept(); buf = b""
    try:
        while True:
            chunk = c.recv(65536)
            if not chunk: break
            buf += chunk
            while b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                n = int(head.split(b":")[1])
                if len(rest) < n: break
                msg, buf = json.loads(rest[:n]), rest[n:]
                if "id" in msg:
                    body = json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": status}).encode()
                    c.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
                if msg.get("method") == stall_after:
                    time.sleep(0.5)
                    c.sendall(b'Content-Length: 100\r\n\r\n{"jsonrpc":')  # the rest never comes
    except OSError:
        pass
    c.close()
'''

    def __init__(self, path, uid=None, status=None, stall_after=""):
        self.path = path
        uid = os.getuid() if uid is None else uid
        self.proc = subprocess.Popen([sys.executable, "-c", self.SERVER, path, str(uid), json.dumps(status or {}), stall_after],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert self.proc.stdout.readline() == b"ready\n"

    def close(self):
        self.proc.kill()
        self.proc.wait()
