#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job: build everything, show two processes talking through a shmkit
# segment, then the benchmark harness's quick tables: the physical floors and
# the kernel's IPC mechanisms and shmkit's ring and message queue, the bus
# next to its floors, the queue against the kernel's queues, then shmkit's
# mutex and semaphores next to what they replace (a few minutes).
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh make
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSHMKIT_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

spec="posix:demo-$$"
echo "== segment_server and segment_client talking through $spec"
build/bin/segment_server "$spec" &
server=$!
build/bin/segment_client "$spec"
wait "$server"

echo
echo "== shmkit-bench --quick (floors, kernel mechanisms, shmkit's ring and message queue)"
build/bin/shmkit-bench --quick

echo
echo "== shmkit-bench-bus --quick (publish/subscribe: round trips, fan-out to 256 subscribers, throughput)"
build/bin/shmkit-bench-bus --quick

echo
echo "== shmkit-bench-queue --quick (the message queue against System V and POSIX queues)"
build/bin/shmkit-bench-queue --quick

echo
echo "== shmkit-bench-sync --quick (mutex and semaphores against pthread, semop, POSIX, futex)"
build/bin/shmkit-bench-sync --quick
