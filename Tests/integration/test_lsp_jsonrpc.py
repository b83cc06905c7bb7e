"""A real JSON-RPC client nobody here wrote — python-lsp-jsonrpc (`pylsp_jsonrpc`, from PyPI) —
drives the daemon over the Unix socket, over TCP with the token, and over stdio of
`periscoped --stdio`. Each completes initialize → daemon/status → shutdown → exit.

The library's own stream reader/writer do the framing (its writer also sends a `Content-Type`
header, which the daemon must accept and ignore), and its `Endpoint` matches replies to requests.
"""
import itertools
import os
import socket
import subprocess
import threading
import time

import pytest

pytestmark = pytest.mark.timeout(60)

from conftest import BIN

pylsp_jsonrpc = pytest.importorskip(
    "pylsp_jsonrpc", reason="python-lsp-jsonrpc is not installed: pip install -r Tests/integration/requirements.txt")
from pylsp_jsonrpc.endpoint import Endpoint  # noqa: E402
from pylsp_jsonrpc.exceptions import JsonRpcException, JsonRpcRequestCancelled  # noqa: E402
from pylsp_jsonrpc.streams import JsonRpcStreamReader, JsonRpcStreamWriter  # noqa: E402

TIMEOUT = 10
CLIENT_INFO = {"name": "python-lsp-jsonrpc-test", "version": "1.1"}


class RecordingReader:
    """A read-only file that keeps a copy of every byte read (to check stdout carries only protocol)."""

    def __init__(self, raw):
        self.raw = raw
        self.data = bytearray()

    @property
    def closed(self):
        return self.raw.closed

    def readline(self, *args):
        chunk = self.raw.readline(*args)
        self.data += chunk
        return chunk

    def read(self, *args):
        chunk = self.raw.read(*args)
        self.data += chunk
        return chunk

    def close(self):
        self.raw.close()


class LspClient:
    """pylsp_jsonrpc's reader, writer and Endpoint wired together, the reader on its own thread.

    Request ids are integers from a counter, so a test knows which id to cancel.
    """

    def __init__(self, rfile, wfile, sock=None):
        self.sock = sock
        self.reader = JsonRpcStreamReader(rfile)
        self.writer = JsonRpcStreamWriter(wfile)
        self.ids = itertools.count(1)
        self.last_id = None
        self.notifications = []
        dispatcher = {"$/progress": lambda params: self.notifications.append(("$/progress", params))}
        self.endpoint = Endpoint(dispatcher, self.writer.write, id_generator=self._next_id)
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _next_id(self):
        self.last_id = next(self.ids)
        return self.last_id

    def _listen(self):
        try:
            self.reader.listen(self.endpoint.consume)
        finally:
            self.ended.set()

    def request(self, method, params=None):
        return self.endpoint.request(method, params)

    def call(self, method, params=None, timeout=TIMEOUT):
        """The result, or the error raised; EOFError at once if the daemon closes without answering."""
        future = self.request(method, params)
        deadline = time.monotonic() + timeout
        while not future.done():
            if self.ended.is_set():
                time.sleep(0.05)  # a reply read just before end of file is still being delivered
                if not future.done():
                    raise EOFError(f"the daemon closed the connection without answering {method}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer to {method} in {timeout}s")
            self.ended.wait(0.01)
        return future.result()

    def notify(self, method, params=None):
        self.endpoint.notify(method, params)

    def wait_closed(self, timeout=TIMEOUT):
        """True when the daemon closed the stream (the reader saw end of file)."""
        return self.ended.wait(timeout)

    def close(self):
        # Shut the socket down first: closing a buffered reader while the reader thread is blocked in
        # it would wait for that thread forever.
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)
        self.endpoint.shutdown()
        for stream in (self.writer, self.reader):
            try:
                stream.close()
            except Exception:
                pass


def socket_client(sock):
    sock.settimeout(None)
    return LspClient(sock.makefile("rb"), sock.makefile("wb"), sock)


def unix_client(daemon):
    return socket_client(daemon.connect())


def tcp_client(daemon):
    return socket_client(socket.create_connection(("127.0.0.1", daemon.tcp_port), timeout=TIMEOUT))


def full_lifecycle(client, daemon_pid, transport, init_params=None):
    """initialize → initialized → daemon/status → shutdown → exit; returns the status result."""
    params = {"processId": os.getpid(), "clientInfo": CLIENT_INFO, "capabilities": {}, "rootUri": None}
    params.update(init_params or {})
    init = client.call("initialize", params)
    assert init["serverInfo"]["name"] == "periscoped", init
    assert init["serverInfo"]["version"]
    assert "capabilities" in init
    client.notify("initialized", {})

    status = client.call("daemon/status")
    assert isinstance(status["version"], str) and status["version"], status
    assert status["pid"] == daemon_pid, status
    assert status["clients"]["connected"] >= 1, status
    assert status["clients"]["byTransport"][transport] >= 1, status

    assert client.call("shutdown") is None
    # After shutdown every request but exit is refused with −32600.
    with pytest.raises(JsonRpcException) as refused:
        client.call("daemon/ping")
    assert refused.value.code == -32600
    client.notify("exit")
    assert client.wait_closed(), "the daemon did not close the connection after exit"
    return status


def test_unix_socket_lifecycle(daemon):
    client = unix_client(daemon)
    try:
        full_lifecycle(client, daemon.proc.pid, "unix")
    finally:
        client.close()


def test_tcp_with_token_lifecycle(tcp_daemon):
    """The token file as conftest (and `echo TOKEN > file`) writes it: one line ending in a newline."""
    client = tcp_client(tcp_daemon)
    try:
        status = full_lifecycle(client, tcp_daemon.proc.pid, "tcp", {"token": tcp_daemon.token})
        assert f"tcp:127.0.0.1:{tcp_daemon.tcp_port}" in status["endpoints"]
    finally:
        client.close()


@pytest.fixture
def tcp_daemon_bare_token():
    """A TCP daemon whose token file has no trailing newline."""
    import tempfile
    import secrets
    from conftest import Daemon, free_port
    directory = tempfile.mkdtemp(prefix="periscope-token-")
    token = secrets.token_hex(16)
    path = os.path.join(directory, "token")
    with open(path, "w") as f:
        f.write(token)
    port = free_port()
    d = Daemon("--listen", f"127.0.0.1:{port}", "--token-file", path)
    d.token, d.tcp_port = token, port
    yield d
    assert d.stop() == 0


def test_tcp_with_token_lifecycle_bare_token_file(tcp_daemon_bare_token):
    d = tcp_daemon_bare_token
    client = tcp_client(d)
    try:
        status = full_lifecycle(client, d.proc.pid, "tcp", {"token": d.token})
        assert f"tcp:127.0.0.1:{d.tcp_port}" in status["endpoints"]
    finally:
        client.close()


def test_cancel_request(daemon):
    client = unix_client(daemon)
    try:
        client.call("initialize", {"processId": os.getpid(), "clientInfo": CLIENT_INFO, "capabilities": {}})
        client.notify("initialized", {})
        started = time.monotonic()
        future = client.request("daemon/ping", {"delayMs": 5000, "workDoneToken": "ping-1"})
        request_id = client.last_id
        time.sleep(0.1)
        # Sent by hand rather than with future.cancel(): the library's cancel path resolves the future
        # locally, and the daemon's −32800 reply would then hit an already-finished future.
        client.notify("$/cancelRequest", {"id": request_id})
        with pytest.raises(JsonRpcRequestCancelled) as cancelled:
            future.result(timeout=3)
        elapsed = time.monotonic() - started
        assert cancelled.value.code == -32800
        assert elapsed < 2, f"cancellation took {elapsed:.2f}s"
        # The cancellable request announced itself with $/progress begin.
        assert any(p["token"] == "ping-1" and p["value"]["kind"] == "begin" for _, p in client.notifications)
        # Cancelling an unknown id is a no-op; the session keeps working.
        client.notify("$/cancelRequest", {"id": 999999})
        assert client.call("daemon/ping") == {"pong": True}
        assert client.call("shutdown") is None
        client.notify("exit")
        assert client.wait_closed()
    finally:
        client.close()


def wrong_token_is_refused(d):
    """Wrong, truncated and missing tokens: −32001, connection closed; other clients keep working."""
    good_tcp = tcp_client(d)
    good_unix = unix_client(d)
    try:
        good_tcp.call("initialize", {"clientInfo": CLIENT_INFO, "capabilities": {}, "token": d.token})
        good_unix.call("initialize", {"clientInfo": CLIENT_INFO, "capabilities": {}})

        for bad_params in ({"token": "0" * 32}, {"token": d.token[:-1]}, {}):
            bad = tcp_client(d)
            try:
                future = bad.request("initialize", {"clientInfo": CLIENT_INFO, "capabilities": {}, **bad_params})
                assert bad.wait_closed(5), "the daemon kept a connection open after a wrong token"
                assert future.done(), "the connection was closed without an answer to initialize"
                error = future.exception(0)
                assert isinstance(error, JsonRpcException) and error.code == -32001, error
            finally:
                bad.close()

        # A TCP client that skips initialize is refused as well.
        bad = tcp_client(d)
        try:
            with pytest.raises(JsonRpcException) as refused:
                bad.call("daemon/status", timeout=5)
            assert refused.value.code == -32001
            assert bad.wait_closed(5)
        finally:
            bad.close()

        for client in (good_tcp, good_unix):
            assert client.call("daemon/ping") == {"pong": True}
        status = good_unix.call("daemon/status")
        assert status["clients"]["authFailures"] >= 3, status
        assert status["clients"]["byTransport"]["tcp"] == 1, status
    finally:
        good_tcp.close()
        good_unix.close()


def test_tcp_wrong_token_is_refused_and_others_unaffected(tcp_daemon):
    wrong_token_is_refused(tcp_daemon)


def test_tcp_wrong_token_is_refused_bare_token_file(tcp_daemon_bare_token):
    wrong_token_is_refused(tcp_daemon_bare_token)


def test_tcp_wrong_token_closes_connection_and_others_unaffected(tcp_daemon_bare_token):
    """A wrong token closes the connection; nobody else notices."""
    d = tcp_daemon_bare_token
    good = tcp_client(d)
    try:
        good.call("initialize", {"clientInfo": CLIENT_INFO, "capabilities": {}, "token": d.token})
        bad = tcp_client(d)
        try:
            future = bad.request("initialize", {"clientInfo": CLIENT_INFO, "capabilities": {}, "token": "f" * 32})
            assert bad.wait_closed(5), "the daemon kept a connection open after a wrong token"
            assert not (future.done() and future.exception(0) is None), "a wrong token was accepted"
        finally:
            bad.close()
        assert good.call("daemon/ping") == {"pong": True}
        assert good.call("daemon/status")["clients"]["authFailures"] == 1
    finally:
        good.close()


def spawn_stdio():
    proc = subprocess.Popen(
        [str(BIN / "periscoped"), "--stdio", "--no-collectors", "--log-level", "info"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout = RecordingReader(proc.stdout)
    return proc, stdout, LspClient(stdout, proc.stdin)


def parse_frames(data):
    """Splits raw stdout into LSP frames; fails on anything that is not a frame."""
    frames = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"stdout has bytes that are not a frame: {bytes(data[:200])!r}"
        assert head.startswith(b"Content-Length: "), f"unexpected header on stdout: {bytes(head)!r}"
        length = int(head.split(b":")[1])
        assert len(rest) >= length
        frames.append(bytes(rest[:length]))
        data = rest[length:]
    return frames


def finish(proc, client):
    try:
        code = proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("periscoped --stdio did not exit after the client ended")
    finally:
        client.close()
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    return code, stderr


def test_stdio_lifecycle_exit_code_zero():
    proc, stdout, client = spawn_stdio()
    try:
        full_lifecycle(client, proc.pid, "stdio")
    except BaseException:
        proc.kill()
        raise
    finally:
        code, stderr = finish(proc, client)
    assert code == 0, stderr
    # stdout carried only protocol: it splits exactly into frames, all JSON-RPC.
    frames = parse_frames(bytes(stdout.data))
    assert len(frames) == 4, frames  # initialize, status, shutdown, the refused ping
    assert all(b'"jsonrpc":"2.0"' in f.replace(b" ", b"") for f in frames)
    # Logs went to stderr instead.
    assert "periscoped" in stderr


def test_stdio_exit_without_shutdown_exits_one():
    proc, stdout, client = spawn_stdio()
    try:
        client.call("initialize", {"processId": os.getpid(), "clientInfo": CLIENT_INFO, "capabilities": {}})
        assert client.call("daemon/ping") == {"pong": True}
        client.notify("exit")
        assert client.wait_closed()
    except BaseException:
        proc.kill()
        raise
    finally:
        code, stderr = finish(proc, client)
    assert code == 1, stderr
    parse_frames(bytes(stdout.data))


def test_stdio_stdin_closed_without_exit_exits_one():
    proc, stdout, client = spawn_stdio()
    try:
        client.call("initialize", {"processId": os.getpid(), "clientInfo": CLIENT_INFO, "capabilities": {}})
        proc.stdin.close()  # the editor died
        assert client.wait_closed()
    except BaseException:
        proc.kill()
        raise
    finally:
        code, stderr = finish(proc, client)
    assert code == 1, stderr
