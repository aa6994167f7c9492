/* SPDX-License-Identifier: MIT */
/* Private to the segment layer: the handle and the backends' entry points. */
#ifndef SHMKIT_SEGMENT_IMPL_H
#define SHMKIT_SEGMENT_IMPL_H

#include <stddef.h>
#include <sys/stat.h>

#include <shmkit/segment.h>

#include "internal/header.h"
#include "internal/spec.h"

struct shmkit_segment {
	struct shmkit_spec spec;
	void *base;      /* start of the mapping */
	size_t map_size; /* bytes mapped */
	void *data;      /* user data */
	size_t data_size;
	int fd;         /* posix, file, memfd; -1 for sysv */
	int shmid;      /* sysv; -1 elsewhere */
	unsigned flags; /* SHMKIT_SEGMENT_F_* */
};

/* Options with NULL replaced by the defaults. */
void shmkit__opts_resolve(const shmkit_segment_opts *in, shmkit_segment_opts *out);

/* Bytes of the whole object for @data_size bytes of user data, page (or
 * huge page) rounded; -EFBIG on overflow or beyond what mmap can address. */
int shmkit__total_size(uint64_t data_size, unsigned flags, uint64_t *total);

/* Initialise the header of a freshly zeroed mapping (not in raw mode). */
void shmkit__segment_init_header(struct shmkit_segment *seg, uint32_t kind);

/* Point data/data_size past a validated header, or at the whole mapping in
 * raw mode. */
void shmkit__segment_set_data(struct shmkit_segment *seg, const struct shmkit_header_view *v);

/* Wait (bounded) for a mapped header to become READY. @creator_alive tells
 * whether the creator is at work: 1 alive, 0 dead, -1 (header all zero) no
 * shmkit creator known. Return 0, -ETIMEDOUT, -EOWNERDEAD, -ENOTRECOVERABLE,
 * -EMEDIUMTYPE, or a validation error. */
int shmkit__wait_ready(const void *base, uint64_t avail, uint32_t timeout_ms,
		       int (*creator_alive)(void *ctx, const struct shmkit_header_view *v),
		       void *ctx, struct shmkit_header_view *view);

/* Common to the descriptor backends (posix, file, memfd). */
int shmkit__fd_init_new(struct shmkit_segment *seg, int fd, uint64_t total, uint32_t mode,
			uint32_t kind);
int shmkit__fd_map_existing(struct shmkit_segment *seg, int fd, const shmkit_segment_opts *opts);
int shmkit__fd_info(int fd, const struct stat *st, shmkit_segment_info *info);
int shmkit__open_nofollow(const char *path, int flags);
/* Make the unnamed file @fd visible at @path (link, not rename: never
 * replaces an existing object). Return 0, -EEXIST, or another errno. */
int shmkit__link_tmpfile(int fd, const char *path);
/* Open an unnamed regular file in @dir (O_TMPFILE, or a fallback). */
int shmkit__tmpfile_in(const char *dir, char *fallback_path, size_t len);

struct shmkit_segment *shmkit__segment_alloc(const struct shmkit_spec *spec, unsigned flags);
void shmkit__segment_free(struct shmkit_segment *seg);

/* Named descriptor objects (posix, file): create unnamed in @dir, link at @path. */
int shmkit__named_create(struct shmkit_segment *seg, const char *dir, const char *path,
			 const shmkit_segment_opts *o);
int shmkit__named_open(struct shmkit_segment *seg, const char *path, const shmkit_segment_opts *o);
int shmkit__named_remove(const char *path);

/* Backends. Each returns 0 or a negative errno and leaves @seg mapped on success. */
int shmkit__posix_create(struct shmkit_segment *seg, const shmkit_segment_opts *o);
int shmkit__posix_open(struct shmkit_segment *seg, const shmkit_segment_opts *o);
int shmkit__posix_remove(const struct shmkit_spec *spec);
int shmkit__file_create(struct shmkit_segment *seg, const shmkit_segment_opts *o);
int shmkit__file_open(struct shmkit_segment *seg, const shmkit_segment_opts *o);
int shmkit__file_remove(const struct shmkit_spec *spec);
int shmkit__memfd_create_seg(struct shmkit_segment *seg, const shmkit_segment_opts *o);
int shmkit__memfd_open(struct shmkit_segment *seg, const shmkit_segment_opts *o);
int shmkit__memfd_adopt(struct shmkit_segment *seg, int fd, const shmkit_segment_opts *o);
int shmkit__sysv_create(struct shmkit_segment *seg, const shmkit_segment_opts *o);
int shmkit__sysv_open(struct shmkit_segment *seg, const shmkit_segment_opts *o);
int shmkit__sysv_remove(const struct shmkit_spec *spec);
int shmkit__sysv_close(struct shmkit_segment *seg);
int shmkit__sysv_stat(const struct shmkit_spec *spec, shmkit_segment_info *info);
int shmkit__sysv_set_perm(const struct shmkit_spec *spec, long mode, long uid, long gid);
int shmkit__sysv_check(const struct shmkit_segment *seg);
/* Path an fd-backed spec names, for stat/remove/set_perm; -EOPNOTSUPP for
 * a memfd created without a name. */
/* Open the object a descriptor spec names (no symlink followed but /proc's). */
int shmkit__spec_open(const struct shmkit_spec *spec, const char *path, int flags);
int shmkit__spec_path(const struct shmkit_spec *spec, char *buf, size_t len);

/* Fill the header-derived fields of @info from @base (@avail bytes readable). */
void shmkit__info_from_header(shmkit_segment_info *info, const void *base, uint64_t avail);

#endif
