"""`periscope ui` (issue 12): the browser map, in real headless Chromium driven over the DevTools
protocol (cdp.py), against a live daemon with a real Podman three-tier stack (test_containers.Stack)
and controls enabled.

* The bridge: stdout is only the URL; without the one-time token (or the cookie it buys) every route is
  403; the token works once; a foreign Host header is refused.
* The page: every view in the picker; the containers view with its tiers (lb above app above db), the
  Uncontained pseudo node beside the tiers, no edge passing through a node box, labels drawn above the
  nodes; a bad filter shows the daemon's error and a good one narrows the map; the unconnected toggle
  brings unconnected processes in; a click (real mouse events) opens details with cpu, memory and
  connections sparklines that grow with node/changed; the Stop button stops a Podman container; the
  Logs button streams a container's output through the logs pipe.
* Screenshots: artifacts/web-ui.png always; docs/periscope-ui.png (the README's) when
  PERISCOPE_UPDATE_DOCS=1.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

import cdp
from conftest import BIN, REPO, Daemon
from rpc import wait_until
import test_containers
from test_containers import podman, stack  # noqa: F401 (stack: the module-scoped Podman fixture)

# The container tests' requirements (root, podman, runc, busybox), a longer timeout, and Chromium.
pytestmark = [m for m in test_containers.pytestmark if m.name != "timeout"] + [
    pytest.mark.timeout(240),
    pytest.mark.skipif(cdp.chromium_path() is None, reason="chromium is not installed (scripts/setup.sh --test)"),
]

WAIT = 25.0


@pytest.fixture(scope="module")
def talker(stack):
    """Beside test_containers' three-tier stack, a container that writes a line every half second (for the
    logs panel) and never connects to anything (for the unconnected toggle); removed with the stack."""
    stack.start("talker", "db", f"while true; do echo hello-{stack.run}; sleep 0.5; done")
    return stack


def start_ui(daemon):
    proc = subprocess.Popen([str(BIN / "periscope"), "ui", "--socket", daemon.socket_path, "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=open(os.path.join(daemon.dir, "ui.stderr"), "w"), text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url, url + open(os.path.join(daemon.dir, "ui.stderr")).read()
    except BaseException:
        proc.kill()
        raise
    return {"url": url, "base": url.split("/?token=")[0], "proc": proc, "daemon": daemon}


def stop_ui(ui):
    ui["proc"].terminate()
    out, _ = ui["proc"].communicate(timeout=10)
    assert out == "", f"stdout carries only the URL, got more: {out!r}"
    assert ui["proc"].returncode == 0, "SIGTERM stops periscope ui cleanly, open pages and all"
    assert ui["daemon"].stop() == 0, open(ui["daemon"].stderr_path).read()


@pytest.fixture(scope="module")
def ui(talker):
    stack = talker
    u = start_ui(Daemon("--docker-socket", stack.socket, "--refresh-ms", "300", "--controls", collectors=True))
    yield u
    stop_ui(u)


def fresh_token(ui):
    """A rerun sets the page up again, and the printed token works once: a new `periscope ui` on the same daemon
    prints a new one (so the rerun shows its own failure, not a spent token)."""
    ui["proc"].terminate()
    ui["proc"].communicate(timeout=10)
    ui.update(start_ui(ui["daemon"]))


@pytest.fixture(scope="module")
def page(ui):
    """The browser's page, opened with the printed URL: the token is spent for the session cookie."""
    if ui.get("spent"):
        fresh_token(ui)
    ui["spent"] = True
    b = cdp.Browser(width=1500, height=950)
    try:
        opened = b.page.navigate(ui["url"])
        where = b.page.eval("location.pathname + location.search")
        if where != "/":
            text = b.page.eval("document.body ? document.body.innerText.slice(0, 300) : ''")
            log = open(os.path.join(ui["daemon"].dir, "ui.stderr")).read()
            raise AssertionError(f"redirected to / (the token leaves the URL); at {where!r}, navigate: {opened}, "
                                 f"page text: {text!r}, ui stderr: {log[-2000:]!r}")
        try:
            b.page.wait_for("document.getElementById('status').textContent.includes('live')", timeout=WAIT, what="a live map")
        except AssertionError as e:
            shown = b.page.eval("document.getElementById('status').textContent")
            log = open(os.path.join(ui["daemon"].dir, "ui.stderr")).read()
            raise AssertionError(f"{e}; status: {shown!r}; ui stderr: {log!r}") from None
        yield b.page
    finally:
        b.close()


def status(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_token_and_cookie_are_required(ui, page):
    base = ui["base"]
    forged = {"Cookie": "periscope_ui=" + "0" * 64}
    for path in ("/", "/map.js", "/events"):
        assert status(base + path) == 403, path
        assert status(base + path, headers=forged) == 403, path
    body = json.dumps({"channel": "c1", "method": "daemon/ping"}).encode()
    assert status(base + "/rpc", body, {"Content-Type": "application/json"}) == 403
    assert status(base + "/?token=" + "f" * 64) == 403, "a wrong token"
    # The page (which spent the token) is in: its own requests work with the cookie.
    assert page.eval("fetch('map.js').then((r) => r.status)", await_promise=True) == 200
    cookies = page.send("Network.getCookies", urls=[base + "/"])["cookies"]
    cookie = next(c for c in cookies if c["name"] == "periscope_ui")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    jar = {"Cookie": f"periscope_ui={cookie['value']}", "Content-Type": "application/json"}
    assert status(base + "/rpc", body, jar) == 200, "the cookie works: the page's channel c1 answers a ping"
    assert status(base + "/rpc", body.replace(b"c1", b"c999"), jar) == 409, "an unknown channel"
    assert status(base + "/rpc", body, dict(jar, Origin="http://evil.example")) == 403, "a cross-origin POST"
    assert status(base + "/rpc", body, dict(jar, **{"Content-Type": "text/plain"})) == 403, "a form-like POST"
    # Spent: the same URL opens nothing any more, for anyone.
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(ui["url"], timeout=10)
        code = 200
    except urllib.error.HTTPError as e:
        code = e.code
    assert code == 403, "the token works once"
    # Another site's page resolving its name to 127.0.0.1 (DNS rebinding) is refused by Host.
    assert status(base + "/", headers={"Host": "evil.example:80"}) == 403
    # Without a daemon there is nothing to serve: exit 69 as every client, nothing on stdout.
    r = subprocess.run([str(BIN / "periscope"), "ui", "--socket", "/nonexistent/periscope.sock", "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 69 and r.stdout == "" and "no daemon" in r.stderr, (r.returncode, r.stdout, r.stderr)


def select_view(page, view):
    page.eval(f"""(() => {{ const p = document.getElementById('view-picker'); p.value = {json.dumps(view)};
        p.dispatchEvent(new Event('change')); }})()""")
    page.wait_for(f"document.getElementById('map').dataset.view === {json.dumps(view)} && "
                  "document.getElementById('status').textContent.includes('live')", timeout=WAIT, what=f"view {view}")


def set_filter(page, text):
    """Types `text` into the filter box (real key input) and presses Enter."""
    page.eval("(() => { const f = document.getElementById('filter'); f.value = ''; f.focus(); })()")
    if text:
        page.send("Input.insertText", text=text)
    page.key("Enter", vk=13)


def node_boxes(page):
    return page.eval("""Array.from(document.querySelectorAll('#nodes g.node')).map((g) => {
        const r = g.querySelector('rect').getBBox(); const m = /translate\\(([-\\d.]+),([-\\d.]+)\\)/.exec(g.getAttribute('transform'));
        return {id: g.dataset.id, cls: g.getAttribute('class'), layer: Number(g.dataset.layer),
                x: Number(m[1]), y: Number(m[2]), w: r.width, h: r.height}; })""")


def test_containers_map_tiers_pseudo_beside_edges_clear_of_boxes(ui, page, stack):
    views = page.eval("Array.from(document.querySelectorAll('#view-picker option')).map((o) => o.value)")
    assert set(views) >= {"processes", "processes-by-name", "hosts", "containers", "containers-by-image",
                          "containers-by-hostname"}, views
    select_view(page, "containers")
    ids = {base: f"container:{cid}" for base, cid in stack.ids.items()}
    want_edges = [f"{ids[f'app{a}']}->{ids[f'db{d}']}" for a in (1, 2) for d in (1, 2, 3)]
    want_edges += [f"{ids[f'lb{l}']}->{ids[f'app{a}']}" for l in (1, 2) for a in (1, 2)]
    page.wait_for("(" + json.dumps(want_edges) + ").every((id) => document.querySelector(`#edges path[data-id=\"${id}\"]`))",
                  timeout=WAIT, what="the stack's edges in the page")
    boxes = {b["id"]: b for b in node_boxes(page)}
    assert all(ids[b] in boxes for b in ids), "every container is drawn"
    layer = lambda base: boxes[ids[base]]["layer"]
    assert layer("lb1") < layer("app1") < layer("db1"), "tiers: load balancers above apps above databases"
    assert layer("lb2") == layer("lb1") and layer("app2") == layer("app1") and layer("db3") == layer("db1")
    pseudo = [b for b in boxes.values() if "pseudo" in b["cls"].split()]
    assert any(b["id"].startswith("pseudo:uncontained;") for b in pseudo)
    right_of_tiers = max(b["x"] + b["w"] for b in boxes.values() if "pseudo" not in b["cls"].split())
    for b in pseudo:
        assert "side" in b["cls"].split() and b["x"] > right_of_tiers, f"pseudo node {b['id']} beside the tiers"
    # No edge passes through a node box other than its own ends (points sampled along every path).
    crossings = page.eval("""(() => {
        const boxes = Array.from(document.querySelectorAll('#nodes g.node')).map((g) => {
          const m = /translate\\(([-\\d.]+),([-\\d.]+)\\)/.exec(g.getAttribute('transform')); const r = g.querySelector('rect');
          return {id: g.dataset.id, x: Number(m[1]), y: Number(m[2]), w: Number(r.getAttribute('width')), h: Number(r.getAttribute('height'))}; });
        const bad = [];
        for (const p of document.querySelectorAll('#edges path.edge')) {
          const len = p.getTotalLength();
          for (let s = 0; s <= len; s += 4) {
            const pt = p.getPointAtLength(s);
            for (const b of boxes) {
              if (b.id === p.dataset.source || b.id === p.dataset.target) continue;
              if (pt.x > b.x + 2 && pt.x < b.x + b.w - 2 && pt.y > b.y + 2 && pt.y < b.y + b.h - 2) bad.push(p.dataset.id + ' through ' + b.id);
            }
          }
        }
        return Array.from(new Set(bad)); })()""")
    assert crossings == [], crossings
    # Labels are drawn after (above) the nodes and every label has its text.
    order = page.eval("Array.from(document.getElementById('map').children).map((c) => c.id || c.tagName)")
    assert order.index("edge-labels") > order.index("nodes"), order
    labels = page.eval("Array.from(document.querySelectorAll('#edge-labels text')).map((t) => t.textContent)")
    assert ":5432" in labels and ":8080" in labels, labels


def test_filter_errors_and_unconnected_toggle(ui, page, stack):
    select_view(page, "containers")
    set_filter(page, "colour:red")
    err = page.wait_for("!document.getElementById('filter-error').hidden && document.getElementById('filter-error').textContent",
                        timeout=WAIT, what="the filter error")
    assert "unknown filter key 'colour'" in err and err.startswith("params.filter"), err
    assert page.eval("document.querySelectorAll('#nodes g.node').length") > 0, "the map stays as it was"
    set_filter(page, f"name:db1-{stack.run}")
    page.wait_for("document.getElementById('filter-error').hidden && "
                  "document.querySelectorAll('#nodes g.node').length === 1", timeout=WAIT, what="the filtered map")
    assert page.eval("document.querySelector('#nodes g.node').dataset.id") == f"container:{stack.ids['db1']}"
    set_filter(page, "")
    page.wait_for("document.querySelectorAll('#nodes g.node').length > 5", timeout=WAIT, what="the whole map again")

    # The unconnected toggle, on the talker container (it never connects to anything): containers show
    # unconnected nodes by default, processes hide them.
    talker = f"container:{stack.ids['talker']}"
    set_filter(page, f"name:talker-{stack.run}")
    assert page.wait_for("document.getElementById('unconnected').checked") is True
    page.wait_for(f"document.querySelectorAll('#nodes g.node').length === 1 && "
                  f"document.querySelector('#nodes g.node').dataset.id === '{talker}'", timeout=WAIT, what="the talker shown")
    page.click("#unconnected")
    page.wait_for("document.querySelectorAll('#nodes g.node').length === 0 && !document.getElementById('empty').hidden",
                  timeout=WAIT, what="the unconnected talker hidden")
    page.click("#unconnected")
    page.wait_for("document.querySelectorAll('#nodes g.node').length === 1", timeout=WAIT, what="the talker shown again")
    set_filter(page, "")
    select_view(page, "processes")
    assert page.eval("document.getElementById('unconnected').checked") is False, "processes hide unconnected nodes by default"


def test_details_sparklines_controls_logs_and_screenshots(ui, page, stack):
    select_view(page, "containers")
    app1 = f"container:{stack.ids['app1']}"
    page.wait_for(f"document.querySelector('#nodes g.node[data-id=\"{app1}\"]')", timeout=WAIT)
    page.click(f'#nodes g.node[data-id="{app1}"]')
    page.wait_for(f"document.getElementById('details').dataset.node === '{app1}' && "
                  "document.querySelectorAll('#details svg.sparkline').length >= 3", timeout=WAIT, what="details with sparklines")
    metrics = page.eval("Array.from(document.querySelectorAll('#details svg.sparkline')).map((s) => s.dataset.metric)")
    assert {"cpu", "memory", "connections"} <= set(metrics), metrics
    # node/changed keeps the details live: the connections history grows, the daemon's histories have points.
    page.wait_for("Number(document.querySelector('#details svg.sparkline[data-metric=\"connections\"]').dataset.points) >= 3",
                  timeout=WAIT, what="live details (node/changed)")
    assert page.eval("Number(document.querySelector('#details svg.sparkline[data-metric=\"memory\"]').dataset.points)") >= 1
    assert page.eval("document.querySelector('#details svg.sparkline[data-metric=\"memory\"] path.line').getAttribute('d')").startswith("M")
    assert page.eval("document.querySelector('#details .controls').dataset.enabled") == "true"
    buttons = page.eval("Array.from(document.querySelectorAll('#details button.control')).map((b) => b.dataset.control + (b.disabled ? '-' : '+'))")
    assert {"stop+", "restart+", "pause+", "logs+"} <= set(buttons), buttons
    time.sleep(1.5)  # a few more samples for the sparklines in the pictures
    os.makedirs(REPO / "artifacts", exist_ok=True)
    shot = page.screenshot(str(REPO / "artifacts" / "web-ui.png"))
    assert open(shot, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(shot) > 20000
    if os.environ.get("PERISCOPE_UPDATE_DOCS") == "1":
        os.makedirs(REPO / "docs", exist_ok=True)
        shutil.copy(shot, REPO / "docs" / "periscope-ui.png")

    # Logs: the talker's output arrives through the logs pipe.
    talker = f"container:{stack.ids['talker']}"
    page.eval("document.getElementById('unconnected').checked || document.getElementById('unconnected').click()")
    page.wait_for(f"document.querySelector('#nodes g.node[data-id=\"{talker}\"]')", timeout=WAIT, what="the talker on the map")
    page.click(f'#nodes g.node[data-id="{talker}"]')
    page.wait_for(f"document.getElementById('details').dataset.node === '{talker}' && document.querySelector('#details button[data-control=logs]')",
                  timeout=WAIT)
    page.click('#details button[data-control="logs"]')
    page.wait_for(f"document.getElementById('logs-text').textContent.includes('hello-{stack.run}')", timeout=WAIT,
                  what="the container's output in the logs panel")
    assert page.eval("document.getElementById('logs').dataset.pipe").startswith("p")

    # Stop through the button: Podman says the container exited.
    db3 = f"container:{stack.ids['db3']}"
    page.click(f'#nodes g.node[data-id="{db3}"]')
    page.wait_for(f"document.getElementById('details').dataset.node === '{db3}' && "
                  "document.querySelector('#details button[data-control=stop]') && "
                  "!document.querySelector('#details button[data-control=stop]').disabled", timeout=WAIT)
    assert page.eval("document.getElementById('logs').hidden") is True, "the logs pipe closes with its node"
    page.click('#details button[data-control="stop"]')
    page.wait_for("(document.querySelector('#details .control-result') || {}).textContent === 'stop: done'", timeout=WAIT,
                  what="the stop control's answer")
    wait_until(lambda: podman("inspect", "-f", "{{.State.Status}}", stack.name("db3")) in ("exited", "stopped"),
               timeout=WAIT, what="db3 stopped in Podman")


def test_controls_off_is_shown(stack):
    """A daemon without --controls: the page says so and the buttons are disabled."""
    u = start_ui(Daemon("--docker-socket", stack.socket, "--refresh-ms", "300", collectors=True))
    b = cdp.Browser()
    try:
        page = b.page
        page.navigate(u["url"])
        page.wait_for("document.getElementById('status').textContent.includes('live')", timeout=WAIT, what="a live map")
        select_view(page, "containers")
        db1 = f"container:{stack.ids['db1']}"
        page.wait_for(f"document.querySelector('#nodes g.node[data-id=\"{db1}\"]')", timeout=WAIT)
        page.click(f'#nodes g.node[data-id="{db1}"]')
        page.wait_for(f"document.getElementById('details').dataset.node === '{db1}'", timeout=WAIT, what="db1's details")
        page.wait_for("document.querySelector('#details .controls')", timeout=WAIT, what="the controls section")
        assert page.eval("document.querySelector('#details .controls').dataset.enabled") == "false"
        assert "--controls" in page.eval("document.querySelector('#details .controls-off').textContent")
        assert page.eval("Array.from(document.querySelectorAll('#details button.control')).every((b) => b.disabled)") is True
    finally:
        b.close()
        stop_ui(u)


def test_page_reconnects_when_the_daemon_comes_back():
    """The page's channel ends with its daemon connection; EventSource comes back, the bridge connects to the
    new daemon on the same socket, and the page subscribes again."""
    first = Daemon("--refresh-ms", "300", collectors=True)
    u = start_ui(first)
    b = cdp.Browser()
    second = None
    try:
        page = b.page
        page.navigate(u["url"])
        page.wait_for("document.getElementById('status').textContent.includes('live')", timeout=WAIT, what="a live map")
        assert first.stop() == 0
        page.wait_for("document.getElementById('status').textContent.startsWith('⚠')", timeout=WAIT, what="the loss shown")
        assert "Not connected" in page.eval("document.getElementById('empty').textContent")
        second = subprocess.Popen([str(BIN / "periscoped"), "--socket", first.socket_path, "--refresh-ms", "300",
                                   "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        page.wait_for("document.getElementById('status').textContent.includes('live') && "
                      "document.querySelectorAll('#nodes g.node').length > 0", timeout=WAIT, what="live again")
    finally:
        b.close()
        u["proc"].terminate()
        assert u["proc"].communicate(timeout=10)[0] == ""
        if second is not None:
            second.terminate()
            assert second.wait(timeout=10) == 0
