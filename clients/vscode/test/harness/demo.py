#!/usr/bin/env python3
"""A small demo "workspace" for screenshots: named processes talking to each other.

    python3 test/harness/demo.py WORKSPACE_DIR

Starts, with WORKSPACE_DIR as their working directory, `db` and `api` (servers), `worker` (calls
both), and two `loadgen` (call api with steady traffic). The names come from symlinks to the Python
interpreter in WORKSPACE_DIR/bin. Prints READY when every connection is up; runs until stdin closes.
"""
import os
import socket
import subprocess
import sys
import threading
import time

ROLE = r'''
import socket, sys, threading, time
role, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
def echo(c):
    while True:
        d = c.recv(65536)
        if not d: return
        c.sendall(d)
def serve(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()
def talk(port, size, pause):
    c = socket.create_connection(("127.0.0.1", port))
    while True:
        c.sendall(b"x" * size)
        got = 0
        while got < size: got += len(c.recv(65536))
        time.sleep(pause)
if role in ("db", "api"):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
    print(s.getsockname()[1], flush=True)
    threading.Thread(target=serve, args=(s,), daemon=True).start()
else:
    print(0, flush=True)
plan = {"api": [(0, 2048, 0.05), (0, 512, 0.2)], "worker": [(0, 256, 0.3), (1, 8192, 0.05)],
        "loadgen": [(0, 65536, 0.02)]}.get(role, [])
for index, size, pause in plan:
    threading.Thread(target=talk, args=(ports[index], size, pause), daemon=True).start()
sys.stdin.read()
'''


def main():
    ws = os.path.realpath(sys.argv[1])
    os.makedirs(os.path.join(ws, "bin"), exist_ok=True)
    script = os.path.join(ws, "role.py")
    with open(script, "w") as f:
        f.write(ROLE)
    procs = []

    def start(role, *ports):
        exe = os.path.join(ws, "bin", role)
        if not os.path.lexists(exe):
            os.symlink(sys.executable, exe)
        p = subprocess.Popen([exe, script, role, *map(str, ports)], cwd=ws, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        procs.append(p)
        return int(p.stdout.readline())

    db = start("db")
    api = start("api", db)
    start("worker", db, api)
    start("loadgen", api)
    start("loadgen", api)
    print("READY", flush=True)
    try:
        sys.stdin.read()
    finally:
        for p in procs:
            p.stdin.close()
            p.terminate()


if __name__ == "__main__":
    main()
