/* SPDX-License-Identifier: MIT */
/* A plain SPSC slot ring in shared memory for the shm-spin and eventfd rows. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "bench.h"

/*
 * Layout of the shared mapping:
 *   page 0     one control block per direction; head and tail each on their
 *              own cache line, since producer and consumer write them
 *   page 1..   direction 0 slots, then direction 1 slots
 * A slot holds the message length in its first 8 bytes and the message from
 * byte 16 on, so copies start 16-byte aligned.
 *
 * This is deliberately the simplest correct ring (a copy in, a copy out, no
 * batching, no zero-copy), so that it is a floor for what a shared-memory
 * transport costs rather than a competitor of the library's ring.
 */

#define LINE       64
#define CTRL_SIZE  4096
#define SLOT_DATA  16
#define RING_BYTES ((size_t)256 << 10)

struct ctrl {
	/* Written by the producer with release ordering after the slot is
	 * filled; the consumer's acquire load pairs with it. */
	_Alignas(LINE) _Atomic uint64_t head;
	/* Written by the consumer with release ordering after the slot is
	 * copied out; the producer's acquire load pairs with it before it
	 * reuses the slot. */
	_Alignas(LINE) _Atomic uint64_t tail;
};

_Static_assert(sizeof(struct ctrl) == 2 * LINE, "head and tail on own lines");
_Static_assert(2 * sizeof(struct ctrl) <= CTRL_SIZE, "control fits page 0");

static struct ctrl *
ctrl_of(struct bench_slots *s, int dir)
{
	return (struct ctrl *)(void *)(s->base + (size_t)dir * sizeof(struct ctrl));
}

static unsigned char *
slot_of(struct bench_slots *s, int dir, uint64_t idx)
{
	size_t ring = (size_t)s->nslots * s->stride;

	return s->base + CTRL_SIZE + (size_t)dir * ring +
	       (size_t)(idx & (s->nslots - 1)) * s->stride;
}

int
bench_slots_create(struct bench_slots *s, size_t msg_size)
{
	size_t stride = (SLOT_DATA + msg_size + LINE - 1) / LINE * LINE;
	uint32_t n = 4;

	/* Give each direction about RING_BYTES of slots, at least four so that
	 * the producer can run ahead, and a power of two so that an index maps
	 * to a slot with a mask. */
	while (n < 256 && (size_t)n * 2 * stride <= RING_BYTES) {
		n *= 2;
	}
	s->stride = stride;
	s->nslots = n;
	s->map_len = CTRL_SIZE + 2 * (size_t)n * stride;
	s->peer_cache[0] = 0;
	s->peer_cache[1] = 0;
	/* A fresh anonymous mapping is zero-filled: both rings start empty. */
	s->base = bench_map_shared(s->map_len);
	if (s->base == NULL) {
		return -ENOMEM;
	}
	return 0;
}

void
bench_slots_destroy(struct bench_slots *s)
{
	bench_unmap(s->base, s->map_len);
	s->base = NULL;
}

int
bench_slots_try_put(struct bench_slots *s, int dir, const void *buf, size_t len)
{
	struct ctrl *c = ctrl_of(s, dir);
	/* Only this process writes head, so a relaxed load reads its own value. */
	uint64_t head = atomic_load_explicit(&c->head, memory_order_relaxed);
	unsigned char *slot;
	uint64_t ulen = len;

	if (len > s->stride - SLOT_DATA) {
		return -EMSGSIZE;
	}
	/* The cached tail saves a cache-line transfer per message while the
	 * ring has room; it is refreshed only when the ring looks full. */
	if (head - s->peer_cache[dir] >= s->nslots) {
		s->peer_cache[dir] = atomic_load_explicit(&c->tail, memory_order_acquire);
		if (head - s->peer_cache[dir] >= s->nslots) {
			return -EAGAIN;
		}
	}
	slot = slot_of(s, dir, head);
	memcpy(slot, &ulen, sizeof(ulen));
	memcpy(slot + SLOT_DATA, buf, len);
	/* Publish the slot: pairs with the acquire load of head in try_get. */
	atomic_store_explicit(&c->head, head + 1, memory_order_release);
	return 0;
}

ssize_t
bench_slots_try_get(struct bench_slots *s, int dir, void *buf, size_t cap)
{
	struct ctrl *c = ctrl_of(s, dir);
	uint64_t tail = atomic_load_explicit(&c->tail, memory_order_relaxed);
	const unsigned char *slot;
	uint64_t len;

	if (tail == s->peer_cache[dir]) {
		/* Pairs with the release store of head in try_put: the slot's
		 * bytes are visible once the new head is. */
		s->peer_cache[dir] = atomic_load_explicit(&c->head, memory_order_acquire);
		if (tail == s->peer_cache[dir]) {
			return -EAGAIN;
		}
	}
	slot = slot_of(s, dir, tail);
	memcpy(&len, slot, sizeof(len));
	/* The length comes from memory the peer writes: check it before it
	 * sizes a copy. */
	if (len > s->stride - SLOT_DATA || len > cap) {
		return -EBADMSG;
	}
	memcpy(buf, slot + SLOT_DATA, (size_t)len);
	/* Hand the slot back: pairs with the acquire load of tail in try_put. */
	atomic_store_explicit(&c->tail, tail + 1, memory_order_release);
	return (ssize_t)len;
}
