#!/usr/bin/env bash
# bench/nats.py: the report bus (issue 15) — change -> subscriber latency at two aggregators through a 3-node
# NATS JetStream cluster, under N simulated publishers (default 200; PUBLISHERS=0 for none), each publishing a full
# report every FULL_EVERY messages and revisioned deltas in between (default 30; 1: full reports only). The daemons
# are PERISCOPE_BIN's (default .build/release: `swift build -c release --product periscoped`; the tests' default,
# .build/debug, when there is no release build). As root; needs nats-server.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nats-server >/dev/null || { echo "nats-server missing: scripts/setup.sh --test" >&2; exit 1; }
if [ -z "${PERISCOPE_BIN:-}" ] && [ -x .build/release/periscoped ]; then export PERISCOPE_BIN="$PWD/.build/release"; fi
python3 bench/nats.py --publishers "${PUBLISHERS:-200}" --samples "${SAMPLES:-20}" --full-every "${FULL_EVERY:-30}" "$@"
