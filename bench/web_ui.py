"""`periscope ui` bridge costs: request round trips through the bridge (POST /rpc → daemon → answer) on one
keep-alive HTTP connection, next to the same daemon/ping on the daemon's socket directly; and the time from
opening the page in headless Chromium to a drawn live map (navigation with the token, assets, EventSource,
topology/views, daemon/status, topology/subscribe, first render).

usage: python3 bench/web_ui.py BIN_DIR [N]
"""
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "integration"))
import cdp  # noqa: E402

BIN = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def start_ui(sock):
    ui = subprocess.Popen([f"{BIN}/periscope", "ui", "--socket", sock, "--listen", "127.0.0.1:0"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return ui, ui.stdout.readline().strip()


def main():
    d = tempfile.mkdtemp()
    sock = os.path.join(d, "bench.sock")
    daemon = subprocess.Popen([f"{BIN}/periscoped", "--socket", sock, "--refresh-ms", "1000", "--log-level", "warning"],
                              stderr=subprocess.DEVNULL)
    try:
        while not os.path.exists(sock):
            time.sleep(0.02)
        # Direct: newline-delimited JSON on the daemon's socket.
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        f = s.makefile("rwb")
        direct = []
        for i in range(N):
            t = time.perf_counter()
            f.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": "daemon/ping"}).encode() + b"\n")
            f.flush()
            f.readline()
            direct.append(time.perf_counter() - t)
        s.close()

        # Through the bridge: token → cookie, an event stream for the channel, POSTs on one keep-alive connection.
        ui, url = start_ui(sock)
        host, port = url.split("//")[1].split("/")[0].split(":")
        c = http.client.HTTPConnection(host, int(port))
        c.request("GET", "/?" + url.split("?")[1])
        r = c.getresponse()
        r.read()
        cookie = r.getheader("Set-Cookie").split(";")[0]
        events = http.client.HTTPConnection(host, int(port))
        events.request("GET", "/events", headers={"Cookie": cookie})
        er = events.getresponse()
        channel = None
        while channel is None:
            line = er.fp.readline().decode()
            if line.startswith("data:") and '"channel"' in line:
                channel = json.loads(line[5:])["channel"]
        bridged = []
        body = json.dumps({"channel": channel, "method": "daemon/ping"})
        for _ in range(N):
            t = time.perf_counter()
            c.request("POST", "/rpc", body=body, headers={"Cookie": cookie, "Content-Type": "application/json"})
            resp = c.getresponse()
            resp.read()
            bridged.append(time.perf_counter() - t)
            assert resp.status == 200
        ui.terminate()
        ui.wait()

        # Page open to a drawn live map, fresh `periscope ui` and browser each time.
        loads = []
        for _ in range(5):
            ui, url = start_ui(sock)
            b = cdp.Browser()
            try:
                t = time.perf_counter()
                b.page.navigate(url, wait=False)
                b.page.wait_for("document.getElementById('status') && document.getElementById('status').textContent.includes('live')"
                                " && document.querySelectorAll('#nodes g.node').length > 0", timeout=30)
                loads.append(time.perf_counter() - t)
            finally:
                b.close()
                ui.terminate()
                ui.wait()
        us = lambda v: f"{v * 1e6:.0f} µs"
        print(f"daemon/ping direct (ndjson, Unix socket), {N} sequential: p50 {us(pct(direct, .5))}, p99 {us(pct(direct, .99))}")
        print(f"daemon/ping through periscope ui (POST /rpc, keep-alive), {N} sequential: p50 {us(pct(bridged, .5))}, "
              f"p99 {us(pct(bridged, .99))}, {N / sum(bridged):.0f}/s")
        print(f"page open to a live map in headless Chromium, 5 runs: median {statistics.median(loads) * 1000:.0f} ms, "
              f"max {max(loads) * 1000:.0f} ms (poll interval 100 ms)")
    finally:
        daemon.terminate()
        daemon.wait()


if __name__ == "__main__":
    main()
