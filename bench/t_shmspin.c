/* SPDX-License-Identifier: MIT */
/* Floor: messages copied through a shared SPSC ring, both sides spinning. */
#include <errno.h>

#include "bench.h"

/*
 * The fastest a copying shared-memory transport can go on this machine: a
 * copy into shared memory, a release store, a copy out, and a spinning
 * peer. No system call is made at all, so it is a floor for throughput and
 * for the latency of a full 64-byte message.
 */
struct shmspin {
	struct bench_slots slots;
	size_t cap;
	int side;
};

static int
ss_setup(void *ctx, size_t msg_size)
{
	struct shmspin *s = ctx;

	s->cap = msg_size + BENCH_BUF_SLACK;
	return bench_slots_create(&s->slots, msg_size);
}

static int
ss_side_init(void *ctx, enum bench_side side)
{
	struct shmspin *s = ctx;

	s->side = side;
	return 0;
}

static int
ss_send(void *ctx, const void *buf, size_t len)
{
	struct shmspin *s = ctx;
	int rc;

	while ((rc = bench_slots_try_put(&s->slots, s->side, buf, len)) == -EAGAIN) {
		bench_relax();
	}
	return rc;
}

static ssize_t
ss_recv(void *ctx, void *buf, size_t len)
{
	struct shmspin *s = ctx;
	ssize_t n;

	(void)len;
	while ((n = bench_slots_try_get(&s->slots, 1 - s->side, buf, s->cap)) == -EAGAIN) {
		bench_relax();
	}
	return n;
}

static void
ss_teardown(void *ctx)
{
	struct shmspin *s = ctx;

	bench_slots_destroy(&s->slots);
}

const struct bench_transport bench_t_shmspin = {
	.name = "shm-spin",
	.kind = "floor",
	.what = "copy through a shared SPSC slot ring, busy-waiting, no system call",
	.ctx_size = sizeof(struct shmspin),
	.max_msg = bench_max_msg_none,
	.setup = ss_setup,
	.side_init = ss_side_init,
	.send = ss_send,
	.recv = ss_recv,
	.teardown = ss_teardown,
};
