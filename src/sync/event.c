/* SPDX-License-Identifier: MIT */
/* shmkit_event: a sequence number to wait on, the building block of blocking waits. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "internal/futex.h"
#include "sync/sync_impl.h"

struct event_impl {
	/*
	 * Bumped by every signal. The signaller's seq_cst increment and its
	 * later load of @waiters, against a waiter's seq_cst increment of
	 * @waiters and its later read of @seq (the kernel's compare in
	 * FUTEX_WAIT), form a Dekker pair: either the signaller sees the
	 * waiter and wakes it, or the waiter sees the new sequence and does
	 * not sleep. No signal is lost, and none costs a system call when
	 * nobody sleeps.
	 */
	_Atomic uint32_t seq;
	_Atomic uint32_t waiters;
	uint32_t magic;
	uint8_t pad[52];
};
_Static_assert(sizeof(struct event_impl) == sizeof(shmkit_event), "event size");
_Static_assert(offsetof(struct event_impl, seq) == 0, "futex word first");

static int
check(const shmkit_event *e)
{
	if (!shmkit__storage_ok(e)) {
		return -EINVAL;
	}
	return ((const struct event_impl *)e)->magic == SHMKIT_EVENT_MAGIC ? 0 : -EBADMSG;
}

SHMKIT_API int
shmkit_event_init(shmkit_event *e)
{
	if (!shmkit__storage_ok(e)) {
		return -EINVAL;
	}
	struct event_impl *x = (struct event_impl *)e;
	memset(x, 0, sizeof(*x));
	x->magic = SHMKIT_EVENT_MAGIC;
	atomic_thread_fence(memory_order_release);
	return 0;
}

SHMKIT_API uint32_t
shmkit_event_seq(const shmkit_event *e)
{
	if (check(e) != 0) {
		return 0;
	}
	/* Acquire pairs with the seq_cst increment in shmkit_event_signal. */
	return atomic_load_explicit(&((struct event_impl *)e)->seq, memory_order_acquire);
}

SHMKIT_API int
shmkit_event_wait(shmkit_event *e, uint32_t seen, const struct timespec *deadline)
{
	int rc = check(e);
	if (rc != 0) {
		return rc;
	}
	if (shmkit__ts_check(deadline) != 0) {
		return -EINVAL;
	}
	struct event_impl *x = (struct event_impl *)e;
	for (;;) {
		if (atomic_load_explicit(&x->seq, memory_order_acquire) != seen) {
			return 0;
		}
		if (shmkit__ts_passed(deadline)) {
			return -ETIMEDOUT;
		}
		atomic_fetch_add_explicit(&x->waiters, 1, memory_order_seq_cst);
		rc = shmkit__futex_wait(&x->seq, seen, deadline);
		atomic_fetch_sub_explicit(&x->waiters, 1, memory_order_seq_cst);
		/* EINTR and spurious wake-ups: look again. */
		(void)rc;
	}
}

SHMKIT_API int
shmkit_event_signal(shmkit_event *e, int count)
{
	int rc = check(e);
	if (rc != 0) {
		return rc;
	}
	if (count <= 0) {
		return -EINVAL;
	}
	struct event_impl *x = (struct event_impl *)e;
	atomic_fetch_add_explicit(&x->seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&x->waiters, memory_order_seq_cst) != 0) {
		shmkit__futex_wake(&x->seq, count);
	}
	return 0;
}
