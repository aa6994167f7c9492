#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-iceoryx.sh: shmkit against Eclipse iceoryx, side by side, in one run.
#
# Starts iceoryx's RouDi daemon (with roudi.toml beside this script), runs
# shmkit-bench-iceoryx (iceoryx's C binding, busy-polling and WaitSet modes)
# and shmkit-bench's cacheline, shm-spin, shmkit-ring, shmkit-ring-spin and
# shmkit-ring-batch rows at 64 B with the same counts, stops RouDi, removes
# whatever iceoryx left behind (also on failure or interrupt), and prints
# one table with the ratios the comparison is about.
#
# usage: run-iceoryx.sh [--quick] [--iters N] [--out DIR] [BUILD_DIR | IOX_BENCH]
#
#   BUILD_DIR   a shmkit build directory configured with the iceoryx C binding
#               installed (its bin/ has shmkit-bench and shmkit-bench-iceoryx);
#               default $SHMKIT_BUILD_DIR, else ./build
#   IOX_BENCH   the shmkit-bench-iceoryx binary itself; shmkit-bench is then
#               taken from the same directory
#   --quick     20000 round trips and 200000 messages (shmkit-bench --quick)
#   --iters N   N round trips and N messages (shmkit-bench --iters N)
#   --out DIR   keep both JSON documents and RouDi's log in DIR
#
# Default counts are those of a full shmkit-bench run at 64 B: 200000 round
# trips and 1000000 messages, each after a tenth as many warm-up ones.
# Environment: SHMKIT_IOX_BENCH, SHMKIT_BENCH (the two binaries), IOX_ROUDI
# (the daemon; default iox-roudi).
#
# Exit status: 0 measured, 1 failure, 2 bad usage, 77 not runnable here
# (iceoryx missing and not root to install it, or the binary not built).

set -u

here=$(cd "$(dirname "$0")" && pwd)
prog=run-iceoryx.sh
pkgs="iceoryx libiceoryx-binding-c-dev"

say() {
	printf '%s: %s\n' "$prog" "$*" >&2
}

die() {
	say "$*"
	exit 1
}

usage_error() {
	say "$* (usage: $prog [--quick] [--iters N] [--out DIR] [BUILD_DIR | IOX_BENCH])"
	exit 2
}

# ---- options ---------------------------------------------------------------

mode=full
iters=
outdir=
target=
while [ $# -gt 0 ]; do
	case $1 in
	--quick)
		mode=quick
		;;
	--iters)
		[ $# -ge 2 ] || usage_error "--iters needs a value"
		case $2 in
		'' | *[!0-9]*) usage_error "--iters: expected a number, got '$2'" ;;
		esac
		iters=$2
		shift
		;;
	--out)
		[ $# -ge 2 ] || usage_error "--out needs a value"
		outdir=$2
		shift
		;;
	-h | --help)
		sed -n '4,30p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	-*)
		usage_error "unknown option '$1'"
		;;
	*)
		[ -z "$target" ] || usage_error "unexpected argument '$1'"
		target=$1
		;;
	esac
	shift
done

if [ -n "$iters" ]; then
	lat_n=$iters
	msg_n=$iters
	sb_count="--iters $iters"
elif [ "$mode" = quick ]; then
	lat_n=20000
	msg_n=200000
	sb_count="--quick"
else
	lat_n=200000
	msg_n=1000000
	sb_count=
fi

# ---- (a) iceoryx installed? ------------------------------------------------

pkg_installed() {
	dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q 'install ok installed'
}

if command -v dpkg-query >/dev/null 2>&1; then
	missing=
	for p in $pkgs; do
		pkg_installed "$p" || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		if [ "$(id -u)" -ne 0 ]; then
			say "iceoryx is not installed; install it with: apt-get install$missing"
			exit 77
		fi
		say "installing$missing"
		# shellcheck disable=SC2086 # one word per package
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing \
			>/dev/null 2>&1; then
			apt-get update -qq >/dev/null 2>&1
			# shellcheck disable=SC2086 # one word per package
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing \
				>/dev/null || die "apt-get install$missing failed"
		fi
	fi
fi
roudi=${IOX_ROUDI:-iox-roudi}
if ! command -v "$roudi" >/dev/null 2>&1; then
	say "iceoryx's RouDi daemon ($roudi) not found; install the packages: $pkgs"
	exit 77
fi

# ---- (c) the binaries --------------------------------------------------------

if [ -n "$target" ] && [ -f "$target" ]; then
	iox_bench=${SHMKIT_IOX_BENCH:-$target}
	bindir=$(dirname "$target")
else
	build=${target:-${SHMKIT_BUILD_DIR:-build}}
	[ -d "$build" ] || die "no build directory '$build' (give one as argument or in SHMKIT_BUILD_DIR)"
	bindir=$build/bin
	iox_bench=${SHMKIT_IOX_BENCH:-$bindir/shmkit-bench-iceoryx}
fi
shmkit_bench=${SHMKIT_BENCH:-$bindir/shmkit-bench}
[ -x "$shmkit_bench" ] || die "shmkit-bench not found at $shmkit_bench; build it first"
if [ ! -x "$iox_bench" ]; then
	say "shmkit-bench-iceoryx not found at $iox_bench: it is built only when CMake"
	say "finds the iceoryx C binding; reconfigure (cmake) and build that target"
	exit 77
fi

# ---- (b, e) RouDi, and cleaning up after it ------------------------------------

# Where iceoryx 2.0 leaves things: its shared memory (the management segment
# and one data segment named after the group of the user that runs RouDi) and
# its Unix sockets and lock files, in the fixed directory that iceoryx's
# platform layer uses for them (IOX_UDS_SOCKET_PATH_PREFIX).
shm_dir=/dev/shm
iox_sock_dir=/tmp
shm_group=$(id -gn)

work=$(mktemp -d) || die "mktemp failed"
roudi_pid=
roudi_ours=0
job=

# Run a measurement in the background and wait for it, so that a signal to
# this script is handled at once (the trap stops the measurement, which
# cleans up after itself, and then RouDi).
run_job() {
	"$@" &
	job=$!
	wait "$job"
	rc=$?
	job=
	return $rc
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$job" ]; then
		kill -TERM "$job" 2>/dev/null
		wait "$job" 2>/dev/null
		job=
	fi
	if [ -n "$roudi_pid" ]; then
		kill -TERM "$roudi_pid" 2>/dev/null
		n=0
		while kill -0 "$roudi_pid" 2>/dev/null && [ "$n" -lt 50 ]; do
			sleep 0.1 2>/dev/null || sleep 1
			n=$((n + 1))
		done
		if kill -0 "$roudi_pid" 2>/dev/null; then
			say "RouDi did not stop on SIGTERM; killing it"
			kill -KILL "$roudi_pid" 2>/dev/null
		fi
		wait "$roudi_pid" 2>/dev/null
		roudi_pid=
	fi
	# A RouDi that stopped cleanly removed all this itself; one that was
	# killed, or benchmark processes that were, did not. Only what our own
	# RouDi owned is touched: never another RouDi's.
	if [ "$roudi_ours" = 1 ]; then
		rm -f "$shm_dir/iceoryx_mgmt" "$shm_dir/$shm_group" \
			"$iox_sock_dir/roudi" "$iox_sock_dir/roudi.lock" \
			"$iox_sock_dir/iox-unique-roudi.lock"
		for f in "$iox_sock_dir"/shmkit-iox-ping-* "$iox_sock_dir"/shmkit-iox-pong-*; do
			[ -e "$f" ] && rm -f "$f"
		done
		roudi_ours=0
	fi
	if [ -n "$outdir" ] && [ -f "$work/roudi.log" ]; then
		cp "$work/roudi.log" "$outdir/roudi.log" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ -n "$outdir" ]; then
	mkdir -p "$outdir" || die "cannot create $outdir"
fi

# RouDi runs unpinned: with two CPUs both are taken by the measured pair, and
# its threads (discovery, process monitoring) sleep between rounds.
"$roudi" -c "$here/roudi.toml" >"$work/roudi.log" 2>&1 &
roudi_pid=$!
n=0
while :; do
	if grep -q 'RouDi is ready for clients' "$work/roudi.log" 2>/dev/null; then
		roudi_ours=1
		break
	fi
	if ! kill -0 "$roudi_pid" 2>/dev/null; then
		wait "$roudi_pid" 2>/dev/null
		roudi_pid=
		if grep -q 'ROUDI_STILL_RUNNING' "$work/roudi.log"; then
			die "another RouDi is running on this machine; stop it first"
		fi
		# What it made once past RouDi's lock is ours to remove.
		grep -q 'Reserving' "$work/roudi.log" && roudi_ours=1
		sed 's/^/  roudi: /' "$work/roudi.log" >&2
		die "RouDi ($roudi) exited before it was ready"
	fi
	if [ "$n" -ge 200 ]; then
		grep -q 'Reserving' "$work/roudi.log" && roudi_ours=1
		die "RouDi was not ready after 20 s"
	fi
	sleep 0.1 2>/dev/null || sleep 1
	n=$((n + 1))
done

# ---- (c, d) the measurements ---------------------------------------------------

sb_json=$work/shmkit-bench.json
iox_json=$work/iceoryx.json
say "shmkit-bench: cacheline, shm-spin, shmkit-ring, shmkit-ring-spin, shmkit-ring-batch at 64 B" \
	"($lat_n round trips, $msg_n messages)"
# shellcheck disable=SC2086 # sb_count is zero or more words
run_job "$shmkit_bench" $sb_count \
	--only cacheline,shm-spin,shmkit-ring,shmkit-ring-spin,shmkit-ring-batch \
	--sizes 64 --json >"$sb_json" || die "shmkit-bench failed"
say "shmkit-bench-iceoryx: spin and waitset modes at 64 B"
run_job "$iox_bench" --iters "$lat_n" --messages "$msg_n" --size 64 --json >"$iox_json" ||
	die "shmkit-bench-iceoryx failed"
if [ -n "$outdir" ]; then
	cp "$sb_json" "$iox_json" "$outdir/" || die "cannot write to $outdir"
fi

# ---- (f) one table, and the ratios ---------------------------------------------

# Both documents have one row per transport, its name on the row's first line,
# its latency figures on the "latency" line and the 64 B throughput on the
# line of the first throughput entry; awk picks these out.
extract() {
	awk '
	function num(line, key,    s) {
		if (match(line, "\"" key "\": [0-9.]+") == 0)
			return "-"
		s = substr(line, RSTART, RLENGTH)
		sub(/.*: /, "", s)
		return s
	}
	/"transport": "/ {
		if (name != "")
			print name, p50, p99, p999, max, mps
		s = $0
		sub(/.*"transport": "/, "", s)
		sub(/".*/, "", s)
		name = s
		p50 = p99 = p999 = max = mps = "-"
	}
	/"latency": \{/ {
		p50 = num($0, "p50_ns"); p99 = num($0, "p99_ns")
		p999 = num($0, "p999_ns"); max = num($0, "max_ns")
	}
	/^ *\{"size": [0-9]+, "messages"/ {
		if (mps == "-")
			mps = num($0, "msgs_per_s")
	}
	END {
		if (name != "")
			print name, p50, p99, p999, max, mps
	}' "$1"
}

rows=$work/rows
{ extract "$sb_json"; extract "$iox_json"; } >"$rows"

machine=$(grep -o '"cpu_model": "[^"]*"' "$sb_json" | head -n 1 | sed 's/.*: "//; s/"$//')
pinning=$(grep -o '"pinning": "[^"]*"' "$sb_json" | head -n 1 | sed 's/.*: "//; s/"$//')

awk -v lat_n="$lat_n" -v msg_n="$msg_n" -v machine="$machine" -v pinning="$pinning" '
function ratio(a, b) {
	if (a == "-" || b == "-" || b + 0 == 0)
		return "-"
	return sprintf("%.2f", a / b)
}
# One ratio; with a target (from the issue), whether this run meets it.
function line(label, r, target,    v) {
	v = ""
	if (target > 0 && r != "-")
		v = (r + 0 >= target) ? "  (target >= " target ": met)" : "  (target >= " target ": NOT met)"
	printf "%-56s %8s%s\n", label, r, v
}
{
	n++
	name[n] = $1; p50[$1] = $2; p99[$1] = $3; p999[$1] = $4; mx[$1] = $5; mps[$1] = $6
}
END {
	floor = p50["cacheline"]
	spin_mps = mps["shm-spin"]
	printf "\nshmkit against Eclipse iceoryx, 64 B messages; %s round trips, %s messages\n", lat_n, msg_n
	printf "machine: %s; %s; RouDi unpinned\n\n", machine, pinning
	printf "%-18s %8s %8s %8s %10s %8s %12s %9s\n", "row", "p50", "p99", "p99.9", "max", "/ floor", "msgs/s", "/ shm-spin"
	for (i = 1; i <= n; i++) {
		r = name[i]
		m = mps[r] == "-" ? "-" : sprintf("%.0f", mps[r])
		printf "%-18s %8s %8s %8s %10s %8s %12s %9s\n", r, p50[r], p99[r], p999[r], mx[r], \
			ratio(p50[r], floor), m, ratio(mps[r], spin_mps)
	}
	printf "latency in ns per round trip; / floor: p50 / p50 of the cacheline floor (an 8-byte word);\n"
	printf "/ shm-spin: msgs/s relative to the shm-spin floor ring\n\n"
	best = "iceoryx-spin"
	if (mps["iceoryx-waitset"] != "-" && (mps[best] == "-" || mps["iceoryx-waitset"] + 0 > mps[best] + 0))
		best = "iceoryx-waitset"
	line("iceoryx-spin p50 / shmkit-ring-spin p50", ratio(p50["iceoryx-spin"], p50["shmkit-ring-spin"]), 3)
	line("iceoryx-spin p99.9 / shmkit-ring-spin p99.9", ratio(p999["iceoryx-spin"], p999["shmkit-ring-spin"]), 3)
	line("iceoryx-waitset p50 / shmkit-ring-spin p50", ratio(p50["iceoryx-waitset"], p50["shmkit-ring-spin"]), 0)
	line("iceoryx-waitset p99.9 / shmkit-ring-spin p99.9", ratio(p999["iceoryx-waitset"], p999["shmkit-ring-spin"]), 0)
	line("iceoryx-waitset p50 / shmkit-ring p50", ratio(p50["iceoryx-waitset"], p50["shmkit-ring"]), 0)
	line("shmkit-ring-batch msgs/s / " best " msgs/s (the faster)", ratio(mps["shmkit-ring-batch"], mps[best]), 10)
	line("shmkit-ring msgs/s / " best " msgs/s (copying, unbatched)", ratio(mps["shmkit-ring"], mps[best]), 0)
	line("shmkit-ring msgs/s / iceoryx-spin msgs/s", ratio(mps["shmkit-ring"], mps["iceoryx-spin"]), 0)
	line("shmkit-ring msgs/s / iceoryx-waitset msgs/s", ratio(mps["shmkit-ring"], mps["iceoryx-waitset"]), 0)
}' "$rows"

lost=$(grep -o '"lost": [0-9]*' "$iox_json" | awk '{ s += $2 } END { print s + 0 }')
if [ "$lost" -ne 0 ]; then
	say "iceoryx lost $lost messages although its producer was set to block"
	exit 1
fi
exit 0
