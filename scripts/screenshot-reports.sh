#!/bin/sh
# Renders report and alert HTML files as a reader's mail client would show them, with headless Chromium, at a
# phone width (390 px) and a desktop width (1024 px).
#
# Usage: scripts/screenshot-reports.sh [DIR]
#   DIR holds selfheal-*.html files (e.g. .selfheal/reports); without it, the sample reports of the tests (a fixed
#   day and week, an empty day, the alerts) are written to /tmp/selfheal-samples first.
# Needs Debian's chromium (apt-get install -y chromium). Screenshots go to DIR/screenshots/.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-}
if [ -z "$dir" ]; then
    dir=/tmp/selfheal-samples
    rm -rf "$dir" && mkdir -p "$dir"
    SELFHEAL_SAMPLE_DIR="$dir" swift test --filter 'SampleReports' >/dev/null
fi
out="$dir/screenshots"
mkdir -p "$out"
for html in "$dir"/selfheal-*.html; do
    name=$(basename "$html" .html)
    for width in 390 1024; do
        chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
            --screenshot="$out/$name-$width.png" --window-size="$width,2200" "file://$(realpath "$html")" \
            >/dev/null 2>&1
        echo "$out/$name-$width.png"
    done
done
