/* SPDX-License-Identifier: MIT */
/* Ping-pong through shmkit_semset_op on one shmkit set of two semaphores. */
#include <errno.h>
#include <stdio.h>

#include <shmkit/semset.h>

#include "sync.h"

struct pp {
	struct bench_mbox *mb; /* anonymous shared mapping */
	shmkit_semset *set;    /* the child keeps using the inherited handle */
	int side;
};

static int
pp_setup(void *ctx, size_t msg_size)
{
	struct pp *p = ctx;
	int rc;

	(void)msg_size;
	p->mb = bench_map_shared(sizeof(*p->mb));
	if (p->mb == NULL) {
		return -ENOMEM;
	}
	bench_mbox_init(p->mb);
	/* An anonymous memfd segment: no name to leak if the run is killed. */
	rc = shmkit_semset_create(&p->set, "memfd:shmkit-bench-sync", 2, 0600);
	if (rc < 0) {
		p->set = NULL;
		bench_unmap(p->mb, sizeof(*p->mb));
		p->mb = NULL;
	}
	return rc;
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
	shmkit_sembuf op = {.sem_num = (unsigned short)(1 - p->side), .sem_op = 1, .sem_flg = 0};
	int rc = bench_mbox_put(p->mb, p->side, buf, len);

	return rc < 0 ? rc : shmkit_semset_op(p->set, &op, 1, NULL, 0);
}

static ssize_t
pp_recv(void *ctx, void *buf, size_t len)
{
	struct pp *p = ctx;
	shmkit_sembuf op = {.sem_num = (unsigned short)p->side, .sem_op = -1, .sem_flg = 0};
	int rc = shmkit_semset_op(p->set, &op, 1, NULL, 0);

	(void)len;
	return rc < 0 ? rc : bench_mbox_take(p->mb, p->side, buf);
}

static int
pp_end_check(void *ctx, char *why, size_t whylen)
{
	struct pp *p = ctx;

	for (int s = 0; s < 2; s++) {
		int v = shmkit_semset_getval(p->set, (unsigned)s);

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

	if (p->set != NULL) {
		shmkit_semset_remove(p->set);
		p->set = NULL;
	}
	bench_unmap(p->mb, sizeof(*p->mb));
	p->mb = NULL;
}

const struct bench_transport bench_t_sem_semset = {
	.name = "shmkit-semset",
	.kind = "shmkit",
	.what = "shmkit_semset_op on one shmkit set of two: -1 on one's own, +1 on the peer's",
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
