"""The report bus (issue 15): real daemons through a real 3-node NATS JetStream cluster.

The test starts three `nats-server` processes with JetStream on loopback ports (own store directories, a
cluster among them, a token required), three publishers and two aggregators. Every daemon is a real periscoped
in its own UTS namespace (`unshare --uts`), so its host id is the hostname given there (nb-p1 ... nb-a2); they
share the machine's network and processes otherwise, so each host's report holds the same processes under its
own host id — enough to tell hosts apart and compare maps, not a multi-machine topology (test_multihost does
that).

The stream keeps KEEP messages per host, so publishers send a full report every KEEP messages and revisioned
deltas in between. Then, in order on one cluster: both aggregators show the same hosts and the same process
nodes; a NATS node is killed (publishing goes on, maps stay equal) and comes back; an aggregator is killed and a
fresh one rebuilds the full map from the stream within 5 s while every publisher is paused (nothing resent: the
newest full report and the deltas after it), and again while deltas flow; a delta that does not follow (a gap)
leaves its host awaiting its next full report, which heals it; the whole cluster is down for 20 s (daemons serve
their last map and say so, then recover); a publisher without the token is refused. Last, on a single TLS server of its own that verifies client certificates: a publisher and an
aggregator with certificates share the map, a daemon without one is refused. About 90 s.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import zlib

import pytest

from conftest import free_port
from nshosts import PERISCOPED, Pki
from rpc import Client, wait_until

try:  # the status is checked against protocol/schema.json
    from test_transcripts import validator_for
except Exception:  # jsonschema missing: checked without the schema
    validator_for = None

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nats-server") or not shutil.which("unshare"),
                       reason="the bus tests need root (UTS namespaces), unshare and nats-server (scripts/setup.sh --test)"),
]

PUBLISHERS = ["nb-p1", "nb-p2", "nb-p3"]
AGGREGATORS = ["nb-a1", "nb-a2"]
REFRESH_MS = 1000
TOKEN = "periscope-bus-test-token"
WAIT = 45.0  # JetStream's leader elections take seconds, more on a loaded machine
KEEP = 8  # messages kept per host (--bus-keep): a full report every 8 messages, about every 8 s


def check_schema(pointer, value):
    if validator_for is not None:
        errors = list(validator_for(pointer).iter_errors(value))
        assert not errors, f"{pointer}: {errors[0].message}"


class NatsCluster:
    """Three nats-server nodes with JetStream, clustered on loopback; each can be stopped and started again."""

    def __init__(self, workdir):
        self.dir = workdir
        self.ports = [free_port() for _ in range(3)]
        self.cluster_ports = [free_port() for _ in range(3)]
        self.monitor_ports = [free_port() for _ in range(3)]
        self.procs = [None, None, None]
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.cluster_ports)
        for i in range(3):
            with open(self.config(i), "w") as f:
                f.write(f"""server_name: nb{i}
listen: 127.0.0.1:{self.ports[i]}
http: 127.0.0.1:{self.monitor_ports[i]}
jetstream {{ store_dir: "{workdir}/js{i}" }}
cluster {{ name: periscope-test, listen: 127.0.0.1:{self.cluster_ports[i]}, routes: [{routes}] }}
authorization {{ token: "{TOKEN}" }}
""")
        for i in range(3):
            self.start(i)

    def config(self, i):
        return os.path.join(self.dir, f"nats{i}.conf")

    @property
    def urls(self):
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.ports)

    def start(self, i):
        log = open(os.path.join(self.dir, f"nats{i}.log"), "a")
        self.procs[i] = subprocess.Popen(["nats-server", "-c", self.config(i)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        log.close()

    def settled(self):
        """Every node runs and all agree on a JetStream metadata leader whose followers are current (after a
        node or the whole cluster came back, JetStream's API times out until then)."""
        leaders = set()
        for i, port in enumerate(self.monitor_ports):
            if self.procs[i] is None:
                return False
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/jsz", timeout=2) as r:
                    meta = json.load(r).get("meta_cluster") or {}
            except (OSError, ValueError):
                return False
            if not meta.get("leader") or not all(p.get("current") for p in meta.get("replicas") or []):
                return False
            leaders.add(meta["leader"])
        return len(leaders) == 1

    def stop(self, i, sig=signal.SIGKILL):
        proc, self.procs[i] = self.procs[i], None
        if proc is not None:
            proc.send_signal(sig)
            proc.wait(timeout=15)

    def close(self):
        for i in range(3):
            self.stop(i, signal.SIGTERM)


class BusDaemon:
    """A periscoped with its own host id (hostname in a UTS namespace of its own) on the bus."""

    def __init__(self, workdir, host, urls, aggregate=False, token=True, extra=()):
        self.host = host
        self.socket_path = os.path.join(workdir, f"{host}.sock")
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        argv = [PERISCOPED, "--socket", self.socket_path, "--history", "off", "--refresh-ms", str(REFRESH_MS),
                "--bus", urls, "--bus-keep", str(KEEP)]
        if token:
            argv += ["--bus-token-file", os.path.join(workdir, "token")]
        if aggregate:
            argv.append("--aggregate")
        argv += list(extra)
        self.stderr_path = os.path.join(workdir, f"{host}.log")  # rpc's failure messages quote it
        self.log = open(self.stderr_path, "a")
        # unshare execs sh, which execs periscoped: the Popen's pid is the daemon's.
        self.proc = subprocess.Popen(["unshare", "--uts", "sh", "-c", f'hostname "$0" && exec "$@"', host, *argv],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        wait_until(lambda: os.path.exists(self.socket_path), timeout=WAIT, what=f"{host}'s socket")
        self.client = Client(self)

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.socket_path)
        return s

    def bus(self):
        return self.client.call("daemon/status")["collectors"]["bus"]

    def view_ids(self, view):
        return {n["id"] for n in self.client.call("topology/get", {"view": view})["nodes"]}

    def stop(self, sig=signal.SIGTERM):
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=15)
        self.log.close()
        return code


class Setup:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="periscope-nats-")
        with open(os.path.join(self.dir, "token"), "w") as f:
            f.write(TOKEN + "\n")
        self.nats = NatsCluster(self.dir)
        self.daemons = {}
        for host in PUBLISHERS:
            self.start(host)
        for host in AGGREGATORS:
            self.start(host, aggregate=True)

    def start(self, host, **kw):
        self.daemons[host] = BusDaemon(self.dir, host, self.nats.urls, **kw)
        return self.daemons[host]

    def aggregators(self):
        return [self.daemons[h] for h in AGGREGATORS]

    def close(self):
        for daemon in self.daemons.values():
            try:
                daemon.stop(signal.SIGKILL)
            except Exception:
                pass
        self.nats.close()


@pytest.fixture(scope="module")
def bus():
    s = Setup()
    try:
        yield s
    finally:
        s.close()
        if os.environ.get("PERISCOPE_KEEP_TEST_DIRS"):
            print(f"logs and stores kept in {s.dir}")
        else:
            shutil.rmtree(s.dir, ignore_errors=True)


ALL_HOSTS = set(PUBLISHERS) | set(AGGREGATORS)


def nats_publish(port, subject, body, headers):
    """Publishes one message with headers over the plain NATS protocol (the stream captures it), as another
    client with the token would; returns once the server has processed it (PING/PONG)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.recv(4096)  # INFO
        connect = {"verbose": False, "pedantic": False, "headers": True, "auth_token": TOKEN}
        head = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        s.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\n"
                  + f"HPUB {subject} {len(head)} {len(head) + len(body)}\r\n".encode() + head.encode() + body
                  + b"\r\nPING\r\n")
        seen = b""
        while b"PONG" not in seen:
            chunk = s.recv(4096)
            assert chunk and b"-ERR" not in chunk, f"NATS refused the publish: {seen + chunk!r}"
            seen += chunk


def remote_revisions(aggregator):
    return {h: v["revision"] for h, v in aggregator.bus().get("hosts", {}).items() if h in PUBLISHERS}


LAST_DIFFERENCE = []


def maps_equal(bus):
    """Both aggregators hold the same revision of every publisher, and then the same process nodes of it."""
    a, b = bus.aggregators()
    ra, rb = remote_revisions(a), remote_revisions(b)
    LAST_DIFFERENCE[:] = [("revisions", ra, rb)]
    if set(ra) != set(PUBLISHERS) or ra != rb:
        return False
    pa = {i for i in a.view_ids("processes") if i.split(";")[0] in PUBLISHERS}
    pb = {i for i in b.view_ids("processes") if i.split(";")[0] in PUBLISHERS}
    if remote_revisions(a) != ra or remote_revisions(b) != rb:
        return False  # a report arrived while we looked: try again
    LAST_DIFFERENCE[:] = [("processes", sorted(pa - pb)[:5], sorted(pb - pa)[:5])]
    return pa == pb and all(any(i.startswith(h + ";") for i in pa) for h in PUBLISHERS)


def wait_equal(bus, what):
    try:
        wait_until(lambda: maps_equal(bus), timeout=WAIT, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}; last difference: {LAST_DIFFERENCE}") from None


def all_hosts_shown(daemon):
    return ALL_HOSTS <= daemon.view_ids("hosts")


def test_aggregators_show_every_host_the_same(bus):
    for aggregator in bus.aggregators():
        wait_until(lambda: all_hosts_shown(aggregator), timeout=WAIT, what=f"every host in {aggregator.host}'s hosts view")
    wait_equal(bus, "equal maps at both aggregators")
    for aggregator in bus.aggregators():
        health = aggregator.bus()
        check_schema("/$defs/BusHealth", health)
        assert health["state"] == "ok" and health["connection"] == "connected" and health["streamReady"]
        assert health["role"] == "publisher+aggregator" and health["consumer"]["subscribed"]
        assert health["subject"] == f"periscope.report.{aggregator.host}"
        wait_until(lambda: not any(v["stale"] for v in aggregator.bus()["hosts"].values()), timeout=WAIT,
                   what=f"no stale host at {aggregator.host}")
    for host in PUBLISHERS:
        health = bus.daemons[host].bus()
        check_schema("/$defs/BusHealth", health)
        assert health["role"] == "publisher" and "consumer" not in health and "hosts" not in health
        wait_until(lambda: bus.daemons[host].bus()["acknowledged"] >= 2, timeout=WAIT, what=f"{host}'s acknowledged publishes")
    # A publisher's view is its own host only: publishing does not aggregate.
    assert bus.daemons["nb-p1"].view_ids("hosts") == {"nb-p1"}


def test_one_nats_node_down_changes_nothing(bus):
    before = {h: bus.daemons[h].bus()["acknowledged"] for h in PUBLISHERS}
    bus.nats.stop(2)
    try:
        # Publishing continues (every publisher's reports acknowledged by the remaining quorum) ...
        wait_until(lambda: all(bus.daemons[h].bus()["acknowledged"] >= before[h] + 3 for h in PUBLISHERS),
                   timeout=WAIT, what="publishes acknowledged with a node down")
        # ... and both aggregators follow every publisher's newer reports, equally.
        revisions = remote_revisions(bus.aggregators()[0])
        wait_until(lambda: all(remote_revisions(a).get(h, -1) > revisions[h] for a in bus.aggregators() for h in PUBLISHERS)
                   or None, timeout=WAIT, what="newer reports at both aggregators")
        wait_equal(bus, "equal maps with a node down")
        for aggregator in bus.aggregators():
            assert all_hosts_shown(aggregator)
            # Reports delayed by the stream's leader election may mark a host stale for a moment; none stays so.
            wait_until(lambda: not any(v["stale"] for v in aggregator.bus()["hosts"].values()), timeout=WAIT,
                       what=f"no stale host at {aggregator.host} with a node down")
    finally:
        bus.nats.start(2)
    wait_equal(bus, "equal maps with the node back")


def test_fresh_aggregator_catches_up_from_the_stream(bus):
    # Measured from a settled cluster: while JetStream elects its leaders (the last test restarted a node), its API
    # answers nobody, and a consumer cannot be made by any aggregator.
    wait_until(bus.nats.settled, timeout=WAIT, what="the NATS cluster settled")
    bus.daemons["nb-a2"].stop(signal.SIGKILL)
    # Pause every publisher: whatever the new aggregator shows of them comes from the stream, not a resend.
    for host in PUBLISHERS:
        os.kill(bus.daemons[host].proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        fresh = bus.start("nb-a2", aggregate=True)
        ready = time.monotonic()
        # Every host in its status, and merged into its hosts view (the merge queue composes off the loop).
        wait_until(lambda: set(PUBLISHERS) | {"nb-a1"} <= set(fresh.bus().get("hosts", {})) and all_hosts_shown(fresh),
                   timeout=5.0, what="the fresh aggregator's full map from the stream")
        caught_up = time.monotonic()
        print(f"fresh aggregator: socket after {ready - started:.2f} s, full map {caught_up - ready:.2f} s later")
        assert fresh.bus()["consumer"]["received"] >= len(PUBLISHERS) + 1
        # The same revision of every host as the aggregator that followed along: each host's newest full report
        # and the stored deltas after it (with a full report every KEEP messages, the newest message of at least
        # one of the three hosts is a delta but once in KEEP**3).
        wait_equal(bus, "equal maps while the publishers are paused")
        hosts = fresh.bus()["hosts"]
        assert all(hosts[h]["fullReports"] >= 1 and not hosts[h]["awaitingFull"] for h in PUBLISHERS), hosts
        assert sum(hosts[h]["deltas"] for h in PUBLISHERS) >= 1, hosts
    finally:
        for host in PUBLISHERS:
            os.kill(bus.daemons[host].proc.pid, signal.SIGCONT)
    wait_equal(bus, "equal maps after the publishers resume")


def test_fresh_aggregator_catches_up_while_deltas_flow(bus):
    for host in PUBLISHERS:  # deltas flow: every publisher is past its first full report
        wait_until(lambda: bus.daemons[host].bus()["deltasPublished"] >= 2, timeout=WAIT, what=f"{host}'s deltas")
    publisher = bus.daemons["nb-p1"].bus()
    assert publisher["fullEvery"] == KEEP and publisher["fullReportsPublished"] >= 1, publisher
    bus.daemons["nb-a2"].stop(signal.SIGKILL)
    fresh = bus.start("nb-a2", aggregate=True)
    wait_until(lambda: all_hosts_shown(fresh), timeout=WAIT, what="the fresh aggregator's full map")
    wait_equal(bus, "equal maps with a fresh aggregator while deltas flow")
    # Deltas (stored and live) applied on top of a full report, no host left waiting for one.
    wait_until(lambda: all(fresh.bus()["hosts"][h]["deltas"] >= 1 for h in PUBLISHERS), timeout=WAIT,
               what="deltas applied at the fresh aggregator")
    health = fresh.bus()
    check_schema("/$defs/BusHealth", health)
    assert not any(health["hosts"][h]["awaitingFull"] for h in PUBLISHERS), health["hosts"]


def test_a_gap_waits_for_the_next_full_report(bus):
    host = "nb-p1"
    aggregators = bus.aggregators()
    before = {a.host: a.bus()["hosts"][host] for a in aggregators}
    # A delta no aggregator can apply (its base is a revision nobody holds), as if the one before it were lost.
    nats_publish(bus.nats.ports[0], f"periscope.report.{host}", zlib.compress(b'{"topologies":{},"removed":{}}'),
                 {"Periscope-Revision": "999999999", "Periscope-Base": "999999998", "Periscope-Refresh-Ms": str(REFRESH_MS)})
    for a in aggregators:
        gapped = wait_until(lambda: (lambda h: h if h["resends"] > before[a.host]["resends"] else None)(a.bus()["hosts"][host]),
                            timeout=WAIT, what=f"the gap seen at {a.host}")
        # Never applied: the revision held is a real one of the host's, not the injected delta's.
        assert gapped["revision"] < 999999999, gapped
    # The host's deltas are ignored until its next full report (no silent divergence), which heals the gap.
    for a in aggregators:
        healed = wait_until(lambda: (lambda h: h if not h["awaitingFull"] and h["fullReports"] > before[a.host]["fullReports"]
                                      and h["ignoredDeltas"] + h["deltas"] > before[a.host]["ignoredDeltas"] + before[a.host]["deltas"]
                                      else None)(a.bus()["hosts"][host]),
                            timeout=WAIT, what=f"the next full report healing the gap at {a.host}")
        assert healed["revision"] < 999999999 and not healed["stale"], healed
    print(f"after the gap: ignored deltas {[a.bus()['hosts'][host]['ignoredDeltas'] for a in aggregators]}")
    wait_equal(bus, "equal maps after the gap healed")


def test_cluster_down_for_20_s(bus):
    for i in range(3):
        bus.nats.stop(i, signal.SIGKILL)
    down = time.monotonic()
    try:
        for daemon in bus.daemons.values():
            wait_until(lambda: daemon.bus()["state"] == "degraded", timeout=WAIT, what=f"{daemon.host} noticing the bus down")
        while time.monotonic() - down < 20:
            for aggregator in bus.aggregators():
                health = aggregator.bus()
                check_schema("/$defs/BusHealth", health)
                assert health["connection"] != "connected" and health["servingLastMap"] is True
                assert "serving the last map" in health["summary"] and "lastError" in health, health
                # The last map is still served, whole, and not aged by the bus's own silence.
                assert all_hosts_shown(aggregator)
                assert not any(v["stale"] for v in health["hosts"].values())
            time.sleep(2)
    finally:
        for i in range(3):
            bus.nats.start(i)
    for daemon in bus.daemons.values():
        wait_until(lambda: daemon.bus()["state"] == "ok", timeout=60, what=f"{daemon.host} back on the bus")
    revisions = remote_revisions(bus.aggregators()[0])
    wait_until(lambda: all(remote_revisions(a).get(h, -1) > revisions[h] for a in bus.aggregators() for h in PUBLISHERS)
               or None, timeout=WAIT, what="new reports at both aggregators after the outage")
    wait_equal(bus, "equal maps after the outage")


def test_publisher_without_credentials_is_refused(bus):
    intruder = bus.start("nb-px", token=False)
    try:
        health = wait_until(lambda: (lambda h: h if "authorization" in h.get("lastError", "").lower() else None)(intruder.bus()),
                            timeout=WAIT, what="the refusal in the intruder's status")
        check_schema("/$defs/BusHealth", health)
        assert health["connection"] != "connected" and health["state"] == "degraded" and health["published"] == 0
        time.sleep(2 * REFRESH_MS / 1000)
        for aggregator in bus.aggregators():
            assert "nb-px" not in aggregator.view_ids("hosts")
            assert "nb-px" not in aggregator.bus()["hosts"]
    finally:
        del bus.daemons["nb-px"]
        assert intruder.stop() == 0


def test_daemons_stop_cleanly(bus):
    for host in list(bus.daemons):
        assert bus.daemons.pop(host).stop() == 0, f"{host} did not exit cleanly on SIGTERM"


def test_tls_bus_with_client_certificates():
    """A single TLS server that verifies client certificates (`periscope certs`): a publisher and an aggregator with
    --bus-tls-ca/--bus-tls-cert/--bus-tls-key share the map; a daemon without a client certificate is refused."""
    work = tempfile.mkdtemp(prefix="periscope-nats-tls-")
    pki = Pki(os.path.join(work, "pki"))
    for name in ("localhost", "nt-p1", "nt-a1"):
        pki.issue(name)
    port = free_port()
    with open(os.path.join(work, "nats.conf"), "w") as f:
        f.write(f"""listen: 127.0.0.1:{port}
jetstream {{ store_dir: "{work}/js" }}
tls {{ cert_file: "{pki.dir}/localhost.crt", key_file: "{pki.dir}/localhost.key", ca_file: "{pki.dir}/ca.crt", verify: true }}
""")
    log = open(os.path.join(work, "nats.log"), "a")
    server = subprocess.Popen(["nats-server", "-c", os.path.join(work, "nats.conf")], stdout=log, stderr=log)
    daemons = []
    url = f"tls://localhost:{port}"

    def tls(name):
        return ["--bus-replicas", "1", "--bus-tls-ca", f"{pki.dir}/ca.crt", "--bus-tls-cert", f"{pki.dir}/{name}.crt",
                "--bus-tls-key", f"{pki.dir}/{name}.key"]
    try:
        daemons.append(BusDaemon(work, "nt-p1", url, token=False, extra=tls("nt-p1")))
        aggregator = BusDaemon(work, "nt-a1", url, aggregate=True, token=False, extra=tls("nt-a1"))
        daemons.append(aggregator)
        wait_until(lambda: {"nt-p1", "nt-a1"} <= aggregator.view_ids("hosts"), timeout=WAIT, what="the publisher over TLS")
        health = aggregator.bus()
        check_schema("/$defs/BusHealth", health)
        assert health["state"] == "ok" and health["server"].startswith("tls://")
        # Without a client certificate the server refuses the handshake.
        anonymous = BusDaemon(work, "nt-px", url, token=False, extra=["--bus-replicas", "1", "--bus-tls-ca", f"{pki.dir}/ca.crt"])
        daemons.append(anonymous)
        wait_until(lambda: anonymous.bus()["connection"] == "closed" and "lastError" in anonymous.bus(), timeout=WAIT,
                   what="the refusal of a daemon without a client certificate")
        assert anonymous.bus()["published"] == 0 and "nt-px" not in aggregator.view_ids("hosts")
    finally:
        for d in daemons:
            d.stop(signal.SIGKILL)
        server.terminate()
        server.wait(timeout=15)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
