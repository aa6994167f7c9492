/* SPDX-License-Identifier: MIT */
/* Linux platform seam: process start times, clocks, memfd_create. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal/platform.h"

/*
 * Field 22 of /proc/PID/stat is the start time in clock ticks since boot.
 * The command name (field 2) may hold spaces and parentheses, so parsing
 * starts after the last ')'. Field 3 is the state: a zombie ('Z') or a dead
 * task ('X') has finished running and counts as gone.
 */
static int
read_stat(pid_t pid, uint64_t *start, char *state)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -ESRCH;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return -ESRCH;
	}
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ') {
		return -ESRCH;
	}
	p += 2;
	*state = *p;
	/* Skip fields 3..21 to reach 22. */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (p == NULL) {
			return -ESRCH;
		}
		p++;
	}
	*start = strtoull(p, NULL, 10);
	return 0;
}

int
shmkit__proc_start_time(pid_t pid, uint64_t *out)
{
	char state;
	return read_stat(pid, out, &state);
}

int
shmkit__proc_alive(pid_t pid, uint64_t start)
{
	uint64_t now_start;
	char state;
	if (pid <= 0) {
		return 0;
	}
	if (read_stat(pid, &now_start, &state) != 0) {
		return 0;
	}
	if (state == 'Z' || state == 'X' || state == 'x') {
		return 0;
	}
	/* A different start time means the PID was reused. */
	return now_start == start;
}

uint64_t
shmkit__self_start_time(void)
{
	/* Cached per process; a forked child has its own start time, so the
	 * cache is keyed by pid. Races only recompute the same value. */
	static _Atomic uint64_t cached;
	static _Atomic int cached_pid;
	pid_t me = getpid();
	if (atomic_load_explicit(&cached_pid, memory_order_acquire) == me) {
		return atomic_load_explicit(&cached, memory_order_relaxed);
	}
	uint64_t t = 0;
	shmkit__proc_start_time(me, &t);
	atomic_store_explicit(&cached, t, memory_order_relaxed);
	/* Release pairs with the acquire above: the value is stored first. */
	atomic_store_explicit(&cached_pid, me, memory_order_release);
	return t;
}

static int64_t
clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
shmkit__realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

int64_t
shmkit__realtime_coarse_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t
shmkit__monotonic_coarse_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC_COARSE);
}

int64_t
shmkit__monotonic_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

void
shmkit__sleep_ns(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

int
shmkit__memfd_create(const char *label, unsigned flags)
{
	int fd = (int)syscall(SYS_memfd_create, label, flags);
	return fd < 0 ? -errno : fd;
}

static int64_t
boot_time(void)
{
	/* "btime" in /proc/stat: boot time in seconds since the epoch. */
	char buf[4096];
	int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -1;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return -1;
	}
	buf[n] = '\0';
	const char *p = strstr(buf, "\nbtime ");
	return p != NULL ? strtoll(p + 7, NULL, 10) : -1;
}

int
shmkit__proc_start_epoch(pid_t pid, int64_t *out)
{
	uint64_t ticks;
	char state;
	if (pid <= 0 || read_stat(pid, &ticks, &state) != 0 || state == 'Z' || state == 'X') {
		return -ESRCH;
	}
	int64_t bt = boot_time();
	long hz = sysconf(_SC_CLK_TCK);
	if (bt < 0 || hz <= 0) {
		return -ESRCH;
	}
	*out = bt + (int64_t)(ticks / (uint64_t)hz);
	return 0;
}
