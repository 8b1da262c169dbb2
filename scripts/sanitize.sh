#!/usr/bin/env bash
# sanitize.sh [thread|address|both] [FILTER]: builds the package and its tests with a sanitizer (each in its own
# build directory, .build-tsan / .build-asan) and runs the tests under it; the tests that start the daemon run
# the sanitized `selfheal` binary of the same build. Fails on any report. Heavy: a full build per sanitizer.
# Suppressions live in scripts/tsan.supp, each with the reason it is not a bug.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-both}"
filter=("${@:2}")
[[ ${#filter[@]} -gt 0 ]] && filter=(--filter "${filter[0]}")
status=0

run() {
    local sanitizer="$1" path="$2"
    echo "sanitize.sh: building with --sanitize=$sanitizer in $path"
    scripts/swift-build.sh --build-tests --sanitize="$sanitizer" --build-path "$path"
    echo "sanitize.sh: testing with --sanitize=$sanitizer"
    export SELFHEAL_BIN="$PWD/$path/debug/selfheal"
    # For the few tests whose real-time settings (not bounds) must allow for the sanitizer's slowness.
    export SELFHEAL_SANITIZER="$sanitizer"
    # Every sanitized process (the tests, the daemons and example services they start, whose stderr a test may
    # discard) writes its reports to a file here: a report in a child fails the run too.
    local reports="$PWD/$path/sanitizer-reports"
    rm -rf "$reports" && mkdir -p "$reports"
    if ! TSAN_OPTIONS="$TSAN_OPTIONS log_path=$reports/report" ASAN_OPTIONS="$ASAN_OPTIONS log_path=$reports/report" \
        swift test --skip-build --sanitize="$sanitizer" --build-path "$path" ${filter[@]+"${filter[@]}"}; then
        echo "sanitize.sh: --sanitize=$sanitizer FAILED" >&2
        status=1
    fi
    if compgen -G "$reports/report.*" >/dev/null; then
        cat "$reports"/report.*
        echo "sanitize.sh: --sanitize=$sanitizer: reports in $(ls "$reports" | wc -l) processes ($reports)" >&2
        status=1
    fi
}

# halt_on_error=0: list every report of a run; a report still fails it (exit code 66).
export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp ${TSAN_OPTIONS:-}"
# detect_leaks=0: LeakSanitizer reports the Swift runtime's metadata and conformance caches, which live as long as
# the process by design; memory errors (overflow, use after free) are what this run checks.
export ASAN_OPTIONS="detect_leaks=0 ${ASAN_OPTIONS:-}"
case "$which" in
thread) run thread .build-tsan ;;
address) run address .build-asan ;;
both) run thread .build-tsan; run address .build-asan ;;
*) echo "usage: scripts/sanitize.sh [thread|address|both] [FILTER]" >&2; exit 2 ;;
esac
exit $status
