"""The stream as shared history (issue 15, SPEC 19.3): a fresh aggregator with history on records the past its
report bus holds, so `topology/get {at}` answers for minutes before it started.

On a 3-node NATS JetStream cluster of its own (test_nats's NatsCluster and BusDaemon: real nats-server and real
periscoped in UTS namespaces of their own, sharing the machine's processes), two publishers run; a `sleep` is
started and stopped on the way (each publisher's report holds it under its own host id while it lives). Then a
fresh aggregator starts with `--history PATH`: once its backfill is done, the hosts view at an instant before it
started shows both publishers (not the aggregator, which did not exist then), the processes view shows the sleep
at its time and neither afterwards nor now, and `topology/diff` across that time lists it as removed. About 60 s.
"""
import datetime
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from rpc import wait_until
from test_nats import TOKEN, WAIT, BusDaemon, NatsCluster, check_schema

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nats-server") or not shutil.which("unshare"),
                       reason="the bus tests need root (UTS namespaces), unshare and nats-server (scripts/setup.sh --test)"),
]

PUBLISHERS = ["nbf-p1", "nbf-p2"]
AGGREGATOR = "nbf-a1"
KEEP = ["--bus-keep", "1000"]  # messages kept per host: the whole run (a publisher sends a few a second)


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def process_ids(daemon, at=None):
    params = {"view": "processes", "options": {"all": True}}
    if at is not None:
        params["at"] = rfc3339(at)
    return {n["id"] for n in daemon.client.call("topology/get", params)["nodes"]}


def test_fresh_aggregator_backfills_history_from_the_stream():
    workdir = tempfile.mkdtemp(prefix="periscope-nats-backfill-")
    with open(os.path.join(workdir, "token"), "w") as f:
        f.write(TOKEN + "\n")
    nats = NatsCluster(workdir)
    daemons = []
    marker = None
    try:
        publishers = [BusDaemon(workdir, host, nats.urls, extra=KEEP) for host in PUBLISHERS]
        daemons += publishers
        wait_until(lambda: all(p.bus()["acknowledged"] >= 2 for p in publishers), timeout=WAIT,
                   what="the publishers' first reports acknowledged")
        both_published = time.time()
        time.sleep(2)

        marker = subprocess.Popen(["sleep", "7777"], stdin=subprocess.DEVNULL)
        ids = {f"{host};{marker.pid}" for host in PUBLISHERS}
        wait_until(lambda: all(f"{p.host};{marker.pid}" in process_ids(p) for p in publishers), timeout=WAIT,
                   what="the sleep in both publishers' maps")
        time.sleep(2)  # it has been published: a message stored after its pass, at most 100 ms and a second later
        alive = time.time()
        time.sleep(2)
        marker.kill()
        marker.wait()
        wait_until(lambda: not any(f"{p.host};{marker.pid}" in process_ids(p) for p in publishers), timeout=WAIT,
                   what="the sleep gone from the publishers' maps")
        time.sleep(2)
        gone = time.time()
        time.sleep(1)

        db = os.path.join(workdir, "aggregator-history.db")
        aggregator = BusDaemon(workdir, AGGREGATOR, nats.urls, aggregate=True, extra=KEEP + ["--history", db])
        daemons.append(aggregator)

        def backfill():
            health = aggregator.bus()
            return (health.get("consumer") or {}).get("backfill") or {}
        wait_until(lambda: backfill().get("state") == "done", timeout=WAIT, what="the backfill done")
        health = aggregator.bus()
        check_schema("/$defs/BusHealth", health)
        figures = health["consumer"]["backfill"]
        assert figures["messages"] > 0 and figures["records"] > 0, figures
        assert figures["from"] <= rfc3339(both_published), figures
        assert rfc3339(gone) <= figures["to"] <= rfc3339(time.time()), figures

        # Before the aggregator existed: both publishers' hosts, and not the aggregator's.
        hosts_then = {n["id"] for n in aggregator.client.call(
            "topology/get", {"view": "hosts", "at": rfc3339(both_published + 1.5)})["nodes"]}
        assert set(PUBLISHERS) <= hosts_then, hosts_then
        assert AGGREGATOR not in hosts_then, hosts_then
        wait_until(lambda: AGGREGATOR in aggregator.view_ids("hosts"), timeout=WAIT, what="the aggregator's own host live")

        # The sleep at its time, and neither after it nor now.
        assert ids <= process_ids(aggregator, at=alive), "the sleep, alive in the past the stream covers"
        assert not ids & process_ids(aggregator, at=gone)
        # Now: the live map follows the stream's newest messages off the loop (the merge queue), a moment after the
        # backfill is done on a slow machine (under ASan the sleep was still shown right after it).
        wait_until(lambda: not ids & process_ids(aggregator), timeout=WAIT, what="the live map without the sleep")
        diff = aggregator.client.call("topology/diff", {"view": "processes", "options": {"all": True},
                                                        "from": rfc3339(alive), "to": rfc3339(gone)})
        assert ids <= {n["id"] for n in diff["removed"]["nodes"]}, diff["removed"]

        # The live history goes on after the backfill: an instant after the aggregator started answers its own host.
        time.sleep(1.5)
        hosts_now = {n["id"] for n in aggregator.client.call(
            "topology/get", {"view": "hosts", "at": rfc3339(time.time() - 0.5)})["nodes"]}
        assert {AGGREGATOR, *PUBLISHERS} <= hosts_now, hosts_now
    finally:
        if marker is not None and marker.poll() is None:
            marker.kill()
            marker.wait()
        for daemon in daemons:
            try:
                daemon.stop(signal.SIGKILL)
            except Exception:
                pass
        nats.close()
        shutil.rmtree(workdir, ignore_errors=True)
