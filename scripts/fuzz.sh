#!/usr/bin/env bash
# fuzz.sh NAME SECONDS [LIBFUZZER OPTIONS...]: builds the libFuzzer harness Fuzz/NAME (swiftc -sanitize=fuzzer,address,
# the code under test compiled into the harness so that libFuzzer's coverage sees it) and runs it for SECONDS on
# a copy of the seed corpus Fuzz/corpus/NAME. A crash leaves its input in .build-fuzz/NAME/crash-* and fails.
# Names: wire-decoder, time-expression, line-framer, report-input, http-body (line-framer and report-input link
# the package's debug build: run `swift build --build-tests` first).
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: scripts/fuzz.sh NAME SECONDS}"
seconds="${2:?usage: scripts/fuzz.sh NAME SECONDS}"
shift 2
out=".build-fuzz/$name"
mkdir -p "$out/corpus"
flags=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -suppress-warnings)
events=(Sources/SelfHealEvents/*.swift)

# The objects of the package's last debug build except those of the module under test, the tests and the
# executables: the test product's link list, which names exactly the objects of that build (a find over the build
# directory would also pick up the objects of source files deleted since, and link stale code).
package_objects() {
    local skip="$1" list=.build/debug/selfhealPackageTests.product/Objects.LinkFileList
    [[ -f $list ]] || { echo "fuzz.sh: $name links the debug build: run 'swift build --build-tests' first" >&2; exit 2; }
    tr -d "'" <"$list" \
        | grep -v -E "/(${skip}|selfheal|selfheal_[a-z_]*|[A-Za-z]*Tests|SelfHealingTesting|PropertyBased|[A-Za-z]*PackageDiscoveredTests)\.build/" || true
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
http-body)
    # SelfHealEvents as a module of its own (instrumented too), then the body reader as the daemon compiles it.
    swiftc "${flags[@]}" -module-name SelfHealEvents "${events[@]}" -emit-module -emit-module-path "$out/SelfHealEvents.swiftmodule" \
        -emit-library -static -o "$out/libSelfHealEvents.a"
    swiftc "${flags[@]}" -module-name FuzzHTTPBody -I "$out" Sources/SelfHealHTTP/IngestBodyReader.swift \
        Fuzz/HTTPBody/Harness.swift "$out/libSelfHealEvents.a" -o "$out/fuzz" ;;
*)
    echo "fuzz.sh: no harness named $name (wire-decoder, time-expression, line-framer, report-input, http-body)" >&2
    exit 2 ;;
esac

seeds="Fuzz/corpus/$name"
echo "fuzz.sh: $name for $seconds s from $(ls "$seeds" | wc -l) seeds"
"$out/fuzz" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$out/" "$@" "$out/corpus" "$seeds"
