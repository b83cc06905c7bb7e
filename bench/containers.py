"""Driver of bench/containers.sh (issue 5). Python 3 stdlib + clients/python (the Periscope client).

  containers.py latency --socket DAEMON_SOCK --engine ENGINE_SOCK --image IMG --run RUN --trials N
      Creates N containers (sleep), then starts them one at a time through the engine API. For each start,
      the time from the engine reporting the container running (its `start` event on /events, received
      here) to a subscriber in a separate process (topology/subscribe on `containers`, default
      minInterval 100 ms) receiving the notification that adds the container's node. Also reported: from
      the start call returning. Containers are left running (the CPU phase uses them).
  containers.py subscriber --socket DAEMON_SOCK
      (internal) prints "ADD <container id> <time.monotonic()>" per added container node.
  containers.py cpu --pid PID --window S
      utime+stime of PID over S seconds, as percent of one core.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import periscope  # noqa: E402

API = "/v1.41"


def engine_request(path_sock, method, path, body=None, timeout=60):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path_sock)
    data = json.dumps(body).encode() if body is not None else b""
    s.sendall(f"{method} {API}{path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    head, _, rest = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    if b"chunked" in head.lower():
        body_bytes, rest2 = b"", rest
        while rest2:
            size_line, _, rest2 = rest2.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            body_bytes += rest2[:size]
            rest2 = rest2[size + 2:]
        rest = body_bytes
    return status, rest


class EngineEvents(threading.Thread):
    """Follows the engine's /events (container start) and records when each start arrives here."""

    def __init__(self, engine_sock):
        super().__init__(daemon=True)
        self.engine_sock = engine_sock
        self.started = {}  # container id -> time.monotonic()
        self.ready = threading.Event()
        self.cond = threading.Condition()

    def run(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.engine_sock)
        filters = "%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22start%22%5D%7D"
        s.sendall(f"GET {API}/events?filters={filters} HTTP/1.1\r\nHost: docker\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        buf = buf.split(b"\r\n\r\n", 1)[1]
        self.ready.set()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return
            now = time.monotonic()
            buf += chunk
            # Chunked framing around newline-delimited JSON: take every complete JSON line.
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.strip()
                if not line.startswith(b"{"):
                    continue
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("Action", ev.get("status")) == "start":
                    cid = ev.get("Actor", {}).get("ID") or ev.get("id")
                    with self.cond:
                        self.started.setdefault(cid, now)
                        self.cond.notify_all()


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def latency(args):
    events = EngineEvents(args.engine)
    events.start()
    events.ready.wait(10)
    ids = []
    for i in range(args.trials):
        status, body = engine_request(args.engine, "POST", f"/containers/create?name=pscope-bench-{args.run}-{i}", {
            "Image": args.image, "Cmd": ["sleep", "1000000"], "Labels": {"periscope.bench": args.run},
            "HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 1024},
                                       {"Name": "nproc", "Soft": 1024, "Hard": 1024}]}})
        assert status == 201, (status, body[:300])
        ids.append(json.loads(body)["Id"])
    sub = subprocess.Popen([sys.executable, __file__, "subscriber", "--socket", args.socket],
                           stdout=subprocess.PIPE, text=True, bufsize=1)
    adds = {}
    lock = threading.Condition()
    first = threading.Event()

    def read_sub():
        for line in sub.stdout:
            parts = line.split()
            if parts and parts[0] == "READY":
                first.set()
            elif len(parts) == 3 and parts[0] == "ADD":
                with lock:
                    adds.setdefault(parts[1], float(parts[2]))
                    lock.notify_all()

    threading.Thread(target=read_sub, daemon=True).start()
    assert first.wait(20), "subscriber did not start"
    from_event, from_return, misses = [], [], 0
    try:
        for cid in ids:
            time.sleep(args.gap)
            status, body = engine_request(args.engine, "POST", f"/containers/{cid}/start")
            returned = time.monotonic()
            assert status in (204, 304), (status, body[:300])
            deadline = time.monotonic() + 10
            with lock:
                while cid not in adds and time.monotonic() < deadline:
                    lock.wait(0.05)
            with events.cond:
                while cid not in events.started and time.monotonic() < deadline:
                    events.cond.wait(0.05)
            if cid not in adds or cid not in events.started:
                misses += 1
                continue
            from_event.append((adds[cid] - events.started[cid]) * 1000)
            from_return.append((adds[cid] - returned) * 1000)
    finally:
        sub.terminate()
        sub.wait(5)
    n = len(from_event)
    print(f"start -> subscriber, {n} of {len(ids)} starts seen within 10 s ({misses} missed):")
    print(f"  from the engine's start event: p50 {pct(from_event, 50):.0f} ms, p99 {pct(from_event, 99):.0f} ms, "
          f"min {min(from_event, default=0):.0f}, max {max(from_event, default=0):.0f}, "
          f"mean {statistics.mean(from_event) if from_event else 0:.0f}")
    print(f"  from the start call returning: p50 {pct(from_return, 50):.0f} ms, p99 {pct(from_return, 99):.0f} ms")
    print("  per start (ms from event): " + " ".join(f"{v:.0f}" for v in from_event))


def subscriber(args):
    with periscope.connect(args.socket, timeout=30) as c:
        sub = c.subscribe("containers", all=False)
        print("READY", flush=True)
        while True:
            change = sub.next(timeout=60)
            if change is None:
                continue
            now = time.monotonic()
            for node in change.added_nodes:
                if node.id.startswith("container:"):
                    print(f"ADD {node.id[len('container:'):]} {now}", flush=True)


def cpu(args):
    def ticks():
        with open(f"/proc/{args.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    hz = os.sysconf("SC_CLK_TCK")
    t0, w0 = ticks(), time.monotonic()
    time.sleep(args.window)
    t1, w1 = ticks(), time.monotonic()
    print(f"{(t1 - t0) / hz / (w1 - w0) * 100:.2f}")


def main():
    p = argparse.ArgumentParser()
    sp = p.add_subparsers(dest="mode", required=True)
    a = sp.add_parser("latency")
    a.add_argument("--socket", required=True)
    a.add_argument("--engine", required=True)
    a.add_argument("--image", required=True)
    a.add_argument("--run", required=True)
    a.add_argument("--trials", type=int, default=50)
    a.add_argument("--gap", type=float, default=0.3)
    b = sp.add_parser("subscriber")
    b.add_argument("--socket", required=True)
    c = sp.add_parser("cpu")
    c.add_argument("--pid", type=int, required=True)
    c.add_argument("--window", type=float, default=30)
    args = p.parse_args()
    {"latency": latency, "subscriber": subscriber, "cpu": cpu}[args.mode](args)


if __name__ == "__main__":
    main()
