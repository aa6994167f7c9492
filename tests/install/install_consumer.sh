#!/bin/sh
# SPDX-License-Identifier: MIT
# Install shmkit into a scratch prefix, then build and run a consumer against
# it with pkg-config and with find_package(shmkit), as C11 and as C++17.
set -eu
: "${SHMKIT_SRC:?}" "${SHMKIT_BUILD:?}"
for tool in pkg-config g++; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "skip: $tool is not installed (the test command installs it)"
		exit 77
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
cmake --install "$SHMKIT_BUILD" --prefix "$prefix" >"$tmp/install.log"

for f in include/shmkit/shmkit.h include/shmkit/segment.h include/shmkit/version.h \
	bin/shmkit share/man/man1/shmkit.1 share/man/man3/shmkit_segment_create.3 \
	share/man/man7/shmkit.7; do
	[ -e "$prefix/$f" ] || { echo "FAIL: $f was not installed"; exit 1; }
done
libdir=$(dirname "$(find "$prefix" -name 'libshmkit.so.0' | head -n 1)")
[ -f "$libdir/libshmkit.a" ] || { echo "FAIL: static library not installed"; exit 1; }
[ -f "$libdir/pkgconfig/shmkit.pc" ] || { echo "FAIL: shmkit.pc not installed"; exit 1; }

# Only shmkit_* is exported, and the SONAME carries the major version.
bad=$(nm -D --defined-only "$libdir/libshmkit.so.0" | awk '$2 ~ /^[TDBRW]$/ && $3 !~ /^shmkit_/ {print $3}')
[ -z "$bad" ] || { echo "FAIL: symbols exported outside shmkit_*: $bad"; exit 1; }
readelf -d "$libdir/libshmkit.so.0" | grep -q 'SONAME.*libshmkit.so.0' ||
	{ echo "FAIL: SONAME is not libshmkit.so.0"; exit 1; }

cons="$SHMKIT_SRC/tests/install/consumer"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs shmkit)
# shellcheck disable=SC2086
gcc -std=c11 -Wall -Wextra -Werror -o "$tmp/pc_c" "$cons/consumer.c" $flags -Wl,-rpath,"$libdir"
# shellcheck disable=SC2086
g++ -std=c++17 -Wall -Wextra -Werror -o "$tmp/pc_cxx" "$cons/consumer.cpp" $flags -Wl,-rpath,"$libdir"
"$tmp/pc_c"
"$tmp/pc_cxx"

cmake -S "$cons" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cm.log"
cmake --build "$tmp/cm" >>"$tmp/cm.log" 2>&1 || { cat "$tmp/cm.log"; exit 1; }
LD_LIBRARY_PATH="$libdir" "$tmp/cm/consumer_c"
LD_LIBRARY_PATH="$libdir" "$tmp/cm/consumer_cxx"
"$tmp/cm/consumer_static"
echo "install consumer: ok"
