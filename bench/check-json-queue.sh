#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs shmkit-bench-queue --smoke --json and checks that the document parses
# and has every throughput cell, every selective-receive mode and the targets,
# each with its figures or a reason. Exit 77 (skip) when python3 is missing.
set -u
bench=$1
if ! command -v python3 >/dev/null 2>&1; then
	echo "python3 not found: skipping the JSON check"
	exit 77
fi
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
"$bench" --smoke --json >"$out" || exit 1
python3 - "$out" <<'PY' || exit 1
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["tool"] == "shmkit-bench-queue"
rows = doc["throughput"]["rows"]
names = ["sysv-msg", "posix-mq", "shmkit-queue", "shmkit-queue-sleep"]
cells = [(s, p, n) for s in (64, 4096) for p in (1, 2) for n in names]
assert [(r["size"], r["producers"], r["row"]) for r in rows] == cells, "one row per cell"
for r in rows:
    assert "msgs_per_s" in r or r["available"] is False, r["row"]
    if "msgs_per_s" in r:
        assert r["msgs_per_s"] > 0 and r["mb_per_s"] > 0, r["row"]
sel = doc["selective"]["rows"]
modes = ["msgtyp0", "cycle", "random", "lowest", "except"]
assert [(r["row"], r["mode"]) for r in sel] == \
    [(n, m) for n in ("shmkit-queue", "sysv-msg") for m in modes], "one row per mode"
for r in sel:
    assert "p50_ns" in r or r["available"] is False, (r["row"], r["mode"])
assert len(doc["targets"]) == len(modes) - 1
for t in doc["targets"]:
    assert t["met"] in (True, False, None), t["target"]
print("JSON ok: %d throughput rows, %d selective rows, %d targets"
      % (len(rows), len(sel), len(doc["targets"])))
PY
