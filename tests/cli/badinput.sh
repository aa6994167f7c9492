#!/bin/sh
# SPDX-License-Identifier: MIT
# Bad input never crashes: one line on stderr, exit 2 for usage, 1 for failures.
set -eu
. "$(dirname "$0")/lib.sh"

name="clitest.bad.$$"
spec="posix:$name"
on_exit "'$SHMKIT' rm -f '$spec'"

# Global.
usage_error "$SHMKIT"
usage_error "$SHMKIT" nosuchcommand
usage_error "$SHMKIT" --nosuchoption
usage_error "$SHMKIT" -z

# create: usage errors.
usage_error "$SHMKIT" create
usage_error "$SHMKIT" create "$spec"
err_has 'size'
usage_error "$SHMKIT" create --size 4096
err_has 'SPEC'
usage_error "$SHMKIT" create "" --size 4096
usage_error "$SHMKIT" create "$spec" --size
usage_error "$SHMKIT" create "$spec" -s
usage_error "$SHMKIT" create "$spec" --mode
usage_error "$SHMKIT" create "$spec" --size 4096 --bogus
err_has "bogus"
usage_error "$SHMKIT" create "$spec" --size 4096 -q
usage_error "$SHMKIT" create "$spec" --size 4096 --exclusive=yes
usage_error "$SHMKIT" create "$spec" "$spec.2" --size 4096
usage_error "$SHMKIT" create "$spec" --size 4096 --
err_has 'command'
for s in abc 0 00 0K -1 +5 " 5" 4096x 4Q 1.5M "" K 99999999999999999999 \
	18446744073709551616 16E 17179869184G 1KiBB; do
	usage_error "$SHMKIT" create "$spec" --size "$s"
done
for m in 0999 999 8 1000 01000 abc -1 "" 0x1ff 7777 " 600"; do
	usage_error "$SHMKIT" create "$spec" --size 4096 --mode "$m"
	err_has 'mode'
done
# A usage error creates nothing.
failure "$SHMKIT" stat "$spec"

# Edge values that parse.
expect 0 "$SHMKIT" create "$spec" --size 1 --mode 0 --exclusive
out_has_fixed "mode 0000"
expect 0 "$SHMKIT" rm "$spec"
expect 0 "$SHMKIT" create "$spec" --size 4095 --mode 777 --exclusive
out_has_fixed "mode 0777"
expect 0 "$SHMKIT" rm "$spec"

# create: failures the library reports (exit 1).
for s in "posix:" "posix:a/b" "posix:.." "posix:sp ace" "bogus:x" "sysv:" \
	"sysv:zzz" "sysv:0" "sysv:0x1ffffffff" "sysv:ftok=/nonexistent.$$,1" \
	"sysv:id=-1" "memfd:fd=x" "file:" "posix:$(printf '%0300d' 0)"; do
	failure "$SHMKIT" create "$s" --size 4096
	failure "$SHMKIT" create "$s" --size 4096 --exclusive
done
# Too big for any backend (or for the memory here).
failure "$SHMKIT" create "$spec" --size 8E --exclusive
failure "$SHMKIT" create "$spec" --size 15E

# ls.
usage_error "$SHMKIT" ls extra
usage_error "$SHMKIT" ls --bogus
usage_error "$SHMKIT" ls -x

# stat.
usage_error "$SHMKIT" stat
usage_error "$SHMKIT" stat ""
usage_error "$SHMKIT" stat --bogus "$spec"
usage_error "$SHMKIT" stat "$spec" "$spec.2"
failure "$SHMKIT" stat "$spec"
err_has "^shmkit stat: $spec: "
for s in "posix:" "posix:.." "sysv:zzz" "bogus:x" "sysv:id=abc" "memfd:" \
	"memfd:fd=987" "memfd:pid=1,fd=x" "posix:$(printf '%0300d' 0)"; do
	failure "$SHMKIT" stat "$s"
done

# pub, sub: usage errors create nothing.
usage_error "$SHMKIT" pub
usage_error "$SHMKIT" sub
usage_error "$SHMKIT" pub "" x
usage_error "$SHMKIT" pub "$spec" x --rate 0
usage_error "$SHMKIT" pub "$spec" x --slots 3
usage_error "$SHMKIT" sub "$spec" --format xml
usage_error "$SHMKIT" sub "$spec" --timeout -1
failure "$SHMKIT" stat "$spec"

# rm.
usage_error "$SHMKIT" rm
usage_error "$SHMKIT" rm -f
usage_error "$SHMKIT" rm ""
usage_error "$SHMKIT" rm "$spec" ""
usage_error "$SHMKIT" rm --bogus
usage_error "$SHMKIT" rm --sysv-id
for id in abc -1 1x "" 99999999999 " 1"; do
	usage_error "$SHMKIT" rm --sysv-id "$id"
done
failure "$SHMKIT" rm "$spec"
failure "$SHMKIT" rm "sysv:zzz"
failure "$SHMKIT" rm "posix:.."
failure "$SHMKIT" rm "memfd:"
expect 0 "$SHMKIT" rm -f "$spec"

# A spec that is a valid file: path but in a missing directory.
failure "$SHMKIT" create "file:$TMP/no/such/dir/x" --size 4096

note "ok"
