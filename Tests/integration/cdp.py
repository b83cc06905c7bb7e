"""A small Chrome DevTools Protocol driver for headless Chromium (Debian's `chromium`), over
`websocket-client`: start a browser, open a page, evaluate JavaScript, click at an element's centre
with real mouse events, take screenshots. Playwright and Selenium are not installable offline here;
CDP is what they use underneath."""
import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import websocket


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class JSError(Exception):
    pass


class Browser:
    """One headless Chromium with its own profile, and its first page as `self.page`."""

    def __init__(self, width=1400, height=900):
        self.profile = tempfile.mkdtemp(prefix="periscope-chromium-")
        self.proc = subprocess.Popen(
            [chromium_path(), "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             f"--window-size={width},{height}", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                if self.proc.poll() is not None:
                    break
                continue
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            self.close()
            raise RuntimeError("chromium did not start its DevTools endpoint")
        self.port = port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = [t for t in json.load(r) if t.get("type") == "page"]
        self.page = Page(targets[0]["webSocketDebuggerUrl"])

    def close(self):
        try:
            if getattr(self, "page", None):
                self.page.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events = []
        self.send("Page.enable")
        self.send("Runtime.enable")

    def close(self):
        self.ws.close()

    def send(self, method, **params):
        mid = next(self.ids)
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == mid:
                if "error" in m:
                    raise JSError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def navigate(self, url, wait=True, timeout=20):
        """Opens `url` and (with `wait`) returns once the new document has loaded: readyState alone can be read
        from the old document before the navigation commits. Returns Page.navigate's result (its `errorText`
        says why a load failed)."""
        self.events.clear()
        result = self.send("Page.navigate", url=url)
        if wait:
            deadline = time.time() + timeout
            while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
                if time.time() > deadline:
                    raise AssertionError(f"{url}: no load event in {timeout} s (navigate: {result})")
                self.eval("0")  # collects the events that arrived meanwhile
                time.sleep(0.05)
            self.wait_for("document.readyState === 'complete'", timeout=timeout)
        return result

    def eval(self, expression, await_promise=False):
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in r:
            raise JSError(f"{expression[:200]}: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    def wait_for(self, expression, timeout=15, what=None):
        """Polls a JavaScript expression until it is truthy (as JavaScript sees it); returns its value."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.eval(expression)
            except JSError as e:
                last = e
            # JavaScript truthiness: an element comes back as {} (falsy in Python), so only these are false.
            if not isinstance(last, JSError) and last not in (None, False, 0, ""):
                return last
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or expression} (last: {last!r})")

    def click(self, selector):
        """Real mouse events at the centre of the first element matching `selector`."""
        box = self.eval(f"""(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;
            e.scrollIntoView({{block: 'center', inline: 'center'}}); const r = e.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2}}; }})()""")
        assert box, f"no element {selector}"
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1)

    def type_text(self, selector, text):
        self.eval(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", text=text)

    def key(self, key, code=None, vk=None):
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key=key, code=code or key,
                      windowsVirtualKeyCode=vk or 0)

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
