/* SPDX-License-Identifier: MIT */
/* Indices and sequence numbers of the System V drop-ins' objects. */
#include <dirent.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "internal/platform.h"
#include "internal/spec.h"
#include "internal/sysvids.h"

int
shmkit__sysv_index_of_name(const char *name, const char *kind, int limit)
{
	size_t plen = strlen(SHMKIT_POSIX_PREFIX), klen = strlen(kind);
	if (strncmp(name, SHMKIT_POSIX_PREFIX, plen) != 0 ||
	    strncmp(name + plen, kind, klen) != 0) {
		return -1;
	}
	const char *p = name + plen + klen;
	/* Decimal, no sign, no leading zero: one name per index. */
	if (*p < '0' || *p > '9' || (*p == '0' && p[1] != '\0')) {
		return -1;
	}
	long v = 0;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > SHMKIT_IPCMNI) {
			return -1;
		}
		v = v * 10 + (*p - '0');
	}
	return v < limit ? (int)v : -1;
}

int
shmkit__sysv_scan_indices(const char *kind, int limit, unsigned char *used)
{
	int max = -1;
	DIR *d = opendir(SHMKIT_POSIX_DIR);
	if (d == NULL) {
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		int idx = shmkit__sysv_index_of_name(e->d_name, kind, limit);
		if (idx < 0) {
			continue;
		}
		if (used != NULL) {
			used[idx / 8] |= (unsigned char)(1u << (idx % 8));
		}
		max = idx > max ? idx : max;
	}
	closedir(d);
	return max;
}

unsigned
shmkit__sysv_new_seq(void)
{
	/* Not a secret, only unlikely to repeat at one index. */
	static _Atomic uint32_t counter;
	uint64_t x = (uint64_t)shmkit__monotonic_ns() ^ ((uint64_t)getpid() << 32) ^
		     atomic_fetch_add_explicit(&counter, 0x9e3779b9u, memory_order_relaxed);
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	/* 1..65535, so that id = idx + IPCMNI * seq stays below INT_MAX. */
	return (unsigned)(x % SHMKIT_SEQ_MAX) + 1;
}
