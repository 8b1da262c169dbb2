#!/usr/bin/env bash
# crash-cycles.sh N: N cycles of SIGKILL at a random moment under 4 writers with ids; after each restart every
# acknowledged event is stored once and seq is gapless; verify at the end. Uses $SELFHEAL_BIN, else the debug
# build (built when missing). CRASH_DELAY=low,high sets the range of seconds before each kill (0.05,1.5).
set -euo pipefail
cd "$(dirname "$0")/.."
cycles="${1:-10}"
if [[ -z "${SELFHEAL_BIN:-}" ]]; then
    [[ -x .build/debug/selfheal ]] || swift build --product selfheal
    export SELFHEAL_BIN="$PWD/.build/debug/selfheal"
fi
exec python3 scripts/crash_cycles.py "$cycles"
