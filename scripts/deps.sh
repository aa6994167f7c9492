#!/bin/sh
# SPDX-License-Identifier: MIT
# Make sure the tools a build needs are present: install the missing ones
# with apt-get when running as root, otherwise say what to install.
# Usage: scripts/deps.sh COMMAND... (e.g. make g++ pkg-config)
set -eu
missing=""
for cmd in "$@"; do
	command -v "$cmd" >/dev/null 2>&1 || missing="$missing $cmd"
done
[ -z "$missing" ] && exit 0

pkgs=""
for cmd in $missing; do
	case "$cmd" in
	cc | gcc) pkgs="$pkgs gcc" ;;
	pkg-config) pkgs="$pkgs pkg-config" ;;
	*) pkgs="$pkgs $cmd" ;;
	esac
done
if [ "$(id -u)" -ne 0 ]; then
	echo "shmkit: missing:$missing; install them first: sudo apt-get install -y$pkgs" >&2
	exit 1
fi
echo "shmkit: installing$pkgs" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet; refresh only if needed.
# shellcheck disable=SC2086
if ! apt-get install -y --no-install-recommends $pkgs >/dev/null 2>&1; then
	apt-get update >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $pkgs >/dev/null
fi
