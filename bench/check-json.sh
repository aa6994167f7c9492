#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs shmkit-bench --smoke --json and checks that the document parses and
# has one row per transport with the expected fields. Exit 77 (skip) when
# python3 is missing.
set -u
bench=$1
if ! command -v python3 >/dev/null 2>&1; then
	echo "python3 not found: skipping the JSON check"
	exit 77
fi
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
"$bench" --smoke --json >"$out" || exit 1
python3 -m json.tool "$out" >/dev/null || exit 1
python3 - "$out" "$bench" <<'PY' || exit 1
import json, subprocess, sys
doc = json.load(open(sys.argv[1]))
names = [l.split()[0] for l in subprocess.run([sys.argv[2], "--list"],
         capture_output=True, text=True, check=True).stdout.splitlines()]
rows = doc["rows"]
assert [r["transport"] for r in rows] == names, "one row per transport"
for r in rows:
    lat = r["latency"]
    assert "p50_ns" in lat or lat["available"] is False, r["transport"]
    assert len(r["throughput"]) == len(doc["throughput_sizes"]), r["transport"]
    for t in r["throughput"]:
        assert "mb_per_s" in t or t["available"] is False, r["transport"]
print("JSON ok: %d rows" % len(rows))
PY
