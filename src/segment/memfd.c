/* SPDX-License-Identifier: MIT */
/* memfd: backend: anonymous, sealed, shared by passing its descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal/platform.h"
#include "segment/segment_impl.h"

/* Seals every shmkit memfd carries: its size can never change, so a peer
 * cannot make our accesses fault with SIGBUS. */
#define SHMKIT_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

int
shmkit__memfd_create_seg(struct shmkit_segment *seg, const shmkit_segment_opts *o)
{
	char label[SHMKIT_NAME_MAX + 16];
	uint64_t total;
	int rc = shmkit__total_size(o->size, o->flags, &total);
	if (rc != 0) {
		return rc;
	}
	snprintf(label, sizeof(label), "shmkit%s%s", seg->spec.name[0] ? "." : "", seg->spec.name);
	unsigned mflags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	if (o->flags & SHMKIT_SEGMENT_F_HUGEPAGES) {
		mflags |= MFD_HUGETLB;
	}
	int fd = shmkit__memfd_create(label, mflags);
	if (fd < 0) {
		return fd;
	}
	rc = shmkit__fd_init_new(seg, fd, total, o->mode, o->kind);
	if (rc == 0 && fcntl(fd, F_ADD_SEALS, SHMKIT_SEALS) != 0) {
		rc = -errno;
	}
	if (rc != 0) {
		if (seg->base != NULL) {
			munmap(seg->base, seg->map_size);
			seg->base = NULL;
		}
		seg->fd = -1;
		close(fd);
		return rc;
	}
	return 0;
}

static int
is_memfd(int fd)
{
	char proc[64], target[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, target, sizeof(target) - 1);
	if (n < 0) {
		return 0;
	}
	target[n] = '\0';
	return strncmp(target, "/memfd:", 7) == 0;
}

int
shmkit__memfd_adopt(struct shmkit_segment *seg, int fd, const shmkit_segment_opts *o)
{
	/* A memfd that can still shrink could be truncated under us by its
	 * sender; only sealed ones are mapped (raw mode excepted, for foreign
	 * memfds the user chose to trust). Other descriptors (posix, file)
	 * get the usual owner and header checks. */
	if (is_memfd(fd) && !(o->flags & SHMKIT_SEGMENT_F_RAW)) {
		int seals = fcntl(fd, F_GET_SEALS);
		if (seals < 0 ||
		    (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
			return -EBADMSG;
		}
	}
	return shmkit__fd_map_existing(seg, fd, o);
}

int
shmkit__memfd_open(struct shmkit_segment *seg, const shmkit_segment_opts *o)
{
	int fd;
	if (seg->spec.form == SHMKIT_SPEC_FD) {
		/* The caller keeps its descriptor; the handle owns a duplicate. */
		fd = fcntl(seg->spec.fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0) {
			return -errno; /* -EBADF: no such descriptor here */
		}
	} else if (seg->spec.form == SHMKIT_SPEC_PID_FD) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", seg->spec.pid, seg->spec.fd);
		/* Re-opening through /proc follows the magic link to the memfd's
		 * inode; O_NOFOLLOW would refuse it. The owner check in
		 * fd_map_existing applies to the result. */
		fd = open(path, ((o->flags & SHMKIT_SEGMENT_F_RDONLY) ? O_RDONLY : O_RDWR) |
					O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			return -errno;
		}
	} else {
		return -EINVAL; /* an anonymous memfd has no name to open */
	}
	int rc = shmkit__memfd_adopt(seg, fd, o);
	if (rc != 0) {
		close(fd);
	}
	return rc;
}
