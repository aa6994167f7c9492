/* SPDX-License-Identifier: MIT */
/* Helpers shared by the segment tests: creating, patching and probing objects. */
#include "segtest.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const seg_named_backends[3] = {"posix", "sysv", "file"};
const char *const seg_all_backends[4] = {"posix", "sysv", "file", "memfd"};

shmkit_backend
seg_backend_of(const char *backend)
{
	if (strcmp(backend, "posix") == 0) {
		return SHMKIT_BACKEND_POSIX;
	}
	if (strcmp(backend, "sysv") == 0) {
		return SHMKIT_BACKEND_SYSV;
	}
	if (strcmp(backend, "file") == 0) {
		return SHMKIT_BACKEND_FILE;
	}
	if (strcmp(backend, "memfd") == 0) {
		return SHMKIT_BACKEND_MEMFD;
	}
	return SHMKIT_BACKEND_NONE;
}

shmkit_segment_opts
seg_opts(uint64_t size, uint32_t flags)
{
	shmkit_segment_opts o;

	shmkit_segment_opts_init(&o);
	o.size = size;
	o.flags = flags;
	return o;
}

shmkit_segment *
seg_create(const char *spec, uint64_t size, uint32_t flags)
{
	shmkit_segment_opts o = seg_opts(size, flags);
	shmkit_segment *s = NULL;
	int rc = shmkit_segment_create(&s, spec, &o);

	if (rc != 0 || s == NULL) {
		char b[160];
		th_fail(__FILE__, __LINE__, "create(%s, size %llu, flags 0x%x): %s", spec,
			(unsigned long long)size, flags, th_errdesc(rc, b, sizeof(b)));
	}
	return s;
}

shmkit_segment *
seg_open(const char *spec, uint32_t flags)
{
	shmkit_segment_opts o = seg_opts(0, flags);
	shmkit_segment *s = NULL;
	int rc = shmkit_segment_open(&s, spec, &o);

	if (rc != 0 || s == NULL) {
		char b[160];
		th_fail(__FILE__, __LINE__, "open(%s, flags 0x%x): %s", spec, flags,
			th_errdesc(rc, b, sizeof(b)));
	}
	return s;
}

int
seg_open_rc(const char *spec, uint32_t flags, uint32_t timeout_ms)
{
	shmkit_segment_opts o = seg_opts(0, flags);
	shmkit_segment *s = NULL;
	int rc;

	o.ready_timeout_ms = timeout_ms;
	rc = shmkit_segment_open(&s, spec, &o);
	if (rc == 0) {
		if (s == NULL) {
			th_fail(__FILE__, __LINE__, "open(%s) returned 0 and no handle", spec);
		}
		shmkit_segment_close(s);
	} else if (s != NULL) {
		th_fail(__FILE__, __LINE__, "open(%s) failed (%d) but set *out", spec, rc);
	}
	return rc;
}

const char *
seg_path(const char *spec, char *buf, size_t len)
{
	if (strncmp(spec, "posix:", 6) == 0) {
		snprintf(buf, len, "/dev/shm/shmkit.%s", spec + 6);
	} else if (strncmp(spec, "file:", 5) == 0) {
		snprintf(buf, len, "%s", spec + 5);
	} else {
		th_fail(__FILE__, __LINE__, "seg_path(%s): no path", spec);
	}
	return buf;
}

int
seg_sysv_id(const char *spec)
{
	return shmget((key_t)th_spec_key(spec), 0, 0);
}

int
seg_exists(const char *spec)
{
	char path[PATH_MAX];
	struct stat st;

	if (strncmp(spec, "sysv:", 5) == 0) {
		return seg_sysv_id(spec) >= 0;
	}
	return lstat(seg_path(spec, path, sizeof(path)), &st) == 0;
}

static void *
sysv_attach(const char *spec, int *id)
{
	void *p;

	*id = seg_sysv_id(spec);
	if (*id < 0) {
		th_fail(__FILE__, __LINE__, "no sysv segment %s: %s", spec, strerror(errno));
	}
	p = shmat(*id, NULL, 0);
	if (p == (void *)-1) {
		th_fail(__FILE__, __LINE__, "shmat(%s): %s", spec, strerror(errno));
	}
	return p;
}

static int
open_path(const char *spec, int flags)
{
	char path[PATH_MAX];
	int fd = open(seg_path(spec, path, sizeof(path)), flags | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		th_fail(__FILE__, __LINE__, "open(%s): %s", path, strerror(errno));
	}
	return fd;
}

void
seg_raw_read(const char *spec, uint64_t off, void *buf, size_t len)
{
	if (strncmp(spec, "sysv:", 5) == 0) {
		int id;
		char *p = sysv_attach(spec, &id);
		memcpy(buf, p + off, len);
		shmdt(p);
	} else {
		int fd = open_path(spec, O_RDONLY);
		ssize_t r = pread(fd, buf, len, (off_t)off);
		if (r != (ssize_t)len) {
			th_fail(__FILE__, __LINE__, "pread(%s): %zd", spec, r);
		}
		close(fd);
	}
}

void
seg_raw_write(const char *spec, uint64_t off, const void *buf, size_t len)
{
	if (strncmp(spec, "sysv:", 5) == 0) {
		int id;
		char *p = sysv_attach(spec, &id);
		memcpy(p + off, buf, len);
		shmdt(p);
	} else {
		int fd = open_path(spec, O_RDWR);
		ssize_t w = pwrite(fd, buf, len, (off_t)off);
		if (w != (ssize_t)len) {
			th_fail(__FILE__, __LINE__, "pwrite(%s): %zd", spec, w);
		}
		close(fd);
	}
}

uint64_t
seg_raw_size(const char *spec)
{
	if (strncmp(spec, "sysv:", 5) == 0) {
		struct shmid_ds ds;
		int id = seg_sysv_id(spec);
		if (id < 0 || shmctl(id, IPC_STAT, &ds) != 0) {
			th_fail(__FILE__, __LINE__, "IPC_STAT %s: %s", spec, strerror(errno));
		}
		return ds.shm_segsz;
	} else {
		struct stat st;
		int fd = open_path(spec, O_RDONLY);
		ASSERT_SYS(fstat(fd, &st));
		close(fd);
		return (uint64_t)st.st_size;
	}
}

void
seg_raw_truncate(const char *spec, uint64_t len)
{
	int fd = open_path(spec, O_RDWR);

	ASSERT_SYS(ftruncate(fd, (off_t)len));
	close(fd);
}

int
seg_all_bytes(const void *p, size_t len, unsigned char byte)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++) {
		if (c[i] != byte) {
			return 0;
		}
	}
	return 1;
}
