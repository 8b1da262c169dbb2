#!/usr/bin/env bash
# overload.sh [SECONDS] [CLIENTS]: CLIENTS (64) clients writing flat out through the socket for SECONDS (60) to a
# release `selfheal serve` (no acknowledged event lost, every client progresses, the daemon's VmHWM), then a disk
# full and freed under the daemon (needs root: mounts a small tmpfs). Builds the release binaries when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
clients="${2:-64}"
if [[ ! -x .build/release/selfheal || ! -x .build/release/selfheal-bench ]]; then
    swift build -c release --product selfheal
    swift build -c release --product selfheal-bench
fi
.build/release/selfheal-bench overload --clients "$clients" --seconds "$seconds" --selfheal .build/release/selfheal
if [[ $(id -u) -eq 0 ]]; then
    SELFHEAL_BIN=.build/release/selfheal python3 scripts/disk_full.py
else
    echo "overload.sh: the disk-full part needs root (it mounts a tmpfs); skipped" >&2
    exit 1
fi
