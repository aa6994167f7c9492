#!/bin/sh
# SPDX-License-Identifier: MIT
# Every C source and header follows the committed .clang-format.
set -eu
: "${SHMKIT_SRC:?}"
if ! command -v clang-format >/dev/null 2>&1; then
	echo "skip: clang-format is not installed (the test command installs it)"
	exit 77
fi
cd "$SHMKIT_SRC"
files=$(find include src tools bench examples tests -name '*.c' -o -name '*.h' -o -name '*.cpp' | sort)
if ! clang-format --dry-run --Werror $files 2>"${TMPDIR:-/tmp}/shmkit-format.$$"; then
	head -n 40 "${TMPDIR:-/tmp}/shmkit-format.$$"
	rm -f "${TMPDIR:-/tmp}/shmkit-format.$$"
	echo "FAIL: files above differ from .clang-format (run clang-format -i on them)"
	exit 1
fi
rm -f "${TMPDIR:-/tmp}/shmkit-format.$$"
echo "format: $(echo "$files" | wc -l) files ok"
