#!/usr/bin/env bash
# Builds Periscope with a sanitizer and runs the Swift tests and the integration suite against that build.
#   scripts/sanitize.sh address|thread [PYTEST_FILE...]
# Scratch paths .build-asan / .build-tsan (debug builds). Any sanitizer report fails the run: every
# instrumented process (the test bundle, each periscoped the tests start, the clients) writes reports to
# files under $scratch/sanitizer-logs/ (log_path), which must stay empty; halt_on_error also makes the
# process exit non-zero, which the tests see (Daemon.stop asserts a clean exit).
# A failing Swift test fails the run, and so does a daemon that crashed or exited with an error in a
# pytest test. Any other failing pytest test is listed but fails the run only with SANITIZE_STRICT=1:
# the suite has 3-5 s waits and RSS bounds calibrated for normal builds, which ASan (2-3x slower,
# redzones and a quarantine of freed memory) and TSan (5-15x) miss on a busy 2-core machine; the same
# tests run strictly against the normal build in scripts/test.sh, and a sanitizer finding still fails
# the run through its report.
# Without PYTEST_FILE arguments: the whole integration suite under ASan; under TSan (5-15x slower) the
# daemon-focused files, see below. Suppressions: scripts/tsan-suppressions.txt (each entry says why).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

kind="${1:-}"
shift || true
case "$kind" in
    address) scratch=.build-asan ;;
    thread) scratch=.build-tsan ;;
    *) echo "usage: scripts/sanitize.sh address|thread [PYTEST_FILE...]" >&2; exit 2 ;;
esac
files=("$@")
if ((${#files[@]} == 0)); then
    if [[ "$kind" == address ]]; then
        files=(Tests/integration clients/python/tests)
    else
        # The daemon itself (sessions, subscriptions, the loop and collector threads, framing, lifecycle):
        # where threads meet. The other files drive editors, the browser and container engines through
        # the same daemon code paths and would triple the TSan run for little new concurrency.
        files=(Tests/integration/test_robustness.py Tests/integration/test_subscriptions.py
               Tests/integration/test_transcripts.py Tests/integration/test_lsp_jsonrpc.py)
    fi
fi

logs="$PWD/$scratch/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"

start=$SECONDS
echo "sanitize: building with -sanitize=$kind ($scratch)" >&2
swift build --build-tests --scratch-path "$scratch" --sanitize "$kind" 2>&1 \
    | grep -vE '^\[[0-9]+/[0-9]+\]|Cannot export local symbol' >&2
built=$SECONDS

# Let the sanitizer report a crash, not Swift's backtracer (both would handle the same signal).
export SWIFT_BACKTRACE=enable=no
# Leak checking (LeakSanitizer at exit) is off: this run is about invalid accesses, and whether the
# daemon's exit paths free every long-lived object has not been looked at (left for later).
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=0:log_path=$logs/asan:${ASAN_OPTIONS:-}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan-suppressions.txt:log_path=$logs/tsan:${TSAN_OPTIONS:-}"
export PERISCOPE_BIN="$PWD/$scratch/debug"

# A throughput check of the optimized socket-state reader against a 3,000-connection flood: under ASan the
# reader is several times slower than the flood and its rings overflowed (350 and 1,532 samples lost in CI).
skip=(--skip idlePeriodKeepsUpWithAFlood)
if [[ "$kind" == thread ]]; then
    # Counts fd links re-read across the whole host between two passes: under TSan a pass is slow enough
    # for other processes' fd churn to exceed its bound (failed in 2 of 3 TSan runs on a busy machine,
    # never under ASan). It checks a cache, not concurrency; the normal and ASan runs keep it.
    skip+=(--skip ownersAreResolvedIncrementally)
fi

status=0
echo "sanitize: swift test ($kind)" >&2
SWIFT_TEST_HANG_SECONDS=420 SWIFT_TEST_LOG="$scratch/swift-test.log" timeout 1500 scripts/swift-test.sh --scratch-path "$scratch" \
        --sanitize "$kind" "${skip[@]}" || status=1
unit=$SECONDS

# One pytest per suite: Tests/integration and clients/python/tests each have their own conftest.py.
integration=() python_client=()
for f in "${files[@]}"; do
    if [[ "$f" == clients/python/* ]]; then python_client+=("$f"); else integration+=("$f"); fi
done
for group in integration python_client; do
    declare -n chosen="$group"
    ((${#chosen[@]})) || continue
    echo "sanitize: pytest ${chosen[*]} ($kind)" >&2
    out="$scratch/pytest-$group.log"
    if ! timeout 2400 python3 -m pytest "${chosen[@]}" -q -p no:cacheprovider -rfE > "$out" 2>&1; then
        grep -E '^(FAILED|ERROR) |passed|failed|error' "$out" >&2 || tail -20 "$out" >&2
        # A daemon that crashed or exited non-zero (Daemon.stop's assertion, a Swift runtime trap) is a
        # finding whatever the timing.
        if grep -qE 'periscoped exited with an error|Fatal error:' "$out"; then
            echo "sanitize: a daemon crashed or exited with an error:" >&2
            grep -E -A2 'Fatal error:' "$out" | head -20 >&2 || true
            status=1
        elif [[ "${SANITIZE_STRICT:-0}" == 1 ]]; then
            status=1
        else
            echo "sanitize: pytest failures above are not fatal without SANITIZE_STRICT=1 (timing under $kind)" >&2
        fi
    else
        grep -E 'passed|failed' "$out" | tail -1 >&2
    fi
done
done_at=$SECONDS

reports=("$logs"/*)
if [[ -e "${reports[0]}" ]]; then
    echo "sanitize: ${#reports[@]} sanitizer report(s):" >&2
    for r in "${reports[@]}"; do
        echo "== $r" >&2
        head -60 "$r" >&2
    done
    status=1
fi
echo "sanitize: $kind build $((built - start))s, swift test $((unit - built))s, pytest $((done_at - unit))s," \
     "$([[ $status == 0 ]] && echo "no reports" || echo FAILED)" >&2
exit "$status"
