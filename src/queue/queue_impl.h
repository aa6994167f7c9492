/* SPDX-License-Identifier: MIT */
/* Private to the queue layer: what the System V drop-in (sysv_msg.c) and tests need of queue.c. */
#ifndef SHMKIT_QUEUE_IMPL_H
#define SHMKIT_QUEUE_IMPL_H

#include <stdint.h>

#include <shmkit/queue.h>

/*
 * Create a queue as shmkit_queue_create() does, recording the System V id
 * and key it stands for (id -1 and key 0 for a queue that is not a drop-in
 * queue).
 */
int shmkit__queue_create_ex(shmkit_queue **out, const char *spec, const shmkit_queue_opts *opts,
			    int32_t sysv_id, uint32_t sysv_key);

/* The id and key recorded at creation (immutable, validated at open). */
int32_t shmkit__queue_sysv_id(const shmkit_queue *q);
uint32_t shmkit__queue_sysv_key(const shmkit_queue *q);

/* The descriptor of the segment behind the queue (owned by the handle). */
int shmkit__queue_fd(const shmkit_queue *q);

/* 1 once IPC_RMID was done on the queue, else 0 (a lock-free read). */
int shmkit__queue_removed(const shmkit_queue *q);

/*
 * The kernel's ipcperms() for msgget(): may the caller have the access that
 * the permission bits of @flg ask for (0400-style read, 0200-style write in
 * any class)? Return 0, -EACCES, -EIDRM, or an error of the queue's lock.
 */
int shmkit__queue_access(shmkit_queue *q, int flg);

/*
 * IPC_RMID without removing any name: mark the queue removed and wake every
 * waiter with -EIDRM. Return 0, -EPERM, -EIDRM (already removed), or an
 * error of the queue's lock.
 */
int shmkit__queue_mark_removed(shmkit_queue *q);

/* shmkit_queue_set(), with the byte limit set (to @max_bytes, 0 included,
 * as IPC_SET does) only if @set_bytes. */
int shmkit__queue_set(shmkit_queue *q, uint64_t max_bytes, int set_bytes, long mode, long uid,
		      long gid);

/* shmkit_queue_stat(), with the read permission checked only if @check
 * (MSG_STAT_ANY does not check it). */
int shmkit__queue_stat(shmkit_queue *q, shmkit_queue_info *info, int check);

/* Drop the process's cached credentials (after a change of uid or gid). */
void shmkit__queue_creds_changed(void);

/*
 * Tests only: set the next sequence number of an empty queue (to exercise
 * the wraparound of the 64-bit sequence, RELIABILITY T12; -EBUSY if it
 * holds messages), and run the sweep of dead and stalled claims now.
 * Return 0 or an error of the queue's lock.
 */
int shmkit__queue_set_next_seq(shmkit_queue *q, uint64_t seq);
int shmkit__queue_sweep(shmkit_queue *q);

/* Bytes of the data area that the queue's layout uses (for tests that
 * corrupt it on purpose), and the offsets of its sections. */
struct shmkit__queue_offsets {
	size_t ctl, hot, buckets, desc, desc_size, arena, slot_size, nslots, total;
	size_t bnext, nbig, big; /* the big slots' free list, their count, their area */
};
void shmkit__queue_offsets(const shmkit_queue *q, struct shmkit__queue_offsets *out);

#endif
