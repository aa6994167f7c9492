/* SPDX-License-Identifier: MIT */
/* The platform seam: process identity, clocks and system calls (private). */
#ifndef SHMKIT_INTERNAL_PLATFORM_H
#define SHMKIT_INTERNAL_PLATFORM_H

#include <stdint.h>
#include <sys/types.h>

/* Start time of @pid in clock ticks since boot (/proc/PID/stat field 22).
 * Return 0, or -ESRCH when there is no such process. */
int shmkit__proc_start_time(pid_t pid, uint64_t *out);

/* Is the process that had (@pid, @start) still running? PID reuse is caught
 * by the start time; a zombie counts as dead. Return 1 alive, 0 dead. */
int shmkit__proc_alive(pid_t pid, uint64_t start);

/* Start time of the calling process (cached after the first call). */
uint64_t shmkit__self_start_time(void);

/* Start of @pid as seconds since the epoch (boot time + start ticks).
 * Return 0 or -ESRCH. */
int shmkit__proc_start_epoch(pid_t pid, int64_t *out);

int64_t shmkit__realtime_ns(void);
/* Wall-clock seconds from the coarse clock (a few ns, tick resolution):
 * enough for second-granular times such as a semaphore set's otime. */
int64_t shmkit__realtime_coarse_sec(void);
int64_t shmkit__monotonic_ns(void);
/* CLOCK_MONOTONIC_COARSE: tick resolution (a few ms), a few ns to read:
 * for stamps compared against bounds of seconds. */
int64_t shmkit__monotonic_coarse_ns(void);
void shmkit__sleep_ns(int64_t ns);

/* memfd_create; return a descriptor or -errno. */
int shmkit__memfd_create(const char *label, unsigned flags);

/* A spin-wait hint: lets the sibling hardware thread run and saves power
 * while a waiter polls a shared word. */
static inline void
shmkit__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif
