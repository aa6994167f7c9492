#!/bin/sh
# SPDX-License-Identifier: MIT
# T15: model-check the ring protocol (tests/model/ring.pml) with spin.
#
# usage: run_spin.sh [MODEL]   (default: ring.pml beside this script)
#
# Every configuration is a full search (no bit-state hashing, no partial
# search): each must end with "errors: 0" without reaching the memory bound
# or the depth bound. Then the deliberately broken variants must fail, each
# in the way it should, to show that the model can. Exit 77 (skipped) when
# spin is missing and cannot be installed.
#
# Environment: CC (default gcc, else cc), SPIN (default spin).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
model=${1:-$here/ring.pml}
if [ ! -r "$model" ]; then
	echo "FAIL: no model $model" >&2
	exit 1
fi
case $model in
/*) ;;
*) model=$(pwd)/$model ;;
esac

SPIN=${SPIN:-spin}
if ! command -v "$SPIN" >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "# spin is not installed: installing the Debian package"
		export DEBIAN_FRONTEND=noninteractive
		if ! apt-get install -y -q --no-install-recommends spin >/dev/null 2>&1; then
			apt-get update -q >/dev/null 2>&1 || :
			apt-get install -y -q --no-install-recommends spin >/dev/null 2>&1 || :
		fi
	fi
	if ! command -v "$SPIN" >/dev/null 2>&1; then
		echo "SKIP: spin (the Promela model checker, Debian package \"spin\") is not" \
			"installed and could not be installed (that needs root and apt-get)" >&2
		exit 77
	fi
fi
if [ -z "${CC:-}" ]; then
	if command -v gcc >/dev/null 2>&1; then CC=gcc; else CC=cc; fi
fi
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "SKIP: no C compiler ($CC) to build spin's verifier" >&2
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmkit-spin.XXXXXX")
failures=0
# Kept when a run failed: its directory has the model, pan and the trail.
trap 'if [ "$failures" -eq 0 ]; then rm -rf "$tmp"; else echo "# kept $tmp" >&2; fi' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Full search: -DMEMLIM bounds memory (MB), -DCOLLAPSE compresses states
# losslessly, -m is the depth bound (its overflow is an error below).
CFLAGS_PAN="-O2 -w -DMEMLIM=2048 -DCOLLAPSE"
SAFETY="-DSAFETY -DNOCLAIM"
LIVENESS="-DNFAIR=3"
PAN_DEPTH=-m100000
start_all=$(date +%s)

# run NAME EXPECT SPIN_DEFINES CC_DEFINES PAN_FLAGS
#   EXPECT: "ok" (errors: 0, complete search), or the text the first error
#   must contain ("invalid end state", "assertion violated", "acceptance cycle").
run() {
	name=$1 expect=$2 sdefs=$3 cdefs=$4 pflags=$5
	d=$tmp/$name
	mkdir "$d"
	cp "$model" "$d/ring.pml"
	t0=$(date +%s)
	# shellcheck disable=SC2086 # word splitting of the flag lists is meant
	if ! (cd "$d" && "$SPIN" $sdefs -a ring.pml >spin.out 2>&1); then
		echo "FAIL [$name]: spin -a $sdefs" >&2
		cat "$d/spin.out" >&2
		failures=$((failures + 1))
		return 0
	fi
	# shellcheck disable=SC2086
	if ! (cd "$d" && "$CC" $CFLAGS_PAN $cdefs -o pan pan.c >cc.out 2>&1); then
		echo "FAIL [$name]: $CC $cdefs pan.c" >&2
		cat "$d/cc.out" >&2
		failures=$((failures + 1))
		return 0
	fi
	# shellcheck disable=SC2086
	(cd "$d" && ./pan $PAN_DEPTH -n $pflags >pan.out 2>&1) || :
	t1=$(date +%s)
	out=$d/pan.out
	errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$out" | head -n 1)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$out" | head -n 1)
	trans=$(sed -n 's/^ *\([0-9.e+]*\) transitions.*/\1/p' "$out" | head -n 1)
	elapsed=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\).*/\1/p' "$out" | head -n 1)
	first=$(grep -m 1 '^pan:1:' "$out" || :)
	echo "# $name ($sdefs): ${states:-?} states, ${trans:-?} transitions," \
		"errors: ${errors:-?}, search ${elapsed:-?} s, $((t1 - t0)) s in all"
	if [ -z "$errors" ]; then
		echo "FAIL [$name]: pan gave no result" >&2
		cat "$out" >&2
		failures=$((failures + 1))
		return 0
	fi
	if [ "$expect" = ok ]; then
		if [ "$errors" != 0 ]; then
			echo "FAIL [$name]: $first" >&2
			echo "  replay: cd $d && $SPIN $sdefs -t -p -g ring.pml" >&2
			failures=$((failures + 1))
		elif grep -q -e 'reached -DMEMLIM bound' -e 'max search depth too small' \
			-e 'search not completed' "$out"; then
			echo "FAIL [$name]: the search did not complete:" >&2
			grep -e 'MEMLIM' -e 'depth' -e 'completed' "$out" >&2
			failures=$((failures + 1))
		fi
	else
		if [ "$errors" = 0 ]; then
			echo "FAIL [$name]: spin found no error in a broken variant" \
				"(expected: $expect): the model cannot fail" >&2
			failures=$((failures + 1))
		else
			case $first in
			*"$expect"*) echo "#   found, as expected: $first" ;;
			*)
				echo "FAIL [$name]: expected \"$expect\", got: $first" >&2
				failures=$((failures + 1))
				;;
			esac
		fi
	fi
}

echo "# $("$SPIN" -V 2>&1 | head -n 1); model $model"

# The protocol as the code has it (a new holder wakes its peer once it has
# attached: the wake a killed predecessor may have owed), without crashes
# and without the 100 ms slice: no assertion fails and there is no
# deadlock (a lost wake-up would be one).
run nocrash ok "-DC=3 -DN=7 -DHOLD=3 -DATTACH_WAKE" "$SAFETY" ""
# Crashes of either side at any step, each replaced, still without the
# slice: assertions, and both sides finish (<> done under weak fairness; a
# deadlock is an acceptance cycle here). Then two crashes per side, with
# the slice (what notices a peer that is never replaced).
run crash1 ok "-DC=2 -DN=4 -DKP=1 -DKC=1 -DATTACH_WAKE" "$LIVENESS" "-a -f"
run crash2 ok "-DC=2 -DN=2 -DKP=2 -DKC=2 -DATTACH_WAKE -DSLICE" "$LIVENESS" "-a -f"

# Broken variants that must fail.
run bug_wake "invalid end state" "-DBUG_WAKE -DATTACH_WAKE" "$SAFETY" ""
run bug_release "assertion violated" "-DBUG_RELEASE -DATTACH_WAKE" "$SAFETY" ""
# Without the attach wake (and without the slice), a waker killed between
# its store and its wake leaves its peer asleep for good: why the code
# wakes the peer on attach.
run crash_nowake "acceptance cycle" "-DC=2 -DN=4 -DKP=1 -DKC=1" "$LIVENESS" "-a -f"

echo "# total $(($(date +%s) - start_all)) s"
if [ "$failures" -ne 0 ]; then
	echo "FAIL: $failures spin run(s) did not give what they should" >&2
	exit 1
fi
echo "PASS: the ring model checks (full searches), and its broken variants fail"
