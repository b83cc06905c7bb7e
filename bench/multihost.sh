#!/usr/bin/env bash
# Many hosts (issue 11): builds periscoped (release) and periscope (debug, for `periscope certs`), then runs
# bench/multihost.py: change-on-host -> subscriber-at-aggregator latency and bytes/s per publisher; with
# LOAD=50 also under 50 simulated publishers (bench/publishers.py). As root (namespaces, veth, bridge).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product periscoped >&2
swift build --product periscope >&2
args=(--bin .build/release --samples "${SAMPLES:-30}")
[[ -n "${LOAD:-}" ]] && args+=(--load "$LOAD")
python3 bench/multihost.py "${args[@]}"
