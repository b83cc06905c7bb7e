#!/usr/bin/env bash
# The syscall cost of one /proc scan, opened per pass vs through kept descriptors (issue 16, benchmark 3):
#
#   sudo bench/proc-scan.sh [--connections 10000] [--procs 200] [--idle-procs 100] [--iterations 100]
#
# Starts benchmark 3's load (bench/connections.py: --connections loopback connections over --procs processes,
# plus --idle-procs `sleep`s), then runs bench/proc-scan/scan.c (built here with cc) twice: the CPU per scan of
# every process the way ProcessScanner read them before (nine syscalls each) and the way it reads a known
# process now (ProcessHandles: fstat, pread, fstatat). Bounded in time; everything it starts is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS=10000
PROCS=200
IDLE=100
ITERATIONS=100
while [[ $# -gt 0 ]]; do
    case "$1" in
        --connections) CONNECTIONS=$2; shift 2 ;;
        --procs) PROCS=$2; shift 2 ;;
        --idle-procs) IDLE=$2; shift 2 ;;
        --iterations) ITERATIONS=$2; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
TMP=$(mktemp -d)
PIDS=()
cleanup() { set +e; [[ ${#PIDS[@]} -gt 0 ]] && kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
cc -O2 -o "$TMP/scan" bench/proc-scan/scan.c
ulimit -n "$(ulimit -Hn)"
python3 bench/connections.py --connections "$CONNECTIONS" --procs "$PROCS" --seconds 300 >"$TMP/load.out" 2>"$TMP/load.err" &
PIDS+=($!)
for _ in $(seq 1 "$IDLE"); do sleep 300 & PIDS+=($!); done
for _ in $(seq 1 180); do grep -q ready "$TMP/load.out" && break; sleep 1; done
grep -q ready "$TMP/load.out" || { cat "$TMP/load.err" >&2; exit 1; }
echo "# proc-scan $(date -u +%FT%TZ) on $(hostname): $(nproc) cores, Linux $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $CONNECTIONS connections over $PROCS processes + $IDLE idle sleeps"
"$TMP/scan" "$ITERATIONS"
"$TMP/scan" "$ITERATIONS"
