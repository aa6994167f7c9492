/* SPDX-License-Identifier: MIT */
/* shmkit_cond: a condition variable for shmkit_mutex, on a sequence futex word. */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include "internal/futex.h"
#include "sync/sync_impl.h"

struct cond_impl {
	/*
	 * Bumped by every signal and broadcast. A waiter reads it before
	 * unlocking the mutex, so a signal sent after the unlock changes it
	 * and the kernel's compare in FUTEX_WAIT refuses to sleep: no lost
	 * wake-up. Nothing records who waits, so a waiter or a signaller that
	 * dies leaves nothing to clean up; at worst a wake goes to nobody.
	 * @waiters only spares signal a system call when nobody sleeps (a
	 * dead sleeper leaves it raised: signals then make a harmless call).
	 */
	_Atomic uint32_t seq;
	_Atomic uint32_t waiters;
	uint32_t magic;
	uint8_t pad[52];
};
_Static_assert(sizeof(struct cond_impl) == sizeof(shmkit_cond), "cond size");
_Static_assert(offsetof(struct cond_impl, seq) == 0, "futex word first");

static int
check(const shmkit_cond *c)
{
	if (!shmkit__storage_ok(c)) {
		return -EINVAL;
	}
	return ((const struct cond_impl *)c)->magic == SHMKIT_COND_MAGIC ? 0 : -EBADMSG;
}

SHMKIT_API int
shmkit_cond_init(shmkit_cond *c)
{
	if (!shmkit__storage_ok(c)) {
		return -EINVAL;
	}
	struct cond_impl *x = (struct cond_impl *)c;
	memset(x, 0, sizeof(*x));
	x->magic = SHMKIT_COND_MAGIC;
	atomic_thread_fence(memory_order_release);
	return 0;
}

SHMKIT_API int
shmkit_cond_timedwait(shmkit_cond *c, shmkit_mutex *m, const struct timespec *deadline)
{
	int rc = check(c);
	if (rc != 0) {
		return rc;
	}
	if (shmkit__ts_check(deadline) != 0) {
		return -EINVAL;
	}
	rc = shmkit__mutex_held(m);
	if (rc <= 0) {
		return rc == 0 ? -EPERM : rc;
	}
	struct cond_impl *x = (struct cond_impl *)c;
	uint32_t seen = atomic_load_explicit(&x->seq, memory_order_relaxed);
	atomic_fetch_add_explicit(&x->waiters, 1, memory_order_seq_cst);
	rc = shmkit_mutex_unlock(m);
	if (rc != 0) {
		atomic_fetch_sub_explicit(&x->waiters, 1, memory_order_seq_cst);
		return rc;
	}
	int timed_out = 0;
	for (;;) {
		if (atomic_load_explicit(&x->seq, memory_order_acquire) != seen) {
			break;
		}
		if (shmkit__ts_passed(deadline)) {
			timed_out = 1;
			break;
		}
		/* Only a changed sequence ends the wait: a wake-up that left it
		 * as it was (a stray FUTEX_WAKE, EINTR) was not a signal. */
		(void)shmkit__futex_wait(&x->seq, seen, deadline);
	}
	atomic_fetch_sub_explicit(&x->waiters, 1, memory_order_seq_cst);
	/* The mutex is taken again whatever happened, as pthread does. */
	rc = shmkit_mutex_lock(m);
	if (rc != 0) {
		return rc;
	}
	return timed_out ? -ETIMEDOUT : 0;
}

SHMKIT_API int
shmkit_cond_wait(shmkit_cond *c, shmkit_mutex *m)
{
	return shmkit_cond_timedwait(c, m, NULL);
}

static int
wake(shmkit_cond *c, int n)
{
	int rc = check(c);
	if (rc != 0) {
		return rc;
	}
	struct cond_impl *x = (struct cond_impl *)c;
	atomic_fetch_add_explicit(&x->seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&x->waiters, memory_order_seq_cst) != 0) {
		shmkit__futex_wake(&x->seq, n);
	}
	return 0;
}

SHMKIT_API int
shmkit_cond_signal(shmkit_cond *c)
{
	return wake(c, 1);
}

SHMKIT_API int
shmkit_cond_broadcast(shmkit_cond *c)
{
	return wake(c, INT_MAX);
}
