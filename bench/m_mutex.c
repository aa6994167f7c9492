/* SPDX-License-Identifier: MIT */
/* Uncontended lock+unlock: shmkit_mutex and pthread mutexes, one process. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <shmkit/sync.h>

#include "sync.h"

/* Both objects live in a mapping of their own, as they would in a segment;
 * the plain pthread mutex gets a private one so that only the attributes
 * differ between the rows. */
#define MAP_LEN 4096

struct shm {
	shmkit_mutex *m;
};

static int
shm_setup(void *ctx)
{
	struct shm *c = ctx;
	int rc;

	c->m = bench_map_shared(MAP_LEN);
	if (c->m == NULL) {
		return -ENOMEM;
	}
	rc = shmkit_mutex_init(c->m);
	if (rc < 0) {
		bench_unmap(c->m, MAP_LEN);
		c->m = NULL;
	}
	return rc;
}

static int
shm_loop(void *ctx, unsigned long n, char *why, size_t whylen)
{
	shmkit_mutex *m = ((struct shm *)ctx)->m;

	for (unsigned long i = 0; i < n; i++) {
		int rc = shmkit_mutex_lock(m);

		if (rc != 0) {
			snprintf(why, whylen, "shmkit_mutex_lock: %s", strerror(-rc));
			return rc < 0 ? rc : -EPROTO;
		}
		rc = shmkit_mutex_unlock(m);
		if (rc != 0) {
			snprintf(why, whylen, "shmkit_mutex_unlock: %s", strerror(-rc));
			return rc < 0 ? rc : -EPROTO;
		}
	}
	return 0;
}

static int
shm_end_check(void *ctx, char *why, size_t whylen)
{
	shmkit_mutex_info info;
	int rc = shmkit_mutex_inspect(((struct shm *)ctx)->m, &info);

	if (rc < 0) {
		snprintf(why, whylen, "shmkit_mutex_inspect: %s", strerror(-rc));
		return rc;
	}
	if (info.locked != 0 || info.state != 0) {
		snprintf(why, whylen, "the mutex ended locked=%d state=%d", (int)info.locked,
			 (int)info.state);
		return -EPROTO;
	}
	return 0;
}

static void
shm_teardown(void *ctx)
{
	struct shm *c = ctx;

	bench_unmap(c->m, MAP_LEN);
	c->m = NULL;
}

const struct bench_micro bench_m_shmkit_mutex = {
	.name = "shmkit-mutex",
	.kind = "shmkit",
	.what = "shmkit_mutex_lock + shmkit_mutex_unlock, in a shared mapping",
	.group = BENCH_MG_MUTEX,
	.units = 1,
	.ctx_size = sizeof(struct shm),
	.setup = shm_setup,
	.loop = shm_loop,
	.end_check = shm_end_check,
	.teardown = shm_teardown,
};

struct pth {
	pthread_mutex_t *m;
	int inited;
};

static int
pth_make(struct pth *c, int shared, int robust)
{
	pthread_mutexattr_t a;
	int rc;

	c->m = shared ? bench_map_shared(MAP_LEN) : bench_map_private(MAP_LEN);
	if (c->m == NULL) {
		return -ENOMEM;
	}
	pthread_mutexattr_init(&a);
	rc = shared ? pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) : 0;
	if (rc == 0 && robust) {
		rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	}
	if (rc == 0) {
		rc = pthread_mutex_init(c->m, &a);
	}
	pthread_mutexattr_destroy(&a);
	if (rc != 0) {
		bench_unmap(c->m, MAP_LEN);
		c->m = NULL;
		return -rc;
	}
	c->inited = 1;
	return 0;
}

static int
pth_setup_robust(void *ctx)
{
	return pth_make(ctx, 1, 1);
}

static int
pth_setup_pshared(void *ctx)
{
	return pth_make(ctx, 1, 0);
}

static int
pth_setup_plain(void *ctx)
{
	return pth_make(ctx, 0, 0);
}

static int
pth_loop(void *ctx, unsigned long n, char *why, size_t whylen)
{
	pthread_mutex_t *m = ((struct pth *)ctx)->m;

	for (unsigned long i = 0; i < n; i++) {
		int rc = pthread_mutex_lock(m);

		if (rc != 0) {
			snprintf(why, whylen, "pthread_mutex_lock: %s", strerror(rc));
			return -rc;
		}
		rc = pthread_mutex_unlock(m);
		if (rc != 0) {
			snprintf(why, whylen, "pthread_mutex_unlock: %s", strerror(rc));
			return -rc;
		}
	}
	return 0;
}

static int
pth_end_check(void *ctx, char *why, size_t whylen)
{
	pthread_mutex_t *m = ((struct pth *)ctx)->m;
	int rc = pthread_mutex_trylock(m);

	if (rc != 0) {
		snprintf(why, whylen, "the mutex ended locked (trylock: %s)", strerror(rc));
		return -EPROTO;
	}
	pthread_mutex_unlock(m);
	return 0;
}

static void
pth_teardown(void *ctx)
{
	struct pth *c = ctx;

	/* Nothing of the kernel's to release: destroying is bookkeeping, and
	 * the mapping goes with the process if a signal ends the run first. */
	if (c->inited) {
		pthread_mutex_destroy(c->m);
		c->inited = 0;
	}
	bench_unmap(c->m, MAP_LEN);
	c->m = NULL;
}

const struct bench_micro bench_m_pthread_robust = {
	.name = "pthread-robust",
	.kind = "pthread",
	.what = "pthread_mutex_lock + unlock, PTHREAD_PROCESS_SHARED and PTHREAD_MUTEX_ROBUST, "
		"in a shared mapping",
	.group = BENCH_MG_MUTEX,
	.flags = BENCH_MF_REFERENCE,
	.units = 1,
	.ctx_size = sizeof(struct pth),
	.setup = pth_setup_robust,
	.loop = pth_loop,
	.end_check = pth_end_check,
	.teardown = pth_teardown,
};

const struct bench_micro bench_m_pthread_pshared = {
	.name = "pthread-pshared",
	.kind = "pthread",
	.what = "pthread_mutex_lock + unlock, PTHREAD_PROCESS_SHARED (not robust), in a shared "
		"mapping",
	.group = BENCH_MG_MUTEX,
	.units = 1,
	.ctx_size = sizeof(struct pth),
	.setup = pth_setup_pshared,
	.loop = pth_loop,
	.end_check = pth_end_check,
	.teardown = pth_teardown,
};

const struct bench_micro bench_m_pthread_plain = {
	.name = "pthread",
	.kind = "pthread",
	.what = "pthread_mutex_lock + unlock, default attributes, private memory (reference)",
	.group = BENCH_MG_MUTEX,
	.units = 1,
	.ctx_size = sizeof(struct pth),
	.setup = pth_setup_plain,
	.loop = pth_loop,
	.end_check = pth_end_check,
	.teardown = pth_teardown,
};
