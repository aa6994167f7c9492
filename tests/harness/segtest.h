/* SPDX-License-Identifier: MIT */
/* Helpers shared by the segment tests: creating, patching and probing objects. */
#ifndef SHMKIT_TEST_SEGTEST_H
#define SHMKIT_TEST_SEGTEST_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/* Backends with a name an opener can find. */
extern const char *const seg_named_backends[3]; /* posix, sysv, file */
extern const char *const seg_all_backends[4];   /* + memfd */

shmkit_backend seg_backend_of(const char *backend);

shmkit_segment_opts seg_opts(uint64_t size, uint32_t flags);

/* create/open that must succeed. */
shmkit_segment *seg_create(const char *spec, uint64_t size, uint32_t flags);
shmkit_segment *seg_open(const char *spec, uint32_t flags);

/* Open with flags and a ready timeout; return the error (handle closed). */
int seg_open_rc(const char *spec, uint32_t flags, uint32_t timeout_ms);

/* Path of a posix ("/dev/shm/shmkit.NAME") or file spec; fails otherwise. */
const char *seg_path(const char *spec, char *buf, size_t len);

/* Does the named object exist (posix/file: the path, sysv: the key)? */
int seg_exists(const char *spec);

/* sysv: the shmid of a key spec, or -1. */
int seg_sysv_id(const char *spec);

/*
 * Read or overwrite bytes of the object behind @spec directly, bypassing the
 * library (pread/pwrite for posix and file, a plain shmat for sysv).
 */
void seg_raw_read(const char *spec, uint64_t off, void *buf, size_t len);
void seg_raw_write(const char *spec, uint64_t off, const void *buf, size_t len);
/* Size of the whole object as the system sees it. */
uint64_t seg_raw_size(const char *spec);
/* ftruncate a posix or file object. */
void seg_raw_truncate(const char *spec, uint64_t len);

/* Every byte of @len at @p is @byte. */
int seg_all_bytes(const void *p, size_t len, unsigned char byte);

#endif /* SHMKIT_TEST_SEGTEST_H */
