/* SPDX-License-Identifier: MIT */
/* Clocks, spinning, full reads and writes, /proc numbers, mappings, statistics and options. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
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

size_t
bench_max_msg_none(char *why, size_t whylen)
{
	(void)why;
	(void)whylen;
	return 0;
}

unsigned char *
bench_alloc_buf(size_t size)
{
	size_t len = (size + BENCH_BUF_SLACK + 63) / 64 * 64;
	unsigned char *p = aligned_alloc(64, len);

	if (p != NULL) {
		/* Touch every page now, not during the timed loop. */
		memset(p, 0, len);
	}
	return p;
}

/* ---- statistics ----------------------------------------------------------- */

int
bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

uint64_t
bench_percentile(const uint64_t *sorted, unsigned long n, unsigned long p)
{
	unsigned long rank = (unsigned long)(((unsigned long long)n * p + 99999) / 100000);

	if (rank == 0) {
		rank = 1;
	}
	return sorted[rank - 1];
}

double
bench_sort_mean(uint64_t *samples, unsigned long n)
{
	double sum = 0;

	qsort(samples, n, sizeof(*samples), bench_cmp_u64);
	for (unsigned long i = 0; i < n; i++) {
		sum += (double)samples[i];
	}
	return sum / (double)n;
}

void
bench_latency_fill(struct bench_latency *out, uint64_t *samples, unsigned long n)
{
	out->mean_ns = bench_sort_mean(samples, n);
	out->measured = 1;
	out->min_ns = samples[0];
	out->p50_ns = bench_percentile(samples, n, 50000);
	out->p99_ns = bench_percentile(samples, n, 99000);
	out->p999_ns = bench_percentile(samples, n, 99900);
	out->max_ns = samples[n - 1];
}

double
bench_median(double *v, unsigned long n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- options and messages ------------------------------------------------- */

void
bench_vmsg(const char *fmt, va_list ap, const char *end)
{
	fprintf(stderr, "%s: ", bench_prog);
	vfprintf(stderr, fmt, ap);
	fputs(end, stderr);
}

void
bench_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bench_vmsg(fmt, ap, " (try --help)\n");
	va_end(ap);
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

unsigned long
bench_count_arg(const char *opt, const char *arg)
{
	unsigned long v;

	if (bench_parse_ulong(arg, &v) != 0 || v < 1 || v > 100000000UL) {
		bench_usage_error("%s: expected 1..100000000, got '%s'", opt, arg);
	}
	return v;
}

int
bench_parse_size(const char *s, size_t *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9') {
		return -1;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0) {
		return -1;
	}
	if (strcmp(end, "K") == 0 || strcmp(end, "k") == 0 || strcmp(end, "KiB") == 0) {
		v <<= 10;
	} else if (strcmp(end, "M") == 0 || strcmp(end, "MiB") == 0) {
		v <<= 20;
	} else if (strcmp(end, "") != 0 && strcmp(end, "B") != 0) {
		return -1;
	}
	*out = v;
	return 0;
}

char *
bench_list_first(const char *opt, const char *arg, char *buf, size_t len, char **save)
{
	if (strlen(arg) >= len) {
		bench_usage_error("%s: list too long", opt);
	}
	strcpy(buf, arg);
	*save = NULL;
	return strtok_r(buf, ",", save);
}

int
bench_getopt(int argc, char **argv, const struct option *opts, const char *usage,
	     struct bench_cli *cli)
{
	/* getopt's own messages are two lines; these programs say one. */
	opterr = 0;
	for (;;) {
		int c = getopt_long(argc, argv, ":h", opts, NULL);

		switch (c) {
		case -1:
			if (optind < argc) {
				bench_usage_error("unexpected argument '%s'", argv[optind]);
			}
			if (cli->quick && cli->smoke) {
				bench_usage_error("--quick and --smoke exclude each other");
			}
			return -1;
		case 'q':
			cli->quick = 1;
			break;
		case 's':
			cli->smoke = 1;
			break;
		case 'j':
			cli->json = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		case ':':
			bench_usage_error("option '%s' needs a value", argv[optind - 1]);
		case '?':
			bench_usage_error("unknown option '%s'", argv[optind - 1]);
		default:
			return c;
		}
	}
}

unsigned
bench_watchdog_for(int smoke, unsigned long iters)
{
	if (smoke) {
		return 30;
	}
	return 120 + (unsigned)(iters / 1000 < 86400 ? iters / 1000 : 86400);
}

unsigned long
bench_warmup(unsigned long n)
{
	return n / 10 > 0 ? n / 10 : 1;
}

int
bench_finish(void)
{
	if (fflush(stdout) != 0) {
		fprintf(stderr, "%s: cannot write the results: %s\n", bench_prog, strerror(errno));
		return 1;
	}
	return 0;
}

void
bench_progress(int on, const char *fmt, ...)
{
	va_list ap;

	if (!on) {
		return;
	}
	fprintf(stderr, "\r%-78s\r", "");
	if (fmt == NULL) {
		return;
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
