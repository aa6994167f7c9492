/* SPDX-License-Identifier: MIT */
/* shmkit-bench-bus: round trips over two buses next to the cache-line and shm-spin floors. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b_bench.h"

/*
 * A round trip: the parent (first CPU) sends a 64-byte ping, the child
 * (second CPU) answers with a 64-byte pong, and the parent times the two
 * with the monotonic clock. The floors are shmkit-bench's own transports:
 * `cacheline` (an 8-byte sequence word handed over in one shared cache
 * line) and `shm-spin` (a copy through a plain SPSC slot ring, slots.c).
 * The bus rows use two buses, ping and pong, each with one publisher and
 * one subscriber, the receiver busy-spinning or with the default strategy
 * (spin about 20 us, then sleep). As in shmkit-bench, the child prepares
 * its reply before the ping arrives and checks the ping after the reply
 * has left, and the parent fills and checks outside the timed span, so
 * the payload checks cost the measured round trip nothing.
 */

extern const struct bench_transport bench_t_cacheline;
extern const struct bench_transport bench_t_shmspin;
static const struct bench_transport bus_spin, bus_default;

static const struct bench_transport *const rows[BB_RT_NROWS] = {
	&bench_t_cacheline,
	&bench_t_shmspin,
	&bus_spin,
	&bus_default,
};

const char *const bb_rt_names[BB_RT_NROWS] = {"cacheline", "shm-spin", "bus-spin", "bus-default"};
const char *const bb_rt_kinds[BB_RT_NROWS] = {"floor", "floor", "shmkit", "shmkit"};
const char *const bb_rt_what[BB_RT_NROWS] = {
	"both processes spin on one shared cache line; an 8-byte sequence word each way",
	"copy through a shared SPSC slot ring, busy-waiting, no system call",
	"two shmkit_bus (ping, pong), copying send/recv, receivers busy-spin "
	"(SHMKIT_BUS_WAIT_SPIN)",
	"as bus-spin, default waiting (spin about 20 us, then sleep)",
};

/* ---- the bus rows -------------------------------------------------------- */

/*
 * The parent creates both buses before the fork and registers their names
 * for cleanup; after it, the child opens them by name, as an unrelated
 * process would, and subscribes to the ping bus, while the parent
 * subscribes to the pong bus. Both subscribe before the first ping (the
 * loop below waits for the child to be ready), so no message predates a
 * subscription. The teardown is called only on the normal path; the
 * signal handlers remove the names themselves (b_guard.c).
 */
struct busrt {
	shmkit_bus *mine[2]; /* the parent's handles: [0] ping, [1] pong */
	shmkit_bus *out;     /* this side's: published on */
	shmkit_bus *in;      /* this side's: subscribed to */
	char spec[2][64];
	int wait; /* SHMKIT_BUS_WAIT_* of the receivers */
	int side;
	size_t cap; /* room of the harness's receive buffer */
};

static void
bus_teardown(void *ctx)
{
	struct busrt *x = ctx;

	for (int d = 0; d < 2; d++) {
		if (x->mine[d] != NULL) {
			shmkit_bus_remove(x->mine[d]);
			x->mine[d] = NULL;
			bb_guard_spec(x->spec[d], 0);
		}
	}
	x->out = NULL;
	x->in = NULL;
}

static int
bus_setup(struct busrt *x, size_t msg_size, int wait)
{
	shmkit_bus_opts o;
	int rc;

	shmkit_bus_opts_init(&o);
	o.max_msg_size = msg_size;
	x->wait = wait;
	x->cap = msg_size + BENCH_BUF_SLACK;
	for (int d = 0; d < 2; d++) {
		bb_bus_spec(x->spec[d], sizeof(x->spec[d]));
		rc = shmkit_bus_create(&x->mine[d], x->spec[d], &o);
		if (rc < 0) {
			x->mine[d] = NULL;
			bus_teardown(x);
			return rc;
		}
		bb_guard_spec(x->spec[d], 1);
	}
	return 0;
}

static int
bus_setup_spin(void *ctx, size_t msg_size)
{
	return bus_setup(ctx, msg_size, SHMKIT_BUS_WAIT_SPIN);
}

static int
bus_setup_default(void *ctx, size_t msg_size)
{
	return bus_setup(ctx, msg_size, SHMKIT_BUS_WAIT_DEFAULT);
}

static int
bus_side_init(void *ctx, enum bench_side side)
{
	struct busrt *x = ctx;
	int rc;

	x->side = side;
	if (side == BENCH_PARENT) {
		x->out = x->mine[0];
		x->in = x->mine[1];
	} else {
		rc = shmkit_bus_open(&x->in, x->spec[0]);
		if (rc < 0) {
			return rc;
		}
		rc = shmkit_bus_open(&x->out, x->spec[1]);
		if (rc < 0) {
			return rc;
		}
	}
	if ((rc = shmkit_bus_set_wait(x->in, x->wait)) < 0 ||
	    (rc = shmkit_bus_set_wait(x->out, x->wait)) < 0) {
		return rc;
	}
	return shmkit_bus_subscribe(x->in, 0);
}

static int
bus_send(void *ctx, const void *buf, size_t len)
{
	struct busrt *x = ctx;

	return shmkit_bus_send(x->out, buf, len, 0, NULL);
}

static ssize_t
bus_recv(void *ctx, void *buf, size_t len)
{
	struct busrt *x = ctx;
	uint64_t lost = 0;
	ssize_t n;

	/* The buffer's whole room, so the harness sees a wrong length. */
	(void)len;
	n = shmkit_bus_recv(x->in, buf, x->cap, &lost, 0, NULL);
	if (n >= 0 && lost != 0) {
		/* One message in flight can never be lapped: a bus bug. */
		if (x->side == BENCH_CHILD) {
			bench_child_fail(
				"bus round trip: child: %llu messages lost before this one",
				(unsigned long long)lost);
		}
		bench_fail("bus round trip: parent: %llu messages lost before this one",
			   (unsigned long long)lost);
	}
	return n;
}

static const struct bench_transport bus_spin = {
	.name = "bus-spin",
	.kind = "shmkit",
	.ctx_size = sizeof(struct busrt),
	.max_msg = bench_max_msg_none,
	.setup = bus_setup_spin,
	.side_init = bus_side_init,
	.send = bus_send,
	.recv = bus_recv,
	.teardown = bus_teardown,
};

static const struct bench_transport bus_default = {
	.name = "bus-default",
	.kind = "shmkit",
	.ctx_size = sizeof(struct busrt),
	.max_msg = bench_max_msg_none,
	.setup = bus_setup_default,
	.side_init = bus_side_init,
	.send = bus_send,
	.recv = bus_recv,
	.teardown = bus_teardown,
};

/* ---- the measurement ----------------------------------------------------- */

struct rt_job {
	const struct bb_plan *plan;
	const struct bench_transport *t;
	const char *name;
	void *ctx;
	size_t size;
	unsigned long warmup, total;
	_Atomic unsigned *ready; /* shared: the child is set up */
	unsigned char *out, *in;
	uint64_t *samples; /* the parent's: one per timed round trip */
};

static void
rt_child(void *arg, unsigned idx)
{
	struct rt_job *j = arg;
	char why[200];
	int rc;

	(void)idx;
	rc = bb_pin_cpu(j->plan, j->plan->cpu_sub);
	if (rc < 0) {
		bench_child_fail("%s: child: cannot pin to CPU %d: %s", j->name, j->plan->cpu_sub,
				 strerror(-rc));
	}
	rc = j->t->side_init(j->ctx, BENCH_CHILD);
	if (rc < 0) {
		bench_child_fail("%s: child: setup failed: %s", j->name, shmkit_strerror(rc));
	}
	atomic_store_explicit(j->ready, 1, memory_order_release);
	for (unsigned long i = 0; i < j->total; i++) {
		ssize_t n;

		bench_fill(j->out, j->size, i | BENCH_SEQ_REPLY);
		n = j->t->recv(j->ctx, j->in, j->size);
		if (n < 0) {
			bench_child_fail("%s: child: receive of ping %lu failed: %s", j->name, i,
					 shmkit_strerror((int)n));
		}
		rc = j->t->send(j->ctx, j->out, j->size);
		if (rc < 0) {
			bench_child_fail("%s: child: send of reply %lu failed: %s", j->name, i,
					 shmkit_strerror(rc));
		}
		if ((size_t)n != j->size) {
			bench_child_fail("%s: child: ping %lu has %zd bytes, %zu expected", j->name,
					 i, n, j->size);
		}
		if (bench_check(j->in, j->size, i, why, sizeof(why)) != 0) {
			bench_child_fail("%s: child: %s", j->name, why);
		}
	}
	_exit(0);
}

static void
rt_parent(struct rt_job *j)
{
	char why[200];
	int rc;

	rc = j->t->side_init(j->ctx, BENCH_PARENT);
	if (rc < 0) {
		bench_fail("%s: parent: setup failed: %s", j->name, shmkit_strerror(rc));
	}
	/* Pairs with the child's release store once it has subscribed. */
	while (!atomic_load_explicit(j->ready, memory_order_acquire)) {
		bench_relax();
	}
	for (unsigned long i = 0; i < j->total; i++) {
		uint64_t t0, t1;
		ssize_t n;

		bench_fill(j->out, j->size, i);
		t0 = bench_now_ns();
		rc = j->t->send(j->ctx, j->out, j->size);
		if (rc < 0) {
			bench_fail("%s: parent: send of ping %lu failed: %s", j->name, i,
				   shmkit_strerror(rc));
		}
		n = j->t->recv(j->ctx, j->in, j->size);
		t1 = bench_now_ns();
		if (n < 0) {
			bench_fail("%s: parent: receive of reply %lu failed: %s", j->name, i,
				   shmkit_strerror((int)n));
		}
		if ((size_t)n != j->size) {
			bench_fail("%s: parent: reply %lu has %zd bytes, %zu expected", j->name, i,
				   n, j->size);
		}
		if (bench_check(j->in, j->size, i | BENCH_SEQ_REPLY, why, sizeof(why)) != 0) {
			bench_fail("%s: parent: %s", j->name, why);
		}
		if (i >= j->warmup) {
			j->samples[i - j->warmup] = t1 - t0;
		}
	}
}

/* One round of one row: iters timed round trips into samples. Return 0, or
 * 1 when the row cannot be set up here (reason in why). */
static int
rt_once(const struct bb_plan *plan, int row, uint64_t *samples, char *why, size_t whylen)
{
	const struct bench_transport *t = rows[row];
	char lim[128] = "", what[128];
	size_t max = t->max_msg(lim, sizeof(lim));
	struct rt_job j;
	int rc;

	memset(&j, 0, sizeof(j));
	j.plan = plan;
	j.t = t;
	j.name = bb_rt_names[row];
	j.size = BB_MSG;
	/* The word floor carries the sequence word alone. */
	if (max != 0 && max < j.size) {
		j.size = BENCH_WORD_MSG;
	}
	j.warmup = plan->rt_warmup;
	j.total = plan->rt_warmup + plan->rt_iters;
	j.samples = samples;
	j.ctx = calloc(1, t->ctx_size);
	if (j.ctx == NULL) {
		bench_fail("out of memory");
	}
	j.out = bb_alloc_buf(j.size);
	j.in = bb_alloc_buf(j.size);
	j.ready = bb_map_shared(4096, "the round-trip control word");

	/* From the buses' creation until the child is registered, a signal
	 * must find everything it has to clean up. */
	bench_block(NULL);
	rc = t->setup(j.ctx, j.size);
	if (rc < 0) {
		bench_unblock();
		snprintf(why, whylen, "setup failed: %s", shmkit_strerror(rc));
		free(j.ctx);
		free(j.out);
		free(j.in);
		bench_unmap((void *)j.ready, 4096);
		return 1;
	}
	bb_spawn(rt_child, &j, 0);
	bench_unblock();
	snprintf(what, sizeof(what), "the %s round trips", j.name);
	bench_watchdog(plan->watchdog_s, what);
	rt_parent(&j);
	bb_reap_all(what);
	bench_watchdog(0, NULL);
	bench_block(NULL);
	t->teardown(j.ctx);
	bench_unblock();
	free(j.ctx);
	free(j.out);
	free(j.in);
	bench_unmap((void *)j.ready, 4096);
	return 0;
}

/*
 * The rows run in rounds, every row once per round, and each row's
 * samples of all rounds are pooled: on a virtual machine the cost of a
 * cache-line transfer drifts within a minute, and a row measured alone
 * would carry its minute's drift into its ratio to the floors.
 */
void
bb_run_rt(const struct bb_plan *plan, struct bb_report *rep, int show)
{
	unsigned long per = plan->rt_iters;
	uint64_t *pool[BB_RT_NROWS];

	for (int i = 0; i < BB_RT_NROWS; i++) {
		pool[i] = calloc(per * plan->rt_rounds, sizeof(uint64_t));
		if (pool[i] == NULL) {
			bench_fail("out of memory for %lu samples", per * plan->rt_rounds);
		}
		rep->rt[i].measured = 1;
	}
	for (unsigned r = 0; r < plan->rt_rounds; r++) {
		for (int i = 0; i < BB_RT_NROWS; i++) {
			struct bb_lat *l = &rep->rt[i];

			if (!l->measured) {
				continue;
			}
			bench_progress(show, "measuring round trips: %s, round %u of %u",
				       bb_rt_names[i], r + 1, plan->rt_rounds);
			if (rt_once(plan, i, pool[i] + (size_t)r * per, l->why, sizeof(l->why)) !=
			    0) {
				l->measured = 0;
			}
		}
	}
	for (int i = 0; i < BB_RT_NROWS; i++) {
		if (rep->rt[i].measured) {
			bb_lat_fill(&rep->rt[i], pool[i], per * plan->rt_rounds);
		}
		free(pool[i]);
	}
}
