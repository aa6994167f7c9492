/* SPDX-License-Identifier: MIT */
/* Private to the sync layer: what the System V drop-in (sysv_sem.c) needs of semset.c. */
#ifndef SHMKIT_SEMSET_IMPL_H
#define SHMKIT_SEMSET_IMPL_H

#include <stdint.h>

#include <shmkit/semset.h>

/*
 * Create a set as shmkit_semset_create() does, recording the System V id and
 * key it stands for (id -1 and key 0 for a set that is not a drop-in set).
 */
int shmkit__semset_create_ex(shmkit_semset **out, const char *spec, unsigned nsems, unsigned mode,
			     int32_t sysv_id, uint32_t sysv_key);

/* The id and key recorded at creation (immutable, validated at open). */
int32_t shmkit__semset_sysv_id(const shmkit_semset *s);
uint32_t shmkit__semset_sysv_key(const shmkit_semset *s);
unsigned shmkit__semset_nsems(const shmkit_semset *s);

/* The descriptor of the segment behind the set (owned by the handle). */
int shmkit__semset_fd(const shmkit_semset *s);

/* 1 once IPC_RMID was done on the set, else 0 (a lock-free read). */
int shmkit__semset_removed(const shmkit_semset *s);

/*
 * The kernel's ipcperms() for semget(): may the caller have the access that
 * the permission bits of @flg ask for? Return 0, -EACCES, -EIDRM, or an
 * error of the set's lock (-EBADMSG, -ENOTRECOVERABLE).
 */
int shmkit__semset_access(shmkit_semset *s, int flg);

/*
 * IPC_RMID without removing any name: mark the set removed and fail every
 * waiter with -EIDRM. Return 0, -EPERM, -EIDRM (already removed), or an
 * error of the set's lock.
 */
int shmkit__semset_mark_removed(shmkit_semset *s);

/* shmkit_semset_stat(), with the read permission checked only if @check
 * (SEM_STAT_ANY does not check it). */
int shmkit__semset_stat(shmkit_semset *s, shmkit_semset_info *info, int check);

/* Drop the process's cached credentials (after a change of uid or gid). */
void shmkit__semset_creds_changed(void);

#endif
