/* SPDX-License-Identifier: MIT */
/* shmkit_ring: a single-producer, single-consumer ring between processes. */
#ifndef SHMKIT_RING_H
#define SHMKIT_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <shmkit/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A ring carries variable-size messages (or, with SHMKIT_RING_BYTES, a byte
 * stream, as a pipe) from one producer process to one consumer process
 * through a shmkit segment (kind SHMKIT_KIND_RING) named by a segment spec
 * (posix:NAME by default). The fast path makes no system call and takes no
 * lock: the producer publishes with one store of its position, the consumer
 * hands room back with one store of its own.
 *
 * Endpoints. A handle attaches as the producer or the consumer (the role
 * argument of create/open, or shmkit_ring_attach()); each role has one
 * holder at a time (-EBUSY otherwise). A holder that dies is replaced by the
 * next process that attaches: what was committed stays, exactly once and in
 * order; what the dead producer had reserved but not committed never
 * appears; what the dead consumer had peeked but not released is delivered
 * again. A handle is used by one thread at a time. After fork() the child
 * attaches on its own (a handle's role belongs to the process that attached).
 *
 * Waiting (per endpoint, shmkit_ring_set_wait()): spin, then sleep in the
 * kernel (the default: the peer makes a system call only when this side
 * actually sleeps); spin only; or sleep at once. Calls that wait take a
 * deadline (absolute CLOCK_MONOTONIC, NULL for none) and SHMKIT_RING_F_NOWAIT.
 * A wait ends with -ECONNRESET when the peer's holder is found dead (once per
 * death: the next call waits for a replacement).
 *
 * Everything read from the shared mapping is checked: a ring corrupted by a
 * stray or hostile writer gives -EBADMSG, never a wild access.
 */

enum { SHMKIT_KIND_RING = 4 };

/* Roles: the argument of create, open and attach. */
enum {
	SHMKIT_RING_NONE = 0,     /* attach no role (stat, remove, attach later) */
	SHMKIT_RING_PRODUCER = 1, /* reserve/commit, send, write, shutdown */
	SHMKIT_RING_CONSUMER = 2, /* peek/release, recv, read */
};

/* Waiting strategies (shmkit_ring_set_wait()). */
enum {
	SHMKIT_RING_WAIT_DEFAULT = 0, /* spin about 20 us, then sleep */
	SHMKIT_RING_WAIT_SPIN = 1,    /* spin (and yield the CPU now and then) */
	SHMKIT_RING_WAIT_SLEEP = 2,   /* sleep in the kernel at once */
};

/* shmkit_ring_opts.flags */
#define SHMKIT_RING_BYTES (1u << 0) /* a byte stream: no message boundaries */

/* Call flags. */
#define SHMKIT_RING_F_NOWAIT        (1u << 0) /* -EAGAIN instead of waiting */
#define SHMKIT_RING_F_MORE          (1u << 1) /* commit: more follow, publish later */
#define SHMKIT_RING_F_INTERRUPTIBLE (1u << 2) /* a signal ends a wait with -EINTR */

typedef struct shmkit_ring_opts {
	uint64_t capacity;     /* bytes of the data area: a power of two, 4 KiB..4 GiB
				  (default 1 MiB) */
	uint64_t max_msg_size; /* largest message (default capacity / 2; at most
				  capacity - 8); ignored with SHMKIT_RING_BYTES */
	uint32_t mode;         /* permission bits, default 0600 */
	uint32_t flags;        /* SHMKIT_RING_BYTES */
	uint64_t reserved_[6];
} shmkit_ring_opts;

typedef struct shmkit_ring shmkit_ring;

typedef struct shmkit_ring_info {
	uint64_t capacity, max_msg_size;
	uint32_t flags;         /* SHMKIT_RING_BYTES */
	uint32_t eof;           /* 1: the producer shut the stream down */
	uint64_t used;          /* bytes committed and not yet released */
	uint64_t messages;      /* messages committed and not yet released (0 for bytes) */
	uint64_t sent;          /* messages (bytes) committed since creation */
	uint64_t received;      /* messages (bytes) released since creation */
	int32_t producer_pid;   /* its holder, 0 none, -1 unknown */
	int32_t producer_alive; /* 1 alive, 0 dead (replaceable), -1 none */
	int32_t consumer_pid;
	int32_t consumer_alive;
	uint32_t producer_sleeping, consumer_sleeping; /* 1: waits in the kernel */
	uint64_t reserved_[6];
} shmkit_ring_info;

/* Defaults: 1 MiB, max message capacity / 2, mode 0600, messages. */
SHMKIT_API void shmkit_ring_opts_init(shmkit_ring_opts *opts);

/* Create a ring (exclusively) and attach @role. Return 0, -EEXIST, -EINVAL
 * (bad options), -EBUSY, or as shmkit_segment_create(). */
SHMKIT_API int shmkit_ring_create(shmkit_ring **out, const char *spec, const shmkit_ring_opts *opts,
				  int role);

/* Open a ring and attach @role. Return 0, -ENOENT, -EPROTOTYPE (a shmkit
 * object of another kind), -EMEDIUMTYPE (not a shmkit object), -EBADMSG
 * (corrupted), -EPROTO (another layout), -EOWNERDEAD (its creator died
 * before it was ready), -ETIMEDOUT, -EBUSY (@role held by a live
 * process), -EACCES (another user's: rings are for one user's processes). */
SHMKIT_API int shmkit_ring_open(shmkit_ring **out, const char *spec, int role);

/* Open, or create with @opts if it does not exist. Return 1 if created, 0
 * if opened, or an error as above. */
SHMKIT_API int shmkit_ring_open_or_create(shmkit_ring **out, const char *spec,
					  const shmkit_ring_opts *opts, int role);

/* Attach @role on a handle that holds none (after fork(), or opened with
 * SHMKIT_RING_NONE); take it over if its holder died. Return 0, -EBUSY,
 * -EINVAL (the handle already holds a role). */
SHMKIT_API int shmkit_ring_attach(shmkit_ring *r, int role);

/* Give the role back (what is committed stays) and unmap. */
SHMKIT_API int shmkit_ring_close(shmkit_ring *r);

/* Close, and remove the name (attached peers keep working). */
SHMKIT_API int shmkit_ring_remove(shmkit_ring *r);

/* Set the endpoint's waiting strategy (SHMKIT_RING_WAIT_*). */
SHMKIT_API int shmkit_ring_set_wait(shmkit_ring *r, int strategy);

/*
 * Producer, zero-copy: reserve room for @len bytes and set *@data to it.
 * Messages: exactly @len contiguous bytes (0 allowed, up to max_msg_size:
 * -EMSGSIZE above). Bytes: 1 to @len contiguous bytes; the count is
 * returned. Then write and shmkit_ring_commit(). Return the bytes reserved,
 * -EAGAIN (NOWAIT, full), -ETIMEDOUT, -EINTR, -ECONNRESET, -EPERM (not the
 * producer), -EBADMSG.
 */
SHMKIT_API ssize_t shmkit_ring_reserve(shmkit_ring *r, size_t len, void **data, unsigned flags,
				       const struct timespec *deadline);

/* Commit @len (at most what was reserved) bytes of the last reservation;
 * publish it, and every commit made with SHMKIT_RING_F_MORE before, unless
 * @flags has SHMKIT_RING_F_MORE. Return 0, -EINVAL, -EPERM. */
SHMKIT_API int shmkit_ring_commit(shmkit_ring *r, size_t len, unsigned flags);

/* Publish what was committed with SHMKIT_RING_F_MORE. Return 0, -EPERM. */
SHMKIT_API int shmkit_ring_flush(shmkit_ring *r);

/* Producer, copying: send one message (reserve, copy, commit). Return 0 or
 * as shmkit_ring_reserve(). */
SHMKIT_API int shmkit_ring_send(shmkit_ring *r, const void *data, size_t len, unsigned flags,
				const struct timespec *deadline);

/*
 * Consumer, zero-copy: set *@data to the next message not yet peeked (or,
 * for bytes, to the contiguous bytes not yet peeked) and return its length.
 * Successive peeks go on past what is peeked; shmkit_ring_release() hands
 * room back. Return the length, -EAGAIN (NOWAIT, nothing), -EPIPE (the
 * stream was shut down and everything is read), -ETIMEDOUT, -EINTR,
 * -ECONNRESET, -EPERM (not the consumer), -EBADMSG.
 */
SHMKIT_API ssize_t shmkit_ring_peek(shmkit_ring *r, const void **data, unsigned flags,
				    const struct timespec *deadline);

/* Release the oldest @n peeked messages (bytes, for a byte ring); SIZE_MAX:
 * all peeked. Their room goes back to the producer. Return 0, -EINVAL (more
 * than peeked), -EPERM. */
SHMKIT_API int shmkit_ring_release(shmkit_ring *r, size_t n);

/* Consumer, copying: receive one message into @buf. Return its length,
 * -EMSGSIZE (@cap too small: the message stays), -EBUSY (messages are
 * peeked and not released), or as shmkit_ring_peek(). */
SHMKIT_API ssize_t shmkit_ring_recv(shmkit_ring *r, void *buf, size_t cap, unsigned flags,
				    const struct timespec *deadline);

/* Byte ring, producer: write all @len bytes (what fits, at least 1, with
 * NOWAIT). Return the bytes written (a signal or deadline may cut it short),
 * or an error as shmkit_ring_reserve() if none was. */
SHMKIT_API ssize_t shmkit_ring_write(shmkit_ring *r, const void *data, size_t len, unsigned flags,
				     const struct timespec *deadline);

/* Byte ring, consumer: read up to @cap bytes (waits for at least 1). Return
 * the bytes read, 0 at the end of the stream, -EBUSY (bytes are peeked and
 * not released), or as shmkit_ring_peek(). */
SHMKIT_API ssize_t shmkit_ring_read(shmkit_ring *r, void *buf, size_t cap, unsigned flags,
				    const struct timespec *deadline);

/* Producer: end the stream. Once the consumer has read everything, peek and
 * recv give -EPIPE, read gives 0. A producer that attaches later reopens it.
 * Return 0, -EPERM. */
SHMKIT_API int shmkit_ring_shutdown(shmkit_ring *r);

/*
 * Event-loop integration. shmkit_ring_fd() returns a descriptor (owned by
 * the handle) that becomes readable when the peer makes progress after
 * shmkit_ring_arm(): data for the consumer, room for the producer (or the
 * end of the stream). The pattern:
 *     while ((n = shmkit_ring_recv(r, buf, cap, SHMKIT_RING_F_NOWAIT, NULL)) >= 0) ...;
 *     if (n == -EAGAIN && shmkit_ring_arm(r) == 0) poll/epoll_wait on the fd;
 * shmkit_ring_arm() returns 1 when there is already something to do (do not
 * sleep), 0 when armed, or an error. Return of shmkit_ring_fd(): the
 * descriptor, -EPERM (no role), -errno of socket().
 */
SHMKIT_API int shmkit_ring_fd(shmkit_ring *r);
SHMKIT_API int shmkit_ring_arm(shmkit_ring *r);

/* The ring's state: the two positions are read together and checked; the
 * counters and holders are read next to them (a snapshot of a live ring
 * can only be approximate). Return 0, -EBADMSG. */
SHMKIT_API int shmkit_ring_stat(shmkit_ring *r, shmkit_ring_info *info);

#ifdef __cplusplus
}
#endif
#endif /* SHMKIT_RING_H */
