/* SPDX-License-Identifier: MIT */
/* Ping-pong through the kernel's semop on a System V set of two semaphores. */
#include <errno.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include "sync.h"

struct pp {
	struct bench_mbox *mb; /* anonymous shared mapping */
	int semid;             /* IPC_PRIVATE set; semaphore s is side s's */
	int have_set;
	int side;
};

static int
pp_setup(void *ctx, size_t msg_size)
{
	struct pp *p = ctx;

	(void)msg_size;
	p->mb = bench_map_shared(sizeof(*p->mb));
	if (p->mb == NULL) {
		return -ENOMEM;
	}
	bench_mbox_init(p->mb);
	/* A new set starts at 0 on Linux (no SETALL needed). */
	p->semid = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
	if (p->semid < 0) {
		int rc = -errno;

		bench_unmap(p->mb, sizeof(*p->mb));
		p->mb = NULL;
		return rc;
	}
	p->have_set = 1;
	return 0;
}

static int
pp_side_init(void *ctx, enum bench_side side)
{
	((struct pp *)ctx)->side = side;
	return 0;
}

static int
pp_send(void *ctx, const void *buf, size_t len)
{
	struct pp *p = ctx;
	struct sembuf op = {.sem_num = (unsigned short)(1 - p->side), .sem_op = 1, .sem_flg = 0};
	int rc = bench_mbox_put(p->mb, p->side, buf, len);

	if (rc < 0) {
		return rc;
	}
	return semop(p->semid, &op, 1) < 0 ? -errno : 0;
}

static ssize_t
pp_recv(void *ctx, void *buf, size_t len)
{
	struct pp *p = ctx;
	struct sembuf op = {.sem_num = (unsigned short)p->side, .sem_op = -1, .sem_flg = 0};

	(void)len;
	/* A blocked semop is not restarted after a signal handler. */
	while (semop(p->semid, &op, 1) < 0) {
		if (errno != EINTR) {
			return -errno;
		}
	}
	return bench_mbox_take(p->mb, p->side, buf);
}

static int
pp_end_check(void *ctx, char *why, size_t whylen)
{
	struct pp *p = ctx;

	for (int s = 0; s < 2; s++) {
		int v = semctl(p->semid, s, GETVAL);

		if (v != 0) {
			snprintf(why, whylen, "the %s's semaphore ended at %d, not 0",
				 s == BENCH_PARENT ? "parent" : "child", v);
			return -EPROTO;
		}
	}
	return bench_mbox_end_check(p->mb, why, whylen);
}

static void
pp_teardown(void *ctx)
{
	struct pp *p = ctx;

	if (p->have_set) {
		semctl(p->semid, 0, IPC_RMID);
		p->have_set = 0;
	}
	bench_unmap(p->mb, sizeof(*p->mb));
	p->mb = NULL;
}

const struct bench_transport bench_t_sem_sysv = {
	.name = "sysv-semop",
	.kind = "kernel",
	.what = "kernel semop on one IPC_PRIVATE set of two: -1 on one's own, +1 on the peer's",
	.flags = BENCH_TF_LATENCY_ONLY,
	.ctx_size = sizeof(struct pp),
	.max_msg = bench_mbox_max_msg,
	.setup = pp_setup,
	.side_init = pp_side_init,
	.send = pp_send,
	.recv = pp_recv,
	.end_check = pp_end_check,
	.teardown = pp_teardown,
};
