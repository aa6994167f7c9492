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

/* The permission fields of a System V style object (semaphore set, queue). */
struct shmkit__ipc_perm {
	uint32_t mode, uid, gid, cuid, cgid;
};

/* The access bits (4 read, 2 write) that @p grants @c, as the kernel's
 * ipcperms(): owner or creator, else group, else other. */
unsigned shmkit__ipc_granted(const struct shmkit__creds *c, const struct shmkit__ipc_perm *p);

/* IPC_SET and IPC_RMID: owner, creator or CAP_SYS_ADMIN, with fresh
 * credentials. Return 0 or -EPERM. */
int shmkit__ipc_owner_check(uint32_t uid, uint32_t cuid);

/*
 * The file mode of an object whose own mode is @mode: read-write for every
 * class the mode grants anything (even reading takes the object's lock),
 * and for group and other too when @other_owner (the owner or group is not
 * the creator's, so the owner class reaches the file through those bits).
 * The object's own bits are then enforced by the library, as the kernel
 * does.
 */
unsigned shmkit__ipc_file_mode(unsigned mode, int other_owner);

#endif
