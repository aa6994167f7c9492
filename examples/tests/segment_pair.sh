#!/bin/sh
# SPDX-License-Identifier: MIT
# Run segment_server and segment_client on one segment and check their exchange.
#
# usage: segment_pair.sh SERVER CLIENT BACKEND
#   BACKEND: posix, sysv, file or memfd, or "signal" to check that a server
#   stopped by SIGTERM removes its segment.
# Both start orders are run (server first, then client first), except for
# memfd, whose spec the client learns from the server's output.
set -u

server=$1
client=$2
backend=$3

tmp=$(mktemp -d) || exit 1
spid=
cleanup() {
	if [ -n "$spid" ]; then
		kill "$spid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.out "$tmp"/*.err; do
		[ -s "$f" ] && { echo "--- $(basename "$f")"; cat "$f"; } >&2
	done
	exit 1
}

# The object behind a spec must be gone once the server has finished.
check_removed() {
	case $backend in
	posix | signal)
		[ ! -e "/dev/shm/shmkit.$name" ] || fail "server left /dev/shm/shmkit.$name"
		;;
	file)
		[ ! -e "$tmp/segment" ] || fail "server left $tmp/segment"
		;;
	sysv)
		# ftok(): low 16 bits of the inode, low 8 of the device, then the id.
		if command -v ipcs >/dev/null 2>&1; then
			set -- $(stat -c '%i %d' "$tmp/key")
			key=$(printf '0x%08x' $(( ($1 & 0xffff) | (($2 & 0xff) << 16) | (1 << 24) )))
			if ipcs -m | grep -qi "^$key "; then
				fail "server left the System V segment with key $key"
			fi
		fi
		;;
	esac
}

# Wait (bounded) until FILE holds a line matching PATTERN.
wait_for_line() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 500 ] || fail "no line matching '$2' in $(basename "$1") within 10 s"
		sleep 0.02
	done
}

check_exchange() {
	grep -q "read \"hello from segment_server, pid $spid\"" "$tmp/client.out" ||
		fail "the client did not print the server's message"
	grep -q "acknowledged with '\*'" "$tmp/server.out" ||
		fail "the server did not see the client's acknowledgement"
}

name=example-pair-$$
case $backend in
posix | signal) spec=posix:$name ;;
file) spec=file:$tmp/segment ;;
sysv)
	: >"$tmp/key"
	spec=sysv:ftok=$tmp/key,1
	;;
memfd) spec=memfd:demo ;;
*) fail "unknown backend $backend" ;;
esac

if [ "$backend" = signal ]; then
	"$server" "$spec" >"$tmp/server.out" 2>"$tmp/server.err" &
	spid=$!
	wait_for_line "$tmp/server.out" "waiting for the client"
	[ -e "/dev/shm/shmkit.$name" ] || fail "no /dev/shm/shmkit.$name while the server runs"
	kill -TERM "$spid"
	wait "$spid"
	rc=$?
	spid=
	[ $rc -eq 1 ] || fail "server stopped by SIGTERM exited $rc, expected 1"
	grep -q "stopped by signal" "$tmp/server.err" || fail "server did not report the signal"
	check_removed
	exit 0
fi

if [ "$backend" = memfd ]; then
	# A memfd has no name: the client opens it through the server's
	# descriptor table, with the spec the server prints.
	"$server" "$spec" >"$tmp/server.out" 2>"$tmp/server.err" &
	spid=$!
	wait_for_line "$tmp/server.out" "clients open it as"
	cspec=$(sed -n 's/.*clients open it as \(memfd:pid=[0-9]*,fd=[0-9]*\).*/\1/p' "$tmp/server.out")
	"$client" "$cspec" >"$tmp/client.out" 2>"$tmp/client.err" ||
		fail "client exited $?"
	wait "$spid" || fail "server exited $?"
	check_exchange
	exit 0
fi

# Server first.
"$server" "$spec" >"$tmp/server.out" 2>"$tmp/server.err" &
spid=$!
"$client" "$spec" >"$tmp/client.out" 2>"$tmp/client.err" || fail "client exited $?"
wait "$spid" || fail "server exited $?"
check_exchange
check_removed
spid=

# Client first: it must retry the open until the server has created it.
"$client" "$spec" >"$tmp/client.out" 2>"$tmp/client.err" &
cpid=$!
sleep 0.2
"$server" "$spec" >"$tmp/server.out" 2>"$tmp/server.err" &
spid=$!
wait "$cpid" || fail "client (started first) exited $?"
wait "$spid" || fail "server (started second) exited $?"
check_exchange
check_removed
spid=
exit 0
