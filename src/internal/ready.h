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

#endif
