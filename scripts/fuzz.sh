#!/usr/bin/env bash
# fuzz.sh NAME SECONDS [LIBFUZZER OPTIONS...]: builds the libFuzzer harness Fuzz/NAME (swiftc -sanitize=fuzzer,address,
# the code under test compiled into the harness so that libFuzzer's coverage sees it) and runs it for SECONDS on
# a copy of the seed corpus Fuzz/corpus/NAME. A crash leaves its input in .build-fuzz/NAME/crash-* and fails.
# Names: wire-decoder, time-expression, line-framer, report-input (line-framer and report-input link the
# package's debug build: run `swift build` first).
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: scripts/fuzz.sh NAME SECONDS}"
seconds="${2:?usage: scripts/fuzz.sh NAME SECONDS}"
shift 2
out=".build-fuzz/$name"
mkdir -p "$out/corpus"
flags=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -suppress-warnings)
events=(Sources/SelfHealEvents/*.swift)

# The objects of the package's debug build except those of the module under test, the tests and the executables.
package_objects() {
    local skip="$1"
    [[ -d .build/debug ]] || { echo "fuzz.sh: $name links the debug build: run 'swift build' first" >&2; exit 2; }
    find .build/debug/ -path '*.build/*.o' \
        | grep -v -E "/(${skip}|selfheal|selfheal_bench|selfheal_example|selfheal_lib_bench|FileEmbedder|FileEmbedder_tool|[A-Za-z]*Tests|EmbedFiles|GenerateManual)\.build/" \
        | grep -v -E '/(PackageFrameworks|[a-z_]*PackageTests|swift-version|.*-tool)\.' || true
}

# The C modules the package's Swift modules import, as SwiftPM passes them.
module_maps() {
    local map
    for map in .build/debug/*.build/module.modulemap; do printf '%s\n' -Xcc "-fmodule-map-file=$map"; done
    find .build/checkouts -path '*/Sources/*' -name module.modulemap | grep -v -E 'SQLCipher|Windows|Benchmarks' \
        | while read -r map; do printf '%s\n' -Xcc "-fmodule-map-file=$map" -Xcc "-I$(dirname "$map")"; done
}

case "$name" in
wire-decoder)
    swiftc "${flags[@]}" -module-name SelfHealEvents "${events[@]}" Fuzz/WireDecoder/Harness.swift -o "$out/fuzz" ;;
time-expression)
    swiftc "${flags[@]}" -module-name SelfHealEvents "${events[@]}" Fuzz/TimeExpression/Harness.swift -o "$out/fuzz" ;;
line-framer)
    mapfile -t objects < <(package_objects "SelfHealServer|SelfHealCLI")
    mapfile -t maps < <(module_maps)
    swiftc "${flags[@]}" -module-name FuzzLineFramer -I .build/debug/Modules "${maps[@]}" Sources/SelfHealServer/LineFramer.swift \
        Fuzz/LineFramer/Harness.swift "${objects[@]}" -lsqlite3 -lz -o "$out/fuzz" ;;
report-input)
    mapfile -t objects < <(package_objects "SelfHealReports|SelfHealCLI")
    mapfile -t maps < <(module_maps)
    # The templates as the plugin embeds them, copied: another build may regenerate the plugin's output meanwhile.
    templates="$out/DefaultTemplates.swift"
    cp "$(find .build/plugins/outputs -path '*SelfHealReports*' -name DefaultTemplates.swift | head -1)" "$templates"
    swiftc "${flags[@]}" -module-name SelfHealReports -I .build/debug/Modules "${maps[@]}" Sources/SelfHealReports/*.swift \
        "$templates" Fuzz/ReportInput/Harness.swift "${objects[@]}" -lsqlite3 -lz -o "$out/fuzz" ;;
*)
    echo "fuzz.sh: no harness named $name (wire-decoder, time-expression, line-framer, report-input)" >&2
    exit 2 ;;
esac

seeds="Fuzz/corpus/$name"
echo "fuzz.sh: $name for $seconds s from $(ls "$seeds" | wc -l) seeds"
"$out/fuzz" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$out/" "$@" "$out/corpus" "$seeds"
