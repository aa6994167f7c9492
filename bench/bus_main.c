/* SPDX-License-Identifier: MIT */
/* shmkit-bench-bus: the publish/subscribe bus next to the floors of what it does. */
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b_bench.h"

static const char usage[] =
	"usage: shmkit-bench-bus [options]\n"
	"Measures shmkit's publish/subscribe bus (shmkit_bus), every figure next to its\n"
	"floor in the same run, and reports the bus work's targets as ratios:\n"
	"  rt      round trips of 64 B over two buses (ping, pong), the receivers\n"
	"          spinning and with the default waiting, next to the cacheline and\n"
	"          shm-spin floors (p50, p99, p99.9);\n"
	"  fanout  one publisher, N subscriber processes: the publisher's cost per\n"
	"          publish with spinning subscribers, and with sleeping ones, where\n"
	"          also the latency to the first and the last subscriber woken, next\n"
	"          to a bare FUTEX_WAKE of N sleepers on one word;\n"
	"  tput    64 B messages/s next to the shm-spin ring, 1 MiB copied next to\n"
	"          memcpy, and zero-copy messages/s at 64 B, 4 KiB, 64 KiB, 1 MiB.\n"
	"Every message carries a sequence number that its receivers check.\n"
	"\n"
	"  --quick          fewer messages and rounds (well under a minute)\n"
	"  --smoke          tiny counts, a few seconds (for the test suite)\n"
	"  --only LIST      run only these parts: rt, fanout, tput (comma-separated)\n"
	"  --subs LIST      fan-out subscriber counts (default 1,4,16,64,256; each\n"
	"                   1..4096, at most 16)\n"
	"  --json           print one JSON document instead of the tables\n"
	"  --help           print this help and exit\n"
	"\n"
	"Exit status: 0 measured, 1 runtime failure (a failed call, a message lost,\n"
	"duplicated, reordered or cut, a child that died, the watchdog), 2 bad usage.\n";

static void
set_mode(struct bb_plan *plan, int quick, int smoke)
{
	plan->fs_period_ns = 50000;
	plan->fz_period_ns = 3000000;
	/* How long the publisher of the sleeping fan-out waits, at most, for
	 * every subscriber to be asleep before it publishes anyway. */
	plan->fz_settle_ns = smoke ? 10000000 : 30000000;
	if (smoke) {
		plan->mode = "smoke";
		plan->rt_rounds = 1;
		plan->rt_iters = 300;
		plan->fs_msgs = 200;
		plan->fs_warmup = 20;
		plan->fz_msgs = 8;
		plan->fz_warmup = 2;
		plan->tp_rounds = 1;
		plan->tp_small = 2000;
		plan->tp_big = 20;
		plan->tp_zc = 2000;
		/* A smoke run must stop itself (and clean up) well before the
		 * test runner's own timeout. */
		plan->watchdog_s = 30;
	} else if (quick) {
		plan->mode = "quick";
		plan->rt_rounds = 3;
		plan->rt_iters = 30000;
		plan->fs_msgs = 5000;
		plan->fs_warmup = 500;
		plan->fz_msgs = 100;
		plan->fz_warmup = 5;
		plan->tp_rounds = 3;
		plan->tp_small = 200000;
		plan->tp_big = 500;
		plan->tp_zc = 100000;
		plan->watchdog_s = 120;
	} else {
		plan->mode = "full";
		plan->rt_rounds = 5;
		plan->rt_iters = 100000;
		plan->fs_msgs = 20000;
		plan->fs_warmup = 1000;
		plan->fz_msgs = 300;
		plan->fz_warmup = 10;
		plan->tp_rounds = 7;
		plan->tp_small = 2000000;
		plan->tp_big = 2000;
		plan->tp_zc = 300000;
		plan->watchdog_s = 300;
	}
	plan->rt_warmup = bench_warmup(plan->rt_iters);
	/* The log of the spinning fan-out holds every message of the run:
	 * spinning subscribers sharing a CPU wait their turn for as long as
	 * the scheduler makes them (256 of them: most of a second), and none
	 * may be lapped meanwhile. */
	plan->fs_slots = 1024;
	while (plan->fs_slots < plan->fs_msgs + plan->fs_warmup) {
		plan->fs_slots *= 2;
	}
}

static void
parse_only(struct bb_plan *plan, const char *arg)
{
	char buf[256], *save;

	plan->parts = 0;
	for (char *tok = bench_list_first("--only", arg, buf, sizeof(buf), &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "rt") == 0) {
			plan->parts |= BB_PART_RT;
		} else if (strcmp(tok, "fanout") == 0) {
			plan->parts |= BB_PART_FANOUT;
		} else if (strcmp(tok, "tput") == 0) {
			plan->parts |= BB_PART_TPUT;
		} else {
			bench_usage_error("--only: unknown part '%s' (rt, fanout, tput)", tok);
		}
	}
	if (plan->parts == 0) {
		bench_usage_error("--only: no part named");
	}
}

static int
cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

static void
parse_subs(struct bb_plan *plan, const char *arg)
{
	char buf[256], *save;
	size_t n = 0;

	for (char *tok = bench_list_first("--subs", arg, buf, sizeof(buf), &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned long v;

		if (bench_parse_ulong(tok, &v) != 0 || v < 1 || v > BB_MAX_SUBS) {
			bench_usage_error("--subs: expected counts of 1..%u, got '%s'", BB_MAX_SUBS,
					  tok);
		}
		if (n == BB_MAX_NSUBS) {
			bench_usage_error("--subs: at most %d counts", BB_MAX_NSUBS);
		}
		for (size_t i = 0; i < n; i++) {
			if (plan->subs[i] == v) {
				bench_usage_error("--subs: %lu given twice", v);
			}
		}
		plan->subs[n++] = (unsigned)v;
	}
	if (n == 0) {
		bench_usage_error("--subs: no count given");
	}
	qsort(plan->subs, n, sizeof(plan->subs[0]), cmp_unsigned);
	plan->nsubs = n;
}

/* The p50 of the difference between two back-to-back clock reads. */
static double
clock_cost(void)
{
	uint64_t d[1001];

	for (int i = 0; i < 1001; i++) {
		uint64_t a = bench_now_ns();

		d[i] = bench_now_ns() - a;
	}
	qsort(d, 1001, sizeof(d[0]), bench_cmp_u64);
	return (double)d[500];
}

/*
 * The parent takes the first usable CPU (bench_probe_machine pins it), the
 * child of the pair measurements the second, and the fan-out subscribers
 * every usable CPU but the first.
 */
static void
choose_cpus(struct bb_plan *plan, struct bench_machine *mach)
{
	struct bench_plan probe;
	cpu_set_t allowed;

	CPU_ZERO(&allowed);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0) {
		CPU_ZERO(&allowed);
	}
	memset(&probe, 0, sizeof(probe));
	bench_probe_machine(&probe, mach);
	plan->pinned = probe.pinned;
	plan->cpu_pub = probe.cpu_parent;
	plan->cpu_sub = probe.cpu_child;
	CPU_ZERO(&plan->subset);
	if (plan->pinned) {
		plan->subset = allowed;
		CPU_CLR(plan->cpu_pub, &plan->subset);
		plan->subset_ncpu = CPU_COUNT(&plan->subset);
		snprintf(plan->pin_note, sizeof(plan->pin_note),
			 "parent (pinger, publisher, producer) on CPU %d; the other process of a "
			 "pair on CPU %d; fan-out subscribers on %s",
			 plan->cpu_pub, plan->cpu_sub,
			 plan->subset_ncpu == 1 ? "that CPU too"
						: "every usable CPU but the first");
	} else {
		snprintf(plan->pin_note, sizeof(plan->pin_note), "not pinned: %s", mach->pin_note);
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"smoke", no_argument, NULL, 's'},
		{"only", required_argument, NULL, 'o'},
		{"subs", required_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static struct bb_report rep;
	static struct bb_plan plan;
	struct bench_machine mach;
	struct bench_cli cli = {0};
	int c, show;
	const char *only = NULL, *subs = NULL;

	bench_prog = "shmkit-bench-bus";
	memset(&mach, 0, sizeof(mach));
	while ((c = bench_getopt(argc, argv, opts, usage, &cli)) != -1) {
		switch (c) {
		case 'o':
			only = optarg;
			break;
		case 'n':
			subs = optarg;
			break;
		}
	}
	set_mode(&plan, cli.quick, cli.smoke);
	plan.parts = BB_PART_RT | BB_PART_FANOUT | BB_PART_TPUT;
	if (only != NULL) {
		parse_only(&plan, only);
	}
	parse_subs(&plan, subs != NULL ? subs : "1,4,16,64,256");
	plan.max_subs = plan.subs[plan.nsubs - 1] > BB_MIN_MAX_SUBS ? plan.subs[plan.nsubs - 1]
								    : BB_MIN_MAX_SUBS;

	choose_cpus(&plan, &mach);
	plan.clock_ns = clock_cost();
	bb_guard_init();

	show = isatty(STDERR_FILENO);
	rep.plan = &plan;
	rep.mach = &mach;
	if (plan.parts & BB_PART_RT) {
		bb_run_rt(&plan, &rep, show);
	}
	if (plan.parts & BB_PART_FANOUT) {
		bb_run_fanout(&plan, &rep, show);
	}
	if (plan.parts & BB_PART_TPUT) {
		bb_run_tput(&plan, &rep, show);
	}
	bench_progress(show, NULL);

	if (cli.json) {
		bb_print_json(&rep);
	} else {
		bb_print_table(&rep);
	}
	return bench_finish();
}
