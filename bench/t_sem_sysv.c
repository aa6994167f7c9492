/* SPDX-License-Identifier: MIT */
/* Ping-pong through semop on a set of two: the kernel's, and shmkit's drop-in. */
#include <errno.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include <shmkit/sysv.h>

#include "sync.h"

/*
 * The two rows run the same code through one of two tables of the System V
 * calls: the kernel's, and the shmkit_ ones a port would switch to (which
 * report through errno like the originals).
 */
struct sem_api {
	int (*get)(key_t key, int nsems, int flags);
	int (*op)(int id, struct sembuf *ops, size_t n);
	int (*getval)(int id, int num);
	int (*rmid)(int id);
};

static int
k_getval(int id, int num)
{
	return semctl(id, num, GETVAL);
}

static int
k_rmid(int id)
{
	return semctl(id, 0, IPC_RMID);
}

static int
s_getval(int id, int num)
{
	return shmkit_semctl(id, num, GETVAL);
}

static int
s_rmid(int id)
{
	return shmkit_semctl(id, 0, IPC_RMID);
}

static const struct sem_api kernel_api = {semget, semop, k_getval, k_rmid};
static const struct sem_api shmkit_api = {shmkit_semget, shmkit_semop, s_getval, s_rmid};

struct pp {
	const struct sem_api *api;
	struct bench_mbox *mb; /* anonymous shared mapping */
	int semid;             /* IPC_PRIVATE set; semaphore s is side s's */
	int have_set;
	int side;
};

static int
pp_setup(struct pp *p, const struct sem_api *api)
{
	p->api = api;
	p->mb = bench_map_shared(sizeof(*p->mb));
	if (p->mb == NULL) {
		return -ENOMEM;
	}
	bench_mbox_init(p->mb);
	/* A new set starts at 0 (no SETALL needed). */
	p->semid = api->get(IPC_PRIVATE, 2, IPC_CREAT | 0600);
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
pp_setup_kernel(void *ctx, size_t msg_size)
{
	(void)msg_size;
	return pp_setup(ctx, &kernel_api);
}

static int
pp_setup_shmkit(void *ctx, size_t msg_size)
{
	(void)msg_size;
	return pp_setup(ctx, &shmkit_api);
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
	return p->api->op(p->semid, &op, 1) < 0 ? -errno : 0;
}

static ssize_t
pp_recv(void *ctx, void *buf, size_t len)
{
	struct pp *p = ctx;
	struct sembuf op = {.sem_num = (unsigned short)p->side, .sem_op = -1, .sem_flg = 0};

	(void)len;
	/* A blocked semop is not restarted after a signal handler. */
	while (p->api->op(p->semid, &op, 1) < 0) {
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
		int v = p->api->getval(p->semid, s);

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
		p->api->rmid(p->semid);
		p->have_set = 0;
	}
	bench_unmap(p->mb, sizeof(*p->mb));
	p->mb = NULL;
}

const struct bench_transport bench_t_sem_semop = {
	.name = "shmkit-semop",
	.kind = "shmkit",
	.what = "drop-in shmkit_semop on one IPC_PRIVATE shmkit set of two, as sysv-semop",
	.flags = BENCH_TF_LATENCY_ONLY,
	.ctx_size = sizeof(struct pp),
	.max_msg = bench_mbox_max_msg,
	.setup = pp_setup_shmkit,
	.side_init = pp_side_init,
	.send = pp_send,
	.recv = pp_recv,
	.end_check = pp_end_check,
	.teardown = pp_teardown,
};

const struct bench_transport bench_t_sem_sysv = {
	.name = "sysv-semop",
	.kind = "kernel",
	.what = "kernel semop on one IPC_PRIVATE set of two: -1 on one's own, +1 on the peer's",
	.flags = BENCH_TF_LATENCY_ONLY,
	.ctx_size = sizeof(struct pp),
	.max_msg = bench_mbox_max_msg,
	.setup = pp_setup_kernel,
	.side_init = pp_side_init,
	.send = pp_send,
	.recv = pp_recv,
	.end_check = pp_end_check,
	.teardown = pp_teardown,
};
