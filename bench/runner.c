/* SPDX-License-Identifier: MIT */
/* Runs one measurement: fork, pin, traffic, checks, cleanup on every path. */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/*
 * What the signal handlers need to clean up besides the child (guard.c):
 * the transport in use and its context. They change only while the handled
 * signals are blocked, so a handler never sees them half-updated.
 */
static const struct bench_transport *cur_t;
static void *cur_ctx;

struct phase {
	const struct bench_transport *t;
	int latency; /* else one-way throughput */
	size_t size;
	unsigned long iters; /* timed round trips or messages */
	unsigned long warmup;
	uint64_t *samples; /* latency: one per timed round trip */
	double secs;       /* throughput: time of the timed messages */
	void *ctx;
	unsigned char *out;
	unsigned char *in;
};

/* Release the transport's kernel objects; async-signal-safe, as the
 * guard's handlers call it once the child is gone. */
static void
teardown_current(void)
{
	if (cur_t != NULL) {
		cur_t->teardown(cur_ctx);
		cur_t = NULL;
	}
}

void
bench_runner_init(void)
{
	bench_guard_init(BENCH_GUARD_CHILD, teardown_current);
	/* A peer that vanishes must show up as EPIPE, not kill the sender. */
	signal(SIGPIPE, SIG_IGN);
}

/* A failure seen by the parent: report it, stop the child, clean up. */
__attribute__((format(printf, 2, 3), noreturn)) static void
parent_fail(const struct phase *ph, const char *fmt, ...)
{
	va_list ap;

	bench_block(NULL);
	fprintf(stderr, "%s: %s: parent: ", bench_prog, ph->t->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	bench_abandon_exit();
}

/* A failure seen by the child: report it; the parent's SIGCHLD handler
 * does the rest. _exit keeps the parent's stdio buffers from being flushed
 * twice. */
__attribute__((format(printf, 2, 3), noreturn)) static void
child_fail(const struct phase *ph, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s: child: ", bench_prog, ph->t->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(1);
}

/* Either of the two above: the shared send and receive steps report through
 * the side they run on. */
typedef __attribute__((format(printf, 2, 3), noreturn)) void (*fail_fn)(const struct phase *ph,
									const char *fmt, ...);

static void
send_or_fail(const struct phase *ph, fail_fn fail, const void *buf, size_t len, uint64_t seq)
{
	int rc = ph->t->send(ph->ctx, buf, len);
	char name[48];

	if (rc < 0) {
		fail(ph, "send of %s (%zu B) failed: %s", bench_seq_name(seq, name, sizeof(name)),
		     len, strerror(-rc));
	}
}

/* Receive one message of len bytes and check its sequence and checksum. */
static void
recv_or_fail(const struct phase *ph, fail_fn fail, void *buf, size_t len, uint64_t seq)
{
	ssize_t n = ph->t->recv(ph->ctx, buf, len);
	char why[200], name[48];

	bench_seq_name(seq, name, sizeof(name));
	if (n < 0) {
		fail(ph, "receive of %s failed: %s", name, strerror((int)-n));
	}
	if ((size_t)n != len) {
		fail(ph, "%s has %zd bytes, %zu expected", name, n, len);
	}
	if (bench_check(buf, len, seq, why, sizeof(why)) != 0) {
		fail(ph, "%s", why);
	}
}

static void
child_latency(struct phase *ph)
{
	unsigned long total = ph->warmup + ph->iters;
	ssize_t n;
	char why[200];

	for (unsigned long i = 0; i < total; i++) {
		/* The reply is ready before the ping arrives and the ping is
		 * checked after the reply has left, so checking costs the
		 * measured round trip nothing while still covering every
		 * message. */
		bench_fill(ph->out, ph->size, i | BENCH_SEQ_REPLY);
		n = ph->t->recv(ph->ctx, ph->in, ph->size);
		if (n < 0) {
			child_fail(ph, "receive of ping %lu failed: %s", i, strerror((int)-n));
		}
		send_or_fail(ph, child_fail, ph->out, ph->size, i | BENCH_SEQ_REPLY);
		if ((size_t)n != ph->size) {
			child_fail(ph, "ping %lu has %zd bytes, %zu expected", i, n, ph->size);
		}
		if (bench_check(ph->in, ph->size, i, why, sizeof(why)) != 0) {
			child_fail(ph, "%s", why);
		}
	}
}

static void
parent_latency(struct phase *ph)
{
	unsigned long total = ph->warmup + ph->iters;

	for (unsigned long i = 0; i < total; i++) {
		uint64_t t0, t1;
		ssize_t n;
		char why[200];

		bench_fill(ph->out, ph->size, i);
		t0 = bench_now_ns();
		send_or_fail(ph, parent_fail, ph->out, ph->size, i);
		n = ph->t->recv(ph->ctx, ph->in, ph->size);
		t1 = bench_now_ns();
		if (n < 0) {
			parent_fail(ph, "receive of reply %lu failed: %s", i, strerror((int)-n));
		}
		if ((size_t)n != ph->size) {
			parent_fail(ph, "reply %lu has %zd bytes, %zu expected", i, n, ph->size);
		}
		if (bench_check(ph->in, ph->size, i | BENCH_SEQ_REPLY, why, sizeof(why)) != 0) {
			parent_fail(ph, "%s", why);
		}
		if (i >= ph->warmup) {
			ph->samples[i - ph->warmup] = t1 - t0;
		}
	}
}

static void
child_tput(struct phase *ph)
{
	unsigned long total = ph->warmup + ph->iters;

	for (unsigned long i = 0; i < total; i++) {
		recv_or_fail(ph, child_fail, ph->in, ph->size, i);
		/* Acknowledge the end of the warm-up and the end of the run:
		 * the sender's clock spans exactly the timed messages. */
		if (i + 1 == ph->warmup || i + 1 == total) {
			bench_fill(ph->out, BENCH_HDR_SIZE, BENCH_SEQ_ACK | (i + 1));
			send_or_fail(ph, child_fail, ph->out, BENCH_HDR_SIZE,
				     BENCH_SEQ_ACK | (i + 1));
		}
	}
}

static void
parent_tput(struct phase *ph)
{
	unsigned long total = ph->warmup + ph->iters;
	uint64_t t0 = 0;

	for (unsigned long i = 0; i < total; i++) {
		if (i == ph->warmup) {
			recv_or_fail(ph, parent_fail, ph->in, BENCH_HDR_SIZE, BENCH_SEQ_ACK | i);
			t0 = bench_now_ns();
		}
		bench_fill(ph->out, ph->size, i);
		send_or_fail(ph, parent_fail, ph->out, ph->size, i);
	}
	recv_or_fail(ph, parent_fail, ph->in, BENCH_HDR_SIZE, BENCH_SEQ_ACK | total);
	ph->secs = (double)(bench_now_ns() - t0) / 1e9;
}

static int
pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

__attribute__((noreturn)) static void
child_main(const struct bench_plan *plan, struct phase *ph, pid_t parent)
{
	int rc;

	if (bench_guard_child(parent) < 0) {
		_exit(1);
	}
	bench_unblock();
	if (plan->pinned) {
		rc = pin_to(plan->cpu_child);
		if (rc < 0) {
			child_fail(ph, "cannot pin to CPU %d: %s", plan->cpu_child, strerror(-rc));
		}
	}
	rc = ph->t->side_init(ph->ctx, BENCH_CHILD);
	if (rc < 0) {
		child_fail(ph, "side setup failed: %s", strerror(-rc));
	}
	if (ph->latency) {
		child_latency(ph);
	} else {
		child_tput(ph);
	}
	_exit(0);
}

/*
 * Run one measurement. Return 0 when it ran, or 1 when the transport could
 * not be set up here (the reason is in why); every other failure ends the
 * program with status 1 after cleaning up.
 */
static int
run_pair(const struct bench_plan *plan, struct phase *ph, char *why, size_t whylen)
{
	const struct bench_transport *t = ph->t;
	sigset_t old;
	pid_t pid, parent = getpid();
	int rc;

	ph->ctx = calloc(1, t->ctx_size);
	ph->out = bench_alloc_buf(ph->size);
	ph->in = bench_alloc_buf(ph->size);
	if (ph->ctx == NULL || ph->out == NULL || ph->in == NULL) {
		fprintf(stderr, "%s: %s: out of memory\n", bench_prog, t->name);
		exit(1);
	}
	bench_watchdog_msg("%s: %s: "
			   "watchdog: the %s measurement did not finish in %u s; "
			   "stopped and cleaned up\n",
			   bench_prog, t->name, ph->latency ? "latency" : "throughput",
			   plan->watchdog_s);
	bench_died_msg("%s: %s: the peer "
		       "process died unexpectedly\n",
		       bench_prog, t->name);

	/* From here until the child is reaped, an interrupt must find the
	 * kernel objects registered, so none is created while it could strike
	 * unseen. */
	bench_block(&old);
	rc = t->setup(ph->ctx, ph->size);
	if (rc < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		snprintf(why, whylen, "setup failed: %s", strerror(-rc));
		free(ph->ctx);
		free(ph->out);
		free(ph->in);
		return 1;
	}
	cur_t = t;
	cur_ctx = ph->ctx;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		rc = errno;
		bench_abandon();
		fprintf(stderr, "%s: %s: fork failed: %s\n", bench_prog, t->name, strerror(rc));
		exit(1);
	}
	if (pid == 0) {
		child_main(plan, ph, parent);
	}
	bench_guard_add(pid);
	sigprocmask(SIG_SETMASK, &old, NULL);
	alarm(plan->watchdog_s);

	rc = t->side_init(ph->ctx, BENCH_PARENT);
	if (rc < 0) {
		parent_fail(ph, "side setup failed: %s", strerror(-rc));
	}
	if (ph->latency) {
		parent_latency(ph);
	} else {
		parent_tput(ph);
	}

	rc = bench_guard_wait(pid);
	if (rc < 0) {
		parent_fail(ph, "waitpid failed: %s", strerror(-rc));
	}
	if (rc > 0) {
		bench_abandon_exit();
	}
	if (t->end_check != NULL) {
		char end_why[200] = "";

		rc = t->end_check(ph->ctx, end_why, sizeof(end_why));
		if (rc < 0) {
			parent_fail(ph, "end-of-run check failed: %s",
				    end_why[0] != '\0' ? end_why : strerror(-rc));
		}
	}
	bench_abandon();
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(ph->ctx);
	free(ph->out);
	free(ph->in);
	ph->ctx = NULL;
	return 0;
}

void
bench_run_latency(const struct bench_plan *plan, const struct bench_transport *t,
		  struct bench_latency *out)
{
	struct phase ph;
	char lim[128] = "";
	size_t max = t->max_msg(lim, sizeof(lim));

	memset(out, 0, sizeof(*out));
	memset(&ph, 0, sizeof(ph));
	ph.t = t;
	ph.latency = 1;
	ph.size = plan->lat_size != 0 ? plan->lat_size : BENCH_LAT_SIZE;
	/* The word floors carry the sequence word alone. */
	if (max != 0 && max < ph.size) {
		ph.size = max < BENCH_HDR_SIZE ? BENCH_WORD_MSG : max;
	}
	ph.iters = plan->lat_iters;
	ph.warmup = plan->lat_warmup;
	ph.samples = malloc(ph.iters * sizeof(*ph.samples));
	if (ph.samples == NULL) {
		fprintf(stderr, "%s: out of memory for %lu samples\n", bench_prog, ph.iters);
		exit(1);
	}
	/* Fault the pages in now rather than during the timed loop. */
	memset(ph.samples, 0, ph.iters * sizeof(*ph.samples));
	out->size = ph.size;
	out->iters = ph.iters;
	out->warmup = ph.warmup;
	if (run_pair(plan, &ph, out->why, sizeof(out->why)) != 0) {
		free(ph.samples);
		return;
	}
	bench_latency_fill(out, ph.samples, ph.iters);
	free(ph.samples);
}

void
bench_run_tput(const struct bench_plan *plan, const struct bench_transport *t, size_t size,
	       struct bench_tput *out)
{
	struct phase ph;
	char lim[128] = "";
	size_t max;
	unsigned long msgs;

	memset(out, 0, sizeof(*out));
	out->size = size;
	if (t->flags & BENCH_TF_LATENCY_ONLY) {
		snprintf(out->why, sizeof(out->why), "latency-only floor");
		return;
	}
	max = t->max_msg(lim, sizeof(lim));
	if (max != 0 && size > max) {
		snprintf(out->why, sizeof(out->why),
			 "over the %zu B limit (%s); "
			 "not chunked",
			 max, lim);
		return;
	}
	/* Same byte budget for every size, within bounds that keep small
	 * sizes from running for ever and large ones statistically sane. */
	msgs = (unsigned long)(plan->tput_budget / size);
	if (msgs > plan->tput_max) {
		msgs = plan->tput_max;
	}
	if (msgs < plan->tput_min) {
		msgs = plan->tput_min;
	}
	memset(&ph, 0, sizeof(ph));
	ph.t = t;
	ph.latency = 0;
	ph.size = size;
	ph.iters = msgs;
	ph.warmup = bench_warmup(msgs);
	if (run_pair(plan, &ph, out->why, sizeof(out->why)) != 0) {
		return;
	}
	if (ph.secs <= 0) {
		ph.secs = 1e-9;
	}
	out->measured = 1;
	out->msgs = msgs;
	out->secs = ph.secs;
	out->msgs_per_s = (double)msgs / ph.secs;
	out->mb_per_s = (double)msgs * (double)size / ph.secs / 1e6;
}
