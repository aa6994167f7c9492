/* SPDX-License-Identifier: MIT */
/* shmkit-bench-bus: children, bus names and their cleanup on every exit path. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "b_bench.h"

/*
 * What the signal handlers clean up besides the children (guard.c): the
 * names of the buses that exist. They change only while the handled
 * signals are blocked.
 */
#define MAX_SPECS 4
static char specs[MAX_SPECS][64];
static unsigned name_counter;

/* Remove the names, after the children are gone: a name removed last
 * cannot be opened again by a child still starting. Async-signal-safe
 * (unlink through shmkit_segment_remove). */
static void
remove_specs(void)
{
	for (size_t i = 0; i < MAX_SPECS; i++) {
		if (specs[i][0] != '\0') {
			shmkit_segment_remove(specs[i]);
			specs[i][0] = '\0';
		}
	}
}

void
bb_guard_init(void)
{
	/* A fan-out measurement has up to BB_MAX_SUBS children. */
	_Static_assert(BB_MAX_SUBS + 4 <= BENCH_MAX_KIDS, "too many children for the guard");
	bench_guard_init(BENCH_GUARD_CHILD, remove_specs);
	bench_died_msg("%s: a child process died unexpectedly; measurement abandoned\n",
		       bench_prog);
	signal(SIGPIPE, SIG_IGN);
}

void
bb_bus_spec(char *spec, size_t len)
{
	/* Unique per process and per bus: a run never meets a bus of another
	 * run, and a leftover of this pid (a killed earlier run) is replaced
	 * rather than reused. */
	snprintf(spec, len, "posix:bench-bus-%ld-%u", (long)getpid(), ++name_counter);
	shmkit_segment_remove(spec);
}

void
bb_guard_spec(const char *spec, int on)
{
	for (size_t i = 0; i < MAX_SPECS; i++) {
		if (on && specs[i][0] == '\0') {
			snprintf(specs[i], sizeof(specs[i]), "%s", spec);
			return;
		}
		if (!on && strcmp(specs[i], spec) == 0) {
			specs[i][0] = '\0';
			return;
		}
	}
	if (on) {
		bench_fail("internal: more than %d bus names at once", MAX_SPECS);
	}
}

/* In a child right after fork: default signal dispositions, nothing of the
 * parent's registry, and death with the parent. */
static void
child_init(pid_t parent)
{
	if (bench_guard_child(parent) < 0) {
		_exit(1);
	}
	/* The names are the parent's to clean up. */
	for (size_t i = 0; i < MAX_SPECS; i++) {
		specs[i][0] = '\0';
	}
	bench_unblock();
}

pid_t
bb_spawn(bb_child_fn *fn, void *arg, unsigned idx)
{
	pid_t parent = getpid();
	pid_t pid;

	if (bench_guard_full()) {
		bench_fail("internal: more than %d children at once", BENCH_MAX_KIDS);
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		bench_fail("fork failed: %s", strerror(errno));
	}
	if (pid == 0) {
		child_init(parent);
		fn(arg, idx);
		_exit(0);
	}
	bench_guard_add(pid);
	return pid;
}

void
bb_reap_all(const char *what)
{
	sigset_t chld;

	/* With SIGCHLD blocked its handler does not race this wait; the
	 * watchdog and the interrupts stay live in case a child does not
	 * exit. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	while (bench_guard_kids() > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == EINTR) {
				continue;
			}
			bench_fail("%s: waitpid failed: %s", what, strerror(errno));
		}
		bench_guard_ended(pid, status, what, "a child");
	}
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
}

int
bb_pin_cpu(const struct bb_plan *plan, int cpu)
{
	cpu_set_t set;

	if (!plan->pinned) {
		return 0;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

int
bb_pin_set(const struct bb_plan *plan, const cpu_set_t *set)
{
	if (!plan->pinned) {
		return 0;
	}
	return sched_setaffinity(0, sizeof(*set), set) < 0 ? -errno : 0;
}

void *
bb_map_shared(size_t len, const char *what)
{
	void *p = bench_map_shared(len);

	if (p == NULL) {
		bench_fail("cannot map %zu bytes for %s: %s", len, what, strerror(errno));
	}
	return p;
}

unsigned char *
bb_alloc_buf(size_t size)
{
	unsigned char *p = bench_alloc_buf(size);

	if (p == NULL) {
		bench_fail("out of memory");
	}
	return p;
}

void
bb_nap(long ns)
{
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};

	nanosleep(&ts, NULL);
}
