#!/usr/bin/env python3
"""Readlinks per full pass of the owner search, in steady state, with sockets whose owner the daemon cannot find.

    sudo python3 bench/owner_search.py --binary .build/debug/periscoped [--connections 5000 --procs 100]
        [--warmup 20] [--window 60]

Starts the load generator (bench/connections.py: loopback connections over worker processes, so the host
namespace holds 2 x CONNECTIONS socket fds, more than one pass's readlink budget), then a daemon; after --warmup
seconds samples daemon/status (collectors.host-map) every 0.25 s for --window seconds and prints
fdReadlinksLastPass per pass: passes, median, mean, max, and passes with 0. The figure matters on a host with a
socket whose owner the daemon cannot see (a process outside its pid namespace): the script prints the listeners
`ss -tlnp` shows without a process (on the project's VM, 0.0.0.0:2024, held from outside the VM's pid namespace).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
from periscope.client import Client  # noqa: E402


def unowned_listeners():
    out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True).stdout
    return [line.split()[3] for line in out.splitlines() if "users:" not in line]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True, help="the periscoped to run")
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--procs", type=int, default=100)
    ap.add_argument("--warmup", type=float, default=20)
    ap.add_argument("--window", type=float, default=60)
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    load = subprocess.Popen([sys.executable, os.path.join(here, "connections.py"), "--connections", str(a.connections),
                             "--procs", str(a.procs), "--seconds", str(a.warmup + a.window + 120)],
                            stdout=subprocess.PIPE, text=True)
    tmp = tempfile.mkdtemp(prefix="owner-search-")
    sock = os.path.join(tmp, "d.sock")
    daemon = None
    try:
        assert load.stdout.readline().strip() == "ready", "load generator failed"
        daemon = subprocess.Popen([a.binary, "--socket", sock, "--log-level", "warning", "--history", "off"],
                                  stderr=open(os.path.join(tmp, "daemon.log"), "w"))
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            assert time.monotonic() < deadline and daemon.poll() is None, "daemon did not start"
            time.sleep(0.1)
        c = Client(sock)
        time.sleep(a.warmup)
        samples, series, last = [], [], None
        end = time.monotonic() + a.window
        while time.monotonic() < end:
            h = c.call("daemon/status")["collectors"]["host-map"]
            if h.get("passes") != last:
                last = h.get("passes")
                samples.append(h.get("fdReadlinksLastPass", 0))
                series.append(f"{h.get('fdReadlinksLastPass', 0)}/{h.get('sockets', 0) - h.get('socketsWithOwner', 0)}")
            time.sleep(0.25)
        c.close()
        print(f"# {a.binary}; unowned listeners {unowned_listeners()}; {a.connections} connections / {a.procs} "
              f"processes; load average {open('/proc/loadavg').read().split()[:3]}")
        print(f"passes sampled {len(samples)}; fdReadlinksLastPass median {statistics.median(samples):.0f}, "
              f"mean {statistics.mean(samples):.0f}, max {max(samples)}, passes with 0: "
              f"{sum(1 for s in samples if s == 0)}")
        print("per pass, readlinks/sockets without owner:", " ".join(series))
    finally:
        if daemon:
            daemon.terminate()
            daemon.wait(timeout=20)
        load.terminate()
        load.wait(timeout=20)


if __name__ == "__main__":
    main()
