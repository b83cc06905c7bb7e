"""A blocking JSON-RPC client for periscoped with LSP (Content-Length) framing."""
from __future__ import annotations

import asyncio
import datetime
import itertools
import json
import os
import socket
import struct
import time
from collections import deque
from typing import Any, AsyncIterator, Deque, Dict, Iterator, Optional, Tuple, Union

from .model import Change, Diff, Topology, View

#: An instant for the history methods (SPEC.md section 18.2): a string the daemon reads (RFC 3339, `-10m`,
#: `now`), a datetime (naive ones are local time), a timedelta before now, or seconds since the epoch.
Instant = Union[str, datetime.datetime, datetime.timedelta, int, float]


class RPCError(Exception):
    """An error response from the daemon: `code`, `message`, optional `data`."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.data = code, message, data


class DaemonNotRunning(ConnectionError):
    """Nothing is listening where the daemon was expected."""


class UntrustedDaemon(DaemonNotRunning):
    """The socket is served by a process of another user (neither root nor us): it may be an impostor,
    so the client refuses to send it anything. A kind of DaemonNotRunning: no daemon we may trust."""


def check_peer(sock: socket.socket, path: str) -> None:
    """Raises UntrustedDaemon unless the process serving the connected Unix socket runs as root or as
    this user (SO_PEERCRED: the kernel's word, not the peer's)."""
    pid, uid, _gid = struct.unpack("iII", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("iII")))
    if uid not in (0, os.getuid(), os.geteuid()):
        raise UntrustedDaemon(f"refusing to talk to {path}: it is served by uid {uid} (pid {pid}), not by root or "
                              f"this user (uid {os.geteuid()}) — another user may be impersonating the daemon")


def default_socket_path() -> str:
    """The daemon's default socket: $PERISCOPE_SOCKET, /run/periscope/periscope.sock as root,
    else $XDG_RUNTIME_DIR/periscope.sock (the same rule as the daemon and the shell client)."""
    if os.environ.get("PERISCOPE_SOCKET"):
        return os.environ["PERISCOPE_SOCKET"]
    if os.geteuid() == 0:
        return "/run/periscope/periscope.sock"
    if os.environ.get("XDG_RUNTIME_DIR"):
        return os.path.join(os.environ["XDG_RUNTIME_DIR"], "periscope.sock")
    return f"/tmp/periscope-{os.geteuid()}/periscope.sock"


def connect(path: Optional[str] = None, *, host: Optional[str] = None, port: Optional[int] = None,
            token: Optional[str] = None, timeout: float = 30.0, name: str = "periscope-python") -> "Client":
    """Connects and initializes: the default Unix socket, `path`, or TCP `host:port` with `token`."""
    return Client(path=path, host=host, port=port, token=token, timeout=timeout, name=name)


class Client:
    """One connection to the daemon. Not thread-safe: use one client per thread."""

    def __init__(self, path: Optional[str] = None, *, host: Optional[str] = None, port: Optional[int] = None,
                 token: Optional[str] = None, timeout: float = 30.0, name: str = "periscope-python"):
        self.path = None if host else (path or default_socket_path())
        self.host, self.port, self.token, self.timeout, self.name = host, port, token, timeout, name
        self._ids = itertools.count(1)
        self._notifications: Deque[Tuple[str, Any]] = deque()
        self._buffer = b""
        self.server_info: Dict[str, Any] = {}
        self._sock: Optional[socket.socket] = None
        self._open()

    # -- connection ---------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            if self.host:
                sock = socket.create_connection((self.host, int(self.port or 0)), timeout=self.timeout)
            else:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(self.path)
                try:
                    check_peer(sock, self.path)
                except BaseException:
                    sock.close()
                    raise
        except (FileNotFoundError, ConnectionRefusedError) as error:
            where = f"{self.host}:{self.port}" if self.host else self.path
            raise DaemonNotRunning(f"no daemon is listening on {where} (start it with `periscoped`)") from error
        self._sock, self._buffer = sock, b""
        self._notifications.clear()
        params: Dict[str, Any] = {"clientInfo": {"name": self.name}, "capabilities": {}}
        if self.token:
            params["token"] = self.token
        self.server_info = self.call("initialize", params)
        self.notify("initialized", {})

    def close(self) -> None:
        """Ends the session politely (shutdown, exit) and closes the socket."""
        if self._sock is None:
            return
        try:
            self.call("shutdown")
            self.notify("exit")
        except (OSError, RPCError, EOFError):
            pass
        self._sock.close()
        self._sock = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- JSON-RPC -----------------------------------------------------------------------------
    def _send(self, message: Dict[str, Any]) -> None:
        assert self._sock is not None, "client is closed"
        body = json.dumps(message, separators=(",", ":")).encode()
        self._sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def _read(self, timeout: Optional[float]) -> Optional[Dict[str, Any]]:
        assert self._sock is not None, "client is closed"
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            head, sep, rest = self._buffer.partition(b"\r\n\r\n")
            if sep:
                length = next(int(v) for k, _, v in (line.partition(b":") for line in head.split(b"\r\n"))
                              if k.strip().lower() == b"content-length")
                if len(rest) >= length:
                    self._buffer = rest[length:]
                    return json.loads(rest[:length])
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            self._sock.settimeout(remaining if remaining is not None else None)
            try:
                chunk = self._sock.recv(1 << 16)
            except socket.timeout:
                return None
            if not chunk:
                raise EOFError("the daemon closed the connection")
            self._buffer += chunk

    def call(self, method: str, params: Any = None) -> Any:
        """Sends a request and returns its result; raises RPCError for an error response."""
        request_id = next(self._ids)
        message: Dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)
        while True:
            reply = self._read(self.timeout)
            if reply is None:
                raise TimeoutError(f"{method}: no answer within {self.timeout} s")
            if "method" in reply and "id" not in reply:
                self._notifications.append((reply["method"], reply.get("params")))
                continue
            if reply.get("id") not in (request_id, None):
                continue
            if "error" in reply:
                error = reply["error"]
                raise RPCError(error.get("code", 0), error.get("message", ""), error.get("data"))
            return reply.get("result")

    def notify(self, method: str, params: Any = None) -> None:
        message: Dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)

    def next_notification(self, timeout: Optional[float] = None) -> Optional[Tuple[str, Any]]:
        """The next notification (method, params), or None after `timeout` seconds."""
        if self._notifications:
            return self._notifications.popleft()
        message = self._read(timeout)
        if message is None:
            return None
        if "method" in message and "id" not in message:
            return message["method"], message.get("params")
        return self.next_notification(timeout)

    # -- Periscope methods ----------------------------------------------------------------------
    def status(self) -> Dict[str, Any]:
        return self.call("daemon/status")

    def views(self) -> Any:
        return self.call("topology/views")["views"]

    def get(self, view: str = "processes", filter: Optional[str] = None, at: Optional[Instant] = None,
            **options: Any) -> View:
        """The view now, e.g. `get("processes", filter="port:5432", all=True)`; with `at`, as it was then
        (from the daemon's history: `get("processes", at="-10m")`, `view.at` says the instant)."""
        params = _view_params(view, filter, options)
        if at is not None:
            params["at"] = instant(at)
        return View.from_json(self.call("topology/get", params))

    def diff(self, view: str = "processes", since: Instant = "-1h", to: Optional[Instant] = None,
             filter: Optional[str] = None, **options: Any) -> Diff:
        """What appeared, disappeared or changed in the view between `since` and `to` (default now)."""
        params = _view_params(view, filter, options)
        params["from"] = instant(since)
        if to is not None:
            params["to"] = instant(to)
        return Diff.from_json(self.call("topology/diff", params))

    def history(self, view: str, node_id: str, since: Optional[Instant] = None,
                to: Optional[Instant] = None) -> Dict[str, Any]:
        """One node over time (`node/history`): {existed, peers, samples, ...} as SPEC.md section 18 describes."""
        params: Dict[str, Any] = {"view": view, "id": node_id}
        if since is not None:
            params["from"] = instant(since)
        if to is not None:
            params["to"] = instant(to)
        return self.call("node/history", params)

    def node(self, view: str, node_id: str) -> Dict[str, Any]:
        """Details of one node: metadata, metric histories, connection tables."""
        return self.call("node/get", {"view": view, "id": node_id})

    def subscribe(self, view: str = "processes", filter: Optional[str] = None, min_interval: int = 100,
                  reconnect: bool = True, **options: Any) -> "Subscription":
        """Subscribes to a view: iterate the result for `Change`s; `.topology` is kept current."""
        return Subscription(self, view, filter, min_interval, reconnect, options)


def _view_params(view: str, filter: Optional[str], options: Dict[str, Any]) -> Dict[str, Any]:
    params: Dict[str, Any] = {"view": view}
    if options:
        params["options"] = {_camel(k): v for k, v in options.items()}
    if filter:
        params["filter"] = filter
    return params


def instant(value: Instant) -> str:
    """An `Instant` as the string the daemon reads."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.timedelta):  # before now, by this machine's clock
        return instant(datetime.datetime.now(datetime.timezone.utc) - value)
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return instant(datetime.datetime.fromtimestamp(value, datetime.timezone.utc))
    raise TypeError(f"not an instant: {value!r}")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class Subscription:
    """Changes to a view as an iterator (sync) or async iterator. After a lost connection it
    reconnects, subscribes again and yields a `reset` change carrying the whole new state."""

    def __init__(self, client: Client, view: str, filter: Optional[str], min_interval: int, reconnect: bool,
                 options: Dict[str, Any]):
        self.client, self.reconnect = client, reconnect
        self.params = _view_params(view, filter, options)
        self.params["minInterval"] = min_interval
        self._start()

    def _start(self) -> None:
        snapshot = self.client.call("topology/subscribe", self.params)
        self.id: str = snapshot["subscription"]
        self.topology = Topology.from_snapshot(snapshot)

    def next(self, timeout: Optional[float] = None) -> Optional[Change]:
        """The next change, applied to `.topology` already; None after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self.client.next_notification(remaining)
            except (EOFError, OSError):
                if not self.reconnect:
                    raise
                return self._resubscribe()
            if item is None:
                return None
            method, params = item
            if method == "topology/changed" and params and params.get("subscription") == self.id:
                change = Change.from_json(params)
                self.topology.apply(change)
                return change

    def _resubscribe(self) -> Change:
        delay = 0.1
        while True:
            try:
                self.client._open()
                self._start()
                break
            except (OSError, EOFError):
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        t = self.topology
        return Change(subscription=self.id, revision=t.revision, previous_revision=0,
                      added_nodes=list(t.nodes.values()), added_edges=list(t.edges.values()),
                      updated_nodes=[], updated_edges=[], removed_nodes=[], removed_edges=[], reset=True)

    def __iter__(self) -> Iterator[Change]:
        while True:
            change = self.next()
            if change is not None:
                yield change

    def __aiter__(self) -> AsyncIterator[Change]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[Change]:
        while True:
            change = await asyncio.to_thread(self.next, 1.0)
            if change is not None:
                yield change

    def unsubscribe(self) -> None:
        self.client.call("topology/unsubscribe", {"subscription": self.id})
