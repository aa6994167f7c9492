/* SPDX-License-Identifier: MIT */
/* posix: backend (/dev/shm/shmkit.NAME) and the named-file logic file: shares. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/crashpoint.h"
#include "segment/segment_impl.h"

/* Undo a failed creation: nothing of it may stay behind. */
static void
abandon(struct shmkit_segment *seg, int fd, const char *tmp)
{
	if (seg->base != NULL) {
		munmap(seg->base, seg->map_size);
		seg->base = NULL;
	}
	seg->fd = -1;
	if (fd >= 0) {
		close(fd);
	}
	if (tmp[0] != '\0') {
		unlink(tmp);
	}
}

/*
 * Create the object in @dir, unnamed, fill and publish it, and only then link
 * it at @path. An opener therefore finds either nothing or a ready object,
 * and a creator killed at any step leaves nothing behind (with O_TMPFILE;
 * the fallback leaves a hidden temporary that shmkit gc removes).
 */
int
shmkit__named_create(struct shmkit_segment *seg, const char *dir, const char *path,
		     const shmkit_segment_opts *o)
{
	char tmp[PATH_MAX];
	uint64_t total;
	int rc = shmkit__total_size(o->size, o->flags, &total);
	if (rc != 0) {
		return rc;
	}
	struct stat st;
	/* Fail early, before allocating storage, when the name is taken (by
	 * anything, a planted symlink included); linkat below decides races. */
	if (lstat(path, &st) == 0) {
		return -EEXIST;
	}
	int fd = shmkit__tmpfile_in(dir, tmp, sizeof(tmp));
	if (fd < 0) {
		return fd;
	}
	rc = shmkit__fd_init_new(seg, fd, total, o->mode, o->kind);
	if (rc != 0) {
		abandon(seg, fd, tmp);
		return rc;
	}
	SHMKIT_CRASHPOINT("create_before_publish");
	if (tmp[0] != '\0') {
		rc = link(tmp, path) != 0 ? -errno : 0;
		unlink(tmp);
		tmp[0] = '\0';
	} else {
		rc = shmkit__link_tmpfile(fd, path);
	}
	if (rc != 0) {
		abandon(seg, fd, tmp);
		return rc;
	}
	return 0;
}

int
shmkit__named_open(struct shmkit_segment *seg, const char *path, const shmkit_segment_opts *o)
{
	int fd = shmkit__open_nofollow(path,
				       (o->flags & SHMKIT_SEGMENT_F_RDONLY) ? O_RDONLY : O_RDWR);
	if (fd < 0) {
		return fd;
	}
	int rc = shmkit__fd_map_existing(seg, fd, o);
	if (rc != 0) {
		close(fd);
	}
	return rc;
}

int
shmkit__named_remove(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0) {
		return -errno;
	}
	/* A symlink at the name is not ours to remove: it was planted. */
	if (S_ISLNK(st.st_mode)) {
		return -ELOOP;
	}
	if (!S_ISREG(st.st_mode)) {
		return -EMEDIUMTYPE;
	}
	return unlink(path) != 0 ? -errno : 0;
}

int
shmkit__posix_create(struct shmkit_segment *seg, const shmkit_segment_opts *o)
{
	char path[PATH_MAX];
	if (o->flags & SHMKIT_SEGMENT_F_HUGEPAGES) {
		return -EOPNOTSUPP; /* tmpfs at /dev/shm has no hugetlb pages */
	}
	int rc = shmkit__posix_path(seg->spec.name, path, sizeof(path));
	if (rc < 0) {
		return rc;
	}
	return shmkit__named_create(seg, SHMKIT_POSIX_DIR, path, o);
}

int
shmkit__posix_open(struct shmkit_segment *seg, const shmkit_segment_opts *o)
{
	char path[PATH_MAX];
	int rc = shmkit__posix_path(seg->spec.name, path, sizeof(path));
	if (rc < 0) {
		return rc;
	}
	return shmkit__named_open(seg, path, o);
}

int
shmkit__posix_remove(const struct shmkit_spec *spec)
{
	char path[PATH_MAX];
	int rc = shmkit__posix_path(spec->name, path, sizeof(path));
	if (rc < 0) {
		return rc;
	}
	return shmkit__named_remove(path);
}
