/* SPDX-License-Identifier: MIT */
/* shmkit row: one shmkit_queue, the message type selecting the direction. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shmkit/shmkit.h>

#include "bench.h"

/*
 * The same shape as the sysv-msg row (type 1 parent to child, type 2 back),
 * on a shmkit_queue in a posix segment created by setup and inherited by
 * the forked child: the rows read directly as ratios to the kernel's
 * queue. Three rows, one per waiting strategy: the default (spin, then
 * sleep), busy-spinning, and sleeping at once.
 */
struct shq {
	shmkit_queue *q;
	unsigned flags; /* the waiting strategy of the row */
	int side;
	char spec[64];
};

static size_t
q_max_msg(char *why, size_t whylen)
{
	snprintf(why, whylen, "the row's queue limit of 4 MiB per message");
	return (size_t)4 << 20;
}

static int
q_setup(struct shq *x, size_t msg_size, unsigned flags)
{
	shmkit_queue_opts o;

	x->flags = flags;
	shmkit_queue_opts_init(&o);
	o.max_msg_size = (uint32_t)(msg_size + BENCH_BUF_SLACK);
	/* Room for a few messages in flight each way. */
	o.max_bytes = (uint64_t)o.max_msg_size * 8;
	o.max_msgs = 64;
	snprintf(x->spec, sizeof(x->spec), "posix:bench-queue-%d", (int)getpid());
	shmkit_segment_remove(x->spec); /* a leftover of a killed run */
	return shmkit_queue_create(&x->q, x->spec, &o);
}

static int
q_setup_default(void *ctx, size_t msg_size)
{
	return q_setup(ctx, msg_size, 0);
}

static int
q_setup_spin(void *ctx, size_t msg_size)
{
	return q_setup(ctx, msg_size, SHMKIT_QUEUE_F_SPIN);
}

static int
q_setup_sleep(void *ctx, size_t msg_size)
{
	return q_setup(ctx, msg_size, SHMKIT_QUEUE_F_SLEEP);
}

static int
q_side_init(void *ctx, enum bench_side side)
{
	((struct shq *)ctx)->side = side;
	return 0;
}

static int
q_send(void *ctx, const void *buf, size_t len)
{
	struct shq *x = ctx;
	long type = x->side == BENCH_PARENT ? 1 : 2;

	return shmkit_queue_send(x->q, type, buf, len, x->flags, NULL);
}

static ssize_t
q_recv(void *ctx, void *buf, size_t len)
{
	struct shq *x = ctx;
	long type = x->side == BENCH_PARENT ? 2 : 1;

	return shmkit_queue_recv(x->q, buf, len + BENCH_BUF_SLACK, type, NULL, x->flags, NULL);
}

static void
q_teardown(void *ctx)
{
	struct shq *x = ctx;

	if (x->q != NULL) {
		shmkit_queue_remove(x->q);
		x->q = NULL;
	}
}

#define QUEUE_ROW(sym, rowname, setupfn, text)                                                     \
	const struct bench_transport sym = {                                                       \
		.name = rowname,                                                                   \
		.kind = "shmkit",                                                                  \
		.what = text,                                                                      \
		.ctx_size = sizeof(struct shq),                                                    \
		.max_msg = q_max_msg,                                                              \
		.setup = setupfn,                                                                  \
		.side_init = q_side_init,                                                          \
		.send = q_send,                                                                    \
		.recv = q_recv,                                                                    \
		.teardown = q_teardown,                                                            \
	}

QUEUE_ROW(bench_t_queue, "shmkit-queue", q_setup_default,
	  "shmkit_queue (copying send/recv), a message type per direction; waiters spin "
	  "~20 us, then sleep");
QUEUE_ROW(bench_t_queue_spin, "shmkit-queue-spin", q_setup_spin,
	  "as shmkit-queue, waiters busy-spin (SHMKIT_QUEUE_F_SPIN)");
QUEUE_ROW(bench_t_queue_sleep, "shmkit-queue-sleep", q_setup_sleep,
	  "as shmkit-queue, waiters sleep at once (SHMKIT_QUEUE_F_SLEEP)");
