#!/usr/bin/env bash
# Runs `swift test --skip-build "$@"` with its output in $SWIFT_TEST_LOG (default .build/swift-test.log).
# On failure it prints every failed test with the issues it recorded, then runs those tests once more:
# several tests wait on the real kernel or on a daemon's pacing, and on a 2-core machine (slower still
# under a sanitizer) an unrelated burst can miss a wait. A test that fails twice fails the run, and so does
# a run that failed without naming a test (a crash). Same policy as the integration stage's --reruns 1.
# With SWIFT_TEST_HANG_SECONDS=N, a run still going after N seconds is taken for hung: the tests that
# started and did not end and the test process's thread stacks (gdb) are printed, the run is killed and the
# whole suite runs once more; a second hang fails. (Seen once in 12 TSan runs, 2026-12-01: cause not yet
# found, so the stacks are printed for whoever meets it next.)
set -uo pipefail
log="${SWIFT_TEST_LOG:-.build/swift-test.log}"
hang="${SWIFT_TEST_HANG_SECONDS:-0}"
mkdir -p "$(dirname "$log")"

# run_watched LOG ARGS...: swift test into LOG; exit status, or 124 after a hang.
run_watched() {
    local out="$1"; shift
    swift test --skip-build "$@" > "$out" 2>&1 &
    local pid=$! start=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        if ((hang > 0 && SECONDS - start >= hang)); then
            echo "swift-test: still running after ${hang}s; tests started and not ended (output is buffered, so partial):" >&2
            grep -oE '(◇|✔|✘) Test [A-Za-z_][A-Za-z0-9_]*\(' "$out" | sed -E 's/\($//' \
                | awk '$1 == "◇" { open[$3] = 1; next } { delete open[$3] } END { for (t in open) print "  " t }' >&2
            local p
            # The test bundle runs as a child of this `swift test` (not any test process of the machine).
            for p in $(pgrep -P "$pid"); do
                echo "swift-test: stacks of pid $p (threads, and their frames in this project's code)" >&2
                timeout 120 gdb -batch -ex 'thread apply all bt 40' -p "$p" 2>/dev/null \
                    | grep -E '^Thread |/(Sources|Tests)/' | cut -c1-300 | head -150 >&2
            done
            pkill -KILL -P "$pid"
            kill "$pid" 2>/dev/null
            wait "$pid"
            return 124
        fi
        sleep 2
    done
    wait "$pid"
}

run_watched "$log" "$@"
status=$?
if ((status == 124)); then
    echo "swift-test: running the whole suite once more after the hang" >&2
    run_watched "$log" "$@"
    status=$?
fi
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
run_watched "$log.rerun" "$@" --filter "$filter"
rerun=$?
grep -E '^(✔|✘) Test run' "$log.rerun" | tail -1 >&2 || true
if ((rerun != 0)); then
    grep -E -A3 '^✘ Test [A-Za-z_].*recorded an issue' "$log.rerun" | head -60 >&2 || tail -40 "$log.rerun" >&2
    exit "$rerun"
fi
echo "swift-test: rerun passed: ${failed[*]} (first failure shown above)" >&2
exit 0
