#!/usr/bin/env python3
"""Checks schema/event.schema.json against the example corpus: every line of schema/examples/good.ndjson must be
valid, every line of schema/examples/bad.ndjson invalid (a line that is not JSON counts as invalid).
The Swift tests run the decoder over the same files, so the schema and the decoder agree on them.
Usage: scripts/check-schema.py [REPO_ROOT]; exit 0 when they agree, 1 otherwise."""
import json
import pathlib
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("check-schema: the Python package jsonschema is missing (apt-get install python3-jsonschema)")

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
schema = json.loads((root / "schema/event.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)


def is_valid(line):
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return validator.is_valid(value)


mismatches = []
for name, expected in (("good.ndjson", True), ("bad.ndjson", False)):
    for number, line in enumerate((root / "schema/examples" / name).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        if is_valid(line) != expected:
            mismatches.append(f"{name}:{number}: schema says {'valid' if not expected else 'invalid'}: {line[:120]}")
for mismatch in mismatches:
    print(mismatch)
print(f"check-schema: {len(mismatches)} mismatches")
sys.exit(1 if mismatches else 0)
