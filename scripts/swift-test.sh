#!/usr/bin/env bash
# Runs `swift test --skip-build "$@"` with its output in $SWIFT_TEST_LOG (default .build/swift-test.log).
# On failure it prints every failed test with the issues it recorded, then runs those tests once more:
# several tests wait on the real kernel or on a daemon's pacing, and on a 2-core machine (slower still
# under a sanitizer) an unrelated burst can miss a wait. A test that fails twice fails the run, and so does
# a run that failed without naming a test (a crash). Same policy as the integration stage's --reruns 1.
set -uo pipefail
log="${SWIFT_TEST_LOG:-.build/swift-test.log}"
mkdir -p "$(dirname "$log")"

swift test --skip-build "$@" > "$log" 2>&1
status=$?
grep -E '^(✔|✘) Test run|Executed [0-9]+ tests' "$log" | tail -2 >&2 || true
((status == 0)) && exit 0

# Swift Testing prints "✘ Test name(args) recorded an issue at File.swift:L:C: ..." and "✘ Test name() failed ...".
mapfile -t failed < <(grep -oE '^✘ Test [A-Za-z_][A-Za-z0-9_]*\(' "$log" | sed -E 's/^✘ Test //; s/\($//' | sort -u)
echo "swift-test: failed (exit $status); failed tests: ${failed[*]:-none named}" >&2
grep -E -A3 '^✘ Test [A-Za-z_].*recorded an issue' "$log" | head -60 >&2 || true
if ((${#failed[@]} == 0)) || grep -qE 'Fatal error:|ThreadSanitizer|AddressSanitizer' "$log"; then
    tail -40 "$log" >&2
    exit "$status"
fi

filter="$(IFS='|'; echo "${failed[*]}")"
echo "swift-test: running the failed tests once more (--filter '$filter')" >&2
swift test --skip-build "$@" --filter "$filter" > "$log.rerun" 2>&1
rerun=$?
grep -E '^(✔|✘) Test run' "$log.rerun" | tail -1 >&2 || true
if ((rerun != 0)); then
    grep -E -A3 '^✘ Test [A-Za-z_].*recorded an issue' "$log.rerun" | head -60 >&2 || tail -40 "$log.rerun" >&2
    exit "$rerun"
fi
echo "swift-test: rerun passed: ${failed[*]} (first failure shown above)" >&2
exit 0
