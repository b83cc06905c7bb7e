#!/usr/bin/env bash
# Every test: Swift unit and integration tests, then the pytest suite against the real daemon; then the
# proof runs of issue #10: the same tests against ASan and TSan builds (scripts/sanitize.sh) and every fuzz
# target for CI_FUZZ_SECONDS (default 30) seconds (scripts/fuzz.sh). Measured on the 2-core CI machine, see
# bench/RESULTS.md ("Sanitizers", "Fuzzing").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh --test
swift build --build-tests 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' >&2
swift test --skip-build
python3 -m pytest clients/python/tests -q -p no:cacheprovider
python3 -m pytest Tests/integration -q -p no:cacheprovider
scripts/sanitize.sh address
scripts/sanitize.sh thread
scripts/fuzz.sh "${CI_FUZZ_SECONDS:-30}"
