#!/usr/bin/env bash
# The main job: install what is missing, build, start periscoped on the default socket (unless one
# is already serving it), and show what it serves.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
swift build -c release --product periscoped >&2
swift build -c release --product periscope >&2
BIN=.build/release
SOCKET=$("$BIN/periscoped" --print-socket)
LOG=${PERISCOPE_LOG:-${TMPDIR:-/tmp}/periscoped.log}
if "$BIN/periscope" status --socket "$SOCKET" >/dev/null 2>&1; then
    echo "periscoped is already serving $SOCKET" >&2
else
    nohup "$BIN/periscoped" --socket "$SOCKET" >/dev/null 2>>"$LOG" &
    for _ in $(seq 1 100); do
        [[ -S "$SOCKET" ]] && break
        sleep 0.1
    done
    echo "started periscoped (pid $!) on $SOCKET, logging to $LOG" >&2
    sleep 1.5  # let the first collector pass finish
fi
"$BIN/periscope" status --socket "$SOCKET"
echo
if "$BIN/periscope" --help 2>/dev/null | grep -q " get "; then
    "$BIN/periscope" get processes --socket "$SOCKET"
fi
