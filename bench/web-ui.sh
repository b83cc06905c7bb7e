#!/usr/bin/env bash
# `periscope ui`: request round trips through the bridge next to the daemon's socket, and page open to a live
# map in headless Chromium (bench/web_ui.py). Release build; prints one line per figure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product periscoped >&2
swift build -c release --product periscope >&2
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r)"
python3 bench/web_ui.py .build/release "${N:-2000}"
