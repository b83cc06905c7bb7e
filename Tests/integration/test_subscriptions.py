"""Live subscriptions (issue 4) against a real daemon with the kernel collectors and real processes.

* snapshot, then ordered deltas: a server and two clients appear as nodes and client→server edges;
  a client that exits leaves its edge marked closed (retention); revisions chain exactly;
* the equality test under churn: subscribers (minInterval 0 and 200, unfiltered and filtered) that
  apply every notification to their snapshot hold exactly what `topology/get` returns at the same
  revision, after ~5 s of processes and connections starting and stopping;
* a slow subscriber gets fewer (coalesced) notifications and ends in the same state; pings on another
  connection stay fast;
* a subscriber that stops reading is disconnected after the stall bound (15 s); nobody else is delayed;
* unsubscribe, per-connection subscription ids, cleanup when the connection closes;
* node/subscribe follows a server's connection table.

The reset path (backlog > 20,000 changed ids) cannot be forced with a small churn in a few seconds; it
is covered by the pure-state tests in Tests/PeriscopeViewsTests/SubscriptionStateTests.swift (ChangeSet
counting and coalescing, FilteredView), not end to end.

One daemon (refresh 200 ms) serves the module. Every client speaks newline-delimited JSON.
"""
import json
import os
import random
import select
import statistics
import sys
import threading
import time

import pytest

import rpc
from conftest import Daemon
from rpc import PEER_PRELUDE, Peer, RPCError

try:  # every message is also checked against protocol/schema.json (as the transcripts are)
    from test_transcripts import validator_for
except Exception:  # jsonschema missing: the transcript tests skip, these tests check without the schema
    validator_for = None

_VALIDATORS = {}


def check_schema(pointer, value):
    """Validates `value` against schema.json at `pointer` (e.g. /methods/topology~1get/result)."""
    if validator_for is None:
        return
    if pointer not in _VALIDATORS:
        _VALIDATORS[pointer] = validator_for(pointer)
    errors = list(_VALIDATORS[pointer].iter_errors(value))
    assert not errors, f"{pointer}: {errors[0].message} in {json.dumps(value)[:500]}"

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(os.geteuid() != 0, reason="the kernel collectors need root to attribute every socket"),
]

WAIT = 20.0  # bounded waits; generous because a loaded host can make refreshes take seconds

HELPER = PEER_PRELUDE + r'''
mode = sys.argv[1]
if mode == "server":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(256)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ, "listener")
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    ready(s.getsockname()[1])
    echo_forever(sel)
elif mode == "client":
    # client PORT: one connection held until stdin closes.
    c = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
    c.sendall(b"hi")
    c.recv(16)
    ready(c.getsockname()[1])
    wait_for_stdin_eof()
elif mode == "ticker":
    # ticker PORT: one connection with traffic of varying size, so its edge changes every refresh.
    c = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
    ready(c.getsockname()[1])
    def tick():
        while True:
            n = random.randint(1, 20000)
            c.sendall(b"x" * n)
            got = 0
            while got < n:
                got += len(c.recv(65536))
            time.sleep(random.uniform(0.01, 0.08))
    threading.Thread(target=tick, daemon=True).start()
    wait_for_stdin_eof()
elif mode == "flapper":
    # flapper PORT: opens and closes connections (0-3 at a time) until stdin closes.
    port = int(sys.argv[2])
    ready(port)
    def flap():
        held = []
        while True:
            if held and (len(held) >= 3 or random.random() < 0.5):
                held.pop(random.randrange(len(held))).close()
            else:
                try:
                    held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                except OSError:
                    pass
            time.sleep(random.uniform(0.02, 0.3))
    threading.Thread(target=flap, daemon=True).start()
    wait_for_stdin_eof()
'''


def helper(mode, *args):
    """A helper process running `HELPER` in `mode`; `pid` and the fields of its READY line."""
    return Peer([sys.executable, "-c", HELPER, mode, *map(str, args)])


OPEN_CLIENTS = []  # closed after each test, even a failed one (so its subscriptions end)


class Client(rpc.Client):
    """An `rpc.Client` closed after each test, even a failed one (so its subscriptions end)."""

    def __init__(self, daemon):
        OPEN_CLIENTS.append(self)
        super().__init__(daemon)


class ViewState:
    """A subscriber's copy of its view: the snapshot with every notification applied, checked as it goes."""

    def __init__(self, snapshot, minInterval=100):
        assert {"subscription", "revision", "view", "nodes", "edges"} <= set(snapshot), snapshot.keys()
        check_schema("/methods/topology~1subscribe/result", snapshot)
        self.sub = snapshot["subscription"]
        self.revision = snapshot["revision"]
        self.nodes = {n["id"]: n for n in snapshot["nodes"]}
        self.edges = {e["id"]: e for e in snapshot["edges"]}
        self.minInterval = minInterval
        self.count = 0
        self.resets = 0
        self.history = []  # (revision, previousRevision) of each notification

    def apply(self, p):
        assert p["subscription"] == self.sub
        if self.count < 20:  # bounded: schema validation of every notification would slow the readers
            check_schema("/notifications/topology~1changed/params", p)
        assert p["previousRevision"] == self.revision, (
            f"previousRevision {p['previousRevision']} but the client is at {self.revision}")
        assert p["revision"] > self.revision, f"revision {p['revision']} does not increase from {self.revision}"
        for member in ("added", "updated", "removed"):
            assert set(p[member]) == {"nodes", "edges"}, p[member]
        if p.get("reset"):
            assert p["reset"] is True
            assert not p["updated"]["nodes"] and not p["updated"]["edges"]
            assert not p["removed"]["nodes"] and not p["removed"]["edges"]
            self.nodes, self.edges = {}, {}
            self.resets += 1
        for nid in p["removed"]["nodes"]:
            assert nid in self.nodes, f"removed node {nid} the client does not have"
            del self.nodes[nid]
        for eid in p["removed"]["edges"]:
            assert eid in self.edges, f"removed edge {eid} the client does not have"
            del self.edges[eid]
        for n in p["added"]["nodes"]:
            assert n["id"] not in self.nodes, f"added node {n['id']} the client already has"
            self.nodes[n["id"]] = n
        for n in p["updated"]["nodes"]:
            assert n["id"] in self.nodes, f"updated node {n['id']} the client does not have"
            self.nodes[n["id"]] = n
        for e in p["added"]["edges"]:
            assert e["id"] not in self.edges, f"added edge {e['id']} the client already has"
            self.edges[e["id"]] = e
        for e in p["updated"]["edges"]:
            assert e["id"] in self.edges, f"updated edge {e['id']} the client does not have"
            self.edges[e["id"]] = e
        for e in self.edges.values():
            assert e["source"] in self.nodes and e["target"] in self.nodes, f"dangling edge {e['id']}"
        self.history.append((p["revision"], p["previousRevision"]))
        self.revision = p["revision"]
        self.count += 1


class Subscriber:
    """A connection with one tracked topology subscription."""

    def __init__(self, daemon, view="processes", options=None, filter=None, minInterval=None):
        self.client = Client(daemon)
        self.params = {"view": view}
        if options is not None:
            self.params["options"] = options
        if filter is not None:
            self.params["filter"] = filter
        sub_params = dict(self.params)
        if minInterval is not None:
            sub_params["minInterval"] = minInterval
        self.state = ViewState(self.client.call("topology/subscribe", sub_params),
                               100 if minInterval is None else minInterval)

    def fileno(self):
        return self.client.fileno()

    def drain(self, timeout=0.0):
        """Reads for `timeout` and applies every notification of the tracked subscription."""
        ok = self.client.pump(timeout)
        self.apply_queued()
        return ok

    def apply_queued(self):
        notes, self.client.notes = self.client.notes, []
        for n in notes:
            if n["method"] == "topology/changed" and n["params"]["subscription"] == self.state.sub:
                self.state.apply(n["params"])

    def converge(self, attempts=12):
        """Checks the equality with topology/get at the same revision (see module docstring).

        Returns a description of the successful comparison; fails on a mismatch at an exact revision.
        """
        inconclusive = []
        for _ in range(attempts):
            self.drain(0.0)
            rid = self.client.send("topology/get", self.params)
            got = self.client.wait_response(rid)
            check_schema("/methods/topology~1get/result", got)
            self.apply_queued()
            g = got["revision"]
            expected_nodes = {n["id"]: n for n in got["nodes"]}
            expected_edges = {e["id"]: e for e in got["edges"]}
            deadline = time.monotonic() + 1.0
            outcome = None
            while outcome is None:
                if self.state.revision == g:
                    outcome = "exact"
                    break
                if self.state.revision > g:
                    outcome = "passed"
                    break
                # Peek at the next notification: if it jumps over g, the client's state before it is its
                # state at g only when nothing was coalesced (minInterval 0: every change is sent at once).
                queued = [n for n in self.client.notes if n["method"] == "topology/changed"
                          and n["params"]["subscription"] == self.state.sub]
                if queued:
                    p = queued[0]["params"]
                    if p["previousRevision"] <= g < p["revision"] and self.state.minInterval == 0:
                        outcome = "between"
                        break
                    self.apply_queued()
                    continue
                if time.monotonic() > deadline:
                    outcome = "quiet"  # nothing visible changed after the client's revision up to g
                    break
                self.client.pump(0.05)
            if outcome == "passed":
                inconclusive.append(f"client went from <{g} to {self.state.revision} (coalesced)")
                continue
            same = self.state.nodes == expected_nodes and self.state.edges == expected_edges
            if same:
                return f"{outcome} at revision {g} ({len(expected_nodes)} nodes, {len(expected_edges)} edges)"
            diff = describe_diff(self.state, expected_nodes, expected_edges)
            if outcome in ("exact", "between"):
                pytest.fail(f"subscriber {self.params} at revision {self.state.revision} differs from "
                            f"topology/get at revision {g}: {diff}")
            inconclusive.append(f"quiet at {self.state.revision} < {g}: {diff}")
        pytest.fail(f"no conclusive comparison for {self.params}: {inconclusive}")

    def close(self):
        self.client.close()


def describe_diff(state, nodes, edges):
    parts = []
    for kind, mine, theirs in (("node", state.nodes, nodes), ("edge", state.edges, edges)):
        missing = sorted(set(theirs) - set(mine))
        extra = sorted(set(mine) - set(theirs))
        changed = sorted(k for k in set(mine) & set(theirs) if mine[k] != theirs[k])
        if missing:
            parts.append(f"{kind}s missing {missing[:5]}")
        if extra:
            parts.append(f"extra {kind}s {extra[:5]}")
        if changed:
            k = changed[0]
            parts.append(f"{len(changed)} {kind}s differ, e.g. {k}: client {json.dumps(mine[k])[:400]} "
                         f"vs get {json.dumps(theirs[k])[:400]}")
    return "; ".join(parts) or "equal"


def node_of_pid(state, pid):
    for n in state.nodes.values():
        if n["kind"] == "process" and n["metadata"].get("pid") == pid:
            return n
    return None


def pump_all(subscribers, seconds):
    """Keeps every subscriber reading for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select(subscribers, [], [], min(0.05, max(0, end - time.monotonic())))
        for s in ready:
            s.drain(0)


def pump_until(subscriber, check, timeout=WAIT, what="the expected state"):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        subscriber.drain(0.05)


BULK = {"view": "processes", "options": {"all": True}}  # every process on the host: a large reply


def fill_unread(client, helper, total=1 << 20):
    """Sends `client` enough large topology/get requests that ~`total` bytes of replies wait unread.

    Several medium replies rather than one huge one: the daemon encodes replies on its event loop, so one
    1 MB reply would itself delay everyone (see the report).
    """
    size = len(json.dumps(helper.call("topology/get", BULK)))
    bulk = max(4, total // max(size, 1) + 1)
    for _ in range(bulk):
        client.send("topology/get", BULK)
    return bulk, size


def subscription_counts(client):
    status = client.call("daemon/status")
    sub = status["collectors"].get("subscriptions", {})
    return sub.get("subscriptions"), sub.get("nodeSubscriptions")


class Churn:
    """Starts and stops processes and connections in a background thread."""

    def __init__(self, servers):
        self.servers = servers
        self.clients = []
        self.extra = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.actions = 0
        self.error = None

    def run(self):
        rng = random.Random(4)
        try:
            while not self.stop_flag.is_set():
                r = rng.random()
                if r < 0.45 or not self.clients:
                    self.clients.append(helper("client", rng.choice(self.servers).port))
                elif r < 0.85:
                    self.clients.pop(rng.randrange(len(self.clients))).stop(kill=rng.random() < 0.5)
                elif r < 0.95 or not self.extra:
                    srv = helper("server")
                    self.extra.append(srv)
                    self.clients.append(helper("client", srv.port))
                else:
                    self.extra.pop(rng.randrange(len(self.extra))).stop()
                self.actions += 1
                time.sleep(rng.uniform(0.02, 0.12))
        except Exception as e:  # surfaced by stop()
            self.error = e

    def __enter__(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_flag.set()
        self.thread.join(timeout=20)
        assert self.error is None, f"churn failed: {self.error!r}"

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(timeout=20)
        for p in self.clients + self.extra:
            p.stop()


# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def daemon():
    d = Daemon("--refresh-ms", "200", collectors=True)
    yield d
    assert d.stop() == 0, "periscoped exited with an error: " + open(d.stderr_path).read()


@pytest.fixture
def procs():
    started = []
    yield started
    for p in started:
        p.stop()


@pytest.fixture(autouse=True)
def close_clients():
    yield
    while OPEN_CLIENTS:
        OPEN_CLIENTS.pop().close()


def revision_of(client):
    return client.call("daemon/status")["collectors"]["host-map"]["revision"]


def test_view_catalogue(daemon):
    c = Client(daemon)
    result = c.call("topology/views")
    check_schema("/methods/topology~1views/result", result)
    views = {v["name"]: v for v in result["views"]}
    assert {"processes", "processes-by-name", "hosts"} <= set(views)
    defaults = lambda name: {o["name"]: o["default"] for o in views[name]["options"]}
    for name in ("processes", "processes-by-name"):
        assert defaults(name) == {"all": False, "hideUnconnected": True, "hidePseudo": False, "includeClosed": True}
    assert defaults("hosts") == {"hideUnconnected": False, "hidePseudo": False, "includeClosed": True}
    for name in views:  # counts are those of topology/get with default options (same revision or close)
        got = c.call("topology/get", {"view": name})
        check_schema("/methods/topology~1get/result", got)
        assert [n["id"] for n in got["nodes"]] == sorted(n["id"] for n in got["nodes"])
    c.close()


def test_snapshot_then_deltas(daemon, procs):
    sub = Subscriber(daemon)
    snap_rev = sub.state.revision
    assert isinstance(snap_rev, int) and snap_rev >= 1
    server = helper("server"); procs.append(server)
    clients = [helper("client", server.port) for _ in range(2)]
    procs.extend(clients)

    def present():
        s = node_of_pid(sub.state, server.pid)
        cs = [node_of_pid(sub.state, c.pid) for c in clients]
        return s and all(cs) and all(f"{c['id']}->{s['id']}" in sub.state.edges for c in cs)

    pump_until(sub, present, what="the server, its two clients and their edges")
    s = node_of_pid(sub.state, server.pid)
    edge_ids = [f"{node_of_pid(sub.state, c.pid)['id']}->{s['id']}" for c in clients]
    for eid in edge_ids:
        e = sub.state.edges[eid]
        assert e["protocols"] == ["tcp"] and e["ports"] == [server.port] and e["connections"] == 1
        assert e["closed"] is False
    # They arrived as additions, not in the snapshot.
    added = {n["id"] for n in (sub.state.nodes.values())}
    assert s["id"] in added
    first = sub.state.history[0]
    assert first[1] == snap_rev, "the first notification's previousRevision is the snapshot's revision"

    clients[0].stop(kill=True)
    closed_id = edge_ids[0]
    pump_until(sub, lambda: sub.state.edges.get(closed_id, {}).get("closed") is True,
               what="the dead client's edge to be marked closed")
    e = sub.state.edges[closed_id]
    assert isinstance(e.get("lastSeen"), (int, float))
    assert sub.state.edges[edge_ids[1]]["closed"] is False
    # Revisions chain exactly.
    prev = snap_rev
    for rev, previous in sub.state.history:
        assert previous == prev and rev > prev
        prev = rev
    sub.close()


def test_equality_under_churn(daemon, procs):
    servers = [helper("server") for _ in range(2)]
    procs.extend(servers)
    procs.append(helper("ticker", servers[0].port))
    procs.append(helper("flapper", servers[1].port))
    subs = [Subscriber(daemon, minInterval=0), Subscriber(daemon, minInterval=200),
            Subscriber(daemon, filter="name:python3", minInterval=0),
            Subscriber(daemon, filter="name:python3", minInterval=200),
            Subscriber(daemon, options={"hidePseudo": True, "includeClosed": False}, filter="!pseudo:true cpu<1000"),
            Subscriber(daemon, view="processes-by-name", minInterval=0)]
    with Churn(servers) as churn:
        pump_all(subs, 5.0)
        # A loaded machine refreshes slowly: keep churning (up to 15 s more) until every subscriber has
        # had a few revisions to compare.
        deadline = time.monotonic() + 15
        while any(s.state.count < 2 for s in subs) and time.monotonic() < deadline:
            pump_all(subs, 0.5)
        churn.stop()
        pump_all(subs, 0.5)
        results = [s.converge() for s in subs]
    assert churn.actions > 10
    for s in subs:  # the host's refresh may take over a second when it is loaded: a few revisions at least
        assert s.state.count >= 2, f"{s.params} got only {s.state.count} notifications"
        s.close()
    print("equality:", results)


def test_slow_subscriber_is_coalesced_and_others_stay_fast(daemon, procs):
    servers = [helper("server") for _ in range(2)]
    procs.extend(servers)
    procs.append(helper("ticker", servers[0].port))
    fast = Subscriber(daemon, minInterval=0)
    slow = Subscriber(daemon, minInterval=0)
    pinger = Client(daemon)
    # A slow reader: more than 256 KiB the daemon cannot write to it (the kernel's socket buffer holds
    # the first ~200 KiB), so its notifications are held and coalesced. Replies it does not read fill it.
    bulk, reply_size = fill_unread(slow.client, pinger)
    latencies = []
    with Churn(servers) as churn:
        # ~3 s without reading, longer if the daemon's refreshes are slow: until the fast subscriber has
        # seen 4 notifications (the slow one can then only have fewer if its changes were coalesced).
        start, fast_start = time.monotonic(), fast.state.count
        while time.monotonic() - start < 3.0 or (fast.state.count - fast_start < 4 and time.monotonic() - start < 12):
            t0 = time.monotonic()
            pinger.call("daemon/ping")
            latencies.append(time.monotonic() - t0)
            fast.drain(0.02)
        # The slow subscriber starts reading again.
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            ready, _, _ = select.select([fast, slow], [], [], 0.05)
            for s in ready:
                s.drain(0)
        churn.stop()
        pump_all([fast, slow], 0.5)
        fast_result = fast.converge()
        slow_result = slow.converge()
    assert len(slow.client.responses) == bulk, "every topology/get is answered"
    assert slow.state.count < fast.state.count, (
        f"slow subscriber got {slow.state.count} notifications, fast {fast.state.count}: not coalesced")
    lat = sorted(latencies)
    p95 = lat[int(len(lat) * 0.95) - 1]
    assert p95 < 0.1 and max(lat) < 1.0, f"pings slowed down: median {statistics.median(lat):.4f}s p95 {p95:.4f}s max {max(lat):.4f}s"
    print(f"slow {slow.state.count} vs fast {fast.state.count} notifications; {fast_result}; {slow_result}; "
          f"ping median {statistics.median(lat) * 1000:.1f} ms p95 {p95 * 1000:.1f} ms max {max(lat) * 1000:.1f} ms "
          f"({bulk} x {reply_size} B unread)")
    for c in (fast, slow, pinger):
        c.close()


def test_stalled_subscriber_is_disconnected(daemon, procs):
    servers = [helper("server")]
    procs.extend(servers)
    procs.append(helper("ticker", servers[0].port))
    observer = Client(daemon)
    base_connected = observer.call("daemon/status")["clients"]["connected"]
    stalled = Client(daemon)
    stalled.call("topology/subscribe", {"view": "processes", "minInterval": 0})
    fill_unread(stalled, observer)
    t_stall = time.monotonic()
    fast = Subscriber(daemon, minInterval=0)
    latencies = []
    disconnected_at = None
    with Churn(servers):
        while time.monotonic() - t_stall < 22.0:
            t0 = time.monotonic()
            status = observer.call("daemon/status")
            latencies.append(time.monotonic() - t0)
            if status["clients"]["connected"] <= base_connected + 1:  # observer + fast remain
                disconnected_at = time.monotonic() - t_stall
                break
            fast.drain(0.1)
    assert disconnected_at is not None, "a subscriber that stopped reading was not disconnected within 22 s"
    # 15 s from the first notification the daemon had to hold back (the next refresh after the replies
    # filled the connection), so a little over 15 s after the requests.
    assert 14.0 <= disconnected_at <= 21.0, f"disconnected after {disconnected_at:.1f} s, the bound is 15 s"
    # The stalled socket ends: what was buffered, then end of stream.
    stalled.sock.settimeout(5)
    while stalled.pump(2):
        pass
    assert stalled.closed
    assert fast.state.count >= 3, f"the other subscriber got only {fast.state.count} notifications meanwhile"
    assert max(latencies) < 1.0, f"daemon/status slowed down to {max(latencies):.3f} s during the stall"
    print("droppedSlow after the stall:", observer.call("daemon/status")["clients"]["droppedSlow"])
    fast.close()
    observer.close()
    stalled.close()
    print(f"stalled subscriber disconnected after {disconnected_at:.1f} s")


def test_unsubscribe_ids_per_connection_and_cleanup(daemon, procs):
    server = helper("server"); procs.append(server)
    procs.append(helper("ticker", server.port))
    a = Subscriber(daemon, minInterval=0)
    b = Client(daemon)
    sid = a.state.sub
    with pytest.raises(RPCError) as err:
        b.call("topology/unsubscribe", {"subscription": sid})
    assert err.value.code == -32004
    # Notifications keep coming for a's subscription (the ticker changes its edge every refresh).
    count = a.state.count
    pump_until(a, lambda: a.state.count >= count + 2, what="notifications before unsubscribe")
    assert a.client.call("topology/unsubscribe", {"subscription": sid}) is None
    a.apply_queued()
    a.client.notes.clear()
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        a.client.pump(0.1)
    leftover = [n for n in a.client.notes if n["params"].get("subscription") == sid]
    assert not leftover, f"notifications after unsubscribe: {leftover[:1]}"
    with pytest.raises(RPCError) as err:
        a.client.call("topology/unsubscribe", {"subscription": sid})
    assert err.value.code == -32004
    # Closing a connection removes its subscriptions (view and node).
    c = Client(daemon)
    c.call("topology/subscribe", {"view": "processes"})
    c.call("topology/subscribe", {"view": "hosts", "filter": "!pseudo:true"})
    snap = c.call("topology/get", {"view": "processes"})
    server_node = next(n for n in snap["nodes"] if n["metadata"].get("pid") == server.pid)
    c.call("node/subscribe", {"view": "processes", "id": server_node["id"]})
    views, nodes = subscription_counts(b)
    assert views >= 2 and nodes >= 1
    c.close()
    a.close()
    deadline = time.monotonic() + WAIT
    while subscription_counts(b) != (0, 0):
        assert time.monotonic() < deadline, f"subscriptions left after close: {subscription_counts(b)}"
        time.sleep(0.1)
    b.close()


def test_node_subscribe_follows_connections(daemon, procs):
    server = helper("server"); procs.append(server)
    first = helper("client", server.port); procs.append(first)
    c = Client(daemon)
    deadline = time.monotonic() + WAIT
    while True:
        view = c.call("topology/get", {"view": "processes"})
        node = next((n for n in view["nodes"] if n["metadata"].get("pid") == server.pid), None)
        if node:
            break
        assert time.monotonic() < deadline, "server node never appeared"
        time.sleep(0.1)
    res = c.call("node/subscribe", {"view": "processes", "id": node["id"]})
    check_schema("/methods/node~1subscribe/result", res)
    check_schema("/methods/node~1get/result", c.call("node/get", {"view": "processes", "id": node["id"]}))
    assert set(res) >= {"subscription", "revision", "node"}
    details = res["node"]
    assert details["node"]["id"] == node["id"]
    sid, revision = res["subscription"], res["revision"]

    def inbound_ports(d):
        return {(r["remotePort"], r["closed"]) for r in d["inbound"]}

    second = helper("client", server.port); procs.append(second)
    want_open = (second.port, False)
    latest = details
    deadline = time.monotonic() + WAIT
    while want_open not in inbound_ports(latest):
        assert time.monotonic() < deadline, f"node/changed never showed the new connection: {inbound_ports(latest)}"
        c.pump(0.1)
        for n in c.notes:
            assert n["method"] == "node/changed" and n["params"]["subscription"] == sid
            check_schema("/notifications/node~1changed/params", n["params"])
            assert n["params"]["revision"] > revision
            revision = n["params"]["revision"]
            latest = n["params"]["node"]
        c.notes.clear()
    second.stop(kill=True)
    deadline = time.monotonic() + WAIT
    while (second.port, True) not in inbound_ports(latest):
        assert time.monotonic() < deadline, f"node/changed never marked the connection closed: {inbound_ports(latest)}"
        c.pump(0.1)
        for n in c.notes:
            assert n["params"]["revision"] > revision
            revision = n["params"]["revision"]
            latest = n["params"]["node"]
        c.notes.clear()
    with pytest.raises(RPCError) as err:
        c.call("node/subscribe", {"view": "processes", "id": "no-such-host;1"})
    assert err.value.code == -32004
    c.close()


# --------------------------------------------------------------------------------------------------
# A subscribe cancelled before its first render; a get answered before the first report.

def test_cancelled_subscribe_leaves_no_shared_view(daemon):
    observer = Client(daemon)
    observer.call("topology/get", {"view": "hosts"})  # the daemon has a report
    before = observer.call("daemon/status")["collectors"]["subscriptions"]["sharedViews"]
    c = Client(daemon)
    params = {"view": "hosts", "options": {"hidePseudo": True, "includeClosed": False}}  # a view nobody shares
    msgs = [{"jsonrpc": "2.0", "id": 1, "method": "topology/subscribe", "params": params},
            {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 1}}]
    c.sock.sendall(b"".join(json.dumps(m).encode() + b"\n" for m in msgs))  # one write: cancelled before the render
    with pytest.raises(RPCError) as err:
        c.wait_response(1)
    assert err.value.code == -32800
    c.close()
    deadline = time.monotonic() + 3
    while True:
        after = observer.call("daemon/status")["collectors"]["subscriptions"]["sharedViews"]
        if after <= before or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    observer.close()
    assert after <= before, f"{after - before} shared view(s) left with no subscriber"


def test_get_before_the_first_report_has_its_revision():
    d = Daemon("--refresh-ms", "200", collectors=True)
    try:
        c = Client(d)
        got = c.call("topology/get", {"view": "hosts"})
        report_rev = c.call("daemon/status")["collectors"]["host-map"]["revision"]
        c.close()
    finally:
        assert d.stop() == 0
    assert got["revision"] >= 1, f"topology/get answered with revision {got['revision']} (daemon at {report_rev})"
