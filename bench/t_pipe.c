/* SPDX-License-Identifier: MIT */
/* Kernel row: one pipe per direction, messages written and read in full. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "bench.h"

/*
 * Pipes keep their default capacity (64 KiB on Linux), as most programs
 * use them; a 1 MiB message therefore takes many write and read calls,
 * which is part of what the row measures.
 */
struct pipes {
	int to_child[2];
	int to_parent[2];
	int rfd;
	int wfd;
};

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static int
pp_setup(void *ctx, size_t msg_size)
{
	struct pipes *p = ctx;
	int rc;

	(void)msg_size;
	p->to_child[0] = p->to_child[1] = -1;
	p->to_parent[0] = p->to_parent[1] = -1;
	p->rfd = p->wfd = -1;
	if (pipe2(p->to_child, O_CLOEXEC) < 0) {
		return -errno;
	}
	if (pipe2(p->to_parent, O_CLOEXEC) < 0) {
		rc = -errno;
		close_fd(&p->to_child[0]);
		close_fd(&p->to_child[1]);
		return rc;
	}
	return 0;
}

static int
pp_side_init(void *ctx, enum bench_side side)
{
	struct pipes *p = ctx;

	/* Close the ends this side does not use, so that the death of the
	 * peer shows up as end-of-file or EPIPE rather than a hang. */
	if (side == BENCH_PARENT) {
		p->wfd = p->to_child[1];
		p->rfd = p->to_parent[0];
		close_fd(&p->to_child[0]);
		close_fd(&p->to_parent[1]);
	} else {
		p->wfd = p->to_parent[1];
		p->rfd = p->to_child[0];
		close_fd(&p->to_parent[0]);
		close_fd(&p->to_child[1]);
	}
	return 0;
}

static int
pp_send(void *ctx, const void *buf, size_t len)
{
	struct pipes *p = ctx;

	return bench_write_full(p->wfd, buf, len);
}

static ssize_t
pp_recv(void *ctx, void *buf, size_t len)
{
	struct pipes *p = ctx;

	return bench_read_full(p->rfd, buf, len);
}

static void
pp_teardown(void *ctx)
{
	struct pipes *p = ctx;

	close_fd(&p->to_child[0]);
	close_fd(&p->to_child[1]);
	close_fd(&p->to_parent[0]);
	close_fd(&p->to_parent[1]);
	p->rfd = p->wfd = -1;
}

const struct bench_transport bench_t_pipe = {
	.name = "pipe",
	.kind = "kernel",
	.what = "pipe(2), one per direction, default capacity",
	.ctx_size = sizeof(struct pipes),
	.max_msg = bench_max_msg_none,
	.setup = pp_setup,
	.side_init = pp_side_init,
	.send = pp_send,
	.recv = pp_recv,
	.teardown = pp_teardown,
};
