/* SPDX-License-Identifier: MIT */
/* What the reports print alike: JSON strings, ratios and targets, sizes, the machine. */
#include <stdio.h>

#include "bench.h"

#ifndef SHMKIT_BENCH_VERSION
#define SHMKIT_BENCH_VERSION "unknown"
#endif

void
bench_json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			printf("\\%c", c);
		} else if (c < 0x20) {
			printf("\\u%04x", c);
		} else {
			putchar(c);
		}
	}
	putchar('"');
}

void
bench_json_head(const char *tool, const char *mode, int iters_given)
{
	printf("{\n  \"tool\": ");
	bench_json_str(tool);
	printf(",\n  \"version\": ");
	bench_json_str(SHMKIT_BENCH_VERSION);
	if (mode != NULL) {
		printf(",\n  \"mode\": ");
		bench_json_str(mode);
	}
	if (iters_given >= 0) {
		printf(",\n  \"iters_given\": %s", iters_given ? "true" : "false");
	}
}

void
bench_json_machine(const struct bench_machine *m, int pinned, const char *key0, int cpu0,
		   const char *key1, int cpu1, const char *pin_note)
{
	printf("\"machine\": {\"cpu_model\": ");
	bench_json_str(m->cpu_model);
	printf(", \"cpus_online\": %ld, \"cpus_usable\": %d, \"kernel\": ", m->cpus_online,
	       m->cpus_allowed);
	bench_json_str(m->kernel);
	printf(", \"arch\": ");
	bench_json_str(m->arch);
	printf(", \"pinned\": %s, \"%s\": %d, \"%s\": %d, \"pinning\": ", pinned ? "true" : "false",
	       key0, pinned ? cpu0 : -1, key1, pinned ? cpu1 : -1);
	bench_json_str(pin_note);
}

void
bench_json_ratio(const char *key, double num, double den)
{
	if (num > 0 && den > 0) {
		printf(", \"%s\": %.3f", key, num / den);
	} else {
		printf(", \"%s\": null", key);
	}
}

void
bench_json_unavailable(const char *why)
{
	printf(", \"available\": false, \"reason\": ");
	bench_json_str(why);
	printf("}");
}

int
bench_target_met(double limit, int at_least, double ratio)
{
	return at_least ? ratio >= limit : ratio <= limit;
}

void
bench_json_target(double limit, int at_least, double ratio)
{
	printf(", \"limit\": %.2f, \"at_least\": %s, ", limit, at_least ? "true" : "false");
	if (ratio <= 0) {
		printf("\"ratio\": null, \"met\": null}");
	} else {
		printf("\"ratio\": %.3f, \"met\": %s}", ratio,
		       bench_target_met(limit, at_least, ratio) ? "true" : "false");
	}
}

const char *
bench_size_str(size_t size, char *buf, size_t len)
{
	if (size >= ((size_t)1 << 20) && size % ((size_t)1 << 20) == 0) {
		snprintf(buf, len, "%zu MiB", size >> 20);
	} else if (size >= 1024 && size % 1024 == 0) {
		snprintf(buf, len, "%zu KiB", size >> 10);
	} else {
		snprintf(buf, len, "%zu B", size);
	}
	return buf;
}

void
bench_print_machine(const struct bench_machine *m)
{
	printf("machine: %s, %ld CPUs online (%d usable), Linux %s %s\n", m->cpu_model,
	       m->cpus_online, m->cpus_allowed, m->kernel, m->arch);
}
