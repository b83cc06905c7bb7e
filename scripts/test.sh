#!/usr/bin/env bash
# Every test: Swift unit and integration tests, then the pytest suite against the real daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh --test
swift build --build-tests 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' >&2
swift test --skip-build
python3 -m pytest clients/python/tests -q -p no:cacheprovider
python3 -m pytest Tests/integration -q -p no:cacheprovider
