/* SPDX-License-Identifier: MIT */
/* shmkit/sysv.h - drop-in replacements for semget, semop, semtimedop and semctl. */
#ifndef SHMKIT_SYSV_H
#define SHMKIT_SYSV_H

#include <stddef.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/types.h>
#include <time.h>

#include <shmkit/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The System V semaphore calls with the same signatures, flags, return
 * values and errno values as the kernel's, on shmkit semaphore sets
 * (shmkit/semset.h): a program ports by adding the prefix. They are the one
 * place where shmkit reports through errno, because the originals do: each
 * returns -1 and sets errno on failure.
 *
 * What they stand on:
 *  - A set is a posix shmkit object /dev/shm/shmkit.semid.IDX, where IDX
 *    (0..SHMKIT_SEMMNI-1) is the set's index, the lowest free one at
 *    creation. Its id is IDX + 32768 * SEQ, as the kernel builds ids, with
 *    SEQ (1..65535) drawn at creation, so a stale id of a removed set is
 *    refused with EINVAL rather than reaching a later set at the same index.
 *  - A set with a key (not IPC_PRIVATE) also has the name
 *    /dev/shm/shmkit.semkey.0xKKKKKKKK, a hard link to the same object
 *    made once the set is complete; link() never replaces a name, so of
 *    racing IPC_CREAT | IPC_EXCL callers exactly one wins.
 *  - IPC_RMID marks the set removed (sleepers get EIDRM, later calls
 *    EINVAL) and removes both names.
 *  - SEM_STAT and SEM_STAT_ANY take an index IDX and return the id;
 *    IPC_INFO and SEM_INFO return the highest index in use (0 if none).
 *  - The set's mode is checked as the kernel checks it (owner or creator,
 *    then group, then other; CAP_IPC_OWNER bypasses). The object's file
 *    mode grants read-write to every class the set's mode grants anything
 *    (even reading takes the set's lock), so a user whom the file refuses
 *    altogether gets EACCES from semget() itself, where the kernel would
 *    return the id and refuse each later call.
 *  - Credentials are sampled (geteuid, getegid, getgroups, capabilities)
 *    when a set is created or opened, after fork(), and again before an
 *    EACCES is reported; a process that drops privileges while it already
 *    uses a set should call semget() again, which resamples them.
 *  - A corrupted set fails with EINVAL (as if it did not exist).
 *  - A blocked semop() of a process that is stopped (SIGSTOP, SIGTSTP) and
 *    continued keeps waiting; the kernel's fails with EINTR then even with
 *    no handler installed, which a library cannot observe. A signal caught
 *    by a handler ends the wait with EINTR, as in the kernel.
 *  - Nothing is shared with the kernel's own semaphore sets: ids, keys and
 *    ipcs(1) are separate; every process that shares a key must use these
 *    functions.
 *
 * Thread-safe. A child of fork() may keep using the parent's ids; SEM_UNDO
 * adjustments are per process (a child starts with none), as in the kernel.
 */

/** Number of sets (indices) shmkit allows, as the kernel's SEMMNI. */
#define SHMKIT_SEMMNI 32000

/**
 * shmkit_semget() - get (and with IPC_CREAT, create) a semaphore set.
 * @key:    IPC_PRIVATE or a key.
 * @nsems:  0..SHMKIT_SEMMSL; 1 or more to create.
 * @semflg: IPC_CREAT, IPC_EXCL, and permission bits (the new set's mode;
 *          for an existing set, the access asked for).
 *
 * Return: the set's id (>= 0), or -1 with errno EACCES, EEXIST, ENOENT,
 * EINVAL (nsems out of range, 0 on creation, or more than the existing
 * set has), ENOSPC (every index in use, or no room in /dev/shm), ENOMEM.
 */
SHMKIT_API int shmkit_semget(key_t key, int nsems, int semflg);

/**
 * shmkit_semop() - semop(2): apply @nsops operations atomically.
 * @sops: not NULL (EFAULT); operations as struct sembuf, with IPC_NOWAIT
 *        and SEM_UNDO.
 *
 * Return: 0, or -1 with errno E2BIG, EACCES, EAGAIN, EFAULT, EFBIG, EIDRM
 * (removed while blocked), EINTR (a signal interrupted a blocked call),
 * EINVAL (no such set, or nsops 0), ENOSPC (no room for a SEM_UNDO record:
 * 256 processes per set hold adjustments), ERANGE.
 */
SHMKIT_API int shmkit_semop(int semid, struct sembuf *sops, size_t nsops);

/**
 * shmkit_semtimedop() - semtimedop(2): as shmkit_semop(), waiting at most
 * @timeout (relative, measured on CLOCK_MONOTONIC; NULL waits as long as
 * it takes). Return: as shmkit_semop(); EAGAIN when the time ran out;
 * EINVAL for an invalid @timeout.
 */
SHMKIT_API int shmkit_semtimedop(int semid, struct sembuf *sops, size_t nsops,
				 const struct timespec *timeout);

/**
 * shmkit_semctl() - semctl(2): IPC_STAT, SEM_STAT, SEM_STAT_ANY, IPC_SET,
 * IPC_RMID, IPC_INFO, SEM_INFO, GETVAL, SETVAL, GETALL, SETALL, GETPID,
 * GETNCNT, GETZCNT.
 * @...: union semun, as the command needs it (as the caller defines it).
 *
 * Return: as semctl(2) (a value, an id, an index, or 0), or -1 with errno
 * EACCES, EFAULT (a NULL buf or array), EIDRM, EINVAL (no such set or
 * command, semnum out of range), EPERM (IPC_SET/IPC_RMID by neither owner,
 * creator nor a privileged process), ERANGE (a value over SEMVMX).
 */
SHMKIT_API int shmkit_semctl(int semid, int semnum, int cmd, ...);

#ifdef __cplusplus
}
#endif
#endif /* SHMKIT_SYSV_H */
