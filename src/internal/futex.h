/* SPDX-License-Identifier: MIT */
/* Futex wait/wake on shared (cross-process) words, and deadlines (private). */
#ifndef SHMKIT_INTERNAL_FUTEX_H
#define SHMKIT_INTERNAL_FUTEX_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/*
 * Sleep while *@addr == @expected, until woken, until the absolute
 * CLOCK_MONOTONIC @deadline (NULL: no deadline), or until a signal.
 * Return 0 (woken, or spuriously), -EAGAIN (*addr != expected on entry),
 * -ETIMEDOUT, -EINTR. Callers re-check their condition in all cases.
 * The futex is shared (not FUTEX_PRIVATE): waiters in other processes that
 * map the same memory are woken too.
 */
int shmkit__futex_wait(_Atomic uint32_t *addr, uint32_t expected, const struct timespec *deadline);

/* Wake up to @n waiters (INT32_MAX: all). Return the number woken or -errno. */
int shmkit__futex_wake(_Atomic uint32_t *addr, int n);

/* Now on CLOCK_MONOTONIC. */
void shmkit__now(struct timespec *ts);
/* @a + @ns. */
void shmkit__ts_add_ns(struct timespec *ts, int64_t ns);
/* Nanoseconds from @a to @b (b - a), saturating. */
int64_t shmkit__ts_diff_ns(const struct timespec *a, const struct timespec *b);
/* 1 if @deadline (absolute monotonic) has passed; 0 if NULL or not yet. */
int shmkit__ts_passed(const struct timespec *deadline);
/* The earlier of @deadline (may be NULL) and now + @slice_ns, into @out. */
void shmkit__ts_slice(struct timespec *out, const struct timespec *deadline, int64_t slice_ns);
/* -EINVAL unless @ts is NULL or a valid timespec (0 <= tv_nsec < 1e9, tv_sec >= 0). */
int shmkit__ts_check(const struct timespec *ts);

#endif
