#!/usr/bin/env bash
# History log (issue 13): a synthetic host of 200 processes and 1,000 connections with 10 changes/s,
# recorded through the recorder with an injected clock (one report per simulated second, as the daemon does
# while someone looks; a commit every COMMIT_SECONDS, default 10 like the daemon's --history-commit-interval),
# then topology/get at and topology/diff over the recorded hour.
# Prints the log's growth and disk writes extrapolated to a day, the recording CPU, and the query times.
# Release build. SECONDS_SIMULATED=3600 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product periscope-bench >&2
DB=$(mktemp -d)/history.db
trap 'rm -rf "$(dirname "$DB")"' EXIT
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1)"
.build/release/periscope-bench history --path "$DB" --seconds "${SECONDS_SIMULATED:-3600}" \
    --processes 200 --connections 1000 --changes 10 --queries 5 --commit-seconds "${COMMIT_SECONDS:-10}"
