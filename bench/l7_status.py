"""Prints `daemon/status` → `collectors.l7` of the daemon on the Unix socket argv[1], as JSON; with --run-stats,
only the programs' kernel run time and run count ("NS COUNT"). Used by bench/l7.sh and bench/l7-syscalls.sh."""
import json
import socket
import sys

s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon/status"}\n')
buf = b""
while not buf.endswith(b"\n"):
    buf += s.recv(1 << 20)
l7 = json.loads(buf)["result"]["collectors"]["l7"]
if "--run-stats" in sys.argv[2:]:
    print(l7.get("runTimeNs", 0), l7.get("runCount", 0))
else:
    print(json.dumps(l7))
