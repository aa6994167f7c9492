/* SPDX-License-Identifier: MIT */
/* The object header every shmkit object starts with (private; layout in docs/LAYOUT.md). */
#ifndef SHMKIT_INTERNAL_HEADER_H
#define SHMKIT_INTERNAL_HEADER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHMKIT_MAGIC       UINT64_C(0x010054494B4D4853) /* bytes "SHMKIT\0\1" */
#define SHMKIT_HEADER_SIZE 128u
/* User data starts one header further, cache-line aligned. */
#define SHMKIT_DATA_OFFSET 128u

/*
 * Fixed-width fields only, explicit padding, no pointers. Every field but
 * @state is written once by the creator before @state is published, so an
 * opener that read @state == READY with acquire ordering sees them all.
 * @checksum covers bytes [0, 72): the immutable fields.
 */
struct shmkit_header {
	uint64_t magic;          /*   0 */
	uint32_t layout_version; /*   8 */
	uint32_t kind;           /*  12 */
	uint32_t header_size;    /*  16 */
	uint32_t flags;          /*  20 reserved, 0 */
	uint64_t total_size;     /*  24 bytes of the whole object */
	uint64_t data_offset;    /*  32 */
	uint64_t data_size;      /*  40 */
	uint32_t creator_uid;    /*  48 */
	int32_t creator_pid;     /*  52 */
	uint64_t creator_start;  /*  56 start time of the creator, clock ticks */
	int64_t created_ns;      /*  64 CLOCK_REALTIME */
	/*
	 * 72: SHMKIT_STATE_*. Written by the creator with release ordering after
	 * every other field (pairs with the acquire load in header_validate);
	 * later set to BROKEN by whoever detects an unrecoverable state.
	 */
	_Atomic uint32_t state;
	uint32_t checksum;    /*  76 CRC32C of bytes [0, 72) */
	uint8_t reserved[48]; /*  80 zero */
};

_Static_assert(sizeof(struct shmkit_header) == SHMKIT_HEADER_SIZE, "header size");
_Static_assert(offsetof(struct shmkit_header, state) == 72, "state offset");
_Static_assert(offsetof(struct shmkit_header, checksum) == 76, "checksum offset");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "atomic u32 is lock-free sized");

/* A validated private copy of a header (read once: no double fetch). */
struct shmkit_header_view {
	uint32_t layout_version, kind, state;
	uint64_t total_size, data_offset, data_size;
	uint32_t creator_uid;
	int32_t creator_pid;
	uint64_t creator_start;
	int64_t created_ns;
};

uint32_t shmkit__crc32c(uint32_t crc, const void *buf, size_t len);

/* Fill @h (zeroed memory) for an object of @total bytes; state INITIALIZING. */
void shmkit__header_init(struct shmkit_header *h, uint32_t kind, uint64_t total,
			 uint64_t data_offset, uint64_t data_size);

/* Publish READY (release). */
void shmkit__header_publish(struct shmkit_header *h);

/*
 * Validate the header at @base of a mapping (or a copy) of @avail bytes.
 * The state word is loaded first, with acquire ordering (pairing with the
 * release in shmkit__header_publish()), then the other fields are copied once
 * into @view and checked there.
 * Return: 0 (any state; the caller checks view->state),
 *  -EMEDIUMTYPE no magic (foreign, or not written yet),
 *  -EPROTO other layout version,
 *  -EBADMSG inconsistent sizes/checksum, or total_size > @avail (truncated).
 * @in_progress, if not NULL, is set to 1 when the state word says
 * INITIALIZING: the other fields may then be half-written by a creator at
 * work, so a validation error is no verdict yet.
 */
int shmkit__header_validate(const void *base, uint64_t avail, struct shmkit_header_view *view,
			    int *in_progress);

#endif
