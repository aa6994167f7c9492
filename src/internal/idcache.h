/* SPDX-License-Identifier: MIT */
/* A process's open handles by System V id, for the drop-in calls (private). */
#ifndef SHMKIT_INTERNAL_IDCACHE_H
#define SHMKIT_INTERNAL_IDCACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

/*
 * semop(id) and msgsnd(id) must not open anything on their fast path, so
 * each drop-in keeps its handles by id. A handle in use by a call holds a
 * reference; a removed object's handle is marked dead and closed once no
 * call uses it. Thread-safe; across fork() the child keeps the handles
 * (the mappings are inherited) with no call in progress.
 */
struct shmkit__idcache_entry {
	int id;
	int dead;      /* removed: closed once nobody uses it */
	unsigned refs; /* calls in progress */
	void *h;
};

struct shmkit__idcache {
	pthread_mutex_t lock;
	int (*close)(void *h);
	struct shmkit__idcache_entry *v;
	size_t n, cap;
	struct shmkit__idcache *next; /* the caches that fork() must mind */
	_Atomic int registered;       /* on the fork list (release/acquire) */
};

#define SHMKIT__IDCACHE_INIT(closefn)                                                              \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, (closefn), NULL, 0, 0, NULL, 0                          \
	}

/* The handle of @id with a reference taken, or NULL. */
void *shmkit__idcache_get(struct shmkit__idcache *c, int id);

/* Adopt @h for @id with one reference taken; if another thread was
 * quicker, close @h and return its handle. Return the handle to use. */
void *shmkit__idcache_add(struct shmkit__idcache *c, int id, void *h);

/* Drop a reference from get/add; a handle that was not cached is closed. */
void shmkit__idcache_release(struct shmkit__idcache *c, void *h);

/* @id was removed: its handle is closed once unused. */
void shmkit__idcache_forget(struct shmkit__idcache *c, int id);

#endif
