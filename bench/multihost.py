#!/usr/bin/env python3
"""Many hosts (issue 11): change on a host -> subscriber at the aggregator, and bytes/s per publisher.

As root, from the repository root: `python3 bench/multihost.py [--samples 40] [--bin .build/release]`.

One namespace host (network + PID + mount + UTS namespaces, veth to a bridge; see
Tests/integration/nshosts.py) runs periscoped publishing to an aggregator in the root namespace (mutual TLS,
default 1 s refresh). A subscriber holds `topology/subscribe processes` (minInterval 0) at the aggregator.
- Latency: a helper inside the host opens a new TCP connection to a server inside the host and prints the
  CLOCK_MONOTONIC time right after connect (the clock is shared by every PID namespace); the subscriber
  stamps the `topology/changed` that adds that edge. One connection every 0.5 s; p50/p90/p99/max.
- Bytes per second per publisher: the aggregator's `bytesPerSecond` for the host (wire bytes over 10 s),
  once with the host idle and once while it churns (a new connection every 50 ms, each closed after 0.5 s).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "integration"))

parser = argparse.ArgumentParser()
parser.add_argument("--samples", type=int, default=40)
parser.add_argument("--bin", default=str(REPO / ".build" / "release"))
parser.add_argument("--refresh-ms", type=int, default=1000)
parser.add_argument("--load", type=int, default=0, help="simulated publishers (bench/publishers.py) during the latency run")
parser.add_argument("--load-procs", type=int, default=200)
parser.add_argument("--load-conns", type=int, default=1000)
parser.add_argument("--history", default="off", help="--history of both daemons (default off: the merge path alone)")
args = parser.parse_args()
os.environ["PERISCOPE_BIN"] = str(pathlib.Path(args.bin).resolve())

from nshosts import PERISCOPED, Bridge, NamespaceHost, Pki  # noqa: E402 (PERISCOPE_BIN first)
from rpc import Client  # noqa: E402
import nshosts  # noqa: E402

if not os.path.exists(nshosts.PERISCOPE):  # only periscoped was built in this configuration: certs from debug
    nshosts.PERISCOPE = str(REPO / ".build" / "debug" / "periscope")

SERVER = r'''
import socket, os
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 9100)); srv.listen(512)
print("READY", os.getpid(), flush=True)
held = []
while True:
    held.append(srv.accept()[0])
    held = held[-2000:]
'''

HELPER = r'''
import socket, sys, time, os
held = []
print("READY", os.getpid(), flush=True)
for line in sys.stdin:
    word = line.split()
    if word[0] == "open":
        c = socket.create_connection((word[1], 9100))
        print("OPENED", c.getsockname()[1], time.monotonic(), flush=True)
        held.append(c)
    elif word[0] == "churn":
        end = time.monotonic() + float(word[2]); live = []
        while time.monotonic() < end:
            live.append((time.monotonic(), socket.create_connection((word[1], 9100))))
            while live and live[0][0] < time.monotonic() - 0.5:
                live.pop(0)[1].close()
            time.sleep(0.05)
        for _, c in live: c.close()
        print("CHURNED", flush=True)
'''


class Sock:
    def __init__(self, path):
        self.socket_path = path

    def connect(self):
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.socket_path)
        return s


def main():
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the clean-up on a timeout too
    work = tempfile.mkdtemp(prefix="periscope-bench-mh-")
    pki = Pki(f"{work}/pki")
    import socket as pysocket
    pki.issue(pysocket.gethostname())
    pki.issue("bh1")
    bridge = Bridge()
    host = NamespaceHost(bridge, 1, "bh1")
    agg_sock = f"{work}/agg.sock"
    port = 7071
    agg = subprocess.Popen([PERISCOPED, "--socket", agg_sock, "--accept-reports", f"{bridge.address}:{port}",
                            "--refresh-ms", str(args.refresh_ms), "--log-level", "warning", "--history", args.history,
                            *pki.files(pysocket.gethostname())], stderr=open(f"{work}/agg.log", "w"))
    while not os.path.exists(agg_sock):
        time.sleep(0.05)
    pub, _ = host.run([PERISCOPED, "--no-socket", "--publish", f"{bridge.address}:{port}", "--refresh-ms",
                       str(args.refresh_ms), "--log-level", "warning", "--history", args.history, *pki.files("bh1")],
                      stderr=open(f"{work}/pub.log", "w"))
    server, _ = host.run(["python3", "-c", SERVER], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    server_pid = int(server.stdout.readline().split()[1])
    helper, _ = host.run(["python3", "-c", HELPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ns_pid = int(helper.stdout.readline().split()[1])
    for i in range(args.load):
        pki.issue(f"sim{i}")
    try:
        measure(work, host, agg, pub, server, helper, ns_pid, server_pid, agg_sock, f"{bridge.address}:{port}", pki.dir)
    finally:
        for proc in (helper, server, pub):
            proc.kill()
        agg.terminate()
        agg.wait()
        host.remove()
        bridge.remove()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)


def measure(work, host, agg, pub, server, helper, ns_pid, server_pid, agg_sock, address, pki_dir):
    client = Client(Sock(agg_sock))
    status_all = lambda: client.call("daemon/status")
    status = lambda: status_all()["collectors"]["aggregator"]["hosts"].get("bh1")
    deadline = time.monotonic() + 30
    while not status():
        if time.monotonic() > deadline or pub.poll() is not None:
            raise SystemExit(f"the publisher did not reach the aggregator; see {work}/pub.log")
        time.sleep(0.1)
    sub = Client(Sock(agg_sock))
    sub.call("topology/subscribe", {"view": "processes", "minInterval": 0})
    latencies = []

    def wait(seconds):  # the subscriber keeps reading meanwhile (a stalled one is dropped after 15 s)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sub.pump(0.05)
            sub.notes.clear()
    wait(12)  # idle: let the 10 s traffic window fill with idle traffic only
    idle = status()["bytesPerSecond"]
    load = None
    if args.load:
        seconds = 25 + args.samples * 0.7
        load = subprocess.Popen([sys.executable, str(REPO / "bench" / "publishers.py"), "--aggregator", address,
                                 "--pki", pki_dir, "--publishers", str(args.load), "--procs", str(args.load_procs),
                                 "--conns", str(args.load_conns), "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True)
        wait(15)  # connect, first full reports, warm-up
        cpu_start, wall_start = cpu_seconds(agg.pid), time.monotonic()
    rss_peak = 0
    for sample in range(args.samples):
        rss_peak = max(rss_peak, rss_mib(agg.pid) or 0)
        sub.notes.clear()
        helper.stdin.write(f"open {host.address}\n")
        helper.stdin.flush()
        words = helper.stdout.readline().split()
        opened = float(words[2])
        wanted = (f"bh1;{ns_pid}", f"bh1;{server_pid}")
        deadline = time.monotonic() + 10
        seen = None
        while seen is None and time.monotonic() < deadline:
            sub.pump(0.01)
            for note in sub.notes:
                params = note.get("params", {})
                # the first connection adds the helper -> server edge, each later one raises its count
                edges = params.get("added", {}).get("edges", []) + params.get("updated", {}).get("edges", [])
                if any((e["source"], e["target"]) == wanted and e.get("connections", 0) >= sample + 1 for e in edges):
                    seen = time.monotonic()
                    break
        if seen:
            latencies.append((seen - opened) * 1000)
        wait(0.5)
    if load:
        aggregator_cpu = round(100 * (cpu_seconds(agg.pid) - cpu_start) / (time.monotonic() - wall_start), 1)
        hosts = client.call("daemon/status")["collectors"]["aggregator"]["hosts"]
        load_summary = {"publishers": args.load, "aggregator_cpu_percent": aggregator_cpu, "aggregator_rss_mib": rss_mib(agg.pid),
                        "hosts_seen": len(hosts), "stale": sum(1 for h in hosts.values() if h["stale"]),
                        "aggregator_rss_peak_mib": rss_peak, "loop_max_lag_ms": status_all()["loop"].get("maxLagMillis"),
                        "merge_ms": status_all()["collectors"]["aggregator"].get("mergeMillis"),
                        "sim_deltas": sum(h.get("deltas", 0) for n, h in hosts.items() if n.startswith("sim")),
                        "sim_full_reports": sum(h.get("fullReports", 0) for n, h in hosts.items() if n.startswith("sim")),
                        "generator": json.loads(load.communicate()[0] or "{}")}
    bh1 = status()
    idle_counts = {"fullReports": bh1.get("fullReports"), "deltas": bh1.get("deltas")}
    helper.stdin.write(f"churn {host.address} 14\n")
    helper.stdin.flush()
    wait(12)
    churn = status()["bytesPerSecond"]
    helper.stdout.readline()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")
    print(json.dumps({"samples": len(latencies), "of": args.samples, "p50_ms": round(pick(0.5), 1),
                      "p90_ms": round(pick(0.9), 1), "p99_ms": round(pick(0.99), 1),
                      "max_ms": round(latencies[-1], 1) if latencies else None,
                      "idle_bytes_per_s": idle, "churn_bytes_per_s": churn, "refresh_ms": args.refresh_ms,
                      "bh1_before_churn": idle_counts, "bh1_after_churn": {k: status().get(k) for k in ("fullReports", "deltas", "resends")},
                      "load": load_summary if args.load else None,
                      "bin": args.bin}))


if __name__ == "__main__":
    main()
