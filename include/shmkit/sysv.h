/* SPDX-License-Identifier: MIT */
/* shmkit/sysv.h - drop-in replacements for the System V semaphore and message queue calls. */
#ifndef SHMKIT_SYSV_H
#define SHMKIT_SYSV_H

#include <stddef.h>
#include <sys/ipc.h>
#include <sys/msg.h>
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
 *    EACCES is reported; a process that changes its credentials while it
 *    uses sets or queues calls shmkit_credentials_changed() (shmkit/common.h)
 *    afterwards; the preload shim does so in its setuid() and the rest of
 *    the set*id() family and setgroups().
 *  - A corrupted set fails with EINVAL (as if it did not exist).
 *  - A blocked semop() of a process that is stopped (SIGSTOP, SIGTSTP) and
 *    continued keeps waiting; the kernel's fails with EINTR then even with
 *    no handler installed, which a library cannot observe. A signal caught
 *    by a handler ends the wait with EINTR, as in the kernel, except one
 *    that arrives in the few instructions between the call counting itself
 *    as a waiter (GETNCNT, GETZCNT) and its sleep: its handler runs and the
 *    wait goes on, as it would for a signal just before the kernel's call
 *    (only the kernel's count is not visible that early).
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

/*
 * The System V message queue calls (msgget, msgsnd, msgrcv, msgctl) with the
 * same signatures, struct msgbuf layout (long mtype; char mtext[]), flags
 * (IPC_NOWAIT, MSG_NOERROR, MSG_EXCEPT, MSG_COPY), return values and errno
 * values as the kernel's, on shmkit queues (shmkit/queue.h). Each returns -1
 * and sets errno on failure, as the originals do.
 *
 * What they stand on:
 *  - A queue with id ID is the posix shmkit object /dev/shm/shmkit.msqid.ID.
 *    Its index IDX = ID % 32768 (0..SHMKIT_MSGMNI-1, the lowest free one at
 *    creation) is claimed by the small file /dev/shm/shmkit.msqidx.IDX,
 *    created exclusively and holding "ID KEY CREATOR"; ID = IDX + 32768 * SEQ with
 *    SEQ (1..65535) drawn at creation, so a stale id is refused with EINVAL.
 *  - A queue with a key also has /dev/shm/shmkit.msqkey.0xKKKKKKKK, a
 *    symbolic link to the queue's name made once the queue is complete;
 *    symlink() never replaces a name, so of racing IPC_CREAT | IPC_EXCL
 *    callers exactly one wins.
 *  - Limits are the kernel's defaults: msg_qbytes starts at msgmnb and the
 *    largest message is msgmax (both from /proc/sys/kernel when readable,
 *    else 16384 and 8192); a queue holds at most msg_qbytes messages, as
 *    the kernel's (16384 empty ones by default), and at most
 *    SHMKIT_MSGMAXCOUNT whatever msgmnb says. A queue is made for the
 *    msgmnb of its creation (about 4 MiB of /dev/shm at the default): if
 *    IPC_SET later raises msg_qbytes above it (root only, CAP_SYS_RESOURCE),
 *    the count stays within that msgmnb and messages over 64 bytes within
 *    what it holds; beyond, msgsnd waits (or EAGAIN) as for a full queue.
 *  - Checks come in the kernel's order: msgsnd() reads mtype first (EFAULT
 *    for a NULL msgp), then refuses msgsz over msgmax, a negative id and
 *    mtype < 1 with EINVAL. msgrcv() refuses a negative id or size, then
 *    MSG_COPY with MSG_EXCEPT or without IPC_NOWAIT (EINVAL); with a NULL
 *    msgp the selected message is taken and EFAULT returned, as the
 *    kernel does; MSG_COPY | MSG_NOERROR with a buffer shorter than the
 *    message fails with EINVAL, as the kernel's copy does.
 *  - A blocked msgsnd() or msgrcv() sleeps; a signal caught by a handler
 *    ends it with EINTR; removal wakes it with EIDRM. A call on a queue
 *    removed before the call fails with EINVAL.
 *  - IPC_RMID removes the queue (sleepers get EIDRM) and then its names.
 *    MSG_STAT and MSG_STAT_ANY take an index and return the id; IPC_INFO
 *    and MSG_INFO return the highest index in use (0 if none), with
 *    MSG_INFO's msgpool, msgmap and msgtql counting shmkit's queues,
 *    messages and bytes.
 *  - msgget() checks the mode as the kernel's ipcperms() does; msgsnd(),
 *    msgrcv() and IPC_STAT check it again, as the kernel does; credentials
 *    are cached as for the semaphore sets (above: after a change of
 *    credentials call shmkit_credentials_changed()).
 *  - The queue's file grants read-write to every class the queue's mode
 *    grants anything (even reading takes the queue's lock); IPC_SET keeps
 *    it so (while the caller may change the file's mode: its creator or
 *    root), opening it to group and other when the owner or group differs
 *    from the creator's, since the library enforces the queue's own mode.
 *    A user the file refuses (the mode grants its class nothing) gets the
 *    kernel's answers: msgget() with no permission bits returns the id,
 *    the calls that need access fail with EACCES, IPC_SET and IPC_RMID
 *    with EPERM; but MSG_STAT_ANY fails with EACCES (the kernel answers:
 *    shmkit cannot read a file it may not open).
 *  - In the sticky /dev/shm only a name's owner removes it. When root gives
 *    a queue to another owner with IPC_SET, the names are handed over too,
 *    so the new owner's IPC_RMID removes everything; when another owner
 *    gives it away, IPC_RMID by the new owner removes the queue (every
 *    caller then gets EIDRM or EINVAL) but its names stay until the creator
 *    or root removes them (shmkit rm).
 *  - Nothing is shared with the kernel's queues: ids, keys, ipcs(1) and
 *    /proc/sysvipc/msg are separate; every process that shares a key must
 *    use these functions or run under the preload shim
 *    (libshmkit-preload.so, shmkit-preload(7)), which defines msgget,
 *    msgsnd, msgrcv, msgctl, semget, semop, semtimedop and semctl over
 *    them; calls made through raw syscall() and what /proc/sysvipc shows
 *    stay the kernel's even then.
 *  - A process that dies between claiming an index and creating the
 *    queue, or between removing the queue and its claim, leaves the claim
 *    behind. A claim names its creator (a liveness token): when the
 *    indices run out, a claim without a queue, or with a queue its creator
 *    never finished, is removed (with that queue) once its creator is dead;
 *    one that names nobody (an older library's) once older than 60 s.
 *
 * Thread-safe. A child of fork() may keep using the parent's ids.
 */

/** Number of queues (indices) shmkit allows, as the kernel's MSGMNI. */
#define SHMKIT_MSGMNI 32000

/** Most messages a queue of shmkit_msgget() holds at once, whatever
 * msgmnb says (see above; the kernel's default msgmnb is 16384). */
#define SHMKIT_MSGMAXCOUNT 65536

/**
 * shmkit_msgget() - msgget(2): get (and with IPC_CREAT, create) a queue.
 * Return: the id (>= 0), or -1 with errno EACCES, EEXIST, ENOENT, ENOSPC
 * (every index in use, or no room in /dev/shm), ENOMEM.
 */
SHMKIT_API int shmkit_msgget(key_t key, int msgflg);

/**
 * shmkit_msgsnd() - msgsnd(2): append the message at @msgp (struct msgbuf:
 * long mtype, then @msgsz bytes of text). Flags: IPC_NOWAIT.
 * Return: 0, or -1 with errno EACCES, EAGAIN (full, IPC_NOWAIT), EFAULT
 * (@msgp NULL), EIDRM (removed while blocked), EINTR, EINVAL (no such
 * queue, mtype < 1, msgsz over msgmax), ENOMEM.
 */
SHMKIT_API int shmkit_msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg);

/**
 * shmkit_msgrcv() - msgrcv(2): take the message selected by @msgtyp (0:
 * the first; > 0: the first of that type, or with MSG_EXCEPT of another;
 * < 0: the first of the lowest type <= |msgtyp|; with MSG_COPY, the one at
 * position @msgtyp, left in place) into @msgp.
 * Return: the bytes of text stored, or -1 with errno E2BIG (longer than
 * @msgsz without MSG_NOERROR), EACCES, EFAULT, EIDRM, EINTR, EINVAL (no
 * such queue, @msgsz negative, MSG_COPY misuse), ENOMSG (none, IPC_NOWAIT).
 */
SHMKIT_API ssize_t shmkit_msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg);

/**
 * shmkit_msgctl() - msgctl(2): IPC_STAT, IPC_SET, IPC_RMID, IPC_INFO,
 * MSG_INFO (@buf is then a struct msginfo *), MSG_STAT, MSG_STAT_ANY.
 * Return: 0, an index (IPC_INFO, MSG_INFO) or an id (MSG_STAT*), or -1
 * with errno EACCES, EFAULT (NULL @buf), EIDRM, EINVAL (no such queue or
 * command), EPERM (IPC_SET/IPC_RMID by neither owner nor creator nor root;
 * msg_qbytes over msgmnb without privilege).
 */
SHMKIT_API int shmkit_msgctl(int msqid, int cmd, struct msqid_ds *buf);

#ifdef __cplusplus
}
#endif
#endif /* SHMKIT_SYSV_H */
