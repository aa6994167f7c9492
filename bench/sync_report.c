/* SPDX-License-Identifier: MIT */
/* Prints shmkit-bench-sync's results, and the targets, as a table or JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sync.h"

#ifndef SHMKIT_BENCH_VERSION
#define SHMKIT_BENCH_VERSION "unknown"
#endif

static const char *const group_name[BENCH_MG_COUNT] = {"mutex", "semaphore"};
static const char *const group_unit[BENCH_MG_COUNT] = {"lock+unlock", "op"};

/* A target of the issue: num / den compared with limit. For "at most"
 * targets smaller is better; for "at least" ones (speed-ups) larger is. */
struct target {
	const char *id;
	const char *what;
	const char *num; /* row names */
	const char *den;
	int pingpong; /* rows of the ping-pong table (p50), else one-process (median) */
	int at_least;
	double limit;
};

static const struct target targets[] = {
	{"mutex", "uncontended lock+unlock, shmkit-mutex / pthread-robust", "shmkit-mutex",
	 "pthread-robust", 0, 0, 1.0},
	{"semop", "uncontended semop speed-up, sysv-semop / shmkit-semop", "sysv-semop",
	 "shmkit-semop", 0, 1, 10.0},
	{"semset_op", "uncontended semop speed-up, sysv-semop / shmkit-semset", "sysv-semop",
	 "shmkit-semset", 0, 1, 10.0},
	{"pingpong", "ping-pong round trip p50, shmkit-sem / futex", "shmkit-sem", "futex", 1, 0,
	 1.2},
};

#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

/* The figure a target uses for a row, or 0 if the row was not measured. */
static double
figure(const struct bench_sync_report *r, const char *name, int pingpong)
{
	if (pingpong) {
		for (size_t i = 0; i < r->npps; i++) {
			if (strcmp(r->pps[i]->name, name) == 0 && r->lat[i].measured) {
				return (double)r->lat[i].p50_ns;
			}
		}
		return 0;
	}
	for (size_t i = 0; i < r->nmicros; i++) {
		if (strcmp(r->micros[i]->name, name) == 0 && r->mres[i].measured) {
			return r->mres[i].median_ns;
		}
	}
	return 0;
}

/* The ratio of target t, or 0 when either row is missing. */
static double
target_ratio(const struct bench_sync_report *r, const struct target *t)
{
	double a = figure(r, t->num, t->pingpong), b = figure(r, t->den, t->pingpong);

	return a > 0 && b > 0 ? a / b : 0;
}

/* Median of the group's reference row, or 0. */
static double
group_ref(const struct bench_sync_report *r, enum bench_micro_group g, const char **name)
{
	for (size_t i = 0; i < r->nmicros; i++) {
		if (r->micros[i]->group == g && (r->micros[i]->flags & BENCH_MF_REFERENCE)) {
			*name = r->micros[i]->name;
			return r->mres[i].measured ? r->mres[i].median_ns : 0;
		}
	}
	*name = "-";
	return 0;
}

/* p50 of the futex floor (the first ping-pong row), or 0. */
static uint64_t
futex_p50(const struct bench_sync_report *r)
{
	for (size_t i = 0; i < r->npps; i++) {
		if (strcmp(r->pps[i]->name, "futex") == 0 && r->lat[i].measured) {
			return r->lat[i].p50_ns;
		}
	}
	return 0;
}

static void
print_micros(const struct bench_sync_report *r)
{
	const char *refs[BENCH_MG_COUNT];
	double ref[BENCH_MG_COUNT];

	if (r->nmicros == 0) {
		return;
	}
	for (int g = 0; g < BENCH_MG_COUNT; g++) {
		ref[g] = group_ref(r, (enum bench_micro_group)g, &refs[g]);
	}
	printf("\nUncontended, one process");
	if (r->plan->pinned) {
		printf(" on CPU %d", r->plan->cpu_parent);
	}
	printf(": ns per unit, median of %u runs of about %.0f ms each (rows interleaved)\n",
	       r->mp->runs, (double)r->mp->run_ns / 1e6);
	printf("%-9s %-18s %-7s %-11s %11s %8s %8s %8s %6s\n", "group", "row", "kind", "unit",
	       "iters/run", "median", "min", "max", "x ref");
	for (size_t i = 0; i < r->nmicros; i++) {
		const struct bench_micro *m = r->micros[i];
		const struct bench_micro_result *res = &r->mres[i];
		int first = i == 0 || r->micros[i - 1]->group != m->group;

		printf("%-9s %-18s %-7s %-11s ", first ? group_name[m->group] : "", m->name,
		       m->kind, group_unit[m->group]);
		if (!res->measured) {
			printf("%11s  %s\n", "n/a", res->why);
			continue;
		}
		printf("%11lu %8.1f %8.1f %8.1f", res->iters, res->median_ns, res->min_ns,
		       res->max_ns);
		if (ref[m->group] > 0) {
			printf(" %6.2f\n", res->median_ns / ref[m->group]);
		} else {
			printf(" %6s\n", "-");
		}
	}
	printf("x ref: median / median of the group's reference row (%s, %s). A semaphore\n"
	       "iteration is +1 then -1 (post then wait); its time is split over the two.\n",
	       refs[BENCH_MG_MUTEX], refs[BENCH_MG_SEM]);
}

static void
print_pingpongs(const struct bench_sync_report *r)
{
	uint64_t ref = futex_p50(r);

	if (r->npps == 0) {
		return;
	}
	printf("\nPing-pong between two processes, each waiting on its own semaphore and posting "
	       "the\npeer's: round trip in ns, %lu round trips per row in %u round%s of %lu (rows "
	       "interleaved),\neach after %lu warm-up ones; every sequence number checked. "
	       "Percentiles: median\nover the rounds of each round's; max: over all\n",
	       r->plan->lat_iters * r->plan->rounds, r->plan->rounds,
	       r->plan->rounds == 1 ? "" : "s", r->plan->lat_iters, r->plan->lat_warmup);
	printf("%-16s %-7s %8s %8s %8s %9s %8s\n", "row", "kind", "p50", "p99", "p99.9", "max",
	       "x futex");
	for (size_t i = 0; i < r->npps; i++) {
		const struct bench_latency *l = &r->lat[i];

		if (!l->measured) {
			printf("%-16s %-7s %8s  %s\n", r->pps[i]->name, r->pps[i]->kind, "n/a",
			       l->why);
			continue;
		}
		printf("%-16s %-7s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %9" PRIu64,
		       r->pps[i]->name, r->pps[i]->kind, l->p50_ns, l->p99_ns, l->p999_ns,
		       l->max_ns);
		if (ref != 0) {
			printf(" %8.2f\n", (double)l->p50_ns / (double)ref);
		} else {
			printf(" %8s\n", "-");
		}
	}
	printf("x futex: p50 / p50 of the bare futex floor (FUTEX_WAKE/FUTEX_WAIT, no "
	       "spinning)\n");
}

void
bench_sync_print_table(const struct bench_sync_report *r)
{
	const struct bench_machine *m = r->mach;

	printf("shmkit-bench-sync %s, %s run%s\n", SHMKIT_BENCH_VERSION, r->plan->mode,
	       r->plan->iters_given ? " with --iters" : "");
	bench_print_machine(m);
	printf("pinning: %s\n", m->pin_note);
	print_micros(r);
	print_pingpongs(r);

	printf("\nTargets (issue 3):\n");
	for (size_t k = 0; k < NTARGETS; k++) {
		const struct target *t = &targets[k];
		double ratio = target_ratio(r, t);

		printf("  %-56s ", t->what);
		if (ratio == 0) {
			printf("not measured\n");
			continue;
		}
		printf("%6.2f  (target %s %.2f): %s\n", ratio, t->at_least ? ">=" : "<=", t->limit,
		       bench_target_met(t->limit, t->at_least, ratio) ? "met" : "NOT met");
	}
}

void
bench_sync_print_json(const struct bench_sync_report *r)
{
	const struct bench_machine *m = r->mach;
	const char *refs[BENCH_MG_COUNT];
	double ref[BENCH_MG_COUNT];
	uint64_t fref = futex_p50(r);

	for (int g = 0; g < BENCH_MG_COUNT; g++) {
		ref[g] = group_ref(r, (enum bench_micro_group)g, &refs[g]);
	}
	bench_json_head("shmkit-bench-sync", r->plan->mode, r->plan->iters_given);
	printf(",\n  ");
	bench_json_machine(m, r->plan->pinned, "parent_cpu", r->plan->cpu_parent, "child_cpu",
			   r->plan->cpu_child, m->pin_note);
	printf("},\n  \"uncontended\": {\"runs\": %u, \"run_ms\": %.1f, "
	       "\"units\": \"ns per unit (median over runs)\", \"rows\": [",
	       r->mp->runs, (double)r->mp->run_ns / 1e6);
	for (size_t i = 0; i < r->nmicros; i++) {
		const struct bench_micro *mi = r->micros[i];
		const struct bench_micro_result *res = &r->mres[i];

		printf("%s\n    {\"row\": ", i ? "," : "");
		bench_json_str(mi->name);
		printf(", \"kind\": ");
		bench_json_str(mi->kind);
		printf(", \"group\": ");
		bench_json_str(group_name[mi->group]);
		printf(", \"unit\": ");
		bench_json_str(group_unit[mi->group]);
		printf(", \"reference\": ");
		bench_json_str(refs[mi->group]);
		printf(", \"description\": ");
		bench_json_str(mi->what);
		if (!res->measured) {
			bench_json_unavailable(res->why);
			continue;
		}
		printf(", \"iters_per_run\": %lu, \"median_ns\": %.2f, \"min_ns\": %.2f, "
		       "\"max_ns\": %.2f, \"vs_reference\": ",
		       res->iters, res->median_ns, res->min_ns, res->max_ns);
		if (ref[mi->group] > 0) {
			printf("%.3f}", res->median_ns / ref[mi->group]);
		} else {
			printf("null}");
		}
	}
	printf("\n  ]},\n  \"pingpong\": {\"round_trips\": %lu, \"rounds\": %u, "
	       "\"warmup_per_round\": %lu, \"percentiles\": \"median over rounds\", "
	       "\"units\": \"ns per round trip\", \"rows\": [",
	       r->plan->lat_iters * r->plan->rounds, r->plan->rounds, r->plan->lat_warmup);
	for (size_t i = 0; i < r->npps; i++) {
		const struct bench_latency *l = &r->lat[i];

		printf("%s\n    {\"row\": ", i ? "," : "");
		bench_json_str(r->pps[i]->name);
		printf(", \"kind\": ");
		bench_json_str(r->pps[i]->kind);
		printf(", \"description\": ");
		bench_json_str(r->pps[i]->what);
		if (!l->measured) {
			bench_json_unavailable(l->why);
			continue;
		}
		printf(", \"round_trips\": %lu, \"warmup\": %lu, \"min_ns\": %" PRIu64
		       ", \"mean_ns\": %.1f, \"p50_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64
		       ", \"p999_ns\": %" PRIu64 ", \"max_ns\": %" PRIu64 ", \"p50_vs_futex\": ",
		       l->iters, l->warmup, l->min_ns, l->mean_ns, l->p50_ns, l->p99_ns, l->p999_ns,
		       l->max_ns);
		if (fref != 0) {
			printf("%.3f}", (double)l->p50_ns / (double)fref);
		} else {
			printf("null}");
		}
	}
	printf("\n  ]},\n  \"targets\": [");
	for (size_t k = 0; k < NTARGETS; k++) {
		const struct target *t = &targets[k];
		double ratio = target_ratio(r, t);

		printf("%s\n    {\"target\": ", k ? "," : "");
		bench_json_str(t->id);
		printf(", \"description\": ");
		bench_json_str(t->what);
		printf(", \"numerator\": ");
		bench_json_str(t->num);
		printf(", \"denominator\": ");
		bench_json_str(t->den);
		bench_json_target(t->limit, t->at_least, ratio);
	}
	printf("\n  ]\n}\n");
}
