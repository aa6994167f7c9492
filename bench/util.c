/* SPDX-License-Identifier: MIT */
/* Clocks, spinning, full reads and writes, /proc numbers and mappings. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* Set when the pair shares one CPU, where spinning only burns the time slice
 * the peer needs to make progress. */
static int spin_yields;

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC is served by the vDSO: no system call, and immune to
	 * wall-clock steps during a run. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

void
bench_set_single_cpu(int single)
{
	spin_yields = single;
}

void
bench_relax(void)
{
	if (spin_yields) {
		sched_yield();
		return;
	}
	/* The pause hint lets the sibling hyperthread run and avoids the
	 * memory-order mis-speculation penalty when the awaited line changes. */
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

int
bench_write_full(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	/* Stream transports may accept less than asked (a pipe holds 64 KiB by
	 * default), so large messages are written in as many pieces as needed. */
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t
bench_read_full(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, p + done, len - done);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		if (n == 0) {
			return -ECONNRESET;
		}
		done += (size_t)n;
	}
	return (ssize_t)len;
}

int
bench_read_proc_u64(const char *path, uint64_t *out)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (f == NULL) {
		return -errno;
	}
	ok = fscanf(f, "%" SCNu64, out) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

void *
bench_map_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *
bench_map_private(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void
bench_unmap(void *addr, size_t len)
{
	if (addr != NULL) {
		munmap(addr, len);
	}
}

void
bench_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (try --help)\n", stderr);
	exit(2);
}

int
bench_parse_ulong(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9') {
		return -1;
	}
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}
