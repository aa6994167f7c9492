# SPDX-License-Identifier: MIT
# Helpers sourced by the CLI test scripts (POSIX sh, run under set -eu).
#
# CTest passes SHMKIT_BIN (the directory holding the shmkit binary),
# SHMKIT_SRC and SHMKIT_BUILD in the environment.

: "${SHMKIT_BIN:?SHMKIT_BIN must name the directory of the shmkit binary}"
SHMKIT="$SHMKIT_BIN/shmkit"
if [ ! -x "$SHMKIT" ]; then
	echo "FAIL: no executable $SHMKIT" >&2
	exit 1
fi

TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/shmkit-cli-$TEST_NAME.XXXXXX")

# Cleanup commands, run at exit in any case (each one may fail).
CLEANUP=""

at_exit() {
	cleanup "$CLEANUP"
	rm -rf "$TMP"
}

cleanup() {
	printf '%s\n' "$1" | while IFS= read -r c; do
		if [ -n "$c" ]; then
			eval "$c" >/dev/null 2>&1 || :
		fi
	done
}

trap 'st=$?; at_exit; exit $st' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# on_exit CMD: remember a shell command to run at exit.
on_exit() {
	CLEANUP="$CLEANUP
$1"
}

fail() {
	echo "FAIL [$TEST_NAME]: $*" >&2
	if [ -s "$TMP/out" ]; then
		echo "--- stdout of the last command:" >&2
		cat "$TMP/out" >&2
	fi
	if [ -s "$TMP/err" ]; then
		echo "--- stderr of the last command:" >&2
		cat "$TMP/err" >&2
	fi
	exit 1
}

note() {
	echo "# $*"
}

# run CMD ARGS...: run it, stdout to $TMP/out, stderr to $TMP/err, status in $rc.
run() {
	LAST="$*"
	set +e
	"$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	set -e
}

# expect RC CMD ARGS...: run and check the exit status.
expect() {
	want=$1
	shift
	run "$@"
	if [ "$rc" -ne "$want" ]; then
		fail "exit status $rc, expected $want: $LAST"
	fi
}

# out_has PATTERN / err_has PATTERN: a basic regex found in the output.
out_has() {
	grep -q -e "$1" "$TMP/out" || fail "stdout lacks /$1/: $LAST"
}
err_has() {
	grep -q -e "$1" "$TMP/err" || fail "stderr lacks /$1/: $LAST"
}
out_has_fixed() {
	grep -q -F -e "$1" "$TMP/out" || fail "stdout lacks '$1': $LAST"
}
out_lacks_fixed() {
	if grep -q -F -e "$1" "$TMP/out"; then
		fail "stdout has '$1': $LAST"
	fi
}

# err_one_line: the failure was reported as exactly one line "shmkit ...".
err_one_line() {
	n=$(wc -l <"$TMP/err")
	if [ "$n" -ne 1 ]; then
		fail "expected one line on stderr, got $n: $LAST"
	fi
	grep -q '^shmkit' "$TMP/err" || fail "stderr does not start with 'shmkit': $LAST"
}

out_empty() {
	if [ -s "$TMP/out" ]; then
		fail "expected nothing on stdout: $LAST"
	fi
}

# usage_error CMD ARGS...: exit 2, one line on stderr, nothing on stdout.
usage_error() {
	expect 2 "$@"
	err_one_line
	out_empty
}

# failure CMD ARGS...: exit 1, one line on stderr, nothing on stdout.
failure() {
	expect 1 "$@"
	err_one_line
	out_empty
}

# value KEY: the value of "KEY: value" in the last stdout (first word).
value() {
	sed -n "s/^$1: \\([^ ]*\\).*/\\1/p" "$TMP/out" | head -n 1
}

# created_spec: the canonical spec printed by the last "shmkit create".
created_spec() {
	sed -n -e 's/^created //p' -e 's/^exists //p' "$TMP/out" |
		head -n 1 | cut -d ' ' -f 1
}

# json_ok: the last stdout parses as JSON (when python3 is there to say).
json_ok() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -m json.tool <"$TMP/out" >/dev/null 2>"$TMP/json.err" ||
			fail "invalid JSON ($(head -n 1 "$TMP/json.err")): $LAST"
	fi
}

# A System V key unique to this process: 0x5PPPPPPN for pid P, index N.
sysv_key() {
	printf '0x%08x' $(( 0x50000000 + (($$ & 0xffffff) << 4) + $1 ))
}
