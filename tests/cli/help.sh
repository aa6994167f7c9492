#!/bin/sh
# SPDX-License-Identifier: MIT
# shmkit --help, --version and every subcommand's --help: usage on stdout, exit 0.
set -eu
. "$(dirname "$0")/lib.sh"

expect 0 "$SHMKIT" --help
out_has '^Usage: shmkit'
for c in create ls stat rm pipe-in pipe-out pub sub; do
	out_has "^  $c "
done

expect 0 "$SHMKIT" -h
out_has '^Usage: shmkit'

expect 0 "$SHMKIT" --version
out_has '^shmkit [0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]* (shared-memory layout [0-9][0-9]*)$'

for c in create ls stat rm pipe-in pipe-out pub sub; do
	expect 0 "$SHMKIT" "$c" --help
	out_has "^Usage: shmkit $c"
	[ ! -s "$TMP/err" ] || fail "$c --help wrote to stderr"
	expect 0 "$SHMKIT" "$c" -h
	out_has "^Usage: shmkit $c"
	expect 0 "$SHMKIT" help "$c"
	out_has "^Usage: shmkit $c"
done

# --help wins over missing arguments.
expect 0 "$SHMKIT" create --help
expect 0 "$SHMKIT" stat --help
expect 0 "$SHMKIT" rm --help

# The create help documents the command form and its environment.
expect 0 "$SHMKIT" create --help
out_has 'SHMKIT_FD'
out_has 'SHMKIT_SPEC'
out_has_fixed '-- CMD'

usage_error "$SHMKIT"
usage_error "$SHMKIT" frobnicate
err_has "unknown command 'frobnicate'"
usage_error "$SHMKIT" --frobnicate
usage_error "$SHMKIT" help frobnicate

note "ok"
