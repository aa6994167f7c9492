/* SPDX-License-Identifier: MIT */
/* shmkit-bench-bus: percentiles, and the results, ratios and targets as a table or as JSON. */
#include <stdio.h>

#include "b_bench.h"

#ifndef SHMKIT_BENCH_VERSION
#define SHMKIT_BENCH_VERSION "unknown"
#endif

/* The bus work's targets. */
#define T_RT        1.5 /* round-trip p50 / cacheline p50, at most */
#define T_SPIN_COST 1.2 /* spinning fan-out: publish p50 at N / at the smallest N, at most */
#define T_SLEEP_COST                                                                               \
	3.0        /* sleeping fan-out: publish p50 at the largest N / at the smallest, at most */
#define T_LAST 1.0 /* sleeping fan-out: last woken p50 / wake-all's, at most */
#define T_TPUT 0.8 /* 64 B msgs/s / the ring's, and 1 MiB GB/s / memcpy's, at least */
#define T_FLAT 0.8 /* zero-copy msgs/s at 1 MiB / at 64 B, at least ("flat") */

void
bb_lat_fill(struct bb_lat *out, uint64_t *samples, unsigned long n)
{
	if (n == 0) {
		out->measured = 0;
		snprintf(out->why, sizeof(out->why), "no samples");
		return;
	}
	out->mean = bench_sort_mean(samples, n);
	out->measured = 1;
	out->n = n;
	out->min = samples[0];
	out->p50 = bench_percentile(samples, n, 50000);
	out->p99 = bench_percentile(samples, n, 99000);
	out->p999 = bench_percentile(samples, n, 99900);
	out->max = samples[n - 1];
}

void
bb_rate_fill(struct bb_rate *out, double *mps, unsigned n, unsigned long msgs, size_t size)
{
	out->mps = bench_median(mps, n);
	out->measured = 1;
	out->rounds = n;
	out->msgs = msgs;
	out->mps_min = mps[0];
	out->mps_max = mps[n - 1];
	out->gbps = out->mps * (double)size / 1e9;
}

/* ---- targets ------------------------------------------------------------- */

struct target {
	char id[48];
	char what[160];
	double value; /* 0 when not measured */
	double limit;
	int at_least;
};

static double
ratio(double num, double den)
{
	return num > 0 && den > 0 ? num / den : 0;
}

/* The fan-out's reference count: 1 when measured, else the smallest. */
static size_t
ref_index(const struct bb_plan *pl)
{
	size_t best = 0;

	for (size_t s = 1; s < pl->nsubs; s++) {
		if (pl->subs[s] < pl->subs[best]) {
			best = s;
		}
	}
	return best;
}

static size_t
max_index(const struct bb_plan *pl)
{
	size_t best = 0;

	for (size_t s = 1; s < pl->nsubs; s++) {
		if (pl->subs[s] > pl->subs[best]) {
			best = s;
		}
	}
	return best;
}

static double
lat_p50(const struct bb_lat *l)
{
	return l->measured ? (double)l->p50 : 0;
}

static double
rate_mps(const struct bb_rate *r)
{
	return r->measured ? r->mps : 0;
}

static size_t
targets(const struct bb_report *r, struct target *t, size_t max)
{
	const struct bb_plan *pl = r->plan;
	size_t n = 0;

#define ADD(idv, lim, least, val, ...)                                                             \
	do {                                                                                       \
		if (n < max) {                                                                     \
			snprintf(t[n].id, sizeof(t[n].id), "%s", idv);                             \
			snprintf(t[n].what, sizeof(t[n].what), __VA_ARGS__);                       \
			t[n].limit = lim;                                                          \
			t[n].at_least = least;                                                     \
			t[n].value = val;                                                          \
			n++;                                                                       \
		}                                                                                  \
	} while (0)

	if (pl->parts & BB_PART_RT) {
		double fl = lat_p50(&r->rt[BB_RT_CACHELINE]);

		ADD("rt_bus_spin", T_RT, 0, ratio(lat_p50(&r->rt[BB_RT_BUS_SPIN]), fl),
		    "round trip p50, bus-spin / cacheline");
		ADD("rt_bus_default", T_RT, 0, ratio(lat_p50(&r->rt[BB_RT_BUS_DEFAULT]), fl),
		    "round trip p50, bus-default / cacheline");
	}
	if (pl->parts & BB_PART_FANOUT) {
		size_t ref = ref_index(pl), big = max_index(pl);
		double c0 = lat_p50(&r->fspin[ref].cost);

		for (size_t s = 0; s < pl->nsubs; s++) {
			char id[48];

			if (s == ref) {
				continue;
			}
			snprintf(id, sizeof(id), "fanout_spin_cost_%u", pl->subs[s]);
			ADD(id, T_SPIN_COST, 0, ratio(lat_p50(&r->fspin[s].cost), c0),
			    "spinning fan-out: publish p50 at N=%u / at N=%u", pl->subs[s],
			    pl->subs[ref]);
		}
		if (big != ref) {
			ADD("fanout_sleep_cost", T_SLEEP_COST, 0,
			    ratio(lat_p50(&r->fsleep[BB_FO_BUS][big].cost),
				  lat_p50(&r->fsleep[BB_FO_BUS][ref].cost)),
			    "sleeping fan-out: publish p50 at N=%u / at N=%u", pl->subs[big],
			    pl->subs[ref]);
		}
		for (size_t s = 0; s < pl->nsubs; s++) {
			char id[48];

			snprintf(id, sizeof(id), "fanout_sleep_last_%u", pl->subs[s]);
			ADD(id, T_LAST, 0,
			    ratio(lat_p50(&r->fsleep[BB_FO_BUS][s].last),
				  lat_p50(&r->fsleep[BB_FO_WAKEALL][s].last)),
			    "sleeping fan-out, N=%u: last woken p50, bus / wake-all", pl->subs[s]);
		}
	}
	if (pl->parts & BB_PART_TPUT) {
		ADD("tput_64", T_TPUT, 1, ratio(rate_mps(&r->bus64), rate_mps(&r->ring64)),
		    "64 B one way: bus msgs/s / shm-spin ring msgs/s");
		ADD("tput_1m_copy", T_TPUT, 1,
		    ratio(rate_mps(&r->bus_big), rate_mps(&r->memcpy_big)),
		    "1 MiB copying: bus GB/s / memcpy GB/s");
		ADD("zc_flat", T_FLAT, 1, ratio(rate_mps(&r->zc[BB_NZC - 1]), rate_mps(&r->zc[0])),
		    "zero-copy: msgs/s at 1 MiB / at 64 B");
	}
#undef ADD
	return n;
}

static const char *
verdict(const struct target *t)
{
	if (t->value <= 0) {
		return "not measured";
	}
	return bench_target_met(t->limit, t->at_least, t->value) ? "met" : "NOT met";
}

/* ---- the table ----------------------------------------------------------- */

static void
print_ratio(double num, double den, int width)
{
	if (num > 0 && den > 0) {
		printf(" %*.2f", width, num / den);
	} else {
		printf(" %*s", width, "-");
	}
}

static void
print_rt(const struct bb_report *r)
{
	const struct bb_plan *pl = r->plan;
	double cl = lat_p50(&r->rt[BB_RT_CACHELINE]), ss = lat_p50(&r->rt[BB_RT_SHMSPIN]);

	printf("\nRound trip, 64 B each way (cacheline: the 8-byte sequence word), parent on the "
	       "first CPU,\nchild on the second; %u round%s of %lu timed round trips per row, rows "
	       "interleaved,\neach after %lu untimed ones; ns\n",
	       pl->rt_rounds, pl->rt_rounds == 1 ? "" : "s", pl->rt_iters, pl->rt_warmup);
	printf("%-12s %9s %9s %9s %9s %9s %12s %11s\n", "row", "min", "p50", "p99", "p99.9", "max",
	       "x cacheline", "x shm-spin");
	for (int i = 0; i < BB_RT_NROWS; i++) {
		const struct bb_lat *l = &r->rt[i];

		printf("%-12s ", bb_rt_names[i]);
		if (!l->measured) {
			printf("%9s  %s\n", "n/a", l->why);
			continue;
		}
		printf("%9llu %9llu %9llu %9llu %9llu", (unsigned long long)l->min,
		       (unsigned long long)l->p50, (unsigned long long)l->p99,
		       (unsigned long long)l->p999, (unsigned long long)l->max);
		print_ratio((double)l->p50, cl, 12);
		print_ratio((double)l->p50, ss, 11);
		printf("\n");
	}
	printf("x cacheline, x shm-spin: p50 / p50 of that floor\n");
}

static void
print_fspin(const struct bb_report *r)
{
	const struct bb_plan *pl = r->plan;
	size_t ref = ref_index(pl);
	const struct bb_lat *c0 = &r->fspin[ref].cost;

	printf("\nFan-out, spinning subscribers (SHMKIT_BUS_WAIT_SPIN): one publisher on the first "
	       "CPU,\nN subscriber processes on %s; a 64 B message at most every %.0f us, "
	       "%lu timed after\n%lu untimed, on a lossy bus of %u slots (the whole run: none "
	       "can be lapped); every\nsubscriber checks every message. The publisher's time in "
	       "shmkit_bus_send(), ns\n",
	       pl->subset_ncpu == 1 ? "the second" : "the other CPUs",
	       (double)pl->fs_period_ns / 1e3, pl->fs_msgs, pl->fs_warmup, pl->fs_slots);
	printf("%5s %8s %8s %8s %8s %9s %9s %9s %9s %9s\n", "N", "min", "p50", "p99", "p99.9",
	       "max", "period us", "drain ms", "p50 x N1", "p99 x N1");
	for (size_t s = 0; s < pl->nsubs; s++) {
		const struct bb_lat *l = &r->fspin[s].cost;

		printf("%5u ", r->fspin[s].n);
		if (!l->measured) {
			printf("%9s  %s\n", "n/a", l->why);
			continue;
		}
		printf("%8llu %8llu %8llu %8llu %9llu %9.1f %9.1f", (unsigned long long)l->min,
		       (unsigned long long)l->p50, (unsigned long long)l->p99,
		       (unsigned long long)l->p999, (unsigned long long)l->max,
		       r->fspin[s].period_us, r->fspin[s].drain_ms);
		print_ratio((double)l->p50, lat_p50(c0), 9);
		print_ratio((double)l->p99, c0->measured ? (double)c0->p99 : 0, 9);
		printf("\n");
	}
	printf("drain: from the last publish until every subscriber has checked every message;\n"
	       "x N1: / the same percentile at N=%u\n",
	       pl->subs[ref]);
}

static void
print_fsleep(const struct bb_report *r)
{
	const struct bb_plan *pl = r->plan;
	size_t ref = ref_index(pl);
	int notes = 0;

	printf("\nFan-out, sleeping subscribers (on the same CPUs): a 64 B message at most every "
	       "%.1f ms, and\nonly once every subscriber has recorded the previous one and is "
	       "counted asleep (waiting\nat most %.0f ms for that); %lu timed after %lu "
	       "untimed. cost: the publisher's time in\nshmkit_bus_send() (wake-all: storing the "
	       "message, the word and FUTEX_WAKE); first, last:\nfrom the publish to the first "
	       "and to the last subscriber's clock after it got the\nmessage; ns. sleeps: "
	       "voluntary context switches per subscriber per message (ideal: 1)\n",
	       (double)pl->fz_period_ns / 1e6, (double)pl->fz_settle_ns / 1e6, pl->fz_msgs,
	       pl->fz_warmup);
	printf("%5s %-9s %9s %9s %6s %10s %10s %10s %10s %9s %7s\n", "N", "row", "cost p50",
	       "cost p99", "x N1", "first p50", "first p99", "last p50", "last p99", "last x wa",
	       "sleeps");
	for (size_t s = 0; s < pl->nsubs; s++) {
		for (int i = 0; i < BB_FO_NROWS; i++) {
			const struct bb_fsleep *f = &r->fsleep[i][s];

			if (i == 0) {
				printf("%5u %-9s ", f->n, bb_fo_names[i]);
			} else {
				printf("%5s %-9s ", "", bb_fo_names[i]);
			}
			if (!f->cost.measured) {
				printf("%9s  %s\n", "n/a", f->cost.why);
				continue;
			}
			notes |= f->awake != 0;
			printf("%9llu %9llu", (unsigned long long)f->cost.p50,
			       (unsigned long long)f->cost.p99);
			print_ratio((double)f->cost.p50, lat_p50(&r->fsleep[i][ref].cost), 6);
			printf(" %10llu %10llu %10llu %10llu", (unsigned long long)f->first.p50,
			       (unsigned long long)f->first.p99, (unsigned long long)f->last.p50,
			       (unsigned long long)f->last.p99);
			if (i == BB_FO_BUS) {
				print_ratio((double)f->last.p50,
					    lat_p50(&r->fsleep[BB_FO_WAKEALL][s].last), 9);
			} else {
				printf(" %9s", "-");
			}
			printf(" %7.2f\n", f->sleeps);
		}
	}
	printf("x N1: cost p50 / the row's cost p50 at N=%u; last x wa: last p50 / wake-all's "
	       "last p50\n",
	       pl->subs[ref]);
	if (!notes) {
		return;
	}
	printf("Not all asleep %.0f ms after the previous message, so published with some "
	       "subscribers\nawake (their figures are not of a sleeping fan-out alone):\n",
	       (double)pl->fz_settle_ns / 1e6);
	for (size_t s = 0; s < pl->nsubs; s++) {
		for (int i = 0; i < BB_FO_NROWS; i++) {
			const struct bb_fsleep *f = &r->fsleep[i][s];

			if (f->cost.measured && f->awake != 0) {
				printf("  %s, N=%u: %lu of %lu timed publishes\n", bb_fo_names[i],
				       f->n, f->awake, f->cost.n);
			}
		}
	}
}

static void
print_rate(const char *row, size_t size, const struct bb_rate *t, const char *vs,
	   const struct bb_rate *ref)
{
	char sz[32];

	printf("%-20s %8s ", row, bench_size_str(size, sz, sizeof(sz)));
	if (!t->measured) {
		printf("%13s  %s\n", "n/a", t->why);
		return;
	}
	printf("%13.0f %9.2f %7.1f%%", t->mps, t->gbps,
	       t->mps > 0 ? 100.0 * (t->mps_max - t->mps_min) / t->mps : 0.0);
	if (ref != NULL) {
		print_ratio(t->mps, rate_mps(ref), 7);
		printf(" %s\n", vs);
	} else {
		printf("\n");
	}
}

static void
print_tput(const struct bb_report *r)
{
	const struct bb_plan *pl = r->plan;

	printf("\nThroughput, one way: producer on the first CPU, consumer on the second, both "
	       "busy-waiting;\nreliable buses (SHMKIT_BUS_RELIABLE); every sequence number "
	       "checked. msgs/s: median of %u\nround%s (cells interleaved); spread: (max - min) "
	       "/ median; GB = 10^9 bytes\n",
	       pl->tp_rounds, pl->tp_rounds == 1 ? "" : "s");
	printf("%-20s %8s %13s %9s %8s %7s\n", "row", "size", "msgs/s", "GB/s", "spread", "ratio");
	print_rate("shm-spin ring", BB_MSG, &r->ring64, NULL, NULL);
	print_rate("bus send/recv", BB_MSG, &r->bus64, "x shm-spin", &r->ring64);
	print_rate("memcpy", BB_BIG, &r->memcpy_big, NULL, NULL);
	print_rate("bus send/recv", BB_BIG, &r->bus_big, "x memcpy", &r->memcpy_big);
	for (int i = 0; i < BB_NZC; i++) {
		print_rate(i == 0 ? "bus loan/peek" : "", bb_zc_sizes[i], &r->zc[i],
			   i == 0 ? NULL : "x 64 B", i == 0 ? NULL : &r->zc[0]);
	}
	printf("messages: %lu (64 B), %lu (1 MiB copied, and memcpy calls), %lu per zero-copy "
	       "size;\nbus slots: 256 (64 B copied), 8 (1 MiB copied), 64 (zero-copy); the "
	       "shm-spin ring: 256\nslots. Zero-copy writes and reads the 8-byte sequence number "
	       "only.\n",
	       pl->tp_small, pl->tp_big, pl->tp_zc);
}

static void
print_targets(const struct bb_report *r)
{
	struct target t[2 * BB_MAX_NSUBS + 8];
	size_t n = targets(r, t, sizeof(t) / sizeof(t[0]));

	printf("\nTargets (bus work):\n");
	for (size_t i = 0; i < n; i++) {
		printf("  %-56s ", t[i].what);
		if (t[i].value <= 0) {
			printf("not measured\n");
			continue;
		}
		printf("%6.2f (%s %.2f): %s\n", t[i].value, t[i].at_least ? ">=" : "<=", t[i].limit,
		       verdict(&t[i]));
	}
}

void
bb_print_table(const struct bb_report *r)
{
	const struct bench_machine *m = r->mach;
	const struct bb_plan *pl = r->plan;

	printf("shmkit-bench-bus %s, %s run\n", SHMKIT_BENCH_VERSION, pl->mode);
	bench_print_machine(m);
	printf("pinning: %s\n", pl->pin_note);
	printf("clock: one CLOCK_MONOTONIC read costs about %.0f ns (inside every timed span)\n",
	       pl->clock_ns);
	if (pl->parts & BB_PART_RT) {
		print_rt(r);
	}
	if (pl->parts & BB_PART_FANOUT) {
		print_fspin(r);
		print_fsleep(r);
	}
	if (pl->parts & BB_PART_TPUT) {
		print_tput(r);
	}
	print_targets(r);
}

/* ---- JSON ---------------------------------------------------------------- */

/* "key": {percentiles} or {"available": false, "reason": ...} */
static void
json_lat(const char *key, const struct bb_lat *l)
{
	printf("\"%s\": {", key);
	if (!l->measured) {
		printf("\"available\": false, \"reason\": ");
		bench_json_str(l->why);
		printf("}");
		return;
	}
	printf("\"samples\": %lu, \"min_ns\": %llu, \"p50_ns\": %llu, \"p99_ns\": %llu, "
	       "\"p999_ns\": %llu, \"max_ns\": %llu, \"mean_ns\": %.1f}",
	       l->n, (unsigned long long)l->min, (unsigned long long)l->p50,
	       (unsigned long long)l->p99, (unsigned long long)l->p999, (unsigned long long)l->max,
	       l->mean);
}

static void
json_rt(const struct bb_report *r)
{
	const struct bb_plan *pl = r->plan;

	printf("  \"round_trip\": {\"size\": %d, \"rounds\": %u, \"iters_per_round\": %lu, "
	       "\"warmup_per_round\": %lu, \"units\": \"ns\", \"rows\": [",
	       BB_MSG, pl->rt_rounds, pl->rt_iters, pl->rt_warmup);
	for (int i = 0; i < BB_RT_NROWS; i++) {
		const struct bb_lat *l = &r->rt[i];

		printf("%s\n    {\"row\": ", i ? "," : "");
		bench_json_str(bb_rt_names[i]);
		printf(", \"kind\": ");
		bench_json_str(bb_rt_kinds[i]);
		printf(", \"description\": ");
		bench_json_str(bb_rt_what[i]);
		printf(", \"size\": %d", i == BB_RT_CACHELINE ? BENCH_WORD_MSG : BB_MSG);
		if (!l->measured) {
			bench_json_unavailable(l->why);
			continue;
		}
		printf(", \"samples\": %lu, \"min_ns\": %llu, \"p50_ns\": %llu, \"p99_ns\": %llu, "
		       "\"p999_ns\": %llu, \"max_ns\": %llu, \"mean_ns\": %.1f",
		       l->n, (unsigned long long)l->min, (unsigned long long)l->p50,
		       (unsigned long long)l->p99, (unsigned long long)l->p999,
		       (unsigned long long)l->max, l->mean);
		bench_json_ratio("vs_cacheline", (double)l->p50, lat_p50(&r->rt[BB_RT_CACHELINE]));
		bench_json_ratio("vs_shm_spin", (double)l->p50, lat_p50(&r->rt[BB_RT_SHMSPIN]));
		printf("}");
	}
	printf("\n  ]},\n");
}

static void
json_fanout(const struct bb_report *r)
{
	const struct bb_plan *pl = r->plan;
	size_t ref = ref_index(pl);
	int first = 1;

	printf("  \"fanout_spin\": {\"size\": %d, \"period_us\": %.1f, \"messages\": %lu, "
	       "\"warmup\": %lu, \"slots\": %u, \"max_subscribers\": %u, \"reference_n\": %u, "
	       "\"figure\": \"the publisher's time in shmkit_bus_send\", \"rows\": [",
	       BB_MSG, (double)pl->fs_period_ns / 1e3, pl->fs_msgs, pl->fs_warmup, pl->fs_slots,
	       pl->max_subs, pl->subs[ref]);
	for (size_t s = 0; s < pl->nsubs; s++) {
		const struct bb_fspin *f = &r->fspin[s];

		printf("%s\n    {\"subscribers\": %u, ", s ? "," : "", f->n);
		json_lat("cost", &f->cost);
		if (f->cost.measured) {
			printf(", \"period_us\": %.2f, \"drain_ms\": %.3f", f->period_us,
			       f->drain_ms);
			bench_json_ratio("p50_vs_reference", lat_p50(&f->cost),
					 lat_p50(&r->fspin[ref].cost));
			bench_json_ratio(
				"p99_vs_reference", (double)f->cost.p99,
				r->fspin[ref].cost.measured ? (double)r->fspin[ref].cost.p99 : 0);
		}
		printf("}");
	}
	printf("\n  ]},\n");
	printf("  \"fanout_sleep\": {\"size\": %d, \"period_us\": %.1f, \"settle_us\": %.1f, "
	       "\"messages\": %lu, \"warmup\": %lu, \"max_subscribers\": %u, "
	       "\"reference_n\": %u, \"rows\": [",
	       BB_MSG, (double)pl->fz_period_ns / 1e3, (double)pl->fz_settle_ns / 1e3, pl->fz_msgs,
	       pl->fz_warmup, pl->max_subs, pl->subs[ref]);
	for (size_t s = 0; s < pl->nsubs; s++) {
		for (int i = 0; i < BB_FO_NROWS; i++) {
			const struct bb_fsleep *f = &r->fsleep[i][s];

			printf("%s\n    {\"subscribers\": %u, \"row\": ", first ? "" : ",", f->n);
			first = 0;
			bench_json_str(bb_fo_names[i]);
			printf(", \"description\": ");
			bench_json_str(bb_fo_what[i]);
			printf(", ");
			json_lat("cost", &f->cost);
			if (f->cost.measured) {
				printf(", ");
				json_lat("first", &f->first);
				printf(", ");
				json_lat("last", &f->last);
				printf(", \"period_us\": %.2f, \"late\": %lu, \"awake\": %lu, "
				       "\"sleeps_per_msg\": %.3f",
				       f->period_us, f->late, f->awake, f->sleeps);
				bench_json_ratio("cost_vs_reference", lat_p50(&f->cost),
						 lat_p50(&r->fsleep[i][ref].cost));
				if (i == BB_FO_BUS) {
					bench_json_ratio(
						"last_vs_wake_all", lat_p50(&f->last),
						lat_p50(&r->fsleep[BB_FO_WAKEALL][s].last));
				}
			}
			printf("}");
		}
	}
	printf("\n  ]},\n");
}

static void
json_rate(int *first, const char *row, const char *kind, size_t size, const struct bb_rate *t,
	  const char *vs, const struct bb_rate *ref)
{
	printf("%s\n    {\"row\": ", *first ? "" : ",");
	*first = 0;
	bench_json_str(row);
	printf(", \"kind\": ");
	bench_json_str(kind);
	printf(", \"size\": %zu", size);
	if (!t->measured) {
		bench_json_unavailable(t->why);
		return;
	}
	printf(", \"messages_per_round\": %lu, \"rounds\": %u, \"msgs_per_s\": %.1f, "
	       "\"msgs_per_s_min\": %.1f, \"msgs_per_s_max\": %.1f, \"gb_per_s\": %.3f",
	       t->msgs, t->rounds, t->mps, t->mps_min, t->mps_max, t->gbps);
	if (ref != NULL) {
		printf(", \"ratio_to\": ");
		bench_json_str(vs);
		bench_json_ratio("ratio", t->mps, rate_mps(ref));
	}
	printf("}");
}

static void
json_tput(const struct bb_report *r)
{
	int first = 1;

	printf("  \"throughput\": {\"rounds\": %u, \"figure\": \"median over rounds\", \"units\": "
	       "{\"msgs_per_s\": \"messages per second\", \"gb_per_s\": \"10^9 bytes per "
	       "second\"}, \"rows\": [",
	       r->plan->tp_rounds);
	json_rate(&first, "shm-spin", "floor", BB_MSG, &r->ring64, NULL, NULL);
	json_rate(&first, "bus-copy", "shmkit", BB_MSG, &r->bus64, "shm-spin", &r->ring64);
	json_rate(&first, "memcpy", "floor", BB_BIG, &r->memcpy_big, NULL, NULL);
	json_rate(&first, "bus-copy", "shmkit", BB_BIG, &r->bus_big, "memcpy", &r->memcpy_big);
	for (int i = 0; i < BB_NZC; i++) {
		json_rate(&first, "bus-zero-copy", "shmkit", bb_zc_sizes[i], &r->zc[i],
			  "bus-zero-copy 64", i == 0 ? NULL : &r->zc[0]);
	}
	printf("\n  ]},\n");
}

static void
json_targets(const struct bb_report *r)
{
	struct target t[2 * BB_MAX_NSUBS + 8];
	size_t n = targets(r, t, sizeof(t) / sizeof(t[0]));

	printf("  \"targets\": [");
	for (size_t i = 0; i < n; i++) {
		printf("%s\n    {\"target\": ", i ? "," : "");
		bench_json_str(t[i].id);
		printf(", \"description\": ");
		bench_json_str(t[i].what);
		bench_json_target(t[i].limit, t[i].at_least, t[i].value);
	}
	printf("\n  ]\n");
}

void
bb_print_json(const struct bb_report *r)
{
	const struct bench_machine *m = r->mach;
	const struct bb_plan *pl = r->plan;
	static const char *const parts[] = {"rt", "fanout", "tput"};
	int first = 1;

	bench_json_head("shmkit-bench-bus", pl->mode, -1);
	printf(",\n  \"parts\": [");
	for (int i = 0; i < 3; i++) {
		if (pl->parts & (1u << i)) {
			printf("%s\"%s\"", first ? "" : ", ", parts[i]);
			first = 0;
		}
	}
	printf("],\n  ");
	bench_json_machine(m, pl->pinned, "publisher_cpu", pl->cpu_pub, "pair_cpu", pl->cpu_sub,
			   pl->pin_note);
	printf(", \"clock_read_ns\": %.1f},\n", pl->clock_ns);
	if (pl->parts & BB_PART_RT) {
		json_rt(r);
	}
	if (pl->parts & BB_PART_FANOUT) {
		json_fanout(r);
	}
	if (pl->parts & BB_PART_TPUT) {
		json_tput(r);
	}
	json_targets(r);
	printf("}\n");
}
