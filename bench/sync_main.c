/* SPDX-License-Identifier: MIT */
/* shmkit-bench-sync: shmkit's mutex and semaphores against pthread, System V, POSIX, futex. */
#include <stdint.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync.h"

static const char usage[] =
	"usage: shmkit-bench-sync [options]\n"
	"Measures shmkit's synchronization objects next to what they replace:\n"
	"  - uncontended lock+unlock and semaphore operations in one process\n"
	"    (shmkit_mutex vs pthread mutexes; shmkit_semop, shmkit_semset_op\n"
	"    and shmkit_sem vs the kernel's semop and POSIX semaphores);\n"
	"  - ping-pong between two processes pinned to two CPUs, each waiting\n"
	"    on its own semaphore and posting the other's (shmkit_sem,\n"
	"    shmkit_semset_op, shmkit_semop, kernel semop, POSIX named\n"
	"    semaphores, and the bare futex floor), checking a sequence number\n"
	"    on every round trip;\n"
	"and reports the targets of issue 3 as ratios.\n"
	"\n"
	"  --quick          fewer runs and round trips (well under half a minute)\n"
	"  --smoke          tiny counts, a few seconds (for the test suite)\n"
	"  --iters N        N timed ping-pong round trips per row, split into\n"
	"                   rounds that interleave the rows\n"
	"  --runs N         N timed runs of each one-process row (odd, 1..101)\n"
	"  --only NAME,...  run only these rows (see --list; a name may match a\n"
	"                   one-process row and a ping-pong row)\n"
	"  --json           print one JSON document instead of the tables\n"
	"  --list           list the rows and exit\n"
	"  --help           print this help and exit\n"
	"\n"
	"Exit status: 0 measured, 1 runtime failure (a failed call, a lost or\n"
	"duplicated wake-up, a count not back at 0, the watchdog), 2 bad usage.\n";

/* Mark the rows named in a comma-separated list; every name must match. */
static void
parse_only(int *sel_m, int *sel_p, const char *arg)
{
	char buf[512];
	char *save;

	for (char *tok = bench_list_first("--only", arg, buf, sizeof(buf), &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		int found = 0;

		for (size_t i = 0; i < bench_nmicros; i++) {
			if (strcmp(tok, bench_micros[i]->name) == 0) {
				sel_m[i] = found = 1;
			}
		}
		for (size_t i = 0; i < bench_npingpongs; i++) {
			if (strcmp(tok, bench_pingpongs[i]->name) == 0) {
				sel_p[i] = found = 1;
			}
		}
		if (!found) {
			bench_usage_error("--only: unknown row '%s'", tok);
		}
	}
}

static void
list_rows(void)
{
	printf("one process, uncontended:\n");
	for (size_t i = 0; i < bench_nmicros; i++) {
		printf("  %-18s %-7s %s\n", bench_micros[i]->name, bench_micros[i]->kind,
		       bench_micros[i]->what);
	}
	printf("ping-pong between two processes:\n");
	for (size_t i = 0; i < bench_npingpongs; i++) {
		printf("  %-18s %-7s %s\n", bench_pingpongs[i]->name, bench_pingpongs[i]->kind,
		       bench_pingpongs[i]->what);
	}
}

static uint64_t
median_u64(uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), bench_cmp_u64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * The ping-pong rows run in rounds, every row once per round, rather than
 * each row in one go: a two-CPU virtual machine's wake-up cost drifts by
 * tens of percent over a minute, and a row measured alone would carry its
 * minute's drift into its ratio to the futex floor. Each row's percentiles
 * are the medians of its per-round percentiles; min and max are over all.
 */
static void
run_pingpongs(struct bench_plan *plan, const struct bench_transport *const *pps, size_t np,
	      struct bench_latency *lat, int show)
{
	static struct bench_latency per[BENCH_SYNC_MAX_ROUNDS][16];
	unsigned long total = plan->lat_iters;
	unsigned rounds = plan->lat_iters < 1000 ? 1 : plan->rounds;

	plan->rounds = rounds;
	plan->lat_iters = (total + rounds - 1) / rounds;
	plan->lat_warmup = bench_warmup(plan->lat_iters);
	for (unsigned r = 0; r < rounds; r++) {
		for (size_t i = 0; i < np; i++) {
			if (show) {
				fprintf(stderr, "\r%-70s\rmeasuring %s: ping-pong, round %u of %u",
					"", pps[i]->name, r + 1, rounds);
			}
			bench_run_latency(plan, pps[i], &per[r][i]);
		}
	}
	for (size_t i = 0; i < np; i++) {
		uint64_t p50[BENCH_SYNC_MAX_ROUNDS], p99[BENCH_SYNC_MAX_ROUNDS],
			p999[BENCH_SYNC_MAX_ROUNDS];
		struct bench_latency *l = &lat[i];
		double mean = 0;

		*l = per[0][i];
		for (unsigned r = 0; r < rounds; r++) {
			const struct bench_latency *x = &per[r][i];

			if (!x->measured) {
				*l = *x;
				break;
			}
			p50[r] = x->p50_ns;
			p99[r] = x->p99_ns;
			p999[r] = x->p999_ns;
			mean += x->mean_ns / rounds;
			if (x->min_ns < l->min_ns) {
				l->min_ns = x->min_ns;
			}
			if (x->max_ns > l->max_ns) {
				l->max_ns = x->max_ns;
			}
		}
		if (!l->measured) {
			continue;
		}
		l->iters = plan->lat_iters * rounds;
		l->warmup = plan->lat_warmup * rounds;
		l->p50_ns = median_u64(p50, rounds);
		l->p99_ns = median_u64(p99, rounds);
		l->p999_ns = median_u64(p999, rounds);
		l->mean_ns = mean;
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"smoke", no_argument, NULL, 's'},
		{"iters", required_argument, NULL, 'i'},
		{"runs", required_argument, NULL, 'r'},
		{"only", required_argument, NULL, 'o'},
		{"json", no_argument, NULL, 'j'},
		{"list", no_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const struct bench_micro *micros[32];
	const struct bench_transport *pps[16];
	struct bench_micro_result mres[32];
	struct bench_latency lat[16];
	struct bench_micro_plan mp;
	struct bench_sync_report rep;
	struct bench_plan plan;
	struct bench_machine mach;
	int sel_m[32] = {0}, sel_p[16] = {0};
	struct bench_cli cli = {0};
	int any_only = 0, c, show;
	unsigned long iters = 0, runs = 0;
	size_t nm = 0, np = 0;

	bench_prog = "shmkit-bench-sync";
	if (bench_nmicros > 32 || bench_npingpongs > 16) {
		fprintf(stderr, "%s: too many rows\n", bench_prog);
		return 1;
	}
	memset(&plan, 0, sizeof(plan));
	memset(&mach, 0, sizeof(mach));
	memset(&mp, 0, sizeof(mp));
	while ((c = bench_getopt(argc, argv, opts, usage, &cli)) != -1) {
		switch (c) {
		case 'i':
			iters = bench_count_arg("--iters", optarg);
			break;
		case 'r':
			if (bench_parse_ulong(optarg, &runs) != 0 || runs < 1 || runs > 101 ||
			    runs % 2 == 0) {
				bench_usage_error("--runs: expected an odd number 1..101, got '%s'",
						  optarg);
			}
			break;
		case 'o':
			parse_only(sel_m, sel_p, optarg);
			any_only = 1;
			break;
		case 'l':
			list_rows();
			return 0;
		}
	}

	/*
	 * One-process runs are long enough (tens of ms) that the clock and the
	 * loop cost nothing measurable, and many enough that the median shrugs
	 * off a host hiccup; an odd count keeps the median a real sample.
	 */
	if (cli.smoke) {
		plan.mode = "smoke";
		plan.lat_iters = 200;
		plan.rounds = 1;
		mp.runs = 3;
		mp.run_ns = 2000000;
	} else if (cli.quick) {
		plan.mode = "quick";
		plan.lat_iters = 30000;
		plan.rounds = 3;
		mp.runs = 11;
		mp.run_ns = 25000000;
	} else {
		plan.mode = "full";
		plan.lat_iters = 200000;
		plan.rounds = 5;
		mp.runs = 21;
		mp.run_ns = 100000000;
	}
	if (iters != 0) {
		plan.iters_given = 1;
		plan.lat_iters = iters;
	}
	if (runs != 0) {
		mp.runs = (unsigned)runs;
	}
	plan.lat_warmup = bench_warmup(plan.lat_iters);
	/* As shmkit-bench: a millisecond per round trip on top. */
	plan.watchdog_s = bench_watchdog_for(cli.smoke, plan.lat_iters);
	mp.watchdog_s = 30;

	for (size_t i = 0; i < bench_nmicros; i++) {
		if (!any_only || sel_m[i]) {
			micros[nm++] = bench_micros[i];
		}
	}
	for (size_t i = 0; i < bench_npingpongs; i++) {
		if (!any_only || sel_p[i]) {
			pps[np++] = bench_pingpongs[i];
		}
	}

	bench_probe_machine(&plan, &mach);
	show = isatty(STDERR_FILENO);
	if (nm > 0) {
		if (show) {
			fprintf(stderr, "\rmeasuring the one-process rows");
		}
		bench_run_micros(micros, nm, &mp, mres);
	}
	bench_runner_init();
	run_pingpongs(&plan, pps, np, lat, show);
	if (show) {
		fprintf(stderr, "\r%-70s\r", "");
	}

	memset(&rep, 0, sizeof(rep));
	rep.plan = &plan;
	rep.mp = &mp;
	rep.mach = &mach;
	rep.micros = micros;
	rep.mres = mres;
	rep.nmicros = nm;
	rep.pps = pps;
	rep.lat = lat;
	rep.npps = np;
	if (cli.json) {
		bench_sync_print_json(&rep);
	} else {
		bench_sync_print_table(&rep);
	}
	return bench_finish();
}
