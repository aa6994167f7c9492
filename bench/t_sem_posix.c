/* SPDX-License-Identifier: MIT */
/* Ping-pong through two POSIX named semaphores (sem_open), unlinked once open. */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <unistd.h>

#include "sync.h"

struct pp {
	struct bench_mbox *mb; /* anonymous shared mapping */
	sem_t *sem[2];         /* sem[s] is the one side s waits on */
	int side;
};

static int
pp_setup(void *ctx, size_t msg_size)
{
	static unsigned serial;
	struct pp *p = ctx;
	char name[2][64];
	int rc = 0;

	(void)msg_size;
	p->mb = bench_map_shared(sizeof(*p->mb));
	if (p->mb == NULL) {
		return -ENOMEM;
	}
	bench_mbox_init(p->mb);
	serial++;
	for (int s = 0; s < 2; s++) {
		/* A name of our own (pid and serial), created exclusively, so a
		 * leftover or a concurrent run is never reused. */
		snprintf(name[s], sizeof(name[s]), "/shmkit-bench-sync.%ld.%u.%d", (long)getpid(),
			 serial, s);
		p->sem[s] = sem_open(name[s], O_CREAT | O_EXCL, 0600, 0);
		if (p->sem[s] == SEM_FAILED) {
			rc = -errno;
			p->sem[s] = NULL;
			break;
		}
		/* The fork shares the mapping sem_open made, so the name is not
		 * needed past this point: remove it now and nothing can leak. */
		sem_unlink(name[s]);
	}
	if (rc < 0) {
		for (int s = 0; s < 2; s++) {
			if (p->sem[s] != NULL) {
				sem_close(p->sem[s]);
				p->sem[s] = NULL;
			}
		}
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
	int rc = bench_mbox_put(p->mb, p->side, buf, len);

	if (rc < 0) {
		return rc;
	}
	return sem_post(p->sem[1 - p->side]) < 0 ? -errno : 0;
}

static ssize_t
pp_recv(void *ctx, void *buf, size_t len)
{
	struct pp *p = ctx;

	(void)len;
	/* sem_wait is never restarted after a signal handler. */
	while (sem_wait(p->sem[p->side]) < 0) {
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
		int v = -1;

		if (sem_getvalue(p->sem[s], &v) < 0 || v != 0) {
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

	/* The names are gone already; sem_close unmaps. The runner calls this
	 * with its signals blocked, so no handler can re-enter it. */
	for (int s = 0; s < 2; s++) {
		if (p->sem[s] != NULL) {
			sem_close(p->sem[s]);
			p->sem[s] = NULL;
		}
	}
	bench_unmap(p->mb, sizeof(*p->mb));
	p->mb = NULL;
}

const struct bench_transport bench_t_sem_posix = {
	.name = "posix-named-sem",
	.kind = "posix",
	.what = "two POSIX named semaphores (sem_open, unlinked once open): sem_wait, sem_post",
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
