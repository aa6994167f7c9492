/* SPDX-License-Identifier: MIT */
/* Floor: both processes spin on one shared cache line. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

/*
 * Both directions live in one 64-byte line, so a round trip is two
 * hand-overs of that line between the cores and nothing else: no system
 * call, no copy beyond one word. Every other row is read against it.
 */
struct line {
	struct {
		/* Bumped with release ordering after value is stored; the
		 * receiver's acquire load pairs with it. */
		_Atomic uint64_t count;
		_Atomic uint64_t value;
	} dir[2];
};

_Static_assert(sizeof(struct line) <= 64, "one cache line");

struct cacheline {
	struct line *line; /* shared, 64-byte aligned (page start) */
	int side;
	uint64_t seen; /* messages received so far */
	uint64_t sent; /* messages sent so far */
};

static size_t
cl_max_msg(char *why, size_t whylen)
{
	snprintf(why, whylen, "a word floor carries a sequence word only");
	return BENCH_WORD_MSG;
}

static int
cl_setup(void *ctx, size_t msg_size)
{
	struct cacheline *c = ctx;

	(void)msg_size;
	c->line = bench_map_shared(4096);
	return c->line == NULL ? -ENOMEM : 0;
}

static int
cl_side_init(void *ctx, enum bench_side side)
{
	struct cacheline *c = ctx;

	c->side = side;
	return 0;
}

static int
cl_send(void *ctx, const void *buf, size_t len)
{
	struct cacheline *c = ctx;
	uint64_t v;

	if (len != BENCH_WORD_MSG) {
		return -EMSGSIZE;
	}
	memcpy(&v, buf, sizeof(v));
	/* The ping-pong never has two messages in flight one way, so one
	 * value word per direction is enough. */
	atomic_store_explicit(&c->line->dir[c->side].value, v, memory_order_relaxed);
	atomic_store_explicit(&c->line->dir[c->side].count, ++c->sent, memory_order_release);
	return 0;
}

static ssize_t
cl_recv(void *ctx, void *buf, size_t len)
{
	struct cacheline *c = ctx;
	int d = 1 - c->side;
	uint64_t v;

	(void)len;
	/* Pairs with the release store of count in cl_send. */
	while (atomic_load_explicit(&c->line->dir[d].count, memory_order_acquire) == c->seen) {
		bench_relax();
	}
	c->seen++;
	v = atomic_load_explicit(&c->line->dir[d].value, memory_order_relaxed);
	memcpy(buf, &v, sizeof(v));
	return BENCH_WORD_MSG;
}

static void
cl_teardown(void *ctx)
{
	struct cacheline *c = ctx;

	bench_unmap(c->line, 4096);
	c->line = NULL;
}

const struct bench_transport bench_t_cacheline = {
	.name = "cacheline",
	.kind = "floor",
	.what = "both sides spin on one shared cache line (C11 atomics)",
	.flags = BENCH_TF_LATENCY_ONLY | BENCH_TF_REFERENCE,
	.ctx_size = sizeof(struct cacheline),
	.max_msg = cl_max_msg,
	.setup = cl_setup,
	.side_init = cl_side_init,
	.send = cl_send,
	.recv = cl_recv,
	.teardown = cl_teardown,
};
