#!/usr/bin/env bash
# daemon/ping round trips over the Unix socket (1 and 16 clients) and in-process framing+decode
# throughput. Release build; prints one line per figure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
swift build -c release --product periscoped >&2
swift build -c release --product periscope-bench >&2
B=.build/release
SOCK=$(mktemp -d)/bench.sock
"$B/periscoped" --socket "$SOCK" --no-collectors --log-level warning &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [[ -S "$SOCK" ]] && break; sleep 0.05; done
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r)"
for clients in 1 16; do
    "$B/periscope-bench" ping --socket "$SOCK" --clients "$clients" --seconds "$SECONDS_PER_RUN"
done
"$B/periscope-bench" framing --megabytes 256
