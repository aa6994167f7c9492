#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs shmkit-bench-sync --smoke --json and checks that the document parses
# and has every row of --list with its figures or a reason. Exit 77 (skip)
# when python3 is missing.
set -u
bench=$1
if ! command -v python3 >/dev/null 2>&1; then
	echo "python3 not found: skipping the JSON check"
	exit 77
fi
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
"$bench" --smoke --json >"$out" || exit 1
python3 - "$out" "$bench" <<'PY' || exit 1
import json, subprocess, sys
doc = json.load(open(sys.argv[1]))
listing = subprocess.run([sys.argv[2], "--list"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
names = [l.split()[0] for l in listing if l.startswith("  ")]
rows = doc["uncontended"]["rows"] + doc["pingpong"]["rows"]
assert [r["row"] for r in rows] == names, "one row per listed row"
for r in doc["uncontended"]["rows"]:
    assert "median_ns" in r or r["available"] is False, r["row"]
for r in doc["pingpong"]["rows"]:
    assert "p50_ns" in r or r["available"] is False, r["row"]
for t in doc["targets"]:
    assert t["met"] in (True, False, None), t["target"]
print("JSON ok: %d rows, %d targets" % (len(rows), len(doc["targets"])))
PY
