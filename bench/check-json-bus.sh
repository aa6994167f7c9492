#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs shmkit-bench-bus --smoke --json and checks that the document parses
# and has every round-trip row, every fan-out count (spinning, and sleeping
# for the bus and the wake-all floor), every throughput cell and the targets,
# each with its figures or a reason. Exit 77 (skip) when python3 is missing.
set -u
bench=$1
if ! command -v python3 >/dev/null 2>&1; then
	echo "python3 not found: skipping the JSON check"
	exit 77
fi
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
"$bench" --smoke --json --subs 1,4,16 >"$out" || exit 1
python3 - "$out" <<'PY' || exit 1
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["tool"] == "shmkit-bench-bus"
assert doc["parts"] == ["rt", "fanout", "tput"], doc["parts"]
subs = [1, 4, 16]

def lat(d, what):
    if d.get("available") is False:
        assert d["reason"], what
        return
    assert d["samples"] > 0, what
    assert d["min_ns"] <= d["p50_ns"] <= d["p99_ns"] <= d["p999_ns"] <= d["max_ns"], what

rt = doc["round_trip"]["rows"]
assert [r["row"] for r in rt] == ["cacheline", "shm-spin", "bus-spin", "bus-default"]
for r in rt:
    lat(r, r["row"])
    if "p50_ns" in r:
        assert "vs_cacheline" in r and "vs_shm_spin" in r, r["row"]

spin = doc["fanout_spin"]["rows"]
assert [r["subscribers"] for r in spin] == subs, "one spinning row per count"
for r in spin:
    lat(r["cost"], "spin %d" % r["subscribers"])

sleep = doc["fanout_sleep"]["rows"]
assert [(r["subscribers"], r["row"]) for r in sleep] == \
    [(n, row) for n in subs for row in ("bus-sleep", "wake-all")], "two sleeping rows per count"
for r in sleep:
    what = "%s %d" % (r["row"], r["subscribers"])
    lat(r["cost"], what)
    if "first" in r:
        lat(r["first"], what)
        lat(r["last"], what)
        assert r["first"]["p50_ns"] <= r["last"]["p50_ns"], what
        assert r["sleeps_per_msg"] > 0, what

tp = doc["throughput"]["rows"]
cells = [("shm-spin", 64), ("bus-copy", 64), ("memcpy", 1 << 20), ("bus-copy", 1 << 20)] + \
    [("bus-zero-copy", s) for s in (64, 4096, 65536, 1 << 20)]
assert [(r["row"], r["size"]) for r in tp] == cells, "one row per cell"
for r in tp:
    assert "msgs_per_s" in r or r["available"] is False, r["row"]
    if "msgs_per_s" in r:
        assert r["msgs_per_s"] > 0 and r["gb_per_s"] > 0, (r["row"], r["size"])

ids = [t["target"] for t in doc["targets"]]
want = ["rt_bus_spin", "rt_bus_default"] + \
    ["fanout_spin_cost_%d" % n for n in subs[1:]] + ["fanout_sleep_cost"] + \
    ["fanout_sleep_last_%d" % n for n in subs] + ["tput_64", "tput_1m_copy", "zc_flat"]
assert ids == want, ids
for t in doc["targets"]:
    assert t["met"] in (True, False, None), t["target"]
print("JSON ok: %d round-trip rows, %d + %d fan-out rows, %d throughput rows, %d targets"
      % (len(rt), len(spin), len(sleep), len(tp), len(doc["targets"])))
PY
