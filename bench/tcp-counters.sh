#!/usr/bin/env bash
# Cost of one counters read (issue 16, benchmark 3's counters updates), three ways in one loop, on N loopback
# connections held by bench/connections.py: two sock_diag dumps with INET_DIAG_INFO, a plain BPF TCP iterator,
# and the daemon's BPF source (bpf/tcp_counters.bpf.c). Needs root, clang with the BPF target, libbpf-dev.
#   sudo bench/tcp-counters.sh [--connections 10000] [--procs 200] [--rounds 50] [--repeat 5]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
CONNECTIONS=10000 PROCS=200 ROUNDS=50 REPEAT=5
while [[ $# -gt 0 ]]; do
    case "$1" in
        --connections) CONNECTIONS=$2; shift 2 ;;
        --procs) PROCS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
TMP=$(mktemp -d)
LOAD_PID=""
cleanup() { [[ -n $LOAD_PID ]] && kill "$LOAD_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
BPF_FLAGS=(-O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -I Sources/CPeriscopeBPF/include -I "/usr/include/$(uname -m)-linux-gnu")
clang "${BPF_FLAGS[@]}" -c bench/tcp-counters/tcp_iter.bpf.c -o "$TMP/tcp_iter.o"
clang "${BPF_FLAGS[@]}" -c bpf/tcp_counters.bpf.c -o "$TMP/tcp_counters.o"
clang -O2 -I Sources/CPeriscopeBPF/include -I Sources/CPeriscopeLinux/include bench/tcp-counters/cost.c \
    Sources/CPeriscopeBPF/tcp_counters.c Sources/CPeriscopeBPF/bpf_messages.c Sources/CPeriscopeLinux/netlink.c \
    -lbpf -lpthread -o "$TMP/cost"
ulimit -n "$(ulimit -Hn)"
python3 bench/connections.py --connections "$CONNECTIONS" --procs "$PROCS" --seconds 900 >"$TMP/load.out" 2>&1 &
LOAD_PID=$!
for _ in $(seq 1 180); do grep -q ready "$TMP/load.out" && break; sleep 1; done
grep -q ready "$TMP/load.out" || { cat "$TMP/load.out" >&2; exit 1; }
echo "load: $CONNECTIONS connections over $PROCS processes; $(ss -tan state established | tail -n +2 | wc -l) established TCP sockets on the host; $(uptime)"
for _ in $(seq 1 "$REPEAT"); do "$TMP/cost" "$TMP/tcp_iter.o" "$TMP/tcp_counters.o" "$ROUNDS"; done
echo "after: $(uptime)"
