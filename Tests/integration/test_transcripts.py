"""Replays every protocol/transcripts/*.txt against a real periscoped and validates what it sends.

The transcript format is described in protocol/transcripts/README.md. For each transcript a fresh
daemon is started (Unix socket or TCP through conftest's `Daemon`, or `periscoped --stdio`), the
`-->` lines are sent, and every `<--` line is checked structurally, with wildcards. Every message the
daemon sends is also validated against protocol/schema.json: the envelope (root schema), the result
of each answered request against `methods[<method>].result`, and the params of each notification
against `notifications[<method>].params`. Replies must use the framing the client chose.

Also here: the spec cannot fall behind the code — every method the daemon advertises in
`initialize` is documented in SPEC.md and has a schema entry, and every error code in
Sources/PeriscopeProtocol/RPCError.swift is in SPEC.md and in the schema.
"""
import codecs
import json
import os
import pathlib
import re
import select
import socket
import subprocess
import time

import pytest

from conftest import BIN, REPO, Daemon

jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema (a test dependency)")
from referencing import Registry, Resource  # noqa: E402  (ships with jsonschema >= 4.18)

PROTOCOL = REPO / "protocol"
TRANSCRIPTS = sorted((PROTOCOL / "transcripts").glob("*.txt"))
SCHEMA = json.loads((PROTOCOL / "schema.json").read_text())
SCHEMA_URI = SCHEMA["$id"]
REGISTRY = Registry().with_resource(SCHEMA_URI, Resource.from_contents(SCHEMA))
LIFECYCLE_METHODS = {"initialize", "shutdown", "auth"}  # handled by the session, not advertised

NOTHING_WAIT = 0.3   # seconds of silence that make "(nothing)" true
REPLY_WAIT = 5.0     # longest wait for an expected message or close


def validator_for(pointer):
    """A validator for the schema at `pointer` (a JSON pointer into schema.json)."""
    return jsonschema.Draft202012Validator({"$ref": SCHEMA_URI + "#" + pointer}, registry=REGISTRY)


def pointer_escape(name):
    return name.replace("~", "~0").replace("/", "~1")


SERVER_MESSAGE = validator_for("")


# --------------------------------------------------------------------------- transcript parsing

class Step:
    def __init__(self, lineno, conn, verb, kind, payload):
        self.lineno, self.conn, self.verb, self.kind, self.payload = lineno, conn, verb, kind, payload

    def __repr__(self):
        return f"line {self.lineno}: [{self.conn}] {self.verb} {self.kind} {self.payload!r}"[:300]


class Transcript:
    HEADER_KEYS = {"title", "framing", "transport", "daemon-args", "known-bug", "collectors"}

    def __init__(self, path):
        self.path = path
        self.headers = {"framing": "content-length", "transport": "unix", "daemon-args": "", "title": path.stem,
                        "collectors": "off"}
        self.steps = []
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            if line.startswith("#"):
                m = re.match(r"#\s*([a-z-]+):\s*(.*)$", line)
                if m and m.group(1) in self.HEADER_KEYS:
                    self.headers[m.group(1)] = m.group(2).strip()
                continue
            m = re.match(r"~~ sleep (\d+)$", line)
            if m:
                self.steps.append(Step(lineno, None, "sleep", "sleep", int(m.group(1))))
                continue
            m = re.match(r"(?:\[([a-z0-9]+)\] )?(-->|<--) (.*)$", line)
            if not m:
                raise ValueError(f"{path.name}:{lineno}: cannot parse line: {line!r}")
            conn, arrow, rest = m.group(1) or "a", m.group(2), m.group(3)
            if arrow == "-->":
                if rest.startswith("RAW "):
                    self.steps.append(Step(lineno, conn, "send", "raw", rest[4:]))
                elif rest == "(eof)":
                    self.steps.append(Step(lineno, conn, "send", "eof", None))
                else:
                    json.loads(expand(rest, "0" * 32))  # must be JSON (after macros)
                    self.steps.append(Step(lineno, conn, "send", "json", rest))
            else:
                if rest == "(closed)":
                    self.steps.append(Step(lineno, conn, "expect", "closed", None))
                elif rest == "(nothing)":
                    self.steps.append(Step(lineno, conn, "expect", "nothing", None))
                elif re.match(r"\(exit \d+\)$", rest):
                    self.steps.append(Step(lineno, conn, "expect", "exit", int(rest[6:-1])))
                else:
                    self.steps.append(Step(lineno, conn, "expect", "json", json.loads(rest)))
        assert self.headers["framing"] in ("content-length", "ndjson"), path
        assert self.headers["transport"] in ("unix", "tcp", "stdio"), path
        assert self.headers["collectors"] in ("on", "off"), path


REPEAT = re.compile(r'<repeat (\d+) "([^"]*)">')


def expand(text, token):
    """Applies the macros of sent text: <token> and <repeat N "text">."""
    text = REPEAT.sub(lambda m: m.group(2) * int(m.group(1)), text)
    return text.replace("<token>", token or "")


def raw_bytes(text, token):
    """RAW payload: Python bytes escapes (\\r \\n \\t \\\\ \\xHH) after macro expansion."""
    return codecs.escape_decode(expand(text, token).encode("utf-8"))[0]


# --------------------------------------------------------------------------- structural matching

def matches(expected, actual, path="$"):
    """None when `actual` matches `expected` (with wildcards), else a description of the difference."""
    if isinstance(expected, str) and expected.startswith("<") and expected.endswith(">"):
        kind = expected[1:-1]
        checks = {
            "any": lambda v: True,
            "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "string": lambda v: isinstance(v, str),
            "bool": lambda v: isinstance(v, bool),
            "object": lambda v: isinstance(v, dict),
            "array": lambda v: isinstance(v, list),
        }
        if kind in checks:
            return None if checks[kind](actual) else f"{path}: expected {expected}, got {actual!r}"
        if kind.startswith("contains:"):
            needle = kind[len("contains:"):]
            ok = isinstance(actual, str) and needle in actual
            return None if ok else f"{path}: expected a string containing {needle!r}, got {actual!r}"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {actual!r}"
        open_object = "..." in expected
        for key, value in expected.items():
            if key == "...":
                continue
            if key not in actual:
                return f"{path}: missing member {key!r} in {actual!r}"
            diff = matches(value, actual[key], f"{path}.{key}")
            if diff:
                return diff
        extra = set(actual) - set(expected)
        if extra and not open_object:
            return f"{path}: unexpected members {sorted(extra)} in {actual!r}"
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path}: expected an array of {len(expected)}, got {actual!r}"
        if path == "$":
            # A batch reply may come in any order (JSON-RPC 2.0 §6): match as a multiset.
            remaining = list(actual)
            for n, item in enumerate(expected):
                hit = next((i for i, cand in enumerate(remaining) if matches(item, cand, f"$[{n}]") is None), None)
                if hit is None:
                    return f"$: no element of {remaining!r} matches expected element {item!r}"
                remaining.pop(hit)
            return None
        for n, (e, a) in enumerate(zip(expected, actual)):
            diff = matches(e, a, f"{path}[{n}]")
            if diff:
                return diff
        return None
    if type(expected) is not type(actual) and not (isinstance(expected, (int, float)) and isinstance(actual, (int, float))
                                                    and not isinstance(actual, bool) and not isinstance(expected, bool)):
        return f"{path}: expected {expected!r}, got {actual!r}"
    return None if expected == actual else f"{path}: expected {expected!r}, got {actual!r}"


# --------------------------------------------------------------------------- channels and connections

class SocketChannel:
    def __init__(self, sock):
        self.sock = sock

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may have closed already; the next <-- line says whether that was right

    def recv(self, timeout):
        """Bytes, b"" at end of stream, or None on timeout."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            return self.sock.recv(65536)
        except socket.timeout:
            return None
        except ConnectionResetError:
            return b""

    def close_write(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.sock.close()


class StdioChannel:
    def __init__(self, proc):
        self.proc = proc

    def send(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def recv(self, timeout):
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(timeout, 0))
        if not ready:
            return None
        return os.read(fd, 65536)

    def close_write(self):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def close(self):
        self.close_write()


def strict_json(data):
    """json.loads that refuses duplicate keys (the daemon must never send them)."""
    def pairs(items):
        keys = [k for k, _ in items]
        assert len(keys) == len(set(keys)), f"daemon sent duplicate keys: {keys}"
        return dict(items)
    return json.loads(data.decode("utf-8"), object_pairs_hook=pairs)


class Connection:
    """One client connection: sends, reads framed replies, remembers which method each id was for."""

    def __init__(self, name, channel):
        self.name = name
        self.channel = channel
        self.buf = b""
        self.eof = False
        self.mode = None  # the framing this client chose with its first non-blank byte
        self.sent_methods = {}  # request id (as JSON text) -> [method, ...]
        self.received = []
        self.sent_stream = b""
        self.sent_seen = set()

    def send(self, data):
        if self.mode is None:
            stripped = data.lstrip(b" \t\r\n")
            if stripped:
                self.mode = "ndjson" if stripped[:1] in (b"{", b"[") else "content-length"
        self.remember_requests(data)
        self.channel.send(data)

    def remember_requests(self, data):
        """Records the method of every request in the sent stream (messages may span writes)."""
        self.sent_stream += data
        text = self.sent_stream.decode("utf-8", "replace")
        decoder = json.JSONDecoder()
        for n, ch in enumerate(text):
            if ch in "{[" and (n == 0 or text[n - 1] == "\n") and n not in self.sent_seen:
                try:
                    value, _ = decoder.raw_decode(text, n)
                except ValueError:
                    continue
                self.sent_seen.add(n)
                for message in value if isinstance(value, list) else [value]:
                    if isinstance(message, dict) and "id" in message and isinstance(message.get("method"), str):
                        key = json.dumps(message["id"])
                        self.sent_methods.setdefault(key, []).append(message["method"])

    def method_for(self, id_value):
        methods = self.sent_methods.get(json.dumps(id_value))
        return methods.pop(0) if methods else None

    def _parse_one(self):
        """A complete message from the buffer as (framing, value), or None."""
        buf = self.buf
        if not buf:
            return None
        if buf[:1] in (b"{", b"["):
            end = buf.find(b"\n")
            if end < 0:
                return None
            self.buf = buf[end + 1:]
            return "ndjson", strict_json(buf[:end])
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            assert len(buf) < 8192, f"no header terminator in {buf[:200]!r}"
            return None
        header = buf[:end]
        m = re.fullmatch(rb"Content-Length: (\d+)", header)
        assert m, f"the daemon must send exactly one Content-Length header, got {header!r}"
        length = int(m.group(1))
        if len(buf) < end + 4 + length:
            return None
        body = buf[end + 4:end + 4 + length]
        self.buf = buf[end + 4 + length:]
        return "content-length", strict_json(body)

    def read(self, timeout):
        """('message', value) | ('closed', None) | ('timeout', None)."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = self._parse_one()
            if parsed:
                framing, value = parsed
                expected_framing = self.mode or "content-length"
                assert framing == expected_framing, (
                    f"reply framed as {framing}, but the client uses {expected_framing}: {value!r}")
                self.received.append(value)
                return "message", value
            if self.eof:
                assert not self.buf, f"connection closed in the middle of a message: {self.buf[:200]!r}"
                return "closed", None
            data = self.channel.recv(deadline - time.monotonic())
            if data is None:
                return "timeout", None
            if data == b"":
                self.eof = True
            else:
                self.buf += data


# --------------------------------------------------------------------------- schema validation

def validate_server_message(conn, value, where):
    errors = sorted(SERVER_MESSAGE.iter_errors(value), key=lambda e: e.path)
    assert not errors, f"{where}: message fails schema.json: {errors[0].message} in {value!r}"
    for message in value if isinstance(value, list) else [value]:
        if "method" in message:  # a notification from the daemon
            entry = SCHEMA["notifications"].get(message["method"])
            assert entry and entry["direction"] == "server-to-client", f"{where}: undocumented notification {message!r}"
            if "params" in message:
                pointer = f"/notifications/{pointer_escape(message['method'])}/params"
                errs = list(validator_for(pointer).iter_errors(message["params"]))
                assert not errs, f"{where}: {message['method']} params fail the schema: {errs[0].message}"
        elif "result" in message:
            method = conn.method_for(message["id"])
            assert method is not None, f"{where}: a result for id {message['id']!r}, which no request used"
            assert method in SCHEMA["methods"], f"{where}: method {method} has no entry in schema.json"
            errs = list(validator_for(f"/methods/{pointer_escape(method)}/result").iter_errors(message["result"]))
            assert not errs, f"{where}: result of {method} fails the schema: {errs[0].message} in {message['result']!r}"
        elif message.get("id") is not None:
            conn.method_for(message["id"])  # consume the id


# --------------------------------------------------------------------------- replay

def connect_unix(daemon, timeout=5.0):
    """daemon.connect(), retried while refused: the socket file appears at bind(), a moment before listen()."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return daemon.connect()
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "periscoped does not accept connections on its socket"
            time.sleep(0.02)


class Replay:
    def __init__(self, transcript):
        self.t = transcript
        self.transport = transcript.headers["transport"]
        self.framing = transcript.headers["framing"]
        self.args = transcript.headers["daemon-args"].split()
        self.collectors = transcript.headers["collectors"] == "on"
        self.daemon = None
        self.proc = None
        self.stderr_path = None
        self.connections = {}
        self.token = None

    def start(self):
        if self.transport == "stdio":
            self.stderr_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"periscope-stdio-{os.getpid()}-{id(self)}.log")
            self.stderr = open(self.stderr_path, "w")
            self.proc = subprocess.Popen(
                [str(BIN / "periscoped"), "--stdio", *([] if self.collectors else ["--no-collectors"]),
                 "--log-level", "warning", *self.args],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
        else:
            self.daemon = Daemon(*self.args, tcp=(self.transport == "tcp"), collectors=self.collectors)
            self.token = self.daemon.token
            self.stderr_path = self.daemon.stderr_path

    def connection(self, name):
        if name not in self.connections:
            if self.transport == "stdio":
                assert name == "a" and not self.connections, "stdio has exactly one connection"
                channel = StdioChannel(self.proc)
            elif self.transport == "tcp":
                channel = SocketChannel(socket.create_connection(("127.0.0.1", self.daemon.tcp_port)))
            else:
                channel = SocketChannel(connect_unix(self.daemon))
            self.connections[name] = Connection(name, channel)
        return self.connections[name]

    def frame(self, text):
        body = text.encode("utf-8")
        if self.framing == "ndjson":
            return body + b"\n"
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    def run(self):
        for step in self.t.steps:
            where = f"{self.t.path.name}:{step.lineno}"
            if step.verb == "sleep":
                time.sleep(step.payload / 1000)
                continue
            conn = self.connection(step.conn)
            if step.verb == "send":
                if step.kind == "json":
                    conn.send(self.frame(expand(step.payload, self.token)))
                elif step.kind == "raw":
                    conn.send(raw_bytes(step.payload, self.token))
                else:
                    conn.channel.close_write()
                continue
            if step.kind == "json":
                what, value = conn.read(REPLY_WAIT)
                assert what == "message", f"{where}: expected {json.dumps(step.payload)}, but the connection {what}"
                validate_server_message(conn, value, where)
                diff = matches(step.payload, value)
                assert diff is None, f"{where}: {diff}\n  expected: {json.dumps(step.payload)}\n  received: {json.dumps(value)}"
            elif step.kind == "nothing":
                what, value = conn.read(NOTHING_WAIT)
                assert what == "timeout", f"{where}: expected nothing, got {what} {json.dumps(value)}"
            elif step.kind == "closed":
                what, value = conn.read(REPLY_WAIT)
                assert what == "closed", (
                    f"{where}: expected the daemon to close the connection, got {what} {json.dumps(value)}")
            elif step.kind == "exit":
                assert self.transport == "stdio", f"{where}: (exit N) is for the stdio transport"
                try:
                    code = self.proc.wait(timeout=REPLY_WAIT)
                except subprocess.TimeoutExpired:
                    raise AssertionError(f"{where}: periscoped --stdio did not exit")
                assert code == step.payload, f"{where}: periscoped --stdio exited with {code}, expected {step.payload}"
        # Nothing unexpected may be left over in what was already received.
        for conn in self.connections.values():
            if conn.buf and not conn.eof:
                parsed = conn._parse_one()
                assert parsed is None, f"{self.t.path.name}: unexpected extra message {parsed[1]!r}"

    def stop(self):
        for conn in self.connections.values():
            conn.channel.close()
        if self.daemon:
            code = self.daemon.stop()
            assert code == 0, "periscoped exited with an error: " + open(self.stderr_path).read()
        if self.proc:
            if self.proc.poll() is None:
                self.proc.terminate()
                self.proc.wait(timeout=10)
            self.proc.stdout.close()
            self.stderr.close()
            os.unlink(self.stderr_path)


def transcript_params():
    """One param per transcript; `# known-bug:` makes it a strict xfail (it must fail until the fix,
    and fails loudly once fixed, so the header gets removed)."""
    params = []
    for path in TRANSCRIPTS:
        bug = Transcript(path).headers.get("known-bug")
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


@pytest.mark.parametrize("path", transcript_params())
def test_transcript(path):
    replay = Replay(Transcript(path))
    replay.start()
    try:
        replay.run()
    except AssertionError as error:
        log = open(replay.stderr_path).read()[-2000:] if replay.stderr_path and os.path.exists(replay.stderr_path) else ""
        raise AssertionError(f"{error}\n--- daemon stderr ---\n{log}") from None
    finally:
        replay.stop()


# --------------------------------------------------------------------------- the spec keeps up with the code

def test_transcripts_exist_and_parse():
    assert len(TRANSCRIPTS) >= 20, "protocol/transcripts/ is missing transcripts"
    for path in TRANSCRIPTS:
        Transcript(path)


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    for name, entry in SCHEMA["methods"].items():
        assert set(entry) == {"params", "result"}, name
        for part in ("params", "result"):
            jsonschema.Draft202012Validator.check_schema(entry[part])
            validator_for(f"/methods/{pointer_escape(name)}/{part}")  # every $ref resolves
    for name, entry in SCHEMA["notifications"].items():
        assert entry["direction"] in ("client-to-server", "server-to-client"), name


def test_every_advertised_method_is_documented():
    # With the collectors on: the topology/* and subscription methods exist only then.
    daemon = Daemon("--refresh-ms", "200", collectors=True)
    sock = connect_unix(daemon)
    try:
        conn = Connection("a", SocketChannel(sock))
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                           "params": {"clientInfo": {"name": "spec-check"}}}).encode()
        conn.send(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        what, reply = conn.read(REPLY_WAIT)
        assert what == "message", what
        validate_server_message(conn, reply, "initialize")
    finally:
        sock.close()
        assert daemon.stop() == 0, "periscoped exited with an error: " + open(daemon.stderr_path).read()
    advertised = set(reply["result"]["capabilities"]["methods"])
    spec = (PROTOCOL / "SPEC.md").read_text()
    documented = set(re.findall(r"^###\s+`([^`]+)`", spec, re.M))
    for method in sorted(advertised | LIFECYCLE_METHODS):
        assert method in SCHEMA["methods"], f"{method} is advertised but has no entry in protocol/schema.json"
        assert method in documented, f"{method} is advertised but SPEC.md has no '### `{method}`' section"
    stale = set(SCHEMA["methods"]) - advertised - LIFECYCLE_METHODS
    assert not stale, f"schema.json describes methods the daemon does not serve: {sorted(stale)}"
    for name in SCHEMA["notifications"]:
        assert name in documented, f"notification {name} has no '### `{name}`' section in SPEC.md"


def test_every_error_code_is_documented():
    source = (REPO / "Sources" / "PeriscopeProtocol" / "RPCError.swift").read_text()
    codes = {int(v) for v in re.findall(r"static let \w+ = (-\d+)", source)}
    assert codes, "no error codes found in RPCError.swift"
    spec = (PROTOCOL / "SPEC.md").read_text()
    enum = set(SCHEMA["$defs"]["errorObject"]["properties"]["code"]["enum"])
    for code in sorted(codes):
        assert str(code) in SCHEMA["errorCodes"], f"error code {code} is missing from schema.json errorCodes"
        assert code in enum, f"error code {code} is missing from the errorObject code enum"
        assert re.search(rf"^\|\s*`?{code}`?\s*\|", spec, re.M), f"error code {code} is missing from SPEC.md's table"
    assert enum == codes, f"schema lists codes the code does not define: {sorted(enum - codes)}"


def test_schema_catches_regressions():
    """The schema is strict where it matters: these malformed messages must not validate."""
    bad_envelopes = [
        {"id": 1, "result": None},                                              # no jsonrpc
        {"jsonrpc": "2.0", "id": 1, "result": 1, "error": {"code": -32603, "message": "x"}},
        {"jsonrpc": "2.0", "id": 1.5, "result": 1},                             # fractional id
        {"jsonrpc": "2.0", "id": 1, "error": {"code": -31999, "message": "x"}}, # undocumented code
        {"jsonrpc": "2.0", "id": 1, "error": {"code": -32600}},                 # no message
        {"jsonrpc": "2.0", "method": "made/up", "params": {}},                  # undocumented notification
        [],                                                                     # empty batch reply
        {"jsonrpc": "2.0", "id": 1, "result": {}, "extra": 1},
    ]
    for message in bad_envelopes:
        assert not SERVER_MESSAGE.is_valid(message), message
    bad_results = {
        "daemon/ping": [{"pong": False}, {}],
        "daemon/status": [{}, {"version": "0.1.0"}],
        "initialize": [{"serverInfo": {"name": "periscoped", "version": "1"}, "protocolVersion": "1",
                        "capabilities": {}}],
        "shutdown": [{}],
        "auth": [{"authenticated": False}],
    }
    for method, results in bad_results.items():
        validator = validator_for(f"/methods/{pointer_escape(method)}/result")
        for result in results:
            assert not validator.is_valid(result), (method, result)
    progress = validator_for("/notifications/$~1progress/params")
    assert progress.is_valid({"token": "t", "value": {"kind": "begin", "title": "ping"}})
    assert not progress.is_valid({"token": "t", "value": {"kind": "begin"}})
    assert not progress.is_valid({"token": [1], "value": {"kind": "end"}})
