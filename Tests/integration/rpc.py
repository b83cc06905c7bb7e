"""Helpers shared by the integration tests that drive a running periscoped.

* `Client`: newline-delimited JSON-RPC on the daemon's Unix socket; queues notifications.
* `FramedClient`: the same with LSP framing and `initialize`, as editors speak it.
* `RPCError`: an error answer, with its `code` and `message`.
* `wait_until`: a bounded wait for a condition.
* `Peer`, `peer_pair`, `PEER_PRELUDE`: helper processes that print `READY PID FIELD...` and run until stopped.
"""
import json
import os
import select
import shutil
import socket
import subprocess
import threading
import time

from conftest import FramedReader, frame

WAIT = 20.0  # seconds: default bound of a call or a wait (a loaded host can make refreshes take seconds)


class RPCError(Exception):
    """A JSON-RPC error answer."""

    def __init__(self, error):
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = error.get("message", "")
        self.data = error.get("data")


def _hang_report(daemon, rid):
    """Why a live daemon did not answer: its log's tail and, where gdb is installed, every thread's stack (the
    whole dump is kept next to the log, or in /tmp)."""
    proc = getattr(daemon, "proc", None)
    if proc is None or proc.poll() is not None:
        return "the daemon has exited: " + _daemon_log(daemon)
    report = f"\n--- daemon log (tail) ---\n{_daemon_log(daemon)[-1500:]}"
    if shutil.which("gdb"):
        try:
            dump = subprocess.run(["gdb", "-p", str(proc.pid), "-batch", "-ex", "thread apply all bt 25"],
                                  capture_output=True, text=True, timeout=60).stdout
        except subprocess.TimeoutExpired:
            dump = "gdb timed out"
        log = getattr(daemon, "stderr_path", None)
        path = (os.path.splitext(log)[0] if log else f"/tmp/periscoped-{proc.pid}") + f".stacks-{rid}.txt"
        with open(path, "w") as f:
            f.write(dump)
        threads = [t for t in dump.split("\nThread ") if t.startswith("1 ") or "nats" in t or "Bus" in t]
        report += f"\n--- stacks ({path}) ---\n" + "\n".join("Thread " + t[:1500] for t in threads[:6])
    return report


def _daemon_log(daemon):
    path = getattr(daemon, "stderr_path", None)
    try:
        with open(path) as f:
            return f.read()[-2000:]
    except (OSError, TypeError):
        return ""


class Client:
    """Newline-delimited JSON-RPC over the daemon's Unix socket. Responses are matched by id; everything
    else (notifications) is queued in `notes`, in arrival order."""

    def __init__(self, daemon):
        self.daemon = daemon
        deadline = time.monotonic() + 5
        while True:  # the socket file exists from bind(), a moment before listen()
            try:
                self.sock = daemon.connect()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "periscoped does not accept connections"
                time.sleep(0.02)
        self.buf = b""
        self.next_id = 0
        self.notes = []
        self.responses = {}
        self.closed = False

    def fileno(self):
        return self.sock.fileno()

    def send(self, method, params=None):
        """Sends a request; returns its id."""
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        return self.next_id

    def _take(self):
        """Moves every complete line of the buffer to notes/responses; returns how many."""
        n = 0
        while True:
            end = self.buf.find(b"\n")
            if end < 0:
                return n
            msg = json.loads(self.buf[:end].decode("utf-8"))  # strict: the daemon must write valid UTF-8
            self.buf = self.buf[end + 1:]
            n += 1
            if "id" in msg and "method" not in msg:
                self.responses[msg["id"]] = msg
            else:
                self.notes.append(msg)

    def pump(self, timeout):
        """Reads what arrives within `timeout` (at least one read attempt); False once closed."""
        if self.closed:
            return False
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not ready:
            return True
        try:
            data = self.sock.recv(1 << 22)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return False
        self.buf += data
        self._take()
        return True

    def wait_response(self, rid, timeout=WAIT):
        """The result of request `rid`; raises RPCError for an error answer."""
        deadline = time.monotonic() + timeout
        while rid not in self.responses:
            if time.monotonic() >= deadline:
                raise AssertionError(f"no response to request {rid}" + _hang_report(self.daemon, rid))
            assert self.pump(deadline - time.monotonic()), \
                "daemon closed the connection: " + _daemon_log(self.daemon)
        msg = self.responses.pop(rid)
        if "error" in msg:
            raise RPCError(msg["error"])
        return msg["result"]

    def call(self, method, params=None, timeout=WAIT):
        return self.wait_response(self.send(method, params), timeout)

    def view(self, view, options=None, filter=None):
        """`topology/get` of `view`."""
        params = {"view": view}
        if options is not None:
            params["options"] = options
        if filter is not None:
            params["filter"] = filter
        return self.call("topology/get", params)

    def close(self):
        self.sock.close()


class FramedClient:
    """LSP-framed JSON-RPC on a Unix socket, initialized; notifications are queued in `notes`."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.reader = FramedReader(self.sock)
        self.timeout = timeout
        self.next_id = 0
        self.notes = []
        self.call("initialize", {"capabilities": {}})

    def call(self, method, params=None):
        self.next_id += 1
        self.sock.sendall(frame({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}}))
        while True:
            msg = self.reader.read(timeout=self.timeout)
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RPCError(msg["error"])
                return msg["result"]
            self.notes.append(msg)

    def close(self):
        self.sock.close()


class DrainingSubscriber:
    """A `topology/subscribe` held on `daemon` whose notifications a thread reads and drops (a subscriber that stops
    reading is disconnected as too slow): someone looks at the view for as long as it is open."""

    def __init__(self, daemon, view="processes", options=None):
        self.client = Client(daemon)
        self.client.call("topology/subscribe", {"view": view, "options": options or {}})
        self._reading = threading.Event()
        self._reading.set()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self):
        while self._reading.is_set() and self.client.pump(0.1):
            self.client.notes.clear()

    def close(self):
        self._reading.clear()
        self._thread.join(timeout=5)
        self.client.close()


def collectors(daemon):
    """`daemon/status` → `collectors` of `daemon`, over a connection of its own."""
    c = Client(daemon)
    try:
        return c.call("daemon/status")["collectors"]
    finally:
        c.close()


def wait_until(check, timeout=WAIT, interval=0.05, what="the expected state"):
    """Calls `check` until it returns something true, and returns that; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(interval)


# The start of every helper program run as a `Peer`: `ready(*fields)` prints the READY line,
# `wait_for_stdin_eof()` blocks until the test closes the helper's stdin, `echo_forever(sel)` runs an echo server.
PEER_PRELUDE = r'''
import os, random, selectors, socket, sys, threading, time

def ready(*fields):
    sys.stdout.write("READY %d %s\n" % (os.getpid(), " ".join(str(f) for f in fields)))
    sys.stdout.flush()

def wait_for_stdin_eof():
    try:
        sys.stdin.read()
    except Exception:
        pass

def echo_forever(sel):
    """Serves `sel` (listening sockets registered with data "listener", stdin with "stdin"): accepts
    clients and echoes what they send; exits when stdin closes."""
    while True:
        for key, _ in sel.select():
            if key.data == "stdin":
                if not os.read(sys.stdin.fileno(), 4096):
                    sys.exit(0)
            elif key.data == "listener":
                conn, _ = key.fileobj.accept()
                sel.register(conn, selectors.EVENT_READ, "conn")
            else:
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if data:
                    try:
                        key.fileobj.sendall(data)
                    except OSError:
                        pass
                else:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
'''


class Peer:
    """A helper process that prints `READY PID FIELD...` once set up. `pid`, and `fields` (numbers as
    int) come from that line; `port` is the first field."""

    def __init__(self, argv, env=None, timeout=10.0):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        line = b""
        deadline = time.time() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.time()
            if left <= 0 or self.proc.poll() is not None:
                self.stop(kill=True)
                raise RuntimeError(f"{argv!r} did not get ready: {line!r} {self.proc.stderr.read()!r}")
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 1)
                if not chunk:
                    continue
                line += chunk
        words = line.decode().split()
        assert words[0] == "READY", line
        self.pid = int(words[1])
        self.fields = [int(w) if w.isdigit() else w for w in words[2:]]

    @property
    def port(self):
        return int(self.fields[0])

    def stop(self, kill=False):
        """Ends the process: closes its stdin (helpers exit on EOF), or kills it when `kill`; kills it
        anyway if it has not exited 5 s later."""
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


def peer_pair(server_argv, client_argv):
    """For a fixture: starts a server peer, then a client peer with `client_argv(server_port)`; yields
    (server, client) and kills both afterwards."""
    server = Peer(server_argv)
    try:
        client = Peer(client_argv(server.port))
    except Exception:
        server.stop(kill=True)
        raise
    try:
        yield server, client
    finally:
        client.stop(kill=True)
        server.stop(kill=True)
