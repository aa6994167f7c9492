/* SPDX-License-Identifier: MIT */
/* shmkit rows: two shmkit_ring SPSC rings, one per direction. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shmkit/shmkit.h>

#include "bench.h"

/*
 * A ring has one producer and one consumer, so a pair of processes talks
 * through two of them: ring 0 carries the parent's messages to the child,
 * ring 1 the child's replies (and the throughput acknowledgements) back.
 * Setup creates both in posix segments with no role attached, before the
 * fork; after it each process attaches as the producer of its outgoing ring
 * and the consumer of its incoming one (the API wants the child to attach
 * on its own, and the parent holds no role until then either). Three rows,
 * one per waiting strategy: the default (spin, then sleep), busy-spinning,
 * and sleeping at once, as for the queue.
 */

/* The smallest ring: a small message size still gets many in flight. */
#define RING_MIN_CAP ((uint64_t)64 << 10)
/* What a record costs besides its message: the 8-byte record header and
 * the padding of the message to 8 bytes, rounded up. */
#define RING_REC_COST 16

struct shring {
	shmkit_ring *ring[2]; /* [0] parent to child, [1] child to parent */
	shmkit_ring *out;     /* this side's: produced into */
	shmkit_ring *in;      /* this side's: consumed from */
	size_t cap;           /* room of the harness's receive buffer */
	int wait;             /* SHMKIT_RING_WAIT_* of the row */
	unsigned batch;       /* shmkit-ring-batch: commits not yet published */
	unsigned held;        /* shmkit-ring-batch: messages peeked, not released */
	int streams;          /* shmkit-ring-batch: this side sends the stream */
	char spec[2][64];
};

/* A power of two of at least RING_MIN_CAP that holds four messages of
 * msg_size with their records, so the sender can run ahead of the receiver
 * in the throughput runs. It also holds the largest message the row allows
 * (msg_size + BENCH_BUF_SLACK, plus its header), since msg_size >= 16. */
static uint64_t
r_capacity(size_t msg_size)
{
	uint64_t want = 4 * ((uint64_t)msg_size + RING_REC_COST);
	uint64_t cap = RING_MIN_CAP;

	while (cap < want) {
		cap <<= 1;
	}
	return cap;
}

static void
r_teardown(void *ctx)
{
	struct shring *x = ctx;

	for (int d = 0; d < 2; d++) {
		if (x->ring[d] != NULL) {
			shmkit_ring_remove(x->ring[d]);
			x->ring[d] = NULL;
		}
	}
	x->out = NULL;
	x->in = NULL;
}

static int
r_setup(struct shring *x, size_t msg_size, int wait)
{
	static const char *const dir[2] = {"to-child", "to-parent"};
	shmkit_ring_opts o;
	int rc;

	x->wait = wait;
	x->cap = msg_size + BENCH_BUF_SLACK;
	shmkit_ring_opts_init(&o);
	o.capacity = r_capacity(msg_size);
	/* As for the queue: a message a little larger than expected arrives
	 * and is reported by its length rather than refused by the sender. */
	o.max_msg_size = (uint64_t)msg_size + BENCH_BUF_SLACK;
	for (int d = 0; d < 2; d++) {
		snprintf(x->spec[d], sizeof(x->spec[d]), "posix:bench-ring-%d-%s", (int)getpid(),
			 dir[d]);
		shmkit_segment_remove(x->spec[d]); /* a leftover of a killed run */
		rc = shmkit_ring_create(&x->ring[d], x->spec[d], &o, SHMKIT_RING_NONE);
		if (rc < 0) {
			x->ring[d] = NULL;
			r_teardown(x); /* nothing is left behind */
			return rc;
		}
	}
	return 0;
}

static int
r_setup_default(void *ctx, size_t msg_size)
{
	return r_setup(ctx, msg_size, SHMKIT_RING_WAIT_DEFAULT);
}

static int
r_setup_spin(void *ctx, size_t msg_size)
{
	return r_setup(ctx, msg_size, SHMKIT_RING_WAIT_SPIN);
}

static int
r_setup_sleep(void *ctx, size_t msg_size)
{
	return r_setup(ctx, msg_size, SHMKIT_RING_WAIT_SLEEP);
}

static int
r_side_init(void *ctx, enum bench_side side)
{
	struct shring *x = ctx;
	shmkit_ring *out = x->ring[side == BENCH_PARENT ? 0 : 1];
	shmkit_ring *in = x->ring[side == BENCH_PARENT ? 1 : 0];
	int rc;

	x->streams = side == BENCH_PARENT;
	/* The two processes attach at the same time, but to different roles,
	 * so neither waits for the other: a message sent before its consumer
	 * attaches waits in the ring. */
	rc = shmkit_ring_attach(out, SHMKIT_RING_PRODUCER);
	if (rc < 0) {
		return rc;
	}
	rc = shmkit_ring_attach(in, SHMKIT_RING_CONSUMER);
	if (rc < 0) {
		return rc;
	}
	rc = shmkit_ring_set_wait(out, x->wait);
	if (rc < 0) {
		return rc;
	}
	rc = shmkit_ring_set_wait(in, x->wait);
	if (rc < 0) {
		return rc;
	}
	x->out = out;
	x->in = in;
	return 0;
}

static int
r_send(void *ctx, const void *buf, size_t len)
{
	struct shring *x = ctx;

	return shmkit_ring_send(x->out, buf, len, 0, NULL);
}

static ssize_t
r_recv(void *ctx, void *buf, size_t len)
{
	struct shring *x = ctx;

	/* The buffer's whole room, so the harness sees a wrong length. */
	(void)len;
	return shmkit_ring_recv(x->in, buf, x->cap, 0, NULL);
}

/*
 * shmkit-ring-batch: the zero-copy calls as a streaming application uses
 * them. The side that sends the stream (the parent) publishes its commits
 * BATCH at a time, and before it waits for anything (its receive publishes
 * first); the side that answers publishes each message, as it does not know
 * which one is its last. Both peek and release BATCH at a time (and
 * whenever the ring has nothing more). A position store, and the cache line
 * it moves, serves many messages.
 */
#define BATCH 16

static int
rb_send(void *ctx, const void *buf, size_t len)
{
	struct shring *x = ctx;
	void *w;
	ssize_t n = shmkit_ring_reserve(x->out, len, &w, 0, NULL);

	if (n < 0) {
		return (int)n;
	}
	memcpy(w, buf, len);
	x->batch = (x->batch + 1) % BATCH;
	return shmkit_ring_commit(x->out, len,
				  x->streams && x->batch != 0 ? SHMKIT_RING_F_MORE : 0);
}

static ssize_t
rb_recv(void *ctx, void *buf, size_t len)
{
	struct shring *x = ctx;
	const void *p;
	ssize_t n;

	(void)len;
	/* What we committed may be what the peer waits for. */
	shmkit_ring_flush(x->out);
	n = shmkit_ring_peek(x->in, &p, SHMKIT_RING_F_NOWAIT, NULL);
	if (n == -EAGAIN) {
		/* Nothing more now: hand back what we hold, then wait. */
		if (x->held > 0) {
			shmkit_ring_release(x->in, SIZE_MAX);
			x->held = 0;
		}
		n = shmkit_ring_peek(x->in, &p, 0, NULL);
	}
	if (n < 0) {
		return n;
	}
	if ((size_t)n <= x->cap) {
		memcpy(buf, p, (size_t)n);
	}
	if (++x->held == BATCH) {
		shmkit_ring_release(x->in, SIZE_MAX);
		x->held = 0;
	}
	return n;
}

#define RING_ROW(sym, rowname, setupfn, text)                                                      \
	const struct bench_transport sym = {                                                       \
		.name = rowname,                                                                   \
		.kind = "shmkit",                                                                  \
		.what = text,                                                                      \
		.ctx_size = sizeof(struct shring),                                                 \
		.max_msg = bench_max_msg_none,                                                     \
		.setup = setupfn,                                                                  \
		.side_init = r_side_init,                                                          \
		.send = r_send,                                                                    \
		.recv = r_recv,                                                                    \
		.teardown = r_teardown,                                                            \
	}

RING_ROW(bench_t_ring, "shmkit-ring", r_setup_default,
	 "shmkit_ring (copying send/recv), one SPSC ring per direction; waiters spin "
	 "~20 us, then sleep");
RING_ROW(bench_t_ring_spin, "shmkit-ring-spin", r_setup_spin,
	 "as shmkit-ring, waiters busy-spin (SHMKIT_RING_WAIT_SPIN)");
RING_ROW(bench_t_ring_sleep, "shmkit-ring-sleep", r_setup_sleep,
	 "as shmkit-ring, waiters sleep at once (SHMKIT_RING_WAIT_SLEEP)");

const struct bench_transport bench_t_ring_batch = {
	.name = "shmkit-ring-batch",
	.kind = "shmkit",
	.what = "as shmkit-ring-spin, zero-copy reserve/commit and peek/release; the "
		"stream published and everything released 16 messages at a time (and "
		"whenever a side waits)",
	.ctx_size = sizeof(struct shring),
	.max_msg = bench_max_msg_none,
	.setup = r_setup_spin,
	.side_init = r_side_init,
	.send = rb_send,
	.recv = rb_recv,
	.teardown = r_teardown,
};
