#!/bin/sh
# SPDX-License-Identifier: MIT
# create / ls / stat / rm on the posix backend, text and JSON output.
set -eu
. "$(dirname "$0")/lib.sh"

name="clitest.posix.$$"
spec="posix:$name"
on_exit "'$SHMKIT' rm -f '$spec'"

# Create: open-or-create reports "created" the first time.
expect 0 "$SHMKIT" create "$spec" --size 4096 --mode 0640
out_has_fixed "created $spec "
out_has_fixed "(posix, "
out_has_fixed "mode 0640"
[ "$(created_spec)" = "$spec" ] || fail "canonical spec '$(created_spec)', expected '$spec'"

# The second time it exists; a bare NAME means posix:NAME.
expect 0 "$SHMKIT" create "$name" --size 4096
out_has_fixed "exists $spec "
out_has_fixed "mode 0640"

# Asking for more than the existing object holds is refused.
failure "$SHMKIT" create "$spec" --size 1G
err_has "$spec"

# --exclusive on an existing object fails with a hint.
failure "$SHMKIT" create "$spec" --size 4096 --exclusive
err_has "^shmkit create: $spec: .*exists.*--exclusive"
failure "$SHMKIT" create "$spec" --size 4096 -x

# --json of create.
expect 0 "$SHMKIT" create "$spec" --size 1K --json
json_ok
out_has '"status": "exists"'
out_has_fixed "\"spec\": \"$spec\""
out_has '"backend": "posix"'

# stat: text.
expect 0 "$SHMKIT" stat "$spec"
[ "$(value spec)" = "$spec" ] || fail "stat spec is '$(value spec)'"
[ "$(value backend)" = posix ] || fail "stat backend is '$(value backend)'"
[ "$(value is_shmkit)" = yes ] || fail "not a shmkit object"
[ "$(value state)" = ready ] || fail "state is '$(value state)'"
[ "$(value mode)" = 0640 ] || fail "mode is '$(value mode)'"
[ "$(value kind)" = 1 ] || fail "kind is '$(value kind)'"
ds=$(value data_size)
[ "$ds" -ge 4096 ] || fail "data_size $ds < 4096"
sz=$(value size)
[ "$sz" -gt "$ds" ] || fail "size $sz not above data_size $ds"
[ "$(value creator_alive)" = no ] || fail "creator (an exited shmkit) should be dead"
[ "$(value uid)" = "$(id -u)" ] || fail "uid is '$(value uid)'"
out_has '^nattch: -$'
out_has '^created_ns: [1-9][0-9]* ('
out_has '^mtime: [0-9]'

# stat --raw: bare numbers.
expect 0 "$SHMKIT" stat "$spec" --raw
out_has '^is_shmkit: 1$'
out_has '^nattch: -1$'
out_has '^state: 1$'
out_lacks_fixed "("

# stat --json.
expect 0 "$SHMKIT" stat --json "$spec"
json_ok
out_has_fixed "\"spec\": \"$spec\""
out_has '"is_shmkit": true'
out_has '"state_name": "ready"'
out_has '"mode_octal": "0640"'
for k in backend header_error kind state layout_version size data_offset \
	data_size mode uid gid creator_pid creator_uid creator_start \
	creator_alive removed created_ns nattch sysv_id sysv_key last_pid \
	holder_pid atime dtime ctime mtime; do
	out_has "\"$k\": "
done

# ls: text and JSON.
expect 0 "$SHMKIT" ls
out_has '^SPEC  *BACKEND  *KIND  *SIZE  *MODE  *OWNER  *CPID  *NATTCH  *STATE  *DETAIL$'
grep -F -e "$spec " "$TMP/out" >"$TMP/row" || fail "ls does not list $spec"
grep -q ' posix  *segment  *[0-9][0-9]*  *0640  ' "$TMP/row" || fail "ls row: $(cat "$TMP/row")"
grep -q '(dead)  *-  *ready$' "$TMP/row" || fail "ls row: $(cat "$TMP/row")"

expect 0 "$SHMKIT" ls --json
json_ok
out_has_fixed "\"spec\": \"$spec\""

expect 0 "$SHMKIT" ls --all
out_has_fixed "$spec "

# rm, then it is gone.
expect 0 "$SHMKIT" rm "$spec"
out_empty
failure "$SHMKIT" stat "$spec"
err_has "^shmkit stat: $spec: "
expect 0 "$SHMKIT" ls
out_lacks_fixed "$spec "
failure "$SHMKIT" rm "$spec"
err_has "^shmkit rm: $spec: "
expect 0 "$SHMKIT" rm -f "$spec"
expect 0 "$SHMKIT" rm --force "$spec"

# --exclusive creates when absent.
expect 0 "$SHMKIT" create "$spec" --size 64K --exclusive
out_has_fixed "created $spec "

# rm keeps going after a failure and reports each failure.
expect 1 "$SHMKIT" rm "posix:$name.missing1" "$spec" "posix:$name.missing2"
n=$(wc -l <"$TMP/err")
[ "$n" -eq 2 ] || fail "expected 2 error lines, got $n"
failure "$SHMKIT" stat "$spec"

# Sizes with suffixes.
for s in 4096 8K 1M 1m 2KiB 3KB; do
	expect 0 "$SHMKIT" create "$spec" --size "$s" --exclusive
	expect 0 "$SHMKIT" rm "$spec"
done

note "ok"
