/* SPDX-License-Identifier: MIT */
/* Kernel row: POSIX message queues (mq_send/mq_receive), one per direction. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <unistd.h>

#include "bench.h"

/*
 * The queues are created with unique names, opened by the parent before
 * the fork, and unlinked as soon as both are open: the descriptors keep
 * them alive for the run and nothing is left in the queue namespace
 * afterwards, even if the harness is killed with SIGKILL. Teardown unlinks
 * again in case setup stopped half-way. The message size is the one being
 * measured and the depth comes from fs.mqueue.msg_max, the limits an
 * unprivileged program gets; sizes above fs.mqueue.msgsize_max are reported
 * as not available rather than chunked.
 */
struct posixmq {
	mqd_t q[2]; /* [0] to the child, [1] to the parent */
	char name[2][64];
	int side;
	size_t cap;
};

static unsigned pmq_counter;

static void
pmq_release(struct posixmq *m)
{
	for (int d = 0; d < 2; d++) {
		if (m->q[d] != (mqd_t)-1) {
			mq_close(m->q[d]);
			m->q[d] = (mqd_t)-1;
		}
		if (m->name[d][0] != '\0') {
			mq_unlink(m->name[d]);
			m->name[d][0] = '\0';
		}
	}
}

static size_t
pmq_max_msg(char *why, size_t whylen)
{
	uint64_t max = 8192;

	bench_read_proc_u64("/proc/sys/fs/mqueue/msgsize_max", &max);
	snprintf(why, whylen, "fs.mqueue.msgsize_max = %llu B", (unsigned long long)max);
	return (size_t)max;
}

static int
pmq_setup(void *ctx, size_t msg_size)
{
	struct posixmq *m = ctx;
	uint64_t depth = 10;
	struct mq_attr attr = {0};
	int rc;

	m->q[0] = m->q[1] = (mqd_t)-1;
	m->name[0][0] = m->name[1][0] = '\0';
	m->cap = msg_size + BENCH_BUF_SLACK;
	bench_read_proc_u64("/proc/sys/fs/mqueue/msg_max", &depth);
	if (depth > 64) {
		depth = 64;
	}
	attr.mq_maxmsg = (long)depth;
	attr.mq_msgsize = (long)msg_size;
	pmq_counter++;
	for (int d = 0; d < 2; d++) {
		snprintf(m->name[d], sizeof(m->name[d]), "/shmkit-bench.%ld.%u.%d", (long)getpid(),
			 pmq_counter, d);
		m->q[d] = mq_open(m->name[d], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
		if (m->q[d] == (mqd_t)-1) {
			rc = -errno;
			m->name[d][0] = '\0';
			pmq_release(m);
			return rc;
		}
	}
	for (int d = 0; d < 2; d++) {
		mq_unlink(m->name[d]);
		m->name[d][0] = '\0';
	}
	return 0;
}

static int
pmq_side_init(void *ctx, enum bench_side side)
{
	struct posixmq *m = ctx;

	m->side = side;
	return 0;
}

static int
pmq_send_msg(void *ctx, const void *buf, size_t len)
{
	struct posixmq *m = ctx;

	while (mq_send(m->q[m->side], buf, len, 0) < 0) {
		if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

static ssize_t
pmq_recv_msg(void *ctx, void *buf, size_t len)
{
	struct posixmq *m = ctx;
	ssize_t n;

	(void)len;
	/* The buffer must be at least mq_msgsize long, which cap is. */
	while ((n = mq_receive(m->q[1 - m->side], buf, m->cap, NULL)) < 0) {
		if (errno != EINTR) {
			return -errno;
		}
	}
	return n;
}

static void
pmq_teardown(void *ctx)
{
	pmq_release(ctx);
}

const struct bench_transport bench_t_posixmq = {
	.name = "posix-mq",
	.kind = "kernel",
	.what = "POSIX message queues (mq_send/mq_receive), one per direction",
	.ctx_size = sizeof(struct posixmq),
	.max_msg = pmq_max_msg,
	.setup = pmq_setup,
	.side_init = pmq_side_init,
	.send = pmq_send_msg,
	.recv = pmq_recv_msg,
	.teardown = pmq_teardown,
};
