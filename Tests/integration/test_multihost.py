"""Many hosts, one map (issue 11): real daemons, real kernel, real TLS.

Three test hosts on this machine (`nshosts.NamespaceHost`: own network, PID, mount and UTS namespaces, joined by
veth pairs to a bridge on 10.231.X.0/24), each running its own periscoped that sees only its host and
publishes to an aggregator in the root namespace over mutual TLS. A three-tier app spans them: a db server
on ph1, an app server on ph2 holding a connection to the db, a client on ph3 holding one to the app. The
aggregator's views must show exactly those process and host edges, none reversed, no remote pseudo node for
a monitored host. Then the faults: garbage on the report port, a certificate from another CA, a publisher
claiming another host's id, a publisher killed with SIGKILL (stale, then gone, others unaffected) and
restarted (back, no duplicates). Forwarding (SPEC 17.6-17.7): a control on another host's process run there,
refusals naming the side that refused, logs/exec pipes on another host's container, and TCP counters that
follow the aggregator's demand; views naming hosts where that disambiguates.

Every check is limited to the test hosts' nodes: the aggregator's own host is the whole machine, which also
sees the test hosts' processes from the root PID namespace (as its own, host-scoped; they must not merge).
The tests of the module run in order on one set of hosts (about 40-60 s; the link-down test holds 20 s).
"""
import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import zlib

import pytest

from multihost_cluster import EXPIRY_S, NAMES, REFRESH_MS, Aggregator, Cluster
from nshosts import PERISCOPED, NamespaceHost, Pki
from rpc import PEER_PRELUDE, Client, RPCError, wait_until

try:  # the status and the report-port messages are checked against protocol/schema.json
    from test_transcripts import validator_for
except Exception:  # jsonschema missing: checked without the schema
    validator_for = None


def check_schema(pointer, value):
    if validator_for is not None:
        errors = list(validator_for(pointer).iter_errors(value))
        assert not errors, f"{pointer}: {errors[0].message}"

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nsenter") or not shutil.which("unshare"),
                       reason="the multi-host tests need root, ip netns, unshare and nsenter"),
]

WAIT = 15.0

SERVER = PEER_PRELUDE + r'''
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1]))); srv.listen(16)
held = []
def serve():
    while True:
        c, _ = srv.accept(); held.append(c)
threading.Thread(target=serve, daemon=True).start()
upstream = None
if len(sys.argv) > 2:
    upstream = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=10)
ready(sys.argv[1])
wait_for_stdin_eof()
'''

CLIENT = PEER_PRELUDE + r'''
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
ready(c.getsockname()[1])
wait_for_stdin_eof()
'''


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def app(cluster):
    """db on ph1 (:5432), app on ph2 (:8080, connected to the db), client on ph3 (connected to the app)."""
    db = cluster.peer("ph1", SERVER, 5432)
    app = cluster.peer("ph2", SERVER, 8080, cluster.hosts["ph1"].address, 5432)
    client = cluster.peer("ph3", CLIENT, cluster.hosts["ph2"].address, 8080)
    return {"db": f"ph1;{db.pid}", "app": f"ph2;{app.pid}", "client": f"ph3;{client.pid}"}


def edges(view):
    return {(e["source"], e["target"]) for e in view["edges"]}


def test_three_tier_processes_view(cluster, app):
    def ready():
        view = cluster.view("processes")
        found = edges(view)
        return view if {(app["app"], app["db"]), (app["client"], app["app"])} <= found else None

    view = wait_until(ready, timeout=WAIT, what="the three-tier edges at the aggregator")
    ids = {n["id"]: n for n in view["nodes"]}
    for key in ("db", "app", "client"):
        assert not ids[app[key]]["pseudo"], ids[app[key]]
    found = edges(view)
    assert (app["db"], app["app"]) not in found and (app["app"], app["client"]) not in found, "an edge is reversed"
    addresses = {h.address for h in cluster.hosts.values()}
    remote = [n["id"] for n in view["nodes"] if n["kind"] == "remote" and n["metadata"].get("address") in addresses]
    assert remote == [], f"remote pseudo nodes for monitored hosts: {remote}"
    # Each test host's processes are its own: every ph node lies on its host.
    for node in view["nodes"]:
        if node["id"].split(";")[0] in NAMES:
            assert node["parents"].get("host") == [node["id"].split(";")[0]], node


def test_hosts_view_one_node_per_host_and_host_edges(cluster, app):
    def ready():
        view = cluster.view("hosts")
        return view if {("ph2", "ph1"), ("ph3", "ph2")} <= edges(view) else None

    view = wait_until(ready, timeout=WAIT, what="host-to-host edges")
    ids = [n["id"] for n in view["nodes"]]
    for name in NAMES:
        assert ids.count(name) == 1, ids
    assert ("ph1", "ph2") not in edges(view) and ("ph2", "ph3") not in edges(view), "a host edge is reversed"
    status = cluster.client.call("daemon/status")
    check_schema("/methods/daemon~1status/result", status)
    check_schema("/$defs/AggregatorHealth", status["collectors"]["aggregator"])
    health = status["collectors"]["aggregator"]
    for name in NAMES:
        host = health["hosts"][name]
        assert host["connected"] and not host["stale"], host
        assert host["bytesPerSecond"] > 0


def test_steady_state_sends_deltas_not_full_reports(cluster, app):
    """After the full report of a connection, a publisher sends revisioned deltas; the aggregator counts them."""
    first = wait_until(lambda: (h := cluster.health()) and all(h["hosts"].get(n, {}).get("deltas", 0) > 0 for n in NAMES) and h,
                       timeout=WAIT, what="deltas from every host")
    time.sleep(3)  # idle hosts still change every refresh (CPU and memory samples): deltas keep coming
    later = cluster.health()
    check_schema("/$defs/AggregatorHealth", later)
    for name in NAMES:
        before, after = first["hosts"][name], later["hosts"][name]
        assert after["deltas"] > before["deltas"], (name, after)
        assert after["fullReports"] == before["fullReports"], f"{name}: a full report in steady state: {after}"
        assert after["resends"] == 0 and after["deltaBytes"] > 0, after
        assert after["reports"] == after["fullReports"] + after["deltas"]
    publisher = Client(PublisherSocket(cluster, "ph1"))
    try:
        health = publisher.call("daemon/status")["collectors"]["publisher"]
        assert health["deltasSent"] > 0 and health["fullReportsSent"] >= 1, health
    finally:
        publisher.close()


class PublisherSocket:
    """The Unix socket of a test host's publishing daemon (its socket file lives in the cluster's directory)."""

    def __init__(self, cluster, name):
        self.socket_path = os.path.join(cluster.dir, f"{name}.sock")

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.socket_path)
        return s


def test_processes_by_name_groups_spanning_hosts_count_them(cluster, app):
    """The app's python3 processes run on all three test hosts: their processes-by-name group at the aggregator says
    how many hosts it spans, and which; each process in the processes view names its host."""
    def spanning():
        view = cluster.view("processes-by-name")
        group = {n["id"]: n for n in view["nodes"]}.get("group:python3")
        return group if group and set(NAMES) <= set(group["metadata"].get("hosts", [])) else None

    group = wait_until(spanning, timeout=WAIT, what="group:python3 spanning the test hosts")
    count = group["metadata"]["hostCount"]
    assert count == len(group["metadata"]["hosts"]) and count >= 3, group["metadata"]
    assert group["labelMinor"].endswith(f" on {count} hosts"), group["labelMinor"]
    nodes = {n["id"]: n for n in cluster.view("processes")["nodes"]}
    for key, host in (("db", "ph1"), ("app", "ph2"), ("client", "ph3")):
        assert nodes[app[key]]["metadata"]["host"] == host and nodes[app[key]]["labelMinor"].endswith(f" on {host}")


def test_garbage_on_the_report_port_is_refused_without_harm(cluster, app):
    before = cluster.health()
    host, port = cluster.aggregator.address.split(":")
    for payload in (b"GET / HTTP/1.0\r\n\r\n", os.urandom(4096), b"Content-Length: 99999999999\r\n\r\n"):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(payload)
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass
            except (ConnectionResetError, socket.timeout):
                pass
    after = wait_until(lambda: (h := cluster.health())["handshakeFailures"] >= before["handshakeFailures"] + 3 and h,
                       what="three refused handshakes")
    assert sorted(after["hosts"]) == NAMES and after["connections"] == 3
    assert all(not after["hosts"][n]["stale"] for n in NAMES)


def test_subscriber_at_the_aggregator_sees_a_change_on_a_host(cluster, app):
    sub = Client(cluster.aggregator)
    try:
        sub.call("topology/subscribe", {"view": "processes", "minInterval": 0})
        started = time.monotonic()
        extra = cluster.peer("ph3", CLIENT, cluster.hosts["ph2"].address, 8080)
        wanted = (f"ph3;{extra.pid}", app["app"])

        def seen():
            sub.pump(0.1)
            return any(n["method"] == "topology/changed"
                       and wanted in {(e["source"], e["target"]) for e in n["params"]["added"]["edges"]}
                       for n in sub.notes)

        wait_until(seen, timeout=WAIT, what="the new cross-host edge in topology/changed")
        print(f"change on ph3 -> subscriber at the aggregator: {1000 * (time.monotonic() - started):.0f} ms")
    finally:
        sub.close()


CONTROL_DISABLED = -32010


def process_ids(cluster):
    return {n["id"] for n in cluster.client.view("processes", {"all": True})["nodes"]}


def wait_node(cluster, node):
    wait_until(lambda: node in process_ids(cluster), timeout=WAIT, what=f"{node} at the aggregator")


def read_log(cluster, name):
    with open(os.path.join(cluster.dir, f"{name}.log")) as f:
        return f.read()


def test_control_on_a_remote_host_is_forwarded(cluster, app):
    """`signal` on a process of ph1 (controls on at the aggregator and on ph1) is run by ph1's daemon: the process
    dies, its node leaves the aggregator's map, and both daemons audit it."""
    victim = cluster.peer("ph1", SERVER, 9901)
    node = f"ph1;{victim.pid}"
    wait_node(cluster, node)
    started = time.monotonic()
    result = cluster.client.call("control/invoke", {"node": node, "control": "signal", "args": {"signal": "KILL"}})
    print(f"forwarded control/invoke round trip: {1000 * (time.monotonic() - started):.1f} ms")
    assert result == {"node": node, "control": "signal", "ok": True, "signal": "KILL"}, result
    wait_until(lambda: victim.proc.poll() is not None, timeout=WAIT, what="the signalled process on ph1 to end")
    wait_until(lambda: node not in process_ids(cluster), timeout=WAIT, what=f"{node} gone from the aggregator")
    log = read_log(cluster, "ph1")
    assert f"forwarded control signal on {node} from aggregator" in log, log[-2000:]
    assert f"control signal on {node} (KILL) by session" in log and "(forwarded, " in log, log[-2000:]
    log = read_log(cluster, "aggregator")
    assert f"forwarded control signal on {node} (host ph1) by session" in log, log[-2000:]


def test_control_refused_by_the_publisher_or_the_aggregator_says_which(cluster, app):
    """ph2 runs without --controls: its refusal names ph2 and the publisher side; the process lives. `stop` is not
    enabled at the aggregator: refused there, naming the aggregator, before anything is sent."""
    survivor = cluster.peer("ph2", SERVER, 9902)
    node = f"ph2;{survivor.pid}"
    wait_node(cluster, node)
    with pytest.raises(RPCError) as refused:
        cluster.client.call("control/invoke", {"node": node, "control": "signal", "args": {"signal": "KILL"}})
    assert refused.value.code == CONTROL_DISABLED, refused.value
    assert "refused by host ph2" in refused.value.message, refused.value.message
    assert refused.value.data["side"] == "publisher" and refused.value.data["host"] == "ph2", refused.value.data
    time.sleep(1)
    assert survivor.proc.poll() is None, "a refused control acted"
    assert f"control signal on {node} by session" in read_log(cluster, "ph2")  # audited where it was refused too
    with pytest.raises(RPCError) as refused:
        cluster.client.call("control/invoke", {"node": app["db"], "control": "stop"})
    assert refused.value.code == CONTROL_DISABLED and "refused by the aggregator" in refused.value.message
    assert refused.value.data["side"] == "aggregator", refused.value.data
    assert f"forwarding control stop on {app['db']} (host ph1) by session" in read_log(cluster, "aggregator")


ECHO_SERVER = PEER_PRELUDE + r'''
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1]))); srv.listen(4)
held = []
def serve():
    while True:
        c, _ = srv.accept(); held.append(c); c.sendall(c.recv(64))
threading.Thread(target=serve, daemon=True).start()
ready(sys.argv[1])
wait_for_stdin_eof()
'''

ECHO_CLIENT = PEER_PRELUDE + r'''
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
c.sendall(b"hello"); c.recv(64)
ready(c.getsockname()[1])
wait_for_stdin_eof()
'''


def host_map_status(cluster, name):
    """`daemon/status` host-map health of a test host's own daemon (its Unix socket; no view asked there)."""
    return status_at(os.path.join(cluster.dir, f"{name}.sock"))["collectors"]["host-map"]


def status_at(path):
    """`daemon/status` of the daemon serving the Unix socket `path`."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon/status"}\n')
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            assert chunk, "the host's daemon closed the connection"
            data += chunk
    return json.loads(data)["result"]


def test_tcp_counters_follow_the_aggregators_demand(cluster, app):
    """A publisher with no client of its own collects TCP counters only while the aggregator's clients look
    (report/demand): ph2 is out of demand once nobody asked the aggregator for 10 s, in demand soon after a
    view is asked there, and the aggregator then shows the byte counts of ph2's connection."""
    cluster.peer("ph1", ECHO_SERVER, 7007)
    client = cluster.peer("ph2", ECHO_CLIENT, cluster.hosts["ph1"].address, 7007)
    wait_until(lambda: not host_map_status(cluster, "ph2")["inDemand"], timeout=30, interval=0.5,
               what="ph2 out of demand once the aggregator's clients stopped looking")
    cluster.view("hosts")
    wait_until(lambda: host_map_status(cluster, "ph2")["inDemand"], timeout=5,
               what="ph2 in demand after a view at the aggregator")
    node = f"ph2;{client.pid}"

    def counted():
        try:
            details = cluster.client.call("node/get", {"view": "processes", "id": node})
        except RPCError as e:  # not in the aggregator's map yet
            assert e.code == -32004, e
            return None
        rows = [r for r in details.get("outbound", []) if r.get("remotePort") == 7007 and not r["closed"]]
        return rows if rows and rows[0].get("bytesSent", 0) >= 5 and rows[0].get("bytesReceived", 0) >= 5 else None

    rows = wait_until(counted, timeout=WAIT, what="byte counters of ph2's connection at the aggregator")
    # 5 bytes each way ("hello" echoed); a sender's own count may include the SYN (bytes_acked), hence <= 6.
    assert 5 <= rows[0]["bytesSent"] <= 6 and 5 <= rows[0]["bytesReceived"] <= 6, rows


def tls_to_aggregator(cluster, name):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(f"{cluster.pki.dir}/ca.crt")
    context.load_cert_chain(f"{cluster.pki.dir}/{name}.crt", f"{cluster.pki.dir}/{name}.key")
    host, port = cluster.aggregator.address.split(":")
    return context.wrap_socket(socket.create_connection((host, int(port)), timeout=5))


def read_until_closed(s):
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except (ConnectionResetError, ssl.SSLError, socket.timeout):
        pass
    return data


def test_oversized_and_bad_frames_over_valid_tls_are_refused_without_harm(cluster, app):
    cluster.pki.issue("ph9")
    before = cluster.health()["refused"]
    with tls_to_aggregator(cluster, "ph9") as s:
        s.sendall(b"Content-Length: 99999999999\r\n\r\n")
        reply = read_until_closed(s)
        assert b"report/refused" in reply
        check_schema("/$defs/ReportPortMessage", json.loads(reply.split(b"\r\n\r\n", 1)[1]))
    body = b'{"jsonrpc":"2.0","method":"report/publish","params":{"host":"ph9","revision":1,"encoding":"zlib-stream","data":"eJzLSM3JyQcABiwCFQ=="}}'
    with tls_to_aggregator(cluster, "ph9") as s:
        s.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        assert b"bad report" in read_until_closed(s)
    health = wait_until(lambda: (h := cluster.health())["refused"] >= before + 2 and h, what="two refusals")
    assert "ph9" not in health["hosts"]
    assert all(health["hosts"][n]["connected"] and not health["hosts"][n]["stale"] for n in NAMES)


def publisher_in_root(cluster, hostname, files):
    """A publisher in the root namespace with its own hostname (UTS namespace)."""
    log = open(os.path.join(cluster.dir, f"root-{hostname}.log"), "w")
    proc = subprocess.Popen(["unshare", "--uts", "sh", "-c", f'hostname {hostname} && exec "$@"', "sh", PERISCOPED,
                             "--no-socket", "--publish", cluster.aggregator.address, "--refresh-ms", str(REFRESH_MS),
                             *files], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    return proc, log


def test_certificate_from_another_ca_is_refused(cluster):
    other = Pki(os.path.join(cluster.dir, "other-ca"))
    files = other.issue("ph7")
    before = cluster.health()["handshakeFailures"]
    proc, log = publisher_in_root(cluster, "ph7", files)
    try:
        wait_until(lambda: cluster.health()["handshakeFailures"] > before, what="the handshake refusal")
        time.sleep(1)
        assert "ph7" not in cluster.health()["hosts"]
        assert "ph7" not in {n["id"] for n in cluster.view("hosts")["nodes"]}
    finally:
        proc.kill()
        proc.wait()
        log.close()


def test_publisher_claiming_another_host_is_refused(cluster):
    files = cluster.pki.issue("ph8")  # a valid certificate, for ph8; the daemon's hostname says ph1
    before = cluster.health()["refused"]
    proc, log = publisher_in_root(cluster, "ph1", files)
    try:
        health = wait_until(lambda: (h := cluster.health())["refused"] > before and h, what="the claim refusal")
        assert "does not name host ph1" in health.get("lastError", "")
        assert health["hosts"]["ph1"]["connected"] and not health["hosts"]["ph1"]["stale"]
    finally:
        proc.kill()
        proc.wait()
        log.close()


def test_aggregator_restart_publishers_reconnect_within_5s(cluster, app):
    cluster.client.close()
    cluster.aggregator.stop()
    cluster.aggregator = Aggregator(cluster.dir, cluster.pki, cluster.bridge, port=cluster.aggregator.port)
    cluster.client = Client(cluster.aggregator)
    started = time.monotonic()

    def full():
        view = cluster.view("processes")
        return {(app["app"], app["db"]), (app["client"], app["app"])} <= edges(view)

    wait_until(full, timeout=WAIT, what="the full map after the aggregator restarted")
    assert time.monotonic() - started < 5, "the map took longer than 5 s to come back"
    assert sorted(n for n, h in cluster.health()["hosts"].items() if h["connected"]) == NAMES


def test_link_down_20s_then_up(cluster, app):
    """ph1's veth goes down for 20 s: ph1 turns stale (others do not), expires, and is back once the link is up."""
    cluster.hosts["ph1"].link(False)
    down = time.monotonic()
    try:
        wait_until(lambda: cluster.health()["hosts"].get("ph1", {}).get("stale", True), timeout=WAIT,
                   what="ph1 stale while its link is down")
        others = cluster.health()["hosts"]
        assert not others["ph2"]["stale"] and not others["ph3"]["stale"]
        time.sleep(max(0, 20 - (time.monotonic() - down)))
    finally:
        cluster.hosts["ph1"].link(True)
    up = time.monotonic()

    def back():
        host = cluster.health()["hosts"].get("ph1")
        return host and host["connected"] and not host["stale"] and (app["app"], app["db"]) in edges(cluster.view("processes"))

    wait_until(back, timeout=WAIT, what="ph1 back after its link came up")
    print(f"ph1 back {time.monotonic() - up:.1f} s after its link came up")
    assert [n["id"] for n in cluster.view("hosts")["nodes"]].count("ph1") == 1


def test_killed_publisher_goes_stale_then_away_and_comes_back(cluster, app):
    cluster.kill_daemon("ph3")
    killed = time.monotonic()

    def stale():
        nodes = {n["id"]: n for n in cluster.view("processes")["nodes"]}
        return nodes.get(app["client"], {}).get("metadata", {}).get("stale")

    wait_until(stale, timeout=WAIT, what="ph3's nodes turning stale")
    assert time.monotonic() - killed < EXPIRY_S
    nodes = {n["id"]: n for n in cluster.view("processes")["nodes"]}
    assert not nodes[app["app"]]["metadata"].get("stale") and not nodes[app["db"]]["metadata"].get("stale")
    hosts = {n["id"]: n for n in cluster.view("hosts")["nodes"]}
    assert hosts["ph3"]["metadata"].get("stale") is True and not hosts["ph2"]["metadata"].get("stale")

    wait_until(lambda: "ph3" not in {n["id"] for n in cluster.view("hosts")["nodes"]}, timeout=WAIT,
               what="ph3 expiring")
    view = cluster.view("processes")
    assert not [n["id"] for n in view["nodes"] if n["id"].startswith("ph3;")]
    assert (app["app"], app["db"]) in edges(view), "other hosts are unaffected"

    cluster.start_daemon("ph3")

    def back():
        view = cluster.view("processes")
        return view if (app["client"], app["app"]) in edges(view) else None

    view = wait_until(back, timeout=WAIT, what="ph3 back")
    ids = [n["id"] for n in view["nodes"]]
    assert ids.count(app["client"]) == 1
    assert not {n["id"]: n for n in view["nodes"]}[app["client"]]["metadata"].get("stale")
    assert [n["id"] for n in cluster.view("hosts")["nodes"]].count("ph3") == 1


class FakePublisher:
    """A publisher speaking the report port by hand (real TLS, real zlib stream), so a test can lose a delta."""

    def __init__(self, cluster, name):
        self.name, self.tls = name, tls_to_aggregator(cluster, name)
        self.zlib = zlib.compressobj(6)
        self.buffer = b""

    def send(self, method, data, **params):
        packed = self.zlib.compress(json.dumps(data).encode()) + self.zlib.flush(zlib.Z_SYNC_FLUSH)
        message = {"jsonrpc": "2.0", "method": method, "params": {
            "host": self.name, "refreshMs": 500, "encoding": "zlib-stream", "data": base64.b64encode(packed).decode(), **params}}
        check_schema("/$defs/ReportPortMessage", message)
        body = json.dumps(message).encode()
        self.tls.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def expect(self, method, timeout=WAIT):
        """The next report message from the aggregator (it must be `method`); `report/demand` is skipped."""
        message = self.next(timeout)
        assert message is not None, f"no {method} within {timeout} s"
        assert message["method"] == method, message
        return message["params"]

    def next(self, timeout):
        """The next message other than `report/demand` within `timeout` s, or None."""
        end = time.monotonic() + timeout
        while True:
            while b"\r\n\r\n" in self.buffer and len(self.buffer.split(b"\r\n\r\n", 1)[1]) >= self.length():
                rest = self.buffer.split(b"\r\n\r\n", 1)[1]
                body, self.buffer = rest[:self.length()], rest[self.length():]
                message = json.loads(body)
                check_schema("/$defs/ReportPortMessage", message)
                if message["method"] != "report/demand":
                    return message
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.tls.settimeout(left)
            try:
                chunk = self.tls.recv(65536)
            except (socket.timeout, TimeoutError):
                return None
            assert chunk, "the aggregator closed the connection"
            self.buffer += chunk

    def alive(self, revision):
        """A heartbeat at `revision`, acknowledged (keeps the fake host from going stale while a test polls)."""
        message = {"jsonrpc": "2.0", "method": "report/heartbeat", "params": {"host": self.name, "revision": revision, "refreshMs": 500}}
        body = json.dumps(message).encode()
        self.tls.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        assert self.expect("report/ack")["revision"] == revision

    def length(self):
        head = self.buffer.split(b"\r\n\r\n", 1)[0].decode()
        return int(head.split(":", 1)[1])

    def silent(self, seconds):
        """Nothing but `report/demand` comes from the aggregator for `seconds`."""
        return self.next(seconds) is None


def fake_node(nid, topology, name):
    return {"id": nid, "topology": topology, "latest": {"name": {"timestamp": time.time(), "value": name}},
            "sets": {}, "adjacency": [], "parents": {}, "metrics": {}}


def fake_report(host, pids):
    return {"topologies": {"host": {"nodes": {host: fake_node(host, "host", host)}},
                           "process": {"nodes": {f"{host};{p}": fake_node(f"{host};{p}", "process", f"p{p}") for p in pids}}}}


def fake_delta(host, add=(), remove=()):
    return {"topologies": {"process": {"nodes": {f"{host};{p}": fake_node(f"{host};{p}", "process", f"p{p}") for p in add}}},
            "removed": {"process": [f"{host};{p}" for p in remove]}}


def test_a_gap_makes_the_aggregator_ask_for_the_full_report_and_converge(cluster, app):
    """A delta lost on the way: the next one does not build on the revision the aggregator holds. It must ask for
    the full report (report/resend), apply nothing until it comes, and then hold exactly the publisher's map."""
    cluster.pki.issue("ph6")
    held = lambda: (lambda h: h and (h["revision"], h["nodes"]))(cluster.health()["hosts"].get("ph6"))
    processes = lambda: {i for i in cluster.client.call("report/get")["report"]["topologies"]["process"]["nodes"] if i.startswith("ph6;")}
    fake = FakePublisher(cluster, "ph6")
    try:
        fake.send("report/publish", fake_report("ph6", [1, 2]), revision=1)
        assert fake.expect("report/ack")["revision"] == 1
        fake.send("report/delta", fake_delta("ph6", add=[3], remove=[2]), base=1, revision=2)
        assert fake.expect("report/ack")["revision"] == 2
        wait_until(lambda: fake.alive(2) or held() == (2, 3), what="the delta applied (host node and two processes)")
        # Revisions 3..5 are lost: this delta builds on 5.
        fake.send("report/delta", fake_delta("ph6", add=[9], remove=[1]), base=5, revision=6)
        assert fake.expect("report/resend")["revision"] == 2, "the aggregator names the revision it holds"
        fake.send("report/delta", fake_delta("ph6", add=[10]), base=6, revision=7)  # before the full report: ignored
        assert fake.silent(1.5), "one resend per gap, no ack for a delta that builds on what is not held"
        health = cluster.health()["hosts"]["ph6"]
        assert (health["revision"], health["nodes"]) == (2, 3), f"nothing after the gap was applied: {health}"
        assert (health["resends"], health["ignoredDeltas"], health["revision"]) == (1, 1, 2), health
        # The full report: the aggregator converges to the publisher's map (no leftovers of 1, 3 or 9, 10).
        fake.send("report/publish", fake_report("ph6", [4, 9, 10]), revision=8)
        assert fake.expect("report/ack")["revision"] == 8
        fake.send("report/delta", fake_delta("ph6", add=[11], remove=[4]), base=8, revision=9)
        assert fake.expect("report/ack")["revision"] == 9
        wait_until(lambda: fake.alive(9) or held() == (9, 4), what="the full report and the delta after it applied")
        time.sleep(0.5)  # the merged map follows within 250 ms; report/get answers for the map at its request
        fake.alive(9)
        assert processes() == {"ph6;9", "ph6;10", "ph6;11"}, "the aggregator's map is the publisher's"
        health = cluster.health()["hosts"]["ph6"]
        assert (health["fullReports"], health["deltas"], health["revision"]) == (2, 2, 9), health
        assert all(cluster.health()["hosts"][n]["resends"] == 0 for n in NAMES), "other hosts unaffected"
    finally:
        fake.tls.close()


@pytest.mark.timeout(240)
def test_pipes_on_another_hosts_container_are_forwarded(cluster):
    """A fourth test host, pf1 (own network, PID, mount and UTS namespaces), whose daemon allows controls and
    follows a Podman engine of the machine through its API socket (the container's processes are outside pf1's
    PID namespace; the container node and its pipes need only the engine); the aggregator has no engine. `logs` and `exec` on that container at the aggregator open pipes on
    pf1 whose data comes back through the link: the container's output, an interactive shell's echo, a resize,
    the exit code at the end. The pipe is the calling connection's only, and both daemons audit the calls."""
    from test_containers import Stack, b64, read_pipe
    if shutil.which("podman") is None or shutil.which("runc") is None or not os.path.exists("/bin/busybox"):
        pytest.skip("podman, runc and busybox-static are not installed (scripts/setup.sh --test)")
    stack = Stack()
    stack.images = {"app": stack.images["app"]}
    proc = log = pf1 = None
    client = None
    try:
        stack.build_images()
        stack.start_service()
        cid = stack.start("fwd", "app", "echo hello-$((6*7)); exec sleep 100000")
        files = cluster.pki.issue("pf1")
        pf1_socket = os.path.join(cluster.dir, "pf1.sock")
        pf1 = NamespaceHost(cluster.bridge, len(NAMES) + 1, "pf1")
        log = open(os.path.join(cluster.dir, "pf1.log"), "w")
        # A 2 s refresh: pf1 gives the aggregator 10 s (5 intervals) to answer before it takes the link for dead,
        # which a loaded machine moving a flood through the aggregator's loop can need.
        proc, _ = pf1.run([PERISCOPED, "--socket", pf1_socket, "--publish", cluster.aggregator.address,
                           "--refresh-ms", "2000", "--controls", "--docker-socket", stack.socket, *files],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        node = f"container:{cid}"
        wait_until(lambda: node in {n["id"] for n in cluster.view("containers")["nodes"]}, timeout=60,
                   what="pf1's container at the aggregator")
        container = {n["id"]: n for n in cluster.view("containers")["nodes"]}[node]
        assert container["metadata"]["host"] == "pf1" and container["labelMinor"].endswith(" on pf1"), container
        client = Client(cluster.aggregator)
        pipe = client.call("control/invoke", {"node": node, "control": "logs", "args": {"follow": False}})["pipe"]
        data, end = read_pipe(client, pipe, eof=True, timeout=WAIT)
        assert b"hello-42" in data and end["eof"], (data, end)

        pipe = client.call("control/invoke", {"node": node, "control": "exec"})["pipe"]
        client.call("pipe/write", {"pipe": pipe, "data": b64("echo forwarded-$((6*7))\n")})
        read_pipe(client, pipe, until=b"forwarded-42", timeout=WAIT)
        assert client.call("pipe/resize", {"pipe": pipe, "rows": 33, "cols": 99}) is None
        client.call("pipe/write", {"pipe": pipe, "data": b64("stty size\n")})
        read_pipe(client, pipe, until=b"33 99", timeout=WAIT)
        with pytest.raises(RPCError) as other:
            cluster.client.call("pipe/write", {"pipe": pipe, "data": b64("echo nope\n")})
        assert other.value.code == -32004, other.value
        client.call("pipe/write", {"pipe": pipe, "data": b64("exit 3\n")})
        data, end = read_pipe(client, pipe, eof=True, timeout=WAIT)
        assert end["eof"] is True and end.get("exitCode") == 3, (data, end)

        # Backpressure reaches the engine on pf1: while the aggregator's client does not read, pf1's pipe pauses
        # (forward/backlog); the aggregator neither drops the client nor buffers without bound; reading resumes it.
        def pf1_pipes():
            return status_at(pf1_socket)["collectors"]["pipes"]

        dropped = cluster.client.call("daemon/status")["clients"]["droppedSlow"]
        flood = Client(cluster.aggregator)
        flooding = flood.call("control/invoke", {"node": node, "control": "exec",
                                                 "args": {"command": ["yes", "periscope-flood-" + "x" * 100]}})["pipe"]
        wait_until(lambda: pf1_pipes()["paused"] == 1, timeout=WAIT, interval=0.1,
                   what="pf1's pipe paused while the aggregator's client does not read")
        time.sleep(1.0)
        sent = pf1_pipes()["bytesOut"]
        time.sleep(1.0)
        assert pf1_pipes()["bytesOut"] == sent, "pf1 kept reading its engine while the client did not read"
        assert cluster.client.call("daemon/status")["clients"]["droppedSlow"] == dropped
        deadline = time.monotonic() + 60  # generous: a loaded machine moves this pipe at well under 1 MB/s
        resumed = time.monotonic()
        while pf1_pipes()["bytesOut"] < sent + (2 << 20):
            assert time.monotonic() < deadline, "the forwarded pipe did not resume"
            assert flood.pump(0.05), "the aggregator closed the connection"
            flood.notes.clear()
        moved = pf1_pipes()["bytesOut"] - sent
        print(f"forwarded exec pipe while read: {moved / (time.monotonic() - resumed) / 1e6:.1f} MB/s")
        flood.call("pipe/close", {"pipe": flooding}, timeout=30)
        flood.close()

        # A client that leaves takes its forwarded pipes with it (forward/release): pf1 closes its exec.
        leaving = Client(cluster.aggregator)
        leaving.call("control/invoke", {"node": node, "control": "exec"})
        before = read_log(cluster, "pf1").count("closed: client disconnected")
        leaving.close()
        wait_until(lambda: read_log(cluster, "pf1").count("closed: client disconnected") > before, timeout=WAIT,
                   what="pf1 closing the pipe of a client that left the aggregator")

        assert f"forwarded control exec on {node} from aggregator" in read_log(cluster, "pf1")
        audit = read_log(cluster, "aggregator")
        assert f"forwarded control exec on {node} (host pf1) by session" in audit and "pipe p" in audit
    finally:
        if client:
            client.close()
        if pf1:
            pf1.remove()  # its daemon goes with the namespace's PID 1
        if proc:
            proc.wait(timeout=10)
        if log:
            log.close()
        stack.cleanup()
