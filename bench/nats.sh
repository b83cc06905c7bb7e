#!/usr/bin/env bash
# bench/nats.py: the report bus (issue 15) — change -> subscriber latency at two aggregators through a 3-node
# NATS JetStream cluster, under N simulated publishers (default 200; PUBLISHERS=0 for none). As root; needs nats-server.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nats-server >/dev/null || { echo "nats-server missing: scripts/setup.sh --test" >&2; exit 1; }
python3 bench/nats.py --publishers "${PUBLISHERS:-200}" --samples "${SAMPLES:-20}" "$@"
