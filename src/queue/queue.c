/* SPDX-License-Identifier: MIT */
/* shmkit_queue: typed message queues with System V msgsnd/msgrcv semantics in a shmkit segment. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <shmkit/queue.h>
#include <shmkit/segment.h>
#include <shmkit/sync.h>

#include "internal/crashpoint.h"
#include "internal/creds.h"
#include "internal/futex.h"
#include "internal/platform.h"
#include "internal/ready.h"
#include "internal/registry.h"
#include "queue/queue_impl.h"

/*
 * The data area of a queue (offsets from the start of the data area; every
 * section starts on a cache line):
 *
 *   0     struct q_meta      immutable after creation; @ready published last
 *   64    shmkit_mutex       the queue's lock
 *   128   struct q_ctl       owner, permissions, limit, removal (rarely written)
 *   256   struct q_hot       counters, list ends, times (every send and receive)
 *   384   struct q_wait      sleeping senders
 *   448   struct q_wait      sleeping receivers
 *   512   _Atomic uint32_t   [WAIT_CAP] who sleeps (token | sender bit), for stats
 *   768   struct q_bucket    [NBUCKETS] per-type lists
 *   1280  struct q_desc      [nslots] message descriptors, one line each
 *   ...   uint32_t           [nbig] big slots' free list (BIG_BUSY: in use)
 *   ...   unsigned char      [nslots][SMALL] each descriptor's small payload slot
 *   ...   unsigned char      [nbig][big_size] big payload slots
 *
 * A payload of up to SMALL bytes lives in its descriptor's own small slot;
 * a larger one in a big slot of round_up(max_msg_size, 64) bytes that the
 * descriptor names. There are only as many big slots as the byte limit at
 * creation lets messages over SMALL bytes be held (max_bytes / (SMALL + 1),
 * plus the spares), so a queue may hold many small messages (the kernel's
 * count limit is msg_qbytes) without reserving a big slot for each. Fixed
 * slots need no allocator that a crash could leave half-updated: which big
 * slots are in use follows from the descriptors. There are max_msgs +
 * SPARE descriptors: a slot fenced away from a stalled sender stays
 * quarantined until that sender is dead or comes back (it may still be
 * writing into it), and the spares keep the full capacity available
 * meanwhile.
 *
 * The descriptors are the only truth. Every operation, under the lock,
 * writes a descriptor's fields first and its state word last: that one
 * store is the operation's commit point. Everything else — the counters,
 * the queue order, the per-type lists, the free list — is an index derived
 * from the descriptors and updated after the commit point. A holder killed
 * anywhere leaves the descriptors consistent and the index possibly half
 * changed; the next locker, told -EOWNERDEAD by the mutex, rebuilds the
 * index from the descriptors (index_rebuild). The same rebuild repairs an
 * index that a check finds inconsistent (a peer's stray write). Permission
 * changes commit by one store too: they are written into the spare one of
 * two copies, which then becomes the current one.
 *
 * Messages are ordered by a 64-bit sequence number given at commit (so a
 * slow sender never holds up the messages committed after its claim);
 * comparisons are modular, (int64_t)(a - b) < 0, so the counter may wrap.
 * The index keeps them in that order in one list (msgtyp 0, MSG_EXCEPT,
 * MSG_COPY) and per type in NBUCKETS lists (msgtyp > 0 and < 0 in O(1) for
 * types below NBUCKETS; larger types share one list sorted by type).
 */

#define Q_MAGIC    0x31555153u /* "SQU1" */
#define Q_LAYOUT   3u
#define WAIT_CAP   64u
#define NBUCKETS   64u
#define SPARE      4u
#define SLOT_ALIGN 64u
#define SMALL      64u /* payload bytes kept in the descriptor's own slot */
#define NIL        0xffffffffu
/* A big slot's free-list word while the slot is in use (and, during a
 * rebuild, while it is known free). */
#define BIG_BUSY 0xfffffffeu
#define BIG_FREE 0xfffffffdu

/* Largest limits: keep every size computation far from overflow. */
#define MAX_MSGS_LIMIT     (1u << 20)
#define MAX_MSG_SIZE_LIMIT (1u << 26)
#define MAX_TOTAL          ((uint64_t)1 << 36)

/* Copying sends up to this size copy under the lock, in one locked step;
 * larger ones claim, copy without the lock, and commit (two steps). */
#define COPY_UNDER_LOCK 4096u

/* How long a sleeper sleeps at most before it sweeps dead claims and
 * re-checks the queue (ns). */
#define SLEEP_SLICE_NS 100000000
/* How long a default (spin-then-sleep) waiter spins before it sleeps. */
#define SPIN_NS    20000
#define WAIT_FLAGS (SHMKIT_QUEUE_F_SPIN | SHMKIT_QUEUE_F_SLEEP)
/* How long a live sender may hold a claim before it may be fenced (ns). */
#define FENCE_NS 2000000000
/* How long an opener waits for a creator to finish the queue (ns). */
#define READY_WAIT_NS 2000000000

/* Internal: the index disagrees with the descriptors; rebuild it. */
#define E_INDEX (-EUCLEAN)

/* Descriptor states. */
enum { D_FREE = 0, D_CLAIMED = 1, D_COMMITTED = 2, D_TAKEN = 3, D_FENCED = 4 };

struct q_meta {
	uint32_t magic;
	uint32_t layout;
	uint32_t max_msgs;
	uint32_t max_msg_size;
	uint32_t nslots;
	uint32_t slot_size;
	int32_t sysv_id;
	uint32_t sysv_key;
	uint64_t total; /* bytes of the data area used */
	uint32_t nbig;  /* big payload slots */
	uint32_t reserved0;
	/*
	 * 0 while the creator initialises the queue, Q_MAGIC once done: stored
	 * with release ordering after every other byte was written, paired
	 * with the acquire load in wait_ready().
	 */
	_Atomic uint32_t ready;
	uint32_t reserved1[3];
};
_Static_assert(sizeof(struct q_meta) == 64, "meta is one line");
_Static_assert(offsetof(struct q_meta, ready) == 48, "ready offset");

/* Who may do what, and the byte limit (IPC_SET changes it). */
struct q_perm {
	uint64_t max_bytes; /* msg_qbytes */
	uint32_t uid, gid, mode;
	uint32_t reserved;
};
_Static_assert(sizeof(struct q_perm) == 24, "perm size");

/* Under the lock; @removed is also read without it (relaxed: a hint that a
 * locked re-check confirms). */
struct q_ctl {
	uint32_t cuid, cgid;
	_Atomic uint32_t removed; /* the commit point of IPC_RMID */
	uint32_t perm_sel;        /* the current perm[]; the commit point of IPC_SET */
	struct q_perm perm[2];
	int64_t ctime;
	uint32_t repairs; /* index rebuilds after a bad check (not after a death) */
	uint32_t reserved0;
	uint8_t reserved[48];
};
_Static_assert(sizeof(struct q_ctl) == 128, "ctl is two lines");
_Static_assert(offsetof(struct q_ctl, perm) == 16, "perm offset");

/* Written by every send and receive, under the lock. @next_seq is the
 * truth (advanced before a commit point, so every committed sequence is
 * before it); the rest is the derived index, and the times and pids are
 * statistics stored after the commit point. */
struct q_hot {
	uint64_t next_seq;
	uint64_t qbytes;     /* payload bytes of committed messages (msg_cbytes) */
	uint64_t used_bytes; /* payload bytes claimed, committed or lent */
	uint64_t bitmap;     /* bit t: bucket t (1 <= t < NBUCKETS) holds messages */
	uint32_t qnum;       /* committed messages (msg_qnum) */
	uint32_t used_msgs;  /* messages claimed, committed or lent */
	uint32_t head, tail; /* committed messages in sequence order */
	uint32_t free_head;  /* free descriptors, through next */
	/* Bumped (under the lock) by every commit, and by every change that
	 * makes room: what receivers and senders wait on (see wake()). */
	_Atomic uint32_t commits;
	_Atomic uint32_t frees;
	uint32_t reserved0;
	int64_t stime, rtime;
	int32_t lspid, lrpid;
	uint32_t bfree_head, nbfree; /* free big slots, through the big list */
	/* Free and fenced descriptors: with used_msgs they add up to the
	 * slot count, which every call checks (a lie in one counter shows). */
	uint32_t nfree, nfenced;
	uint8_t reserved2[24];
};
_Static_assert(sizeof(struct q_hot) == 128, "hot is two lines");
_Static_assert(offsetof(struct q_hot, stime) == 64, "times on the second line");

/*
 * A wake-up word, on a line of its own: @waiting callers spin or sleep on
 * @seq (@sleepers of them in the futex), and a waker touches it only when
 * someone waits (see wake()).
 */
struct q_wait {
	_Atomic uint32_t seq;
	_Atomic uint32_t waiting;
	_Atomic uint32_t sleepers;
	uint8_t reserved[52];
};
_Static_assert(sizeof(struct q_wait) == 64, "wait word is one line");

/* Bucket t < NBUCKETS holds the messages of type t in sequence order;
 * bucket 0 those of every larger type, sorted by type, then sequence. */
struct q_bucket {
	uint32_t head, tail;
};

/* A message descriptor; changed only under the lock, state word last. */
struct q_desc {
	uint32_t state;   /* D_* */
	uint32_t owner;   /* claimer (CLAIMED, FENCED) or borrower (TAKEN) token */
	uint32_t gen;     /* bumped whenever the slot is freed: stale loans fail */
	uint32_t len;     /* payload bytes (claimed size until commit) */
	int64_t type;     /* > 0 once committed */
	uint64_t seq;     /* queue order, given at commit */
	int64_t claim_ns; /* CLOCK_MONOTONIC of the claim (the fencing bound) */
	/* The index: the queue order (committed) or the free list (free). */
	uint32_t next, prev;
	/* The index: the message's bucket (committed). */
	uint32_t tnext, tprev;
	uint32_t big; /* its big slot, when not free and len > SMALL */
	uint32_t reserved;
};
_Static_assert(sizeof(struct q_desc) == 64, "descriptor is one line");

#define OFF_META   0u
#define OFF_LOCK   64u
#define OFF_CTL    128u
#define OFF_HOT    256u
#define OFF_SWAIT  384u
#define OFF_RWAIT  448u
#define OFF_WTAB   512u
#define OFF_BUCKET (OFF_WTAB + WAIT_CAP * 4u)
#define OFF_DESC   (OFF_BUCKET + NBUCKETS * (unsigned)sizeof(struct q_bucket))
_Static_assert(OFF_BUCKET == 768, "buckets offset");
_Static_assert(OFF_DESC == 1280 && OFF_DESC % 64 == 0, "descriptors on a line");
_Static_assert(sizeof(shmkit_mutex) == 64, "lock is one line");

/* Where each section is, computed from the immutable limits alone (never
 * read from shared memory after validation, so nothing there can move a
 * section). */
struct layout {
	uint32_t max_msgs, max_msg_size, nslots, slot_size, nbig;
	size_t desc, bnext, arena, big, total;
};

struct shmkit_queue {
	shmkit_segment *seg;
	unsigned char *base;
	struct layout l;
	int32_t sysv_id;
	uint32_t sysv_key;
	_Atomic uint64_t perm_cache; /* see perm_check() */
};

/* What loan->priv_ holds. */
#define LOAN_SEND 0x53454e44u /* "SEND" */
#define LOAN_RECV 0x52454356u /* "RECV" */

static size_t
round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

/* The big slots a queue needs: as many messages over SMALL bytes as
 * @max_bytes can hold at once, plus the spares; none if none fit. */
static uint32_t
big_slots_for(uint32_t max_msgs, uint32_t max_msg_size, uint64_t max_bytes)
{
	if (max_msg_size <= SMALL) {
		return 0;
	}
	uint64_t n = max_bytes / (SMALL + 1) + SPARE;
	uint64_t cap = (uint64_t)max_msgs + SPARE;
	return (uint32_t)(n < cap ? n : cap);
}

static int
layout_compute(struct layout *l, uint32_t max_msgs, uint32_t max_msg_size, uint32_t nbig)
{
	if (max_msgs < 1 || max_msgs > MAX_MSGS_LIMIT || max_msg_size < 1 ||
	    max_msg_size > MAX_MSG_SIZE_LIMIT || nbig > max_msgs + SPARE ||
	    (max_msg_size > SMALL) != (nbig > 0)) {
		return -EINVAL;
	}
	l->max_msgs = max_msgs;
	l->max_msg_size = max_msg_size;
	l->nslots = max_msgs + SPARE;
	l->slot_size = max_msg_size > SMALL ? (uint32_t)round_up(max_msg_size, SLOT_ALIGN) : 0;
	l->nbig = nbig;
	l->desc = OFF_DESC;
	l->bnext = round_up(l->desc + (size_t)l->nslots * sizeof(struct q_desc), SLOT_ALIGN);
	l->arena = round_up(l->bnext + (size_t)nbig * sizeof(uint32_t), SLOT_ALIGN);
	l->big = l->arena + (size_t)l->nslots * SMALL;
	uint64_t total = (uint64_t)l->big + (uint64_t)nbig * l->slot_size;
	if (total > MAX_TOTAL) {
		return -EFBIG;
	}
	l->total = (size_t)total;
	return 0;
}

/* The credentials live in src/common/creds.c, shared with semsets. */
void
shmkit__queue_creds_changed(void)
{
	shmkit__creds_changed();
}

/* ---------------------------------------------------------------------- */
/* Access to the sections.                                                 */

static struct q_meta *
meta(const shmkit_queue *q)
{
	return (struct q_meta *)(q->base + OFF_META);
}

static shmkit_mutex *
lockp(const shmkit_queue *q)
{
	return (shmkit_mutex *)(q->base + OFF_LOCK);
}

static struct q_ctl *
ctl(const shmkit_queue *q)
{
	return (struct q_ctl *)(q->base + OFF_CTL);
}

/* The current permissions; perm_sel is checked by perm_ok() under the lock. */
static struct q_perm *
perm(const shmkit_queue *q)
{
	return &ctl(q)->perm[ctl(q)->perm_sel & 1];
}

static struct q_hot *
hot(const shmkit_queue *q)
{
	return (struct q_hot *)(q->base + OFF_HOT);
}

static struct q_wait *
swait(const shmkit_queue *q)
{
	return (struct q_wait *)(q->base + OFF_SWAIT);
}

static struct q_wait *
rwait(const shmkit_queue *q)
{
	return (struct q_wait *)(q->base + OFF_RWAIT);
}

static _Atomic uint32_t *
wtab(const shmkit_queue *q, uint32_t i)
{
	return (_Atomic uint32_t *)(q->base + OFF_WTAB) + i;
}

static struct q_bucket *
bucket(const shmkit_queue *q, uint32_t b)
{
	return (struct q_bucket *)(q->base + OFF_BUCKET) + b;
}

static struct q_desc *
desc(const shmkit_queue *q, uint32_t i)
{
	return (struct q_desc *)(q->base + q->l.desc) + i;
}

static uint32_t *
bnext(const shmkit_queue *q, uint32_t b)
{
	return (uint32_t *)(q->base + q->l.bnext) + b;
}

/* Where the payload of descriptor @i is, with @len bytes in big slot @big
 * (checked by the caller: desc_read() or the claim that chose it). */
static unsigned char *
payload(const shmkit_queue *q, uint32_t i, uint32_t len, uint32_t big)
{
	if (len <= SMALL) {
		return q->base + q->l.arena + (size_t)i * SMALL;
	}
	return q->base + q->l.big + (size_t)big * q->l.slot_size;
}

/*
 * The count that the waiters of @w check: receivers the commit count,
 * senders the free count. Both are bumped under the lock, on the line that
 * the lock holder writes anyway.
 */
static _Atomic uint32_t *
count_of(const shmkit_queue *q, const struct q_wait *w)
{
	return w == rwait(q) ? &hot(q)->commits : &hot(q)->frees;
}

/* Bump @w's count; under the lock. seq_cst: see wake(). */
static void
bump(shmkit_queue *q, struct q_wait *w)
{
	atomic_fetch_add_explicit(count_of(q, w), 1, memory_order_seq_cst);
}

/* ---------------------------------------------------------------------- */
/* Validation.                                                             */

/* Copy descriptor @i and check it; called under the lock. */
static int
desc_read(const shmkit_queue *q, uint32_t i, struct q_desc *d)
{
	memcpy(d, desc(q, i), sizeof(*d));
	if (d->state > D_FENCED) {
		return -EBADMSG;
	}
	if (d->state != D_FREE && d->len > q->l.max_msg_size) {
		return -EBADMSG;
	}
	if (d->state == D_COMMITTED && d->type <= 0) {
		return -EBADMSG;
	}
	if (d->state != D_FREE && d->len > SMALL && d->big >= q->l.nbig) {
		return -EBADMSG;
	}
	return 0;
}

/* The permissions and the byte limit (the truth: not derivable). */
static int
perm_ok(const shmkit_queue *q)
{
	const struct q_ctl *c = ctl(q);
	if (c->perm_sel > 1 || perm(q)->mode > 0777) {
		return -EBADMSG;
	}
	return 0;
}

/* Are the counters of the index possible? Called under the lock. */
static int
hot_ok(const shmkit_queue *q)
{
	const struct q_hot *h = hot(q);
	const struct layout *l = &q->l;
	if (h->used_msgs > l->nslots ||
	    (uint64_t)h->used_msgs + h->nfree + h->nfenced != l->nslots || h->qnum > h->used_msgs ||
	    h->qbytes > h->used_bytes || h->used_bytes > (uint64_t)h->used_msgs * l->max_msg_size ||
	    (h->head == NIL) != (h->qnum == 0) || (h->tail == NIL) != (h->qnum == 0) ||
	    (h->head != NIL && h->head >= l->nslots) || (h->tail != NIL && h->tail >= l->nslots) ||
	    (h->free_head != NIL && h->free_head >= l->nslots) || (h->bitmap & 1) != 0 ||
	    h->nbfree > l->nbig || (h->bfree_head != NIL && h->bfree_head >= l->nbig) ||
	    (h->bfree_head == NIL) != (h->nbfree == 0)) {
		return E_INDEX;
	}
	return 0;
}

/* Is @v a possible link (an index or NIL)? */
static int
link_ok(const shmkit_queue *q, uint32_t v)
{
	return v == NIL || v < q->l.nslots;
}

/* Is @i a committed message (the index may only point at those)? */
static int
committed(const shmkit_queue *q, uint32_t i)
{
	return i < q->l.nslots && desc(q, i)->state == D_COMMITTED && desc(q, i)->type > 0 &&
	       desc(q, i)->len <= q->l.max_msg_size;
}

/* The bucket of a type (> 0). */
static uint32_t
bucket_of(int64_t type)
{
	return type < (int64_t)NBUCKETS ? (uint32_t)type : 0;
}

/* 1 if sequence @a comes before @b, modulo 2^64. */
static int
seq_before(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) < 0;
}

/* ---------------------------------------------------------------------- */
/* The index.                                                              */

/* Which link of a descriptor a list uses. */
enum { L_ORDER = 0, L_TYPE = 1 };

static uint32_t *
nextp(const shmkit_queue *q, uint32_t i, int which)
{
	return which == L_ORDER ? &desc(q, i)->next : &desc(q, i)->tnext;
}

static uint32_t *
prevp(const shmkit_queue *q, uint32_t i, int which)
{
	return which == L_ORDER ? &desc(q, i)->prev : &desc(q, i)->tprev;
}

/* Does @a come before @b in list @which (bucket 0 is sorted by type)? */
static int
list_before(const shmkit_queue *q, uint32_t a, uint32_t b, int which)
{
	const struct q_desc *x = desc(q, a), *y = desc(q, b);
	if (which == L_TYPE && x->type != y->type) {
		return x->type < y->type;
	}
	return seq_before(x->seq, y->seq);
}

/* Link @which of @i as read now: a peer writing into the queue while we
 * rebuild may have changed it; a link out of range sets *@bad. */
static uint32_t
chain_next(const shmkit_queue *q, uint32_t i, int which, int *bad)
{
	if (i >= q->l.nslots) {
		*bad = 1; /* a run shorter than counted: changed under us */
		return NIL;
	}
	uint32_t v = *nextp(q, i, which);
	if (v != NIL && v >= q->l.nslots) {
		*bad = 1;
		return NIL;
	}
	return v;
}

/*
 * Sort the singly linked chain @head (through @which's next links) by
 * list_before(): a bottom-up merge sort on the links themselves, so a
 * recovery needs no memory. Return the new head; prev links are not set.
 * The chain was built by the caller, but a peer writing into the queue at
 * the same time could change any link: every link read is checked and every
 * pass is bounded, so that costs at most *@bad = 1, never a stray access or
 * an endless loop.
 */
static uint32_t
chain_sort(const shmkit_queue *q, uint32_t head, int which, int *bad)
{
	const uint64_t n = q->l.nslots;
	if (head != NIL && head >= n) {
		*bad = 1;
		return NIL;
	}
	for (uint64_t width = 1; !*bad; width *= 2) {
		uint32_t p = head, out = NIL, out_tail = NIL;
		uint64_t merges = 0, steps = 0;
		if (width > 2 * n) {
			*bad = 1;
			break;
		}
		while (p != NIL && !*bad) {
			merges++;
			uint32_t r = p;
			uint64_t psize = 0;
			for (uint64_t k = 0; k < width && r != NIL; k++) {
				psize++;
				r = chain_next(q, r, which, bad);
			}
			uint64_t rsize = width;
			while ((psize > 0 || (rsize > 0 && r != NIL)) && !*bad) {
				uint32_t e;
				if (++steps > n || (psize > 0 && p == NIL)) {
					*bad = 1; /* a cycle, or a run cut short */
					break;
				}
				if (psize == 0) {
					e = r;
					r = chain_next(q, r, which, bad);
					rsize--;
				} else if (rsize == 0 || r == NIL || !list_before(q, r, p, which)) {
					e = p;
					p = chain_next(q, p, which, bad);
					psize--;
				} else {
					e = r;
					r = chain_next(q, r, which, bad);
					rsize--;
				}
				if (out_tail == NIL) {
					out = e;
				} else {
					*nextp(q, out_tail, which) = e;
				}
				out_tail = e;
			}
			p = r;
		}
		if (out_tail != NIL) {
			*nextp(q, out_tail, which) = NIL;
		}
		head = out;
		if (merges <= 1) {
			return head;
		}
	}
	return NIL;
}

static int big_rebuild(shmkit_queue *q);
static int big_push(shmkit_queue *q, uint32_t b);

/*
 * Rebuild the whole index from the descriptors: after a holder died inside
 * an operation (the index may be half changed) or when a check found it
 * inconsistent. Only the descriptors and next_seq are read; every
 * descriptor is validated first, so a corrupted one gives -EBADMSG before
 * anything is written. Under the lock. Return 0 or -EBADMSG.
 */
static int
index_rebuild(shmkit_queue *q)
{
	struct q_hot *h = hot(q);
	const uint32_t n = q->l.nslots;
	uint64_t qbytes = 0, used_bytes = 0;
	uint32_t qnum = 0, used = 0, nfree = 0, nfenced = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct q_desc d;
		if (desc_read(q, i, &d) != 0) {
			return -EBADMSG;
		}
		nfree += d.state == D_FREE;
		nfenced += d.state == D_FENCED;
		if (d.state == D_COMMITTED) {
			/* Every committed sequence precedes next_seq. */
			if (!seq_before(d.seq, h->next_seq)) {
				return -EBADMSG;
			}
			qnum++;
			qbytes += d.len;
		}
		if (d.state == D_COMMITTED || d.state == D_CLAIMED || d.state == D_TAKEN) {
			used++;
			used_bytes += d.len;
		}
	}
	/* More than max_msgs can be held only if a peer's stray write made
	 * the counters lie: keep every message; sends wait until it drains. */
	/* Chains in index order (built backwards), then sorted. */
	uint32_t chead = NIL, fhead = NIL;
	for (uint32_t k = n; k-- > 0;) {
		struct q_desc *d = desc(q, k);
		if (d->state == D_FREE) {
			d->next = fhead;
			fhead = k;
		} else if (d->state == D_COMMITTED) {
			d->next = chead;
			chead = k;
		}
	}
	int bad = 0;
	chead = chain_sort(q, chead, L_ORDER, &bad);
	for (uint32_t b = 0; b < NBUCKETS; b++) {
		bucket(q, b)->head = bucket(q, b)->tail = NIL;
	}
	uint64_t bitmap = 0;
	uint32_t prev = NIL, steps = 0;
	for (uint32_t k = chead; k != NIL && !bad; k = chain_next(q, k, L_ORDER, &bad)) {
		struct q_desc *d = desc(q, k);
		/* Read once: a peer writing meanwhile must not move the bucket. */
		int64_t type = *(volatile int64_t *)&d->type;
		if (++steps > n || type <= 0) {
			bad = 1; /* changed under us by a peer */
			break;
		}
		uint32_t b = bucket_of(type);
		struct q_bucket *bk = bucket(q, b);
		d->prev = prev;
		prev = k;
		/* Appended in sequence order: bucket 0 is sorted by type below. */
		uint32_t t = bk->tail;
		if (t != NIL && t >= n) {
			bad = 1;
			break;
		}
		d->tnext = NIL;
		d->tprev = t;
		if (t == NIL) {
			bk->head = k;
		} else {
			desc(q, t)->tnext = k;
		}
		bk->tail = k;
		if (b != 0) {
			bitmap |= UINT64_C(1) << b;
		}
	}
	struct q_bucket *b0 = bucket(q, 0);
	uint32_t h0 = *(volatile uint32_t *)&b0->head; /* read once */
	b0->head = bad ? NIL : chain_sort(q, h0, L_TYPE, &bad);
	b0->tail = NIL;
	steps = 0;
	for (uint32_t k = b0->head; k != NIL && !bad; k = chain_next(q, k, L_TYPE, &bad)) {
		if (++steps > n) {
			bad = 1;
			break;
		}
		desc(q, k)->tprev = b0->tail;
		b0->tail = k;
	}
	if (bad) {
		return -EBADMSG;
	}
	h->head = chead;
	h->tail = prev;
	h->free_head = fhead;
	h->bitmap = bitmap;
	h->qnum = qnum;
	h->qbytes = qbytes;
	h->used_msgs = used;
	h->used_bytes = used_bytes;
	h->nfree = nfree;
	h->nfenced = nfenced;
	return big_rebuild(q);
}

/*
 * Rebuild the big slots' free list from the descriptors: a slot is in use
 * while a descriptor that is not free holds more than SMALL bytes in it
 * (a fenced one too: its stalled sender may still write). Two descriptors
 * naming one slot: -EBADMSG. Under the lock.
 */
static int
big_rebuild(shmkit_queue *q)
{
	struct q_hot *h = hot(q);
	const uint32_t nbig = q->l.nbig;
	for (uint32_t b = 0; b < nbig; b++) {
		*bnext(q, b) = BIG_FREE;
	}
	for (uint32_t i = 0; i < q->l.nslots; i++) {
		struct q_desc d;
		if (desc_read(q, i, &d) != 0) {
			return -EBADMSG;
		}
		if (d.state == D_FREE || d.len <= SMALL) {
			continue;
		}
		if (*bnext(q, d.big) == BIG_BUSY) {
			return -EBADMSG;
		}
		*bnext(q, d.big) = BIG_BUSY;
	}
	uint32_t head = NIL, n = 0;
	for (uint32_t b = nbig; b-- > 0;) {
		if (*bnext(q, b) != BIG_BUSY) {
			*bnext(q, b) = head;
			head = b;
			n++;
		}
	}
	h->bfree_head = head;
	h->nbfree = n;
	return 0;
}

/* Take a free big slot: its index, -EAGAIN (none left: the byte limit was
 * raised over the one the queue was made for), or E_INDEX. */
static int
big_pop(shmkit_queue *q)
{
	struct q_hot *h = hot(q);
	uint32_t b = h->bfree_head;
	if (b == NIL) {
		return h->nbfree == 0 ? -EAGAIN : E_INDEX;
	}
	uint32_t nx = b < q->l.nbig ? *bnext(q, b) : BIG_BUSY;
	if (b >= q->l.nbig || nx == BIG_BUSY || nx == BIG_FREE || (nx != NIL && nx >= q->l.nbig) ||
	    h->nbfree == 0) {
		return E_INDEX;
	}
	*bnext(q, b) = BIG_BUSY;
	h->bfree_head = nx;
	h->nbfree--;
	return (int)b;
}

/* Give back big slot @b (in use); a slot not marked in use is left alone
 * and the index repaired by the caller (0 or E_INDEX). */
static int
big_push(shmkit_queue *q, uint32_t b)
{
	struct q_hot *h = hot(q);
	if (b >= q->l.nbig || *bnext(q, b) != BIG_BUSY) {
		return E_INDEX;
	}
	*bnext(q, b) = h->bfree_head;
	h->bfree_head = b;
	h->nbfree++;
	return 0;
}

/* After a check found the index inconsistent: rebuild it, and count it. */
static int
index_repair(shmkit_queue *q)
{
	int rc = index_rebuild(q);
	if (rc == 0) {
		ctl(q)->repairs++;
	}
	return rc;
}

/* Append committed message @i to list @which, whose ends are @head/@tail. */
static int
list_append(shmkit_queue *q, uint32_t i, uint32_t *head, uint32_t *tail, int which)
{
	uint32_t t = *tail;
	if (!link_ok(q, t) || (t == NIL) != (*head == NIL) ||
	    (t != NIL && (!committed(q, t) || *nextp(q, t, which) != NIL))) {
		return E_INDEX;
	}
	*nextp(q, i, which) = NIL;
	*prevp(q, i, which) = t;
	if (t == NIL) {
		*head = i;
	} else {
		*nextp(q, t, which) = i;
	}
	*tail = i;
	return 0;
}

/* Insert committed message @i (type >= NBUCKETS) into bucket 0, sorted
 * by type: walk back from the tail over larger types (usually none). */
static int
bucket0_insert(shmkit_queue *q, uint32_t i)
{
	struct q_bucket *b = bucket(q, 0);
	int64_t type = desc(q, i)->type;
	uint32_t after = b->tail;
	for (uint32_t steps = 0; after != NIL; steps++) {
		if (steps >= q->l.nslots || !committed(q, after)) {
			return E_INDEX;
		}
		if (desc(q, after)->type <= type) {
			break;
		}
		after = desc(q, after)->tprev;
	}
	if (after == b->tail) {
		return list_append(q, i, &b->head, &b->tail, L_TYPE);
	}
	/* Between @after (or the head) and its successor, which exists. */
	uint32_t before = after == NIL ? b->head : desc(q, after)->tnext;
	if (!committed(q, before) || desc(q, before)->tprev != after) {
		return E_INDEX;
	}
	desc(q, i)->tprev = after;
	desc(q, i)->tnext = before;
	desc(q, before)->tprev = i;
	if (after == NIL) {
		b->head = i;
	} else {
		desc(q, after)->tnext = i;
	}
	return 0;
}

/* Add message @i, just committed, to the index and the counters. */
static int
index_add(shmkit_queue *q, uint32_t i)
{
	struct q_hot *h = hot(q);
	struct q_desc *d = desc(q, i);
	int rc = list_append(q, i, &h->head, &h->tail, L_ORDER);
	if (rc != 0) {
		return rc;
	}
	uint32_t b = bucket_of(d->type);
	if (b == 0) {
		rc = bucket0_insert(q, i);
	} else {
		rc = list_append(q, i, &bucket(q, b)->head, &bucket(q, b)->tail, L_TYPE);
		h->bitmap |= UINT64_C(1) << b;
	}
	h->qnum++;
	h->qbytes += d->len;
	return rc;
}

/* Check that committed message @i, whose descriptor was copied into @d,
 * can be unlinked from both of its lists with the links of that copy
 * (done before its commit point, so a bad index is repaired first). */
static int
index_can_del(const shmkit_queue *q, uint32_t i, const struct q_desc *d)
{
	const struct q_hot *h = hot(q);
	const struct q_bucket *b = bucket(q, bucket_of(d->type));
	uint32_t p = d->prev, n = d->next, tp = d->tprev, tn = d->tnext;
	if (!link_ok(q, p) || !link_ok(q, n) || !link_ok(q, tp) || !link_ok(q, tn) ||
	    (p == NIL ? h->head != i : desc(q, p)->next != i) ||
	    (n == NIL ? h->tail != i : desc(q, n)->prev != i) ||
	    (tp == NIL ? b->head != i : desc(q, tp)->tnext != i) ||
	    (tn == NIL ? b->tail != i : desc(q, tn)->tprev != i) || h->qnum == 0 ||
	    h->qbytes < d->len) {
		return E_INDEX;
	}
	return 0;
}

/* Take message @i (no longer committed: its state was just changed) out
 * of the lists and the counters, with the links of @d, its copy that
 * index_can_del() checked (not read again: a peer may write meanwhile). */
static void
index_del(shmkit_queue *q, uint32_t i, const struct q_desc *d)
{
	struct q_hot *h = hot(q);
	int64_t type = d->type;
	uint32_t len = d->len;
	uint32_t b = bucket_of(type);
	struct q_bucket *bk = bucket(q, b);
	uint32_t p = d->prev, n = d->next, tp = d->tprev, tn = d->tnext;
	(void)i;
	*(p == NIL ? &h->head : &desc(q, p)->next) = n;
	*(n == NIL ? &h->tail : &desc(q, n)->prev) = p;
	*(tp == NIL ? &bk->head : &desc(q, tp)->tnext) = tn;
	*(tn == NIL ? &bk->tail : &desc(q, tn)->tprev) = tp;
	if (b != 0 && bk->head == NIL) {
		h->bitmap &= ~(UINT64_C(1) << b);
	}
	h->qnum--;
	h->qbytes -= len;
}

/* Take a free descriptor off the free list. Return its index, -EAGAIN (none
 * free: fenced slots fill the spares), or E_INDEX. */
static int
free_pop(shmkit_queue *q)
{
	struct q_hot *h = hot(q);
	uint32_t f = h->free_head;
	if (f == NIL) {
		/* Really none, or a broken list? Rare: the queue is full. */
		for (uint32_t i = 0; i < q->l.nslots; i++) {
			if (desc(q, i)->state == D_FREE) {
				return E_INDEX;
			}
		}
		return -EAGAIN;
	}
	if (f >= q->l.nslots || desc(q, f)->state != D_FREE || !link_ok(q, desc(q, f)->next)) {
		return E_INDEX;
	}
	h->free_head = desc(q, f)->next;
	h->nfree--;
	return (int)f;
}

/* Free descriptor @i (its state is still what @d says, with @counted: it
 * still counts in used_*): the state store is the commit point. */
static void
desc_free(shmkit_queue *q, uint32_t i, const struct q_desc *d, int counted)
{
	struct q_hot *h = hot(q);
	struct q_desc *x = desc(q, i);
	x->owner = 0;
	x->gen = d->gen + 1;
	x->state = D_FREE;
	x->next = h->free_head;
	h->free_head = i;
	h->nfree++;
	if (d->state == D_FENCED) {
		h->nfenced--;
	}
	bump(q, swait(q));
	if (counted) {
		h->used_msgs--;
		h->used_bytes -= d->len;
	}
	if (d->len > SMALL && big_push(q, d->big) != 0) {
		(void)index_repair(q); /* the big list lied; the state is stored */
	}
}

/* ---------------------------------------------------------------------- */
/* The lock.                                                               */

static int
q_lock(shmkit_queue *q)
{
	int rc = shmkit_mutex_lock(lockp(q));
	if (rc == -EOWNERDEAD) {
		/* The holder died inside an operation or between two: the
		 * descriptors say what was done; rebuild the rest (a claim it
		 * held is swept when its token is seen dead). */
		rc = perm_ok(q);
		if (rc == 0) {
			rc = index_rebuild(q);
		}
		if (rc != 0) {
			/* Unlocking without consistent() poisons the mutex:
			 * nobody will trust a queue that cannot be rebuilt. */
			shmkit_mutex_unlock(lockp(q));
			return rc;
		}
		rc = shmkit_mutex_consistent(lockp(q));
	}
	return rc;
}

static void
q_unlock(shmkit_queue *q)
{
	shmkit_mutex_unlock(lockp(q));
}

/* Is the thread behind @token known to be gone? A malformed token (a
 * peer's garbage) counts as gone; a failed check does not. */
static int64_t
now_sec(void)
{
	return shmkit__realtime_coarse_sec();
}

/* ---------------------------------------------------------------------- */
/* Permissions, as the kernel's ipcperms().                                */

/* The access (4 read, 2 write) that the caller has; under the lock. */
static unsigned
granted(const shmkit_queue *q, const struct shmkit__creds *c)
{
	const struct q_perm *p = perm(q);
	const struct shmkit__ipc_perm ip = {p->mode, p->uid, p->gid, ctl(q)->cuid, ctl(q)->cgid};
	return shmkit__ipc_granted(c, &ip);
}

/* The cache key of a credentials epoch (never 0) and the queue's owner
 * and mode; its low 4 bits are left for the answer. */
static uint64_t
perm_key(uint32_t ep, const uint32_t parts[5])
{
	uint64_t h = ep;
	for (size_t i = 0; i < 5; i++) {
		h = (h ^ parts[i]) * UINT64_C(0x9e3779b97f4a7c15);
		h ^= h >> 29;
	}
	h |= 0x10; /* never 0, so an empty cache never matches */
	return h & ~UINT64_C(0xf);
}

/* May the caller have @want (bits 4 and/or 2)? CAP_IPC_OWNER overrides. */
static int
perm_check(shmkit_queue *q, unsigned want)
{
	/*
	 * The answer depends on the credentials and on the queue's owner and
	 * mode: cached in the handle under a hash of both (low 4 bits: the
	 * granted bits and CAP_IPC_OWNER), so the fast path neither copies
	 * the credentials nor takes their lock. A refusal is recomputed.
	 */
	const struct q_perm *p = perm(q);
	const struct q_ctl *x = ctl(q);
	struct shmkit__creds cr;
	uint32_t ep = shmkit__creds_epoch();
	if (ep == 0) {
		/* Not loaded (first use, or after a fork or a change of
		 * credentials): a cache keyed by epoch 0 would match entries
		 * made under other credentials. Load first, key with that. */
		ep = shmkit__creds_get(&cr);
	}
	const uint32_t parts[] = {p->mode, p->uid, p->gid, x->cuid, x->cgid};
	uint64_t h = perm_key(ep, parts);
	uint64_t c = atomic_load_explicit(&q->perm_cache, memory_order_relaxed);
	unsigned g = (unsigned)(c & 0xf);
	if ((c & ~UINT64_C(0xf)) != h || (want & ~g & 7) != 0) {
		uint32_t now = shmkit__creds_get(&cr);
		if (now != ep) {
			h = perm_key(now, parts); /* changed meanwhile */
		}
		g = granted(q, &cr) | (cr.cap_ipc_owner ? 8u : 0u);
		atomic_store_explicit(&q->perm_cache, h | g, memory_order_relaxed);
	}
	if ((want & ~g & 7) == 0 || (g & 8)) {
		return 0;
	}
	return -EACCES;
}

/* IPC_SET and IPC_RMID: owner, creator, or CAP_SYS_ADMIN. */
static int
owner_check(shmkit_queue *q)
{
	return shmkit__ipc_owner_check(perm(q)->uid, ctl(q)->cuid);
}

/* Start a locked call: lock, refuse a removed or corrupted queue (repair an
 * inconsistent index), check @want access (0: none). On error the lock is
 * not held. */
static int
begin(shmkit_queue *q, unsigned want)
{
	int rc = q_lock(q);
	if (rc != 0) {
		return rc;
	}
	if (atomic_load_explicit(&ctl(q)->removed, memory_order_relaxed)) {
		rc = -EIDRM;
	} else if ((rc = perm_ok(q)) == 0 && (rc = hot_ok(q)) == E_INDEX) {
		rc = index_repair(q);
	}
	if (rc == 0 && want != 0) {
		rc = perm_check(q, want);
	}
	if (rc != 0) {
		q_unlock(q);
	}
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Wake-ups.                                                               */

/*
 * Wake whoever waits on @w, after bump() and the unlock.
 *
 * A waiter, after a locked check that failed, counts itself in @waiting
 * and then reads the count again (waiter_settle): if the count moved it
 * checks again, else it waits for @seq to move. Both sides are seq_cst, so
 * either our load of @waiting sees the waiter, or its second read of the
 * count sees our bump. So a waker touches @seq only when someone waits: no
 * store, no system call and no cache line taken from a busy peer otherwise.
 * Sleepers count themselves (seq_cst) before the kernel compares @seq:
 * either we see the count and call futex_wake, or the futex sees the new
 * @seq and does not sleep.
 */
static void
wake(shmkit_queue *q, struct q_wait *w)
{
	(void)q;
	if (atomic_load_explicit(&w->waiting, memory_order_seq_cst) == 0) {
		return;
	}
	atomic_fetch_add_explicit(&w->seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&w->sleepers, memory_order_seq_cst) != 0) {
		shmkit__futex_wake(&w->seq, INT_MAX);
	}
}

/* Enter (@role bit 31 set: a sender) the table of waiters, best effort: a
 * full table only makes the stats undercount. Return the index or -1. */
static int
waiter_enter(shmkit_queue *q, uint32_t role)
{
	uint32_t tok;
	if (shmkit__thread_token_fast(&tok) != 0) {
		return -1;
	}
	uint32_t v = (tok & SHMKIT_TOKEN_MASK) | role;
	for (uint32_t i = 0; i < WAIT_CAP; i++) {
		uint32_t zero = 0;
		/* Relaxed: the table is only a count for stats. */
		if (atomic_compare_exchange_strong_explicit(
			    wtab(q, i), &zero, v, memory_order_relaxed, memory_order_relaxed)) {
			return (int)i;
		}
	}
	return -1;
}

/* Count the live waiters of each role, clearing the entries of dead ones. */
static void
waiter_count(shmkit_queue *q, uint32_t *senders, uint32_t *receivers)
{
	*senders = *receivers = 0;
	for (uint32_t i = 0; i < WAIT_CAP; i++) {
		uint32_t v = atomic_load_explicit(wtab(q, i), memory_order_relaxed);
		if (v == 0) {
			continue;
		}
		if (shmkit__token_dead(v & SHMKIT_TOKEN_MASK)) {
			atomic_compare_exchange_strong_explicit(
				wtab(q, i), &v, 0, memory_order_relaxed, memory_order_relaxed);
			continue;
		}
		if (v & 0x80000000u) {
			(*senders)++;
		} else {
			(*receivers)++;
		}
	}
}

/* ---------------------------------------------------------------------- */
/* Waiting.                                                                */

struct waiter {
	shmkit_queue *q;
	struct q_wait *w;
	_Atomic uint32_t *count; /* count_of(w) */
	uint32_t role;           /* bit 31 for a sender, in the table of waiters */
	int counted;             /* counted in w->waiting */
	int idx;                 /* entry in the table of waiters, or -1 */
	uint32_t seen;           /* the count before the last locked check */
	uint32_t seq;            /* w->seq once counted in */
};

static void
waiter_init(struct waiter *wt, shmkit_queue *q, struct q_wait *w, uint32_t role)
{
	wt->q = q;
	wt->w = w;
	wt->count = count_of(q, w);
	wt->role = role;
	wt->counted = 0;
	wt->idx = -1;
	wt->seen = 0;
}

/* Before each locked check. */
static void
waiter_look(struct waiter *wt)
{
	wt->seen = atomic_load_explicit(wt->count, memory_order_seq_cst);
}

/*
 * After a locked check that failed: count in as a waiter (the first time)
 * and take @seq; then, if the count moved since waiter_look(), return 1:
 * check again (see wake()). Return 0: wait for @seq to move.
 */
static int
waiter_settle(struct waiter *wt)
{
	if (!wt->counted) {
		atomic_fetch_add_explicit(&wt->w->waiting, 1, memory_order_seq_cst);
		wt->counted = 1;
	}
	wt->seq = atomic_load_explicit(&wt->w->seq, memory_order_seq_cst);
	return atomic_load_explicit(wt->count, memory_order_seq_cst) != wt->seen;
}

static void
waiter_done(struct waiter *wt)
{
	if (wt->counted) {
		atomic_fetch_sub_explicit(&wt->w->waiting, 1, memory_order_seq_cst);
	}
	if (wt->idx >= 0) {
		atomic_store_explicit(wtab(wt->q, (uint32_t)wt->idx), 0, memory_order_relaxed);
	}
}

/*
 * Spin until @wt's word moves, for at most @ns (up to
 * @deadline). A peer that is awake answers within a few hundred
 * nanoseconds; catching that without sleeping spares both sides a system
 * call (the waker sees no sleeper and makes no FUTEX_WAKE).
 * Return 1 if the word moved, 0 if not, -ETIMEDOUT at @deadline.
 */
static int
spin_for(struct waiter *wt, int64_t ns, const struct timespec *deadline)
{
	int64_t until = shmkit__monotonic_ns() + ns;
	for (uint32_t n = 1;; n++) {
		/* Acquire: pairs with wake()'s increment. */
		if (atomic_load_explicit(&wt->w->seq, memory_order_acquire) != wt->seq) {
			return 1;
		}
		shmkit__cpu_relax();
		/* The clock is read every 64 rounds only: it is the costly part. */
		if ((n & 63) == 0) {
			if (shmkit__ts_passed(deadline)) {
				return -ETIMEDOUT;
			}
			if (shmkit__monotonic_ns() >= until) {
				return 0;
			}
		}
	}
}

/* Wait (after waiter_settle) until @wt's word moves, a slice passes or @deadline:
 * spin first (SPIN_NS, or a whole slice with SHMKIT_QUEUE_F_SPIN), then
 * sleep (at once with SHMKIT_QUEUE_F_SLEEP). A caller shows in the table of
 * waiters (the stats) once it sleeps or has spun a slice.
 * Return 0 (re-check), -ETIMEDOUT, -EINTR (only if @flags ask). */
static int
wait_once(struct waiter *wt, unsigned flags, const struct timespec *deadline)
{
	if (shmkit__ts_passed(deadline)) {
		return -ETIMEDOUT;
	}
	if (!(flags & SHMKIT_QUEUE_F_SLEEP)) {
		/* A spinning waiter still wakes every slice to sweep. */
		int r = spin_for(wt, (flags & SHMKIT_QUEUE_F_SPIN) ? SLEEP_SLICE_NS : SPIN_NS,
				 deadline);
		if (r == 0 && wt->idx < 0 && (flags & SHMKIT_QUEUE_F_SPIN)) {
			wt->idx = waiter_enter(wt->q, wt->role);
		}
		if (r != 0 || (flags & SHMKIT_QUEUE_F_SPIN)) {
			return r < 0 ? r : 0;
		}
	}
	if (wt->idx < 0) {
		wt->idx = waiter_enter(wt->q, wt->role);
	}
	struct timespec until;
	shmkit__ts_slice(&until, deadline, SLEEP_SLICE_NS);
	/* seq_cst: pairs with wake()'s increment and load (see there). */
	atomic_fetch_add_explicit(&wt->w->sleepers, 1, memory_order_seq_cst);
	int rc = shmkit__futex_wait(&wt->w->seq, wt->seq, &until);
	atomic_fetch_sub_explicit(&wt->w->sleepers, 1, memory_order_seq_cst);
	if (rc == -EINTR && (flags & SHMKIT_QUEUE_F_INTERRUPTIBLE)) {
		return -EINTR;
	}
	if (rc == -ETIMEDOUT && shmkit__ts_passed(deadline)) {
		return -ETIMEDOUT;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Claims and their sweep.                                                 */

/*
 * Reclaim the claims and loans of dead threads, and fence live claimers
 * that held a claim longer than FENCE_NS: the fenced slot stops counting
 * against the limits at once, but stays quarantined (it may still be being
 * written) until its claimer comes back (its commit fails with -ESTALE) or
 * dies. Under the lock. Return the number of slots given back to the
 * limits, or -EBADMSG.
 */
static int
sweep(shmkit_queue *q)
{
	int freed = 0, repair = 0;
	struct q_hot *h = hot(q);
	/* Coarse, as the claim stamps: they are compared with a 2 s bound. */
	int64_t now = shmkit__monotonic_coarse_ns();
	/* What the descriptors hold, to check the counters by: a sweep runs
	 * when the queue looks full, and counters that lie within their
	 * range would otherwise refuse every send. */
	uint32_t held = 0, held_big = 0;
	uint64_t held_bytes = 0;
	for (uint32_t i = 0; i < q->l.nslots; i++) {
		struct q_desc d;
		if (desc_read(q, i, &d) != 0) {
			return -EBADMSG;
		}
		if (d.state == D_COMMITTED || d.state == D_CLAIMED || d.state == D_TAKEN) {
			held++;
			held_bytes += d.len;
		}
		held_big += d.state != D_FREE && d.len > SMALL;
		if (d.state != D_CLAIMED && d.state != D_TAKEN && d.state != D_FENCED) {
			continue;
		}
		/* A fenced slot no longer counts against the limits. */
		int counted = d.state != D_FENCED;
		if (counted && (d.len > h->used_bytes || h->used_msgs == 0)) {
			repair = 1; /* the counters disagree: rebuilt below */
			counted = 0;
		}
		if (shmkit__token_dead(d.owner)) {
			desc_free(q, i, &d, counted);
			freed++;
		} else if (d.state == D_CLAIMED && d.claim_ns < now - FENCE_NS) {
			/* (Compared so that a garbage stamp cannot overflow.) */
			desc(q, i)->state = D_FENCED; /* the commit point */
			h->nfenced++;
			bump(q, swait(q));
			if (counted) {
				h->used_msgs--;
				h->used_bytes -= d.len;
			}
			freed++;
		}
	}
	if (!repair && freed == 0 &&
	    (held != h->used_msgs || held_bytes != h->used_bytes ||
	     held_big != q->l.nbig - h->nbfree)) {
		repair = 1;
		freed = 1; /* the room the counters hid */
	}
	if (repair && index_repair(q) != 0) {
		return -EBADMSG;
	}
	return freed;
}

/* Is there room for a message of @len bytes? Under the lock. */
static int
room_for(const shmkit_queue *q, size_t len)
{
	const struct q_hot *h = hot(q);
	uint64_t max = perm(q)->max_bytes;
	/* As the kernel: the bytes, and the count may not exceed the bytes. */
	return h->used_bytes + len <= max && h->used_msgs + 1 <= q->l.max_msgs &&
	       (uint64_t)h->used_msgs + 1 <= max;
}

/*
 * Check the room for @len bytes and take a free descriptor. A broken free
 * list means the index lied: it is rebuilt and the room checked again with
 * the true counters. Return the descriptor, -EAGAIN (no room), -EBADMSG.
 */
static int
take_room(shmkit_queue *q, size_t len, uint32_t *big)
{
	*big = NIL;
	for (int repaired = 0;; repaired = 1) {
		if (!room_for(q, len)) {
			return -EAGAIN;
		}
		if (len > SMALL && hot(q)->nbfree == 0) {
			/* Room by the bytes, but no big slot: the byte limit was
			 * raised over the one the queue was made for. */
			return -EAGAIN;
		}
		int i = free_pop(q);
		if (i >= 0 && len > SMALL) {
			int b = big_pop(q);
			if (b >= 0) {
				*big = (uint32_t)b;
				return i;
			}
			/* Give the descriptor back (still free), then repair. */
			desc(q, (uint32_t)i)->next = hot(q)->free_head;
			hot(q)->free_head = (uint32_t)i;
			hot(q)->nfree++;
			i = b;
		}
		if (i != E_INDEX) {
			return i;
		}
		if (repaired || index_repair(q) != 0) {
			return -EBADMSG;
		}
	}
}

/* Try to claim a slot for @len bytes; under the lock. Return 0 and fill
 * @loan, -EAGAIN (no room), -EBADMSG. */
static int
try_claim(shmkit_queue *q, size_t len, uint32_t tok, shmkit_queue_loan *loan)
{
	uint32_t big;
	int i = take_room(q, len, &big);
	if (i < 0) {
		return i;
	}
	struct q_hot *h = hot(q);
	struct q_desc *d = desc(q, (uint32_t)i);
	uint32_t gen = d->gen + 1;
	d->owner = tok;
	d->gen = gen;
	d->len = (uint32_t)len;
	d->big = big;
	d->claim_ns = shmkit__monotonic_coarse_ns();
	d->state = D_CLAIMED; /* the commit point */
	h->used_msgs++;
	h->used_bytes += len;
	loan->data = payload(q, (uint32_t)i, (uint32_t)len, big);
	loan->len = len;
	loan->type = 0;
	loan->priv_[0] = LOAN_SEND;
	loan->priv_[1] = (uint64_t)i;
	loan->priv_[2] = gen;
	loan->priv_[3] = (uint64_t)(uintptr_t)q;
	return 0;
}

/*
 * Commit descriptor @i (claimed by us, or free and taken off the free list
 * with its payload written) as a message of @type and @len bytes: its
 * sequence is reserved first, the state store commits, the index follows.
 * Under the lock. Return 0 or -EBADMSG (committed, but the index cannot be
 * rebuilt).
 */
static int
commit_desc(shmkit_queue *q, uint32_t i, long type, uint32_t len)
{
	struct q_hot *h = hot(q);
	struct q_desc *d = desc(q, i);
	uint64_t seq = h->next_seq;
	h->next_seq = seq + 1; /* wraps: compared modulo 2^64 */
	d->type = type;
	d->seq = seq;
	d->len = len;
	d->owner = 0;
	d->state = D_COMMITTED; /* the commit point */
	bump(q, rwait(q));
	SHMKIT_CRASHPOINT("queue_mid_commit");
	int rc = index_add(q, i);
	if (rc != 0 && index_repair(q) != 0) {
		return -EBADMSG;
	}
	h->lspid = shmkit__self_pid();
	h->stime = now_sec();
	return 0;
}

/* A copying send of a small message in one locked step: take a free slot,
 * copy, commit. Under the lock. Return 0, -EAGAIN, -EBADMSG. */
static int
try_send_locked(shmkit_queue *q, long type, const void *data, size_t len)
{
	uint32_t big;
	int i = take_room(q, len, &big);
	if (i < 0) {
		return i;
	}
	struct q_hot *h = hot(q);
	desc(q, (uint32_t)i)->big = big;
	SHMKIT_CRASHPOINT("queue_after_claim");
	if (len > 0 && data != NULL) {
		memcpy(payload(q, (uint32_t)i, (uint32_t)len, big), data, len);
	}
	SHMKIT_CRASHPOINT("queue_before_commit");
	h->used_msgs++;
	h->used_bytes += len;
	return commit_desc(q, (uint32_t)i, type, (uint32_t)len);
}

/*
 * Wait for room and do @what under the lock: claim (@loan set) or send
 * @data in one step. Sweeping costs a liveness check per pending claim: it
 * is done when the queue is first found full, then once per sleep slice.
 */
static int
send_wait(shmkit_queue *q, long type, const void *data, size_t len, shmkit_queue_loan *loan,
	  unsigned flags, const struct timespec *deadline)
{
	uint32_t tok;
	int rc = shmkit__thread_token_fast(&tok);
	if (rc != 0) {
		return rc;
	}
	struct waiter wt;
	waiter_init(&wt, q, swait(q), 0x80000000u);
	int64_t next_sweep = 0;
	int sent = 0;
	for (;;) {
		waiter_look(&wt);
		rc = begin(q, 2);
		if (rc != 0) {
			break;
		}
		for (int round = 0; round < 2; round++) {
			rc = loan != NULL ? try_claim(q, len, tok, loan)
					  : try_send_locked(q, type, data, len);
			if (rc != -EAGAIN || round > 0 || shmkit__monotonic_ns() < next_sweep) {
				break;
			}
			/* Full: dead or stalled claimers may be holding room. */
			int s = sweep(q);
			next_sweep = shmkit__monotonic_ns() + SLEEP_SLICE_NS;
			if (s <= 0) {
				rc = s < 0 ? s : -EAGAIN;
				break;
			}
		}
		q_unlock(q);
		if (rc == 0) {
			sent = loan == NULL;
		}
		if (rc != -EAGAIN || (flags & SHMKIT_QUEUE_F_NOWAIT)) {
			break;
		}
		if (waiter_settle(&wt)) {
			continue;
		}
		rc = wait_once(&wt, flags, deadline);
		if (rc != 0) {
			break;
		}
	}
	waiter_done(&wt);
	if (sent) {
		wake(q, rwait(q));
	}
	if (rc == 0 && loan != NULL) {
		SHMKIT_CRASHPOINT("queue_after_claim");
	}
	return rc;
}

static int
loan_check(shmkit_queue *q, const shmkit_queue_loan *loan, uint64_t kind)
{
	if (q == NULL || loan == NULL || loan->priv_[0] != kind ||
	    loan->priv_[3] != (uint64_t)(uintptr_t)q || loan->priv_[1] >= q->l.nslots) {
		return -EINVAL;
	}
	return 0;
}

/* Check that @loan's claim is still ours; release the slot of a fenced
 * claim (its claimer came back). Under the lock. */
static int
end_claim(shmkit_queue *q, const shmkit_queue_loan *loan, struct q_desc *d, int *freed)
{
	uint32_t i = (uint32_t)loan->priv_[1];
	*freed = 0;
	if (desc_read(q, i, d) != 0) {
		return -EBADMSG;
	}
	if (d->gen != (uint32_t)loan->priv_[2]) {
		return -ESTALE; /* freed since: a dead-claim sweep or a double end */
	}
	if (d->state == D_FENCED) {
		desc_free(q, i, d, 0);
		*freed = 1;
		return -ESTALE;
	}
	if (d->state != D_CLAIMED) {
		return -ESTALE;
	}
	return 0;
}

static int
commit_impl(shmkit_queue *q, shmkit_queue_loan *loan, long type)
{
	SHMKIT_CRASHPOINT("queue_before_commit");
	int rc = q_lock(q);
	if (rc != 0) {
		return rc;
	}
	struct q_desc d;
	int freed = 0;
	if (atomic_load_explicit(&ctl(q)->removed, memory_order_relaxed)) {
		rc = -EIDRM;
	} else if ((rc = perm_ok(q)) == 0 && (rc = hot_ok(q)) == E_INDEX) {
		rc = index_repair(q);
	}
	if (rc == 0) {
		rc = end_claim(q, loan, &d, &freed);
	}
	if (rc == 0) {
		rc = commit_desc(q, (uint32_t)loan->priv_[1], type, d.len);
	}
	q_unlock(q);
	if (rc == 0) {
		loan->priv_[0] = 0; /* used up */
		wake(q, rwait(q));
	} else if (rc == -ESTALE) {
		loan->priv_[0] = 0;
		if (freed) {
			wake(q, swait(q));
		}
	}
	return rc;
}

SHMKIT_API int
shmkit_queue_reserve(shmkit_queue *q, size_t len, shmkit_queue_loan *loan, unsigned flags,
		     const struct timespec *deadline)
{
	if (q == NULL || loan == NULL ||
	    (flags & ~(SHMKIT_QUEUE_F_NOWAIT | SHMKIT_QUEUE_F_INTERRUPTIBLE | WAIT_FLAGS)) != 0) {
		return -EINVAL;
	}
	if (len > q->l.max_msg_size) {
		return -EINVAL;
	}
	int rc = shmkit__ts_check(deadline);
	if (rc != 0) {
		return rc;
	}
	memset(loan, 0, sizeof(*loan));
	return send_wait(q, 0, NULL, len, loan, flags, deadline);
}

SHMKIT_API int
shmkit_queue_commit(shmkit_queue *q, shmkit_queue_loan *loan, long type)
{
	int rc = loan_check(q, loan, LOAN_SEND);
	if (rc != 0) {
		return rc;
	}
	if (type <= 0) {
		return -EINVAL;
	}
	return commit_impl(q, loan, type);
}

SHMKIT_API int
shmkit_queue_abort(shmkit_queue *q, shmkit_queue_loan *loan)
{
	int rc = loan_check(q, loan, LOAN_SEND);
	if (rc != 0) {
		return rc;
	}
	rc = q_lock(q);
	if (rc != 0) {
		return rc;
	}
	struct q_desc d;
	int freed = 0;
	if ((rc = perm_ok(q)) == 0 && (rc = hot_ok(q)) == E_INDEX) {
		rc = index_repair(q);
	}
	if (rc == 0) {
		rc = end_claim(q, loan, &d, &freed);
	}
	if (rc == 0) {
		int counted = d.len <= hot(q)->used_bytes && hot(q)->used_msgs > 0;
		desc_free(q, (uint32_t)loan->priv_[1], &d, counted);
		if (!counted && index_repair(q) != 0) {
			rc = -EBADMSG;
		}
		freed = 1;
	} else if (rc == -ESTALE) {
		rc = 0; /* nothing was sent either way */
	}
	q_unlock(q);
	if (rc == 0) {
		loan->priv_[0] = 0;
	}
	if (freed) {
		wake(q, swait(q));
	}
	return rc;
}

SHMKIT_API int
shmkit_queue_send(shmkit_queue *q, long type, const void *data, size_t len, unsigned flags,
		  const struct timespec *deadline)
{
	if (q == NULL || type <= 0 || len > q->l.max_msg_size ||
	    (flags & ~(SHMKIT_QUEUE_F_NOWAIT | SHMKIT_QUEUE_F_INTERRUPTIBLE | WAIT_FLAGS)) != 0) {
		return -EINVAL;
	}
	if (data == NULL && len > 0) {
		return -EFAULT;
	}
	int rc = shmkit__ts_check(deadline);
	if (rc != 0) {
		return rc;
	}
	if (len <= COPY_UNDER_LOCK) {
		return send_wait(q, type, data, len, NULL, flags, deadline);
	}
	for (;;) {
		shmkit_queue_loan loan;
		memset(&loan, 0, sizeof(loan));
		rc = send_wait(q, 0, NULL, len, &loan, flags, deadline);
		if (rc != 0) {
			return rc;
		}
		memcpy(loan.data, data, len);
		rc = commit_impl(q, &loan, type);
		/* Fenced: we were stopped for longer than the bound while the
		 * queue was full. The caller still has the data: send again. */
		if (rc != -ESTALE) {
			return rc;
		}
	}
}

/* ---------------------------------------------------------------------- */
/* Receiving.                                                              */

/* Walk @steps links of list @which from @i, each a committed message.
 * Return the index reached, or E_INDEX. */
static int64_t
walk(const shmkit_queue *q, uint32_t i, uint64_t steps, int which)
{
	for (uint64_t k = 0;; k++) {
		if (!committed(q, i)) {
			return E_INDEX;
		}
		if (k == steps) {
			return i;
		}
		i = *nextp(q, i, which);
	}
}

/* Select the message for @msgtyp/@flags with the index, under the lock.
 * Return its index and copy its descriptor, -ENOMSG (none), E_INDEX. */
static int
select_msg(shmkit_queue *q, long msgtyp, unsigned flags, struct q_desc *out)
{
	/* Each word of the index is read once (a peer may write meanwhile),
	 * then checked where it is used. */
	const struct q_hot *hh = hot(q);
	const uint32_t head = *(volatile const uint32_t *)&hh->head;
	const uint32_t qnum = *(volatile const uint32_t *)&hh->qnum;
	const uint64_t bitmap = *(volatile const uint64_t *)&hh->bitmap;
	const uint32_t head0 = *(volatile const uint32_t *)&bucket(q, 0)->head;
	uint32_t i = NIL;
	if (flags & SHMKIT_QUEUE_F_COPY) {
		/* The message at position @msgtyp in queue order. */
		if (msgtyp < 0 || (uint64_t)msgtyp >= qnum) {
			return -ENOMSG;
		}
		int64_t r = walk(q, head, (uint64_t)msgtyp, L_ORDER);
		if (r < 0) {
			return E_INDEX;
		}
		i = (uint32_t)r;
	} else if (qnum == 0) {
		return -ENOMSG;
	} else if (msgtyp == 0) {
		i = head;
	} else if (msgtyp > 0 && !(flags & SHMKIT_QUEUE_F_EXCEPT)) {
		if (msgtyp < (long)NBUCKETS) {
			i = *(volatile const uint32_t *)&bucket(q, (uint32_t)msgtyp)->head;
		} else {
			/* Bucket 0 is sorted by type: the first of @msgtyp,
			 * unless a larger type comes first. */
			uint32_t k = head0;
			for (uint32_t steps = 0; k != NIL; steps++) {
				if (steps >= q->l.nslots || !committed(q, k)) {
					return E_INDEX;
				}
				if (desc(q, k)->type >= msgtyp) {
					i = desc(q, k)->type == msgtyp ? k : NIL;
					break;
				}
				k = desc(q, k)->tnext;
			}
		}
		if (i != NIL && committed(q, i) && desc(q, i)->type != msgtyp) {
			return E_INDEX;
		}
	} else if (msgtyp > 0 && (head == NIL || !committed(q, head) ||
				  desc(q, head)->type != msgtyp || head0 == NIL)) {
		/* MSG_EXCEPT: the first message of another type. Usually the
		 * head; else, with every type below NBUCKETS, the oldest of the
		 * other buckets' heads (one per type, not one per message). */
		if (head == NIL || !committed(q, head)) {
			return E_INDEX;
		}
		if (desc(q, head)->type != msgtyp) {
			i = head;
		} else {
			uint64_t bits = bitmap;
			if (msgtyp < (long)NBUCKETS) {
				bits &= ~(UINT64_C(1) << msgtyp);
			}
			while (bits != 0) {
				uint32_t b = (uint32_t)__builtin_ctzll(bits);
				bits &= bits - 1;
				uint32_t k = bucket(q, b)->head;
				if (!committed(q, k) || desc(q, k)->type != (int64_t)b) {
					return E_INDEX;
				}
				if (i == NIL || seq_before(desc(q, k)->seq, desc(q, i)->seq)) {
					i = k;
				}
			}
		}
	} else if (msgtyp > 0) {
		/* MSG_EXCEPT with larger types queued: walk the queue order to
		 * the first message of another type. */
		uint32_t k = head;
		for (uint32_t steps = 0; k != NIL; steps++) {
			if (steps >= q->l.nslots || !committed(q, k)) {
				return E_INDEX;
			}
			if (desc(q, k)->type != msgtyp) {
				i = k;
				break;
			}
			k = desc(q, k)->next;
		}
	} else {
		/* The lowest type <= |msgtyp| (-LONG_MIN overflows: every type
		 * qualifies), the first of it. */
		uint64_t lim = msgtyp == LONG_MIN ? UINT64_MAX : (uint64_t)(-msgtyp);
		uint64_t mask = lim >= NBUCKETS - 1
					? ~UINT64_C(1)
					: ((UINT64_C(1) << (lim + 1)) - 1) & ~UINT64_C(1);
		uint64_t bits = bitmap & mask;
		if (bits != 0) {
			uint32_t b = (uint32_t)__builtin_ctzll(bits);
			i = *(volatile const uint32_t *)&bucket(q, b)->head;
			if (i == NIL || (committed(q, i) && desc(q, i)->type != (int64_t)b)) {
				return E_INDEX;
			}
		} else if (lim >= NBUCKETS) {
			uint32_t k = head0;
			if (k != NIL && committed(q, k) && (uint64_t)desc(q, k)->type <= lim) {
				i = k;
			}
		}
	}
	if (i == NIL) {
		return -ENOMSG;
	}
	if (!committed(q, i)) {
		return E_INDEX;
	}
	/* One copy, checked as a whole: the caller uses nothing else. */
	if (desc_read(q, i, out) != 0 || out->state != D_COMMITTED) {
		return E_INDEX;
	}
	return (int)i;
}

/* Take message @i out of the queue (under the lock): free its slot, or with
 * @lend mark it lent to @tok. index_can_del() said it can be. */
static void
take_msg(shmkit_queue *q, uint32_t i, const struct q_desc *d, int lend, uint32_t tok)
{
	struct q_hot *h = hot(q);
	struct q_desc *x = desc(q, i);
	if (lend) {
		x->owner = tok;
		x->state = D_TAKEN; /* the commit point */
		index_del(q, i, d);
	} else {
		x->owner = 0;
		x->gen = d->gen + 1;
		x->state = D_FREE; /* the commit point */
		index_del(q, i, d);
		x->next = h->free_head;
		h->free_head = i;
		h->nfree++;
		bump(q, swait(q));
		/* used_* >= q* >= this message (index_can_del, hot_ok) */
		h->used_msgs--;
		h->used_bytes -= d->len;
		if (d->len > SMALL && big_push(q, d->big) != 0) {
			(void)index_repair(q); /* the big list lied; the state is stored */
		}
	}
	h->lrpid = shmkit__self_pid();
	h->rtime = now_sec();
}

/* Select, and check that the choice can be taken out of the index;
 * repair the index once if a check fails. Under the lock. */
static int
select_checked(shmkit_queue *q, long msgtyp, unsigned flags, size_t cap, int lend, struct q_desc *d)
{
	for (int repaired = 0;; repaired = 1) {
		int i = select_msg(q, msgtyp, flags, d);
		int takes = !(flags & SHMKIT_QUEUE_F_COPY) &&
			    (lend || d->len <= cap || (flags & SHMKIT_QUEUE_F_NOERROR));
		if (i >= 0 && takes && index_can_del(q, (uint32_t)i, d) != 0) {
			i = E_INDEX;
		}
		if (i != E_INDEX) {
			return i;
		}
		if (repaired || index_repair(q) != 0) {
			return -EBADMSG;
		}
	}
}

static ssize_t
recv_impl(shmkit_queue *q, void *buf, size_t cap, long msgtyp, long *type, unsigned flags,
	  const struct timespec *deadline, shmkit_queue_loan *loan)
{
	uint32_t tok = 0;
	int rc;
	if (loan != NULL && (rc = shmkit__thread_token_fast(&tok)) != 0) {
		return rc;
	}
	struct waiter wt;
	waiter_init(&wt, q, rwait(q), 0);
	/* A receiver that waits sweeps once per sleep slice (not on every
	 * wake-up: each sweep checks the liveness of every pending claim). */
	int64_t next_sweep = 0; /* set when it first has to wait: no clock read otherwise */
	int freed = 0;
	ssize_t ret;
	for (;;) {
		waiter_look(&wt);
		ret = begin(q, 4);
		if (ret != 0) {
			break;
		}
		struct q_desc d;
		int i = select_checked(q, msgtyp, flags, cap, loan != NULL, &d);
		if (i < 0) {
			ret = i;
		} else if (loan != NULL) {
			take_msg(q, (uint32_t)i, &d, 1, tok);
			loan->data = payload(q, (uint32_t)i, d.len, d.big);
			loan->len = d.len;
			loan->type = (long)d.type;
			loan->priv_[0] = LOAN_RECV;
			loan->priv_[1] = (uint64_t)i;
			loan->priv_[2] = d.gen;
			loan->priv_[3] = (uint64_t)(uintptr_t)q;
			ret = (ssize_t)d.len;
		} else if (d.len > cap && !(flags & SHMKIT_QUEUE_F_NOERROR)) {
			ret = -E2BIG; /* the message stays */
		} else {
			size_t n = d.len < cap ? d.len : cap;
			if (n > 0) {
				memcpy(buf, payload(q, (uint32_t)i, d.len, d.big), n);
			}
			if (type != NULL) {
				*type = (long)d.type;
			}
			if (!(flags & SHMKIT_QUEUE_F_COPY)) {
				take_msg(q, (uint32_t)i, &d, 0, 0);
				freed = 1;
			}
			ret = (ssize_t)n;
		}
		if (ret == -ENOMSG && !(flags & SHMKIT_QUEUE_F_NOWAIT) && next_sweep == 0) {
			next_sweep = shmkit__monotonic_ns() + SLEEP_SLICE_NS;
		} else if (ret == -ENOMSG && !(flags & SHMKIT_QUEUE_F_NOWAIT) &&
			   shmkit__monotonic_ns() >= next_sweep) {
			/* Nothing yet: while we are here, give back what dead
			 * claimers hold, so that senders are not stuck. */
			if (sweep(q) > 0) {
				freed = 1;
			}
			next_sweep = shmkit__monotonic_ns() + SLEEP_SLICE_NS;
		}
		q_unlock(q);
		if (ret != -ENOMSG || (flags & SHMKIT_QUEUE_F_NOWAIT)) {
			break;
		}
		if (freed) {
			wake(q, swait(q));
			freed = 0;
		}
		if (waiter_settle(&wt)) {
			continue;
		}
		ret = wait_once(&wt, flags, deadline);
		if (ret != 0) {
			break;
		}
	}
	waiter_done(&wt);
	if (freed) {
		wake(q, swait(q));
	}
	return ret;
}
static int
recv_args(shmkit_queue *q, unsigned flags, const struct timespec *deadline)
{
	const unsigned all = SHMKIT_QUEUE_F_NOWAIT | SHMKIT_QUEUE_F_NOERROR |
			     SHMKIT_QUEUE_F_EXCEPT | SHMKIT_QUEUE_F_COPY |
			     SHMKIT_QUEUE_F_INTERRUPTIBLE | WAIT_FLAGS;
	if (q == NULL || (flags & ~all) != 0 || (flags & WAIT_FLAGS) == WAIT_FLAGS) {
		return -EINVAL;
	}
	/* As the kernel: MSG_COPY needs IPC_NOWAIT and excludes MSG_EXCEPT. */
	if ((flags & SHMKIT_QUEUE_F_COPY) &&
	    ((flags & SHMKIT_QUEUE_F_EXCEPT) || !(flags & SHMKIT_QUEUE_F_NOWAIT))) {
		return -EINVAL;
	}
	return shmkit__ts_check(deadline);
}

SHMKIT_API ssize_t
shmkit_queue_recv(shmkit_queue *q, void *buf, size_t cap, long msgtyp, long *type, unsigned flags,
		  const struct timespec *deadline)
{
	int rc = recv_args(q, flags, deadline);
	if (rc != 0) {
		return rc;
	}
	if (buf == NULL && cap > 0) {
		return -EFAULT;
	}
	return recv_impl(q, buf, cap, msgtyp, type, flags, deadline, NULL);
}

SHMKIT_API ssize_t
shmkit_queue_recv_loan(shmkit_queue *q, long msgtyp, shmkit_queue_loan *loan, unsigned flags,
		       const struct timespec *deadline)
{
	int rc = recv_args(q, flags, deadline);
	if (rc != 0) {
		return rc;
	}
	if (loan == NULL || (flags & (SHMKIT_QUEUE_F_COPY | SHMKIT_QUEUE_F_NOERROR))) {
		return -EINVAL;
	}
	memset(loan, 0, sizeof(*loan));
	return recv_impl(q, NULL, 0, msgtyp, NULL, flags, deadline, loan);
}

SHMKIT_API int
shmkit_queue_release(shmkit_queue *q, shmkit_queue_loan *loan)
{
	int rc = loan_check(q, loan, LOAN_RECV);
	if (rc != 0) {
		return rc;
	}
	uint32_t i = (uint32_t)loan->priv_[1];
	rc = q_lock(q);
	if (rc != 0) {
		return rc;
	}
	struct q_desc d;
	if ((rc = perm_ok(q)) == 0 && (rc = hot_ok(q)) == E_INDEX) {
		rc = index_repair(q);
	}
	if (rc == 0 && (rc = desc_read(q, i, &d)) == 0) {
		if (d.state != D_TAKEN || d.gen != (uint32_t)loan->priv_[2]) {
			rc = -EINVAL; /* released already, or a forged loan */
		} else {
			int counted = d.len <= hot(q)->used_bytes && hot(q)->used_msgs > 0;
			desc_free(q, i, &d, counted);
			if (!counted && index_repair(q) != 0) {
				rc = -EBADMSG;
			}
		}
	}
	q_unlock(q);
	if (rc == 0) {
		loan->priv_[0] = 0;
		wake(q, swait(q));
	}
	return rc;
}

/* ---------------------------------------------------------------------- */
/* POSIX mq_* style.                                                        */

SHMKIT_API int
shmkit_queue_mq_send(shmkit_queue *q, const void *data, size_t len, unsigned prio, unsigned flags,
		     const struct timespec *deadline)
{
	if (prio >= SHMKIT_MQ_PRIO_MAX) {
		return -EINVAL;
	}
	return shmkit_queue_send(q, (long)(SHMKIT_MQ_PRIO_MAX - prio), data, len, flags, deadline);
}

SHMKIT_API ssize_t
shmkit_queue_mq_receive(shmkit_queue *q, void *buf, size_t cap, unsigned *prio, unsigned flags,
			const struct timespec *deadline)
{
	if (flags & (SHMKIT_QUEUE_F_EXCEPT | SHMKIT_QUEUE_F_COPY)) {
		return -EINVAL;
	}
	long type = 0;
	ssize_t n =
		shmkit_queue_recv(q, buf, cap, -(long)SHMKIT_MQ_PRIO_MAX, &type, flags, deadline);
	if (n >= 0 && prio != NULL) {
		/* Messages of other users of the queue may carry types above
		 * the mapping's range; they never come first here. */
		*prio = type >= 1 && type <= SHMKIT_MQ_PRIO_MAX
				? (unsigned)(SHMKIT_MQ_PRIO_MAX - type)
				: 0;
	}
	return n;
}

/* ---------------------------------------------------------------------- */
/* Creation, opening, removal.                                             */

SHMKIT_API void
shmkit_queue_opts_init(shmkit_queue_opts *opts)
{
	if (opts == NULL) {
		return;
	}
	memset(opts, 0, sizeof(*opts));
	opts->max_bytes = 16384;
	opts->max_msg_size = 8192;
	opts->max_msgs = 0; /* max_bytes / 16 at creation */
	opts->mode = 0600;
}

static void
init_queue(shmkit_queue *q, const shmkit_queue_opts *o)
{
	struct shmkit__creds cr;
	shmkit__creds_get(&cr);
	struct q_meta *m = meta(q);
	m->magic = Q_MAGIC;
	m->layout = Q_LAYOUT;
	m->max_msgs = q->l.max_msgs;
	m->max_msg_size = q->l.max_msg_size;
	m->nslots = q->l.nslots;
	m->slot_size = q->l.slot_size;
	m->sysv_id = q->sysv_id;
	m->sysv_key = q->sysv_key;
	m->total = q->l.total;
	m->nbig = q->l.nbig;
	shmkit_mutex_init(lockp(q));
	struct q_ctl *c = ctl(q);
	c->cuid = c->perm[0].uid = (uint32_t)cr.euid;
	c->cgid = c->perm[0].gid = (uint32_t)cr.egid;
	c->perm[0].mode = o->mode & 0777;
	c->perm[0].max_bytes = o->max_bytes;
	c->perm_sel = 0;
	c->ctime = now_sec();
	/* An empty index: every slot free, in index order. */
	for (uint32_t b = 0; b < NBUCKETS; b++) {
		bucket(q, b)->head = bucket(q, b)->tail = NIL;
	}
	for (uint32_t i = 0; i < q->l.nslots; i++) {
		desc(q, i)->next = i + 1 < q->l.nslots ? i + 1 : NIL;
	}
	struct q_hot *h = hot(q);
	h->head = h->tail = NIL;
	h->free_head = 0;
	h->nfree = q->l.nslots;
	for (uint32_t b = 0; b < q->l.nbig; b++) {
		*bnext(q, b) = b + 1 < q->l.nbig ? b + 1 : NIL;
	}
	h->bfree_head = q->l.nbig > 0 ? 0 : NIL;
	h->nbfree = q->l.nbig;
	SHMKIT_CRASHPOINT("queue_create_before_ready");
	/* Release: every byte written above is visible to an opener whose
	 * acquire load of @ready reads Q_MAGIC. */
	atomic_store_explicit(&m->ready, Q_MAGIC, memory_order_release);
}

static int
attach(shmkit_queue **out, shmkit_segment *seg)
{
	shmkit_queue *q = calloc(1, sizeof(*q));
	if (q == NULL) {
		return -ENOMEM;
	}
	q->seg = seg;
	q->base = shmkit_segment_data(seg);
	*out = q;
	return 0;
}

int
shmkit__queue_create_ex(shmkit_queue **out, const char *spec, const shmkit_queue_opts *opts,
			int32_t sysv_id, uint32_t sysv_key)
{
	shmkit_queue_opts o;
	if (out == NULL || spec == NULL) {
		return -EINVAL;
	}
	if (opts != NULL) {
		o = *opts;
	} else {
		shmkit_queue_opts_init(&o);
	}
	if (o.max_msgs == 0 && o.max_bytes >= 16) {
		o.max_msgs = (uint32_t)(o.max_bytes / 16 < MAX_MSGS_LIMIT ? o.max_bytes / 16
									  : MAX_MSGS_LIMIT);
	} else if (o.max_msgs == 0) {
		o.max_msgs = 1;
	}
	if (o.max_bytes == 0 || o.max_msg_size == 0 || o.max_msg_size > o.max_bytes ||
	    o.mode > 0777 || o.flags != 0) {
		return -EINVAL;
	}
	shmkit__queue_creds_changed();
	struct layout l;
	int rc = layout_compute(&l, o.max_msgs, o.max_msg_size,
				big_slots_for(o.max_msgs, o.max_msg_size, o.max_bytes));
	if (rc != 0) {
		return rc;
	}
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.size = l.total;
	so.kind = SHMKIT_KIND_QUEUE;
	so.mode = shmkit__ipc_file_mode(o.mode, 0);
	shmkit_segment *seg;
	rc = shmkit_segment_create(&seg, spec, &so);
	if (rc != 0) {
		return rc;
	}
	shmkit_queue *q;
	rc = attach(&q, seg);
	if (rc != 0) {
		shmkit_segment_destroy(seg);
		return rc;
	}
	q->l = l;
	q->sysv_id = sysv_id;
	q->sysv_key = sysv_key;
	init_queue(q, &o);
	*out = q;
	return 0;
}

SHMKIT_API int
shmkit_queue_create(shmkit_queue **out, const char *spec, const shmkit_queue_opts *opts)
{
	return shmkit__queue_create_ex(out, spec, opts, -1, 0);
}

/* Wait (bounded) for the creator to publish the queue; then validate it. */
static int
wait_ready(shmkit_queue *q)
{
	struct q_meta *m = meta(q);
	size_t avail = shmkit_segment_size(q->seg);
	if (avail < OFF_DESC) {
		return -EBADMSG;
	}
	int rc = shmkit__wait_inner_ready(&m->ready, Q_MAGIC, q->seg, READY_WAIT_NS);
	if (rc != 0) {
		return rc;
	}
	/* Read each field once, check the copies. */
	struct q_meta mc;
	memcpy(&mc, m, sizeof(mc));
	if (mc.magic != Q_MAGIC) {
		return -EBADMSG;
	}
	if (mc.layout != Q_LAYOUT) {
		return -EPROTO;
	}
	if (layout_compute(&q->l, mc.max_msgs, mc.max_msg_size, mc.nbig) != 0) {
		return -EBADMSG;
	}
	if (mc.nslots != q->l.nslots || mc.slot_size != q->l.slot_size || mc.total != q->l.total ||
	    q->l.total > avail) {
		return -EBADMSG;
	}
	q->sysv_id = mc.sysv_id;
	q->sysv_key = mc.sysv_key;
	return 0;
}

SHMKIT_API int
shmkit_queue_open(shmkit_queue **out, const char *spec)
{
	if (out == NULL || spec == NULL) {
		return -EINVAL;
	}
	shmkit_segment *seg;
	int rc = shmkit__open_object_segment(&seg, spec, SHMKIT_KIND_QUEUE);
	if (rc != 0) {
		return rc;
	}
	shmkit_queue *q;
	rc = attach(&q, seg);
	if (rc != 0) {
		shmkit_segment_close(seg);
		return rc;
	}
	rc = wait_ready(q);
	if (rc == 0 && atomic_load_explicit(&ctl(q)->removed, memory_order_relaxed)) {
		rc = -EIDRM;
	}
	if (rc != 0) {
		shmkit_segment_close(seg);
		free(q);
		return rc;
	}
	*out = q;
	return 0;
}

SHMKIT_API int
shmkit_queue_open_or_create(shmkit_queue **out, const char *spec, const shmkit_queue_opts *opts)
{
	if (out == NULL || spec == NULL) {
		return -EINVAL;
	}
	/* Bounded: each round loses a race to a creator or a remover. */
	int rc = -EAGAIN;
	for (int round = 0; round < 64; round++) {
		rc = shmkit_queue_open(out, spec);
		if (rc != -ENOENT) {
			return rc;
		}
		rc = shmkit_queue_create(out, spec, opts);
		if (rc == 0) {
			return 1;
		}
		if (rc != -EEXIST) {
			return rc;
		}
	}
	return rc;
}

SHMKIT_API int
shmkit_queue_close(shmkit_queue *q)
{
	if (q == NULL) {
		return 0;
	}
	int rc = shmkit_segment_close(q->seg);
	free(q);
	return rc;
}

int
shmkit__queue_mark_removed(shmkit_queue *q)
{
	if (q == NULL) {
		return -EINVAL;
	}
	int rc = q_lock(q);
	if (rc != 0) {
		return rc;
	}
	if (atomic_load_explicit(&ctl(q)->removed, memory_order_relaxed)) {
		rc = -EIDRM;
	} else if ((rc = owner_check(q)) == 0) {
		atomic_store_explicit(&ctl(q)->removed, 1, memory_order_relaxed);
		ctl(q)->ctime = now_sec();
		bump(q, swait(q));
		bump(q, rwait(q));
	}
	q_unlock(q);
	if (rc == 0) {
		/* Every sleeper re-checks and finds the queue removed. */
		wake(q, swait(q));
		wake(q, rwait(q));
	}
	return rc;
}

SHMKIT_API int
shmkit_queue_remove(shmkit_queue *q)
{
	if (q == NULL) {
		return -EINVAL;
	}
	int rc = shmkit__queue_mark_removed(q);
	if (rc != 0 && rc != -EIDRM) {
		return rc;
	}
	/*
	 * Removed: the handle is closed whatever happens to the name. The
	 * name goes only while it still names this queue, and only if the
	 * caller may remove it (in a sticky /dev/shm, the file's owner); a name
	 * left behind opens as -EIDRM until its owner removes it.
	 */
	(void)shmkit_segment_destroy(q->seg);
	free(q);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* IPC_STAT, IPC_SET.                                                      */

int
shmkit__queue_stat(shmkit_queue *q, shmkit_queue_info *info, int check)
{
	if (q == NULL || info == NULL) {
		return -EINVAL;
	}
	int rc = begin(q, check ? 4 : 0);
	if (rc != 0) {
		return rc;
	}
	/* One copy of each block, checked as a whole: what the caller gets
	 * is what was checked, whatever a peer writes meanwhile. */
	struct q_ctl cc;
	struct q_hot hc;
	for (int round = 0;; round++) {
		memcpy(&cc, ctl(q), sizeof(cc));
		memcpy(&hc, hot(q), sizeof(hc));
		if (hc.qnum <= q->l.max_msgs &&
		    hc.qbytes <= (uint64_t)hc.qnum * q->l.max_msg_size &&
		    cc.perm[cc.perm_sel & 1].mode <= 0777) {
			break;
		}
		if (round > 0 || index_repair(q) != 0) {
			q_unlock(q);
			return -EBADMSG;
		}
	}
	const struct q_ctl *c = &cc;
	const struct q_hot *h = &hc;
	const struct q_perm *p = &cc.perm[cc.perm_sel & 1];
	memset(info, 0, sizeof(*info));
	info->count = h->qnum;
	info->bytes = h->qbytes;
	info->max_bytes = p->max_bytes;
	info->max_msg_size = q->l.max_msg_size;
	info->max_msgs = q->l.max_msgs;
	info->last_send_pid = h->lspid;
	info->last_recv_pid = h->lrpid;
	info->stime = h->stime;
	info->rtime = h->rtime;
	info->ctime = c->ctime;
	info->mode = p->mode;
	info->uid = p->uid;
	info->gid = p->gid;
	info->repairs = c->repairs;
	info->cuid = c->cuid;
	info->cgid = c->cgid;
	/* Claims are counted in used_msgs, not in qnum, and fenced ones
	 * apart: with neither, there is nothing to look for. */
	for (uint32_t i = 0; i < q->l.nslots && rc == 0 && (h->used_msgs != h->qnum || h->nfenced);
	     i++) {
		struct q_desc d;
		rc = desc_read(q, i, &d);
		if (rc == 0 && (d.state == D_CLAIMED || d.state == D_FENCED) &&
		    shmkit__token_dead(d.owner)) {
			info->dead_claims++;
		}
	}
	q_unlock(q);
	if (rc == 0) {
		waiter_count(q, &info->waiting_senders, &info->waiting_receivers);
	}
	return rc;
}

SHMKIT_API int
shmkit_queue_stat(shmkit_queue *q, shmkit_queue_info *info)
{
	return shmkit__queue_stat(q, info, 1);
}

SHMKIT_API int
shmkit_queue_set(shmkit_queue *q, uint64_t max_bytes, long mode, long uid, long gid)
{
	return shmkit__queue_set(q, max_bytes, max_bytes != 0, mode, uid, gid);
}

int
shmkit__queue_set(shmkit_queue *q, uint64_t max_bytes, int set_bytes, long mode, long uid, long gid)
{
	if (q == NULL) {
		return -EINVAL;
	}
	if (mode != SHMKIT_PERM_KEEP && (mode < 0 || mode > 0777)) {
		return -EINVAL;
	}
	if ((uid != SHMKIT_PERM_KEEP && (uid < 0 || uid > (long)UINT32_MAX - 1)) ||
	    (gid != SHMKIT_PERM_KEEP && (gid < 0 || gid > (long)UINT32_MAX - 1))) {
		return -EINVAL;
	}
	int rc = begin(q, 0);
	if (rc != 0) {
		return rc;
	}
	rc = owner_check(q);
	if (rc == 0) {
		/* Written into the spare copy, which one store makes current:
		 * a death in between changes nothing. */
		struct q_ctl *c = ctl(q);
		uint32_t next = (c->perm_sel & 1) ^ 1;
		struct q_perm np = *perm(q);
		if (set_bytes) {
			np.max_bytes = max_bytes;
		}
		if (mode != SHMKIT_PERM_KEEP) {
			np.mode = (uint32_t)mode;
		}
		if (uid != SHMKIT_PERM_KEEP) {
			np.uid = (uint32_t)uid;
		}
		if (gid != SHMKIT_PERM_KEEP) {
			np.gid = (uint32_t)gid;
		}
		c->perm[next] = np;
		c->perm_sel = next; /* the commit point */
		c->ctime = now_sec();
		bump(q, swait(q));
		/* Best effort, as semsets do: only the file's owner (or root)
		 * may change its mode; the queue's own bits rule anyway. */
		int fd = shmkit_segment_fd(q->seg);
		if (fd >= 0) {
			(void)fchmod(fd, shmkit__ipc_file_mode(np.mode, np.uid != c->cuid ||
										np.gid != c->cgid));
		}
	}
	q_unlock(q);
	if (rc == 0) {
		/* A larger limit may let blocked senders in. */
		wake(q, swait(q));
	}
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Internal hooks.                                                         */

int32_t
shmkit__queue_sysv_id(const shmkit_queue *q)
{
	return q->sysv_id;
}

uint32_t
shmkit__queue_sysv_key(const shmkit_queue *q)
{
	return q->sysv_key;
}

int
shmkit__queue_fd(const shmkit_queue *q)
{
	return shmkit_segment_fd(q->seg);
}

int
shmkit__queue_removed(const shmkit_queue *q)
{
	return atomic_load_explicit(&ctl(q)->removed, memory_order_relaxed) != 0;
}

int
shmkit__queue_access(shmkit_queue *q, int flg)
{
	unsigned want = 0;
	if (flg & 0444) {
		want |= 4;
	}
	if (flg & 0222) {
		want |= 2;
	}
	int rc = begin(q, want);
	if (rc == 0) {
		q_unlock(q);
	}
	return rc;
}

int
shmkit__queue_set_next_seq(shmkit_queue *q, uint64_t seq)
{
	int rc = begin(q, 0);
	if (rc != 0) {
		return rc;
	}
	/* Only on an empty queue: committed sequences must precede it. */
	if (hot(q)->qnum != 0) {
		q_unlock(q);
		return -EBUSY;
	}
	hot(q)->next_seq = seq;
	q_unlock(q);
	return 0;
}

int
shmkit__queue_sweep(shmkit_queue *q)
{
	int rc = begin(q, 0);
	if (rc != 0) {
		return rc;
	}
	rc = sweep(q);
	q_unlock(q);
	if (rc > 0) {
		wake(q, swait(q));
	}
	return rc;
}

void
shmkit__queue_offsets(const shmkit_queue *q, struct shmkit__queue_offsets *out)
{
	out->ctl = OFF_CTL;
	out->hot = OFF_HOT;
	out->buckets = OFF_BUCKET;
	out->desc = q->l.desc;
	out->desc_size = sizeof(struct q_desc);
	out->arena = q->l.arena;
	out->slot_size = q->l.slot_size;
	out->nslots = q->l.nslots;
	out->total = q->l.total;
	out->bnext = q->l.bnext;
	out->nbig = q->l.nbig;
	out->big = q->l.big;
}
