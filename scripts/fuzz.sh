#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, with AddressSanitizer) and runs every target for SECONDS each.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default 60 s, every target (frame json filter engine netlink proc)
# Prints each target's executions and coverage; exits 1 when a target crashed or broke an invariant (the
# input is kept as .build-fuzz/artifacts/TARGET-crash-*; replay it with .build-fuzz/fuzzers/fuzz-TARGET FILE).
# See fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

seconds="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(frame json filter engine netlink proc)

scratch=.build-fuzz
echo "fuzz: building (scratch path $scratch)" >&2
# --sanitize instruments the C targets and links the runtimes; swiftc keeps only the last -sanitize= it is
# given, so Swift also gets both in one flag (appended after SwiftPM's). -enable-testing: @testable imports.
PERISCOPE_FUZZ=1 swift build --scratch-path "$scratch" -c release --product periscope-fuzz \
    --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing 2>&1 \
    | grep -vE '^\[[0-9]+/[0-9]+\]|Cannot export local symbol' >&2
binary="$scratch/release/periscope-fuzz"
mkdir -p "$scratch/fuzzers" "$scratch/artifacts"
for t in "${targets[@]}"; do ln -sf "../release/periscope-fuzz" "$scratch/fuzzers/fuzz-$t"; done
[[ -x "$binary" ]] || { echo "fuzz: $binary was not built" >&2; exit 1; }

# Largest input per target: a few frames, a document, a filter line, an engine response, a netlink buffer.
max_len() {
    case "$1" in
        filter) echo 512 ;;
        engine) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

# Swift's own crash reporter would race libFuzzer's deadly-signal handler for a trap; let libFuzzer report.
export SWIFT_BACKTRACE=enable=no
# Leaks are checked (libFuzzer's -detect_leaks default); a failure must stop the target at once.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=0:detect_leaks=1}"

failed=()
printf '%-8s %8s %14s %8s %8s %6s\n' target seconds executions cov ft corpus > "$scratch/summary.txt"
for t in "${targets[@]}"; do
    seeds="fuzz/corpus/$t"
    work="$scratch/corpus/$t"
    mkdir -p "$work"
    log="$scratch/fuzz-$t.log"
    echo "fuzz: $t for ${seconds}s (log $log)" >&2
    rc=0
    "$scratch/fuzzers/fuzz-$t" "$work" "$seeds" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$scratch/artifacts/$t-" \
        > "$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    # The last status line: "#123456 DONE cov: 812 ft: 2345 corp: 210/14Kb ..."
    status=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$status")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$status")
    corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$status")
    printf '%-8s %8s %14s %8s %8s %6s\n' "$t" "$seconds" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" >> "$scratch/summary.txt"
    if ((rc != 0)); then
        failed+=("$t")
        echo "fuzz: $t FAILED (exit $rc):" >&2
        grep -E 'ERROR:|Fatal error|invariant broken|deadly signal|Test unit written' "$log" | head -20 >&2 || tail -30 "$log" >&2
    fi
done
cat "$scratch/summary.txt"
if ((${#failed[@]})); then
    echo "fuzz: failures in: ${failed[*]} (inputs in $scratch/artifacts/)" >&2
    exit 1
fi
