/* SPDX-License-Identifier: MIT */
/* Futex wait/wake on shared words and CLOCK_MONOTONIC deadline arithmetic. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/futex.h"

int
shmkit__futex_wait(_Atomic uint32_t *addr, uint32_t expected, const struct timespec *deadline)
{
	/*
	 * FUTEX_WAIT_BITSET takes an absolute timeout, on CLOCK_MONOTONIC
	 * unless FUTEX_CLOCK_REALTIME is given: a deadline that wall-clock
	 * jumps cannot move, and no re-computation of a relative timeout
	 * after EINTR. Not FUTEX_PRIVATE_FLAG: the word is shared between
	 * processes.
	 */
	long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_BITSET, expected, deadline, NULL,
			 FUTEX_BITSET_MATCH_ANY);
	if (r == 0) {
		return 0;
	}
	return -errno;
}

int
shmkit__futex_wake(_Atomic uint32_t *addr, int n)
{
	long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, n, NULL, NULL, 0);
	return r < 0 ? -errno : (int)r;
}

void
shmkit__now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

void
shmkit__ts_add_ns(struct timespec *ts, int64_t ns)
{
	if (ns < 0) {
		ns = 0;
	}
	ts->tv_sec += (time_t)(ns / 1000000000);
	ts->tv_nsec += (long)(ns % 1000000000);
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int64_t
shmkit__ts_diff_ns(const struct timespec *a, const struct timespec *b)
{
	int64_t s = (int64_t)b->tv_sec - (int64_t)a->tv_sec;
	if (s > INT64_MAX / 1000000000 - 1) {
		return INT64_MAX;
	}
	if (s < INT64_MIN / 1000000000 + 1) {
		return INT64_MIN;
	}
	return s * 1000000000 + (b->tv_nsec - a->tv_nsec);
}

int
shmkit__ts_passed(const struct timespec *deadline)
{
	struct timespec now;
	if (deadline == NULL) {
		return 0;
	}
	shmkit__now(&now);
	return shmkit__ts_diff_ns(deadline, &now) >= 0;
}

void
shmkit__ts_slice(struct timespec *out, const struct timespec *deadline, int64_t slice_ns)
{
	shmkit__now(out);
	shmkit__ts_add_ns(out, slice_ns);
	if (deadline != NULL && shmkit__ts_diff_ns(deadline, out) > 0) {
		*out = *deadline;
	}
}

int
shmkit__ts_check(const struct timespec *ts)
{
	if (ts == NULL) {
		return 0;
	}
	return (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000) ? -EINVAL : 0;
}
