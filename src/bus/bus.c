/* SPDX-License-Identifier: MIT */
/* shmkit_bus: publish/subscribe over a shared log read at per-subscriber cursors (docs/BUS.md). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmkit/bus.h>
#include <shmkit/segment.h>

#include "internal/crashpoint.h"
#include "internal/futex.h"
#include "internal/platform.h"
#include "internal/ready.h"
#include "internal/registry.h"

/*
 * The protocol (docs/BUS.md has it whole):
 *  - sequence numbers are claimed in order from @claim; sequence s lives in
 *    slot s % slots. A slot's word is (sequence << 8 | publisher << 2 |
 *    state): a publisher claims s by a compare-and-swap of the word from
 *    the previous lap's (s - slots, free) to (s, claimed), writes, and
 *    publishes with one store (s, published). That store is the commit
 *    point; there is nothing else to undo after a death;
 *  - a subscriber reads sequence c when the word says (c, published): it
 *    reads the message and looks at the word again (a seqlock: a lossy
 *    publisher may overwrite it meanwhile); a word ahead of c means it was
 *    lapped: it jumps forward and counts exactly what it skipped;
 *  - a claim whose publisher died is turned into a hole (skipped) by
 *    whoever waits on it; one held longer than FENCE_NS by a live publisher
 *    is fenced: a hole whose slot stays quarantined until its publisher
 *    comes back (its publish fails with -ESTALE) or dies;
 *  - reliable: a publisher claims s only when every live subscriber's
 *    cursor is past s - slots. It keeps the minimum cached and rescans the
 *    subscribers only when the cache says full: O(1) per publish.
 */

#define B_MAGIC  0x31535542u /* "BUS1" */
#define B_LAYOUT 1u

#define ST_FENCED    0u /* a hole whose slot is quarantined (a stalled claimer) */
#define ST_PUBLISHED 1u
#define ST_CLAIMED   2u
#define ST_SKIPPED   3u /* a hole: never published */

#define MAX_SLOTS (1u << 20)
#define MAX_SUBS  4096u
#define MAX_PUBS  64u
#define MAX_MSG   ((uint64_t)1 << 30)
#define SLOT_HDR  16u
#define LINE      64u
#define MAX_TOTAL ((uint64_t)1 << 40)
/* How long an opener waits for a creator to finish. */
#define READY_WAIT_NS 2000000000

#define SPIN_NS       20000
#define SLICE_NS      100000000
#define IDLE_SLICE_NS 1000000000
#define FENCE_NS      2000000000
#define YIELD_ROUNDS  (1u << 12)
#define WAKE_FANOUT   2
/* A claim being written is looked at this many times between liveness checks. */
#define LOOKS_PER_CHECK 256u

struct b_meta {
	uint32_t magic, layout;
	uint32_t slots, max_subs, max_pubs, flags;
	uint64_t max_msg, slot_size;
	_Atomic uint32_t ready; /* B_MAGIC last, release; acquire at open */
	uint8_t reserved[20];
};
_Static_assert(sizeof(struct b_meta) == 64, "meta line");

/* Written by publishers. */
struct b_pubs_line {
	_Atomic uint64_t claim;     /* the next sequence to claim */
	_Atomic uint64_t min_cache; /* reliable: a lower bound of every live cursor */
	uint8_t reserved[48];
};

/* Written by subscribers when they sleep, by publishers when they wait:
 * read on every publish (@nsleepers) and every release (@pub_waiting). */
struct b_wait_line {
	_Atomic uint32_t nsleepers;
	_Atomic uint32_t pub_waiting;
	_Atomic uint32_t pub_wake; /* publishers sleep on it */
	uint8_t reserved[52];
};

struct b_pub {
	_Atomic uint32_t token; /* liveness token of the holder, 0 free */
	uint32_t reserved0;
	_Atomic uint64_t claim_seq; /* the sequence it holds a claim on + 1; 0 none */
	_Atomic int64_t claim_ns;   /* coarse monotonic time of that claim */
	_Atomic uint64_t published;
	uint8_t reserved[32];
};
_Static_assert(sizeof(struct b_pub) == 64, "publisher line");

struct b_sub {
	_Atomic uint32_t token;  /* 0 free */
	_Atomic uint32_t wake;   /* it sleeps on this futex word */
	_Atomic uint64_t cursor; /* the next sequence it reads; release stores */
	_Atomic uint32_t active; /* @cursor is valid (set after it, release) */
	_Atomic uint32_t sleeping;
	_Atomic uint64_t lost;
	_Atomic uint64_t received;
	uint8_t reserved[24];
};
_Static_assert(sizeof(struct b_sub) == 64, "subscriber line");

struct b_slot {
	_Atomic uint64_t word;
	_Atomic uint64_t len;
};
_Static_assert(sizeof(struct b_slot) == SLOT_HDR, "slot header");

/* Sections, computed from the immutable shape only. */
struct layout {
	uint32_t slots, max_subs, max_pubs, flags;
	uint64_t max_msg, slot_size;
	size_t bitmap, pubs, subs, ring, total;
};

struct shmkit_bus {
	shmkit_segment *seg;
	unsigned char *base;
	struct layout l;
	int wait;
	uint32_t epoch;
	/* Publisher. */
	int pub; /* index, -1 none */
	uint32_t pub_token;
	int loaned;
	uint64_t loan_seq;
	uint64_t loan_max;
	uint64_t min_seen; /* cached lower bound of the cursors */
	/* Subscriber. */
	int sub; /* index, -1 none */
	uint64_t cursor;
	int peeked;
	uint64_t peek_word;
	uint64_t pending_lost; /* skipped, not yet told (a NOWAIT call ended first) */
	uint64_t cursor_shown; /* the cursor as last stored in the entry */
};

/* Roles held by this handle are valid in this process (not a fork copy). */
static int
mine(const shmkit_bus *b)
{
	return b->epoch == shmkit__fork_epoch();
}

static uint64_t
W(uint64_t seq, uint32_t pub, uint32_t st)
{
	return seq << 8 | (uint64_t)pub << 2 | st;
}

static uint64_t
w_seq(uint64_t w)
{
	return w >> 8;
}

static uint32_t
w_pub(uint64_t w)
{
	return (uint32_t)(w >> 2) & 63u;
}

static uint32_t
w_st(uint64_t w)
{
	return (uint32_t)w & 3u;
}

static uint64_t
round_line(uint64_t n)
{
	return (n + LINE - 1) / LINE * LINE;
}

static int
layout_compute(struct layout *l, uint32_t slots, uint32_t max_subs, uint32_t max_pubs,
	       uint32_t flags, uint64_t max_msg)
{
	if (slots < 2 || slots > MAX_SLOTS || (slots & (slots - 1)) != 0 || max_subs == 0 ||
	    max_subs > MAX_SUBS || max_pubs == 0 || max_pubs > MAX_PUBS ||
	    (flags & ~SHMKIT_BUS_RELIABLE) != 0 || max_msg > MAX_MSG) {
		return -EINVAL;
	}
	l->slots = slots;
	l->max_subs = max_subs;
	l->max_pubs = max_pubs;
	l->flags = flags;
	l->max_msg = max_msg;
	l->slot_size = round_line(SLOT_HDR + max_msg);
	l->bitmap = 3 * LINE;
	/* Two sleeper bitmaps: for odd and for even sequences. */
	l->pubs = l->bitmap + 2 * round_line(((size_t)max_subs + 63) / 64 * 8);
	l->subs = l->pubs + (size_t)max_pubs * LINE;
	l->ring = l->subs + (size_t)max_subs * LINE;
	if ((uint64_t)slots * l->slot_size > MAX_TOTAL - l->ring) {
		return -EINVAL;
	}
	l->total = l->ring + (size_t)slots * (size_t)l->slot_size;
	return 0;
}

static struct b_meta *
meta(const shmkit_bus *b)
{
	return (struct b_meta *)(void *)b->base;
}

static struct b_pubs_line *
publine(const shmkit_bus *b)
{
	return (struct b_pubs_line *)(void *)(b->base + LINE);
}

static struct b_wait_line *
waitline(const shmkit_bus *b)
{
	return (struct b_wait_line *)(void *)(b->base + 2 * LINE);
}

/* Word @word of the sleeper bitmap of sequences of parity @par. */
static _Atomic uint64_t *
bitmap(const shmkit_bus *b, uint64_t par, uint32_t word)
{
	size_t half = round_line(((size_t)b->l.max_subs + 63) / 64 * 8);
	return (_Atomic uint64_t *)(void *)(b->base + b->l.bitmap + (size_t)(par & 1) * half +
					    (size_t)word * 8);
}

static struct b_pub *
pubent(const shmkit_bus *b, uint32_t i)
{
	return (struct b_pub *)(void *)(b->base + b->l.pubs + (size_t)i * LINE);
}

static struct b_sub *
subent(const shmkit_bus *b, uint32_t i)
{
	return (struct b_sub *)(void *)(b->base + b->l.subs + (size_t)i * LINE);
}

static struct b_slot *
slot(const shmkit_bus *b, uint64_t seq)
{
	return (struct b_slot *)(void *)(b->base + b->l.ring +
					 (size_t)(seq & (b->l.slots - 1)) * b->l.slot_size);
}

static unsigned char *
payload(const shmkit_bus *b, uint64_t seq)
{
	return (unsigned char *)slot(b, seq) + SLOT_HDR;
}

static int
reliable(const shmkit_bus *b)
{
	return (b->l.flags & SHMKIT_BUS_RELIABLE) != 0;
}

/*
 * Copies that a lossy publisher may race with: the reader finds out
 * afterwards (the seqlock) and drops what it read. Under ThreadSanitizer
 * they are made of relaxed atomic words, so that the race the protocol
 * tolerates is not reported as one it does not.
 */
#if defined(__SANITIZE_THREAD__)
#define SHMKIT_BUS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHMKIT_BUS_TSAN 1
#endif
#endif

static void
copy_racy(void *dst, const void *src, size_t n)
{
#ifdef SHMKIT_BUS_TSAN
	unsigned char *d = dst;
	const unsigned char *s = src;
	for (size_t i = 0; i < n; i++) {
		d[i] = __atomic_load_n(s + i, __ATOMIC_RELAXED);
	}
#else
	memcpy(dst, src, n);
#endif
}

static void
store_racy(void *dst, const void *src, size_t n)
{
#ifdef SHMKIT_BUS_TSAN
	unsigned char *d = dst;
	const unsigned char *s = src;
	for (size_t i = 0; i < n; i++) {
		__atomic_store_n(d + i, s[i], __ATOMIC_RELAXED);
	}
#else
	memcpy(dst, src, n);
#endif
}

/*
 * The second load of a seqlock: after the (racy) reads of the payload.
 * The acquire fence keeps those reads before it; ThreadSanitizer does not
 * model fences, but there the payload reads are atomic and a seq_cst load
 * orders them as well.
 */
static uint64_t
seqlock_recheck(_Atomic uint64_t *word)
{
#ifdef SHMKIT_BUS_TSAN
	return atomic_load_explicit(word, memory_order_seq_cst);
#else
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(word, memory_order_relaxed);
#endif
}

/* ---------------------------------------------------------------------- */
/* Create, open, close.                                                    */

SHMKIT_API void
shmkit_bus_opts_init(shmkit_bus_opts *opts)
{
	if (opts == NULL) {
		return;
	}
	memset(opts, 0, sizeof(*opts));
	opts->slots = 256;
	opts->max_subscribers = 256;
	opts->max_msg_size = 4096;
	opts->max_publishers = 16;
	opts->mode = 0600;
}

static shmkit_bus *
handle_new(shmkit_segment *seg)
{
	shmkit_bus *b = calloc(1, sizeof(*b));
	if (b == NULL) {
		return NULL;
	}
	b->seg = seg;
	b->base = shmkit_segment_data(seg);
	b->pub = -1;
	b->sub = -1;
	b->epoch = shmkit__fork_epoch();
	return b;
}

SHMKIT_API int
shmkit_bus_create(shmkit_bus **out, const char *spec, const shmkit_bus_opts *opts)
{
	shmkit_bus_opts o;
	if (out == NULL || spec == NULL) {
		return -EINVAL;
	}
	if (opts != NULL) {
		o = *opts;
	} else {
		shmkit_bus_opts_init(&o);
	}
	struct layout l;
	int rc = layout_compute(&l, o.slots, o.max_subscribers, o.max_publishers, o.flags,
				o.max_msg_size);
	if (rc != 0 || o.mode > 0777) {
		return -EINVAL;
	}
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.size = l.total;
	so.kind = SHMKIT_KIND_BUS;
	so.mode = o.mode;
	shmkit_segment *seg;
	if ((rc = shmkit_segment_create(&seg, spec, &so)) != 0) {
		return rc;
	}
	shmkit_bus *b = handle_new(seg);
	if (b == NULL) {
		shmkit_segment_destroy(seg);
		return -ENOMEM;
	}
	b->l = l;
	struct b_meta *m = meta(b);
	m->magic = B_MAGIC;
	m->layout = B_LAYOUT;
	m->slots = l.slots;
	m->max_subs = l.max_subs;
	m->max_pubs = l.max_pubs;
	m->flags = l.flags;
	m->max_msg = l.max_msg;
	m->slot_size = l.slot_size;
	/* Sequences start at @slots: slot i begins as the hole of sequence i,
	 * the previous lap of the first claim that lands in it. */
	for (uint32_t i = 0; i < l.slots; i++) {
		atomic_store_explicit(&slot(b, i)->word, W(i, 0, ST_SKIPPED), memory_order_relaxed);
	}
	atomic_store_explicit(&publine(b)->claim, l.slots, memory_order_relaxed);
	atomic_store_explicit(&publine(b)->min_cache, l.slots, memory_order_relaxed);
	atomic_store_explicit(&m->ready, B_MAGIC, memory_order_release);
	*out = b;
	return 0;
}

SHMKIT_API int
shmkit_bus_open(shmkit_bus **out, const char *spec)
{
	if (out == NULL || spec == NULL) {
		return -EINVAL;
	}
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.kind = SHMKIT_KIND_BUS;
	shmkit_segment *seg;
	int rc = shmkit_segment_open(&seg, spec, &so);
	if (rc != 0) {
		return rc;
	}
	shmkit_bus *b = handle_new(seg);
	if (b == NULL) {
		shmkit_segment_close(seg);
		return -ENOMEM;
	}
	rc = shmkit_segment_size(seg) < sizeof(struct b_meta) ? -EBADMSG : 0;
	if (rc == 0) {
		/* Bounded: a creator that died before it was done gives
		 * -EOWNERDEAD. */
		rc = shmkit__wait_inner_ready(&meta(b)->ready, B_MAGIC, seg, READY_WAIT_NS);
	}
	if (rc == 0) {
		struct b_meta mc;
		memcpy(&mc, meta(b), sizeof(mc));
		if (mc.magic != B_MAGIC) {
			rc = -EBADMSG;
		} else if (mc.layout != B_LAYOUT) {
			rc = -EPROTO;
		} else if (layout_compute(&b->l, mc.slots, mc.max_subs, mc.max_pubs, mc.flags,
					  mc.max_msg) != 0 ||
			   mc.slot_size != b->l.slot_size ||
			   b->l.total > shmkit_segment_size(seg)) {
			rc = -EBADMSG;
		}
	}
	if (rc != 0) {
		shmkit_segment_close(seg);
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

SHMKIT_API int
shmkit_bus_open_or_create(shmkit_bus **out, const char *spec, const shmkit_bus_opts *opts)
{
	int rc = -EAGAIN;
	for (int round = 0; round < 64; round++) {
		rc = shmkit_bus_open(out, spec);
		if (rc != -ENOENT) {
			return rc;
		}
		rc = shmkit_bus_create(out, spec, opts);
		if (rc == 0) {
			return 1;
		}
		if (rc != -EEXIST) {
			return rc;
		}
	}
	return rc;
}

static void
leave(shmkit_bus *b)
{
	if (!mine(b)) {
		return; /* a copy made by fork(): the entries are the parent's */
	}
	(void)shmkit_bus_unsubscribe(b);
	if (b->pub >= 0) {
		struct b_pub *p = pubent(b, (uint32_t)b->pub);
		uint32_t tok = b->pub_token;
		atomic_store_explicit(&p->claim_seq, 0, memory_order_relaxed);
		atomic_compare_exchange_strong_explicit(&p->token, &tok, 0, memory_order_release,
							memory_order_relaxed);
		b->pub = -1;
	}
}

SHMKIT_API int
shmkit_bus_close(shmkit_bus *b)
{
	if (b == NULL) {
		return 0;
	}
	leave(b);
	int rc = shmkit_segment_close(b->seg);
	free(b);
	return rc;
}

SHMKIT_API int
shmkit_bus_remove(shmkit_bus *b)
{
	if (b == NULL) {
		return -EINVAL;
	}
	leave(b);
	int rc = shmkit_segment_destroy(b->seg);
	free(b);
	return rc;
}

SHMKIT_API int
shmkit_bus_set_wait(shmkit_bus *b, int strategy)
{
	if (b == NULL || strategy < SHMKIT_BUS_WAIT_DEFAULT || strategy > SHMKIT_BUS_WAIT_SLEEP) {
		return -EINVAL;
	}
	b->wait = strategy;
	return 0;
}

/* A fork copy starts over with no roles. */
static void
fork_reset(shmkit_bus *b)
{
	if (!mine(b)) {
		b->pub = -1;
		b->sub = -1;
		b->loaned = 0;
		b->peeked = 0;
		b->epoch = shmkit__fork_epoch();
	}
}

/* A subscriber that died asleep: its count among the sleepers goes (see
 * sub_sleep() for the order that makes @sleeping say the count was taken). */
static void
forget_sleeper(shmkit_bus *b, uint32_t i)
{
	struct b_sub *s = subent(b, i);
	uint32_t one = 1;
	for (uint64_t par = 0; par < 2; par++) {
		atomic_fetch_and_explicit(bitmap(b, par, i / 64), ~((uint64_t)1 << (i % 64)),
					  memory_order_seq_cst);
	}
	if (atomic_compare_exchange_strong_explicit(&s->sleeping, &one, 0, memory_order_acq_rel,
						    memory_order_relaxed)) {
		atomic_fetch_sub_explicit(&waitline(b)->nsleepers, 1, memory_order_seq_cst);
	}
}

/* Take a free entry (token 0, or a dead holder's) of a table. */
static int
take_entry(shmkit_bus *b, int subs, uint32_t *token)
{
	uint32_t tok;
	int rc = shmkit__self_token(&tok);
	if (rc != 0) {
		return rc;
	}
	*token = tok;
	uint32_t n = subs ? b->l.max_subs : b->l.max_pubs;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < n; i++) {
			_Atomic uint32_t *t = subs ? &subent(b, i)->token : &pubent(b, i)->token;
			uint32_t cur = atomic_load_explicit(t, memory_order_acquire);
			/* First pass: free entries; second: dead holders'. */
			if (pass == 0 ? cur != 0 : cur == 0 || !shmkit__token_dead(cur)) {
				continue;
			}
			if (atomic_compare_exchange_strong_explicit(
				    t, &cur, tok, memory_order_acq_rel, memory_order_relaxed)) {
				if (subs && pass == 1) {
					forget_sleeper(b, i);
				}
				return (int)i;
			}
		}
	}
	return -EUSERS;
}

/* ---------------------------------------------------------------------- */
/* Waking subscribers.                                                     */

/*
 * Wake up to @n subscribers asleep waiting for sequence @seq: each sleeper
 * set its bit in the bitmap of its sequence's parity before its last look
 * at the log; the waker clears the bits it takes (so each sleeper is woken
 * once) and bumps each one's own futex word. A subscriber woken with a
 * message wakes WAKE_FANOUT more: the publisher pays for one wake-up,
 * whatever the number of sleepers. Those that went back to sleep after
 * reading it wait for the next sequence, in the other bitmap: a chain
 * never wakes them again for nothing.
 */
static void
wake_subscribers(shmkit_bus *b, uint64_t seq, unsigned n)
{
	uint32_t words = (b->l.max_subs + 63) / 64;
	for (uint32_t w = 0; w < words && n > 0; w++) {
		_Atomic uint64_t *bm = bitmap(b, seq, w);
		uint64_t bits = atomic_load_explicit(bm, memory_order_seq_cst);
		while (bits != 0 && n > 0) {
			uint64_t bit = bits & -bits;
			bits &= bits - 1;
			uint64_t old = atomic_fetch_and_explicit(bm, ~bit, memory_order_seq_cst);
			if (!(old & bit)) {
				continue; /* another waker took it */
			}
			uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bit);
			if (i >= b->l.max_subs) {
				continue;
			}
			struct b_sub *s = subent(b, i);
			atomic_fetch_add_explicit(&s->wake, 1, memory_order_seq_cst);
			if (shmkit__futex_wake(&s->wake, 1) == 0) {
				/* Nobody on the word: not asleep yet (it looks
				 * again before it sleeps), or dead asleep: then
				 * its count among the sleepers goes with it. */
				uint32_t tok =
					atomic_load_explicit(&s->token, memory_order_acquire);
				if (tok != 0 && shmkit__token_dead(tok)) {
					forget_sleeper(b, i);
				}
			}
			n--;
		}
	}
}

/* After the (seq_cst) store that made @seq readable or a hole. */
static void
after_publish(shmkit_bus *b, uint64_t seq)
{
	/* seq_cst, after the seq_cst store of the slot word: see sub_sleep(). */
	if (atomic_load_explicit(&waitline(b)->nsleepers, memory_order_seq_cst) != 0) {
		wake_subscribers(b, seq, 1);
	}
}

/* ---------------------------------------------------------------------- */
/* Claims.                                                                 */

/*
 * The claim in @w blocks a reader (or, a lap later, a publisher). If its
 * publisher is dead, or its entry no longer holds this claim (a publisher
 * records the claim in its entry before it makes it, so a mismatch means
 * the entry changed hands: the claimer died), the claim becomes a hole.
 * If it is alive and has held it past FENCE_NS, it is fenced: a hole whose
 * slot stays quarantined (see reusable()). The liveness check is a system
 * call: callers look every LOOKS_PER_CHECK rounds only. Return 1 if the
 * word changed or may have (look again), 0 if the claim stands (wait),
 * -EBADMSG.
 */
static int
resolve_claim(shmkit_bus *b, struct b_slot *sl, uint64_t w)
{
	uint32_t p = w_pub(w);
	if (p >= b->l.max_pubs) {
		return -EBADMSG;
	}
	struct b_pub *pe = pubent(b, p);
	uint32_t tok = atomic_load_explicit(&pe->token, memory_order_acquire);
	uint64_t held = atomic_load_explicit(&pe->claim_seq, memory_order_acquire);
	uint64_t want;
	if (tok == 0 || held != w_seq(w) + 1 || shmkit__token_dead(tok)) {
		want = W(w_seq(w), p, ST_SKIPPED);
	} else {
		int64_t since = atomic_load_explicit(&pe->claim_ns, memory_order_relaxed);
		if (since > shmkit__monotonic_coarse_ns() - FENCE_NS) {
			return 0;
		}
		want = W(w_seq(w), p, ST_FENCED);
	}
	/* Its publish (a compare-and-swap from this word) now fails; those
	 * asleep on it wake to pass the hole. */
	if (atomic_compare_exchange_strong_explicit(&sl->word, &w, want, memory_order_seq_cst,
						    memory_order_relaxed)) {
		after_publish(b, w_seq(want));
	}
	return 1;
}

/* resolve_claim() every LOOKS_PER_CHECK looks at the same claim, and at
 * once for a call that does not wait. */
static int
look_claim(shmkit_bus *b, struct b_slot *sl, uint64_t w, uint32_t *looks, unsigned flags)
{
	if ((flags & SHMKIT_BUS_F_NOWAIT) || ++*looks % LOOKS_PER_CHECK == 0) {
		return resolve_claim(b, sl, w);
	}
	return 0;
}

/* Is the slot word @w of an earlier lap free to be claimed again? */
static int
reusable(shmkit_bus *b, uint64_t w)
{
	uint32_t st = w_st(w);
	if (st == ST_PUBLISHED || st == ST_SKIPPED) {
		return 1;
	}
	if (st != ST_FENCED) {
		return 0;
	}
	/* Quarantined while its publisher, alive, still holds a claim on
	 * this slot: it may still be writing into it. */
	uint32_t p = w_pub(w);
	if (p >= b->l.max_pubs) {
		return 0;
	}
	struct b_pub *pe = pubent(b, p);
	uint32_t tok = atomic_load_explicit(&pe->token, memory_order_acquire);
	uint64_t held = atomic_load_explicit(&pe->claim_seq, memory_order_acquire);
	return tok == 0 || held == 0 ||
	       ((held - 1) & (b->l.slots - 1)) != (w_seq(w) & (b->l.slots - 1)) ||
	       shmkit__token_dead(tok);
}

/* Reliable: the lowest cursor of the live subscribers (removing dead ones). */
static uint64_t
min_cursor(shmkit_bus *b, uint64_t claim)
{
	uint64_t min = claim;
	for (uint32_t i = 0; i < b->l.max_subs; i++) {
		struct b_sub *s = subent(b, i);
		uint32_t tok = atomic_load_explicit(&s->token, memory_order_acquire);
		if (tok == 0 || !atomic_load_explicit(&s->active, memory_order_acquire)) {
			continue;
		}
		uint64_t c = atomic_load_explicit(&s->cursor, memory_order_seq_cst);
		/* Untrusted: a cursor ahead of the claims, or a whole lap
		 * behind, is not one a live subscriber can have. */
		if (c > claim || claim - c > b->l.slots) {
			continue;
		}
		if (c < min) {
			if (claim - c >= b->l.slots && shmkit__token_dead(tok)) {
				/* Dead and in the way: removed (with its count
				 * among the sleepers, if it died asleep). */
				atomic_store_explicit(&s->active, 0, memory_order_relaxed);
				forget_sleeper(b, i);
				atomic_compare_exchange_strong_explicit(&s->token, &tok, 0,
									memory_order_acq_rel,
									memory_order_relaxed);
				continue;
			}
			min = c;
		}
	}
	return min;
}

struct waitctx {
	int started; /* set up by the first wait_round() */
	int64_t spin_until, next_check;
	uint32_t n;
};

static void
waitctx_init(shmkit_bus *b, struct waitctx *wc)
{
	int64_t now = shmkit__monotonic_ns();
	/* 0: sleep at once. */
	wc->spin_until = b->wait == SHMKIT_BUS_WAIT_SPIN    ? INT64_MAX
			 : b->wait == SHMKIT_BUS_WAIT_SLEEP ? 0
							    : now + SPIN_NS;
	wc->next_check = now + SLICE_NS;
	wc->n = 0;
}

/* One spin round; 1 when the spinning is over (time to sleep). */
static int
spin_round(struct waitctx *wc, const struct timespec *deadline, int *timed_out)
{
	if (wc->spin_until == 0) {
		*timed_out = shmkit__ts_passed(deadline);
		return 1;
	}
	wc->n++;
	if ((wc->n & 63) == 0) {
		int64_t now = shmkit__monotonic_ns();
		if (shmkit__ts_passed(deadline)) {
			*timed_out = 1;
			return 1;
		}
		if ((wc->n % YIELD_ROUNDS) == 0) {
			sched_yield();
		}
		if (now >= wc->spin_until) {
			return 1;
		}
	}
	shmkit__cpu_relax();
	return 0;
}

/*
 * One round of a wait that may end in a sleep: -EAGAIN (NOWAIT), -ETIMEDOUT,
 * 0 (look again), 1 (the spinning is over: sleep now).
 */
static int
wait_round(shmkit_bus *b, struct waitctx *wc, unsigned flags, const struct timespec *deadline)
{
	int timed_out = 0;
	if (flags & SHMKIT_BUS_F_NOWAIT) {
		return -EAGAIN;
	}
	if (!wc->started) {
		waitctx_init(b, wc);
		wc->started = 1;
	}
	int over = spin_round(wc, deadline, &timed_out);
	return timed_out ? -ETIMEDOUT : over;
}

/* A reliable publisher sleeps until a subscriber releases (or a slice). */
static int
pub_sleep(shmkit_bus *b, unsigned flags, const struct timespec *deadline)
{
	struct b_wait_line *wl = waitline(b);
	uint32_t seen = atomic_load_explicit(&wl->pub_wake, memory_order_seq_cst);
	/* seq_cst, and so are min_cursor()'s loads of the cursors: either a
	 * subscriber's release sees us waiting, or we see its cursor. */
	atomic_fetch_add_explicit(&wl->pub_waiting, 1, memory_order_seq_cst);
	uint64_t claim = atomic_load_explicit(&publine(b)->claim, memory_order_seq_cst);
	int rc = 0;
	if (min_cursor(b, claim) + b->l.slots <= claim) {
		struct timespec until;
		shmkit__ts_slice(&until, deadline, SLICE_NS);
		rc = shmkit__futex_wait(&wl->pub_wake, seen, &until);
	}
	atomic_fetch_sub_explicit(&wl->pub_waiting, 1, memory_order_relaxed);
	if (rc == -EINTR && (flags & SHMKIT_BUS_F_INTERRUPTIBLE)) {
		return -EINTR;
	}
	return shmkit__ts_passed(deadline) ? -ETIMEDOUT : 0;
}

static int
pub_register(shmkit_bus *b)
{
	fork_reset(b);
	if (b->pub >= 0) {
		return 0;
	}
	uint32_t tok;
	int i = take_entry(b, 0, &tok);
	if (i < 0) {
		return i;
	}
	struct b_pub *p = pubent(b, (uint32_t)i);
	atomic_store_explicit(&p->claim_seq, 0, memory_order_relaxed);
	b->pub = i;
	b->pub_token = tok;
	b->min_seen = 0;
	return 0;
}

SHMKIT_API int
shmkit_bus_loan(shmkit_bus *b, size_t len, void **data, unsigned flags,
		const struct timespec *deadline)
{
	if (b == NULL || data == NULL ||
	    (flags & ~(SHMKIT_BUS_F_NOWAIT | SHMKIT_BUS_F_INTERRUPTIBLE)) != 0 ||
	    shmkit__ts_check(deadline) != 0) {
		return -EINVAL;
	}
	if (len > b->l.max_msg) {
		return -EMSGSIZE;
	}
	int rc = pub_register(b);
	if (rc != 0) {
		return rc;
	}
	if (b->loaned) {
		return -EBUSY;
	}
	struct b_pubs_line *pl = publine(b);
	struct b_pub *me = pubent(b, (uint32_t)b->pub);
	struct waitctx wc = {0};
	uint32_t looks = 0;
	for (;;) {
		uint64_t s = atomic_load_explicit(&pl->claim, memory_order_acquire);
		if (reliable(b) && s - b->min_seen >= b->l.slots) {
			/* Full by the cache: look at the subscribers (while
			 * waiting, every 16th round: the scan reads their lines). */
			uint64_t m = atomic_load_explicit(&pl->min_cache, memory_order_acquire);
			if ((s - m >= b->l.slots || m > s) && (!wc.started || (wc.n & 15) == 0)) {
				m = min_cursor(b, s);
				atomic_store_explicit(&pl->min_cache, m, memory_order_release);
			}
			b->min_seen = m;
			if (s - m >= b->l.slots) {
				int r = wait_round(b, &wc, flags, deadline);
				if (r < 0) {
					return r;
				}
				if (r == 1 && (rc = pub_sleep(b, flags, deadline)) != 0) {
					return rc;
				}
				continue;
			}
		}
		struct b_slot *sl = slot(b, s);
		uint64_t w = atomic_load_explicit(&sl->word, memory_order_acquire);
		if (w_seq(w) == s) {
			/* Claimed already: help the counter on. */
			atomic_compare_exchange_strong_explicit(
				&pl->claim, &s, s + 1, memory_order_acq_rel, memory_order_relaxed);
			continue;
		}
		if (w_seq(w) != s - b->l.slots) {
			/* A later lap: we read an old @claim, unless @claim has
			 * not moved (a word ahead of the counter is corrupt). */
			if (w_seq(w) > s &&
			    atomic_load_explicit(&pl->claim, memory_order_acquire) != s) {
				continue;
			}
			return -EBADMSG;
		}
		if (!reusable(b, w)) {
			if (w_st(w) == ST_CLAIMED) {
				/* A claim of the previous lap still out: its
				 * publisher is usually preempted; wait for it, up
				 * to the fencing bound (a dead one at once). */
				int r = look_claim(b, sl, w, &looks, flags);
				if (r < 0) {
					return r;
				}
				if (r == 0 && (r = wait_round(b, &wc, flags, deadline)) < 0) {
					return r;
				}
				if (r == 1) {
					sched_yield();
				}
				continue;
			}
			/* A quarantined slot: its sequence becomes a hole too. */
			if (atomic_compare_exchange_strong_explicit(
				    &sl->word, &w, W(s, w_pub(w), ST_FENCED), memory_order_seq_cst,
				    memory_order_relaxed)) {
				atomic_compare_exchange_strong_explicit(&pl->claim, &s, s + 1,
									memory_order_acq_rel,
									memory_order_relaxed);
			}
			continue;
		}
		/* The claim is recorded before it is made: a claimed word whose
		 * publisher's entry does not name it is an orphan (see
		 * resolve_claim()), and a fenced slot stays quarantined from the
		 * first instant (see reusable()). */
		atomic_store_explicit(&me->claim_ns, shmkit__monotonic_coarse_ns(),
				      memory_order_relaxed);
		/* Release: the seq_cst compare-and-swap below publishes it. */
		atomic_store_explicit(&me->claim_seq, s + 1, memory_order_release);
		if (!atomic_compare_exchange_strong_explicit(
			    &sl->word, &w, W(s, (uint32_t)b->pub, ST_CLAIMED), memory_order_seq_cst,
			    memory_order_relaxed)) {
			atomic_store_explicit(&me->claim_seq, 0, memory_order_release);
			continue;
		}
		SHMKIT_CRASHPOINT("bus_after_claim");
		/* On a copy: a failed compare-and-swap writes what it found
		 * (another publisher helped the counter on already). */
		uint64_t expect = s;
		atomic_compare_exchange_strong_explicit(&pl->claim, &expect, s + 1,
							memory_order_acq_rel, memory_order_relaxed);
		b->loaned = 1;
		b->loan_seq = s;
		b->loan_max = len;
		*data = payload(b, s);
		return 0;
	}
}

SHMKIT_API int
shmkit_bus_publish(shmkit_bus *b, size_t len)
{
	if (b == NULL || !mine(b) || !b->loaned || len > b->loan_max) {
		return -EINVAL;
	}
	struct b_slot *sl = slot(b, b->loan_seq);
	struct b_pub *me = pubent(b, (uint32_t)b->pub);
	b->loaned = 0;
	atomic_store_explicit(&sl->len, len, memory_order_relaxed);
	SHMKIT_CRASHPOINT("bus_before_publish");
	uint64_t w = W(b->loan_seq, (uint32_t)b->pub, ST_CLAIMED);
	/* The commit point; seq_cst against the sleepers' count. */
	int ok = atomic_compare_exchange_strong_explicit(
		&sl->word, &w, W(b->loan_seq, (uint32_t)b->pub, ST_PUBLISHED), memory_order_seq_cst,
		memory_order_relaxed);
	/* Either way the claim is over: a fenced slot may now be reused. */
	atomic_store_explicit(&me->claim_seq, 0, memory_order_release);
	if (!ok) {
		return -ESTALE;
	}
	SHMKIT_CRASHPOINT("bus_after_publish");
	uint64_t n = atomic_load_explicit(&me->published, memory_order_relaxed);
	atomic_store_explicit(&me->published, n + 1, memory_order_relaxed);
	after_publish(b, b->loan_seq);
	return 0;
}

SHMKIT_API int
shmkit_bus_send(shmkit_bus *b, const void *data, size_t len, unsigned flags,
		const struct timespec *deadline)
{
	void *p;
	if (data == NULL && len != 0) {
		return -EINVAL;
	}
	int rc = shmkit_bus_loan(b, len, &p, flags, deadline);
	if (rc != 0) {
		return rc;
	}
	if (len != 0) {
		store_racy(p, data, len);
	}
	return shmkit_bus_publish(b, len);
}

/* ---------------------------------------------------------------------- */
/* Subscribers.                                                            */

SHMKIT_API int
shmkit_bus_subscribe(shmkit_bus *b, uint64_t history)
{
	if (b == NULL) {
		return -EINVAL;
	}
	fork_reset(b);
	if (b->sub >= 0) {
		return -EBUSY;
	}
	uint32_t tok;
	int i = take_entry(b, 1, &tok);
	if (i < 0) {
		return i;
	}
	struct b_sub *s = subent(b, (uint32_t)i);
	atomic_store_explicit(&s->active, 0, memory_order_relaxed);
	uint64_t claim = atomic_load_explicit(&publine(b)->claim, memory_order_acquire);
	uint64_t back = history < b->l.slots ? history : b->l.slots;
	uint64_t c = claim - back;
	if (c < b->l.slots) {
		c = b->l.slots; /* nothing before the first sequence */
	}
	atomic_store_explicit(&s->cursor, c, memory_order_relaxed);
	atomic_store_explicit(&s->lost, 0, memory_order_relaxed);
	atomic_store_explicit(&s->received, 0, memory_order_relaxed);
	atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
	/* After the cursor: publishers count us from here on. */
	atomic_store_explicit(&s->active, 1, memory_order_seq_cst);
	b->sub = i;
	b->cursor = c;
	b->cursor_shown = c;
	b->peeked = 0;
	b->pending_lost = 0;
	return 0;
}

SHMKIT_API int
shmkit_bus_unsubscribe(shmkit_bus *b)
{
	if (b == NULL) {
		return -EINVAL;
	}
	fork_reset(b);
	if (b->sub < 0) {
		return -ENOTCONN;
	}
	struct b_sub *s = subent(b, (uint32_t)b->sub);
	uint32_t tok;
	(void)shmkit__self_token(&tok);
	atomic_store_explicit(&s->active, 0, memory_order_release);
	atomic_compare_exchange_strong_explicit(&s->token, &tok, 0, memory_order_release,
						memory_order_relaxed);
	b->sub = -1;
	/* A reliable publisher may have waited for us. */
	struct b_wait_line *wl = waitline(b);
	if (atomic_load_explicit(&wl->pub_waiting, memory_order_seq_cst) != 0) {
		atomic_fetch_add_explicit(&wl->pub_wake, 1, memory_order_seq_cst);
		shmkit__futex_wake(&wl->pub_wake, INT_MAX);
	}
	return 0;
}

/* Sleep until woken (see wake_subscribers()), unless @c is readable. */
static int
sub_sleep(shmkit_bus *b, uint64_t c, unsigned flags, const struct timespec *deadline)
{
	uint32_t i = (uint32_t)b->sub;
	struct b_sub *s = subent(b, i);
	struct b_wait_line *wl = waitline(b);
	_Atomic uint64_t *bm = bitmap(b, c, i / 64);
	uint64_t bit = (uint64_t)1 << (i % 64);
	uint32_t seen = atomic_load_explicit(&s->wake, memory_order_seq_cst);
	/* Counted, then @sleeping; undone in the reverse order: a death in
	 * between leaks one count (a wasted look per publish), never a
	 * missed wake-up. */
	atomic_fetch_add_explicit(&wl->nsleepers, 1, memory_order_seq_cst);
	atomic_store_explicit(&s->sleeping, 1, memory_order_seq_cst);
	atomic_fetch_or_explicit(bm, bit, memory_order_seq_cst);
	int rc = 0;
	uint64_t w = atomic_load_explicit(&slot(b, c)->word, memory_order_seq_cst);
	/* Nothing yet, or being written: the publish wakes us either way. A
	 * claim is looked at again every slice (its publisher may die); an
	 * empty slot, every IDLE_SLICE_NS (a claim made and orphaned meanwhile
	 * wakes nobody). */
	int claimed = w_seq(w) == c && w_st(w) == ST_CLAIMED;
	if (w_seq(w) < c || claimed) {
		struct timespec until;
		shmkit__ts_slice(&until, deadline, claimed ? SLICE_NS : IDLE_SLICE_NS);
		rc = shmkit__futex_wait(&s->wake, seen, &until);
	}
	atomic_fetch_and_explicit(bm, ~bit, memory_order_seq_cst);
	atomic_store_explicit(&s->sleeping, 0, memory_order_seq_cst);
	atomic_fetch_sub_explicit(&wl->nsleepers, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&s->wake, memory_order_acquire) != seen &&
	    atomic_load_explicit(&wl->nsleepers, memory_order_seq_cst) != 0) {
		/* Woken: pass it on, if there is something for the others
		 * waiting for @c (a message or a hole). */
		uint64_t now = atomic_load_explicit(&slot(b, c)->word, memory_order_acquire);
		if (w_seq(now) > c || (w_seq(now) == c && w_st(now) != ST_CLAIMED)) {
			wake_subscribers(b, c, WAKE_FANOUT);
		}
	}
	if (rc == -EINTR && (flags & SHMKIT_BUS_F_INTERRUPTIBLE)) {
		return -EINTR;
	}
	return shmkit__ts_passed(deadline) ? -ETIMEDOUT : 0;
}

/* Store our cursor (seq_cst: a reliable publisher's wait reads it) and wake
 * a waiting publisher: it may be waiting for exactly this. */
static void
publish_cursor(shmkit_bus *b, struct b_sub *me, uint64_t c)
{
	b->cursor_shown = c;
	atomic_store_explicit(&me->cursor, c, memory_order_seq_cst);
	struct b_wait_line *wl = waitline(b);
	if (atomic_load_explicit(&wl->pub_waiting, memory_order_seq_cst) != 0) {
		atomic_fetch_add_explicit(&wl->pub_wake, 1, memory_order_seq_cst);
		shmkit__futex_wake(&wl->pub_wake, INT_MAX);
	}
}

SHMKIT_API ssize_t
shmkit_bus_peek(shmkit_bus *b, const void **data, uint64_t *lost, unsigned flags,
		const struct timespec *deadline)
{
	if (b == NULL || data == NULL ||
	    (flags & ~(SHMKIT_BUS_F_NOWAIT | SHMKIT_BUS_F_INTERRUPTIBLE)) != 0 ||
	    shmkit__ts_check(deadline) != 0) {
		return -EINVAL;
	}
	fork_reset(b);
	if (b->sub < 0) {
		return -ENOTCONN;
	}
	if (b->peeked) {
		return -EBUSY;
	}
	struct b_sub *me = subent(b, (uint32_t)b->sub);
	uint64_t skipped = 0;
	struct waitctx wc = {0};
	uint32_t looks = 0;
	for (;;) {
		uint64_t c = b->cursor;
		struct b_slot *sl = slot(b, c);
		uint64_t w = atomic_load_explicit(&sl->word, memory_order_acquire);
		uint64_t ws = w_seq(w);
		if (ws == c && w_st(w) == ST_PUBLISHED) {
			uint64_t len = atomic_load_explicit(&sl->len, memory_order_relaxed);
			if (len > b->l.max_msg) {
				/* Torn by a lapping publisher, or a lie: the
				 * seqlock check decides. */
				if (atomic_load_explicit(&sl->word, memory_order_acquire) == w) {
					return -EBADMSG;
				}
				continue;
			}
			b->peeked = 1;
			b->peek_word = w;
			*data = payload(b, c);
			if (skipped != 0) {
				uint64_t t = atomic_load_explicit(&me->lost, memory_order_relaxed);
				atomic_store_explicit(&me->lost, t + skipped, memory_order_relaxed);
			}
			if (lost != NULL) {
				*lost = skipped + b->pending_lost;
			}
			b->pending_lost = 0;
			return (ssize_t)len;
		}
		if (ws == c && (w_st(w) == ST_SKIPPED || w_st(w) == ST_FENCED)) {
			b->cursor = c + 1; /* a hole: nothing was published */
			continue;
		}
		if (ws > c) {
			/* Lapped: everything from c to the oldest sequence still
			 * in the log is lost. */
			uint64_t claim =
				atomic_load_explicit(&publine(b)->claim, memory_order_acquire);
			/* Slots of sequences from claim - slots on are not
			 * claimed again yet: the oldest still there. */
			uint64_t oldest = claim - b->l.slots;
			if (oldest <= c || claim < c) {
				oldest = ws - b->l.slots + 1 > c ? ws - b->l.slots + 1 : c + 1;
			}
			skipped += oldest - c;
			b->cursor = oldest;
			continue;
		}
		if (ws == c && w_st(w) == ST_CLAIMED) {
			/* Being written: usually done in a moment. */
			int r = look_claim(b, sl, w, &looks, flags);
			if (r < 0) {
				return r;
			}
			if (r == 1) {
				continue;
			}
		} else if (ws + b->l.slots != c) {
			return -EBADMSG; /* neither this lap nor the last */
		}
		/* Nothing yet. */
		if (skipped != 0) {
			/* The cursor moved past them: say so with the next
			 * message, whatever ends this call. */
			uint64_t t = atomic_load_explicit(&me->lost, memory_order_relaxed);
			atomic_store_explicit(&me->lost, t + skipped, memory_order_relaxed);
			b->pending_lost += skipped;
			skipped = 0;
		}
		/* Holes and laps moved our cursor without a release: say so
		 * before waiting, or a reliable publisher waits for us while we
		 * wait for it. */
		if (b->cursor_shown != c) {
			publish_cursor(b, me, c);
		}
		int r = wait_round(b, &wc, flags, deadline);
		if (r < 0) {
			return r;
		}
		if (r == 1 && (r = sub_sleep(b, c, flags, deadline)) != 0) {
			return r;
		}
	}
}

SHMKIT_API int
shmkit_bus_release(shmkit_bus *b)
{
	if (b == NULL || !mine(b) || b->sub < 0 || !b->peeked) {
		return -EINVAL;
	}
	struct b_sub *me = subent(b, (uint32_t)b->sub);
	uint64_t c = b->cursor;
	/* The seqlock's second look: were the bytes overwritten meanwhile? */
	uint64_t w = seqlock_recheck(&slot(b, c)->word);
	int stale = w != b->peek_word;
	b->peeked = 0;
	b->cursor = c + 1;
	SHMKIT_CRASHPOINT("bus_before_release");
	/*
	 * Release: reliable publishers may reuse the slots before the stored
	 * cursor. It is stored every slots/8 messages (a cache line the
	 * publishers read, and a locked store, for many), at once when a
	 * publisher waits (its seq_cst count against our seq_cst load), and
	 * before this subscriber waits (see shmkit_bus_peek()).
	 */
	uint64_t every = b->l.slots / 8 ? b->l.slots / 8 : 1;
	if (c + 1 - b->cursor_shown >= every ||
	    atomic_load_explicit(&waitline(b)->pub_waiting, memory_order_seq_cst) != 0) {
		publish_cursor(b, me, c + 1);
	}
	uint64_t t = atomic_load_explicit(stale ? &me->lost : &me->received, memory_order_relaxed);
	atomic_store_explicit(stale ? &me->lost : &me->received, t + 1, memory_order_relaxed);
	return stale ? -ESTALE : 0;
}

SHMKIT_API ssize_t
shmkit_bus_recv(shmkit_bus *b, void *buf, size_t cap, uint64_t *lost, unsigned flags,
		const struct timespec *deadline)
{
	if (buf == NULL && cap != 0) {
		return -EINVAL;
	}
	uint64_t extra = 0;
	for (;;) {
		const void *p;
		uint64_t l = 0;
		ssize_t n = shmkit_bus_peek(b, &p, &l, flags, deadline);
		if (n < 0) {
			if (b != NULL && n != -EINVAL) {
				b->pending_lost += extra; /* told with the next message */
			}
			return n;
		}
		extra += l;
		if ((size_t)n > cap) {
			/* It stays (unless it was overwritten meanwhile); the
			 * loss is told with the next message. */
			b->peeked = 0;
			b->pending_lost += extra;
			return -EMSGSIZE;
		}
		copy_racy(buf, p, (size_t)n);
		if (shmkit_bus_release(b) == -ESTALE) {
			extra++; /* torn: lost, read the next */
			continue;
		}
		if (lost != NULL) {
			*lost = extra;
		}
		return n;
	}
}

/* ---------------------------------------------------------------------- */
/* Stats.                                                                  */

SHMKIT_API int
shmkit_bus_stat(shmkit_bus *b, shmkit_bus_info *info)
{
	if (b == NULL || info == NULL) {
		return -EINVAL;
	}
	memset(info, 0, sizeof(*info));
	info->slots = b->l.slots;
	info->max_subscribers = b->l.max_subs;
	info->max_publishers = b->l.max_pubs;
	info->flags = b->l.flags;
	info->max_msg_size = b->l.max_msg;
	info->published =
		atomic_load_explicit(&publine(b)->claim, memory_order_acquire) - b->l.slots;
	for (uint32_t i = 0; i < b->l.max_pubs; i++) {
		uint32_t tok = atomic_load_explicit(&pubent(b, i)->token, memory_order_acquire);
		if (tok != 0) {
			if (shmkit__token_dead(tok)) {
				info->dead_publishers++;
			} else {
				info->publishers++;
			}
		}
	}
	for (uint32_t i = 0; i < b->l.max_subs; i++) {
		struct b_sub *s = subent(b, i);
		uint32_t tok = atomic_load_explicit(&s->token, memory_order_acquire);
		if (tok != 0) {
			if (shmkit__token_dead(tok)) {
				info->dead_subscribers++;
			} else {
				info->subscribers++;
				info->sleeping += atomic_load_explicit(&s->sleeping,
								       memory_order_relaxed) != 0;
			}
		}
	}
	return 0;
}

SHMKIT_API int
shmkit_bus_subscribers(shmkit_bus *b, shmkit_bus_sub_info *out, size_t n)
{
	if (b == NULL || (out == NULL && n != 0)) {
		return -EINVAL;
	}
	uint64_t claim = atomic_load_explicit(&publine(b)->claim, memory_order_acquire);
	size_t k = 0;
	for (uint32_t i = 0; i < b->l.max_subs; i++) {
		struct b_sub *s = subent(b, i);
		uint32_t tok = atomic_load_explicit(&s->token, memory_order_acquire);
		if (tok == 0) {
			continue;
		}
		if (k < n) {
			shmkit_bus_sub_info *o = &out[k];
			pid_t pid;
			memset(o, 0, sizeof(*o));
			o->index = i;
			o->alive = shmkit__token_dead(tok) ? 0 : 1;
			o->pid = shmkit__token_pid(tok, &pid) == 0 ? (int32_t)pid : -1;
			o->sleeping = o->alive &&
				      atomic_load_explicit(&s->sleeping, memory_order_relaxed);
			uint64_t c = atomic_load_explicit(&s->cursor, memory_order_acquire);
			o->lag = c <= claim ? claim - c : 0;
			o->lost = atomic_load_explicit(&s->lost, memory_order_relaxed);
			o->received = atomic_load_explicit(&s->received, memory_order_relaxed);
		}
		k++;
	}
	return (int)k;
}
