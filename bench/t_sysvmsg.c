/* SPDX-License-Identifier: MIT */
/* Kernel row: one System V message queue, the type selecting the direction. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include "bench.h"

/*
 * The queue is private (IPC_PRIVATE) and removed by teardown, which the
 * harness also runs from its failure and watchdog paths, so no queue
 * outlives a run unless the harness itself is killed with SIGKILL. Type 1
 * carries parent-to-child messages and type 2 the replies, so one queue
 * serves both directions, as the interface intends.
 *
 * msgsnd and msgrcv copy between a struct msgbuf and the kernel; the extra
 * copy between the harness's buffer and that struct is a few percent of
 * the system call for the sizes the queue accepts.
 */
struct sysvq {
	int id;
	int side;
	size_t cap;
	size_t buf_len;
	unsigned char *buf; /* private: long mtype, then the text */
};

static size_t
sv_max_msg(char *why, size_t whylen)
{
	uint64_t msgmax = 8192, msgmnb = 16384;

	bench_read_proc_u64("/proc/sys/kernel/msgmax", &msgmax);
	bench_read_proc_u64("/proc/sys/kernel/msgmnb", &msgmnb);
	if (msgmnb < msgmax) {
		snprintf(why, whylen, "queue capacity kernel.msgmnb = %llu B",
			 (unsigned long long)msgmnb);
		return (size_t)msgmnb;
	}
	snprintf(why, whylen, "kernel.msgmax = %llu B", (unsigned long long)msgmax);
	return (size_t)msgmax;
}

static int
sv_setup(void *ctx, size_t msg_size)
{
	struct sysvq *q = ctx;

	q->cap = msg_size + BENCH_BUF_SLACK;
	q->buf_len = sizeof(long) + q->cap;
	/* Mapped rather than allocated, so that teardown may release it from
	 * a signal handler. */
	q->buf = bench_map_private(q->buf_len);
	if (q->buf == NULL) {
		return -ENOMEM;
	}
	q->id = msgget(IPC_PRIVATE, IPC_CREAT | IPC_EXCL | 0600);
	if (q->id < 0) {
		int rc = -errno;

		bench_unmap(q->buf, q->buf_len);
		q->buf = NULL;
		return rc;
	}
	return 0;
}

static int
sv_side_init(void *ctx, enum bench_side side)
{
	struct sysvq *q = ctx;

	q->side = side;
	return 0;
}

static int
sv_send(void *ctx, const void *buf, size_t len)
{
	struct sysvq *q = ctx;
	long type = q->side == BENCH_PARENT ? 1 : 2;

	if (len > q->cap) {
		return -EMSGSIZE;
	}
	memcpy(q->buf, &type, sizeof(type));
	memcpy(q->buf + sizeof(long), buf, len);
	/* System V calls are never restarted after a signal handler. */
	while (msgsnd(q->id, q->buf, len, 0) < 0) {
		if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

static ssize_t
sv_recv(void *ctx, void *buf, size_t len)
{
	struct sysvq *q = ctx;
	long type = q->side == BENCH_PARENT ? 2 : 1;
	ssize_t n;

	(void)len;
	/* Without MSG_NOERROR an oversized message fails with E2BIG instead
	 * of being cut short. */
	while ((n = msgrcv(q->id, q->buf, q->cap, type, 0)) < 0) {
		if (errno != EINTR) {
			return -errno;
		}
	}
	memcpy(buf, q->buf + sizeof(long), (size_t)n);
	return n;
}

static void
sv_teardown(void *ctx)
{
	struct sysvq *q = ctx;

	if (q->buf != NULL) {
		msgctl(q->id, IPC_RMID, NULL);
		bench_unmap(q->buf, q->buf_len);
		q->buf = NULL;
	}
}

const struct bench_transport bench_t_sysvmsg = {
	.name = "sysv-msg",
	.kind = "kernel",
	.what = "System V message queue (msgsnd/msgrcv), IPC_PRIVATE, "
		"a message type per direction",
	.ctx_size = sizeof(struct sysvq),
	.max_msg = sv_max_msg,
	.setup = sv_setup,
	.side_init = sv_side_init,
	.send = sv_send,
	.recv = sv_recv,
	.teardown = sv_teardown,
};
