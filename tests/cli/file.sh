#!/bin/sh
# SPDX-License-Identifier: MIT
# create / stat / rm on the file backend, in a temporary directory.
set -eu
. "$(dirname "$0")/lib.sh"

path="$TMP/seg.$$"
spec="file:$path"

expect 0 "$SHMKIT" create "$spec" --size 10000 --mode 0644
out_has_fixed "created $spec "
out_has_fixed "(file, "
[ -f "$path" ] || fail "$path was not created"

expect 0 "$SHMKIT" create "$spec" --size 10000
out_has_fixed "exists $spec "
failure "$SHMKIT" create "$spec" --size 10000 --exclusive
err_has '--exclusive'

expect 0 "$SHMKIT" stat "$spec"
[ "$(value backend)" = file ] || fail "backend '$(value backend)'"
[ "$(value state)" = ready ] || fail "state '$(value state)'"
[ "$(value mode)" = 0644 ] || fail "mode '$(value mode)'"
ds=$(value data_size)
[ "$ds" -ge 10000 ] || fail "data_size $ds"
sz=$(value size)
fsz=$(wc -c <"$path")
[ "$sz" -eq "$fsz" ] || fail "size $sz, but the file has $fsz bytes"

expect 0 "$SHMKIT" stat "$spec" --json
json_ok
out_has '"backend": "file"'

# file: objects have no registry: ls does not list them.
expect 0 "$SHMKIT" ls --all
out_lacks_fixed "$spec"

# A symlink at the name is not followed.
ln -s "$path" "$TMP/link"
failure "$SHMKIT" create "file:$TMP/link" --size 4096 --exclusive
failure "$SHMKIT" create "file:$TMP/link" --size 4096
failure "$SHMKIT" rm "file:$TMP/link"
[ -f "$path" ] || fail "rm through a symlink removed the target"

# A foreign file is refused as a shmkit segment, listed as foreign by stat.
printf 'not a shmkit object, just some bytes in a file........\n' >"$TMP/foreign"
expect 0 "$SHMKIT" stat "file:$TMP/foreign"
[ "$(value is_shmkit)" = no ] || fail "foreign file is_shmkit '$(value is_shmkit)'"
failure "$SHMKIT" create "file:$TMP/foreign" --size 16

# A path with awkward characters still gives valid JSON and one-line errors.
odd="$TMP/odd \"quoted\" \\ name"
expect 0 "$SHMKIT" create "file:$odd" --size 4096 --json
json_ok
expect 0 "$SHMKIT" stat "file:$odd" --json
json_ok
expect 0 "$SHMKIT" rm "file:$odd"
nl="$TMP/new
line"
failure "$SHMKIT" stat "file:$nl"

expect 0 "$SHMKIT" rm "$spec"
[ ! -e "$path" ] || fail "$path still exists after rm"
failure "$SHMKIT" rm "$spec"
expect 0 "$SHMKIT" rm -f "$spec"

# Huge pages are not for files.
failure "$SHMKIT" create "$spec" --size 4096 --hugepages
[ ! -e "$path" ] || fail "$path created despite the failure"

note "ok"
