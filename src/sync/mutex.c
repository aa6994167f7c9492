/* SPDX-License-Identifier: MIT */
/* shmkit_mutex: a robust process-shared mutex on one futex word holding the owner's token. */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include "internal/futex.h"
#include "internal/platform.h"
#include "internal/registry.h"
#include "sync/sync_impl.h"

#define WAITERS 0x80000000u
/* Rounds of a contended locker's spin before it checks the holder and sleeps. */
#define SPIN_ROUNDS 256

enum { CONSISTENT = 0, OWNER_DIED = 1, NOT_RECOVERABLE = 2 };

struct mutex_impl {
	/*
	 * 0 when free; otherwise the holder's liveness token, with WAITERS set
	 * when someone may sleep on it. Taking the lock is one compare-and-
	 * swap that writes the new owner: the single commit point, so a
	 * holder that dies at any instruction leaves either "not taken" or
	 * "taken by a token that reads dead". Acquire on taking pairs with
	 * release on unlocking.
	 */
	_Atomic uint32_t word;
	/* CONSISTENT, OWNER_DIED (the holder got -EOWNERDEAD and has not yet
	 * called consistent) or NOT_RECOVERABLE; written by the holder only. */
	_Atomic uint32_t state;
	uint32_t magic;
	uint8_t pad[52];
};
_Static_assert(sizeof(struct mutex_impl) == sizeof(shmkit_mutex), "mutex size");
_Static_assert(offsetof(struct mutex_impl, word) == 0, "futex word first");

static int
check(const shmkit_mutex *m)
{
	if (!shmkit__storage_ok(m)) {
		return -EINVAL;
	}
	const struct mutex_impl *x = (const struct mutex_impl *)m;
	if (x->magic != SHMKIT_MUTEX_MAGIC ||
	    atomic_load_explicit(&x->state, memory_order_relaxed) > NOT_RECOVERABLE) {
		return -EBADMSG;
	}
	return 0;
}

SHMKIT_API void
shmkit_deadline(struct timespec *out, int64_t timeout_ns)
{
	if (out == NULL) {
		return;
	}
	shmkit__now(out);
	shmkit__ts_add_ns(out, timeout_ns);
}

SHMKIT_API int
shmkit_mutex_init(shmkit_mutex *m)
{
	if (!shmkit__storage_ok(m)) {
		return -EINVAL;
	}
	struct mutex_impl *x = (struct mutex_impl *)m;
	memset(x, 0, sizeof(*x));
	x->magic = SHMKIT_MUTEX_MAGIC;
	atomic_thread_fence(memory_order_release);
	return 0;
}

/* We took a mutex that was abandoned inconsistent: give it back, and wake
 * every sleeper so each learns it is unrecoverable. */
static void
release_unrecoverable(struct mutex_impl *x)
{
	uint32_t old = atomic_exchange_explicit(&x->word, 0, memory_order_release);
	if (old & WAITERS) {
		shmkit__futex_wake(&x->word, INT_MAX);
	}
}

/* The holder is gone: take the lock over from @seen in one CAS. */
static int
take_over(struct mutex_impl *x, uint32_t seen, uint32_t me)
{
	uint32_t want = me | (seen & WAITERS);
	if (!atomic_compare_exchange_strong_explicit(&x->word, &seen, want, memory_order_acquire,
						     memory_order_relaxed)) {
		return 0; /* someone else was quicker; look again */
	}
	if (atomic_load_explicit(&x->state, memory_order_relaxed) == NOT_RECOVERABLE) {
		release_unrecoverable(x);
		return -ENOTRECOVERABLE;
	}
	atomic_store_explicit(&x->state, OWNER_DIED, memory_order_relaxed);
	return -EOWNERDEAD;
}

/* Spin (reading, not writing the word) while the mutex is held, a bounded
 * number of rounds: a few microseconds at most. */
static void
spin_while_held(struct mutex_impl *x)
{
	for (int n = 0; n < SPIN_ROUNDS; n++) {
		if (atomic_load_explicit(&x->word, memory_order_relaxed) == 0) {
			return;
		}
		shmkit__cpu_relax();
	}
}

static int
lock(shmkit_mutex *m, const struct timespec *deadline, int try_only)
{
	uint32_t me;
	int rc = check(m);
	if (rc != 0) {
		return rc;
	}
	if (shmkit__ts_check(deadline) != 0) {
		return -EINVAL;
	}
	rc = shmkit__thread_token_fast(&me);
	if (rc != 0) {
		return rc;
	}
	struct mutex_impl *x = (struct mutex_impl *)m;
	/* Once we have slept, we take the lock with WAITERS set: others may
	 * still sleep and the unlocker must wake them. */
	uint32_t contended = 0;
	int spun = try_only;
	for (;;) {
		uint32_t w = 0;
		if (!spun) {
			/* Critical sections are short: a holder that runs lets
			 * go within a few hundred nanoseconds, far less than the
			 * liveness check and the futex sleep below cost. */
			spin_while_held(x);
			spun = 1;
		}
		if (atomic_compare_exchange_strong_explicit(&x->word, &w, me | contended,
							    memory_order_acquire,
							    memory_order_relaxed)) {
			if (atomic_load_explicit(&x->state, memory_order_relaxed) ==
			    NOT_RECOVERABLE) {
				release_unrecoverable(x);
				return -ENOTRECOVERABLE;
			}
			return 0;
		}
		if (atomic_load_explicit(&x->state, memory_order_relaxed) == NOT_RECOVERABLE) {
			return -ENOTRECOVERABLE;
		}
		uint32_t owner = w & ~WAITERS;
		if (owner == me) {
			return -EDEADLK;
		}
		rc = shmkit__token_alive(owner);
		if (rc == -EINVAL) {
			/* No shmkit locker writes a malformed token (nor WAITERS
			 * with no owner): the word was overwritten. */
			return -EBADMSG;
		}
		if (rc == 0) {
			rc = take_over(x, w, me);
			if (rc != 0) {
				return rc;
			}
			continue;
		}
		if (try_only) {
			return -EBUSY;
		}
		if (shmkit__ts_passed(deadline)) {
			return -ETIMEDOUT;
		}
		if (!(w & WAITERS) && !atomic_compare_exchange_strong_explicit(
					      &x->word, &w, w | WAITERS, memory_order_relaxed,
					      memory_order_relaxed)) {
			continue;
		}
		/*
		 * Sleep until woken, or a slice at most: the kernel does not
		 * wake us if the holder dies, so we look at its liveness again
		 * every slice.
		 */
		struct timespec until;
		shmkit__ts_slice(&until, deadline, SHMKIT_LIVENESS_SLICE_NS);
		shmkit__futex_wait(&x->word, w | WAITERS, &until);
		contended = WAITERS;
	}
}

SHMKIT_API int
shmkit_mutex_lock(shmkit_mutex *m)
{
	/* Fast path for a thread that has its token: one CAS, then the same
	 * state check as lock() makes after taking the word. */
	struct mutex_impl *x = (struct mutex_impl *)m;
	uint32_t me = shmkit__tls_thread_token, w = 0;
	if (me != 0 && shmkit__storage_ok(m) && x->magic == SHMKIT_MUTEX_MAGIC &&
	    atomic_compare_exchange_strong_explicit(&x->word, &w, me, memory_order_acquire,
						    memory_order_relaxed)) {
		uint32_t st = atomic_load_explicit(&x->state, memory_order_relaxed);
		if (st == CONSISTENT) {
			return 0;
		}
		/* Abandoned inconsistent, or a state no locker writes: give
		 * the word back and let the full path answer. */
		release_unrecoverable(x);
		if (st == NOT_RECOVERABLE) {
			return -ENOTRECOVERABLE;
		}
	}
	return lock(m, NULL, 0);
}

SHMKIT_API int
shmkit_mutex_trylock(shmkit_mutex *m)
{
	return lock(m, NULL, 1);
}

SHMKIT_API int
shmkit_mutex_timedlock(shmkit_mutex *m, const struct timespec *deadline)
{
	return lock(m, deadline, 0);
}

int
shmkit__mutex_held(const shmkit_mutex *m)
{
	uint32_t me;
	int rc = check(m);
	if (rc != 0) {
		return rc;
	}
	rc = shmkit__thread_token_fast(&me);
	if (rc != 0) {
		return rc;
	}
	uint32_t w =
		atomic_load_explicit(&((const struct mutex_impl *)m)->word, memory_order_relaxed);
	return (w & ~WAITERS) == me;
}

SHMKIT_API int
shmkit_mutex_unlock(shmkit_mutex *m)
{
	uint32_t me;
	int rc = check(m);
	if (rc != 0) {
		return rc;
	}
	rc = shmkit__thread_token_fast(&me);
	if (rc != 0) {
		return rc;
	}
	struct mutex_impl *x = (struct mutex_impl *)m;
	/* Fast path: ours, consistent, nobody sleeping: one CAS releases it
	 * (release pairs with the acquire of the next locker's CAS). */
	uint32_t w = me;
	if (atomic_load_explicit(&x->state, memory_order_relaxed) == CONSISTENT) {
		if (atomic_compare_exchange_strong_explicit(&x->word, &w, 0, memory_order_release,
							    memory_order_relaxed)) {
			return 0;
		}
	} else {
		w = atomic_load_explicit(&x->word, memory_order_relaxed);
	}
	if ((w & ~WAITERS) != me) {
		return -EPERM;
	}
	int wake = 1;
	if (atomic_load_explicit(&x->state, memory_order_relaxed) == OWNER_DIED) {
		/* Unlocked without repair: nobody may trust the data now. */
		atomic_store_explicit(&x->state, NOT_RECOVERABLE, memory_order_relaxed);
		wake = INT_MAX;
	}
	/* Release pairs with the acquire of the next locker's CAS. */
	uint32_t old = atomic_exchange_explicit(&x->word, 0, memory_order_release);
	if (old & WAITERS) {
		shmkit__futex_wake(&x->word, wake);
	}
	return 0;
}

SHMKIT_API int
shmkit_mutex_consistent(shmkit_mutex *m)
{
	int rc = shmkit__mutex_held(m);
	if (rc <= 0) {
		return rc == 0 ? -EINVAL : rc;
	}
	struct mutex_impl *x = (struct mutex_impl *)m;
	if (atomic_load_explicit(&x->state, memory_order_relaxed) != OWNER_DIED) {
		return -EINVAL;
	}
	atomic_store_explicit(&x->state, CONSISTENT, memory_order_relaxed);
	return 0;
}

SHMKIT_API int
shmkit_mutex_inspect(const shmkit_mutex *m, shmkit_mutex_info *info)
{
	int rc = check(m);
	if (rc != 0) {
		return rc;
	}
	if (info == NULL) {
		return -EINVAL;
	}
	const struct mutex_impl *x = (const struct mutex_impl *)m;
	uint32_t w = atomic_load_explicit(&x->word, memory_order_relaxed);
	memset(info, 0, sizeof(*info));
	info->holder_pid = -1;
	info->locked = (w & ~WAITERS) != 0;
	info->waiters = (w & WAITERS) != 0;
	info->state = (int32_t)atomic_load_explicit(&x->state, memory_order_relaxed);
	if (info->locked) {
		pid_t pid;
		info->holder_alive = shmkit__token_alive(w & ~WAITERS) == 1;
		if (shmkit__token_pid(w & ~WAITERS, &pid) == 0) {
			info->holder_pid = pid;
		}
	}
	return 0;
}
