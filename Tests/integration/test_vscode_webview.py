"""VS Code extension (clients/vscode, issue 6) against a live daemon.

* `node --test clients/vscode/test/`: the framing parser (byte-by-byte), the RPC client, the state
  module, workspace scope and layout, against their own live daemons;
* the map page outside VS Code: a daemon with collectors, a python server/client pair started in a
  temporary "workspace", the harness (test/harness/server.js, the extension's own session/state code
  bridged to the daemon) serving media/map.html, and headless Chromium (Debian's `chromium`):
  the dumped DOM's SVG must hold both processes as nodes and the client→server edge, the client drawn
  above the server; a screenshot is kept under artifacts/.
"""
import html.parser
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request


import pytest

from cdp import chromium_path as chromium
from conftest import REPO, BIN, Daemon

pytestmark = pytest.mark.timeout(90)

CLIENT = REPO / "clients" / "vscode"
ARTIFACTS = REPO / "artifacts"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_node_unit_and_live_tests():
    env = dict(os.environ, PERISCOPE_BIN=str(BIN))
    r = subprocess.run([NODE, "--test", str(CLIENT / "test")], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=80)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert "# fail 0" in r.stdout
    assert "# skipped 0" in r.stdout, "live tests were skipped: " + r.stdout[-3000:]


class SvgParser(html.parser.HTMLParser):
    """Collects the map's node groups and edge paths from the dumped DOM."""

    def __init__(self):
        super().__init__()
        self.nodes = {}
        self.edges = {}
        self.labels = []
        self.in_nodes = False
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "g" and "node" in cls and "data-id" in a:
            self.nodes[a["data-id"]] = a
        elif tag == "path" and "edge" in cls and "data-id" in a:
            self.edges[a["data-id"]] = a


def start_python(workspace, *args):
    script = workspace / "pair.py"
    script.write_text(PAIR)
    p = subprocess.Popen([sys.executable, str(script), *map(str, args)], cwd=workspace, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    assert line and line[0] == "READY", line
    return p, int(line[1]), int(line[2])


PAIR = r'''
import os, socket, sys, threading, time
if sys.argv[1] == "server":
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
    print("READY", os.getpid(), s.getsockname()[1], flush=True)
    def echo(c):
        while True:
            d = c.recv(65536)
            if not d: return
            c.sendall(d)
    def accept():
        while True:
            c, _ = s.accept()
            threading.Thread(target=echo, args=(c,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
else:
    c = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    print("READY", os.getpid(), c.getsockname()[1], flush=True)
    def talk():
        while True:
            c.sendall(b"x" * 16384)
            got = 0
            while got < 16384: got += len(c.recv(65536))
            time.sleep(0.05)
    threading.Thread(target=talk, daemon=True).start()
sys.stdin.read()
'''


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="the kernel collectors need root to attribute every socket")
def test_webview_page_in_headless_chromium(tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium) — cannot render the webview page")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    workspace = workspace.resolve()
    daemon = Daemon("--refresh-ms", "200", collectors=True)
    procs = []
    harness = None
    try:
        server, server_pid, port = start_python(workspace, "server")
        procs.append(server)
        client, client_pid, _ = start_python(workspace, "client", port)
        procs.append(client)
        harness = subprocess.Popen([NODE, str(CLIENT / "test" / "harness" / "server.js"), "--socket", daemon.socket_path,
                                    "--folder", str(workspace)], stdout=subprocess.PIPE, text=True)
        line = harness.stdout.readline().split()
        assert line and line[0] == "LISTENING", line
        base = f"http://127.0.0.1:{line[1]}"

        # Wait until the harness's session (the extension's code) holds the edge in workspace scope.
        deadline = time.time() + 15
        while True:
            with urllib.request.urlopen(base + "/model", timeout=5) as r:
                model = json.load(r)
            pids = {n["metadata"].get("pid"): n["id"] for n in model["nodes"]}
            if client_pid in pids and server_pid in pids and any(
                    e["source"] == pids[client_pid] and e["target"] == pids[server_pid] for e in model["edges"]):
                break
            assert time.time() < deadline, f"the harness never saw the edge: {json.dumps(model)[:2000]}"
            time.sleep(0.2)
        client_id, server_id = pids[client_pid], pids[server_pid]
        edge_id = f"{client_id}->{server_id}"
        assert model["scope"]["enabled"] and sorted(model["scope"]["seeds"]) == sorted([client_id, server_id])

        url = base + "/media/map.html"
        common = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                  "--virtual-time-budget=5000", "--window-size=1200,800"]
        dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=40)
        assert dom.returncode == 0, dom.stderr[-2000:]
        parser = SvgParser()
        parser.feed(dom.stdout)
        assert client_id in parser.nodes and server_id in parser.nodes, dom.stdout[-3000:]
        assert edge_id in parser.edges, dom.stdout[-3000:]
        edge = parser.edges[edge_id]
        assert edge["data-source"] == client_id and edge["data-target"] == server_id
        assert edge.get("marker-end", "").startswith("url(#arrow"), "edges carry an arrowhead"
        assert edge["d"].startswith("M")
        # Layered: the client's layer is above the server's, and so is its drawn position.
        c, s = parser.nodes[client_id], parser.nodes[server_id]
        assert int(c["data-layer"]) < int(s["data-layer"])
        y = lambda n: float(n["transform"].split(",")[1].rstrip(")"))
        assert y(c) < y(s)
        assert "seed" in c["class"].split() and "seed" in s["class"].split()
        assert 'id="status"' in dom.stdout and "live" in dom.stdout

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "vscode-webview.png"
        if shot.exists():
            shot.unlink()
        r = subprocess.run(common + [f"--screenshot={shot}", url + "#select=" + urllib.parse.quote(server_id)],
                           capture_output=True, text=True, timeout=40, cwd=ARTIFACTS)
        assert r.returncode == 0 and shot.exists() and shot.stat().st_size > 5000, r.stderr[-2000:]
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        if harness is not None:
            harness.terminate()
            harness.wait(timeout=10)
        for p in procs:
            p.stdin.close()
            p.terminate()
            p.wait(timeout=10)
        assert daemon.stop() == 0, open(daemon.stderr_path).read()
