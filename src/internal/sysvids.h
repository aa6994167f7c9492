/* SPDX-License-Identifier: MIT */
/* System V style ids for the drop-ins: indices by name, sequence numbers (private). */
#ifndef SHMKIT_INTERNAL_SYSVIDS_H
#define SHMKIT_INTERNAL_SYSVIDS_H

/*
 * An object of a drop-in has an index IDX, the number in its name
 * /dev/shm/shmkit.<kind>IDX, and an id IDX + SHMKIT_IPCMNI * SEQ as the
 * kernel builds ids, SEQ drawn at creation so a stale id never reaches a
 * later object at the same index.
 */
#define SHMKIT_IPCMNI  32768
#define SHMKIT_SEQ_MAX 65535

/* The index in @name ("shmkit.<kind>IDX" with @kind e.g. "semid."), or
 * -1 when it is not such a name or IDX is not below @limit. */
int shmkit__sysv_index_of_name(const char *name, const char *kind, int limit);

/* Mark the indices in use under @kind in the bitmap @used (may be NULL);
 * return the highest one, or -1 if none. */
int shmkit__sysv_scan_indices(const char *kind, int limit, unsigned char *used);

/* A sequence number 1..SHMKIT_SEQ_MAX, unlikely to repeat at one index. */
unsigned shmkit__sysv_new_seq(void);

#endif
