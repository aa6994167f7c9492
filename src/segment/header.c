/* SPDX-License-Identifier: MIT */
/* The object header: initialisation, publication and validation. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <shmkit/segment.h>
#include <shmkit/version.h>

#include "internal/header.h"
#include "internal/platform.h"

uint32_t
shmkit__crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* Bitwise CRC32C (Castagnoli): headers are small and checked on slow
	 * paths only, so a table buys nothing. */
	const unsigned char *p = buf;
	crc = ~crc;
	while (len-- > 0) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++) {
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
		}
	}
	return ~crc;
}

void
shmkit__header_init(struct shmkit_header *h, uint32_t kind, uint64_t total, uint64_t data_offset,
		    uint64_t data_size)
{
	h->magic = SHMKIT_MAGIC;
	h->layout_version = SHMKIT_LAYOUT_VERSION;
	h->kind = kind;
	h->header_size = SHMKIT_HEADER_SIZE;
	h->flags = 0;
	h->total_size = total;
	h->data_offset = data_offset;
	h->data_size = data_size;
	h->creator_uid = (uint32_t)geteuid();
	h->creator_pid = (int32_t)getpid();
	h->creator_start = shmkit__self_start_time();
	h->created_ns = shmkit__realtime_ns();
	atomic_store_explicit(&h->state, SHMKIT_STATE_INITIALIZING, memory_order_relaxed);
	h->checksum = shmkit__crc32c(0, h, offsetof(struct shmkit_header, state));
}

void
shmkit__header_publish(struct shmkit_header *h)
{
	/* Release: every header field and everything the creator wrote into
	 * the object happen-before an opener's acquire load of READY. */
	atomic_store_explicit(&h->state, SHMKIT_STATE_READY, memory_order_release);
}

int
shmkit__header_validate(const void *base, uint64_t avail, struct shmkit_header_view *view,
			int *in_progress)
{
	struct shmkit_header h;
	if (in_progress != NULL) {
		*in_progress = 0;
	}
	if (avail < SHMKIT_HEADER_SIZE) {
		return -EMEDIUMTYPE;
	}
	/*
	 * The state word first, with acquire: it pairs with the release in
	 * shmkit__header_publish(), so when it says READY the fields copied
	 * after it are the creator's final ones. Then one copy of the header
	 * and checks on the copy only: a peer that rewrites the shared header
	 * meanwhile cannot make us use a value other than the one we checked.
	 */
	uint32_t state = atomic_load_explicit(&((const struct shmkit_header *)base)->state,
					      memory_order_acquire);
	if (in_progress != NULL) {
		*in_progress = state == SHMKIT_STATE_INITIALIZING;
	}
	memcpy(&h, base, offsetof(struct shmkit_header, state));
	memcpy(&h.checksum, (const char *)base + offsetof(struct shmkit_header, checksum),
	       sizeof(h.checksum));
	if (h.magic != SHMKIT_MAGIC) {
		return -EMEDIUMTYPE;
	}
	if (h.layout_version != SHMKIT_LAYOUT_VERSION) {
		return -EPROTO;
	}
	if (shmkit__crc32c(0, &h, offsetof(struct shmkit_header, state)) != h.checksum) {
		return -EBADMSG;
	}
	if (h.header_size != SHMKIT_HEADER_SIZE || h.flags != 0 || h.data_offset < h.header_size ||
	    h.data_offset % 64 != 0 || h.data_offset > h.total_size ||
	    h.data_size > h.total_size - h.data_offset) {
		return -EBADMSG;
	}
	if (state > SHMKIT_STATE_BROKEN) {
		return -EBADMSG;
	}
	/* Truncated: the object is smaller than its creator made it. */
	if (h.total_size > avail) {
		return -EBADMSG;
	}
	view->layout_version = h.layout_version;
	view->kind = h.kind;
	view->state = state;
	view->total_size = h.total_size;
	view->data_offset = h.data_offset;
	view->data_size = h.data_size;
	view->creator_uid = h.creator_uid;
	view->creator_pid = h.creator_pid;
	view->creator_start = h.creator_start;
	view->created_ns = h.created_ns;
	return 0;
}
