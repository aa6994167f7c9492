#!/bin/sh
# SPDX-License-Identifier: MIT
# ls and stat show semaphore sets: kind, values, pids, waiters, undo records.
set -eu
. "$(dirname "$0")/lib.sh"

helper="$SHMKIT_BUILD/tests/cli/semset_helper"
[ -x "$helper" ] || fail "no $helper"
key=$(sysv_key 3)
spec=$(printf 'posix:semkey.0x%08x' "$key")
on_exit "'$helper' rmid '$key'"

# The helper exits holding a SEM_UNDO adjustment of +2 on semaphore 1.
"$helper" create "$key" >"$TMP/id" || fail "helper create failed"

expect 0 "$SHMKIT" ls
grep -F -e "$spec " "$TMP/out" >"$TMP/row" || fail "ls does not list $spec"
grep -q ' posix  *semset  .* ready  *nsems=3 waiters=0 undo=1 dead-undo=1$' "$TMP/row" ||
	fail "ls row: $(cat "$TMP/row")"

# stat applies the dead process's adjustment (-2) before it shows values.
expect 0 "$SHMKIT" stat "$spec"
out_has '^kind: 2 (semset)$'
out_has '^semset_nsems: 3$'
out_has '^semset_undo_records: 0 (0 of dead processes, not yet applied)$'
out_has '^  0 0 0 0 0$'
out_has '^  1 0 [0-9][0-9]* 0 0$'

expect 0 "$SHMKIT" stat --json "$spec"
json_ok
out_has '"kind_name": "semset"'
out_has '"semset": {"nsems": 3,'

"$helper" rmid "$key" || fail "helper rmid failed"
expect 0 "$SHMKIT" ls
out_lacks_fixed "$spec "
echo "semset: ok"
