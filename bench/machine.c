/* SPDX-License-Identifier: MIT */
/* What the machine is, and which two CPUs a measured pair runs on. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"

/* Every program of the harness sets this before its first message. */
const char *bench_prog = "shmkit-bench";

static void
cpu_model(char *out, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(out, len, "unknown CPU");
	if (f == NULL) {
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (colon == NULL ||
		    (strncmp(line, "model name", 10) != 0 && strncmp(line, "Model", 5) != 0)) {
			continue;
		}
		colon++;
		while (*colon == ' ' || *colon == '\t') {
			colon++;
		}
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(out, len, "%s", colon);
		break;
	}
	fclose(f);
}

/*
 * Pin this process (the parent of every pair) to the first usable CPU and
 * choose the second for the children. With one usable CPU the pair runs
 * unpinned, and the spinning floors yield instead of burning the slice
 * their peer needs.
 */
static void
choose_cpus(struct bench_plan *plan, struct bench_machine *m)
{
	cpu_set_t set;
	int cpus[2], n = 0;

	plan->pinned = 0;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		m->cpus_allowed = 1;
		snprintf(m->pin_note, sizeof(m->pin_note),
			 "unpinned (sched_getaffinity failed: %s)", strerror(errno));
		return;
	}
	m->cpus_allowed = CPU_COUNT(&set);
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++) {
		if (CPU_ISSET(c, &set)) {
			cpus[n++] = c;
		}
	}
	if (n < 2) {
		bench_set_single_cpu(1);
		snprintf(m->pin_note, sizeof(m->pin_note),
			 "unpinned: only one "
			 "CPU is usable, so both processes share it and the "
			 "spinning floors yield");
		return;
	}
	CPU_ZERO(&set);
	CPU_SET(cpus[0], &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		snprintf(m->pin_note, sizeof(m->pin_note),
			 "unpinned (sched_setaffinity failed: %s)", strerror(errno));
		return;
	}
	plan->pinned = 1;
	plan->cpu_parent = cpus[0];
	plan->cpu_child = cpus[1];
	snprintf(m->pin_note, sizeof(m->pin_note), "parent on CPU %d, child on CPU %d", cpus[0],
		 cpus[1]);
}

void
bench_probe_machine(struct bench_plan *plan, struct bench_machine *m)
{
	struct utsname un;

	cpu_model(m->cpu_model, sizeof(m->cpu_model));
	m->cpus_online = sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&un) == 0) {
		snprintf(m->kernel, sizeof(m->kernel), "%s", un.release);
		snprintf(m->arch, sizeof(m->arch), "%s", un.machine);
	}
	choose_cpus(plan, m);
}
