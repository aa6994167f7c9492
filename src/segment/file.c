/* SPDX-License-Identifier: MIT */
/* file: backend: a regular file mapped shared, persistent on disk. */
#include <errno.h>
#include <libgen.h>
#include <string.h>

#include "segment/segment_impl.h"

int
shmkit__file_create(struct shmkit_segment *seg, const shmkit_segment_opts *o)
{
	char copy[PATH_MAX];
	if (o->flags & SHMKIT_SEGMENT_F_HUGEPAGES) {
		return -EOPNOTSUPP; /* regular file systems have no huge pages */
	}
	/* dirname() may modify its argument: give it a copy. */
	memcpy(copy, seg->spec.path, sizeof(copy));
	const char *dir = dirname(copy);
	return shmkit__named_create(seg, dir, seg->spec.path, o);
}

int
shmkit__file_open(struct shmkit_segment *seg, const shmkit_segment_opts *o)
{
	return shmkit__named_open(seg, seg->spec.path, o);
}

int
shmkit__file_remove(const struct shmkit_spec *spec)
{
	return shmkit__named_remove(spec->path);
}
