/* SPDX-License-Identifier: MIT */
/* The drop-in calls' handles by id: references, removal, and fork. */
#include <stdlib.h>

#include "internal/idcache.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static struct shmkit__idcache *registry;

/* Around fork() every cache is locked, so the child never inherits one
 * mid-update; the child drops the references of calls that were running
 * in the parent's other threads, which it does not have. */
static void
fork_prepare(void)
{
	pthread_mutex_lock(&registry_lock);
	for (struct shmkit__idcache *c = registry; c != NULL; c = c->next) {
		pthread_mutex_lock(&c->lock);
	}
}

static void
fork_parent(void)
{
	for (struct shmkit__idcache *c = registry; c != NULL; c = c->next) {
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&registry_lock);
}

static void
fork_child(void)
{
	for (struct shmkit__idcache *c = registry; c != NULL; c = c->next) {
		for (size_t i = 0; i < c->n; i++) {
			c->v[i].refs = 0;
		}
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&registry_lock);
}

static void
registry_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Lock @c, registering it for fork on first use (once: the fast path is
 * one flag read, with acquire pairing with the release below). */
static void
lock(struct shmkit__idcache *c)
{
	if (!atomic_load_explicit(&c->registered, memory_order_acquire)) {
		pthread_once(&registry_once, registry_init);
		pthread_mutex_lock(&registry_lock);
		if (!atomic_load_explicit(&c->registered, memory_order_relaxed)) {
			c->next = registry;
			registry = c;
			atomic_store_explicit(&c->registered, 1, memory_order_release);
		}
		pthread_mutex_unlock(&registry_lock);
	}
	pthread_mutex_lock(&c->lock);
}

static void
compact_locked(struct shmkit__idcache *c)
{
	size_t j = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].dead && c->v[i].refs == 0) {
			c->close(c->v[i].h);
			continue;
		}
		c->v[j++] = c->v[i];
	}
	c->n = j;
}

void *
shmkit__idcache_get(struct shmkit__idcache *c, int id)
{
	void *h = NULL;
	lock(c);
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].id == id && !c->v[i].dead) {
			c->v[i].refs++;
			h = c->v[i].h;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return h;
}

void *
shmkit__idcache_add(struct shmkit__idcache *c, int id, void *h)
{
	lock(c);
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].id == id && !c->v[i].dead) {
			c->v[i].refs++;
			void *have = c->v[i].h;
			pthread_mutex_unlock(&c->lock);
			c->close(h);
			return have;
		}
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		struct shmkit__idcache_entry *n = realloc(c->v, ncap * sizeof(*n));
		if (n == NULL) {
			pthread_mutex_unlock(&c->lock);
			return h; /* uncached: release() closes it */
		}
		c->v = n;
		c->cap = ncap;
	}
	c->v[c->n++] = (struct shmkit__idcache_entry){.id = id, .dead = 0, .refs = 1, .h = h};
	pthread_mutex_unlock(&c->lock);
	return h;
}

void
shmkit__idcache_release(struct shmkit__idcache *c, void *h)
{
	/* One pass under the lock: this runs on every call. */
	int found = 0;
	lock(c);
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].h == h) {
			c->v[i].refs--;
			found = 1;
			if (c->v[i].dead && c->v[i].refs == 0) {
				compact_locked(c);
			}
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (!found) {
		c->close(h);
	}
}

void
shmkit__idcache_forget(struct shmkit__idcache *c, int id)
{
	lock(c);
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].id == id) {
			c->v[i].dead = 1;
		}
	}
	compact_locked(c);
	pthread_mutex_unlock(&c->lock);
}
