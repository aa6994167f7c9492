/* SPDX-License-Identifier: MIT */
/* Runs the one-process rows: calibrate, interleaved timed runs, median. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync.h"

/* What the signal handlers tear down if the run is interrupted or hangs
 * (guard.c): every row set up so far (a System V set would otherwise
 * outlive us). */
static const struct bench_micro *const *live_rows;
static void **live_ctx;
static size_t live_n;

static void
teardown_all(void)
{
	for (size_t i = 0; i < live_n; i++) {
		if (live_ctx[i] != NULL) {
			live_rows[i]->teardown(live_ctx[i]);
		}
	}
}

/* One timed batch: nanoseconds for n iterations. */
static uint64_t
timed(const struct bench_micro *row, void *ctx, unsigned long n, unsigned watchdog_s)
{
	char why[200] = "";
	uint64_t t0, t1;
	int rc;

	alarm(watchdog_s);
	t0 = bench_now_ns();
	rc = row->loop(ctx, n, why, sizeof(why));
	t1 = bench_now_ns();
	alarm(0);
	if (rc < 0) {
		bench_fail("%s: failed: %s", row->name, why[0] != '\0' ? why : strerror(-rc));
	}
	return t1 - t0;
}

void
bench_run_micros(const struct bench_micro *const *rows, size_t n, const struct bench_micro_plan *mp,
		 struct bench_micro_result *out)
{
	void **ctx = calloc(n, sizeof(*ctx));
	double *samples = calloc(n * mp->runs, sizeof(*samples));

	if (ctx == NULL || samples == NULL) {
		fprintf(stderr, "%s: out of memory\n", bench_prog);
		exit(1);
	}
	bench_guard_init(0, teardown_all);
	bench_watchdog_msg("%s: watchdog: a one-process measurement did not finish; stopped and "
			   "cleaned up\n",
			   bench_prog);
	live_rows = rows;
	live_ctx = ctx;
	live_n = n;

	/* Set every row up first: the runs interleave the rows, so a slow
	 * phase of the host (this is often a VM) hits all of them alike. */
	for (size_t i = 0; i < n; i++) {
		sigset_t old;
		void *c = calloc(1, rows[i]->ctx_size);
		int rc;

		memset(&out[i], 0, sizeof(out[i]));
		if (c == NULL) {
			fprintf(stderr, "%s: out of memory\n", bench_prog);
			teardown_all();
			exit(1);
		}
		/* No handler may see a row half made. */
		bench_block(&old);
		rc = rows[i]->setup(c);
		if (rc < 0) {
			snprintf(out[i].why, sizeof(out[i].why), "setup failed: %s", strerror(-rc));
			free(c);
		} else {
			ctx[i] = c;
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
	}

	/* Calibrate (and warm up: first-use registration, page faults, the
	 * kernel's undo structures): double the count until a batch takes an
	 * eighth of the target, then scale it to the target. */
	for (size_t i = 0; i < n; i++) {
		unsigned long iters = 16;
		uint64_t t, again;

		if (ctx[i] == NULL) {
			continue;
		}
		for (;;) {
			t = timed(rows[i], ctx[i], iters, mp->watchdog_s);
			if (t >= mp->run_ns / 8 || iters >= (1UL << 40)) {
				break;
			}
			iters *= 2;
		}
		/* A preemption in that one batch would shrink every run that
		 * follows: time it once more and keep the faster. */
		again = timed(rows[i], ctx[i], iters, mp->watchdog_s);

		if (again < t) {
			t = again;
		}
		if (t == 0) {
			t = 1;
		}
		iters = (unsigned long)((double)iters * (double)mp->run_ns / (double)t);
		out[i].iters = iters > 0 ? iters : 1;
	}

	for (unsigned r = 0; r < mp->runs; r++) {
		for (size_t i = 0; i < n; i++) {
			uint64_t t;

			if (ctx[i] == NULL) {
				continue;
			}
			t = timed(rows[i], ctx[i], out[i].iters, mp->watchdog_s);
			samples[i * mp->runs + r] =
				(double)t / ((double)out[i].iters * (double)rows[i]->units);
		}
	}

	for (size_t i = 0; i < n; i++) {
		double *s = &samples[i * mp->runs];
		char why[200] = "";
		int rc;

		if (ctx[i] == NULL) {
			continue;
		}
		rc = rows[i]->end_check(ctx[i], why, sizeof(why));
		if (rc < 0) {
			bench_fail("%s: end-of-run check failed: %s", rows[i]->name,
				   why[0] != '\0' ? why : strerror(-rc));
		}
		out[i].median_ns = bench_median(s, mp->runs);
		out[i].measured = 1;
		out[i].runs = mp->runs;
		out[i].min_ns = s[0];
		out[i].max_ns = s[mp->runs - 1];
	}

	bench_block(NULL);
	teardown_all();
	for (size_t i = 0; i < n; i++) {
		free(ctx[i]);
	}
	live_n = 0;
	free(ctx);
	free(samples);
	bench_unblock();
}
