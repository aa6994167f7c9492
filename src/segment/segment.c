/* SPDX-License-Identifier: MIT */
/* Public segment API: spec dispatch and what the backends share. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/crashpoint.h"
#include "internal/platform.h"
#include "segment/segment_impl.h"

#define HUGE_PAGE_SIZE (2u << 20)
/* Beyond this no backend can map an object on x86-64 or arm64 (47-bit user
 * address space); refusing early gives -EFBIG instead of a vague -ENOMEM. */
#define SIZE_LIMIT   (UINT64_C(1) << 46)
#define OPEN_RETRIES 16

SHMKIT_API void
shmkit_segment_opts_init(shmkit_segment_opts *opts)
{
	if (opts == NULL) {
		return;
	}
	memset(opts, 0, sizeof(*opts));
	opts->mode = 0600;
	opts->kind = SHMKIT_KIND_SEGMENT;
	opts->ready_timeout_ms = 1000;
}

void
shmkit__opts_resolve(const shmkit_segment_opts *in, shmkit_segment_opts *out)
{
	if (in == NULL) {
		shmkit_segment_opts_init(out);
	} else {
		*out = *in;
	}
}

int
shmkit__total_size(uint64_t data_size, unsigned flags, uint64_t *total)
{
	uint64_t page = (flags & SHMKIT_SEGMENT_F_HUGEPAGES) ? HUGE_PAGE_SIZE
							     : (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t head = (flags & SHMKIT_SEGMENT_F_RAW) ? 0 : SHMKIT_DATA_OFFSET;
	if (data_size > SIZE_LIMIT) {
		return -EFBIG;
	}
	*total = (data_size + head + page - 1) / page * page;
	return 0;
}

struct shmkit_segment *
shmkit__segment_alloc(const struct shmkit_spec *spec, unsigned flags)
{
	struct shmkit_segment *seg = calloc(1, sizeof(*seg));
	if (seg == NULL) {
		return NULL;
	}
	seg->spec = *spec;
	seg->fd = -1;
	seg->shmid = -1;
	seg->flags = flags;
	return seg;
}

void
shmkit__segment_free(struct shmkit_segment *seg)
{
	free(seg);
}

void
shmkit__segment_init_header(struct shmkit_segment *seg, uint32_t kind)
{
	struct shmkit_header *h = seg->base;
	shmkit__header_init(h, kind, seg->map_size, SHMKIT_DATA_OFFSET,
			    seg->map_size - SHMKIT_DATA_OFFSET);
	seg->data = (char *)seg->base + SHMKIT_DATA_OFFSET;
	seg->data_size = seg->map_size - SHMKIT_DATA_OFFSET;
}

void
shmkit__segment_set_data(struct shmkit_segment *seg, const struct shmkit_header_view *v)
{
	if (v == NULL) {
		seg->data = seg->base;
		seg->data_size = seg->map_size;
		return;
	}
	seg->data = (char *)seg->base + v->data_offset;
	seg->data_size = v->data_size;
}

int
shmkit__wait_ready(const void *base, uint64_t avail, uint32_t timeout_ms,
		   int (*creator_alive)(void *ctx, const struct shmkit_header_view *v), void *ctx,
		   struct shmkit_header_view *view)
{
	int64_t deadline = shmkit__monotonic_ns() + (int64_t)timeout_ms * 1000000;
	int64_t nap = 20000; /* 20 us, doubling to 1 ms: creators are quick */
	for (;;) {
		int in_progress = 0;
		int rc = shmkit__header_validate(base, avail, view, &in_progress);
		if (rc == 0 && view->state == SHMKIT_STATE_READY) {
			return 0;
		}
		if (rc == 0 && view->state == SHMKIT_STATE_BROKEN) {
			return -ENOTRECOVERABLE;
		}
		/* Past INITIALIZING, a validation error is a real verdict;
		 * during it the fields may be half-written. */
		if (!in_progress) {
			return rc;
		}
		int alive = creator_alive(ctx, rc == 0 ? view : NULL);
		if (alive <= 0) {
			/* Read once more: the creator may have published just
			 * before it exited or dropped its init marker. */
			rc = shmkit__header_validate(base, avail, view, &in_progress);
			if (rc == 0 && view->state == SHMKIT_STATE_READY) {
				return 0;
			}
			/* No shmkit creator known: not a shmkit object. */
			return alive < 0 ? (rc != 0 ? rc : -EMEDIUMTYPE) : -EOWNERDEAD;
		}
		if (shmkit__monotonic_ns() >= deadline) {
			return -ETIMEDOUT;
		}
		shmkit__sleep_ns(nap);
		if (nap < 1000000) {
			nap *= 2;
		}
	}
}

int
shmkit__open_nofollow(const char *path, int flags)
{
	/* O_NONBLOCK: a FIFO planted at the name would otherwise block the
	 * open (and so ls) until a peer opened its other end; for the regular
	 * files we accept it changes nothing. */
	int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

int
shmkit__tmpfile_in(const char *dir, char *fallback_path, size_t len)
{
	fallback_path[0] = '\0';
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0) {
		return fd;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		return -errno;
	}
	/* No O_TMPFILE on this file system: a hidden, exclusive temporary
	 * name stands in; the creator unlinks it once the object is linked. */
	for (int i = 0; i < 16; i++) {
		int n = snprintf(fallback_path, len, "%s/.shmkit-init.%d.%ld", dir, (int)getpid(),
				 (long)(shmkit__monotonic_ns() % 1000000007));
		if (n < 0 || (size_t)n >= len) {
			return -ENAMETOOLONG;
		}
		fd = open(fallback_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			return fd;
		}
		if (errno != EEXIST) {
			break;
		}
	}
	int err = -errno;
	fallback_path[0] = '\0';
	return err;
}

int
shmkit__link_tmpfile(int fd, const char *path)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	/* linkat() never replaces an existing name, so of two racing creators
	 * exactly one wins and the other gets EEXIST. */
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) != 0) {
		return -errno;
	}
	return 0;
}

int
shmkit__fd_init_new(struct shmkit_segment *seg, int fd, uint64_t total, uint32_t mode,
		    uint32_t kind)
{
	/* fchmod, not the umask, decides the mode. */
	if (fchmod(fd, mode & 07777) != 0) {
		return -errno;
	}
	if (total > (uint64_t)(off_t)INT64_MAX) {
		return -EFBIG;
	}
	/* Allocate now: a full tmpfs fails here with ENOSPC, not later with
	 * SIGBUS on first touch. */
	int rc = posix_fallocate(fd, 0, (off_t)total);
	if (rc == EOPNOTSUPP || rc == EINVAL) {
		rc = ftruncate(fd, (off_t)total) != 0 ? errno : 0;
	}
	if (rc == ENOSPC && (seg->flags & SHMKIT_SEGMENT_F_HUGEPAGES)) {
		/* hugetlbfs says ENOSPC when the pool has no free huge pages;
		 * report it as sysv's SHM_HUGETLB does, as a lack of memory. */
		rc = ENOMEM;
	}
	if (rc != 0) {
		return -rc;
	}
	SHMKIT_CRASHPOINT("create_after_alloc");
	void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		return -errno;
	}
	seg->base = p;
	seg->map_size = total;
	seg->fd = fd;
	if (seg->flags & SHMKIT_SEGMENT_F_RAW) {
		shmkit__segment_set_data(seg, NULL);
		return 0;
	}
	shmkit__segment_init_header(seg, kind);
	SHMKIT_CRASHPOINT("create_after_header");
	shmkit__header_publish(seg->base);
	return 0;
}

/* A creator that is named in the header: alive per pid and start time. */
static int
header_creator_alive(void *ctx, const struct shmkit_header_view *v)
{
	(void)ctx;
	if (v == NULL) {
		/* Zeroed descriptor-backed objects are never published under a
		 * name by shmkit: this one is not shmkit's. */
		return -1;
	}
	return shmkit__proc_alive(v->creator_pid, v->creator_start);
}

int
shmkit__fd_map_existing(struct shmkit_segment *seg, int fd, const shmkit_segment_opts *o)
{
	struct stat st;
	if (fstat(fd, &st) != 0) {
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		return -EMEDIUMTYPE;
	}
	if (st.st_uid != geteuid() && !(o->flags & SHMKIT_SEGMENT_F_ANY_OWNER)) {
		return -EACCES;
	}
	uint64_t avail = (uint64_t)st.st_size;
	int prot = (o->flags & SHMKIT_SEGMENT_F_RDONLY) ? PROT_READ : PROT_READ | PROT_WRITE;
	struct shmkit_header_view v;
	if (o->flags & SHMKIT_SEGMENT_F_RAW) {
		if (avail == 0) {
			return -EBADMSG;
		}
		if (avail > SIZE_LIMIT) {
			return -EFBIG;
		}
		seg->map_size = avail;
	} else {
		/* Read the header with pread, not through a mapping: a file
		 * shorter than a page would raise SIGBUS past its end. */
		unsigned char buf[SHMKIT_HEADER_SIZE];
		if (avail < SHMKIT_HEADER_SIZE) {
			return -EMEDIUMTYPE;
		}
		ssize_t n = pread(fd, buf, sizeof(buf), 0);
		if (n != (ssize_t)sizeof(buf)) {
			return n < 0 ? -errno : -EBADMSG;
		}
		int rc = shmkit__header_validate(buf, avail, &v, NULL);
		if (rc != 0) {
			return rc;
		}
		if (o->kind != SHMKIT_KIND_ANY && v.kind != o->kind) {
			return -EPROTOTYPE;
		}
		seg->map_size = v.total_size;
	}
	void *p = mmap(NULL, seg->map_size, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		return -errno;
	}
	seg->base = p;
	seg->fd = fd;
	if (o->flags & SHMKIT_SEGMENT_F_RAW) {
		shmkit__segment_set_data(seg, NULL);
		return 0;
	}
	/* The mapping is re-validated: the header we use is the one mapped. */
	int rc = shmkit__wait_ready(p, seg->map_size, o->ready_timeout_ms, header_creator_alive,
				    NULL, &v);
	if (rc == 0 && o->kind != SHMKIT_KIND_ANY && v.kind != o->kind) {
		rc = -EPROTOTYPE;
	}
	if (rc != 0) {
		munmap(p, seg->map_size);
		seg->base = NULL;
		seg->fd = -1;
		return rc;
	}
	shmkit__segment_set_data(seg, &v);
	return 0;
}

void
shmkit__info_from_header(shmkit_segment_info *info, const void *base, uint64_t avail)
{
	struct shmkit_header_view v;
	int rc = shmkit__header_validate(base, avail, &v, NULL);
	info->header_error = rc;
	if (rc != 0) {
		info->is_shmkit = 0;
		return;
	}
	info->is_shmkit = 1;
	info->kind = v.kind;
	info->state = v.state;
	info->layout_version = v.layout_version;
	info->data_offset = v.data_offset;
	info->data_size = v.data_size;
	info->creator_pid = v.creator_pid;
	info->creator_uid = v.creator_uid;
	info->creator_start = v.creator_start;
	info->creator_alive = shmkit__proc_alive(v.creator_pid, v.creator_start);
	info->created_ns = v.created_ns;
}

static void
info_reset(shmkit_segment_info *info)
{
	memset(info, 0, sizeof(*info));
	info->creator_pid = -1;
	info->creator_alive = -1;
	info->nattch = -1;
	info->sysv_id = -1;
	info->last_pid = -1;
	info->holder_pid = -1;
	info->atime = info->dtime = info->ctime = info->mtime = -1;
}

int
shmkit__fd_info(int fd, const struct stat *st, shmkit_segment_info *info)
{
	info->size = (uint64_t)st->st_size;
	info->mode = st->st_mode & 07777;
	info->uid = st->st_uid;
	info->gid = st->st_gid;
	info->ctime = st->st_ctime;
	info->mtime = st->st_mtime;
	unsigned char buf[SHMKIT_HEADER_SIZE];
	if (fd < 0) {
		info->header_error = -EACCES;
		return 0;
	}
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	if (n != (ssize_t)sizeof(buf)) {
		info->header_error = n < 0 ? -errno : -EMEDIUMTYPE;
		return 0;
	}
	shmkit__info_from_header(info, buf, (uint64_t)st->st_size);
	return 0;
}

int
shmkit__spec_open(const struct shmkit_spec *spec, const char *path, int flags)
{
	if (spec->backend != SHMKIT_BACKEND_MEMFD) {
		return shmkit__open_nofollow(path, flags);
	}
	/* A memfd is reached through a /proc descriptor link, a "magic" link
	 * that O_NOFOLLOW would refuse; it names no file an attacker could
	 * plant, so following it is safe. */
	int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

int
shmkit__spec_path(const struct shmkit_spec *spec, char *buf, size_t len)
{
	int n;
	switch (spec->backend) {
	case SHMKIT_BACKEND_POSIX:
		return shmkit__posix_path(spec->name, buf, len);
	case SHMKIT_BACKEND_FILE:
		n = snprintf(buf, len, "%s", spec->path);
		break;
	case SHMKIT_BACKEND_MEMFD:
		if (spec->form == SHMKIT_SPEC_FD) {
			n = snprintf(buf, len, "/proc/self/fd/%d", spec->fd);
		} else if (spec->form == SHMKIT_SPEC_PID_FD) {
			n = snprintf(buf, len, "/proc/%d/fd/%d", spec->pid, spec->fd);
		} else {
			return -EOPNOTSUPP;
		}
		break;
	default:
		return -EINVAL;
	}
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : n;
}

static int
parse(const char *spec, struct shmkit_spec *s)
{
	if (spec == NULL) {
		return -EINVAL;
	}
	return shmkit__spec_parse(spec, s);
}

static int
check_flags(unsigned flags)
{
	const unsigned known = SHMKIT_SEGMENT_F_RDONLY | SHMKIT_SEGMENT_F_HUGEPAGES |
			       SHMKIT_SEGMENT_F_RAW | SHMKIT_SEGMENT_F_ANY_OWNER;
	return (flags & ~known) ? -EINVAL : 0;
}

SHMKIT_API int
shmkit_segment_create(shmkit_segment **out, const char *spec, const shmkit_segment_opts *opts)
{
	struct shmkit_spec s;
	shmkit_segment_opts o;
	if (out == NULL) {
		return -EINVAL;
	}
	int rc = parse(spec, &s);
	if (rc != 0) {
		return rc;
	}
	shmkit__opts_resolve(opts, &o);
	if (check_flags(o.flags) != 0 || o.size == 0 || o.mode > 0777 ||
	    (o.flags & SHMKIT_SEGMENT_F_RDONLY)) {
		return -EINVAL;
	}
	if (o.kind == SHMKIT_KIND_ANY) {
		o.kind = SHMKIT_KIND_SEGMENT;
	}
	uint64_t total;
	rc = shmkit__total_size(o.size, o.flags, &total);
	if (rc != 0) {
		return rc;
	}
	struct shmkit_segment *seg = shmkit__segment_alloc(&s, o.flags);
	if (seg == NULL) {
		return -ENOMEM;
	}
	switch (s.backend) {
	case SHMKIT_BACKEND_POSIX:
		rc = shmkit__posix_create(seg, &o);
		break;
	case SHMKIT_BACKEND_FILE:
		rc = shmkit__file_create(seg, &o);
		break;
	case SHMKIT_BACKEND_MEMFD:
		rc = s.form == SHMKIT_SPEC_NAME ? shmkit__memfd_create_seg(seg, &o) : -EINVAL;
		break;
	case SHMKIT_BACKEND_SYSV:
		rc = s.form == SHMKIT_SPEC_ID ? -EINVAL : shmkit__sysv_create(seg, &o);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc != 0) {
		shmkit__segment_free(seg);
		return rc;
	}
	*out = seg;
	return 0;
}

SHMKIT_API int
shmkit_segment_open(shmkit_segment **out, const char *spec, const shmkit_segment_opts *opts)
{
	struct shmkit_spec s;
	shmkit_segment_opts o;
	if (out == NULL) {
		return -EINVAL;
	}
	int rc = parse(spec, &s);
	if (rc != 0) {
		return rc;
	}
	shmkit__opts_resolve(opts, &o);
	if (check_flags(o.flags) != 0) {
		return -EINVAL;
	}
	/* Huge pages are a property of the object, chosen at creation. */
	o.flags &= ~SHMKIT_SEGMENT_F_HUGEPAGES;
	struct shmkit_segment *seg = shmkit__segment_alloc(&s, o.flags);
	if (seg == NULL) {
		return -ENOMEM;
	}
	switch (s.backend) {
	case SHMKIT_BACKEND_POSIX:
		rc = shmkit__posix_open(seg, &o);
		break;
	case SHMKIT_BACKEND_FILE:
		rc = shmkit__file_open(seg, &o);
		break;
	case SHMKIT_BACKEND_MEMFD:
		rc = shmkit__memfd_open(seg, &o);
		break;
	case SHMKIT_BACKEND_SYSV:
		rc = s.form == SHMKIT_SPEC_PRIVATE ? -EINVAL : shmkit__sysv_open(seg, &o);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc != 0) {
		shmkit__segment_free(seg);
		return rc;
	}
	*out = seg;
	return 0;
}

SHMKIT_API int
shmkit_segment_open_or_create(shmkit_segment **out, const char *spec,
			      const shmkit_segment_opts *opts)
{
	struct shmkit_spec s;
	int rc = parse(spec, &s);
	if (rc != 0) {
		return rc;
	}
	if (s.backend == SHMKIT_BACKEND_MEMFD || s.form == SHMKIT_SPEC_PRIVATE ||
	    s.form == SHMKIT_SPEC_ID) {
		return -EINVAL; /* these name no object both forms could reach */
	}
	/* Bounded: each round loses only to a racing remover or creator, and
	 * backs off a little more so a busy creator gets to finish. */
	int64_t nap = 50000;
	for (int i = 0; i < OPEN_RETRIES; i++) {
		if (i > 0) {
			shmkit__sleep_ns(nap);
			nap = nap < 10000000 ? nap * 2 : nap;
		}
		rc = shmkit_segment_open(out, spec, opts);
		/* A dead creator's leftover is reclaimed by create; one removed
		 * under us (-EIDRM) is gone, so create may proceed too. */
		if (rc != -ENOENT && rc != -EOWNERDEAD && rc != -EIDRM) {
			return rc;
		}
		rc = shmkit_segment_create(out, spec, opts);
		if (rc == 0) {
			return 1;
		}
		if (rc != -EEXIST) {
			return rc;
		}
	}
	return -EAGAIN;
}

SHMKIT_API int
shmkit_segment_close(shmkit_segment *seg)
{
	int rc = 0;
	if (seg == NULL) {
		return 0;
	}
	if (seg->spec.backend == SHMKIT_BACKEND_SYSV) {
		rc = shmkit__sysv_close(seg);
	} else {
		if (seg->base != NULL && munmap(seg->base, seg->map_size) != 0) {
			rc = -errno;
		}
		if (seg->fd >= 0) {
			close(seg->fd);
		}
	}
	shmkit__segment_free(seg);
	return rc;
}

static int
remove_spec(const struct shmkit_spec *s)
{
	switch (s->backend) {
	case SHMKIT_BACKEND_POSIX:
		return shmkit__posix_remove(s);
	case SHMKIT_BACKEND_FILE:
		return shmkit__file_remove(s);
	case SHMKIT_BACKEND_SYSV:
		return shmkit__sysv_remove(s);
	case SHMKIT_BACKEND_MEMFD:
		return -EOPNOTSUPP;
	default:
		return -EINVAL;
	}
}

SHMKIT_API int
shmkit_segment_destroy(shmkit_segment *seg)
{
	if (seg == NULL) {
		return 0;
	}
	struct shmkit_spec s = seg->spec;
	if (s.backend == SHMKIT_BACKEND_SYSV) {
		/* By id: a private segment has no key to find it by. */
		s.form = SHMKIT_SPEC_ID;
		s.id = seg->shmid;
	}
	int rc = 0;
	if (s.backend == SHMKIT_BACKEND_POSIX || s.backend == SHMKIT_BACKEND_FILE) {
		/* Remove the name only while it still names our object: after
		 * someone else's remove and create it is not ours to take. */
		char path[PATH_MAX];
		struct stat a, b;
		rc = shmkit__spec_path(&s, path, sizeof(path));
		if (rc >= 0) {
			rc = (fstat(seg->fd, &a) == 0 && lstat(path, &b) == 0 &&
			      a.st_dev == b.st_dev && a.st_ino == b.st_ino)
				     ? remove_spec(&s)
				     : -ENOENT;
		}
	} else if (s.backend == SHMKIT_BACKEND_SYSV) {
		rc = remove_spec(&s);
	}
	int rc2 = shmkit_segment_close(seg);
	return rc != 0 ? rc : rc2;
}

SHMKIT_API int
shmkit_segment_remove(const char *spec)
{
	struct shmkit_spec s;
	int rc = parse(spec, &s);
	if (rc != 0) {
		return rc;
	}
	if (s.form == SHMKIT_SPEC_PRIVATE) {
		return -EINVAL;
	}
	return remove_spec(&s);
}

SHMKIT_API void *
shmkit_segment_data(const shmkit_segment *seg)
{
	return seg != NULL ? seg->data : NULL;
}

SHMKIT_API size_t
shmkit_segment_size(const shmkit_segment *seg)
{
	return seg != NULL ? seg->data_size : 0;
}

SHMKIT_API int
shmkit_segment_fd(const shmkit_segment *seg)
{
	if (seg == NULL) {
		return -EINVAL;
	}
	return seg->fd >= 0 ? seg->fd : -EOPNOTSUPP;
}

SHMKIT_API shmkit_backend
shmkit_segment_backend(const shmkit_segment *seg)
{
	return seg != NULL ? seg->spec.backend : SHMKIT_BACKEND_NONE;
}

SHMKIT_API int
shmkit_segment_sync(shmkit_segment *seg, size_t off, size_t len, unsigned flags)
{
	if (seg == NULL) {
		return -EINVAL;
	}
	unsigned mode = flags & (SHMKIT_SYNC_ASYNC | SHMKIT_SYNC_SYNC);
	if ((flags & ~(SHMKIT_SYNC_ASYNC | SHMKIT_SYNC_SYNC | SHMKIT_SYNC_INVALIDATE)) ||
	    (mode != SHMKIT_SYNC_ASYNC && mode != SHMKIT_SYNC_SYNC)) {
		return -EINVAL;
	}
	if (off > seg->data_size) {
		return -EINVAL;
	}
	if (len == 0) {
		len = seg->data_size - off;
	}
	if (len > seg->data_size - off) {
		return -EINVAL;
	}
	if (len == 0) {
		return 0;
	}
	/* msync wants a page-aligned start: widen the range down to it. */
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)seg->data + off;
	uintptr_t aligned = start & ~(page - 1);
	int mflags = (mode == SHMKIT_SYNC_SYNC ? MS_SYNC : MS_ASYNC) |
		     ((flags & SHMKIT_SYNC_INVALIDATE) ? MS_INVALIDATE : 0);
	if (msync((void *)aligned, len + (start - aligned), mflags) != 0) {
		return -errno;
	}
	return 0;
}

SHMKIT_API int
shmkit_segment_check(const shmkit_segment *seg)
{
	if (seg == NULL) {
		return -EINVAL;
	}
	if (seg->spec.backend == SHMKIT_BACKEND_SYSV) {
		return shmkit__sysv_check(seg);
	}
	struct stat st;
	if (fstat(seg->fd, &st) != 0) {
		return -errno;
	}
	if ((uint64_t)st.st_size < seg->map_size) {
		return -EBADMSG;
	}
	if (seg->flags & SHMKIT_SEGMENT_F_RAW) {
		return 0;
	}
	struct shmkit_header_view v;
	int rc = shmkit__header_validate(seg->base, seg->map_size, &v, NULL);
	if (rc != 0) {
		return rc == -EMEDIUMTYPE ? -EBADMSG : rc;
	}
	return v.state == SHMKIT_STATE_BROKEN ? -ENOTRECOVERABLE : 0;
}

/* stat of a descriptor-backed object by its path, without mapping it. */
static int
fd_stat(const struct shmkit_spec *s, shmkit_segment_info *info)
{
	char path[PATH_MAX];
	struct stat st;
	int rc = shmkit__spec_path(s, path, sizeof(path));
	if (rc < 0) {
		return rc;
	}
	int fd = shmkit__spec_open(s, path, O_RDONLY);
	if (fd == -EACCES) {
		/* Not readable by us: still tell what the directory shows. */
		if (lstat(path, &st) != 0) {
			return -errno;
		}
		if (!S_ISREG(st.st_mode)) {
			return -EMEDIUMTYPE;
		}
		return shmkit__fd_info(-1, &st, info);
	}
	if (fd == -ENOENT && s->form == SHMKIT_SPEC_FD) {
		return -EBADF; /* no such descriptor in this process */
	}
	if (fd < 0) {
		return fd;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EMEDIUMTYPE;
	}
	if (s->backend == SHMKIT_BACKEND_MEMFD) {
		info->holder_pid = s->form == SHMKIT_SPEC_PID_FD ? s->pid : (int32_t)getpid();
	}
	rc = shmkit__fd_info(fd, &st, info);
	close(fd);
	return rc;
}

SHMKIT_API int
shmkit_segment_stat(const char *spec, shmkit_segment_info *info)
{
	struct shmkit_spec s;
	if (info == NULL) {
		return -EINVAL;
	}
	int rc = parse(spec, &s);
	if (rc != 0) {
		return rc;
	}
	info_reset(info);
	info->backend = s.backend;
	rc = shmkit__spec_format(&s, info->spec, sizeof(info->spec));
	if (rc < 0) {
		return rc;
	}
	if (s.backend == SHMKIT_BACKEND_SYSV) {
		if (s.form == SHMKIT_SPEC_PRIVATE) {
			return -EINVAL;
		}
		return shmkit__sysv_stat(&s, info);
	}
	return fd_stat(&s, info);
}

SHMKIT_API int
shmkit_segment_info_get(const shmkit_segment *seg, shmkit_segment_info *info)
{
	if (seg == NULL || info == NULL) {
		return -EINVAL;
	}
	info_reset(info);
	struct shmkit_spec s = seg->spec;
	info->backend = s.backend;
	if (s.backend == SHMKIT_BACKEND_SYSV) {
		s.form = SHMKIT_SPEC_ID;
		s.id = seg->shmid;
		int rc = shmkit__sysv_stat(&s, info);
		if (rc == 0 && seg->spec.form != SHMKIT_SPEC_PRIVATE &&
		    seg->spec.form != SHMKIT_SPEC_ID && !info->removed) {
			shmkit__spec_format(&seg->spec, info->spec, sizeof(info->spec));
		}
		return rc;
	}
	struct stat st;
	if (fstat(seg->fd, &st) != 0) {
		return -errno;
	}
	if (s.backend == SHMKIT_BACKEND_MEMFD) {
		s.form = SHMKIT_SPEC_PID_FD;
		s.pid = (int)getpid();
		s.fd = seg->fd;
		info->holder_pid = s.pid;
	}
	int rc = shmkit__spec_format(&s, info->spec, sizeof(info->spec));
	if (rc < 0) {
		return rc;
	}
	return shmkit__fd_info(seg->fd, &st, info);
}

SHMKIT_API int
shmkit_segment_set_perm(const char *spec, long mode, long uid, long gid)
{
	struct shmkit_spec s;
	char path[PATH_MAX];
	int rc = parse(spec, &s);
	if (rc != 0) {
		return rc;
	}
	if ((mode != SHMKIT_PERM_KEEP && (mode < 0 || mode > 0777)) ||
	    (uid != SHMKIT_PERM_KEEP && (uid < 0 || uid > (long)UINT32_MAX - 1)) ||
	    (gid != SHMKIT_PERM_KEEP && (gid < 0 || gid > (long)UINT32_MAX - 1))) {
		return -EINVAL;
	}
	if (s.backend == SHMKIT_BACKEND_SYSV) {
		return s.form == SHMKIT_SPEC_PRIVATE ? -EINVAL
						     : shmkit__sysv_set_perm(&s, mode, uid, gid);
	}
	rc = shmkit__spec_path(&s, path, sizeof(path));
	if (rc < 0) {
		return rc;
	}
	/*
	 * An O_PATH descriptor needs no read or write permission, so the owner
	 * of a mode-0000 object can still change it, as chmod allows. With
	 * O_NOFOLLOW a planted symlink is opened as itself and refused; the
	 * changes then go through the descriptor, to the object we checked.
	 */
	int fd = s.backend == SHMKIT_BACKEND_MEMFD ? open(path, O_PATH | O_CLOEXEC)
						   : open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
	} else if (S_ISLNK(st.st_mode)) {
		rc = -ELOOP;
	} else if (!S_ISREG(st.st_mode)) {
		rc = -EMEDIUMTYPE;
	} else {
		rc = 0;
	}
	if (rc == 0 && mode != SHMKIT_PERM_KEEP) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (chmod(proc, (mode_t)mode) != 0) {
			rc = -errno;
		}
	}
	if (rc == 0 && (uid != SHMKIT_PERM_KEEP || gid != SHMKIT_PERM_KEEP) &&
	    fchownat(fd, "", uid == SHMKIT_PERM_KEEP ? (uid_t)-1 : (uid_t)uid,
		     gid == SHMKIT_PERM_KEEP ? (gid_t)-1 : (gid_t)gid, AT_EMPTY_PATH) != 0) {
		rc = -errno;
	}
	close(fd);
	return rc;
}

SHMKIT_API int
shmkit_segment_send_fd(const shmkit_segment *seg, int sock)
{
	if (seg == NULL || sock < 0) {
		return -EINVAL;
	}
	if (seg->fd < 0) {
		return -EOPNOTSUPP;
	}
	char byte = 'S';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &seg->fd, sizeof(int));
	for (;;) {
		if (sendmsg(sock, &msg, MSG_NOSIGNAL) == 1) {
			return 0;
		}
		if (errno != EINTR) {
			return -errno;
		}
	}
}

/*
 * What a received descriptor is: a memfd, one of our posix objects, or
 * another file, by the link /proc shows for it. The spec only labels the
 * handle (backend(), info); the object is reached through the descriptor.
 */
static void
describe_fd(int fd, struct shmkit_spec *s)
{
	char proc[64], target[PATH_MAX];
	const char *shm = SHMKIT_POSIX_DIR "/" SHMKIT_POSIX_PREFIX;
	memset(s, 0, sizeof(*s));
	s->id = -1;
	s->fd = fd;
	s->backend = SHMKIT_BACKEND_MEMFD;
	s->form = SHMKIT_SPEC_FD;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, target, sizeof(target) - 1);
	if (n <= 0 || strncmp(target, "/memfd:", 7) == 0) {
		return;
	}
	target[n] = '\0';
	char *deleted = strstr(target, " (deleted)");
	if (deleted != NULL && deleted[10] == '\0') {
		*deleted = '\0';
	}
	size_t plen = strlen(shm);
	if (strncmp(target, shm, plen) == 0 &&
	    shmkit__name_check(target + plen, strlen(target + plen)) == 0) {
		s->backend = SHMKIT_BACKEND_POSIX;
		s->form = SHMKIT_SPEC_NAME;
		snprintf(s->name, sizeof(s->name), "%s", target + plen);
		return;
	}
	s->backend = SHMKIT_BACKEND_FILE;
	s->form = SHMKIT_SPEC_NAME;
	snprintf(s->path, sizeof(s->path), "%s", target);
}

SHMKIT_API int
shmkit_segment_recv_fd(shmkit_segment **out, int sock, const shmkit_segment_opts *opts)
{
	if (out == NULL || sock < 0) {
		return -EINVAL;
	}
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} u;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		return -errno;
	}
	if (n == 0) {
		return -ECONNRESET;
	}
	/* Take every descriptor the peer sent, keep the first, close the
	 * rest: a hostile sender must not leak descriptors into us. */
	int fd = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			continue;
		}
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fd < 0) {
				fd = got;
			} else {
				close(got);
			}
		}
	}
	if (fd < 0 || (msg.msg_flags & MSG_CTRUNC)) {
		if (fd >= 0) {
			close(fd);
		}
		return -EPROTO;
	}
	shmkit_segment_opts o;
	shmkit__opts_resolve(opts, &o);
	struct shmkit_spec s;
	describe_fd(fd, &s);
	struct shmkit_segment *seg = shmkit__segment_alloc(&s, o.flags);
	if (seg == NULL) {
		close(fd);
		return -ENOMEM;
	}
	int rc = shmkit__memfd_adopt(seg, fd, &o);
	if (rc != 0) {
		close(fd);
		shmkit__segment_free(seg);
		return rc;
	}
	*out = seg;
	return 0;
}

SHMKIT_API const char *
shmkit_backend_name(shmkit_backend backend)
{
	switch (backend) {
	case SHMKIT_BACKEND_POSIX:
		return "posix";
	case SHMKIT_BACKEND_SYSV:
		return "sysv";
	case SHMKIT_BACKEND_FILE:
		return "file";
	case SHMKIT_BACKEND_MEMFD:
		return "memfd";
	default:
		return "none";
	}
}

SHMKIT_API const char *
shmkit_state_name(uint32_t state)
{
	switch (state) {
	case SHMKIT_STATE_INITIALIZING:
		return "initializing";
	case SHMKIT_STATE_READY:
		return "ready";
	case SHMKIT_STATE_BROKEN:
		return "broken";
	default:
		return "unknown";
	}
}
