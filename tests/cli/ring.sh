#!/bin/sh
# SPDX-License-Identifier: MIT
# pipe-in / pipe-out through a byte ring: both start orders, empty input, a
# writer killed mid-stream, a reader whose output closes, ls and stat of a
# ring, bad input. Every wait is bounded; no timing is asserted.
set -eu
. "$(dirname "$0")/lib.sh"

base="cli-ring-$$"
nspec=0
# new_spec: a fresh ring name in $spec, removed at exit.
new_spec() {
	nspec=$((nspec + 1))
	spec="posix:$base-$nspec"
	on_exit "'$SHMKIT' rm -f '$spec'"
}

# bg_pid PID: stop the background process PID at exit if it still runs (a
# timeout(1) passes SIGTERM on to its command).
bg_pid() {
	on_exit "kill $1"
}

# wait_until SECONDS CMD...: run CMD every 50 ms until it succeeds.
wait_until() {
	t=$1
	shift
	timeout "$t" sh -c 'until "$@" >/dev/null 2>&1; do sleep 0.05; done' sh "$@" ||
		fail "gave up after ${t}s waiting for: $*"
}

# wait_stat SPEC PATTERN: wait until "shmkit stat SPEC" prints a line
# matching PATTERN.
wait_stat() {
	wait_until 20 sh -c '"$1" stat "$2" | grep -q -e "$3"' sh "$SHMKIT" "$1" "$2"
}

# finish PID: wait for a background process; its status in $st.
finish() {
	st=0
	wait "$1" || st=$?
}

# same FILE FILE: equal checksums.
same() {
	[ "$(cksum <"$1")" = "$(cksum <"$2")" ] || fail "$2 differs from $1"
}

head -c 5000000 /dev/urandom >"$TMP/data"

# pipe-out first: it creates the ring and waits for the writer.
new_spec
timeout 60 "$SHMKIT" pipe-out "$spec" >"$TMP/out1" 2>"$TMP/err1" &
pout=$!
bg_pid "$pout"
wait_stat "$spec" '^ring_consumer: [0-9][0-9]* (alive)$'
expect 0 timeout 60 "$SHMKIT" pipe-in "$spec" <"$TMP/data"
out_empty
finish "$pout"
[ "$st" -eq 0 ] || fail "pipe-out exited $st: $(cat "$TMP/err1")"
[ ! -s "$TMP/err1" ] || fail "pipe-out wrote to stderr: $(cat "$TMP/err1")"
same "$TMP/data" "$TMP/out1"
# The reader removed the ring at the end.
failure "$SHMKIT" stat "$spec"

# pipe-in first: it creates the ring and fills it, then waits for room.
new_spec
timeout 60 "$SHMKIT" pipe-in "$spec" <"$TMP/data" 2>"$TMP/err2" &
pin=$!
bg_pid "$pin"
wait_stat "$spec" '^ring_used: 1048576 of 1048576$'
expect 0 "$SHMKIT" stat "$spec"
out_has '^kind: 4 (ring)$'
out_has '^ring_mode: bytes$'
out_has '^ring_capacity: 1048576$'
out_has '^ring_eof: no$'
out_has '^ring_producer: [1-9][0-9]* (alive)$'
out_has '^ring_consumer: - (none)$'
out_has '^ring_received: 0$'
expect 0 "$SHMKIT" stat --json "$spec"
json_ok
out_has '"kind_name": "ring"'
out_has '"ring": {"capacity": 1048576, "mode": "bytes",'
out_has '"producer_pid": [1-9][0-9]*, "producer_alive": 1, "producer_state": "alive"'
expect 0 "$SHMKIT" ls
grep -F -e "$spec " "$TMP/out" >"$TMP/row" || fail "ls does not list $spec"
grep -q ' ring .* ready  *bytes used=1048576/1048576 producer=[1-9][0-9]* consumer=- eof=no$' \
	"$TMP/row" || fail "ls row: $(cat "$TMP/row")"
expect 0 "$SHMKIT" ls --json
json_ok
expect 0 timeout 60 "$SHMKIT" pipe-out "$spec"
mv "$TMP/out" "$TMP/out2"
finish "$pin"
[ "$st" -eq 0 ] || fail "pipe-in exited $st: $(cat "$TMP/err2")"
same "$TMP/data" "$TMP/out2"
failure "$SHMKIT" stat "$spec"

# A writer that ended before the reader came: the data waits in the ring.
new_spec
head -c 1000 "$TMP/data" >"$TMP/small"
expect 0 timeout 20 "$SHMKIT" pipe-in "$spec" <"$TMP/small"
expect 0 "$SHMKIT" stat "$spec"
out_has '^ring_used: 1000 of 1048576$'
out_has '^ring_sent: 1000$'
out_has '^ring_eof: yes$'
out_has '^ring_producer: - (none)$'
expect 0 timeout 20 "$SHMKIT" pipe-out "$spec"
same "$TMP/small" "$TMP/out"

# Empty input gives empty output, in both orders.
new_spec
expect 0 timeout 20 "$SHMKIT" pipe-in "$spec" </dev/null
expect 0 timeout 20 "$SHMKIT" pipe-out "$spec"
out_empty
new_spec
timeout 20 "$SHMKIT" pipe-out "$spec" >"$TMP/out3" &
pout=$!
bg_pid "$pout"
wait_stat "$spec" '^ring_consumer: [0-9][0-9]* (alive)$'
expect 0 timeout 20 "$SHMKIT" pipe-in "$spec" </dev/null
finish "$pout"
[ "$st" -eq 0 ] || fail "pipe-out of an empty stream exited $st"
[ ! -s "$TMP/out3" ] || fail "pipe-out of an empty stream wrote something"

# A small ring (--capacity) wraps around many times.
new_spec
timeout 60 "$SHMKIT" pipe-out --capacity 4K "$spec" >"$TMP/out4" &
pout=$!
bg_pid "$pout"
wait_stat "$spec" '^ring_capacity: 4096$'
expect 0 timeout 60 "$SHMKIT" pipe-in --capacity 64K "$spec" <"$TMP/data"
finish "$pout"
[ "$st" -eq 0 ] || fail "pipe-out of a 4 KiB ring exited $st"
same "$TMP/data" "$TMP/out4"

# One holder per role: a second reader is refused while the first lives.
new_spec
timeout 60 "$SHMKIT" pipe-out "$spec" >"$TMP/out5" &
pout=$!
bg_pid "$pout"
wait_stat "$spec" '^ring_consumer: [0-9][0-9]* (alive)$'
failure timeout 20 "$SHMKIT" pipe-out "$spec"
err_has "^shmkit pipe-out: $spec: already has a reader, process [0-9]*$"
expect 0 timeout 20 "$SHMKIT" pipe-in "$spec" <"$TMP/small"
finish "$pout"
[ "$st" -eq 0 ] || fail "pipe-out exited $st"
same "$TMP/small" "$TMP/out5"

# The writer is killed mid-stream: the reader says so and exits 1. The
# writer reads a FIFO that this shell holds open, so it is mid-stream.
new_spec
mkfifo "$TMP/fifo"
exec 3<>"$TMP/fifo"
"$SHMKIT" pipe-in "$spec" <"$TMP/fifo" &
pin=$!
bg_pid "$pin"
head -c 50000 "$TMP/data" >&3
timeout 60 "$SHMKIT" pipe-out "$spec" >"$TMP/out6" 2>"$TMP/err6" &
pout=$!
bg_pid "$pout"
wait_until 20 sh -c '[ "$(wc -c <"$1")" -ge 50000 ]' sh "$TMP/out6"
kill -9 "$pin"
finish "$pout"
exec 3>&-
[ "$st" -eq 1 ] || fail "pipe-out exited $st after its writer was killed"
[ "$(wc -l <"$TMP/err6")" -eq 1 ] || fail "pipe-out stderr: $(cat "$TMP/err6")"
grep -q "^shmkit pipe-out: $spec: the writer died before the end of the stream$" \
	"$TMP/err6" || fail "pipe-out stderr: $(cat "$TMP/err6")"
head -c 50000 "$TMP/data" >"$TMP/part"
same "$TMP/part" "$TMP/out6"
failure "$SHMKIT" stat "$spec"

# The reader's output closes early (EPIPE): it exits 1 with one line, no
# crash; the writer, left without a reader, fails too.
new_spec
timeout 60 "$SHMKIT" pipe-in "$spec" <"$TMP/data" 2>"$TMP/err7" &
pin=$!
bg_pid "$pin"
(
	st=0
	timeout 60 "$SHMKIT" pipe-out "$spec" 2>"$TMP/err8" || st=$?
	echo "$st" >"$TMP/st8"
) | head -c 100 >/dev/null
[ "$(cat "$TMP/st8")" -eq 1 ] || fail "pipe-out exited $(cat "$TMP/st8") on EPIPE"
grep -q '^shmkit pipe-out: write error: Broken pipe$' "$TMP/err8" ||
	fail "pipe-out stderr: $(cat "$TMP/err8")"
finish "$pin"
[ "$st" -eq 1 ] || fail "pipe-in exited $st when its reader went away"
grep -q "^shmkit pipe-in: $spec: the ring was removed and has no reader" "$TMP/err7" ||
	fail "pipe-in stderr: $(cat "$TMP/err7")"

# Bad input: usage errors (exit 2) and objects that are not byte rings.
new_spec
for c in pipe-in pipe-out; do
	usage_error "$SHMKIT" "$c"
	usage_error "$SHMKIT" "$c" ""
	usage_error "$SHMKIT" "$c" "$spec" "$spec.2"
	usage_error "$SHMKIT" "$c" "$spec" --bogus
	usage_error "$SHMKIT" "$c" "$spec" --capacity
	for cap in 0 5000 2K 100M 8G 1T abc -4K ""; do
		usage_error "$SHMKIT" "$c" "$spec" --capacity "$cap"
		err_has 'capacity'
	done
	expect 0 "$SHMKIT" "$c" --help
	out_has "^Usage: shmkit $c RING"
done
# A usage error creates nothing.
failure "$SHMKIT" stat "$spec"
failure timeout 20 "$SHMKIT" pipe-in "bogus:x" </dev/null
failure timeout 20 "$SHMKIT" pipe-out "posix:a/b"

new_spec
expect 0 "$SHMKIT" send "$spec" hello
failure timeout 20 "$SHMKIT" pipe-in "$spec" </dev/null
err_has "^shmkit pipe-in: $spec: is a queue, not a ring$"
failure timeout 20 "$SHMKIT" pipe-out "$spec"
err_has "^shmkit pipe-out: $spec: is a queue, not a ring$"

new_spec
expect 0 "$SHMKIT" create "$spec" --size 4096
failure timeout 20 "$SHMKIT" pipe-in "$spec" </dev/null
err_has "^shmkit pipe-in: $spec: is a segment, not a ring$"
failure timeout 20 "$SHMKIT" pipe-out "$spec"
err_has "^shmkit pipe-out: $spec: is a segment, not a ring$"

echo "ring: ok"
