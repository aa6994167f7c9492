/* SPDX-License-Identifier: MIT */
/* shmkit_bus: publish/subscribe broadcast on a named topic, over a shared log. */
#ifndef SHMKIT_BUS_H
#define SHMKIT_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <shmkit/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A bus is a log of @slots messages in a shmkit segment (kind
 * SHMKIT_KIND_BUS), named by a segment spec (posix:NAME by default). Every
 * message gets the next sequence number and a slot; every subscriber reads
 * the log at its own cursor, so a publish costs the same for 1 subscriber
 * or 4,096. Any number of processes publish (each claims a sequence with a
 * compare-and-swap; a claimer that dies is skipped, one that stalls is
 * fenced and its publish fails with -ESTALE); up to max_subscribers
 * subscribe, joining and leaving at any time.
 *
 * Two policies, chosen at creation:
 *  - lossy (default): a publisher never waits; a subscriber that falls a
 *    whole log behind is lapped and told exactly how many messages it lost
 *    (the @lost argument of recv and peek), and never sees a torn message;
 *  - reliable (SHMKIT_BUS_RELIABLE): a publisher waits (up to its deadline)
 *    until the slowest live subscriber has released the slot it needs; a
 *    dead subscriber is removed and never blocks it.
 *
 * Zero-copy: shmkit_bus_loan() a slot, write in place, shmkit_bus_publish();
 * shmkit_bus_peek() a message in place, shmkit_bus_release() it (which says
 * whether it stayed valid while read, in lossy mode). Messages are 0 bytes
 * to max_msg_size. Waiting strategies as for rings (SHMKIT_BUS_WAIT_*); a
 * sleeping subscriber costs the publisher one wake-up at most: the woken
 * wake the others, two each.
 *
 * A handle is used by one thread at a time; it may publish, and subscribe
 * once. Everything read from the mapping is checked (-EBADMSG).
 */

enum { SHMKIT_KIND_BUS = 5 };

/* shmkit_bus_opts.flags */
#define SHMKIT_BUS_RELIABLE (1u << 0)

/* Call flags. */
#define SHMKIT_BUS_F_NOWAIT        (1u << 0) /* -EAGAIN instead of waiting */
#define SHMKIT_BUS_F_INTERRUPTIBLE (1u << 2) /* a signal ends a wait with -EINTR */

/* Waiting strategies (shmkit_bus_set_wait()), as SHMKIT_RING_WAIT_*. */
enum {
	SHMKIT_BUS_WAIT_DEFAULT = 0,
	SHMKIT_BUS_WAIT_SPIN = 1,
	SHMKIT_BUS_WAIT_SLEEP = 2,
};

typedef struct shmkit_bus_opts {
	uint32_t slots;           /* messages kept: a power of two, 2..2^20 (default 256) */
	uint32_t max_subscribers; /* 1..4096 (default 256) */
	uint64_t max_msg_size;    /* bytes, up to 1 GiB (default 4096) */
	uint32_t max_publishers;  /* 1..64 at once (default 16) */
	uint32_t mode;            /* permission bits, default 0600 */
	uint32_t flags;           /* SHMKIT_BUS_RELIABLE */
	uint32_t reserved32_;
	uint64_t reserved_[6];
} shmkit_bus_opts;

typedef struct shmkit_bus shmkit_bus;

typedef struct shmkit_bus_info {
	uint32_t slots, max_subscribers, max_publishers, flags;
	uint64_t max_msg_size;
	uint64_t published;   /* sequence numbers claimed so far (published or skipped) */
	uint32_t subscribers; /* live subscribers */
	uint32_t publishers;  /* live publishers */
	uint32_t dead_subscribers, dead_publishers; /* not yet reclaimed */
	uint32_t sleeping;                          /* subscribers asleep in the kernel */
	uint32_t reserved32_;
	uint64_t reserved_[6];
} shmkit_bus_info;

/* One subscriber, as shmkit_bus_subscribers() lists them. */
typedef struct shmkit_bus_sub_info {
	uint32_t index;
	int32_t pid;   /* -1 unknown */
	int32_t alive; /* 1 alive, 0 dead (not yet removed) */
	uint32_t sleeping;
	uint64_t lag;  /* messages published it has not released yet */
	uint64_t lost; /* messages it lost to lapping, in all */
	uint64_t received;
} shmkit_bus_sub_info;

/* Defaults: 256 slots of 4 KiB, 256 subscribers, 16 publishers, lossy. */
SHMKIT_API void shmkit_bus_opts_init(shmkit_bus_opts *opts);

/* Create (exclusively), open, or open-or-create (1 if created) a bus.
 * Return 0 (or 1), -EINVAL (bad options), -EEXIST, -ENOENT, -EPROTOTYPE
 * (another kind of object), -EMEDIUMTYPE (not a shmkit object), -EPROTO
 * (another layout), -EBADMSG (corrupted), -EOWNERDEAD (its creator died
 * before it was ready), -ETIMEDOUT, -EACCES, or another error of
 * shmkit_segment_create()/shmkit_segment_open(). */
SHMKIT_API int shmkit_bus_create(shmkit_bus **out, const char *spec, const shmkit_bus_opts *opts);
SHMKIT_API int shmkit_bus_open(shmkit_bus **out, const char *spec);
SHMKIT_API int shmkit_bus_open_or_create(shmkit_bus **out, const char *spec,
					 const shmkit_bus_opts *opts);

/* Leave (unsubscribe, give the publisher entry back) and unmap; remove also
 * removes the name. */
SHMKIT_API int shmkit_bus_close(shmkit_bus *b);
SHMKIT_API int shmkit_bus_remove(shmkit_bus *b);

SHMKIT_API int shmkit_bus_set_wait(shmkit_bus *b, int strategy);

/*
 * Publish, zero-copy: loan a slot for up to @len bytes (*@data), write,
 * then shmkit_bus_publish() the @len bytes actually written. The first
 * loan registers the handle as a publisher. A reliable bus waits for room
 * (the slowest live subscriber). Return 0, -EINVAL, -EMSGSIZE, -EAGAIN
 * (NOWAIT), -ETIMEDOUT, -EINTR, -EUSERS (max_publishers live publishers
 * already), -EBUSY (a loan is outstanding), -EBADMSG, or -ENOSPC/-EACCES
 * (the process could not register its liveness token).
 */
SHMKIT_API int shmkit_bus_loan(shmkit_bus *b, size_t len, void **data, unsigned flags,
			       const struct timespec *deadline);

/* Publish the loan with @len bytes. Return 0, -EINVAL (no loan, or @len
 * over the loan), -ESTALE (the loan was held so long that it was fenced:
 * nothing is published). */
SHMKIT_API int shmkit_bus_publish(shmkit_bus *b, size_t len);

/* Copying publish: loan, copy, publish. Return as both (-ESTALE included). */
SHMKIT_API int shmkit_bus_send(shmkit_bus *b, const void *data, size_t len, unsigned flags,
			       const struct timespec *deadline);

/* Join as a subscriber. The first message read is the oldest of the last
 * @history published ones still in the log (0: the next one published).
 * Return 0, -EINVAL, -EUSERS (max_subscribers live ones already), -EBUSY
 * (this handle is subscribed), -ENOSPC/-EACCES (liveness token). */
SHMKIT_API int shmkit_bus_subscribe(shmkit_bus *b, uint64_t history);
SHMKIT_API int shmkit_bus_unsubscribe(shmkit_bus *b);

/*
 * Read the next message in place: *@data, its length returned; *@lost (may
 * be NULL) the messages lost to lapping just before it. Then
 * shmkit_bus_release(). Return the length, -EINVAL, -EAGAIN, -ETIMEDOUT,
 * -EINTR, -ENOTCONN (not subscribed), -EBUSY (a message is peeked),
 * -EBADMSG. A loss counted by a call that ends without a message is told
 * with the next one; @lost counts sequence numbers skipped, so a claim of
 * a dead or fenced publisher inside a lapped range counts too.
 */
SHMKIT_API ssize_t shmkit_bus_peek(shmkit_bus *b, const void **data, uint64_t *lost, unsigned flags,
				   const struct timespec *deadline);

/* Release the peeked message. Return 0, or -ESTALE: (lossy bus) it was
 * overwritten while it was read: what was read is garbage, and it counts
 * as lost. -EINVAL: nothing peeked. */
SHMKIT_API int shmkit_bus_release(shmkit_bus *b);

/* Copying read: the next message into @buf. Return its length, -EMSGSIZE
 * (@cap too small: it stays), or as shmkit_bus_peek(). */
SHMKIT_API ssize_t shmkit_bus_recv(shmkit_bus *b, void *buf, size_t cap, uint64_t *lost,
				   unsigned flags, const struct timespec *deadline);

/* The bus's state; and up to @n subscribers into @out (return: how many
 * there are, possibly more than @n). */
SHMKIT_API int shmkit_bus_stat(shmkit_bus *b, shmkit_bus_info *info);
SHMKIT_API int shmkit_bus_subscribers(shmkit_bus *b, shmkit_bus_sub_info *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* SHMKIT_BUS_H */
