#!/usr/bin/env bash
# swift-build.sh ARGS...: `swift build ARGS...`, run again (twice at most) when swift-build itself dies of a
# signal. SwiftPM, not the project's code, has been seen to crash so: a segmentation fault in libdispatch 30 s into
# a clean clone's first build (CI of 2026-12-01). A compiler error or a failing build exits with its own status at
# once; only a build tool killed by a signal (status > 128) is retried, and each retry says so on stderr.
set -uo pipefail
status=0
for attempt in 1 2 3; do
    swift build "$@" && exit 0
    status=$?
    if ((status <= 128)); then exit "$status"; fi
    echo "swift-build.sh: swift build $* died of signal $((status - 128)) (attempt $attempt of 3)" >&2
done
exit "$status"
