/* SPDX-License-Identifier: MIT */
/* Prints shmkit-bench-queue's results, ratios and target as a table or as JSON. */
#include <stdio.h>
#include <string.h>

#include "q_bench.h"

#ifndef SHMKIT_BENCH_VERSION
#define SHMKIT_BENCH_VERSION "unknown"
#endif

/* The queue work's target for selective receive: every mode within this
 * factor of msgtyp 0 on the same queue (shmkit-queue). */
#define SEL_TARGET 2.0

/* msgs/s of the System V row at the same size and producer count, or 0. */
static double
sysv_mps(const struct qb_report *r, int s, int p)
{
	const struct qb_tput *t = &r->tput[s][p][0];

	return t->measured ? t->mps : 0;
}

/* p50 of selective row i, mode k, or 0 when not measured. */
static double
sel_p50(const struct qb_report *r, int i, int k)
{
	return r->sel[i][k].measured ? r->sel[i][k].p50_ns : 0;
}

/* index of sysv-msg among the selective rows */
static int
sel_sysv(void)
{
	for (int i = 0; i < QB_NSEL; i++) {
		if (qb_sel_rows[i]->mech == QB_SYSV) {
			return i;
		}
	}
	return -1;
}

static void
print_tput(const struct qb_report *r)
{
	const struct qb_plan *pl = r->plan;
	char sz[32];

	printf("\nThroughput: each producer sends %lu (64 B) or %lu (4 KiB) messages after a tenth "
	       "as many\nwarm-up ones; one consumer receives and checks every message (producer "
	       "id, per-producer\nsequence, checksum) and times the ones after the warm-up. "
	       "msgs/s: median of %u round%s\n(rows interleaved); spread: (max - min) / median; "
	       "MB = 10^6 bytes\n",
	       pl->tput_msgs[0], pl->tput_msgs[1], pl->rounds, pl->rounds == 1 ? "" : "s");
	printf("%-7s %-9s %-19s %4s %9s %11s %9s %7s %7s\n", "size", "producers", "row", "room",
	       "messages", "msgs/s", "MB/s", "spread", "x sysv");
	for (int s = 0; s < QB_NSIZES; s++) {
		for (int p = 0; p < QB_NPRODS; p++) {
			double ref = sysv_mps(r, s, p);

			for (int i = 0; i < QB_NROWS; i++) {
				const struct qb_tput *t = &r->tput[s][p][i];
				char prod[16] = "";

				if (i == 0) {
					snprintf(prod, sizeof(prod), "%u", qb_prods[p]);
				}
				printf("%-7s %-9s %-19s ",
				       p == 0 && i == 0
					       ? bench_size_str(qb_sizes[s], sz, sizeof(sz))
					       : "",
				       prod, qb_rows[i].name);
				if (!t->measured) {
					printf("%4s %9s  %s\n", "", "n/a", t->why);
					continue;
				}
				printf("%4lu %9lu %11.0f %9.1f %6.1f%%", t->room, t->msgs, t->mps,
				       t->mbps,
				       t->mps > 0 ? 100.0 * (t->mps_max - t->mps_min) / t->mps
						  : 0.0);
				if (ref > 0) {
					printf(" %7.2f\n", t->mps / ref);
				} else {
					printf(" %7s\n", "-");
				}
			}
		}
	}
	printf("room: messages the queue holds at once (%d asked of each, see below); x sysv:\n"
	       "msgs/s / msgs/s of sysv-msg at the same size and producer count\n",
	       QB_DEPTH);
	printf("Queue capacity:\n");
	for (int i = 0; i < QB_NROWS; i++) {
		printf("  %-19s", qb_rows[i].name);
		for (int s = 0; s < QB_NSIZES; s++) {
			const struct qb_tput *t = &r->tput[s][0][i];

			printf("%s%s: %s", s ? "; " : "",
			       bench_size_str(qb_sizes[s], sz, sizeof(sz)),
			       t->note[0] != '\0' ? t->note : "n/a");
		}
		printf("\n");
	}
}

static void
print_select(const struct qb_report *r)
{
	const struct qb_plan *pl = r->plan;
	int sv = sel_sysv();

	printf("\nSelective receive, one process");
	if (pl->pinned) {
		printf(" on CPU %d", pl->cpu_prod);
	}
	printf(": %d messages of %d B stay queued, message i of\ntype 1 + i %% %d; an op receives "
	       "the message the mode selects and sends it back with its type\n(both NOWAIT). "
	       "ns per op: p50 over %lu batch%s of %lu ops, after %lu warm-up ops per mode;\nevery "
	       "message checked against a model of the queue\n",
	       QB_SEL_MSGS, QB_SEL_SIZE, QB_SEL_TYPES, pl->sel_batches,
	       pl->sel_batches == 1 ? "" : "es", pl->sel_batch_ops, pl->sel_warmup);
	printf("%-13s %-21s %9s %9s %9s %10s %12s\n", "row", "mode", "p50 ns", "min ns", "max ns",
	       "x msgtyp 0", "shmkit/sysv");
	for (int i = 0; i < QB_NSEL; i++) {
		double ref = sel_p50(r, i, 0);

		for (int k = 0; k < QB_NMODES; k++) {
			const struct qb_sel *m = &r->sel[i][k];
			double other = sv >= 0 ? sel_p50(r, sv, k) : 0;

			printf("%-13s %-21s ", k == 0 ? qb_sel_rows[i]->name : "",
			       qb_modes[k].name);
			if (!m->measured) {
				/* A row that could not be set up has one reason for
				 * all its modes: say it once. */
				if (k > 0 && !r->sel[i][k - 1].measured &&
				    strcmp(m->why, r->sel[i][k - 1].why) == 0) {
					printf("%9s  (as above)\n", "n/a");
				} else {
					printf("%9s  %s\n", "n/a", m->why);
				}
				continue;
			}
			printf("%9.1f %9.1f %9.1f", m->p50_ns, m->min_ns, m->max_ns);
			if (ref > 0) {
				printf(" %10.2f", m->p50_ns / ref);
			} else {
				printf(" %10s", "-");
			}
			if (i != sv && other > 0) {
				printf(" %12.2f\n", m->p50_ns / other);
			} else {
				printf(" %12s\n", "-");
			}
		}
	}
	printf("x msgtyp 0: p50 / p50 of msgtyp 0 on the same queue; shmkit/sysv: p50 / p50 of "
	       "sysv-msg,\nsame mode\n");
	printf("Queue capacity:");
	for (int i = 0; i < QB_NSEL; i++) {
		printf("%s %s: %s", i ? ";" : "", qb_sel_rows[i]->name, r->sel_note[i]);
	}
	printf("\nModes, and the order the queue settles into:\n");
	for (int k = 0; k < QB_NMODES; k++) {
		printf("  %-21s %s\n", qb_modes[k].name, qb_modes[k].steady);
	}
}

static void
print_targets(const struct qb_report *r)
{
	double ref = sel_p50(r, 0, 0);

	printf("\nTarget (queue work): selective receive over %d queued messages of %d types "
	       "within %.0fx of\nmsgtyp 0, %s:\n",
	       QB_SEL_MSGS, QB_SEL_TYPES, SEL_TARGET, qb_sel_rows[0]->name);
	for (int k = 1; k < QB_NMODES; k++) {
		double v = sel_p50(r, 0, k);

		printf("  %-21s ", qb_modes[k].name);
		if (ref <= 0 || v <= 0) {
			printf("not measured\n");
			continue;
		}
		printf("%6.2f  (target <= %.2f): %s\n", v / ref, SEL_TARGET,
		       v / ref <= SEL_TARGET ? "met" : "NOT met");
	}
}

void
qb_print_table(const struct qb_report *r)
{
	const struct bench_machine *m = r->mach;

	printf("shmkit-bench-queue %s, %s run%s\n", SHMKIT_BENCH_VERSION, r->plan->mode,
	       r->plan->iters_given ? " with --iters" : "");
	bench_print_machine(m);
	printf("pinning: %s\n", r->plan->pin_note);
	printf("kernel queues: %s\n", r->plan->ipc_note);
	print_tput(r);
	print_select(r);
	print_targets(r);
}

static void
json_tput(const struct qb_report *r)
{
	int first = 1;

	printf("  \"throughput\": {\"rounds\": %u, \"depth\": %d, \"warmup_per_producer\": "
	       "\"a tenth of the messages\", \"figure\": \"median over rounds\", "
	       "\"units\": {\"msgs_per_s\": \"messages per second\", \"mb_per_s\": "
	       "\"10^6 bytes per second\"}, \"rows\": [",
	       r->plan->rounds, QB_DEPTH);
	for (int s = 0; s < QB_NSIZES; s++) {
		for (int p = 0; p < QB_NPRODS; p++) {
			for (int i = 0; i < QB_NROWS; i++) {
				const struct qb_tput *t = &r->tput[s][p][i];

				printf("%s\n    {\"size\": %zu, \"producers\": %u, \"row\": ",
				       first ? "" : ",", qb_sizes[s], qb_prods[p]);
				first = 0;
				bench_json_str(qb_rows[i].name);
				printf(", \"kind\": ");
				bench_json_str(qb_rows[i].kind);
				printf(", \"description\": ");
				bench_json_str(qb_rows[i].what);
				if (!t->measured) {
					bench_json_unavailable(t->why);
					continue;
				}
				printf(", \"room\": %lu, \"capacity\": ", t->room);
				bench_json_str(t->note);
				printf(", \"messages_per_round\": %lu, \"rounds\": %u, "
				       "\"msgs_per_s\": %.1f, \"msgs_per_s_min\": %.1f, "
				       "\"msgs_per_s_max\": %.1f, \"mb_per_s\": %.2f",
				       t->msgs, t->rounds, t->mps, t->mps_min, t->mps_max, t->mbps);
				bench_json_ratio("vs_sysv", t->mps, sysv_mps(r, s, p));
				printf("}");
			}
		}
	}
	printf("\n  ]},\n");
}

static void
json_select(const struct qb_report *r)
{
	int sv = sel_sysv(), first = 1;

	printf("  \"selective\": {\"messages\": %d, \"types\": %d, \"size\": %d, "
	       "\"batches\": %lu, \"batch_ops\": %lu, \"warmup_ops\": %lu, "
	       "\"figure\": \"p50 over batches\", \"units\": \"ns per receive+send pair\", "
	       "\"rows\": [",
	       QB_SEL_MSGS, QB_SEL_TYPES, QB_SEL_SIZE, r->plan->sel_batches, r->plan->sel_batch_ops,
	       r->plan->sel_warmup);
	for (int i = 0; i < QB_NSEL; i++) {
		for (int k = 0; k < QB_NMODES; k++) {
			const struct qb_sel *m = &r->sel[i][k];

			printf("%s\n    {\"row\": ", first ? "" : ",");
			first = 0;
			bench_json_str(qb_sel_rows[i]->name);
			printf(", \"kind\": ");
			bench_json_str(qb_sel_rows[i]->kind);
			printf(", \"mode\": ");
			bench_json_str(qb_modes[k].id);
			printf(", \"description\": ");
			bench_json_str(qb_modes[k].name);
			if (!m->measured) {
				bench_json_unavailable(m->why);
				continue;
			}
			printf(", \"capacity\": ");
			bench_json_str(r->sel_note[i]);
			printf(", \"p50_ns\": %.2f, \"min_ns\": %.2f, \"max_ns\": %.2f", m->p50_ns,
			       m->min_ns, m->max_ns);
			bench_json_ratio("vs_msgtyp0", m->p50_ns, sel_p50(r, i, 0));
			if (i != sv && sv >= 0) {
				bench_json_ratio("vs_sysv", m->p50_ns, sel_p50(r, sv, k));
			}
			printf("}");
		}
	}
	printf("\n  ]},\n");
}

static void
json_targets(const struct qb_report *r)
{
	double ref = sel_p50(r, 0, 0);

	printf("  \"targets\": [");
	for (int k = 1; k < QB_NMODES; k++) {
		double v = sel_p50(r, 0, k);

		printf("%s\n    {\"target\": \"select_%s\", \"description\": ", k > 1 ? "," : "",
		       qb_modes[k].id);
		printf("\"%s p50 / msgtyp 0 p50, %s\"", qb_modes[k].name, qb_sel_rows[0]->name);
		bench_json_target(SEL_TARGET, 0, ref > 0 && v > 0 ? v / ref : 0);
	}
	printf("\n  ]\n");
}

void
qb_print_json(const struct qb_report *r)
{
	const struct bench_machine *m = r->mach;
	const struct qb_plan *pl = r->plan;

	bench_json_head("shmkit-bench-queue", pl->mode, pl->iters_given);
	printf(",\n  ");
	bench_json_machine(m, pl->pinned, "producer_cpu", pl->cpu_prod, "consumer_cpu",
			   pl->cpu_cons, pl->pin_note);
	printf(", \"kernel_queues\": ");
	bench_json_str(pl->ipc_note);
	printf("},\n");
	json_tput(r);
	json_select(r);
	json_targets(r);
	printf("}\n");
}
