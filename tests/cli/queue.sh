#!/bin/sh
# SPDX-License-Identifier: MIT
# send / recv on a queue: types, selection, formats, stdin, bad input; ls and stat.
set -eu
. "$(dirname "$0")/lib.sh"

spec="posix:cli-queue-$$"
on_exit "'$SHMKIT' rm -f '$spec'"

# --no-create refuses a missing queue; a plain send creates it.
failure "$SHMKIT" send "$spec" --no-create hello
expect 0 "$SHMKIT" send "$spec" --type 2 two
expect 0 "$SHMKIT" send "$spec" --type 1 one
printf 'three\n' | "$SHMKIT" send "$spec" --type 3 - || fail "send from stdin"

expect 0 "$SHMKIT" ls
grep -F -e "$spec " "$TMP/out" >"$TMP/row" || fail "ls does not list $spec"
grep -q ' queue  .* ready  *msgs=3 bytes=[0-9]*/16384 waiting=0/0 dead-claims=0$' "$TMP/row" ||
	fail "ls row: $(cat "$TMP/row")"
expect 0 "$SHMKIT" stat "$spec"
out_has '^kind: 3 (queue)$'
out_has '^queue_count: 3$'
expect 0 "$SHMKIT" stat --json "$spec"
json_ok
out_has '"queue": {"count": 3,'

# Selection as msgrcv: type 3 first, then the lowest type <= 2, then any.
expect 0 "$SHMKIT" recv "$spec" --type 3 --nowait
out_has '^three$'
expect 0 "$SHMKIT" recv "$spec" --type -2 --nowait --format json
json_ok
out_has '"type": 1, "length": 3, "hex": "6f6e65"'
expect 0 "$SHMKIT" recv "$spec" --type 5 --except --nowait --format hex
out_has '^type 2, 3 bytes:$'

# Empty now: --nowait fails, with one line.
failure "$SHMKIT" recv "$spec" --nowait
err_has "^shmkit recv: $spec: .*(no message matches)$"

# Bad input.
expect 2 "$SHMKIT" send "$spec" --type 0 x
expect 2 "$SHMKIT" send "$spec" --type -1 x
expect 2 "$SHMKIT" send "$spec" --type abc x
expect 2 "$SHMKIT" recv "$spec" --count 0
expect 2 "$SHMKIT" recv "$spec" --format xml
expect 2 "$SHMKIT" recv "$spec" --except
expect 2 "$SHMKIT" send
big=$(head -c 9000 /dev/zero | tr '\0' 'a')
failure "$SHMKIT" send "$spec" "$big"
err_has 'over the queue.s limit of 8192$'
expect 0 "$SHMKIT" send --help
expect 0 "$SHMKIT" recv --help
echo "queue: ok"
