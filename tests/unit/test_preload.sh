#!/bin/sh
# SPDX-License-Identifier: MIT
# An unmodified System V program gives the same output on the kernel and under libshmkit-preload.so.
set -u
build=${SHMKIT_BUILD:?}
prog=$build/tests/sysv_prog
shim=$build/lib/libshmkit-preload.so
[ -x "$prog" ] && [ -f "$shim" ] || { echo "skip: $prog or $shim missing"; exit 77; }
[ -r /proc/sysvipc/msg ] || { echo "skip: no /proc/sysvipc"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

# A sanitized build's shim needs the sanitizer's runtime loaded first.
preload=$shim
for rt in $(ldd "$shim" 2>/dev/null | awk '/lib(a|ub|t)san/ { print $3 }'); do
	preload="$rt $preload"
done
[ "$preload" = "$shim" ] || export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0:detect_leaks=0"

"$prog" >"$tmp/kernel.out" 2>"$tmp/kernel.err" || { echo "FAIL: kernel run exited $?"; fail=1; }
LD_PRELOAD=$preload "$prog" >"$tmp/shim.out" 2>"$tmp/shim.err" ||
	{ echo "FAIL: preloaded run exited $?"; fail=1; }

if ! cmp -s "$tmp/kernel.out" "$tmp/shim.out"; then
	echo "FAIL: outputs differ (kernel, then shim):"
	diff "$tmp/kernel.out" "$tmp/shim.out"
	fail=1
fi
# The kernel run's objects are the kernel's; the shim's must not be.
grep -q 'visible: msg=1 sem=1' "$tmp/kernel.err" ||
	{ echo "FAIL: kernel run: $(cat "$tmp/kernel.err")"; fail=1; }
grep -q 'visible: msg=0 sem=0' "$tmp/shim.err" ||
	{ echo "FAIL: preloaded run reached the kernel: $(cat "$tmp/shim.err")"; fail=1; }
cat "$tmp/shim.out"
[ $fail -eq 0 ] && echo "ok preload"
exit $fail
