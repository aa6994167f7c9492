/* SPDX-License-Identifier: MIT */
/* Waiting for the ready word of an object built inside a segment (private). */
#ifndef SHMKIT_INTERNAL_READY_H
#define SHMKIT_INTERNAL_READY_H

#include <stdatomic.h>
#include <stdint.h>

#include <shmkit/segment.h>

/*
 * Objects such as semaphore sets and queues fill their data area after the
 * segment is published, then store @magic into a ready word of their own
 * (release). Wait for it, bounded by @timeout_ns, sleeping between looks.
 * Return 0 (the word reads @magic, with acquire ordering), -EBADMSG (it
 * holds neither 0 nor @magic), -EOWNERDEAD (the creator died before it was
 * done), -ETIMEDOUT.
 */
int shmkit__wait_inner_ready(_Atomic uint32_t *ready, uint32_t magic, const shmkit_segment *seg,
			     int64_t timeout_ns);

/*
 * Open the segment of an object of @kind (a semaphore set, a queue) by
 * @spec, whoever owns its file: the object's own mode decides who may do
 * what, checked per call as the kernel does. Credentials are read afresh
 * for it. Return 0 or as shmkit_segment_open().
 */
int shmkit__open_object_segment(shmkit_segment **seg, const char *spec, uint32_t kind);

#endif
