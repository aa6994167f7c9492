/* SPDX-License-Identifier: MIT */
/* Prints the results as a readable table or as one JSON document. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#ifndef SHMKIT_BENCH_VERSION
#define SHMKIT_BENCH_VERSION "unknown"
#endif

/* p50 of the reference row (the cache-line floor), or 0 if it was not run. */
static uint64_t
reference_p50(const struct bench_row *rows, size_t nrows)
{
	for (size_t i = 0; i < nrows; i++) {
		if ((rows[i].t->flags & BENCH_TF_REFERENCE) && rows[i].lat.measured) {
			return rows[i].lat.p50_ns;
		}
	}
	return 0;
}

/* The best MB/s at size index k, or 0 if no row measured it. */
static double
best_mbps(const struct bench_row *rows, size_t nrows, size_t k)
{
	double best = 0;

	for (size_t i = 0; i < nrows; i++) {
		if (rows[i].tput[k].measured && rows[i].tput[k].mb_per_s > best) {
			best = rows[i].tput[k].mb_per_s;
		}
	}
	return best;
}

void
bench_print_table(const struct bench_plan *plan, const struct bench_machine *m,
		  const struct bench_row *rows, size_t nrows)
{
	uint64_t ref = reference_p50(rows, nrows);
	int any_tput = 0;
	char sz[32];

	printf("shmkit-bench %s, %s run%s\n", SHMKIT_BENCH_VERSION, plan->mode,
	       plan->iters_given ? " with --iters" : "");
	bench_print_machine(m);
	printf("pinning: %s\n", m->pin_note);

	printf("\nRound-trip latency in ns: %lu round trips after %lu warm-up "
	       "ones, every message checked\n",
	       plan->lat_iters, plan->lat_warmup);
	printf("%-18s %-6s %5s %8s %8s %8s %9s %8s\n", "transport", "kind", "size", "p50", "p99",
	       "p99.9", "max", "x floor");
	for (size_t i = 0; i < nrows; i++) {
		const struct bench_latency *l = &rows[i].lat;

		if (!l->measured) {
			printf("%-18s %-6s %5zu %8s  %s\n", rows[i].t->name, rows[i].t->kind,
			       l->size, "n/a", l->why);
			continue;
		}
		printf("%-18s %-6s %5zu %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %9" PRIu64,
		       rows[i].t->name, rows[i].t->kind, l->size, l->p50_ns, l->p99_ns, l->p999_ns,
		       l->max_ns);
		if (ref != 0) {
			printf(" %8.2f\n", (double)l->p50_ns / (double)ref);
		} else {
			printf(" %8s\n", "-");
		}
	}
	printf("size: bytes per message (8 = the sequence word alone); "
	       "x floor: p50 / p50 of the cacheline floor\n");

	for (size_t i = 0; i < nrows; i++) {
		if (!(rows[i].t->flags & BENCH_TF_LATENCY_ONLY)) {
			any_tput = 1;
		}
	}
	if (!any_tput || plan->nsizes == 0) {
		return;
	}
	printf("\nOne-way throughput: parent sends, child receives and checks "
	       "every message; MB = 10^6 bytes\n");
	printf("%-8s %-18s %-6s %9s %12s %10s %7s\n", "size", "transport", "kind", "messages",
	       "msgs/s", "MB/s", "/ best");
	for (size_t k = 0; k < plan->nsizes; k++) {
		double best = best_mbps(rows, nrows, k);
		int first = 1;

		for (size_t i = 0; i < nrows; i++) {
			const struct bench_tput *tp = &rows[i].tput[k];

			if (rows[i].t->flags & BENCH_TF_LATENCY_ONLY) {
				continue;
			}
			printf("%-8s %-18s %-6s ",
			       first ? bench_size_str(plan->sizes[k], sz, sizeof(sz)) : "",
			       rows[i].t->name, rows[i].t->kind);
			first = 0;
			if (!tp->measured) {
				printf("%9s  %s\n", "n/a", tp->why);
				continue;
			}
			printf("%9lu %12.0f %10.1f %7.2f\n", tp->msgs, tp->msgs_per_s, tp->mb_per_s,
			       best > 0 ? tp->mb_per_s / best : 0.0);
		}
	}
	printf("/ best: MB/s relative to the fastest row at that size. Message "
	       "transports (unix-seqpacket,\nsysv-msg, posix-mq) are not "
	       "chunked: a size over their limit is n/a. The latency-only\n"
	       "floors (cacheline, futex) have no throughput rows.\n");
}

void
bench_print_json(const struct bench_plan *plan, const struct bench_machine *m,
		 const struct bench_row *rows, size_t nrows)
{
	uint64_t ref = reference_p50(rows, nrows);

	bench_json_head("shmkit-bench", plan->mode, plan->iters_given);
	printf(",\n  ");
	bench_json_machine(m, plan->pinned, "parent_cpu", plan->cpu_parent, "child_cpu",
			   plan->cpu_child, m->pin_note);
	printf("},\n  \"latency_round_trips\": %lu,\n  \"latency_warmup\": %lu,\n", plan->lat_iters,
	       plan->lat_warmup);
	printf("  \"throughput_sizes\": [");
	for (size_t k = 0; k < plan->nsizes; k++) {
		printf("%s%zu", k ? ", " : "", plan->sizes[k]);
	}
	printf("],\n  \"units\": {\"latency\": \"ns per round trip\", "
	       "\"throughput\": \"MB = 10^6 bytes\"},\n  \"rows\": [");
	for (size_t i = 0; i < nrows; i++) {
		const struct bench_row *r = &rows[i];
		const struct bench_latency *l = &r->lat;

		printf("%s\n    {\"transport\": ", i ? "," : "");
		bench_json_str(r->t->name);
		printf(", \"kind\": ");
		bench_json_str(r->t->kind);
		printf(", \"description\": ");
		bench_json_str(r->t->what);
		printf(",\n     \"latency\": ");
		if (l->measured) {
			printf("{\"size\": %zu, \"round_trips\": %lu, "
			       "\"warmup\": %lu, \"min_ns\": %" PRIu64 ", "
			       "\"mean_ns\": %.1f, \"p50_ns\": %" PRIu64 ", "
			       "\"p99_ns\": %" PRIu64 ", \"p999_ns\": %" PRIu64
			       ", \"max_ns\": %" PRIu64 ", \"p50_vs_floor\": ",
			       l->size, l->iters, l->warmup, l->min_ns, l->mean_ns, l->p50_ns,
			       l->p99_ns, l->p999_ns, l->max_ns);
			if (ref != 0) {
				printf("%.3f}", (double)l->p50_ns / (double)ref);
			} else {
				printf("null}");
			}
		} else {
			printf("{\"size\": %zu", l->size);
			bench_json_unavailable(l->why);
		}
		printf(",\n     \"throughput\": [");
		for (size_t k = 0; k < plan->nsizes; k++) {
			const struct bench_tput *tp = &r->tput[k];
			double best = best_mbps(rows, nrows, k);

			printf("%s\n       ", k ? "," : "");
			if (tp->measured) {
				printf("{\"size\": %zu, \"messages\": %lu, "
				       "\"seconds\": %.6f, \"msgs_per_s\": %.1f, "
				       "\"mb_per_s\": %.2f, \"vs_best\": %.3f}",
				       tp->size, tp->msgs, tp->secs, tp->msgs_per_s, tp->mb_per_s,
				       best > 0 ? tp->mb_per_s / best : 0.0);
			} else {
				printf("{\"size\": %zu", tp->size);
				bench_json_unavailable(tp->why);
			}
		}
		printf("]}");
	}
	printf("\n  ]\n}\n");
}
