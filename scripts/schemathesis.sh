#!/usr/bin/env bash
# Runs schemathesis (pip install schemathesis) against a real `selfheal serve --http` with the document
# schema/openapi.yaml: every operation fuzzed, every check (no 5xx, answers match their schemas, documented
# status codes and content types). Exit status: schemathesis's.
#   scripts/schemathesis.sh [path/to/selfheal] [extra schemathesis options...]
# A fixed seed by default (SCHEMATHESIS_SEED to change it), so that CI runs the same cases each time: with
# random seeds, schemathesis 4.32 on Python 3.11 now and then stops on an error of its own (hypothesis's
# "AST constructor recursion depth mismatch", a KeyError in its coverage phase), not on an answer.
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-.build/debug/selfheal}"
shift || true
if ! command -v schemathesis >/dev/null 2>&1; then
    echo "schemathesis is missing: pip install schemathesis" >&2
    exit 1
fi
[ -x "$binary" ] || { echo "no selfheal binary at $binary: run swift build first" >&2; exit 1; }

data="$(mktemp -d)"
token="schemathesis-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
echo "$token" > "$data/tokens"
"$binary" serve --data-dir "$data" --http 127.0.0.1:0 --http-token-file "$data/tokens" 2> "$data/daemon.log" &
daemon=$!
cleanup() {
    kill -TERM "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
    [ -s "$data/http.address" ] && break
    sleep 0.1
done
[ -s "$data/http.address" ] || { cat "$data/daemon.log" >&2; echo "the daemon did not start" >&2; exit 1; }
address="$(cat "$data/http.address")"

# Some events first, so that queries have incidents, rejects and figures to return.
printf '%s\n' \
    '{"service":"checkout","kind":"breaker.opened","component":"db","id":"st-1"}' \
    '{"service":"checkout","kind":"breaker.closed","component":"db"}' \
    '{"service":"portal","kind":"retry.exhausted","incident":"INC-1"}' \
    '{"service":"portal","kind":"timeout.prevented"}' \
    '{"service":"portal","kind":"nope"}' |
    curl -sS --fail -H "Authorization: Bearer $token" -H 'Content-Type: application/x-ndjson' \
        --data-binary @- "http://$address/api/v1/events" > /dev/null

# The stream never ends by itself: it is left out of the fuzzing (Tests/SelfHealHTTPTests cover it).
# positive_data_acceptance is left out: a time or zone can match its pattern and still not exist
# (2025-02-30, Mars/Olympus), and those are 400 by design. Every other check runs: no 5xx, answers match
# their schemas, documented status codes and content types, invalid requests rejected.
# Run from the scratch directory, so that schemathesis's own cache (.schemathesis/) goes away with it.
# The coverage phase is left out by default: in a clean clone, schemathesis 4.32.5 stopped there on a KeyError
# inside its own schema walker (not on an answer of ours), even with the fixed seed; SCHEMATHESIS_PHASES=
# examples,coverage,fuzzing,stateful runs it.
root="$(pwd)"
(cd "$data" && schemathesis run "$root/schema/openapi.yaml" \
    --url "http://$address" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --exclude-checks positive_data_acceptance \
    --exclude-path /api/v1/stream \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-60}" \
    --seed "${SCHEMATHESIS_SEED:-20261201}" \
    --phases "${SCHEMATHESIS_PHASES:-examples,fuzzing,stateful}" \
    --request-timeout 10 \
    --workers 2 \
    "$@") && status=0 || status=$?
if grep -q 'http request failed' "$data/daemon.log"; then
    echo "the daemon logged request failures:" >&2
    grep 'http request failed' "$data/daemon.log" >&2
    status=1
fi
exit $status
