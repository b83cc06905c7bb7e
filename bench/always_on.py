#!/usr/bin/env python3
"""Always-on cost of periscoped (issue 16): load generators and CPU sampling, Python 3 stdlib only.

Parts (each prints one figure block; bench/always-on.sh runs them against one daemon):
  cpu       the daemon's utime+stime over --window s after --warmup s, as % of a core, with `ss -tan`
            (and `ss -tanp`) run once per second in the same window for comparison
  timewait  open and close --count loopback connections (the client closes first, so each leaves a
            TIME_WAIT socket with inode 0 and no owner), then exit
  churn     for --seconds: --execs short-lived processes per second (posix_spawn of /bin/true, reaped)
            and --conns new loopback connections per second; prints its own CPU (self + children)
  make      for --seconds: clean `make -j2` builds of a generated C project; prints make's CPU
"""
import argparse, os, resource, socket, subprocess, sys, tempfile, threading, time

HZ = os.sysconf("SC_CLK_TCK")


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def status(sock):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "clients", "python"))
    import periscope
    with periscope.connect(sock, timeout=10) as c:
        return c.status()


def cpu(args):
    time.sleep(args.warmup)
    before_status = status(args.socket) if args.socket else None
    t0, d0 = time.monotonic(), ticks(args.pid)
    ss_cpu = {"ss -tan": [], "ss -tanp": []}
    next_run = t0
    while time.monotonic() - t0 < args.window:
        if args.ss and time.monotonic() >= next_run:
            for cmd in ss_cpu:
                c0 = children_cpu()
                subprocess.run(cmd.split(), stdout=subprocess.DEVNULL, check=False)
                ss_cpu[cmd].append(children_cpu() - c0)
            next_run += 1.0
        time.sleep(0.05)
    d1, t1 = ticks(args.pid), time.monotonic()
    wall = t1 - t0
    daemon = (d1 - d0) / HZ
    # The ss runs are our children; the daemon is not, so its figure is free of them.
    print(f"[{args.label}] daemon CPU: {daemon * 1000 / wall:.1f} ms per s = {daemon / wall * 100:.2f} % of a core "
          f"over {wall:.1f} s (tick {1000 / HZ:.0f} ms)", flush=True)
    if before_status:
        after = status(args.socket)
        hm0, hm1 = before_status["collectors"].get("host-map", {}), after["collectors"].get("host-map", {})
        print(f"[{args.label}] full passes {hm1.get('passes', 0) - hm0.get('passes', 0)}, "
              f"revisions {hm1.get('revision', 0) - hm0.get('revision', 0)}, sockets {hm1.get('sockets')}, "
              f"processes {hm1.get('processes')}", flush=True)
        cpu_of = lambda h0, h1, key: (h1.get(key, 0) - h0.get(key, 0)) / wall
        print(f"[{args.label}] collection queue: full passes {cpu_of(hm0, hm1, 'fullPassCPUMillis'):.1f} ms per s, "
              f"patches {cpu_of(hm0, hm1, 'patchCPUMillis'):.1f} ms per s "
              f"({hm1.get('patches', 0) - hm0.get('patches', 0)} patches)", flush=True)
        for name in ("process-events", "socket-events"):
            s0, s1 = before_status["collectors"].get(name, {}), after["collectors"].get(name, {})
            print(f"[{args.label}] {name}: {cpu_of(s0, s1, 'eventsSeen'):.1f} events/s in "
                  f"{cpu_of(s0, s1, 'batches'):.1f} batches/s, thread "
                  f"{cpu_of(s0, s1, 'cpuMillis'):.1f} ms per s, lost {s1.get('eventsLost')}", flush=True)
    for cmd, runs in ss_cpu.items():
        if runs:
            per = sum(runs) / len(runs)
            print(f"[{args.label}] `{cmd}` once: {per * 1000:.1f} ms CPU ({len(runs)} runs); daemon per s / "
                  f"`{cmd}` per s = {daemon / wall / per:.3f}", flush=True)


def listener(backlog):
    """A loopback TCP listener on an ephemeral port: (socket, port)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(backlog)
    return server, server.getsockname()[1]


def timewait(args):
    server, port = listener(4096)
    start = time.monotonic()
    for _ in range(args.count):
        c = socket.create_connection(("127.0.0.1", port))
        s, _ = server.accept()
        c.close()   # active close: the client side ends in TIME_WAIT
        s.close()
    server.close()
    print(f"[timewait] {args.count} connections opened and closed in {time.monotonic() - start:.1f} s", flush=True)


def churn(args):
    server, port = listener(256)
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                s, _ = server.accept()
                s.close()
            except OSError:
                continue
    threading.Thread(target=accept, daemon=True).start()
    c0, s0 = children_cpu(), self_cpu()
    start = time.monotonic()
    execs = conns = 0
    step = 1.0 / max(args.execs, 1)
    while time.monotonic() - start < args.seconds:
        t = time.monotonic() - start
        while execs < t * args.execs:
            pid = os.posix_spawn("/bin/true", ["true"], os.environ)
            os.waitpid(pid, 0)
            execs += 1
        while conns < t * args.conns:
            c = socket.create_connection(("127.0.0.1", port))
            c.close()
            conns += 1
        time.sleep(step / 2)
    stop.set()
    wall = time.monotonic() - start
    own = children_cpu() - c0 + self_cpu() - s0
    print(f"[churn] {execs} execs, {conns} connections in {wall:.1f} s; churn's own CPU "
          f"{own * 1000 / wall:.1f} ms per s", flush=True)


def make(args):
    root = tempfile.mkdtemp(prefix="always-on-make-", dir=args.tmp)
    names = [f"f{i}" for i in range(args.files)]
    for i, n in enumerate(names):
        with open(os.path.join(root, n + ".c"), "w") as f:
            f.write(f"#include <stdio.h>\nint {n}(int x) {{ int s = 0; for (int i = 0; i < x; i++) s += i * {i}; "
                    f"return s; }}\n")
    with open(os.path.join(root, "main.c"), "w") as f:
        f.write("".join(f"int {n}(int);\n" for n in names))
        f.write("int main(void) { return " + " + ".join(f"{n}(1)" for n in names) + "; }\n")
    objs = " ".join(n + ".o" for n in names)
    with open(os.path.join(root, "Makefile"), "w") as f:
        f.write(f"prog: main.o {objs}\n\tcc -o $@ $^\n%.o: %.c\n\tcc -O1 -c -o $@ $<\nclean:\n\trm -f *.o prog\n")
    c0 = children_cpu()
    start = time.monotonic()
    builds = 0
    while time.monotonic() - start < args.seconds:
        subprocess.run(["make", "-s", "-C", root, "clean"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["make", "-s", "-j2", "-C", root], check=True, stdout=subprocess.DEVNULL)
        builds += 1
    wall = time.monotonic() - start
    print(f"[make] {builds} clean `make -j2` builds of {args.files + 1} C files in {wall:.1f} s; make's CPU "
          f"{(children_cpu() - c0) * 1000 / wall:.1f} ms per s", flush=True)
    subprocess.run(["rm", "-rf", root], check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sp = ap.add_subparsers(dest="cmd", required=True)
    p = sp.add_parser("cpu")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--socket")
    p.add_argument("--label", default="cpu")
    p.add_argument("--window", type=float, default=20)
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--ss", action="store_true", help="run ss -tan and ss -tanp once per second")
    p = sp.add_parser("timewait")
    p.add_argument("--count", type=int, default=10000)
    p = sp.add_parser("churn")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--execs", type=float, default=50)
    p.add_argument("--conns", type=float, default=10)
    p = sp.add_parser("make")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--files", type=int, default=40)
    p.add_argument("--tmp", default="/tmp")
    args = ap.parse_args()
    {"cpu": cpu, "timewait": timewait, "churn": churn, "make": make}[args.cmd](args)


if __name__ == "__main__":
    main()
