/* SPDX-License-Identifier: MIT */
/* shmkit/sync.h - robust mutex, semaphore, event and condition variable in shared memory. */
#ifndef SHMKIT_SYNC_H
#define SHMKIT_SYNC_H

#include <stdint.h>
#include <time.h>

#include <shmkit/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * These objects live in memory that the user places them in, usually the
 * data area of a shmkit segment, and work across every process that maps
 * it. Each is fixed-size opaque storage, 64 bytes, 64-byte aligned (a cache
 * line of its own); initialise it once with its *_init() function before any
 * process uses it. A pointer that is NULL or not 64-byte aligned gives
 * -EINVAL; storage whose contents are not a valid object (never
 * initialised, or overwritten) gives -EBADMSG, never a crash or a hang.
 *
 * Deadlines are absolute times on CLOCK_MONOTONIC (immune to wall-clock
 * jumps); NULL means no deadline. Waits survive EINTR and spurious wake-ups:
 * they return only when their condition holds or the deadline passes.
 * The fast paths (uncontended lock/unlock, post/wait with no waiter) make no
 * system call; a waiter sleeps in the kernel (futex), so a blocked process
 * shows as sleeping.
 *
 * Liveness: a thread that uses a mutex registers once (on first use) in a
 * machine-wide liveness table (/dev/shm/.shmkit-liveness) with a token that
 * dies when the thread exits and that the kernel releases when the process
 * exits; that is how the death of a holder is detected, across PID reuse
 * and PID namespaces.
 *
 * fork(): the child must not unlock what the parent holds; it uses the
 * objects as a new process. exec(): nothing is inherited but the memory.
 */

/** A robust, process-shared mutex. */
typedef struct shmkit_mutex {
	SHMKIT_ALIGNAS(64) unsigned char opaque_[64];
} shmkit_mutex;

/** A counting semaphore. */
typedef struct shmkit_sem {
	SHMKIT_ALIGNAS(64) unsigned char opaque_[64];
} shmkit_sem;

/** A 32-bit sequence that waiters watch for a change. */
typedef struct shmkit_event {
	SHMKIT_ALIGNAS(64) unsigned char opaque_[64];
} shmkit_event;

/** A condition variable used with shmkit_mutex. */
typedef struct shmkit_cond {
	SHMKIT_ALIGNAS(64) unsigned char opaque_[64];
} shmkit_cond;

/** Largest semaphore value (post beyond it gives -EOVERFLOW). */
#define SHMKIT_SEM_VALUE_MAX 0x7fffffff

/** Wake every waiter (shmkit_event_signal). */
#define SHMKIT_EVENT_ALL 0x7fffffff

/**
 * shmkit_deadline() - an absolute CLOCK_MONOTONIC deadline @timeout_ns from
 * now, for the timed functions below.
 * @out:        not NULL.
 * @timeout_ns: nanoseconds from now (negative counts as 0).
 */
SHMKIT_API void shmkit_deadline(struct timespec *out, int64_t timeout_ns);

/* ---- mutex ---- */

/**
 * shmkit_mutex_init() - initialise an unlocked, consistent mutex.
 * @m: 64-byte aligned storage in shared memory.
 *
 * Not to be called while any process uses the mutex.
 * Return: 0, or -EINVAL (NULL or unaligned).
 */
SHMKIT_API int shmkit_mutex_init(shmkit_mutex *m);

/**
 * shmkit_mutex_lock() - lock, waiting as long as it takes.
 * @m: an initialised mutex.
 *
 * If the holder dies (any way, SIGKILL included), the next locker gets the
 * lock with -EOWNERDEAD: the data it protects may be inconsistent. Repair
 * it, then call shmkit_mutex_consistent(); unlocking without doing so marks
 * the mutex unrecoverable. A holder's death is noticed within about 100 ms.
 *
 * Return: 0; -EOWNERDEAD (locked, previous holder died); -ENOTRECOVERABLE
 * (not locked: the mutex was abandoned in an inconsistent state); -EBADMSG
 * (the lock word holds no valid owner: overwritten); -EDEADLK
 * (already held by the calling thread); -EINVAL; -EBADMSG (not a valid mutex);
 * -ENOSPC/-EACCES (this process could not register in the liveness table).
 * Thread-safe and process-safe. The mutex is held by the calling thread,
 * as a robust pthread mutex is: relocking it from the same thread gives
 * -EDEADLK, only that thread may unlock it, and if the thread exits (or its
 * process dies) while holding it, the next locker gets -EOWNERDEAD.
 */
SHMKIT_API int shmkit_mutex_lock(shmkit_mutex *m);

/**
 * shmkit_mutex_trylock() - lock if free, without waiting.
 * Return: as shmkit_mutex_lock(), or -EBUSY when held by a live process.
 */
SHMKIT_API int shmkit_mutex_trylock(shmkit_mutex *m);

/**
 * shmkit_mutex_timedlock() - lock, waiting at most until @deadline.
 * @deadline: absolute CLOCK_MONOTONIC, or NULL for none.
 * Return: as shmkit_mutex_lock(), or -ETIMEDOUT, -EINVAL (bad timespec).
 */
SHMKIT_API int shmkit_mutex_timedlock(shmkit_mutex *m, const struct timespec *deadline);

/**
 * shmkit_mutex_unlock() - unlock; wakes one waiter if any sleeps.
 * Return: 0, -EPERM (not held by the calling thread), -EINVAL, -EBADMSG.
 */
SHMKIT_API int shmkit_mutex_unlock(shmkit_mutex *m);

/**
 * shmkit_mutex_consistent() - declare the protected state repaired after
 * -EOWNERDEAD; the mutex stays locked.
 * Return: 0, -EINVAL (not held by the calling thread after -EOWNERDEAD), -EBADMSG.
 */
SHMKIT_API int shmkit_mutex_consistent(shmkit_mutex *m);

/** What shmkit_mutex_inspect() reports. */
typedef struct shmkit_mutex_info {
	int32_t locked;       /* 1 held, 0 free */
	int32_t holder_pid;   /* pid of the holder as it registered; -1 none/unknown */
	int32_t holder_alive; /* 1 alive, 0 dead (next locker gets -EOWNERDEAD) */
	int32_t waiters;      /* 1 if someone sleeps on it */
	int32_t state;        /* 0 consistent, 1 owner died (repair pending), 2 unrecoverable */
	int32_t reserved_[3];
} shmkit_mutex_info;

/**
 * shmkit_mutex_inspect() - read the state of a mutex without changing it.
 * Return: 0, -EINVAL, -EBADMSG.
 */
SHMKIT_API int shmkit_mutex_inspect(const shmkit_mutex *m, shmkit_mutex_info *info);

/* ---- semaphore ---- */

/**
 * shmkit_sem_init() - initialise a semaphore with @value (0..SHMKIT_SEM_VALUE_MAX).
 * Return: 0, -EINVAL.
 */
SHMKIT_API int shmkit_sem_init(shmkit_sem *s, uint32_t value);

/**
 * shmkit_sem_post() - add one and wake a waiter if one sleeps.
 * Return: 0, -EOVERFLOW (at SHMKIT_SEM_VALUE_MAX), -EINVAL, -EBADMSG.
 */
SHMKIT_API int shmkit_sem_post(shmkit_sem *s);

/**
 * shmkit_sem_wait() - take one, sleeping while the value is 0.
 * Return: 0, -EINVAL, -EBADMSG.
 */
SHMKIT_API int shmkit_sem_wait(shmkit_sem *s);

/** shmkit_sem_trywait() - take one if the value is above 0, else -EAGAIN. */
SHMKIT_API int shmkit_sem_trywait(shmkit_sem *s);

/** shmkit_sem_timedwait() - as shmkit_sem_wait() up to @deadline: -ETIMEDOUT. */
SHMKIT_API int shmkit_sem_timedwait(shmkit_sem *s, const struct timespec *deadline);

/** shmkit_sem_value() - the current value (>= 0), or -EINVAL/-EBADMSG. */
SHMKIT_API int shmkit_sem_value(const shmkit_sem *s);

/* ---- event ---- */

/** shmkit_event_init() - sequence 0, no waiters. Return 0 or -EINVAL. */
SHMKIT_API int shmkit_event_init(shmkit_event *e);

/**
 * shmkit_event_seq() - the current sequence (read with acquire ordering:
 * what the signaller wrote before its signal is visible after a change).
 * Return: the sequence; 0 for an invalid event.
 */
SHMKIT_API uint32_t shmkit_event_seq(const shmkit_event *e);

/**
 * shmkit_event_wait() - sleep until the sequence differs from @seen.
 * @seen:     a value read with shmkit_event_seq() before checking the
 *            condition the caller waits for (so no signal is missed).
 * @deadline: absolute CLOCK_MONOTONIC, or NULL.
 * Return: 0 (the sequence changed), -ETIMEDOUT, -EINVAL, -EBADMSG.
 */
SHMKIT_API int shmkit_event_wait(shmkit_event *e, uint32_t seen, const struct timespec *deadline);

/**
 * shmkit_event_signal() - advance the sequence (release ordering) and wake
 * up to @count sleepers (SHMKIT_EVENT_ALL for all). No system call when
 * no one sleeps.
 * Return: 0, -EINVAL, -EBADMSG.
 */
SHMKIT_API int shmkit_event_signal(shmkit_event *e, int count);

/* ---- condition variable ---- */

/** shmkit_cond_init() - Return 0 or -EINVAL. */
SHMKIT_API int shmkit_cond_init(shmkit_cond *c);

/**
 * shmkit_cond_wait() - unlock @m, sleep until signalled, lock @m again.
 * Returns after a signal or broadcast that came after the unlock (never on
 * a stray wake-up or EINTR alone); as with any condition variable, re-check
 * the predicate after return, since another thread may have consumed it.
 *
 * Return: 0; or what relocking returned (-EOWNERDEAD: locked, the previous
 * holder died; -ENOTRECOVERABLE: not locked); -EPERM (@m not held by the
 * calling thread); -EINVAL; -EBADMSG.
 */
SHMKIT_API int shmkit_cond_wait(shmkit_cond *c, shmkit_mutex *m);

/** shmkit_cond_timedwait() - as shmkit_cond_wait(); -ETIMEDOUT at @deadline (@m locked again). */
SHMKIT_API int shmkit_cond_timedwait(shmkit_cond *c, shmkit_mutex *m,
				     const struct timespec *deadline);

/** shmkit_cond_signal() - wake one waiter. Return 0, -EINVAL, -EBADMSG. */
SHMKIT_API int shmkit_cond_signal(shmkit_cond *c);

/** shmkit_cond_broadcast() - wake every waiter. Return 0, -EINVAL, -EBADMSG. */
SHMKIT_API int shmkit_cond_broadcast(shmkit_cond *c);

#ifdef __cplusplus
}
#endif
#endif /* SHMKIT_SYNC_H */
