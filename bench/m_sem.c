/* SPDX-License-Identifier: MIT */
/* Uncontended semaphore operations (+1 then -1), one process, no waiter. */
#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include <shmkit/semset.h>
#include <shmkit/sync.h>
#include <shmkit/sysv.h>

#include "sync.h"

/*
 * Every iteration adds one and takes it back, so no operation ever has to
 * wait and the count is 0 after each iteration: the end check sees any
 * operation that was lost or applied twice. Each call's result is checked
 * in the loop (a predictable branch) rather than trusted.
 */

/* ---- System V set of one: the kernel's semop and shmkit's drop-in ---- */

struct sv {
	int semid;
	int have_set;
};

static int
kern_setup(void *ctx)
{
	struct sv *c = ctx;

	c->semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (c->semid < 0) {
		return -errno;
	}
	c->have_set = 1;
	return 0;
}

static int
kern_loop_flags(struct sv *c, unsigned long n, short flg, char *why, size_t whylen)
{
	struct sembuf up = {.sem_num = 0, .sem_op = 1, .sem_flg = flg};
	struct sembuf down = {.sem_num = 0, .sem_op = -1, .sem_flg = flg};

	for (unsigned long i = 0; i < n; i++) {
		if (semop(c->semid, &up, 1) < 0 || semop(c->semid, &down, 1) < 0) {
			int e = errno;

			snprintf(why, whylen, "semop: %s", strerror(e));
			return -e;
		}
	}
	return 0;
}

static int
kern_loop(void *ctx, unsigned long n, char *why, size_t whylen)
{
	return kern_loop_flags(ctx, n, 0, why, whylen);
}

static int
kern_loop_undo(void *ctx, unsigned long n, char *why, size_t whylen)
{
	return kern_loop_flags(ctx, n, SEM_UNDO, why, whylen);
}

static int
kern_end_check(void *ctx, char *why, size_t whylen)
{
	int v = semctl(((struct sv *)ctx)->semid, 0, GETVAL);

	if (v != 0) {
		snprintf(why, whylen, "the semaphore ended at %d, not 0", v);
		return -EPROTO;
	}
	return 0;
}

static void
kern_teardown(void *ctx)
{
	struct sv *c = ctx;

	if (c->have_set) {
		semctl(c->semid, 0, IPC_RMID);
		c->have_set = 0;
	}
}

const struct bench_micro bench_m_sysv_semop = {
	.name = "sysv-semop",
	.kind = "kernel",
	.what = "kernel semop on an IPC_PRIVATE set of one: +1, then -1",
	.group = BENCH_MG_SEM,
	.flags = BENCH_MF_REFERENCE,
	.units = 2,
	.ctx_size = sizeof(struct sv),
	.setup = kern_setup,
	.loop = kern_loop,
	.end_check = kern_end_check,
	.teardown = kern_teardown,
};

const struct bench_micro bench_m_sysv_semop_undo = {
	.name = "sysv-semop-undo",
	.kind = "kernel",
	.what = "as sysv-semop, with SEM_UNDO on both operations",
	.group = BENCH_MG_SEM,
	.units = 2,
	.ctx_size = sizeof(struct sv),
	.setup = kern_setup,
	.loop = kern_loop_undo,
	.end_check = kern_end_check,
	.teardown = kern_teardown,
};

static int
drop_setup(void *ctx)
{
	struct sv *c = ctx;

	c->semid = shmkit_semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (c->semid < 0) {
		return -errno;
	}
	c->have_set = 1;
	return 0;
}

static int
drop_loop_flags(struct sv *c, unsigned long n, short flg, char *why, size_t whylen)
{
	struct sembuf up = {.sem_num = 0, .sem_op = 1, .sem_flg = flg};
	struct sembuf down = {.sem_num = 0, .sem_op = -1, .sem_flg = flg};

	for (unsigned long i = 0; i < n; i++) {
		if (shmkit_semop(c->semid, &up, 1) < 0 || shmkit_semop(c->semid, &down, 1) < 0) {
			int e = errno;

			snprintf(why, whylen, "shmkit_semop: %s", strerror(e));
			return -e;
		}
	}
	return 0;
}

static int
drop_loop(void *ctx, unsigned long n, char *why, size_t whylen)
{
	return drop_loop_flags(ctx, n, 0, why, whylen);
}

static int
drop_loop_undo(void *ctx, unsigned long n, char *why, size_t whylen)
{
	return drop_loop_flags(ctx, n, SEM_UNDO, why, whylen);
}

static int
drop_end_check(void *ctx, char *why, size_t whylen)
{
	int v = shmkit_semctl(((struct sv *)ctx)->semid, 0, GETVAL);

	if (v != 0) {
		snprintf(why, whylen, "the semaphore ended at %d, not 0", v);
		return -EPROTO;
	}
	return 0;
}

static void
drop_teardown(void *ctx)
{
	struct sv *c = ctx;

	if (c->have_set) {
		shmkit_semctl(c->semid, 0, IPC_RMID);
		c->have_set = 0;
	}
}

const struct bench_micro bench_m_shmkit_semop = {
	.name = "shmkit-semop",
	.kind = "shmkit",
	.what = "drop-in shmkit_semop on an IPC_PRIVATE shmkit set of one: +1, then -1",
	.group = BENCH_MG_SEM,
	.units = 2,
	.ctx_size = sizeof(struct sv),
	.setup = drop_setup,
	.loop = drop_loop,
	.end_check = drop_end_check,
	.teardown = drop_teardown,
};

const struct bench_micro bench_m_shmkit_semop_undo = {
	.name = "shmkit-semop-undo",
	.kind = "shmkit",
	.what = "as shmkit-semop, with SEM_UNDO on both operations",
	.group = BENCH_MG_SEM,
	.units = 2,
	.ctx_size = sizeof(struct sv),
	.setup = drop_setup,
	.loop = drop_loop_undo,
	.end_check = drop_end_check,
	.teardown = drop_teardown,
};

/* ---- shmkit_semset_op on a set of one ---- */

struct ss {
	shmkit_semset *set;
};

static int
ss_setup(void *ctx)
{
	struct ss *c = ctx;
	int rc = shmkit_semset_create(&c->set, "memfd:shmkit-bench-sync", 1, 0600);

	if (rc < 0) {
		c->set = NULL;
	}
	return rc;
}

static int
ss_loop(void *ctx, unsigned long n, char *why, size_t whylen)
{
	shmkit_semset *set = ((struct ss *)ctx)->set;
	shmkit_sembuf up = {.sem_num = 0, .sem_op = 1, .sem_flg = 0};
	shmkit_sembuf down = {.sem_num = 0, .sem_op = -1, .sem_flg = 0};

	for (unsigned long i = 0; i < n; i++) {
		int rc = shmkit_semset_op(set, &up, 1, NULL, 0);

		if (rc == 0) {
			rc = shmkit_semset_op(set, &down, 1, NULL, 0);
		}
		if (rc != 0) {
			snprintf(why, whylen, "shmkit_semset_op: %s", strerror(-rc));
			return rc < 0 ? rc : -EPROTO;
		}
	}
	return 0;
}

static int
ss_end_check(void *ctx, char *why, size_t whylen)
{
	int v = shmkit_semset_getval(((struct ss *)ctx)->set, 0);

	if (v != 0) {
		snprintf(why, whylen, "the semaphore ended at %d, not 0", v);
		return -EPROTO;
	}
	return 0;
}

static void
ss_teardown(void *ctx)
{
	struct ss *c = ctx;

	if (c->set != NULL) {
		shmkit_semset_remove(c->set);
		c->set = NULL;
	}
}

const struct bench_micro bench_m_shmkit_semset = {
	.name = "shmkit-semset",
	.kind = "shmkit",
	.what = "shmkit_semset_op on a shmkit set of one (memfd): +1, then -1",
	.group = BENCH_MG_SEM,
	.units = 2,
	.ctx_size = sizeof(struct ss),
	.setup = ss_setup,
	.loop = ss_loop,
	.end_check = ss_end_check,
	.teardown = ss_teardown,
};

/* ---- counting semaphores without semop's arrays: for scale ---- */

#define MAP_LEN 4096

struct ks {
	shmkit_sem *s;
};

static int
ks_setup(void *ctx)
{
	struct ks *c = ctx;
	int rc;

	c->s = bench_map_shared(MAP_LEN);
	if (c->s == NULL) {
		return -ENOMEM;
	}
	rc = shmkit_sem_init(c->s, 0);
	if (rc < 0) {
		bench_unmap(c->s, MAP_LEN);
		c->s = NULL;
	}
	return rc;
}

static int
ks_loop(void *ctx, unsigned long n, char *why, size_t whylen)
{
	shmkit_sem *s = ((struct ks *)ctx)->s;

	for (unsigned long i = 0; i < n; i++) {
		int rc = shmkit_sem_post(s);

		if (rc == 0) {
			rc = shmkit_sem_wait(s);
		}
		if (rc != 0) {
			snprintf(why, whylen, "shmkit_sem_post/wait: %s", strerror(-rc));
			return rc < 0 ? rc : -EPROTO;
		}
	}
	return 0;
}

static int
ks_end_check(void *ctx, char *why, size_t whylen)
{
	int v = shmkit_sem_value(((struct ks *)ctx)->s);

	if (v != 0) {
		snprintf(why, whylen, "the semaphore ended at %d, not 0", v);
		return -EPROTO;
	}
	return 0;
}

static void
ks_teardown(void *ctx)
{
	struct ks *c = ctx;

	bench_unmap(c->s, MAP_LEN);
	c->s = NULL;
}

const struct bench_micro bench_m_shmkit_sem = {
	.name = "shmkit-sem",
	.kind = "shmkit",
	.what = "shmkit_sem_post, then shmkit_sem_wait, in a shared mapping",
	.group = BENCH_MG_SEM,
	.units = 2,
	.ctx_size = sizeof(struct ks),
	.setup = ks_setup,
	.loop = ks_loop,
	.end_check = ks_end_check,
	.teardown = ks_teardown,
};

struct ps {
	sem_t *s;
	int inited;
};

static int
ps_setup(void *ctx)
{
	struct ps *c = ctx;

	c->s = bench_map_shared(MAP_LEN);
	if (c->s == NULL) {
		return -ENOMEM;
	}
	if (sem_init(c->s, 1, 0) < 0) {
		int rc = -errno;

		bench_unmap(c->s, MAP_LEN);
		c->s = NULL;
		return rc;
	}
	c->inited = 1;
	return 0;
}

static int
ps_loop(void *ctx, unsigned long n, char *why, size_t whylen)
{
	sem_t *s = ((struct ps *)ctx)->s;

	for (unsigned long i = 0; i < n; i++) {
		if (sem_post(s) < 0 || sem_wait(s) < 0) {
			int e = errno;

			snprintf(why, whylen, "sem_post/sem_wait: %s", strerror(e));
			return -e;
		}
	}
	return 0;
}

static int
ps_end_check(void *ctx, char *why, size_t whylen)
{
	int v = -1;

	if (sem_getvalue(((struct ps *)ctx)->s, &v) < 0 || v != 0) {
		snprintf(why, whylen, "the semaphore ended at %d, not 0", v);
		return -EPROTO;
	}
	return 0;
}

static void
ps_teardown(void *ctx)
{
	struct ps *c = ctx;

	if (c->inited) {
		sem_destroy(c->s);
		c->inited = 0;
	}
	bench_unmap(c->s, MAP_LEN);
	c->s = NULL;
}

const struct bench_micro bench_m_posix_sem = {
	.name = "posix-sem",
	.kind = "posix",
	.what = "sem_post, then sem_wait, process-shared unnamed POSIX semaphore (sem_init)",
	.group = BENCH_MG_SEM,
	.units = 2,
	.ctx_size = sizeof(struct ps),
	.setup = ps_setup,
	.loop = ps_loop,
	.end_check = ps_end_check,
	.teardown = ps_teardown,
};
