/* SPDX-License-Identifier: MIT */
/* shmkit/semset.h - System V semaphore sets (semop with SEM_UNDO) in shared memory. */
#ifndef SHMKIT_SEMSET_H
#define SHMKIT_SEMSET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <shmkit/common.h>
#include <shmkit/segment.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A set of N semaphores with the semantics of System V semop(2) and
 * semctl(2), kept in a shmkit segment (kind SHMKIT_KIND_SEMSET) named by a
 * spec as in segment.h (posix:NAME by default). An operation array is
 * applied atomically, all or none; a process that dies holding SEM_UNDO
 * adjustments has them applied by whoever notices its death first. The
 * uncontended semop makes no system call.
 *
 * Values are 0..SHMKIT_SEMVMX (32767, as the kernel's SEMVMX); at most
 * SHMKIT_SEMOPM operations per call and SHMKIT_SEMMSL semaphores per set.
 * Process-local handles; any number of threads may use one handle.
 * fork(): a child may keep using the parent's handle (the mapping is
 * inherited), and starts with no undo adjustments, as in the kernel.
 * exec(): handles are lost; adjustments stay with the process (as in the
 * kernel) and are applied when it ends.
 *
 * Permissions are checked against credentials sampled when a set is
 * created or opened, after fork(), and again before -EACCES is returned;
 * a process that gives up privileges while using a set should reopen it.
 *
 * The layout in shared memory is described in docs/SEMSET.md.
 */

enum { SHMKIT_KIND_SEMSET = 2 };

#define SHMKIT_SEMVMX 32767
#define SHMKIT_SEMOPM 500
#define SHMKIT_SEMMSL 32000
#define SHMKIT_SEMAEM SHMKIT_SEMVMX

/** One operation, laid out as struct sembuf. */
typedef struct shmkit_sembuf {
	unsigned short sem_num;
	short sem_op;
	short sem_flg; /* SHMKIT_IPC_NOWAIT, SHMKIT_SEM_UNDO (same values as IPC_NOWAIT, SEM_UNDO)
			*/
} shmkit_sembuf;

#define SHMKIT_IPC_NOWAIT 04000
#define SHMKIT_SEM_UNDO   0x1000

/** Flags of shmkit_semset_op(). */
#define SHMKIT_SEMSET_F_INTERRUPTIBLE (1u << 0) /* a signal ends a wait with -EINTR */

typedef struct shmkit_semset shmkit_semset;

/** semid_ds-like description (shmkit_semset_stat). */
typedef struct shmkit_semset_info {
	uint32_t nsems;
	uint32_t mode;
	uint32_t uid, gid, cuid, cgid;
	int64_t otime; /* last semop, s since the epoch; 0 never */
	int64_t ctime; /* creation or last change by setval/setall/set_perm */
	int32_t removed;
	uint32_t undo_records;      /* processes with pending SEM_UNDO adjustments */
	uint32_t dead_undo_records; /* of them, dead and not yet applied */
	uint32_t waiters;           /* queued (sleeping) operations */
	/* The set's internal lock as this call found it, before taking it:
	 * the holder's pid (-1: free) and whether it is alive (a dead holder's
	 * lock is recovered by this very call, its journal replayed). */
	int32_t lock_holder_pid;
	int32_t lock_holder_alive;
	uint32_t reserved_[4];
} shmkit_semset_info;

/**
 * shmkit_semset_create() - create a set of @nsems semaphores, all 0.
 * @out:   receives the handle; not NULL. Set only on success.
 * @spec:  where (a segment spec, segment.h; posix:NAME is the usual one);
 *         not NULL.
 * @nsems: 1..SHMKIT_SEMMSL.
 * @mode:  permission bits (0..0777), checked on every call as the kernel
 *         checks a set's mode: read to look (GETVAL, GETALL, stat, and
 *         semop with only sem_op == 0), alter to change. The caller's
 *         effective uid and gid become owner and creator.
 *
 * The segment is created exclusively (kind SHMKIT_KIND_SEMSET); its file
 * mode grants read-write to every class the set's @mode grants anything.
 * Return: 0, -EINVAL (NULL pointer, @nsems or @mode out of range), -EEXIST,
 * -ENOMEM, and the errors of shmkit_segment_create().
 * Thread-safe.
 */
SHMKIT_API int shmkit_semset_create(shmkit_semset **out, const char *spec, unsigned nsems,
				    unsigned mode);

/**
 * shmkit_semset_open() - open an existing set.
 * @out:  receives the handle; not NULL. Set only on success.
 * @spec: not NULL.
 *
 * Objects of another owner are accepted (the set's mode decides what the
 * caller may do); an opener waits (up to 2 s) for a creator still filling
 * the set. The caller's credentials are sampled again.
 * Return: 0, -EINVAL, -ENOENT, -EACCES (the file refuses us),
 * -EPROTOTYPE (not a semaphore set), -EPROTO (other layout version),
 * -EBADMSG (corrupted), -EIDRM (removed), -EOWNERDEAD (its creator died
 * before finishing it), -ETIMEDOUT, -ENOMEM, and the errors of
 * shmkit_segment_open().
 * Thread-safe.
 */
SHMKIT_API int shmkit_semset_open(shmkit_semset **out, const char *spec);

/**
 * shmkit_semset_close() - unmap the set and free the handle. The set and
 * this process's SEM_UNDO adjustments stay (they are applied when the
 * process ends, as in the kernel).
 * @s: a handle, or NULL (nothing happens).
 * Return: 0, or an error of shmkit_segment_close() (the handle is freed
 * anyway). Call once no other thread uses the handle.
 */
SHMKIT_API int shmkit_semset_close(shmkit_semset *s);

/**
 * shmkit_semset_remove() - IPC_RMID: mark the set removed (every sleeper
 * and every later call gets -EIDRM), remove its name if it still names this
 * set, and close the handle.
 * @s: not NULL.
 * Return: 0; -EPERM (neither owner nor creator, nor CAP_SYS_ADMIN: the
 * handle stays open); -EIDRM (already removed; handle closed); -EINVAL
 * (NULL); -EBADMSG, -ENOTRECOVERABLE (corrupted set: handle stays open).
 */
SHMKIT_API int shmkit_semset_remove(shmkit_semset *s);

/**
 * shmkit_semset_op() - semop/semtimedop: apply @nops operations atomically.
 * @s:        not NULL.
 * @ops:      @nops operations (not NULL; read before the call returns, not
 *            kept). sem_op > 0 adds, < 0 takes (waiting while the value is
 *            too small), == 0 waits for zero; SHMKIT_IPC_NOWAIT fails with
 *            -EAGAIN instead of waiting; SHMKIT_SEM_UNDO records the
 *            opposite adjustment, applied when this process ends (however
 *            it ends) by whoever notices its death first.
 * @nops:     1..SHMKIT_SEMOPM.
 * @deadline: absolute CLOCK_MONOTONIC, or NULL to wait as long as it takes.
 * @flags:    0 or SHMKIT_SEMSET_F_INTERRUPTIBLE (a signal ends a wait with
 *            -EINTR; otherwise waits survive signals).
 *
 * All operations happen or none. A caller that must wait is queued; an
 * operation that makes queued ones possible performs them (FIFO, as the
 * kernel's update_queue()), so a sleeper wakes with its result. Sleepers
 * wake at least every 100 ms to look for dead SEM_UNDO holders. The
 * uncontended call makes no system call.
 *
 * Return: 0; -EINVAL (NULL @s, @nops 0, bad @deadline or @flags); -E2BIG
 * (@nops > SHMKIT_SEMOPM); -EFAULT (@ops NULL); -EIDRM (removed, also while
 * waiting); -EFBIG (sem_num >= nsems); -EACCES; -ERANGE (a value or an undo
 * adjustment would leave its range); -EAGAIN (IPC_NOWAIT and it would
 * wait); -ETIMEDOUT; -EINTR (interruptible only); -ENOSPC (SEM_UNDO: the
 * set's 256 undo records are all held by live processes); -EBADMSG
 * (corrupted set); -ENOTRECOVERABLE; -ENOSPC/-EACCES from the liveness
 * table.
 * Thread-safe and process-safe.
 */
SHMKIT_API int shmkit_semset_op(shmkit_semset *s, const shmkit_sembuf *ops, size_t nops,
				const struct timespec *deadline, unsigned flags);

/*
 * The semctl() commands. Each takes @s (not NULL: -EINVAL) and returns a
 * negative errno on failure: -EIDRM (removed), -EACCES (read needed for the
 * getters and stat, alter for the setters), -EINVAL (@idx >= nsems),
 * -EBADMSG (corrupted), -ENOTRECOVERABLE. Dead processes' SEM_UNDO
 * adjustments on what a getter reads are applied first. Thread-safe and
 * process-safe.
 */

/** shmkit_semset_getval() - GETVAL: the value of semaphore @idx (>= 0). */
SHMKIT_API int shmkit_semset_getval(shmkit_semset *s, unsigned idx);

/**
 * shmkit_semset_setval() - SETVAL: set semaphore @idx to @value, clear its
 * adjustment in every undo record, wake who can now proceed.
 * Return: 0, -ERANGE (@value outside 0..SHMKIT_SEMVMX), or as above.
 */
SHMKIT_API int shmkit_semset_setval(shmkit_semset *s, unsigned idx, int value);

/** shmkit_semset_getall() - GETALL into @values (nsems entries; NULL: -EFAULT). */
SHMKIT_API int shmkit_semset_getall(shmkit_semset *s, unsigned short *values);

/**
 * shmkit_semset_setall() - SETALL from @values (nsems entries; NULL:
 * -EFAULT; any over SHMKIT_SEMVMX: -ERANGE, nothing changed); clears every
 * adjustment of every undo record.
 */
SHMKIT_API int shmkit_semset_setall(shmkit_semset *s, const unsigned short *values);

/** shmkit_semset_getpid() - GETPID: the pid of the last process to change @idx. */
SHMKIT_API int shmkit_semset_getpid(shmkit_semset *s, unsigned idx);

/**
 * shmkit_semset_getncnt() - GETNCNT: queued callers whose blocking
 * operation is a decrement of @idx. Callers whose thread died are not
 * counted (and are dropped); callers that found no queue slot (over 128
 * sleepers, or over 64 operations) poll instead and are not counted.
 */
SHMKIT_API int shmkit_semset_getncnt(shmkit_semset *s, unsigned idx);

/** shmkit_semset_getzcnt() - GETZCNT: as getncnt, for waits for zero. */
SHMKIT_API int shmkit_semset_getzcnt(shmkit_semset *s, unsigned idx);

/**
 * shmkit_semset_stat() - IPC_STAT into @info (not NULL: -EFAULT).
 * Counts dead undo records without applying them (one liveness check each).
 */
SHMKIT_API int shmkit_semset_stat(shmkit_semset *s, shmkit_semset_info *info);

/**
 * shmkit_semset_set_perm() - IPC_SET: new @mode (0..0777), owner @uid and
 * @gid, each SHMKIT_PERM_KEEP (-1) to keep. Updates ctime.
 * Return: 0, -EINVAL (out of range), -EPERM (neither owner nor creator, nor
 * CAP_SYS_ADMIN), or as above.
 */
SHMKIT_API int shmkit_semset_set_perm(shmkit_semset *s, long mode, long uid, long gid);

#ifdef __cplusplus
}
#endif
#endif /* SHMKIT_SEMSET_H */
