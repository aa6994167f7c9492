/* SPDX-License-Identifier: MIT */
/* Ping-pong through two shmkit_sem: each side waits on its own, posts the other's. */
#include <errno.h>
#include <stdio.h>

#include <shmkit/sync.h>

#include "sync.h"

struct shared {
	struct bench_mbox mb;
	/* sem[s] is the one side s waits on; each has its own cache line. */
	shmkit_sem sem[2];
};

struct pp {
	struct shared *sh; /* anonymous shared mapping, inherited by the child */
	int side;
};

static int
pp_setup(void *ctx, size_t msg_size)
{
	struct pp *p = ctx;
	int rc;

	(void)msg_size;
	p->sh = bench_map_shared(sizeof(struct shared));
	if (p->sh == NULL) {
		return -ENOMEM;
	}
	bench_mbox_init(&p->sh->mb);
	for (int s = 0; s < 2; s++) {
		rc = shmkit_sem_init(&p->sh->sem[s], 0);
		if (rc < 0) {
			bench_unmap(p->sh, sizeof(struct shared));
			p->sh = NULL;
			return rc;
		}
	}
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
	int rc = bench_mbox_put(&p->sh->mb, p->side, buf, len);

	return rc < 0 ? rc : shmkit_sem_post(&p->sh->sem[1 - p->side]);
}

static ssize_t
pp_recv(void *ctx, void *buf, size_t len)
{
	struct pp *p = ctx;
	int rc = shmkit_sem_wait(&p->sh->sem[p->side]);

	(void)len;
	return rc < 0 ? rc : bench_mbox_take(&p->sh->mb, p->side, buf);
}

static int
pp_end_check(void *ctx, char *why, size_t whylen)
{
	struct pp *p = ctx;

	for (int s = 0; s < 2; s++) {
		int v = shmkit_sem_value(&p->sh->sem[s]);

		if (v != 0) {
			snprintf(why, whylen, "the %s's semaphore ended at %d, not 0",
				 s == BENCH_PARENT ? "parent" : "child", v);
			return -EPROTO;
		}
	}
	return bench_mbox_end_check(&p->sh->mb, why, whylen);
}

static void
pp_teardown(void *ctx)
{
	struct pp *p = ctx;

	bench_unmap(p->sh, sizeof(struct shared));
	p->sh = NULL;
}

const struct bench_transport bench_t_sem_shmkit = {
	.name = "shmkit-sem",
	.kind = "shmkit",
	.what = "two shmkit_sem in a shared mapping: sem_wait on one's own, sem_post the peer's",
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
