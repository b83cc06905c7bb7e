"""Kernel events are read in batches under churn, and nothing that lives is lost to the batching (issue 16).

A stream of short-lived execs a few ms apart (fork, exec, exit each) wakes the process connector's reader far
fewer times than it has events: while events come steadily the reader holds off after each batch (10 ms while
someone looks, 500 ms otherwise; `batches` in `daemon/status` → `collectors.process-events`). A process started
in the middle of the stream, which lives, appears in the map; one started alone after a quiet spell appears
promptly.

Needs root (the process connector); skipped otherwise.
"""
import os
import subprocess
import time

import pytest

from conftest import Daemon
from rpc import Client, collectors as status, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (process connector)")

EXECS = 400


def listed(client, pid):
    view = client.view("processes", options={"all": True})
    return any(n.get("metadata", {}).get("pid") == pid and not n.get("metadata", {}).get("exited")
               for n in view["nodes"])


def test_burst_of_execs_costs_few_wakeups_and_keeps_the_living(tmp_path):
    daemon = Daemon(collectors=True)
    sleepers = []
    try:
        client = Client(daemon)
        wait_until(lambda: status(daemon)["host-map"].get("passes", 0) >= 1, what="the first pass")
        before = status(daemon)["process-events"]
        assert before["state"] == "ok", before
        assert "batches" in before
        start = time.monotonic()
        # Paced a few ms apart (as a build's compiler runs are): read per wake-up, each exec would cost a batch
        # of its own at least.
        for i in range(EXECS):
            if i == EXECS // 2:
                sleepers.append(subprocess.Popen(["sleep", "60"]))
            subprocess.run(["/bin/true"], check=True)
            time.sleep(0.005)
        burst = time.monotonic() - start
        time.sleep(0.5)  # the last batch is read
        after = status(daemon)["process-events"]
        events = after["eventsSeen"] - before["eventsSeen"]
        batches = after["batches"] - before["batches"]
        print(f"{events} process events in {batches} batches over a {burst:.2f} s burst")
        assert events >= 3 * EXECS, "fork, exec and exit of each exec"
        assert after["eventsLost"] == before["eventsLost"], "no event lost to the batching"
        # At most one batch per hold-off (10 ms at the shortest), plus the few before the reader sees a steady stream (and other
        # processes on this machine); per event it would be hundreds.
        assert batches <= (burst + 0.5) * 100 + 20, f"{batches} batches for {events} events in {burst:.2f} s"
        assert batches * 2 <= EXECS, f"{batches} batches for {EXECS} execs {burst / EXECS * 1000:.1f} ms apart"
        middle = sleepers[0].pid
        wait_until(lambda: listed(client, middle), timeout=10, what=f"the process started mid-burst ({middle})")

        time.sleep(1)  # quiet: the next event is read at once
        lone = subprocess.Popen(["sleep", "60"])
        sleepers.append(lone)
        t0 = time.monotonic()
        wait_until(lambda: listed(client, lone.pid), timeout=10, interval=0.01, what="a lone exec'd process")
        took = time.monotonic() - t0
        print(f"lone exec listed after {took * 1000:.0f} ms")
        # Read at once and patched within ~15 ms while someone looks (the views asked for above); generous for a
        # loaded machine, but well under the second a patch waits while nobody looks.
        assert took < 0.8, f"a lone exec took {took * 1000:.0f} ms to appear"
        client.close()
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
        daemon.stop()
