/* SPDX-License-Identifier: MIT */
/* shmkit/queue.h - typed message queue with System V msgsnd/msgrcv semantics. */
#ifndef SHMKIT_QUEUE_H
#define SHMKIT_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <shmkit/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A multi-producer, multi-consumer queue of typed messages in a shmkit
 * segment (kind SHMKIT_KIND_QUEUE), named by a segment spec (posix:NAME by
 * default). Semantics are those of System V msgsnd(2)/msgrcv(2): a message
 * has a type > 0; msgtyp 0 receives the first message, msgtyp > 0 the first
 * of that type (with SHMKIT_QUEUE_F_EXCEPT the first of another type),
 * msgtyp < 0 the first of the lowest type <= |msgtyp|; capacity is bounded
 * by total bytes, message size and message count; a full or empty queue
 * blocks, fails with -EAGAIN (NOWAIT) or until a deadline.
 *
 * A message is in the queue whole or not at all, whatever process dies
 * where: a sender's space is claimed, filled outside any lock and then
 * committed; a claimer that died is detected and its claim reclaimed, and
 * one that was only slow is fenced: its late commit fails with -ESTALE.
 * A claim may be fenced once it is older than 2 seconds, when a sender
 * finds the queue full or a waiter re-checks it (every 100 ms). A fenced
 * claim stops counting against the limits at once; its slot is reused only
 * after the claimer came back or died, so a late writer never tears
 * another message. Messages are ordered at commit, so a slow sender never
 * holds up the messages of others.
 *
 * Storage: each message occupies a fixed slot of max_msg_size bytes (rounded
 * up to 64), max_msgs + 4 slots in all; the byte limit counts payload bytes.
 * Choose max_msgs and max_msg_size accordingly.
 *
 * Deadlines are absolute CLOCK_MONOTONIC (NULL: none). Handles are
 * process-local and thread-safe. fork(): a child may use the parent's
 * handle. exec(): nothing is inherited.
 */

enum { SHMKIT_KIND_QUEUE = 3 };

/* Flags of send/recv (bitmask). */
#define SHMKIT_QUEUE_F_NOWAIT        (1u << 0) /* -EAGAIN (send) / -ENOMSG (recv) instead of waiting */
#define SHMKIT_QUEUE_F_NOERROR       (1u << 1) /* recv: truncate instead of -E2BIG */
#define SHMKIT_QUEUE_F_EXCEPT        (1u << 2) /* recv, msgtyp > 0: first message NOT of that type */
#define SHMKIT_QUEUE_F_COPY          (1u << 3) /* recv: copy the message at position msgtyp, keep it */
#define SHMKIT_QUEUE_F_INTERRUPTIBLE (1u << 4) /* a signal ends a wait with -EINTR */
/*
 * How a blocked call waits. The default spins for about 20 us, then sleeps
 * in the kernel (futex); a peer that is awake is caught without a system
 * call on either side. SPIN never sleeps (lowest latency, burns a CPU);
 * SLEEP sleeps at once (no CPU while waiting).
 */
#define SHMKIT_QUEUE_F_SPIN  (1u << 5)
#define SHMKIT_QUEUE_F_SLEEP (1u << 6)

/** Creation options; start from shmkit_queue_opts_init(). */
typedef struct shmkit_queue_opts {
	uint64_t max_bytes;    /* msg_qbytes: total payload bytes (default 16384, as MSGMNB) */
	uint32_t max_msg_size; /* largest message (default 8192, as MSGMAX) */
	uint32_t max_msgs;     /* most messages at once (default max_bytes / 16, >= 1) */
	uint32_t mode;         /* permission bits, default 0600 */
	uint32_t flags;        /* reserved, 0 */
	uint64_t reserved_[6];
} shmkit_queue_opts;

typedef struct shmkit_queue shmkit_queue;

/** msqid_ds-like description (shmkit_queue_stat). */
typedef struct shmkit_queue_info {
	uint64_t count;     /* messages in the queue (msg_qnum) */
	uint64_t bytes;     /* payload bytes in the queue (msg_cbytes) */
	uint64_t max_bytes; /* msg_qbytes */
	uint32_t max_msg_size;
	uint32_t max_msgs;
	int32_t last_send_pid;       /* msg_lspid, 0 none */
	int32_t last_recv_pid;       /* msg_lrpid, 0 none */
	int64_t stime, rtime, ctime; /* last send, receive, change; s since the epoch */
	uint32_t waiting_senders, waiting_receivers;
	uint32_t dead_claims; /* claims of dead senders not yet reclaimed */
	uint32_t mode, uid, gid, cuid, cgid;
	int32_t removed;
	uint32_t repairs; /* times an inconsistent index was rebuilt (a stray write) */
	uint32_t reserved32_;
	uint64_t reserved_[5];
} shmkit_queue_info;

/** A message loaned in place (zero-copy send or receive). */
typedef struct shmkit_queue_loan {
	void *data; /* where to write (send) or read (receive) */
	size_t len; /* its length */
	long type;  /* receive: the message's type */
	uint64_t priv_[4];
} shmkit_queue_loan;

/** shmkit_queue_opts_init() - the defaults above. */
SHMKIT_API void shmkit_queue_opts_init(shmkit_queue_opts *opts);

/**
 * shmkit_queue_create() - create a queue, exclusively.
 * Return: 0; -EINVAL (bad spec or limits: max_bytes 0, max_msg_size 0 or
 * over max_bytes, max_msgs 0); -EEXIST; the errors of shmkit_segment_create().
 */
SHMKIT_API int shmkit_queue_create(shmkit_queue **out, const char *spec,
				   const shmkit_queue_opts *opts);

/**
 * shmkit_queue_open() - open an existing queue.
 * Return: 0; -ENOENT; -EACCES; -EPROTOTYPE (not a queue); -EBADMSG
 * (corrupted); -EIDRM (removed); the errors of shmkit_segment_open().
 */
SHMKIT_API int shmkit_queue_open(shmkit_queue **out, const char *spec);

/** shmkit_queue_open_or_create() - 1 if created, 0 if opened, or -errno. */
SHMKIT_API int shmkit_queue_open_or_create(shmkit_queue **out, const char *spec,
					   const shmkit_queue_opts *opts);

/** shmkit_queue_close() - close the handle (NULL accepted). */
SHMKIT_API int shmkit_queue_close(shmkit_queue *q);

/**
 * shmkit_queue_remove() - IPC_RMID: mark removed (every blocked caller and
 * later caller gets -EIDRM), remove the name, close the handle.
 *
 * The name is removed only while it still names this queue and only if the
 * caller may remove it (in a sticky /dev/shm, the file's owner or root); a
 * name left behind opens as removed (-EIDRM) until its owner removes it.
 *
 * Return: 0 (removed; the handle is closed); -EIDRM (removed before: the
 * handle is closed); -EPERM (neither owner nor creator nor privileged),
 * -EBADMSG, -ENOTRECOVERABLE or -EINVAL: the handle stays open.
 */
SHMKIT_API int shmkit_queue_remove(shmkit_queue *q);

/**
 * shmkit_queue_send() - msgsnd: append a message of @type (> 0).
 * Return: 0; -EINVAL (type <= 0, or len > max_msg_size as msgsnd's EINVAL);
 * -EAGAIN (full, NOWAIT); -ETIMEDOUT; -EINTR (INTERRUPTIBLE); -EIDRM;
 * -EACCES; -EFAULT (data NULL with len > 0); -EBADMSG (corrupted).
 * If this sender is fenced (stopped for longer than the bound while its
 * claim was pending), it sends again: the message is sent once.
 */
SHMKIT_API int shmkit_queue_send(shmkit_queue *q, long type, const void *data, size_t len,
				 unsigned flags, const struct timespec *deadline);

/**
 * shmkit_queue_recv() - msgrcv: take (or with COPY, copy) a message
 * selected by @msgtyp into @buf.
 * @type: receives the message's type; may be NULL.
 * Return: the message length (>= 0); -E2BIG (longer than @cap, without
 * NOERROR); -ENOMSG (none and NOWAIT; with COPY, no message at that
 * position); -ETIMEDOUT; -EINTR; -EIDRM; -EINVAL (COPY with EXCEPT, or
 * COPY without NOWAIT, as the kernel); -EACCES; -EFAULT; -EBADMSG.
 */
SHMKIT_API ssize_t shmkit_queue_recv(shmkit_queue *q, void *buf, size_t cap, long msgtyp,
				     long *type, unsigned flags, const struct timespec *deadline);

/**
 * shmkit_queue_reserve() - zero-copy send, step 1: claim room for @len
 * bytes in place; write loan->data, then commit or abort.
 * Return: 0 or as shmkit_queue_send().
 */
SHMKIT_API int shmkit_queue_reserve(shmkit_queue *q, size_t len, shmkit_queue_loan *loan,
				    unsigned flags, const struct timespec *deadline);

/**
 * shmkit_queue_commit() - publish a reserved message with @type (> 0).
 * Return: 0; -ESTALE (the claim was fenced: this sender was too slow and
 * its room was reclaimed; the message was not sent); -EINVAL; -EIDRM.
 */
SHMKIT_API int shmkit_queue_commit(shmkit_queue *q, shmkit_queue_loan *loan, long type);

/** shmkit_queue_abort() - give a reservation back unsent.
 * Return: 0 (also when it was fenced meanwhile); -EINVAL (not a live
 * reservation of this queue); -EBADMSG. */
SHMKIT_API int shmkit_queue_abort(shmkit_queue *q, shmkit_queue_loan *loan);

/**
 * shmkit_queue_recv_loan() - zero-copy receive: select as recv does and
 * lend the message in place; it leaves the queue at once (count, bytes) but
 * its room is held until released. A loan of a thread that exits without
 * releasing it is reclaimed. COPY and NOERROR are refused (-EINVAL).
 * Return: the length, or as shmkit_queue_recv().
 */
SHMKIT_API ssize_t shmkit_queue_recv_loan(shmkit_queue *q, long msgtyp, shmkit_queue_loan *loan,
					  unsigned flags, const struct timespec *deadline);

/** shmkit_queue_release() - end a receive loan (the message is gone).
 * Return: 0; -EINVAL (not a live loan of this queue: released already,
 * forged); -EBADMSG. */
SHMKIT_API int shmkit_queue_release(shmkit_queue *q, shmkit_queue_loan *loan);

/** shmkit_queue_stat() - IPC_STAT. Return 0, -EACCES, -EIDRM, -EBADMSG. */
SHMKIT_API int shmkit_queue_stat(shmkit_queue *q, shmkit_queue_info *info);

/**
 * shmkit_queue_set() - IPC_SET: the byte limit (0: keep), mode, owner
 * (SHMKIT_PERM_KEEP from segment.h: keep).
 * Return: 0, -EPERM, -EINVAL.
 */
SHMKIT_API int shmkit_queue_set(shmkit_queue *q, uint64_t max_bytes, long mode, long uid, long gid);

/*
 * POSIX mq_* style: priorities 0..SHMKIT_MQ_PRIO_MAX-1, highest first, FIFO
 * within one priority, as mq_receive(3). Mapped onto types: a message of
 * priority p has type SHMKIT_MQ_PRIO_MAX - p, and receiving takes msgtyp
 * -SHMKIT_MQ_PRIO_MAX (the lowest type, so the highest priority, first).
 */
#define SHMKIT_MQ_PRIO_MAX 32768

SHMKIT_API int shmkit_queue_mq_send(shmkit_queue *q, const void *data, size_t len, unsigned prio,
				    unsigned flags, const struct timespec *deadline);
SHMKIT_API ssize_t shmkit_queue_mq_receive(shmkit_queue *q, void *buf, size_t cap, unsigned *prio,
					   unsigned flags, const struct timespec *deadline);

#ifdef __cplusplus
}
#endif
#endif /* SHMKIT_QUEUE_H */
