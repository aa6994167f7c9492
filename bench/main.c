/* SPDX-License-Identifier: MIT */
/* shmkit-bench: IPC latency and throughput, library and kernel side by side. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const char usage[] =
	"usage: shmkit-bench [options]\n"
	"Measures round-trip latency and one-way throughput between two\n"
	"processes pinned to two CPUs, for each transport, checking every\n"
	"message (sequence number and checksum).\n"
	"\n"
	"  --quick          fewer iterations (about half a minute on 2 cores)\n"
	"  --smoke          tiny counts, a few seconds (for the test suite)\n"
	"  --iters N        N timed round trips, and at most N messages per\n"
	"                   throughput size\n"
	"  --only NAME,...  run only these transports (see --list)\n"
	"  --sizes LIST     throughput sizes, e.g. 64,4K,64K,1M (16 B..64 MiB)\n"
	"  --lat-size SIZE  the round trips' message size (default 64; 16 B..1 MiB,\n"
	"                   capped by each transport's own limit)\n"
	"  --json           print one JSON document instead of the tables\n"
	"  --list           list the transports and exit\n"
	"  --help           print this help and exit\n"
	"\n"
	"Exit status: 0 measured, 1 runtime failure (including a payload check\n"
	"failure or the watchdog), 2 bad usage.\n";

static void
parse_sizes(struct bench_plan *plan, const char *arg)
{
	char buf[256];
	char *save;

	plan->nsizes = 0;
	for (char *tok = bench_list_first("--sizes", arg, buf, sizeof(buf), &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t v;

		if (bench_parse_size(tok, &v) != 0) {
			bench_usage_error("--sizes: bad size '%s'", tok);
		}
		if (v < BENCH_MIN_SIZE || v > BENCH_MAX_SIZE) {
			bench_usage_error("--sizes: %s is outside %d B..64 MiB", tok,
					  BENCH_MIN_SIZE);
		}
		if (plan->nsizes == sizeof(plan->sizes) / sizeof(plan->sizes[0])) {
			bench_usage_error("--sizes: at most 16 sizes");
		}
		plan->sizes[plan->nsizes++] = v;
	}
	if (plan->nsizes == 0) {
		bench_usage_error("--sizes: empty list");
	}
}

static void
parse_only(int *selected, const char *arg)
{
	char buf[512];
	char *save;

	for (char *tok = bench_list_first("--only", arg, buf, sizeof(buf), &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < bench_ntransports; i++) {
			if (strcmp(tok, bench_transports[i]->name) == 0) {
				selected[i] = 1;
				break;
			}
		}
		if (i == bench_ntransports) {
			bench_usage_error("--only: unknown transport '%s'", tok);
		}
	}
}

static void
set_mode(struct bench_plan *plan, const char *mode)
{
	plan->mode = mode;
	if (strcmp(mode, "smoke") == 0) {
		plan->lat_iters = 200;
		plan->tput_budget = (uint64_t)256 << 10;
		plan->tput_max = 200;
		plan->tput_min = 4;
	} else if (strcmp(mode, "quick") == 0) {
		plan->lat_iters = 20000;
		plan->tput_budget = (uint64_t)64 << 20;
		plan->tput_max = 200000;
		plan->tput_min = 32;
	} else {
		plan->lat_iters = 200000;
		plan->tput_budget = (uint64_t)512 << 20;
		plan->tput_max = 1000000;
		plan->tput_min = 100;
	}
}

static void
list_transports(void)
{
	for (size_t i = 0; i < bench_ntransports; i++) {
		printf("%-15s %-6s %s\n", bench_transports[i]->name, bench_transports[i]->kind,
		       bench_transports[i]->what);
	}
}

static void
progress(int on, const char *name, const char *what, size_t size)
{
	if (!on) {
		return;
	}
	if (name == NULL) {
		fprintf(stderr, "\r%-70s\r", "");
	} else if (size == 0) {
		fprintf(stderr, "\r%-70s", "");
		fprintf(stderr, "\rmeasuring %s: %s", name, what);
	} else {
		fprintf(stderr, "\r%-70s", "");
		fprintf(stderr, "\rmeasuring %s: %s, %zu B", name, what, size);
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quick", no_argument, NULL, 'q'},          {"smoke", no_argument, NULL, 's'},
		{"iters", required_argument, NULL, 'i'},    {"only", required_argument, NULL, 'o'},
		{"lat-size", required_argument, NULL, 'L'}, {"sizes", required_argument, NULL, 'z'},
		{"json", no_argument, NULL, 'j'},           {"list", no_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	struct bench_plan plan;
	struct bench_machine mach;
	struct bench_row *rows;
	int selected[64] = {0};
	struct bench_cli cli = {0};
	int any_only = 0, c, show;
	unsigned long iters = 0;
	size_t nrows = 0;

	if (bench_ntransports > sizeof(selected) / sizeof(selected[0])) {
		fprintf(stderr, "shmkit-bench: too many transports\n");
		return 1;
	}
	memset(&plan, 0, sizeof(plan));
	memset(&mach, 0, sizeof(mach));
	plan.sizes[0] = 64;
	plan.sizes[1] = 4096;
	plan.sizes[2] = 65536;
	plan.sizes[3] = 1048576;
	plan.nsizes = 4;
	while ((c = bench_getopt(argc, argv, opts, usage, &cli)) != -1) {
		switch (c) {
		case 'i':
			iters = bench_count_arg("--iters", optarg);
			break;
		case 'o':
			parse_only(selected, optarg);
			any_only = 1;
			break;
		case 'z':
			parse_sizes(&plan, optarg);
			break;
		case 'L': {
			size_t v;
			if (bench_parse_size(optarg, &v) != 0 || v < BENCH_MIN_SIZE ||
			    v > ((size_t)1 << 20)) {
				bench_usage_error("--lat-size: expected %d B..1 MiB, got '%s'",
						  BENCH_MIN_SIZE, optarg);
			}
			plan.lat_size = v;
			break;
		}
		case 'l':
			list_transports();
			return 0;
		}
	}
	set_mode(&plan, cli.smoke ? "smoke" : cli.quick ? "quick" : "full");
	if (iters != 0) {
		plan.iters_given = 1;
		plan.lat_iters = iters;
		plan.tput_max = iters;
		if (plan.tput_min > iters) {
			plan.tput_min = iters;
		}
	}
	plan.lat_warmup = bench_warmup(plan.lat_iters);
	/*
	 * The watchdog bounds each single measurement: longer runs get time in
	 * proportion to their counts, since a round trip over loopback TCP
	 * takes tens of microseconds.
	 */
	plan.watchdog_s = bench_watchdog_for(
		cli.smoke, plan.lat_iters > plan.tput_max ? plan.lat_iters : plan.tput_max);

	bench_probe_machine(&plan, &mach);
	bench_runner_init();

	rows = calloc(bench_ntransports, sizeof(*rows));
	if (rows == NULL) {
		fprintf(stderr, "shmkit-bench: out of memory\n");
		return 1;
	}
	show = isatty(STDERR_FILENO);
	for (size_t i = 0; i < bench_ntransports; i++) {
		const struct bench_transport *t = bench_transports[i];
		struct bench_row *r = &rows[nrows];

		if (any_only && !selected[i]) {
			continue;
		}
		r->t = t;
		progress(show, t->name, "latency", 0);
		bench_run_latency(&plan, t, &r->lat);
		for (size_t k = 0; k < plan.nsizes; k++) {
			if (!(t->flags & BENCH_TF_LATENCY_ONLY)) {
				progress(show, t->name, "throughput", plan.sizes[k]);
			}
			bench_run_tput(&plan, t, plan.sizes[k], &r->tput[k]);
		}
		nrows++;
	}
	progress(show, NULL, NULL, 0);

	if (cli.json) {
		bench_print_json(&plan, &mach, rows, nrows);
	} else {
		bench_print_table(&plan, &mach, rows, nrows);
	}
	free(rows);
	return bench_finish();
}
