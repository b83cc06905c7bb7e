#!/usr/bin/env bash
# TCP state tracepoint, in-process: delivery latency of 500 loopback connections (event timestamp →
# handler, connect() returning → handler) and a 4 × 1,500-connection burst past the rings. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product periscope-bench >&2
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r)"
.build/release/periscope-bench socket-events "$@"
