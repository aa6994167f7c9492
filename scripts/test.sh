#!/bin/sh
# SPDX-License-Identifier: MIT
# Build and run every test: a plain build (warnings are errors), then the
# same suite under ASan+UBSan and under TSan. Exits non-zero if anything fails.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh make g++ pkg-config clang-format spin
jobs=$(nproc)

run() {
	dir=$1
	shift
	echo "== configure $dir $*"
	cmake -S . -B "$dir" -DSHMKIT_WERROR=ON -DSHMKIT_BUILD_TESTS=ON "$@" >/dev/null
	echo "== build $dir"
	cmake --build "$dir" -j"$jobs" >/dev/null 2>"$dir.build.log" || {
		cat "$dir.build.log"
		exit 1
	}
	echo "== test $dir"
	(cd "$dir" && ctest --output-on-failure -j"$jobs")
}

run build -DSHMKIT_BUILD_BENCH=ON
run build-asan -DSHMKIT_SANITIZE="address;undefined" -DSHMKIT_BUILD_BENCH=OFF
run build-tsan -DSHMKIT_SANITIZE=thread -DSHMKIT_BUILD_BENCH=OFF
echo "== all test builds passed"
