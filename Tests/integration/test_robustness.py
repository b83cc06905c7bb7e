"""Bad input never crashes the daemon and never affects other clients.

One daemon serves the whole module. A well-behaved client pings it continuously from a thread (every
ping must succeed; latencies are recorded) while other connections send garbage, truncated frames,
oversized frames, invalid UTF-8, 10,000-deep nesting, huge ids, flood it without reading, and connect
by the thousand. Each test checks the pinger was served throughout; the last one checks the daemon is
still healthy, then stops it with SIGTERM (exit 0, socket file removed).

Further tests start their own daemons: the socket file's mode, a second daemon on a live socket, a
stale socket file, the client limit.
"""
import json
import os
import random
import resource
import selectors
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest

from conftest import BIN, Daemon, FramedReader, frame

pytestmark = pytest.mark.timeout(90)

MAX_MESSAGE = 1 << 20          # --max-message-size for the module daemon
MAX_OUTPUT = 2 << 20           # --max-client-output for the module daemon
STALL_MS = 2000                # --client-stall-ms for the module daemon
RSS_LIMIT_KB = 200 * 1024


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def framed_bytes(body: bytes):
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def request(id, method, params=None):
    message = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return message


INITIALIZE = request(0, "initialize", {"capabilities": {}, "clientInfo": {"name": "robustness"}})


class Pinger(threading.Thread):
    """A well-behaved client: LSP framing, initialize, then daemon/ping in a loop."""

    def __init__(self, daemon):
        super().__init__(daemon=True)
        self.sock = daemon.connect()
        self.reader = FramedReader(self.sock)
        self.latencies = []
        self.failures = []
        self.stopping = threading.Event()
        self.sock.sendall(frame(INITIALIZE))
        assert "result" in self.reader.read(5)

    @property
    def count(self):
        return len(self.latencies)

    def run(self):
        n = 1
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self.sock.sendall(frame(request(n, "daemon/ping")))
                reply = self.reader.read(timeout=5)
            except Exception as error:  # noqa: BLE001 - every failure is recorded and reported
                self.failures.append(f"ping {n}: {type(error).__name__}: {error}")
                return
            if reply != {"jsonrpc": "2.0", "id": n, "result": {"pong": True}}:
                self.failures.append(f"ping {n}: unexpected reply {reply}")
                return
            self.latencies.append(time.monotonic() - started)
            n += 1
            time.sleep(0.002)

    def check(self, since=None):
        """Fails if a ping failed, the thread died, or (with `since`) no ping was served since then."""
        assert not self.failures, self.failures
        assert self.is_alive(), "the pinger stopped"
        if since is not None:
            deadline = time.monotonic() + 5
            while self.count <= since and time.monotonic() < deadline:
                time.sleep(0.01)
            assert self.count > since, "the well-behaved client was not served"

    def stop(self):
        self.stopping.set()
        self.join(10)
        self.sock.close()

    def summary(self):
        values = sorted(self.latencies)
        if not values:
            return "no pings"
        pick = lambda q: values[min(len(values) - 1, int(q * len(values)))] * 1000  # noqa: E731
        return f"{len(values)} pings, p50 {pick(0.5):.2f} ms, p99 {pick(0.99):.2f} ms, max {values[-1] * 1000:.1f} ms"


@pytest.fixture(scope="module")
def served():
    """The module's daemon and its pinger."""
    d = Daemon("--max-message-size", str(MAX_MESSAGE), "--max-client-output", str(MAX_OUTPUT),
               "--client-stall-ms", str(STALL_MS))
    pinger = Pinger(d)
    pinger.start()
    yield d, pinger
    pinger.stop()
    d.stop()


@pytest.fixture
def abuse(served):
    """Per test: the daemon; afterwards the pinger must still be served and the daemon alive."""
    d, pinger = served
    before = pinger.count
    yield d
    assert d.proc.poll() is None, "periscoped died: " + open(d.stderr_path).read()[-4000:]
    pinger.check(since=before)


def read_all(sock, timeout=5):
    """Everything the daemon sends until it closes; (data, closed)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def split_frames(data):
    messages = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, data[:200]
        length = int(head.split(b":")[1])
        messages.append(json.loads(rest[:length]))
        data = rest[length:]
    return messages


def parse_replies(data):
    data = data.strip()
    if not data:
        return []
    if data.startswith(b"Content-Length"):
        return split_frames(data)
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def assert_error_reply(message, code=None):
    assert message.get("jsonrpc") == "2.0" and "error" in message, message
    assert isinstance(message["error"]["code"], int) and isinstance(message["error"]["message"], str), message
    if code is not None:
        assert message["error"]["code"] == code, message


def initialized(d):
    s = d.connect()
    r = FramedReader(s)
    s.sendall(frame(INITIALIZE))
    assert "result" in r.read(5)
    return s, r


# ---------------------------------------------------------------------------------------------- abuse


def test_random_garbage(abuse):
    rng = random.Random(20240601)
    payloads = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096))) for _ in range(12)]
    payloads += [
        os.urandom(300_000),                              # past the header-size limit
        b"\x00" * 70_000,
        b"{" + os.urandom(20_000) + b"\n" + os.urandom(100),   # newline mode, garbage lines
        b"[" + bytes(rng.getrandbits(8) for _ in range(5000)),
        b"Content-Length: 10\r\n\r\n" + os.urandom(10),   # well framed, body is not JSON
        b"Content-Length: abc\r\n\r\n{}",
        b"Content-Length: -5\r\n\r\n{}",
        b"Content-Length: 99999999999999999999999999\r\n\r\n{}",
        b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"X-Nothing: 1\r\n\r\n{}",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon/ping\"}\n",
        b"\r\n\r\n\r\n",
    ]
    for payload in payloads:
        s = abuse.connect()
        try:
            try:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the daemon may close as soon as it sees the garbage
            data, closed = read_all(s)
            assert closed, f"the daemon kept a garbage connection open: {payload[:60]!r}"
            for reply in parse_replies(data):
                assert_error_reply(reply)
        finally:
            s.close()


def test_truncated_frames_then_close(abuse):
    body = json.dumps(request(1, "daemon/ping")).encode()
    cuts = [
        b"Content-Len",
        b"Content-Length: 100\r\n",
        b"Content-Length: 100\r\n\r\n",
        framed_bytes(body)[:-5],
        frame(INITIALIZE) + framed_bytes(body)[:30],
        b'{"jsonrpc":"2.0","id":1,"method":"daemon/pi',
        b"Content-Length: %d\r\n\r\n" % (MAX_MESSAGE - 1) + b"[" * 100_000,  # big, never finished
    ]
    for cut in cuts:
        s = abuse.connect()
        s.sendall(cut)
        s.close()
    # A truncated frame on a connection that stays open blocks nobody but itself.
    stuck = abuse.connect()
    stuck.sendall(b"Content-Length: 50\r\n\r\n{\"jsonrpc\"")
    other, reader = initialized(abuse)
    other.sendall(frame(request(1, "daemon/ping")))
    assert reader.read(5)["result"] == {"pong": True}
    stuck.close()
    other.close()


@pytest.mark.parametrize("framing", ["headers", "lines"])
def test_message_larger_than_max_message_size(abuse, framing):
    s = abuse.connect()
    try:
        if framing == "headers":
            s.sendall(b"Content-Length: %d\r\n\r\n" % (MAX_MESSAGE + 1))
            try:
                s.sendall(b"x" * 4096)
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            try:
                s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon/ping","params":{"x":"' + b"x" * (MAX_MESSAGE + 10))
            except (BrokenPipeError, ConnectionResetError):
                pass
        data, closed = read_all(s)
        assert closed, "the connection stayed open after an oversized message"
        replies = parse_replies(data)
        assert len(replies) == 1, data[:500]
        assert_error_reply(replies[0], -32600)
        assert replies[0]["id"] is None
        assert str(MAX_MESSAGE) in replies[0]["error"]["message"], replies[0]
        if framing == "headers":
            assert data.startswith(b"Content-Length: ")
    finally:
        s.close()


def test_message_at_max_message_size_is_accepted(abuse):
    s, reader = initialized(abuse)
    try:
        head = b'{"jsonrpc":"2.0","id":7,"method":"daemon/ping","params":{"delayMs":0},"pad":"'
        body = head + b"x" * (MAX_MESSAGE - len(head) - 2) + b'"}'
        assert len(body) == MAX_MESSAGE
        s.sendall(framed_bytes(body))
        reply = reader.read(10)
        # Unknown members of the request object are allowed by JSON-RPC; the reply is a pong.
        assert reply["id"] == 7 and reply.get("result") == {"pong": True}, reply
    finally:
        s.close()


def test_invalid_utf8_body(abuse):
    s, reader = initialized(abuse)
    try:
        bad = b'{"jsonrpc":"2.0","id":5,"method":"daemon/ping","params":{"x":"\xff\xfe\xc3"}}'
        s.sendall(framed_bytes(bad))
        reply = reader.read(5)
        assert_error_reply(reply, -32700)
        assert reply["id"] is None
        # Overlong encoding and a lone surrogate.
        for sequence in (b"\xc0\xaf", b"\xed\xa0\x80"):
            s.sendall(framed_bytes(b'{"jsonrpc":"2.0","id":6,"method":"' + sequence + b'"}'))
            assert_error_reply(reader.read(5), -32700)
        # A parse error does not end the session.
        s.sendall(frame(request(8, "daemon/ping")))
        assert reader.read(5) == {"jsonrpc": "2.0", "id": 8, "result": {"pong": True}}
    finally:
        s.close()
    # Newline-delimited clients get the same answer.
    s = abuse.connect()
    try:
        s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"\xff"}\n{"jsonrpc":"2.0","id":2,"method":"daemon/ping"}\n')
        f = s.makefile("rb")
        s.settimeout(5)
        first, second = json.loads(f.readline()), json.loads(f.readline())
        assert_error_reply(first, -32700)
        assert second == {"jsonrpc": "2.0", "id": 2, "result": {"pong": True}}
    finally:
        s.close()


def test_deep_nesting(abuse):
    depth = 10_000
    s, reader = initialized(abuse)
    try:
        bodies = [
            b"[" * depth + b"]" * depth,
            b'{"a":' * depth + b"1" + b"}" * depth,
            b'{"jsonrpc":"2.0","id":3,"method":"daemon/ping","params":{"x":' + b"[" * depth + b"]" * depth + b"}}",
            b"[" * depth,  # never closed
            b'{"jsonrpc":"2.0","id":4,"method":"daemon/ping","params":' + b'{"a":' * depth + b"null" + b"}" * depth + b"}",
        ]
        for body in bodies:
            s.sendall(framed_bytes(body))
            reply = reader.read(5)
            assert_error_reply(reply)
            assert reply["error"]["code"] in (-32700, -32600), reply
        s.sendall(frame(request(9, "daemon/ping")))
        assert reader.read(5)["result"] == {"pong": True}
    finally:
        s.close()


def test_huge_and_odd_ids(abuse):
    s, reader = initialized(abuse)
    try:
        # Not a finite double: the message does not parse.
        s.sendall(framed_bytes(b'{"jsonrpc":"2.0","id":1e400,"method":"daemon/ping"}'))
        assert_error_reply(reader.read(5), -32700)
        # Numbers JSON allows but that fit no integer: an answer (error or pong), never a crash.
        for raw in (b"123456789012345678901234567890", b"-9223372036854775809", b"1.5", b"1e300",
                    b"9223372036854775807", b"-0"):
            s.sendall(framed_bytes(b'{"jsonrpc":"2.0","id":' + raw + b',"method":"daemon/ping"}'))
            reply = reader.read(5)
            assert reply.get("jsonrpc") == "2.0" and ("result" in reply or "error" in reply), reply
        # The largest Int64 id comes back exactly.
        s.sendall(framed_bytes(b'{"jsonrpc":"2.0","id":9223372036854775807,"method":"daemon/ping"}'))
        assert reader.read(5) == {"jsonrpc": "2.0", "id": 9223372036854775807, "result": {"pong": True}}
        # A 200 KB string id comes back exactly.
        long_id = "i" * 200_000
        s.sendall(frame(request(long_id, "daemon/ping")))
        assert reader.read(5)["id"] == long_id
        # A huge number where an integer parameter is expected: −32602 naming it.
        s.sendall(framed_bytes(b'{"jsonrpc":"2.0","id":2,"method":"daemon/ping","params":{"delayMs":1e308}}'))
        reply = reader.read(5)
        assert_error_reply(reply, -32602)
        assert "delayMs" in reply["error"]["message"]
    finally:
        s.close()


def test_never_reading_client_stays_bounded(abuse, served):
    _, pinger = served
    pid = abuse.proc.pid
    baseline = rss_kb(pid)
    peak = [baseline]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    before = pinger.count
    s = abuse.connect()
    try:
        s.sendall(frame(INITIALIZE))  # its answer is never read either
        flood = b"".join(frame(request(n, "daemon/ping")) for n in range(1, 20_001))
        s.settimeout(3)
        try:
            # The daemon stops reading once too many replies wait unsent, so this may block: that is
            # the backpressure working. A timeout here is fine; a reset (dropped as too slow) too.
            s.sendall(flood)
        except socket.timeout:
            pass
        except (BrokenPipeError, ConnectionResetError):
            pass
        time.sleep(0.3)
        pinger.check(since=before)
        assert abuse.proc.poll() is None
    finally:
        s.close()
        stop.set()
        sampler.join()
    print(f"\nperiscoped RSS during the unread flood: {baseline // 1024} MB -> peak {peak[0] // 1024} MB")
    assert peak[0] < RSS_LIMIT_KB, f"periscoped grew to {peak[0] // 1024} MB (from {baseline // 1024} MB)"


def test_unread_batch_reply_drops_the_client_after_the_stall_limit(abuse, served):
    """A batch reply the client never reads: the reply is bounded by --max-client-output, and the client
    is dropped once it has read nothing for --client-stall-ms; logged and counted as stalled."""
    s = abuse.connect()
    try:
        batch = [request(n, "daemon/status") for n in range(4000)]
        s.sendall(json.dumps(batch).encode() + b"\n")
        deadline = time.monotonic() + STALL_MS / 1000 + 5
        while True:
            probe = abuse.connect()
            probe.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon/status"}\n')
            probe.settimeout(5)
            status = json.loads(probe.makefile("rb").readline())["result"]
            probe.close()
            if status["clients"]["droppedStalled"] >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        s.close()
    assert status["clients"]["droppedStalled"] >= 1, status["clients"]
    with open(abuse.stderr_path) as f:
        assert "read nothing for" in f.read()


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < needed:
        pytest.skip(f"cannot open {needed} files (RLIMIT_NOFILE hard limit {hard})")


def many_clients(d, count, deadline_s=30, blocking_connect=True, before_reading=None):
    """Connects `count` clients at once, each pings (half LSP-framed with initialize, half newline
    JSON); returns (pongs, limit_errors, other) — every client is accounted for or the test fails.

    With `blocking_connect` a client waits in connect() while the listen queue is full (the kernel
    lets it in when the daemon accepts); without it, a full queue fails connect() with EAGAIN at once,
    as for every client that uses non-blocking sockets or a connect timeout.
    """
    raise_fd_limit(count + 200)
    socks = []
    try:
        for n in range(count):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(None if blocking_connect else 10)
            try:
                s.connect(d.socket_path)
            except BlockingIOError:
                s.close()
                raise AssertionError(f"client {n + 1} of {count}: connect() failed with EAGAIN, "
                                     f"the daemon's listen queue is full") from None
            socks.append(s)
        framed = frame(INITIALIZE) + frame(request(1, "daemon/ping"))
        line = b'{"jsonrpc":"2.0","id":1,"method":"daemon/ping"}\n'
        for n, s in enumerate(socks):
            try:
                s.sendall(framed if n % 2 else line)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused at the limit; its error is already waiting
            s.setblocking(False)
        if before_reading:
            before_reading()
        selector = selectors.DefaultSelector()
        buffers = {}
        for s in socks:
            selector.register(s, selectors.EVENT_READ)
            buffers[s] = b""
        outcome = {}
        deadline = time.monotonic() + deadline_s
        while len(outcome) < count and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                s = key.fileobj
                try:
                    chunk = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionResetError:
                    chunk = b""
                buffers[s] += chunk
                try:
                    replies = parse_replies(buffers[s])
                except (ValueError, AssertionError, IndexError):
                    replies = []  # incomplete so far
                for reply in replies:
                    if reply.get("id") == 1 and reply.get("result") == {"pong": True}:
                        outcome[s] = "pong"
                    elif "error" in reply and reply["error"]["code"] == -32005:
                        outcome[s] = "limit"
                if s in outcome or not chunk:
                    outcome.setdefault(s, f"closed without an answer: {buffers[s][:200]!r}")
                    selector.unregister(s)
        hung = count - len(outcome)
        assert hung == 0, f"{hung} of {count} clients got no answer in {deadline_s}s"
        values = list(outcome.values())
        return values.count("pong"), values.count("limit"), [v for v in values if v not in ("pong", "limit")]
    finally:
        for s in socks:
            s.close()


def test_thousand_clients_at_once(abuse):
    pongs, limits, other = many_clients(abuse, 1000)
    assert other == [], other[:5]
    assert pongs + limits == 1000
    assert pongs == 1000, f"{limits} clients refused below the default client limit"


def test_thousand_clients_at_once_while_the_daemon_is_busy():
    """The worst case of 'at once': the daemon is not accepting (stopped, as if busy) while 1,000
    clients with non-blocking connects arrive. All fit in the listen queue and get answered."""
    d = Daemon()
    try:
        d.proc.send_signal(signal.SIGSTOP)
        try:
            pongs, limits, other = many_clients(d, 1000, blocking_connect=False,
                                                before_reading=lambda: d.proc.send_signal(signal.SIGCONT))
        finally:
            d.proc.send_signal(signal.SIGCONT)
        assert other == [], other[:5]
        assert pongs == 1000, (pongs, limits)
    finally:
        assert d.stop() == 0


# ------------------------------------------------------------------------------------ end of module


def test_zz_daemon_survives_everything_and_stops_cleanly(served):
    d, pinger = served
    pinger.check()
    s, reader = initialized(d)
    s.sendall(frame(request(1, "daemon/status")))
    status = reader.read(5)["result"]
    s.close()
    assert status["pid"] == d.proc.pid
    assert status["clients"]["connected"] >= 1
    assert status["clients"]["accepted"] > 1000
    assert status["loop"]["messages"] > 10_000
    print("\nwell-behaved client during the abuse:", pinger.summary())
    assert max(pinger.latencies) < 3.0, pinger.summary()
    pinger.stop()
    assert not pinger.failures, pinger.failures
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(timeout=10) == 0, open(d.stderr_path).read()[-4000:]
    assert not os.path.exists(d.socket_path), "the socket file was left behind"


# ------------------------------------------------------------------------------- separate daemons


def test_client_limit_gives_a_clear_error():
    d = Daemon("--max-clients", "50")
    try:
        pongs, limits, other = many_clients(d, 200)
        assert other == [], other[:5]
        assert pongs == 50 and limits == 150, (pongs, limits)
        probe = d.connect()
        probe.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon/status"}\n')
        probe.settimeout(5)
        status = json.loads(probe.makefile("rb").readline())["result"]
        probe.close()
        assert status["clients"]["rejected"] >= 150
    finally:
        assert d.stop() == 0


def test_socket_file_mode_is_0600(daemon):
    info = os.stat(daemon.socket_path)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600, oct(stat.S_IMODE(info.st_mode))


def test_second_daemon_on_a_live_socket_refuses(daemon):
    r = subprocess.run([str(BIN / "periscoped"), "--socket", daemon.socket_path, "--no-collectors"],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert daemon.socket_path in r.stderr and "already" in r.stderr, r.stderr
    # The first daemon still owns and serves the socket.
    s = daemon.connect()
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon/ping"}\n')
    s.settimeout(5)
    assert json.loads(s.makefile("rb").readline())["result"] == {"pong": True}
    s.close()


def test_stale_socket_file_is_replaced(tmp_path):
    path = str(tmp_path / "periscope.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # a crashed daemon: the file stays, nobody listens
    assert os.path.exists(path)
    proc = subprocess.Popen([str(BIN / "periscoped"), "--socket", path, "--no-collectors", "--log-level", "warning"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                break
            except (ConnectionRefusedError, FileNotFoundError):
                s.close()
                assert time.monotonic() < deadline, "the daemon did not take over the stale socket"
                time.sleep(0.02)
        s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon/ping"}\n')
        s.settimeout(5)
        assert json.loads(s.makefile("rb").readline())["result"] == {"pong": True}
        s.close()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert not os.path.exists(path)


def test_path_that_is_not_a_socket_is_left_alone(tmp_path):
    path = tmp_path / "periscope.sock"
    path.write_text("precious")
    r = subprocess.run([str(BIN / "periscoped"), "--socket", str(path), "--no-collectors"],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert "not a socket" in r.stderr, r.stderr
    assert path.read_text() == "precious"
