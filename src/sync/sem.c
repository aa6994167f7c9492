/* SPDX-License-Identifier: MIT */
/* shmkit_sem: a counting semaphore on one futex word, no system call uncontended. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "internal/futex.h"
#include "sync/sync_impl.h"

struct sem_impl {
	/*
	 * The value. post's seq_cst increment then load of @waiters, and a
	 * waiter's seq_cst increment of @waiters then the kernel's compare of
	 * @value, form a Dekker pair (see event.c): a post either sees the
	 * sleeper or the sleeper sees the new value.
	 */
	_Atomic uint32_t value;
	_Atomic uint32_t waiters;
	uint32_t magic;
	uint8_t pad[52];
};
_Static_assert(sizeof(struct sem_impl) == sizeof(shmkit_sem), "sem size");
_Static_assert(offsetof(struct sem_impl, value) == 0, "futex word first");

static int
check(const shmkit_sem *s)
{
	if (!shmkit__storage_ok(s)) {
		return -EINVAL;
	}
	const struct sem_impl *x = (const struct sem_impl *)s;
	if (x->magic != SHMKIT_SEM_MAGIC) {
		return -EBADMSG;
	}
	/* A value above the maximum was not written by post: corrupted. */
	if (atomic_load_explicit(&x->value, memory_order_relaxed) > SHMKIT_SEM_VALUE_MAX) {
		return -EBADMSG;
	}
	return 0;
}

SHMKIT_API int
shmkit_sem_init(shmkit_sem *s, uint32_t value)
{
	if (!shmkit__storage_ok(s) || value > SHMKIT_SEM_VALUE_MAX) {
		return -EINVAL;
	}
	struct sem_impl *x = (struct sem_impl *)s;
	memset(x, 0, sizeof(*x));
	x->magic = SHMKIT_SEM_MAGIC;
	atomic_store_explicit(&x->value, value, memory_order_release);
	return 0;
}

SHMKIT_API int
shmkit_sem_post(shmkit_sem *s)
{
	int rc = check(s);
	if (rc != 0) {
		return rc;
	}
	struct sem_impl *x = (struct sem_impl *)s;
	uint32_t v = atomic_load_explicit(&x->value, memory_order_relaxed);
	do {
		if (v >= SHMKIT_SEM_VALUE_MAX) {
			return v == SHMKIT_SEM_VALUE_MAX ? -EOVERFLOW : -EBADMSG;
		}
		/* seq_cst: release for what the poster wrote before, and the
		 * Dekker order against the waiters count below. */
	} while (!atomic_compare_exchange_weak_explicit(&x->value, &v, v + 1, memory_order_seq_cst,
							memory_order_relaxed));
	if (atomic_load_explicit(&x->waiters, memory_order_seq_cst) != 0) {
		shmkit__futex_wake(&x->value, 1);
	}
	return 0;
}

static int
take(struct sem_impl *x)
{
	uint32_t v = atomic_load_explicit(&x->value, memory_order_relaxed);
	while (v != 0) {
		if (v > SHMKIT_SEM_VALUE_MAX) {
			return -EBADMSG;
		}
		/* Acquire pairs with the poster's increment. */
		if (atomic_compare_exchange_weak_explicit(
			    &x->value, &v, v - 1, memory_order_acquire, memory_order_relaxed)) {
			return 0;
		}
	}
	return -EAGAIN;
}

SHMKIT_API int
shmkit_sem_trywait(shmkit_sem *s)
{
	int rc = check(s);
	return rc != 0 ? rc : take((struct sem_impl *)s);
}

SHMKIT_API int
shmkit_sem_timedwait(shmkit_sem *s, const struct timespec *deadline)
{
	int rc = check(s);
	if (rc != 0) {
		return rc;
	}
	if (shmkit__ts_check(deadline) != 0) {
		return -EINVAL;
	}
	struct sem_impl *x = (struct sem_impl *)s;
	for (;;) {
		rc = take(x);
		if (rc != -EAGAIN) {
			return rc;
		}
		if (shmkit__ts_passed(deadline)) {
			return -ETIMEDOUT;
		}
		atomic_fetch_add_explicit(&x->waiters, 1, memory_order_seq_cst);
		shmkit__futex_wait(&x->value, 0, deadline);
		atomic_fetch_sub_explicit(&x->waiters, 1, memory_order_seq_cst);
		/* Woken, timed out, interrupted or spurious: try again. */
	}
}

SHMKIT_API int
shmkit_sem_wait(shmkit_sem *s)
{
	return shmkit_sem_timedwait(s, NULL);
}

SHMKIT_API int
shmkit_sem_value(const shmkit_sem *s)
{
	int rc = check(s);
	if (rc != 0) {
		return rc;
	}
	return (int)atomic_load_explicit(&((const struct sem_impl *)s)->value,
					 memory_order_acquire);
}
