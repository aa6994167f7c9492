#!/bin/sh
# SPDX-License-Identifier: MIT
# create / ls / stat / rm on the sysv backend; rm --sysv-id on a foreign segment.
set -eu
. "$(dirname "$0")/lib.sh"

key=$(sysv_key 1)
fkey=$(sysv_key 2)
on_exit "'$SHMKIT' rm -f 'sysv:$key' 'sysv:$fkey'"

have_ipcs=0
if command -v ipcs >/dev/null 2>&1 && ipcs -m >/dev/null 2>&1; then
	have_ipcs=1
fi

expect 0 "$SHMKIT" create "sysv:$key" --size 4096 --mode 0600
out_has '^created sysv:'
out_has_fixed "(sysv, "
spec=$(created_spec)
[ -n "$spec" ] || fail "no spec printed"
on_exit "'$SHMKIT' rm -f '$spec'"

expect 0 "$SHMKIT" create "sysv:$key" --size 4096
out_has_fixed "exists $spec "

failure "$SHMKIT" create "sysv:$key" --size 4096 --exclusive
err_has "^shmkit create: sysv:$key: .*(use without --exclusive to open it)$"

# The kernel's table shows it (ipcs prints keys as 0x%08x).
if [ "$have_ipcs" -eq 1 ]; then
	ipcs -m | grep -q -i -e "^$key " || fail "ipcs -m does not show $key"
fi

expect 0 "$SHMKIT" stat "$spec"
[ "$(value backend)" = sysv ] || fail "backend '$(value backend)'"
[ "$(value state)" = ready ] || fail "state '$(value state)'"
[ "$(value nattch)" = 0 ] || fail "nattch '$(value nattch)'"
[ "$(value removed)" = no ] || fail "removed '$(value removed)'"
k=$(value sysv_key)
[ "$((k))" -eq "$((key))" ] || fail "sysv_key $k, expected $key"
id=$(value sysv_id)
[ -n "$id" ] || fail "no sysv_id"

# The same segment by its shmid.
expect 0 "$SHMKIT" stat "sysv:id=$id"
[ "$(value sysv_id)" = "$id" ] || fail "sysv:id=$id stats another segment"

expect 0 "$SHMKIT" stat "$spec" --json
json_ok
out_has "\"sysv_id\": $id,"
out_has '"backend": "sysv"'

expect 0 "$SHMKIT" ls
grep -F -e "$spec " "$TMP/out" >"$TMP/row" || fail "ls does not list $spec"
grep -q ' sysv  *segment  *[0-9][0-9]*  *0600  .*  0  *ready$' "$TMP/row" ||
	fail "ls row: $(cat "$TMP/row")"

expect 0 "$SHMKIT" ls --json
json_ok
out_has_fixed "\"spec\": \"$spec\""

expect 0 "$SHMKIT" rm "$spec"
out_empty
failure "$SHMKIT" stat "$spec"
if [ "$have_ipcs" -eq 1 ]; then
	if ipcs -m | grep -q -i -e "^$key "; then
		fail "ipcs -m still shows $key after rm"
	fi
fi
failure "$SHMKIT" rm "$spec"
expect 0 "$SHMKIT" rm -f "$spec"

# A raw segment has no shmkit header: it is foreign.
expect 0 "$SHMKIT" create "sysv:$fkey" --size 4096 --raw --exclusive
fspec=$(created_spec)
on_exit "'$SHMKIT' rm -f '$fspec'"

expect 0 "$SHMKIT" stat "$fspec"
[ "$(value is_shmkit)" = no ] || fail "raw segment is_shmkit '$(value is_shmkit)'"
[ "$(value state)" = foreign ] || fail "raw segment state '$(value state)'"
fid=$(value sysv_id)

# Opening it as a shmkit segment is refused, with a hint; --raw opens it.
failure "$SHMKIT" create "sysv:$fkey" --size 4096
err_has '--raw'
expect 0 "$SHMKIT" create "sysv:$fkey" --size 4096 --raw
out_has_fixed "exists $fspec "

# ls shows foreign segments only with --all.
expect 0 "$SHMKIT" ls
out_lacks_fixed "$fspec "
expect 0 "$SHMKIT" ls --all
grep -F -e "$fspec " "$TMP/out" >"$TMP/row" || fail "ls --all does not list $fspec"
grep -q ' sysv  *-  .*foreign$' "$TMP/row" || fail "ls --all row: $(cat "$TMP/row")"
expect 0 "$SHMKIT" ls --all --json
json_ok

# rm --sysv-id removes it, as ipcrm -m would.
expect 0 "$SHMKIT" rm --sysv-id "$fid"
out_empty
failure "$SHMKIT" stat "sysv:id=$fid"
failure "$SHMKIT" stat "$fspec"
if [ "$have_ipcs" -eq 1 ]; then
	if ipcs -m | grep -q -i -e "^$fkey "; then
		fail "ipcs -m still shows $fkey after rm --sysv-id"
	fi
fi
failure "$SHMKIT" rm --sysv-id "$fid"
err_has "sysv:id=$fid"
expect 0 "$SHMKIT" rm -f --sysv-id "$fid"

# sysv:private makes a new segment reachable by its shmid.
expect 0 "$SHMKIT" create sysv:private --size 4096 --exclusive
pspec=$(created_spec)
on_exit "'$SHMKIT' rm -f '$pspec'"
expect 0 "$SHMKIT" stat "$pspec"
pid_=$(value sysv_id)
expect 0 "$SHMKIT" rm --sysv-id "$pid_"
failure "$SHMKIT" stat "$pspec"
# Without --exclusive too: there is nothing to open.
expect 0 "$SHMKIT" create sysv:private --size 4096
out_has '^created sysv:'
pspec=$(created_spec)
on_exit "'$SHMKIT' rm -f '$pspec'"
expect 0 "$SHMKIT" rm "$pspec"

# Hugepages: either works or fails cleanly (no free huge pages here).
run "$SHMKIT" create "sysv:$key" --size 4096 --hugepages --exclusive
case $rc in
0) expect 0 "$SHMKIT" rm "sysv:$key" ;;
1) err_one_line ;;
*) fail "create --hugepages exited $rc" ;;
esac

note "ok"
