#!/usr/bin/env python3
"""Open N established loopback TCP connections spread over P processes, then hold them.

Used to benchmark Periscope's collectors against `ss -tanp` at a realistic load:

    python3 bench/connections.py --connections 10000 --procs 50 --seconds 300 &
    # wait for the line "ready", then measure; the script stops by itself after --seconds,
    # or on SIGTERM / SIGINT.

Worker i listens on 127.0.0.1 (kernel-chosen port) and opens its share of client connections to worker
(i+1) % P, so every connection has its two ends in two different processes, as in real traffic. Each
connection is 2 sockets: 10,000 connections = 20,000 established sockets + P listeners.
Python 3 standard library only; loopback only; bounded in time.
"""
import argparse
import os
import resource
import signal
import socket
import sys
import threading
import time


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, needed + 64))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def shares(total, parts):
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def worker(index, procs, outgoing, incoming, to_parent, from_parent, deadline, parent):
    raise_fd_limit(outgoing + incoming + 16)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    os.write(to_parent, b"%d\n" % listener.getsockname()[1])

    data = b""
    while data.count(b"\n") < procs:
        chunk = os.read(from_parent, 65536)
        if not chunk:
            os._exit(1)
        data += chunk
    ports = [int(p) for p in data.split()]
    target = ports[(index + 1) % procs]

    held = []
    def accept_all():
        for _ in range(incoming):
            conn, _ = listener.accept()
            held.append(conn)
    acceptor = threading.Thread(target=accept_all, daemon=True)
    acceptor.start()
    for _ in range(outgoing):
        held.append(socket.create_connection(("127.0.0.1", target)))
    acceptor.join()
    os.write(to_parent, b"ok\n")

    while time.time() < deadline and os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--procs", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=300, help="stop by itself after this long")
    args = parser.parse_args()
    if args.procs < 2 or args.connections < 0 or args.seconds <= 0:
        parser.error("need --procs >= 2, --connections >= 0, --seconds > 0")

    deadline = time.time() + args.seconds
    counts = shares(args.connections, args.procs)
    parent = os.getpid()
    children = []
    for i in range(args.procs):
        up_r, up_w = os.pipe()
        down_r, down_w = os.pipe()
        incoming = counts[(i - 1) % args.procs]
        pid = os.fork()
        if pid == 0:
            os.close(up_r)
            os.close(down_w)
            try:
                worker(i, args.procs, counts[i], incoming, up_w, down_r, deadline, parent)
            finally:
                os._exit(1)
        os.close(up_w)
        os.close(down_r)
        children.append((pid, up_r, down_w))

    def stop(*_):
        for pid, _, _ in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid, _, _ in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def read_line(fd):
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(fd, 1)
            if not chunk:
                print("a worker died before it was ready", file=sys.stderr)
                stop()
            line += chunk
        return line

    ports = [read_line(up_r) for _, up_r, _ in children]
    for _, _, down_w in children:
        os.write(down_w, b"".join(ports))
    for _, up_r, _ in children:
        read_line(up_r)
    print("ready", flush=True)
    print(f"{args.connections} connections over {args.procs} processes; parent pid {parent}", file=sys.stderr)

    while time.time() < deadline:
        time.sleep(0.5)
    stop()


if __name__ == "__main__":
    main()
