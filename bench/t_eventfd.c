/* SPDX-License-Identifier: MIT */
/* Kernel row: data in a shared slot ring, an eventfd wake-up per message. */
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench.h"

/*
 * The classic "shared memory plus a doorbell" design. The producer writes
 * the data eventfd after every message and the consumer writes the space
 * eventfd after every message it frees, so each message costs two eventfd
 * writes plus a blocking read whenever a side finds nothing to do. Nothing
 * is skipped when the peer is awake: the row shows the price of the kernel
 * notification itself, which is what the library's futex protocol avoids.
 */
struct evfd {
	struct bench_slots slots;
	int data[2];  /* per direction: messages were published */
	int space[2]; /* per direction: slots were freed */
	size_t cap;
	int side;
};

static void
close_all(struct evfd *e)
{
	for (int d = 0; d < 2; d++) {
		if (e->data[d] >= 0) {
			close(e->data[d]);
			e->data[d] = -1;
		}
		if (e->space[d] >= 0) {
			close(e->space[d]);
			e->space[d] = -1;
		}
	}
}

static int
ef_setup(void *ctx, size_t msg_size)
{
	struct evfd *e = ctx;
	int rc;

	e->data[0] = e->data[1] = e->space[0] = e->space[1] = -1;
	e->cap = msg_size + BENCH_BUF_SLACK;
	for (int d = 0; d < 2; d++) {
		e->data[d] = eventfd(0, EFD_CLOEXEC);
		e->space[d] = eventfd(0, EFD_CLOEXEC);
		if (e->data[d] < 0 || e->space[d] < 0) {
			rc = -errno;
			close_all(e);
			return rc;
		}
	}
	rc = bench_slots_create(&e->slots, msg_size);
	if (rc < 0) {
		close_all(e);
	}
	return rc;
}

static int
ef_side_init(void *ctx, enum bench_side side)
{
	struct evfd *e = ctx;

	e->side = side;
	return 0;
}

static int
ring(int fd)
{
	uint64_t one = 1;

	return bench_write_full(fd, &one, sizeof(one));
}

static int
wait_on(int fd)
{
	uint64_t count;
	ssize_t n;

	/* The read returns the accumulated count and resets it; a stale count
	 * only causes one extra look at the ring, never a lost wake-up, since
	 * the counter persists until it is read. */
	do {
		n = read(fd, &count, sizeof(count));
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

static int
ef_send(void *ctx, const void *buf, size_t len)
{
	struct evfd *e = ctx;
	int d = e->side;
	int rc;

	while ((rc = bench_slots_try_put(&e->slots, d, buf, len)) == -EAGAIN) {
		rc = wait_on(e->space[d]);
		if (rc < 0) {
			return rc;
		}
	}
	if (rc < 0) {
		return rc;
	}
	return ring(e->data[d]);
}

static ssize_t
ef_recv(void *ctx, void *buf, size_t len)
{
	struct evfd *e = ctx;
	int d = 1 - e->side;
	ssize_t n;
	int rc;

	(void)len;
	while ((n = bench_slots_try_get(&e->slots, d, buf, e->cap)) == -EAGAIN) {
		rc = wait_on(e->data[d]);
		if (rc < 0) {
			return rc;
		}
	}
	if (n < 0) {
		return n;
	}
	rc = ring(e->space[d]);
	return rc < 0 ? rc : n;
}

static void
ef_teardown(void *ctx)
{
	struct evfd *e = ctx;

	close_all(e);
	bench_slots_destroy(&e->slots);
}

const struct bench_transport bench_t_eventfd = {
	.name = "eventfd",
	.kind = "kernel",
	.what = "data in a shared slot ring, an eventfd write per message",
	.ctx_size = sizeof(struct evfd),
	.max_msg = bench_max_msg_none,
	.setup = ef_setup,
	.side_init = ef_side_init,
	.send = ef_send,
	.recv = ef_recv,
	.teardown = ef_teardown,
};
