/* SPDX-License-Identifier: MIT */
/* Private to the sync layer: storage checks shared by mutex, sem, event, cond. */
#ifndef SHMKIT_SYNC_IMPL_H
#define SHMKIT_SYNC_IMPL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <shmkit/sync.h>

/* Magic words at offset 8 of each object: "MTX1", "SEM1", "EVT1", "CND1". */
#define SHMKIT_MUTEX_MAGIC 0x3158544du
#define SHMKIT_SEM_MAGIC   0x314d4553u
#define SHMKIT_EVENT_MAGIC 0x31545645u
#define SHMKIT_COND_MAGIC  0x31444e43u

/* How often a sleeper looks at its peers' liveness (and at deadlines it
 * could not pass to the kernel), in nanoseconds. */
#define SHMKIT_LIVENESS_SLICE_NS 100000000

static inline int
shmkit__storage_ok(const void *p)
{
	return p != NULL && ((uintptr_t)p & 63u) == 0;
}

/* 1 if the calling process holds @m (used by cond), 0 if not, -errno. */
int shmkit__mutex_held(const shmkit_mutex *m);

#endif
