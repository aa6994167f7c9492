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
 *   128   struct q_ctl       permissions, limits, counters, times (under the lock)
 *   256   struct q_jhdr      the redo journal's commit word and length
 *   320   struct q_wait      senders' wake-up word and sleeper count
 *   384   struct q_wait      receivers' wake-up word and sleeper count
 *   448   _Atomic uint32_t   [WAIT_CAP] who waits (token | sender bit), for stats
 *   704   struct q_jent      [JCAP] the journal's entries
 *   1216  struct q_desc      [nslots] message descriptors
 *   ...   unsigned char      [nslots][slot_size] payloads, one fixed slot each
 *
 * A message lives in one slot of round_up(max_msg_size, 64) bytes, so the
 * arena needs no allocator that a crash could leave half-updated; the byte
 * limit (msg_qbytes) is still accounted by payload bytes. There are
 * max_msgs + SPARE slots: a slot fenced away from a stalled sender stays
 * quarantined until that sender is dead or comes back (it may still be
 * writing into it), and the spares keep the full capacity available
 * meanwhile.
 *
 * Every state change of the metadata happens under the lock as one
 * transaction of the redo journal (the model of semset.c): the new values
 * are written into the journal, committed by one release store, applied and
 * cleared. A process killed anywhere leaves either an uncommitted journal
 * (ignored) or a committed one, which the next locker, told -EOWNERDEAD by
 * the mutex, replays: every entry is an absolute store, so replay is
 * idempotent. Payloads are written outside the lock into a claimed slot and
 * read under it (copying receive) or in place while the slot is lent.
 *
 * Messages are ordered by a 64-bit sequence number given at commit (so a
 * slow sender never holds up the messages committed after its claim);
 * comparisons are modular, (int64_t)(a - b) < 0, so the counter may wrap.
 */

#define Q_MAGIC    0x31555153u /* "SQU1" */
#define Q_LAYOUT   1u
#define WAIT_CAP   64u
#define JCAP       32u
#define SPARE      4u
#define SLOT_ALIGN 64u

/* Largest limits: keep every size computation far from overflow. */
#define MAX_MSGS_LIMIT     (1u << 20)
#define MAX_MSG_SIZE_LIMIT (1u << 26)
#define MAX_TOTAL          ((uint64_t)1 << 36)

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

/* Descriptor states. */
enum { D_FREE = 0, D_CLAIMED = 1, D_COMMITTED = 2, D_TAKEN = 3, D_FENCED = 4 };

/* Journal entry kinds. */
enum { J_W32 = 1, J_W64 = 2 };

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
	uint64_t reserved0;
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

/* Under the lock; @removed is also read without it (relaxed: a hint that a
 * locked re-check confirms). */
struct q_ctl {
	uint32_t uid, gid, cuid, cgid;
	uint32_t mode;
	_Atomic uint32_t removed;
	uint64_t max_bytes;  /* msg_qbytes */
	uint64_t next_seq;   /* sequence of the next committed message */
	uint64_t qbytes;     /* payload bytes of committed messages (msg_cbytes) */
	uint64_t used_bytes; /* payload bytes claimed, committed or lent */
	uint32_t qnum;       /* committed messages (msg_qnum) */
	uint32_t used_msgs;  /* messages claimed, committed or lent */
	int32_t lspid, lrpid;
	int64_t stime, rtime, ctime;
	uint32_t perm_gen;
	uint32_t reserved0;
	uint8_t reserved[24];
};
_Static_assert(sizeof(struct q_ctl) == 128, "ctl is two lines");
_Static_assert(offsetof(struct q_ctl, max_bytes) % 8 == 0, "64-bit fields aligned");
_Static_assert(offsetof(struct q_ctl, stime) % 8 == 0, "64-bit fields aligned");

struct q_jhdr {
	/* 1 when the entries form a committed transaction. Stored 1 with
	 * release after the entries (the commit point) and 0 with release
	 * after they were applied; a recoverer reads it with acquire. */
	_Atomic uint32_t valid;
	uint32_t count;
	uint8_t reserved[56];
};
_Static_assert(sizeof(struct q_jhdr) == 64, "journal header is one line");

/* A wake-up word with its sleeper count, on a line of its own (written by
 * every sender or receiver). */
struct q_wait {
	_Atomic uint32_t seq;
	_Atomic uint32_t sleepers;
	uint8_t reserved[56];
};
_Static_assert(sizeof(struct q_wait) == 64, "wait word is one line");

struct q_jent {
	uint32_t off;
	uint32_t op;
	uint64_t val;
};
_Static_assert(sizeof(struct q_jent) == 16, "journal entry size");

/* A message descriptor; changed only under the lock (through the journal). */
struct q_desc {
	uint32_t state;   /* D_* */
	uint32_t owner;   /* claimer (CLAIMED, FENCED) or borrower (TAKEN) token */
	uint32_t gen;     /* bumped whenever the slot is freed: stale loans fail */
	uint32_t len;     /* payload bytes (claimed size until commit) */
	int64_t type;     /* > 0 once committed */
	uint64_t seq;     /* queue order, given at commit */
	int64_t claim_ns; /* CLOCK_MONOTONIC of the claim (the fencing bound) */
	uint64_t reserved;
};
_Static_assert(sizeof(struct q_desc) == 48, "descriptor size");

#define OFF_META  0u
#define OFF_LOCK  64u
#define OFF_CTL   128u
#define OFF_JHDR  256u
#define OFF_SWAIT 320u
#define OFF_RWAIT 384u
#define OFF_WTAB  448u
#define OFF_JENT  (OFF_WTAB + WAIT_CAP * 4u)
#define OFF_DESC  (OFF_JENT + JCAP * (unsigned)sizeof(struct q_jent))
_Static_assert(OFF_JENT == 704, "journal entries offset");
_Static_assert(OFF_DESC == 1216 && OFF_DESC % 64 == 0, "descriptors on a line");
_Static_assert(sizeof(shmkit_mutex) == 64, "lock is one line");

/* Where each section is, computed from the immutable limits alone (never
 * read from shared memory after validation, so nothing there can move a
 * section). */
struct layout {
	uint32_t max_msgs, max_msg_size, nslots, slot_size;
	size_t desc, arena, total;
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

static int
layout_compute(struct layout *l, uint32_t max_msgs, uint32_t max_msg_size)
{
	if (max_msgs < 1 || max_msgs > MAX_MSGS_LIMIT || max_msg_size < 1 ||
	    max_msg_size > MAX_MSG_SIZE_LIMIT) {
		return -EINVAL;
	}
	l->max_msgs = max_msgs;
	l->max_msg_size = max_msg_size;
	l->nslots = max_msgs + SPARE;
	l->slot_size = (uint32_t)round_up(max_msg_size, SLOT_ALIGN);
	l->desc = OFF_DESC;
	l->arena = round_up(l->desc + (size_t)l->nslots * sizeof(struct q_desc), SLOT_ALIGN);
	uint64_t total = (uint64_t)l->arena + (uint64_t)l->nslots * l->slot_size;
	if (total > MAX_TOTAL) {
		return -EFBIG;
	}
	l->total = (size_t)total;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Process identity: credentials and pid, cached (no system call per op).  */
/* (Adapted from semset.c.)                                                */

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

static struct q_jhdr *
jhdr(const shmkit_queue *q)
{
	return (struct q_jhdr *)(q->base + OFF_JHDR);
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

static struct q_jent *
jent(const shmkit_queue *q, uint32_t k)
{
	return (struct q_jent *)(q->base + OFF_JENT) + k;
}

static struct q_desc *
desc(const shmkit_queue *q, uint32_t i)
{
	return (struct q_desc *)(q->base + q->l.desc) + i;
}

static unsigned char *
slot(const shmkit_queue *q, uint32_t i)
{
	return q->base + q->l.arena + (size_t)i * q->l.slot_size;
}

/* ---------------------------------------------------------------------- */
/* The redo journal.                                                       */

struct tx {
	shmkit_queue *q;
	uint32_t n;
};

static void
tx_begin(struct tx *t, shmkit_queue *q)
{
	t->q = q;
	t->n = 0;
}

static void
tx_put(struct tx *t, const void *addr, uint32_t op, uint64_t val)
{
	/* Every transaction of this file has a fixed, small size (at most
	 * 10 entries); overflowing JCAP is a bug of this file. */
	if (t->n >= JCAP) {
		abort();
	}
	struct q_jent *e = jent(t->q, t->n++);
	e->off = (uint32_t)((const unsigned char *)addr - t->q->base);
	e->op = op;
	e->val = val;
}

static void
tx_w32(struct tx *t, const void *p, uint32_t v)
{
	tx_put(t, p, J_W32, v);
}

static void
tx_w64(struct tx *t, const void *p, uint64_t v)
{
	tx_put(t, p, J_W64, v);
}

/*
 * Is entry @e a store the journal may make? Only into the control block
 * and the descriptors, naturally aligned: a corrupted journal can never
 * write into the lock, the journal itself, a payload or outside the mapping.
 */
static int
jent_ok(const shmkit_queue *q, const struct q_jent *e)
{
	uint64_t off = e->off;
	uint64_t len;
	if (e->op == J_W32) {
		len = 4;
	} else if (e->op == J_W64) {
		len = 8;
	} else {
		return 0;
	}
	if (off % len != 0) {
		return 0;
	}
	if (off >= OFF_CTL && off + len <= OFF_CTL + sizeof(struct q_ctl)) {
		return 1;
	}
	return off >= q->l.desc &&
	       off + len <= q->l.desc + (uint64_t)q->l.nslots * sizeof(struct q_desc);
}

static void
jent_apply(shmkit_queue *q, const struct q_jent *e)
{
	unsigned char *p = q->base + e->off;
	if (e->op == J_W32) {
		/* Atomic: @removed is read without the lock. */
		atomic_store_explicit((_Atomic uint32_t *)p, (uint32_t)e->val,
				      memory_order_relaxed);
	} else {
		memcpy(p, &e->val, 8);
	}
}

/* Commit and apply. The entries are ours, written under the lock, so they
 * are applied without re-validation; only a replay (below) distrusts them. */
static void
tx_commit(struct tx *t)
{
	shmkit_queue *q = t->q;
	if (t->n == 0) {
		return;
	}
	jhdr(q)->count = t->n;
	/* The commit point. Release: the entries and count are visible to
	 * whoever acquires @valid (a recoverer after our death). */
	atomic_store_explicit(&jhdr(q)->valid, 1, memory_order_release);
	SHMKIT_CRASHPOINT("queue_mid_commit");
	for (uint32_t k = 0; k < t->n; k++) {
		jent_apply(q, jent(q, k));
	}
	/* Release: the applied stores precede the cleared flag. */
	atomic_store_explicit(&jhdr(q)->valid, 0, memory_order_release);
	t->n = 0;
}

/* Replay a committed journal left by a dead holder (idempotent). */
static int
journal_replay(shmkit_queue *q)
{
	/* Acquire pairs with the release store of the commit point. */
	if (atomic_load_explicit(&jhdr(q)->valid, memory_order_acquire) == 0) {
		return 0;
	}
	uint32_t n = jhdr(q)->count;
	if (n == 0 || n > JCAP) {
		return -EBADMSG;
	}
	struct q_jent e[JCAP];
	memcpy(e, jent(q, 0), n * sizeof(e[0])); /* one read of each entry */
	for (uint32_t k = 0; k < n; k++) {
		if (!jent_ok(q, &e[k])) {
			return -EBADMSG;
		}
	}
	for (uint32_t k = 0; k < n; k++) {
		jent_apply(q, &e[k]);
	}
	atomic_store_explicit(&jhdr(q)->valid, 0, memory_order_release);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The lock and validation.                                                */

static int
q_lock(shmkit_queue *q)
{
	int rc = shmkit_mutex_lock(lockp(q));
	if (rc == -EOWNERDEAD) {
		/* The holder died inside a transaction or between two: replay
		 * what it committed, then the queue is consistent again (a
		 * claim it held is swept when its token is seen dead). */
		rc = journal_replay(q);
		if (rc != 0) {
			/* Unlocking without consistent() poisons the mutex:
			 * nobody will trust a queue whose journal is garbage. */
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

/* Are the counters of the control block possible? Called under the lock. */
static int
ctl_ok(const shmkit_queue *q)
{
	const struct q_ctl *c = ctl(q);
	const struct layout *l = &q->l;
	if (c->mode > 0777 || c->used_msgs > l->max_msgs || c->qnum > c->used_msgs ||
	    c->max_bytes == 0 || c->qbytes > c->used_bytes ||
	    c->used_bytes > (uint64_t)c->used_msgs * l->max_msg_size) {
		return -EBADMSG;
	}
	return 0;
}

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
	return 0;
}

/* Is the thread behind @token known to be gone? A malformed token (a
 * peer's garbage) counts as gone; a failed check does not. */
static int
token_dead(uint32_t token)
{
	int alive = shmkit__token_alive(token);
	return alive == 0 || alive == -EINVAL;
}

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
	const struct q_ctl *x = ctl(q);
	unsigned mode = x->mode & 0777;
	if (c->euid == (uid_t)x->cuid || c->euid == (uid_t)x->uid) {
		mode >>= 6;
	} else if (shmkit__creds_in_group(c, x->cgid) || shmkit__creds_in_group(c, x->gid)) {
		mode >>= 3;
	}
	return mode & 7;
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
	const struct q_ctl *x = ctl(q);
	uint64_t h = shmkit__creds_epoch();
	const uint32_t parts[] = {x->mode, x->uid, x->gid, x->cuid, x->cgid};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		h = (h ^ parts[i]) * UINT64_C(0x9e3779b97f4a7c15);
		h ^= h >> 29;
	}
	h |= 0x10; /* never 0, so an empty cache never matches */
	h &= ~UINT64_C(0xf);
	uint64_t c = atomic_load_explicit(&q->perm_cache, memory_order_relaxed);
	unsigned g = (unsigned)(c & 0xf);
	if ((c & ~UINT64_C(0xf)) != h || (want & ~g & 7) != 0) {
		struct shmkit__creds cr;
		shmkit__creds_get(&cr);
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
	struct shmkit__creds cr;
	shmkit__queue_creds_changed();
	shmkit__creds_get(&cr);
	const struct q_ctl *x = ctl(q);
	if (cr.euid == (uid_t)x->uid || cr.euid == (uid_t)x->cuid || cr.cap_sys_admin) {
		return 0;
	}
	return -EPERM;
}

/* Start a locked call: lock, refuse a removed or corrupted queue, check
 * @want access (0: none). On error the lock is not held. */
static int
begin(shmkit_queue *q, unsigned want)
{
	int rc = q_lock(q);
	if (rc != 0) {
		return rc;
	}
	if (atomic_load_explicit(&ctl(q)->removed, memory_order_relaxed)) {
		rc = -EIDRM;
	} else if ((rc = ctl_ok(q)) == 0 && want != 0) {
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
 * Wake whoever sleeps on @w. The increment is seq_cst and so is the load of
 * the sleeper count; a sleeper increments the count (seq_cst) before the
 * kernel compares the word: either we see its count and wake it, or it sees
 * our increment and does not sleep. No system call when nobody sleeps.
 */
static void
wake(struct q_wait *w)
{
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

static void
waiter_leave(shmkit_queue *q, int idx)
{
	if (idx >= 0) {
		atomic_store_explicit(wtab(q, (uint32_t)idx), 0, memory_order_relaxed);
	}
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
		if (token_dead(v & SHMKIT_TOKEN_MASK)) {
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
/* Claims and their sweep.                                                 */

/* Free slot @i (held with @len bytes counted in used_*); @counted says
 * whether it still counts in used_msgs/used_bytes (a fenced slot does
 * not). Under the lock, one transaction. */
static void
slot_free(shmkit_queue *q, uint32_t i, const struct q_desc *d, int counted)
{
	struct tx t;
	struct q_ctl *c = ctl(q);
	tx_begin(&t, q);
	tx_w32(&t, &desc(q, i)->state, D_FREE);
	tx_w32(&t, &desc(q, i)->owner, 0);
	tx_w32(&t, &desc(q, i)->gen, d->gen + 1);
	if (counted) {
		tx_w32(&t, &c->used_msgs, c->used_msgs - 1);
		tx_w64(&t, &c->used_bytes, c->used_bytes - d->len);
	}
	tx_commit(&t);
}

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
	int freed = 0;
	/* Coarse, as the claim stamps: they are compared with a 2 s bound. */
	int64_t now = shmkit__monotonic_coarse_ns();
	for (uint32_t i = 0; i < q->l.nslots; i++) {
		struct q_desc d;
		if (desc_read(q, i, &d) != 0) {
			return -EBADMSG;
		}
		if (d.state != D_CLAIMED && d.state != D_TAKEN && d.state != D_FENCED) {
			continue;
		}
		if (token_dead(d.owner)) {
			/* A fenced slot no longer counts against the limits. */
			int counted = d.state != D_FENCED;
			if (counted && (d.len > ctl(q)->used_bytes || ctl(q)->used_msgs == 0)) {
				return -EBADMSG;
			}
			slot_free(q, i, &d, counted);
			freed++;
			continue;
		}
		if (d.state == D_CLAIMED && now - d.claim_ns > FENCE_NS) {
			struct tx t;
			struct q_ctl *c = ctl(q);
			if (d.len > c->used_bytes || c->used_msgs == 0) {
				return -EBADMSG;
			}
			tx_begin(&t, q);
			tx_w32(&t, &desc(q, i)->state, D_FENCED);
			tx_w32(&t, &c->used_msgs, c->used_msgs - 1);
			tx_w64(&t, &c->used_bytes, c->used_bytes - d.len);
			tx_commit(&t);
			freed++;
		}
	}
	return freed;
}

/* Try to claim a slot for @len bytes; under the lock. Return 0 and fill
 * @loan, -EAGAIN (no room), -EBADMSG. */
static int
try_claim(shmkit_queue *q, size_t len, uint32_t tok, shmkit_queue_loan *loan)
{
	struct q_ctl *c = ctl(q);
	if (c->used_bytes + len > c->max_bytes || c->used_msgs + 1 > q->l.max_msgs ||
	    (uint64_t)c->used_msgs + 1 > c->max_bytes) {
		return -EAGAIN;
	}
	for (uint32_t i = 0; i < q->l.nslots; i++) {
		struct q_desc d;
		if (desc_read(q, i, &d) != 0) {
			return -EBADMSG;
		}
		if (d.state != D_FREE) {
			continue;
		}
		struct tx t;
		uint32_t gen = d.gen + 1;
		tx_begin(&t, q);
		tx_w32(&t, &desc(q, i)->owner, tok);
		tx_w32(&t, &desc(q, i)->gen, gen);
		tx_w32(&t, &desc(q, i)->len, (uint32_t)len);
		tx_w64(&t, &desc(q, i)->claim_ns, (uint64_t)shmkit__monotonic_coarse_ns());
		tx_w32(&t, &desc(q, i)->state, D_CLAIMED);
		tx_w32(&t, &c->used_msgs, c->used_msgs + 1);
		tx_w64(&t, &c->used_bytes, c->used_bytes + len);
		tx_commit(&t);
		loan->data = slot(q, i);
		loan->len = len;
		loan->type = 0;
		loan->priv_[0] = LOAN_SEND;
		loan->priv_[1] = i;
		loan->priv_[2] = gen;
		loan->priv_[3] = (uint64_t)(uintptr_t)q;
		return 0;
	}
	/* The counters leave room but every slot is in use: either fenced
	 * slots fill the spares (wait for them) or the counters lie. */
	uint32_t busy = 0;
	for (uint32_t i = 0; i < q->l.nslots; i++) {
		if (desc(q, i)->state != D_FENCED) {
			busy++;
		}
	}
	return busy > c->used_msgs ? -EBADMSG : -EAGAIN;
}

/* ---------------------------------------------------------------------- */
/* Waiting.                                                                */

struct waiter {
	shmkit_queue *q;
	struct q_wait *w;
	int idx;
	uint32_t seen;
};

static int
wait_check_args(const struct timespec *deadline)
{
	return shmkit__ts_check(deadline);
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Spin until @wt's word moves past @seen, for at most @ns (forever when
 * @ns < 0, up to @deadline). A peer that is awake answers within a few
 * hundred nanoseconds; catching that without sleeping spares both sides a
 * system call (the waker sees no sleeper and makes no FUTEX_WAKE).
 * Return 1 if the word moved, 0 if not, -ETIMEDOUT at @deadline.
 */
static int
spin_for(struct waiter *wt, int64_t ns, const struct timespec *deadline)
{
	int64_t until = ns < 0 ? INT64_MAX : shmkit__monotonic_ns() + ns;
	for (uint32_t n = 1;; n++) {
		/* Acquire: pairs with wake()'s increment. */
		if (atomic_load_explicit(&wt->w->seq, memory_order_acquire) != wt->seen) {
			return 1;
		}
		cpu_relax();
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

/* Wait until @wt's word moves past @seen, a slice passes or @deadline:
 * spin first (SPIN_NS, or forever with SHMKIT_QUEUE_F_SPIN), then sleep
 * (at once with SHMKIT_QUEUE_F_SLEEP).
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
		if (r != 0 || (flags & SHMKIT_QUEUE_F_SPIN)) {
			return r < 0 ? r : 0;
		}
	}
	struct timespec until;
	shmkit__ts_slice(&until, deadline, SLEEP_SLICE_NS);
	/* seq_cst: pairs with wake()'s increment and load (see there). */
	atomic_fetch_add_explicit(&wt->w->sleepers, 1, memory_order_seq_cst);
	int rc = shmkit__futex_wait(&wt->w->seq, wt->seen, &until);
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
/* Sending.                                                                */

static int
reserve_impl(shmkit_queue *q, size_t len, shmkit_queue_loan *loan, unsigned flags,
	     const struct timespec *deadline)
{
	uint32_t tok;
	int rc = shmkit__thread_token_fast(&tok);
	if (rc != 0) {
		return rc;
	}
	struct waiter wt = {.q = q, .w = swait(q), .idx = -1};
	/* Sweeping costs a liveness check per pending claim: do it when the
	 * queue is first found full, then once per sleep slice. */
	int64_t next_sweep = 0;
	for (;;) {
		/* Acquire: pairs with wake()'s increment, so the state seen
		 * under the lock below is at least as new as @seen. */
		wt.seen = atomic_load_explicit(&wt.w->seq, memory_order_acquire);
		rc = begin(q, 2);
		if (rc != 0) {
			break;
		}
		rc = try_claim(q, len, tok, loan);
		if (rc == -EAGAIN && shmkit__monotonic_ns() >= next_sweep) {
			/* Full: dead or stalled claimers may be holding room. */
			int s = sweep(q);
			rc = s < 0 ? s : s > 0 ? try_claim(q, len, tok, loan) : -EAGAIN;
			next_sweep = shmkit__monotonic_ns() + SLEEP_SLICE_NS;
		}
		q_unlock(q);
		if (rc != -EAGAIN || (flags & SHMKIT_QUEUE_F_NOWAIT)) {
			break;
		}
		if (wt.idx < 0) {
			wt.idx = waiter_enter(q, 0x80000000u);
		}
		rc = wait_once(&wt, flags, deadline);
		if (rc != 0) {
			break;
		}
	}
	waiter_leave(q, wt.idx);
	if (rc == 0) {
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

/* Release the slot of a fenced claim (its claimer came back). Under the lock. */
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
		slot_free(q, i, d, 0);
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
	int freed;
	if (atomic_load_explicit(&ctl(q)->removed, memory_order_relaxed)) {
		rc = -EIDRM;
	} else if ((rc = ctl_ok(q)) == 0) {
		rc = end_claim(q, loan, &d, &freed);
	}
	if (rc == 0) {
		struct tx t;
		struct q_ctl *c = ctl(q);
		uint32_t i = (uint32_t)loan->priv_[1];
		tx_begin(&t, q);
		tx_w64(&t, &desc(q, i)->type, (uint64_t)type);
		tx_w64(&t, &desc(q, i)->seq, c->next_seq);
		tx_w32(&t, &desc(q, i)->state, D_COMMITTED);
		tx_w64(&t, &c->next_seq, c->next_seq + 1); /* wraps: compared modulo 2^64 */
		tx_w32(&t, &c->qnum, c->qnum + 1);
		tx_w64(&t, &c->qbytes, c->qbytes + d.len);
		tx_w32(&t, &c->lspid, (uint32_t)shmkit__self_pid());
		tx_w64(&t, &c->stime, (uint64_t)now_sec());
		tx_commit(&t);
	}
	q_unlock(q);
	if (rc == 0) {
		loan->priv_[0] = 0; /* used up */
		wake(rwait(q));
	} else if (rc == -ESTALE) {
		loan->priv_[0] = 0;
		if (freed) {
			wake(swait(q));
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
	int rc = wait_check_args(deadline);
	if (rc != 0) {
		return rc;
	}
	memset(loan, 0, sizeof(*loan));
	return reserve_impl(q, len, loan, flags, deadline);
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
	if ((rc = ctl_ok(q)) == 0) {
		rc = end_claim(q, loan, &d, &freed);
	}
	if (rc == 0) {
		if (d.len > ctl(q)->used_bytes || ctl(q)->used_msgs == 0) {
			rc = -EBADMSG;
		} else {
			slot_free(q, (uint32_t)loan->priv_[1], &d, 1);
			freed = 1;
		}
	} else if (rc == -ESTALE) {
		rc = 0; /* nothing was sent either way */
	}
	q_unlock(q);
	if (rc == 0) {
		loan->priv_[0] = 0;
	}
	if (freed) {
		wake(swait(q));
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
	int rc = wait_check_args(deadline);
	if (rc != 0) {
		return rc;
	}
	for (;;) {
		shmkit_queue_loan loan;
		memset(&loan, 0, sizeof(loan));
		rc = reserve_impl(q, len, &loan, flags, deadline);
		if (rc != 0) {
			return rc;
		}
		if (len > 0) {
			memcpy(loan.data, data, len);
		}
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

/* 1 if sequence @a comes before @b, modulo 2^64. */
static int
seq_before(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) < 0;
}

/* Select the message for @msgtyp/@flags among the committed ones, under
 * the lock. Return its index, -ENOMSG (none), -EBADMSG. */
static int
select_msg(shmkit_queue *q, long msgtyp, unsigned flags, struct q_desc *out)
{
	int best = -1;
	struct q_desc bd;
	memset(&bd, 0, sizeof(bd));
	if (flags & SHMKIT_QUEUE_F_COPY) {
		/* The message at position @msgtyp in queue order: step through
		 * the order msgtyp + 1 times (at most qnum). */
		if (msgtyp < 0 || (uint64_t)msgtyp >= ctl(q)->qnum) {
			return -ENOMSG;
		}
		uint64_t prev = 0;
		for (long k = 0; k <= msgtyp; k++) {
			best = -1;
			for (uint32_t i = 0; i < q->l.nslots; i++) {
				struct q_desc d;
				if (desc_read(q, i, &d) != 0) {
					return -EBADMSG;
				}
				if (d.state != D_COMMITTED || (k > 0 && !seq_before(prev, d.seq))) {
					continue;
				}
				if (best < 0 || seq_before(d.seq, bd.seq)) {
					best = (int)i;
					bd = d;
				}
			}
			if (best < 0) {
				return -ENOMSG;
			}
			prev = bd.seq;
		}
		*out = bd;
		return best;
	}
	if (ctl(q)->qnum == 0) {
		return -ENOMSG; /* nothing committed: no scan */
	}
	for (uint32_t i = 0; i < q->l.nslots; i++) {
		/* The state word first: most slots of a scan are not committed,
		 * and need neither the copy nor the rest of the checks. */
		uint32_t st = desc(q, i)->state;
		if (st > D_FENCED) {
			return -EBADMSG;
		}
		if (st != D_COMMITTED) {
			continue;
		}
		struct q_desc d;
		if (desc_read(q, i, &d) != 0) {
			return -EBADMSG;
		}
		if (d.state != D_COMMITTED) {
			continue;
		}
		if (msgtyp > 0) {
			int match = d.type == msgtyp;
			if ((flags & SHMKIT_QUEUE_F_EXCEPT) ? match : !match) {
				continue;
			}
		} else if (msgtyp < 0) {
			/* -LONG_MIN overflows: every type is <= its magnitude. */
			if (msgtyp != LONG_MIN && d.type > -msgtyp) {
				continue;
			}
			if (best >= 0 && (d.type > bd.type ||
					  (d.type == bd.type && !seq_before(d.seq, bd.seq)))) {
				continue;
			}
			best = (int)i;
			bd = d;
			continue;
		}
		if (best < 0 || seq_before(d.seq, bd.seq)) {
			best = (int)i;
			bd = d;
		}
	}
	if (best < 0) {
		return -ENOMSG;
	}
	*out = bd;
	return best;
}

/* Take message @i out of the queue (under the lock): free its slot, or with
 * @lend mark it lent to @tok. */
static void
take_msg(shmkit_queue *q, uint32_t i, const struct q_desc *d, int lend, uint32_t tok)
{
	struct tx t;
	struct q_ctl *c = ctl(q);
	tx_begin(&t, q);
	if (lend) {
		tx_w32(&t, &desc(q, i)->state, D_TAKEN);
		tx_w32(&t, &desc(q, i)->owner, tok);
	} else {
		tx_w32(&t, &desc(q, i)->state, D_FREE);
		tx_w32(&t, &desc(q, i)->owner, 0);
		tx_w32(&t, &desc(q, i)->gen, d->gen + 1);
		tx_w32(&t, &c->used_msgs, c->used_msgs - 1);
		tx_w64(&t, &c->used_bytes, c->used_bytes - d->len);
	}
	tx_w32(&t, &c->qnum, c->qnum - 1);
	tx_w64(&t, &c->qbytes, c->qbytes - d->len);
	tx_w32(&t, &c->lrpid, (uint32_t)shmkit__self_pid());
	tx_w64(&t, &c->rtime, (uint64_t)now_sec());
	tx_commit(&t);
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
	struct waiter wt = {.q = q, .w = rwait(q), .idx = -1};
	/* A receiver that waits sweeps once per sleep slice (not on every
	 * wake-up: each sweep checks the liveness of every pending claim). */
	int64_t next_sweep = 0; /* set when it first has to wait: no clock read otherwise */
	ssize_t ret;
	for (;;) {
		/* Acquire: pairs with wake()'s increment (see reserve_impl). */
		wt.seen = atomic_load_explicit(&wt.w->seq, memory_order_acquire);
		ret = begin(q, 4);
		if (ret != 0) {
			break;
		}
		struct q_desc d;
		int i = select_msg(q, msgtyp, flags, &d);
		int freed = 0;
		if (i >= 0 &&
		    (d.len > ctl(q)->qbytes || ctl(q)->qnum == 0 || d.len > ctl(q)->used_bytes)) {
			i = -EBADMSG;
		}
		if (i < 0) {
			ret = i;
		} else if (loan != NULL) {
			take_msg(q, (uint32_t)i, &d, 1, tok);
			loan->data = slot(q, (uint32_t)i);
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
				memcpy(buf, slot(q, (uint32_t)i), n);
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
		if (freed) {
			wake(swait(q));
		}
		if (ret != -ENOMSG || (flags & SHMKIT_QUEUE_F_NOWAIT)) {
			break;
		}
		if (wt.idx < 0) {
			wt.idx = waiter_enter(q, 0);
		}
		ret = wait_once(&wt, flags, deadline);
		if (ret != 0) {
			break;
		}
	}
	waiter_leave(q, wt.idx);
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
	return wait_check_args(deadline);
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
	if ((rc = ctl_ok(q)) == 0 && (rc = desc_read(q, i, &d)) == 0) {
		if (d.state != D_TAKEN || d.gen != (uint32_t)loan->priv_[2]) {
			rc = -EINVAL; /* released already, or a forged loan */
		} else if (d.len > ctl(q)->used_bytes || ctl(q)->used_msgs == 0) {
			rc = -EBADMSG;
		} else {
			slot_free(q, i, &d, 1);
		}
	}
	q_unlock(q);
	if (rc == 0) {
		loan->priv_[0] = 0;
		wake(swait(q));
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

static unsigned
file_mode(unsigned mode)
{
	/*
	 * Even reading a queue takes its lock, so every class of user that the
	 * queue's mode grants anything must be able to open the file
	 * read-write; the queue's own bits are then enforced here, as the
	 * kernel does.
	 */
	unsigned f = 0600;
	if (mode & 0070) {
		f |= 0060;
	}
	if (mode & 0007) {
		f |= 0006;
	}
	return f;
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
	shmkit_mutex_init(lockp(q));
	struct q_ctl *c = ctl(q);
	c->uid = c->cuid = (uint32_t)cr.euid;
	c->gid = c->cgid = (uint32_t)cr.egid;
	c->mode = o->mode & 0777;
	c->max_bytes = o->max_bytes;
	c->ctime = now_sec();
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
	int rc = layout_compute(&l, o.max_msgs, o.max_msg_size);
	if (rc != 0) {
		return rc;
	}
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.size = l.total;
	so.kind = SHMKIT_KIND_QUEUE;
	so.mode = file_mode(o.mode);
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
	if (layout_compute(&q->l, mc.max_msgs, mc.max_msg_size) != 0) {
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
	shmkit__queue_creds_changed();
	shmkit_segment_opts o;
	shmkit_segment_opts_init(&o);
	o.kind = SHMKIT_KIND_QUEUE;
	/* The queue's own mode decides who may do what (checked per call, as
	 * the kernel does); the file's owner alone does not. */
	o.flags = SHMKIT_SEGMENT_F_ANY_OWNER;
	shmkit_segment *seg;
	int rc = shmkit_segment_open(&seg, spec, &o);
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
		struct tx t;
		tx_begin(&t, q);
		tx_w32(&t, &ctl(q)->removed, 1);
		tx_w64(&t, &ctl(q)->ctime, (uint64_t)now_sec());
		tx_commit(&t);
	}
	q_unlock(q);
	if (rc == 0) {
		/* Every sleeper re-checks and finds the queue removed. */
		wake(swait(q));
		wake(rwait(q));
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
	/* The name goes only while it still names this queue. */
	int drc = shmkit_segment_destroy(q->seg);
	free(q);
	if (drc == -ENOENT || drc == -EOPNOTSUPP) {
		drc = 0; /* someone removed the name already, or it has none */
	}
	return rc != 0 ? rc : drc;
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
	const struct q_ctl *c = ctl(q);
	memset(info, 0, sizeof(*info));
	info->count = c->qnum;
	info->bytes = c->qbytes;
	info->max_bytes = c->max_bytes;
	info->max_msg_size = q->l.max_msg_size;
	info->max_msgs = q->l.max_msgs;
	info->last_send_pid = c->lspid;
	info->last_recv_pid = c->lrpid;
	info->stime = c->stime;
	info->rtime = c->rtime;
	info->ctime = c->ctime;
	info->mode = c->mode;
	info->uid = c->uid;
	info->gid = c->gid;
	info->cuid = c->cuid;
	info->cgid = c->cgid;
	for (uint32_t i = 0; i < q->l.nslots && rc == 0; i++) {
		struct q_desc d;
		rc = desc_read(q, i, &d);
		if (rc == 0 && (d.state == D_CLAIMED || d.state == D_FENCED) &&
		    token_dead(d.owner)) {
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
		struct tx t;
		struct q_ctl *c = ctl(q);
		tx_begin(&t, q);
		if (max_bytes != 0) {
			tx_w64(&t, &c->max_bytes, max_bytes);
		}
		if (mode != SHMKIT_PERM_KEEP) {
			tx_w32(&t, &c->mode, (uint32_t)mode);
		}
		if (uid != SHMKIT_PERM_KEEP) {
			tx_w32(&t, &c->uid, (uint32_t)uid);
		}
		if (gid != SHMKIT_PERM_KEEP) {
			tx_w32(&t, &c->gid, (uint32_t)gid);
		}
		tx_w32(&t, &c->perm_gen, c->perm_gen + 1);
		tx_w64(&t, &c->ctime, (uint64_t)now_sec());
		tx_commit(&t);
	}
	q_unlock(q);
	if (rc == 0) {
		/* A larger limit may let blocked senders in. */
		wake(swait(q));
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
	struct tx t;
	tx_begin(&t, q);
	tx_w64(&t, &ctl(q)->next_seq, seq);
	tx_commit(&t);
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
		wake(swait(q));
	}
	return rc;
}

void
shmkit__queue_offsets(const shmkit_queue *q, struct shmkit__queue_offsets *out)
{
	out->ctl = OFF_CTL;
	out->desc = q->l.desc;
	out->desc_size = sizeof(struct q_desc);
	out->arena = q->l.arena;
	out->slot_size = q->l.slot_size;
	out->nslots = q->l.nslots;
	out->total = q->l.total;
}
