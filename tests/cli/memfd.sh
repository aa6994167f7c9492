#!/bin/sh
# SPDX-License-Identifier: MIT
# memfd segments through "create memfd:LABEL --size N -- CMD", and the command form.
set -eu
. "$(dirname "$0")/lib.sh"

export SHMKIT TMP
label="clitest.$$"

# The command sees the memfd as SHMKIT_FD and SHMKIT_SPEC=memfd:fd=N, and
# can stat and list it while shmkit keeps it alive.
expect 0 "$SHMKIT" create "memfd:$label" --size 4096 -- sh -c '
	set -eu
	[ -n "$SHMKIT_FD" ] || exit 10
	[ "$SHMKIT_SPEC" = "memfd:fd=$SHMKIT_FD" ] || exit 11
	"$SHMKIT" stat "memfd:fd=$SHMKIT_FD" >"$TMP/in.stat" 2>&1 || exit 12
	"$SHMKIT" stat "$SHMKIT_SPEC" --json >"$TMP/in.json" 2>&1 || exit 13
	"$SHMKIT" ls >"$TMP/in.ls" 2>&1 || exit 14
	"$SHMKIT" ls --json >"$TMP/in.lsjson" 2>&1 || exit 15
	set +e
	"$SHMKIT" rm "memfd:fd=$SHMKIT_FD" 2>"$TMP/in.rm"
	echo $? >"$TMP/in.rmrc"
	exit 0
'
out_has '^created memfd'
out_has_fixed "(memfd, "
for f in in.stat in.json in.ls in.lsjson; do
	[ -f "$TMP/$f" ] || fail "the command did not write $f"
done
cp "$TMP/in.stat" "$TMP/out"
[ "$(value backend)" = memfd ] || fail "inner stat backend '$(value backend)'"
[ "$(value state)" = ready ] || fail "inner stat state '$(value state)'"
ds=$(value data_size)
[ "$ds" -ge 4096 ] || fail "inner stat data_size '$ds'"
cp "$TMP/in.json" "$TMP/out"
json_ok
out_has '"backend": "memfd"'
cp "$TMP/in.ls" "$TMP/out"
grep -q '^memfd:[^ ]*  *memfd  *segment  .*ready$' "$TMP/out" ||
	fail "ls inside the command does not list the memfd"
cp "$TMP/in.lsjson" "$TMP/out"
json_ok
[ "$(cat "$TMP/in.rmrc")" = 1 ] || fail "rm of a memfd exited $(cat "$TMP/in.rmrc"), expected 1"
[ "$(wc -l <"$TMP/in.rm")" -eq 1 ] || fail "rm of a memfd: not one line of error"

# The command's exit status is shmkit's.
expect 7 "$SHMKIT" create "memfd:$label" --size 4096 -- sh -c 'exit 7'
expect 0 "$SHMKIT" create "memfd:$label" --size 4096 -- true
expect 143 "$SHMKIT" create "memfd:$label" --size 4096 -- sh -c 'kill -TERM $$'
expect 127 "$SHMKIT" create "memfd:$label" --size 4096 -- "$TMP/no-such-command"
err_has 'no-such-command'

# Options after SPEC and before "--"; the command's own options are its own.
expect 0 "$SHMKIT" create "memfd:$label" --json --size 1M -- sh -c 'test "$1" = --size' sh --size
json_ok

# A bare memfd: (no label) works too.
expect 0 "$SHMKIT" create memfd: --size 4096 -- true

# Without a command the memfd vanishes at exit: say so.
expect 0 "$SHMKIT" create "memfd:$label" --size 4096
out_has '^created memfd'
err_has 'vanish'

# A descriptor that is not a memfd, or not open.
failure "$SHMKIT" stat "memfd:fd=987"
expect 1 "$SHMKIT" create "memfd:$label" --size 4096 -- sh -c \
	'exec "$SHMKIT" stat "memfd:fd=987"'
err_one_line

# The command form works for the other backends too.
name="clitest.memfdcmd.$$"
on_exit "'$SHMKIT' rm -f 'posix:$name'"
expect 0 "$SHMKIT" create "posix:$name" --size 4096 -- sh -c '
	[ "$SHMKIT_SPEC" = "posix:'"$name"'" ] || exit 20
	[ -n "$SHMKIT_FD" ] || exit 21
	"$SHMKIT" stat "$SHMKIT_SPEC" >/dev/null || exit 22
'
expect 0 "$SHMKIT" rm "posix:$name"

key=$(sysv_key 3)
on_exit "'$SHMKIT' rm -f 'sysv:$key'"
expect 0 "$SHMKIT" create "sysv:$key" --size 4096 -- sh -c '
	[ -z "${SHMKIT_FD:-}" ] || exit 30
	"$SHMKIT" stat "$SHMKIT_SPEC" >"$TMP/in.sysv" || exit 31
'
cp "$TMP/in.sysv" "$TMP/out"
[ "$(value nattch)" -ge 1 ] || fail "sysv nattch while shmkit create runs: '$(value nattch)'"
expect 0 "$SHMKIT" rm "sysv:$key"

note "ok"
