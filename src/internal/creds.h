/* SPDX-License-Identifier: MIT */
/* The caller's credentials for System V style permission checks (private). */
#ifndef SHMKIT_INTERNAL_CREDS_H
#define SHMKIT_INTERNAL_CREDS_H

#include <stdint.h>
#include <sys/types.h>

/* What the kernel's ipcperms() and capable() look at. */
struct shmkit__creds {
	uid_t euid;
	gid_t egid;
	int ngroups;
	gid_t groups[64];
	int cap_ipc_owner; /* CAP_IPC_OWNER: bypasses the mode */
	int cap_sys_admin; /* CAP_SYS_ADMIN: IPC_SET/IPC_RMID of others' objects */
	pid_t pid;
};

/*
 * Copy the cached credentials into @out, reading them from the system
 * first if they were dropped; return the epoch they belong to (never 0).
 * Thread-safe. Cached per process: a forked child reads its own.
 */
uint32_t shmkit__creds_get(struct shmkit__creds *out);

/* The epoch of the cached credentials, 0 when none are cached: permission
 * caches keyed by it are valid while it is unchanged. */
uint32_t shmkit__creds_epoch(void);

/* Drop the cache: the process changed its ids, groups or capabilities. */
void shmkit__creds_changed(void);

/* getpid() of the calling process, cached (reset in a forked child). */
pid_t shmkit__self_pid(void);

/* Is @gid the effective or a supplementary group of @c? */
int shmkit__creds_in_group(const struct shmkit__creds *c, uint32_t gid);

#endif
