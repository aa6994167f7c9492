/* SPDX-License-Identifier: MIT */
/* The caller's credentials, cached per process, for ipcperms-style checks. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include <shmkit/common.h>

#include "internal/creds.h"

static pthread_mutex_t creds_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t creds_once = PTHREAD_ONCE_INIT;
static struct shmkit__creds creds_cur;
/* 0: not cached; else a generation, bumped whenever the cache is reloaded
 * (relaxed: creds_lock orders the data; readers of the epoch alone only
 * key caches with it). */
static _Atomic uint32_t creds_epoch;
static uint32_t creds_next = 1;
static _Atomic pid_t cached_pid;

static void
creds_after_fork(void)
{
	/* A new process: another pid, and credentials that may change now. */
	pthread_mutex_init(&creds_lock, NULL);
	atomic_store_explicit(&creds_epoch, 0, memory_order_relaxed);
	atomic_store_explicit(&cached_pid, 0, memory_order_relaxed);
}

static void
creds_init_once(void)
{
	pthread_atfork(NULL, NULL, creds_after_fork);
}

/* Capability bits from /proc/self/status (CapEff), as the kernel's
 * capable() would answer; euid 0 when /proc cannot tell. */
static void
load_caps(struct shmkit__creds *c)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");
	c->cap_ipc_owner = c->cap_sys_admin = (c->euid == 0);
	if (f == NULL) {
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long long v;
		if (sscanf(line, "CapEff: %llx", &v) == 1) {
			c->cap_ipc_owner = (v >> 15) & 1; /* CAP_IPC_OWNER */
			c->cap_sys_admin = (v >> 21) & 1; /* CAP_SYS_ADMIN */
			break;
		}
	}
	fclose(f);
}

uint32_t
shmkit__creds_get(struct shmkit__creds *out)
{
	pthread_once(&creds_once, creds_init_once);
	pthread_mutex_lock(&creds_lock);
	uint32_t ep = atomic_load_explicit(&creds_epoch, memory_order_relaxed);
	if (ep == 0) {
		struct shmkit__creds *c = &creds_cur;
		c->euid = geteuid();
		c->egid = getegid();
		c->ngroups = getgroups(64, c->groups);
		if (c->ngroups < 0) {
			c->ngroups = 0;
		}
		c->pid = getpid();
		load_caps(c);
		ep = creds_next++;
		if (creds_next == 0) {
			creds_next = 1;
		}
		atomic_store_explicit(&creds_epoch, ep, memory_order_relaxed);
	}
	*out = creds_cur;
	pthread_mutex_unlock(&creds_lock);
	return ep;
}

uint32_t
shmkit__creds_epoch(void)
{
	return atomic_load_explicit(&creds_epoch, memory_order_relaxed);
}

SHMKIT_API void
shmkit_credentials_changed(void)
{
	shmkit__creds_changed();
}

void
shmkit__creds_changed(void)
{
	pthread_once(&creds_once, creds_init_once);
	pthread_mutex_lock(&creds_lock);
	atomic_store_explicit(&creds_epoch, 0, memory_order_relaxed);
	pthread_mutex_unlock(&creds_lock);
}

pid_t
shmkit__self_pid(void)
{
	pid_t pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);
	if (pid == 0) {
		/* The fork handler that resets the cache must be in place. */
		pthread_once(&creds_once, creds_init_once);
		pid = getpid();
		atomic_store_explicit(&cached_pid, pid, memory_order_relaxed);
	}
	return pid;
}

int
shmkit__creds_in_group(const struct shmkit__creds *c, uint32_t gid)
{
	if (c->egid == (gid_t)gid) {
		return 1;
	}
	for (int i = 0; i < c->ngroups; i++) {
		if (c->groups[i] == (gid_t)gid) {
			return 1;
		}
	}
	return 0;
}

unsigned
shmkit__ipc_granted(const struct shmkit__creds *c, const struct shmkit__ipc_perm *p)
{
	unsigned mode = p->mode & 0777;
	if (c->euid == (uid_t)p->cuid || c->euid == (uid_t)p->uid) {
		mode >>= 6;
	} else if (shmkit__creds_in_group(c, p->cgid) || shmkit__creds_in_group(c, p->gid)) {
		mode >>= 3;
	}
	return mode & 7;
}

int
shmkit__ipc_owner_check(uint32_t uid, uint32_t cuid)
{
	struct shmkit__creds cr;
	shmkit__creds_changed();
	shmkit__creds_get(&cr);
	if (cr.euid == (uid_t)uid || cr.euid == (uid_t)cuid || cr.cap_sys_admin) {
		return 0;
	}
	return -EPERM;
}

unsigned
shmkit__ipc_file_mode(unsigned mode, int other_owner)
{
	unsigned f = 0600;
	if (mode & 0070) {
		f |= 0060;
	}
	if (mode & 0007) {
		f |= 0006;
	}
	if (other_owner && (mode & 0700)) {
		f |= 0066;
	}
	return f;
}
