/* SPDX-License-Identifier: MIT */
/* Floor: the bare cost of a futex wake-up, each side on its own word. */
#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

/*
 * Every message is one FUTEX_WAKE by the sender and, whenever the word has
 * not changed yet, one FUTEX_WAIT by the receiver, which sleeps without
 * spinning first: this is what a blocking hand-over costs when the kernel
 * must wake and schedule the sleeper. The library's platform layer wraps
 * the same system call; the benchmark calls it directly so that the floor
 * stays independent of the code it is a floor for.
 */
struct word {
	/* The futex word of the receiving side, bumped by the sender with
	 * release ordering after value is stored; the receiver's acquire load
	 * pairs with it. Each word has its own cache line. */
	_Alignas(64) _Atomic uint32_t futex;
	_Atomic uint64_t value;
};

struct futexfloor {
	struct word *w; /* shared: w[0] to the child, w[1] to the parent */
	int side;
	uint32_t seen; /* futex value last consumed */
};

static long
futex(_Atomic uint32_t *addr, int op, uint32_t val)
{
	/* No FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	return syscall(SYS_futex, (void *)addr, op, val, NULL, NULL, 0);
}

static size_t
fx_max_msg(char *why, size_t whylen)
{
	snprintf(why, whylen, "a word floor carries a sequence word only");
	return BENCH_WORD_MSG;
}

static int
fx_setup(void *ctx, size_t msg_size)
{
	struct futexfloor *f = ctx;

	(void)msg_size;
	f->w = bench_map_shared(4096);
	return f->w == NULL ? -ENOMEM : 0;
}

static int
fx_side_init(void *ctx, enum bench_side side)
{
	struct futexfloor *f = ctx;

	f->side = side;
	return 0;
}

static int
fx_send(void *ctx, const void *buf, size_t len)
{
	struct futexfloor *f = ctx;
	struct word *to = &f->w[f->side];
	uint64_t v;

	if (len != BENCH_WORD_MSG) {
		return -EMSGSIZE;
	}
	memcpy(&v, buf, sizeof(v));
	atomic_store_explicit(&to->value, v, memory_order_relaxed);
	atomic_fetch_add_explicit(&to->futex, 1, memory_order_release);
	/* Wake unconditionally: the floor measures the wake-up itself, not a
	 * protocol that skips it when the peer is awake. */
	if (futex(&to->futex, FUTEX_WAKE, 1) < 0) {
		return -errno;
	}
	return 0;
}

static ssize_t
fx_recv(void *ctx, void *buf, size_t len)
{
	struct futexfloor *f = ctx;
	struct word *from = &f->w[1 - f->side];
	uint64_t v;

	(void)len;
	for (;;) {
		/* Pairs with the release increment in fx_send. */
		uint32_t cur = atomic_load_explicit(&from->futex, memory_order_acquire);

		if (cur != f->seen) {
			f->seen = cur;
			break;
		}
		/* The kernel rechecks the word under its lock, so a wake that
		 * lands between the load and the wait is not lost: the wait
		 * returns EAGAIN at once. */
		if (futex(&from->futex, FUTEX_WAIT, cur) < 0 && errno != EAGAIN && errno != EINTR) {
			return -errno;
		}
	}
	v = atomic_load_explicit(&from->value, memory_order_relaxed);
	memcpy(buf, &v, sizeof(v));
	return BENCH_WORD_MSG;
}

static void
fx_teardown(void *ctx)
{
	struct futexfloor *f = ctx;

	bench_unmap(f->w, 4096);
	f->w = NULL;
}

const struct bench_transport bench_t_futex = {
	.name = "futex",
	.kind = "floor",
	.what = "bare FUTEX_WAKE/FUTEX_WAIT hand-over, no spinning",
	.flags = BENCH_TF_LATENCY_ONLY,
	.ctx_size = sizeof(struct futexfloor),
	.max_msg = fx_max_msg,
	.setup = fx_setup,
	.side_init = fx_side_init,
	.send = fx_send,
	.recv = fx_recv,
	.teardown = fx_teardown,
};
