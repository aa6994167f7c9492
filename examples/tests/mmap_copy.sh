#!/bin/sh
# SPDX-License-Identifier: MIT
# Check mmap_copy on one case: empty, random5m, missing, usage or same.
#
# usage: mmap_copy.sh MMAP_COPY CASE
set -u

prog=$1
case=$2

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
cd "$tmp" || exit 1
umask 022

fail() {
	echo "FAIL: $*" >&2
	[ -s err ] && cat err >&2
	exit 1
}

# Run mmap_copy, keep stderr in ./err, and check its exit status.
expect() {
	want=$1
	shift
	"$prog" "$@" 2>err
	rc=$?
	[ $rc -eq "$want" ] || fail "mmap_copy $* exited $rc, expected $want"
}

case $case in
empty)
	: >src
	expect 0 src dst
	[ -f dst ] && [ ! -s dst ] || fail "dst is not an empty regular file"
	# Over an existing, longer file: truncated to nothing.
	echo "old content" >dst2
	expect 0 src dst2
	[ ! -s dst2 ] || fail "existing dst2 was not truncated"
	;;
random5m)
	head -c 5242880 /dev/urandom >src || fail "cannot make the source"
	chmod 0640 src
	expect 0 src dst
	cmp src dst || fail "copy differs from the source"
	[ "$(stat -c %a dst)" = 640 ] || fail "dst mode $(stat -c %a dst), expected 640"
	# Copying again over the (now existing) destination works too.
	head -c 1000 /dev/urandom >src
	expect 0 src dst
	cmp src dst || fail "second copy differs from the source"
	;;
missing)
	expect 1 does-not-exist dst
	[ ! -e dst ] || fail "dst created although the source is missing"
	grep -q "does-not-exist" err || fail "the error does not name the source"
	;;
usage)
	expect 2
	expect 2 onlyone
	expect 2 a b c
	;;
same)
	echo "precious" >src
	expect 1 src src
	ln src hardlink
	expect 1 src hardlink
	expect 1 src ./src
	[ "$(cat src)" = precious ] || fail "the source was damaged"
	;;
*)
	fail "unknown case $case"
	;;
esac
exit 0
