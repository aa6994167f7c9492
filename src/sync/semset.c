/* SPDX-License-Identifier: MIT */
/* shmkit_semset: System V semaphore sets (semop, semctl, SEM_UNDO) in a shmkit segment. */
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

#include <shmkit/segment.h>
#include <shmkit/semset.h>
#include <shmkit/sync.h>

#include "internal/crashpoint.h"
#include "internal/creds.h"
#include "internal/futex.h"
#include "internal/platform.h"
#include "internal/ready.h"
#include "internal/registry.h"
#include "sync/semset_impl.h"

/*
 * The data area of a set (offsets from the start of the data area; every
 * section starts on a cache line):
 *
 *   0     struct ss_meta     immutable after creation; @ready published last
 *   64    shmkit_mutex       the set's lock
 *   128   struct ss_ctl      permissions, times, counters (under the lock)
 *   192   struct ss_jhdr     the redo journal's commit word and length
 *   256   struct ss_sem      [nsems]      value, last pid, undo reference count
 *   ...   struct ss_undo     [UNDO_CAP]   SEM_UNDO records: owner token and pid
 *   ...   int16_t            [UNDO_CAP][nsems]  the records' adjustments
 *   ...   struct ss_wait     [WAIT_CAP]   queued (sleeping) operations
 *   ...   struct ss_jent     [jcap]       the journal's entries
 *   ...   uint16_t           [nsems]      SETALL's staged values
 *
 * Every state change happens under the lock as one transaction: the new
 * values are written into the journal, the journal is committed with one
 * release store (the single commit point), applied, and cleared. A process
 * killed anywhere leaves either an uncommitted journal (ignored) or a
 * committed one, which the next locker, told -EOWNERDEAD by the mutex,
 * replays: every entry is an absolute store, so replaying is idempotent.
 *
 * Only a sleeping waiter's own slot (its futex word) is written outside the
 * lock by nobody: even it changes under the lock; the waiter merely sleeps
 * on it. Fields written by different processes concurrently therefore do not
 * exist besides the lock word and the slots' futex words, which each have a
 * cache line of their own.
 */

#define SS_MAGIC    0x31535353u /* "SSS1" */
#define SS_LAYOUT   1u
#define UNDO_CAP    256u
#define WAIT_CAP    128u
#define WAIT_OPS    64u
#define STAGE_ALIGN 64u

/* How long a sleeper sleeps at most before it looks for dead undo holders
 * and re-checks the set (ns); and the polling period of an unqueued waiter. */
#define SLEEP_SLICE_NS 100000000
#define POLL_SLICE_NS  10000000
/* How long an opener waits for a creator to finish the set (ns). */
#define READY_WAIT_NS 2000000000

struct ss_meta {
	uint32_t magic;
	uint32_t layout;
	uint32_t nsems;
	uint32_t undo_cap;
	uint32_t wait_cap;
	uint32_t wait_ops;
	uint32_t jcap;
	int32_t sysv_id;
	uint32_t sysv_key;
	uint32_t reserved0;
	uint64_t total; /* bytes of the data area used */
	/*
	 * 0 while the creator initialises the set, SS_MAGIC once done: stored
	 * with release ordering after every other byte of the set was written,
	 * paired with the acquire load in wait_ready().
	 */
	_Atomic uint32_t ready;
	uint32_t reserved2[3];
};
_Static_assert(sizeof(struct ss_meta) == 64, "meta is one line");
_Static_assert(offsetof(struct ss_meta, ready) == 48, "ready offset");

/* Under the lock; @removed is also read without it (relaxed: a hint that a
 * locked re-check confirms). */
struct ss_ctl {
	uint32_t uid, gid, cuid, cgid;
	uint32_t mode;
	_Atomic uint32_t removed;
	int64_t otime;
	int64_t ctime;
	uint32_t undo_used;
	uint32_t npending;
	uint32_t next_ticket;
	uint32_t perm_gen;
	uint8_t reserved[8];
};
_Static_assert(sizeof(struct ss_ctl) == 64, "ctl is one line");
_Static_assert(offsetof(struct ss_ctl, otime) == 24, "otime aligned");

struct ss_jhdr {
	/* 1 when the entries form a committed transaction. Stored 1 with
	 * release after the entries (the commit point) and 0 with release
	 * after they were applied; a recoverer reads it with acquire. */
	_Atomic uint32_t valid;
	uint32_t count;
	uint8_t reserved[56];
};
_Static_assert(sizeof(struct ss_jhdr) == 64, "journal header is one line");

struct ss_sem {
	uint32_t value;   /* 0..SEMVMX */
	int32_t pid;      /* sempid */
	uint32_t undo_nz; /* undo records with a non-zero adjustment for it */
	uint32_t reserved;
};
_Static_assert(sizeof(struct ss_sem) == 16, "sem size");

struct ss_undo {
	uint32_t token; /* the owner process's liveness token; 0: free */
	int32_t pid;    /* its pid, for sempid when its adjustments are applied */
	uint32_t nz;    /* how many of its adjustments are non-zero (> 0 when used) */
	uint32_t reserved;
};
_Static_assert(sizeof(struct ss_undo) == 16, "undo record size");

enum { W_FREE = 0, W_PENDING = 1, W_DONE = 2 };

struct ss_op {
	uint16_t num;
	int16_t op;
	int16_t flg;
	uint16_t reserved;
};
_Static_assert(sizeof(struct ss_op) == 8, "op size");

struct ss_wait {
	/*
	 * W_FREE, W_PENDING or W_DONE; changed only under the lock, and the
	 * futex word the waiter sleeps on (so a completer wakes exactly the
	 * waiter it served). Relaxed atomics: the lock orders everything else.
	 */
	_Atomic uint32_t state;
	uint32_t ptoken; /* the waiter's process: its SEM_UNDO record */
	uint32_t ttoken; /* the waiting thread: dead means nobody waits */
	int32_t pid;
	uint32_t ticket; /* FIFO order */
	int32_t result;  /* when W_DONE: 0 or a negative errno */
	uint32_t nsops;
	uint8_t reserved[36];
	struct ss_op ops[WAIT_OPS];
};
_Static_assert(sizeof(struct ss_wait) == 64 + 8 * WAIT_OPS, "wait slot size");
_Static_assert(sizeof(struct ss_wait) % 64 == 0, "wait slots on their own lines");

enum { J_W16 = 1, J_W32 = 2, J_W64 = 3, J_ZERO = 4, J_SETALL = 5 };

struct ss_jent {
	uint32_t off; /* from the start of the data area */
	uint32_t op;  /* J_* */
	uint64_t val; /* the value; J_ZERO: the length; J_SETALL: the pid */
};
_Static_assert(sizeof(struct ss_jent) == 16, "journal entry size");

#define OFF_META 0u
#define OFF_LOCK 64u
#define OFF_CTL  128u
#define OFF_JHDR 192u
#define OFF_SEMS 256u

/* Where each section is, computed from nsems alone (never read from the
 * shared memory, so nothing there can move a section). */
struct layout {
	uint32_t nsems, jcap;
	size_t sems, undo, adj, wait, jent, stage, total;
};

static size_t
round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static void
layout_compute(struct layout *l, uint32_t nsems)
{
	uint32_t m = nsems < SHMKIT_SEMOPM ? nsems : SHMKIT_SEMOPM;
	l->nsems = nsems;
	/* The largest transaction: a semop touching m semaphores (value,
	 * pid, adjustment and reference count each), or a SETVAL clearing one
	 * adjustment of every record (adjustment, count, token, pid), plus a
	 * few counters. */
	l->jcap = 4 * m + 4 * UNDO_CAP + 64;
	l->sems = OFF_SEMS;
	l->undo = round_up(l->sems + (size_t)nsems * sizeof(struct ss_sem), 64);
	l->adj = l->undo + UNDO_CAP * sizeof(struct ss_undo);
	l->wait = round_up(l->adj + (size_t)UNDO_CAP * nsems * sizeof(int16_t), 64);
	l->jent = l->wait + WAIT_CAP * sizeof(struct ss_wait);
	l->stage = round_up(l->jent + (size_t)l->jcap * sizeof(struct ss_jent), STAGE_ALIGN);
	l->total = round_up(l->stage + (size_t)nsems * sizeof(uint16_t), 64);
}

struct shmkit_semset {
	shmkit_segment *seg;
	unsigned char *base;
	struct layout l;
	int32_t sysv_id;
	uint32_t sysv_key;
	/* Cached outcome of the permission check: creds epoch (high 32
	 * bits), the set's perm_gen... see perm_cached(). */
	_Atomic uint64_t perm_cache;
	/* Hint: index of this process's undo record (checked before use). */
	_Atomic uint32_t undo_hint;
};

/* ---------------------------------------------------------------------- */
/* Process identity: credentials and pid, cached (no system call per op). */

/* The credentials live in src/common/creds.c, shared with the queue. */
void
shmkit__semset_creds_changed(void)
{
	shmkit__creds_changed();
}

/* ---------------------------------------------------------------------- */
/* Access to the sections.                                                 */

static struct ss_meta *
meta(const shmkit_semset *s)
{
	return (struct ss_meta *)(s->base + OFF_META);
}

static shmkit_mutex *
lockp(const shmkit_semset *s)
{
	return (shmkit_mutex *)(s->base + OFF_LOCK);
}

static struct ss_ctl *
ctl(const shmkit_semset *s)
{
	return (struct ss_ctl *)(s->base + OFF_CTL);
}

static struct ss_jhdr *
jhdr(const shmkit_semset *s)
{
	return (struct ss_jhdr *)(s->base + OFF_JHDR);
}

static struct ss_sem *
sem(const shmkit_semset *s, uint32_t i)
{
	return (struct ss_sem *)(s->base + s->l.sems) + i;
}

static struct ss_undo *
undo(const shmkit_semset *s, uint32_t r)
{
	return (struct ss_undo *)(s->base + s->l.undo) + r;
}

static int16_t *
adj(const shmkit_semset *s, uint32_t r, uint32_t i)
{
	return (int16_t *)(s->base + s->l.adj) + (size_t)r * s->l.nsems + i;
}

static struct ss_wait *
wslot(const shmkit_semset *s, uint32_t w)
{
	return (struct ss_wait *)(s->base + s->l.wait) + w;
}

static struct ss_jent *
jent(const shmkit_semset *s, uint32_t k)
{
	return (struct ss_jent *)(s->base + s->l.jent) + k;
}

static uint16_t *
stage(const shmkit_semset *s)
{
	return (uint16_t *)(s->base + s->l.stage);
}

static size_t
off_of(const shmkit_semset *s, const void *p)
{
	return (size_t)((const unsigned char *)p - s->base);
}

/* ---------------------------------------------------------------------- */
/* The redo journal.                                                       */

struct tx {
	shmkit_semset *s;
	uint32_t n;
	int overflow;
};

static void
tx_begin(struct tx *t, shmkit_semset *s)
{
	t->s = s;
	t->n = 0;
	t->overflow = 0;
}

static uint32_t
tx_room(const struct tx *t)
{
	return t->s->l.jcap - t->n;
}

static void
tx_put(struct tx *t, const void *addr, uint32_t op, uint64_t val)
{
	if (t->n >= t->s->l.jcap) {
		t->overflow = 1;
		return;
	}
	struct ss_jent *e = jent(t->s, t->n++);
	e->off = (uint32_t)off_of(t->s, addr);
	e->op = op;
	e->val = val;
}

static void
tx_w16(struct tx *t, int16_t *p, int16_t v)
{
	tx_put(t, p, J_W16, (uint16_t)v);
}

static void
tx_w32(struct tx *t, const void *p, uint32_t v)
{
	tx_put(t, p, J_W32, v);
}

static void
tx_w64(struct tx *t, const void *p, int64_t v)
{
	tx_put(t, p, J_W64, (uint64_t)v);
}

/*
 * Is entry @e a store the journal may make? Only into the mutable sections
 * (ctl, semaphores, undo records, adjustments, wait slots), naturally
 * aligned, inside the layout: a corrupted journal can never write into the
 * lock, the journal itself or outside the mapping.
 */
static int
jent_ok(const shmkit_semset *s, const struct ss_jent *e)
{
	const struct layout *l = &s->l;
	uint64_t off = e->off;
	uint64_t len;
	switch (e->op) {
	case J_W16:
		len = 2;
		break;
	case J_W32:
		len = 4;
		break;
	case J_W64:
		len = 8;
		break;
	case J_ZERO:
		/* Only undo records and adjustments are ever zeroed in bulk. */
		return off >= l->undo && e->val <= l->wait && off + e->val <= l->wait;
	case J_SETALL:
		return off == l->sems && e->val <= INT32_MAX;
	default:
		return 0;
	}
	if (off % len != 0) {
		return 0;
	}
	if (off >= OFF_CTL && off + len <= OFF_CTL + sizeof(struct ss_ctl)) {
		return 1;
	}
	return off >= l->sems && off + len <= l->jent;
}

static int
jent_apply(shmkit_semset *s, const struct ss_jent *e)
{
	unsigned char *p = s->base + e->off;
	switch (e->op) {
	case J_W16:
		*(int16_t *)p = (int16_t)(uint16_t)e->val;
		break;
	case J_W32:
		/* Atomic: slot states are futex words read without the lock. */
		atomic_store_explicit((_Atomic uint32_t *)p, (uint32_t)e->val,
				      memory_order_relaxed);
		break;
	case J_W64:
		*(int64_t *)p = (int64_t)e->val;
		break;
	case J_ZERO:
		memset(p, 0, (size_t)e->val);
		break;
	case J_SETALL: {
		const uint16_t *st = stage(s);
		for (uint32_t i = 0; i < s->l.nsems; i++) {
			uint16_t v = st[i];
			if (v > SHMKIT_SEMVMX) {
				return -EBADMSG;
			}
			sem(s, i)->value = v;
			sem(s, i)->pid = (int32_t)e->val;
			sem(s, i)->undo_nz = 0;
		}
		break;
	}
	default:
		return -EBADMSG;
	}
	return 0;
}

/*
 * Commit and apply. The entries are ours, written under the lock, so they
 * are applied without re-validation; only a replay (below) distrusts them.
 */
static int
tx_commit(struct tx *t)
{
	shmkit_semset *s = t->s;
	if (t->overflow) {
		/* A transaction larger than the journal: a sizing bug, not a
		 * peer's doing. Nothing was changed. */
		return -EOVERFLOW;
	}
	if (t->n == 0) {
		return 0;
	}
	jhdr(s)->count = t->n;
	SHMKIT_CRASHPOINT("semset_before_commit");
	/* The commit point. Release: the entries and count are visible to
	 * whoever acquires @valid (a recoverer after our death). */
	atomic_store_explicit(&jhdr(s)->valid, 1, memory_order_release);
	SHMKIT_CRASHPOINT("semset_after_commit");
	int rc = 0;
	for (uint32_t k = 0; k < t->n && rc == 0; k++) {
		rc = jent_apply(s, jent(s, k));
		if (k == t->n / 2) {
			SHMKIT_CRASHPOINT("semset_mid_apply");
		}
	}
	/* Release: the applied stores precede the cleared flag. */
	atomic_store_explicit(&jhdr(s)->valid, 0, memory_order_release);
	t->n = 0;
	return rc;
}

/* Replay a committed journal left by a dead holder (idempotent). */
static int
journal_replay(shmkit_semset *s)
{
	/* Acquire pairs with the release store of the commit point. */
	if (atomic_load_explicit(&jhdr(s)->valid, memory_order_acquire) == 0) {
		return 0;
	}
	uint32_t n = jhdr(s)->count;
	if (n == 0 || n > s->l.jcap) {
		return -EBADMSG;
	}
	struct ss_jent e;
	for (uint32_t k = 0; k < n; k++) {
		memcpy(&e, jent(s, k), sizeof(e)); /* one read of each entry */
		if (!jent_ok(s, &e)) {
			return -EBADMSG;
		}
	}
	for (uint32_t k = 0; k < n; k++) {
		memcpy(&e, jent(s, k), sizeof(e));
		if (!jent_ok(s, &e)) {
			return -EBADMSG;
		}
		int rc = jent_apply(s, &e);
		if (rc != 0) {
			return rc;
		}
	}
	atomic_store_explicit(&jhdr(s)->valid, 0, memory_order_release);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The lock.                                                               */

static int
ss_lock_until(shmkit_semset *s, const struct timespec *deadline)
{
	int rc = deadline == NULL ? shmkit_mutex_lock(lockp(s))
				  : shmkit_mutex_timedlock(lockp(s), deadline);
	if (rc == -EOWNERDEAD) {
		/* The holder died inside a transaction or between two: replay
		 * what it committed, then the set is consistent again. */
		rc = journal_replay(s);
		if (rc != 0) {
			/* Unlocking without consistent() poisons the mutex:
			 * nobody will trust a set whose journal is garbage. */
			shmkit_mutex_unlock(lockp(s));
			return rc;
		}
		rc = shmkit_mutex_consistent(lockp(s));
	}
	return rc;
}

static int
ss_lock(shmkit_semset *s)
{
	return ss_lock_until(s, NULL);
}

static void
ss_unlock(shmkit_semset *s)
{
	shmkit_mutex_unlock(lockp(s));
}

/* Wake the waiters whose slots a transaction completed (after unlock). */
struct wakes {
	uint32_t n;
	uint32_t idx[WAIT_CAP];
};

static void
wakes_flush(shmkit_semset *s, struct wakes *w)
{
	for (uint32_t k = 0; k < w->n; k++) {
		shmkit__futex_wake(&wslot(s, w->idx[k])->state, INT_MAX);
	}
	w->n = 0;
}

static void
wakes_add(struct wakes *w, uint32_t idx)
{
	if (w->n < WAIT_CAP) {
		w->idx[w->n++] = idx;
	}
}

/* ---------------------------------------------------------------------- */
/* Validation of what the shared memory says.                               */

static int
sem_read(const shmkit_semset *s, uint32_t i, uint32_t *value)
{
	uint32_t v = sem(s, i)->value;
	if (v > SHMKIT_SEMVMX || sem(s, i)->undo_nz > UNDO_CAP) {
		return -EBADMSG;
	}
	*value = v;
	return 0;
}

static int
ctl_ok(const shmkit_semset *s)
{
	const struct ss_ctl *c = ctl(s);
	if (c->undo_used > UNDO_CAP || c->npending > WAIT_CAP || c->mode > 0777) {
		return -EBADMSG;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Permissions, as the kernel's ipcperms().                                 */

/* The access (4 read, 2 alter; the kernel's S_IRUGO/S_IWUGO folded to one
 * class) that the caller has; called under the lock. */
static unsigned
granted(const shmkit_semset *s, const struct shmkit__creds *c)
{
	const struct ss_ctl *x = ctl(s);
	const struct shmkit__ipc_perm p = {x->mode, x->uid, x->gid, x->cuid, x->cgid};
	return shmkit__ipc_granted(c, &p);
}

/*
 * May the caller have @want (bits 4 and/or 2)? The answer is cached per
 * handle for the current credentials epoch and the set's perm_gen, so the
 * fast path makes no system call. A refusal is re-checked with fresh
 * credentials: a process that gained a privilege is not refused on a stale
 * cache.
 */
static int
perm_check(shmkit_semset *s, unsigned want)
{
	uint32_t ep = shmkit__creds_epoch();
	uint32_t gen = ctl(s)->perm_gen;
	uint64_t c = atomic_load_explicit(&s->perm_cache, memory_order_relaxed);
	/* cache: epoch (bits 32..63), gen low 24 bits (8..31), granted (0..7),
	 * bit 3 = capable of CAP_IPC_OWNER. */
	if (ep != 0 && (uint32_t)(c >> 32) == ep && ((c >> 8) & 0xffffff) == (gen & 0xffffff)) {
		unsigned g = (unsigned)(c & 7);
		if ((want & ~g & 7) == 0 || (c & 8)) {
			return 0;
		}
	}
	for (int fresh = 0; fresh < 2; fresh++) {
		struct shmkit__creds cr;
		if (fresh) {
			shmkit__semset_creds_changed();
		}
		ep = shmkit__creds_get(&cr);
		unsigned g = granted(s, &cr);
		uint64_t v = ((uint64_t)ep << 32) | ((uint64_t)(gen & 0xffffff) << 8) |
			     (cr.cap_ipc_owner ? 8u : 0u) | g;
		atomic_store_explicit(&s->perm_cache, v, memory_order_relaxed);
		if ((want & ~g & 7) == 0 || cr.cap_ipc_owner) {
			return 0;
		}
	}
	return -EACCES;
}

/* IPC_SET and IPC_RMID: owner, creator, or CAP_SYS_ADMIN. */
static int
owner_check(shmkit_semset *s)
{
	return shmkit__ipc_owner_check(ctl(s)->uid, ctl(s)->cuid);
}

/* ---------------------------------------------------------------------- */
/* Undo records.                                                           */

/* Is the process or thread behind @token known to be gone? A malformed
 * token (a peer's garbage) counts as gone; a failed check does not. */
/* Index of @token's record, or -1. */
static int
undo_find(shmkit_semset *s, uint32_t token)
{
	if (token == 0) {
		return -1;
	}
	uint32_t h = atomic_load_explicit(&s->undo_hint, memory_order_relaxed);
	if (h < UNDO_CAP && undo(s, h)->token == token) {
		return (int)h;
	}
	for (uint32_t r = 0; r < UNDO_CAP; r++) {
		if (undo(s, r)->token == token) {
			return (int)r;
		}
	}
	return -1;
}

static int
undo_free_slot(shmkit_semset *s)
{
	for (uint32_t r = 0; r < UNDO_CAP; r++) {
		if (undo(s, r)->token == 0) {
			return (int)r;
		}
	}
	return -1;
}

static int
now_sec(int64_t *out)
{
	/* Times are kept in seconds, as the kernel's sem_otime: the coarse
	 * clock is exact enough and costs a fraction of the precise one. */
	*out = shmkit__realtime_coarse_sec();
	return 0;
}

static int update_queue(shmkit_semset *s, struct wakes *w);

/*
 * Apply the adjustments of record @r (whose process is dead) as the kernel
 * does at exit: each value moves by its adjustment, clamped to
 * [0, SEMVMX], and takes the dead process's pid. Large sets go in several
 * transactions; each leaves the set consistent (the adjustments applied are
 * cleared in the same transaction), so a death in between loses nothing.
 */
static int
undo_apply_dead(shmkit_semset *s, uint32_t r)
{
	struct tx t;
	struct ss_undo *u = undo(s, r);
	int32_t pid = u->pid;
	uint32_t nz = u->nz;
	int64_t now;
	now_sec(&now);
	if (nz > s->l.nsems) {
		return -EBADMSG;
	}
	tx_begin(&t, s);
	for (uint32_t i = 0; i < s->l.nsems; i++) {
		int16_t a = *adj(s, r, i);
		if (a == 0) {
			continue;
		}
		uint32_t v;
		int rc = sem_read(s, i, &v);
		if (rc != 0) {
			return rc;
		}
		uint32_t unz = sem(s, i)->undo_nz;
		int32_t nv = (int32_t)v + a;
		if (nv < 0) {
			nv = 0;
		}
		if (nv > SHMKIT_SEMVMX) {
			nv = SHMKIT_SEMVMX;
		}
		tx_w32(&t, &sem(s, i)->value, (uint32_t)nv);
		tx_w32(&t, &sem(s, i)->pid, (uint32_t)pid);
		tx_w32(&t, &sem(s, i)->undo_nz, unz > 0 ? unz - 1 : 0);
		tx_w16(&t, adj(s, r, i), 0);
		nz = nz > 0 ? nz - 1 : 0;
		if (tx_room(&t) < 16) {
			tx_w32(&t, &u->nz, nz);
			rc = tx_commit(&t);
			if (rc != 0) {
				return rc;
			}
		}
	}
	uint32_t used = ctl(s)->undo_used;
	tx_w32(&t, &u->token, 0);
	tx_w32(&t, &u->pid, 0);
	tx_w32(&t, &u->nz, 0);
	tx_w32(&t, &ctl(s)->undo_used, used > 0 ? used - 1 : 0);
	tx_w64(&t, &ctl(s)->otime, now);
	return tx_commit(&t);
}

/*
 * Apply the records of dead processes that could change what the caller is
 * about to observe: with @all, every record; otherwise only records with a
 * non-zero adjustment for one of @sems. Cheap when nobody else holds an
 * adjustment on those semaphores (no system call); otherwise one
 * liveness check (fcntl) per such record. Sets *@applied when any was.
 */
static int
undo_sweep(shmkit_semset *s, const uint16_t *sems, uint32_t n, int all, int *applied)
{
	uint32_t self = 0;
	if (!all) {
		int need = 0;
		/* The fast answer, with no system call: nobody holds an
		 * adjustment on these semaphores. */
		for (uint32_t k = 0; k < n && !need; k++) {
			need = sem(s, sems[k])->undo_nz != 0;
		}
		if (!need) {
			return 0;
		}
		need = 0;
		shmkit__self_token(&self);
		int own = undo_find(s, self);
		for (uint32_t k = 0; k < n && !need; k++) {
			uint32_t nz = sem(s, sems[k])->undo_nz;
			uint32_t mine = (own >= 0 && *adj(s, (uint32_t)own, sems[k]) != 0) ? 1 : 0;
			need = nz > mine;
		}
		if (!need) {
			return 0;
		}
	} else if (ctl(s)->undo_used == 0) {
		return 0;
	} else {
		shmkit__self_token(&self);
	}
	for (uint32_t r = 0; r < UNDO_CAP; r++) {
		uint32_t tok = undo(s, r)->token;
		if (tok == 0 || tok == self) {
			continue;
		}
		if (!all) {
			int rel = 0;
			for (uint32_t k = 0; k < n && !rel; k++) {
				rel = *adj(s, r, sems[k]) != 0;
			}
			if (!rel) {
				continue;
			}
		}
		if (!shmkit__token_dead(tok)) {
			continue;
		}
		int rc = undo_apply_dead(s, r);
		if (rc != 0) {
			return rc;
		}
		*applied = 1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The operation itself (the kernel's perform_atomic_semop).              */

struct touched {
	uint16_t num;
	int32_t val;     /* new value */
	int32_t adj;     /* new adjustment (own record) */
	int32_t old_adj; /* adjustment before */
};

struct attempt {
	uint32_t n; /* distinct semaphores touched */
	struct touched t[SHMKIT_SEMOPM];
	uint32_t blocking; /* index of the op that blocks, when it does */
};

/*
 * Try @ops against the current values and the adjustments of record @rec
 * (-1: none yet). Return 0 (would succeed; @a holds the new state), 1
 * (must wait; a->blocking says on which op), -EAGAIN (must wait but
 * IPC_NOWAIT), -ERANGE, or -EBADMSG. Operations are taken in order, each
 * seeing the effect of the ones before it, as in the kernel.
 */
static int
attempt_ops(shmkit_semset *s, const struct ss_op *ops, uint32_t nops, int rec, struct attempt *a)
{
	a->n = 0;
	for (uint32_t i = 0; i < nops; i++) {
		uint16_t num = ops[i].num;
		if (num >= s->l.nsems) {
			return -EBADMSG; /* checked by callers: only a peer's slot */
		}
		struct touched *e = NULL;
		for (uint32_t k = 0; k < a->n; k++) {
			if (a->t[k].num == num) {
				e = &a->t[k];
				break;
			}
		}
		if (e == NULL) {
			uint32_t v;
			int rc = sem_read(s, num, &v);
			if (rc != 0) {
				return rc;
			}
			e = &a->t[a->n++];
			e->num = num;
			e->val = (int32_t)v;
			e->adj = rec >= 0 ? *adj(s, (uint32_t)rec, num) : 0;
			e->old_adj = e->adj;
		}
		int32_t op = ops[i].op;
		if (op == 0 && e->val != 0) {
			goto would_block;
		}
		int32_t r = e->val + op;
		if (r < 0) {
			goto would_block;
		}
		if (r > SHMKIT_SEMVMX) {
			return -ERANGE;
		}
		if (ops[i].flg & SHMKIT_SEM_UNDO) {
			int32_t u = e->adj - op;
			if (u < -SHMKIT_SEMAEM - 1 || u > SHMKIT_SEMAEM) {
				return -ERANGE;
			}
			e->adj = u;
		}
		e->val = r;
		continue;
	would_block:
		a->blocking = i;
		return (ops[i].flg & SHMKIT_IPC_NOWAIT) ? -EAGAIN : 1;
	}
	return 0;
}

/*
 * Write the outcome of a successful attempt for process (@token, @pid) into
 * transaction @t: values, sempid of every semaphore named, adjustments and
 * reference counts, allocating or freeing the process's undo record.
 * Return 0 or -ENOSPC (no free undo record).
 */
static int
attempt_record(shmkit_semset *s, struct tx *t, const struct attempt *a, int rec, uint32_t token,
	       int32_t pid)
{
	int need = 0;
	for (uint32_t k = 0; k < a->n; k++) {
		need |= a->t[k].adj != a->t[k].old_adj;
	}
	uint32_t used = ctl(s)->undo_used;
	uint32_t nz = 0;
	if (need && rec < 0) {
		rec = undo_free_slot(s);
		if (rec < 0) {
			return -ENOSPC;
		}
		tx_w32(t, &undo(s, (uint32_t)rec)->token, token);
		tx_w32(t, &undo(s, (uint32_t)rec)->pid, (uint32_t)pid);
		used++;
		atomic_store_explicit(&s->undo_hint, (uint32_t)rec, memory_order_relaxed);
	} else if (rec >= 0) {
		nz = undo(s, (uint32_t)rec)->nz;
		if (nz > s->l.nsems) {
			return -EBADMSG;
		}
	}
	for (uint32_t k = 0; k < a->n; k++) {
		const struct touched *e = &a->t[k];
		struct ss_sem *x = sem(s, e->num);
		tx_w32(t, &x->value, (uint32_t)e->val);
		tx_w32(t, &x->pid, (uint32_t)pid);
		if (e->adj == e->old_adj) {
			continue;
		}
		uint32_t unz = x->undo_nz;
		tx_w16(t, adj(s, (uint32_t)rec, e->num), (int16_t)e->adj);
		if (e->old_adj == 0) {
			tx_w32(t, &x->undo_nz, unz + 1);
			nz++;
		} else if (e->adj == 0) {
			tx_w32(t, &x->undo_nz, unz > 0 ? unz - 1 : 0);
			nz = nz > 0 ? nz - 1 : 0;
		}
	}
	if (need) {
		if (nz == 0) {
			/* No adjustment left: the record goes back to the pool. */
			tx_w32(t, &undo(s, (uint32_t)rec)->token, 0);
			tx_w32(t, &undo(s, (uint32_t)rec)->pid, 0);
			used = used > 0 ? used - 1 : 0;
		}
		tx_w32(t, &undo(s, (uint32_t)rec)->nz, nz);
		tx_w32(t, &ctl(s)->undo_used, used);
	}
	int64_t now;
	now_sec(&now);
	tx_w64(t, &ctl(s)->otime, now);
	return 0;
}

/* Copy and validate the operations of wait slot @w. */
static int
slot_ops(shmkit_semset *s, uint32_t w, struct ss_op *ops, uint32_t *nops)
{
	const struct ss_wait *x = wslot(s, w);
	uint32_t n = x->nsops;
	if (n == 0 || n > WAIT_OPS) {
		return -EBADMSG;
	}
	memcpy(ops, x->ops, n * sizeof(ops[0]));
	for (uint32_t i = 0; i < n; i++) {
		if (ops[i].num >= s->l.nsems) {
			return -EBADMSG;
		}
	}
	*nops = n;
	return 0;
}

static int
ops_alter(const struct ss_op *ops, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (ops[i].op != 0) {
			return 1;
		}
	}
	return 0;
}

/* Finish slot @w with @result (and free it if its waiter is gone). */
static void
slot_finish(shmkit_semset *s, struct tx *t, uint32_t w, int32_t result)
{
	uint32_t np = ctl(s)->npending;
	tx_w32(t, &wslot(s, w)->result, (uint32_t)result);
	tx_w32(t, &wslot(s, w)->state, W_DONE);
	tx_w32(t, &ctl(s)->npending, np > 0 ? np - 1 : 0);
}

static void
slot_drop(shmkit_semset *s, struct tx *t, uint32_t w)
{
	uint32_t np = ctl(s)->npending;
	tx_w32(t, &wslot(s, w)->state, W_FREE);
	tx_w32(t, &ctl(s)->npending, np > 0 ? np - 1 : 0);
}

/* The pending slots in FIFO (ticket) order. */
static uint32_t
pending_sorted(shmkit_semset *s, uint32_t *order)
{
	uint32_t n = 0;
	for (uint32_t w = 0; w < WAIT_CAP; w++) {
		if (atomic_load_explicit(&wslot(s, w)->state, memory_order_relaxed) != W_PENDING) {
			continue;
		}
		uint32_t tk = wslot(s, w)->ticket;
		uint32_t k = n++;
		/* Insertion by ticket distance from the next ticket handed
		 * out: the oldest first, whatever the wrap-around. */
		uint32_t next = ctl(s)->next_ticket;
		while (k > 0 && next - wslot(s, order[k - 1])->ticket < next - tk) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = w;
	}
	return n;
}

/*
 * Try to complete queued slot @w on behalf of its sleeping owner, as the
 * kernel's update_queue() does: the operation is performed by whoever made
 * it possible, and the sleeper only learns the result. Return 1 if it
 * completed successfully and altered values, 0 otherwise; or a negative
 * errno (a transaction failed).
 */
static int
slot_try(shmkit_semset *s, uint32_t w, struct attempt *a, struct wakes *wk, int *done)
{
	struct ss_op ops[WAIT_OPS];
	uint32_t nops;
	struct tx t;
	*done = 0;
	tx_begin(&t, s);
	int rc = slot_ops(s, w, ops, &nops);
	if (rc != 0) {
		slot_finish(s, &t, w, -EBADMSG);
		*done = 1;
		wakes_add(wk, w);
		return tx_commit(&t);
	}
	uint32_t ptoken = wslot(s, w)->ptoken;
	int rec = undo_find(s, ptoken);
	rc = attempt_ops(s, ops, nops, rec, a);
	if (rc == 1) {
		return 0;
	}
	/* It can finish (one way or the other): is anyone still waiting? */
	if (shmkit__token_dead(wslot(s, w)->ttoken)) {
		slot_drop(s, &t, w);
		return tx_commit(&t);
	}
	if (rc == 0) {
		rc = attempt_record(s, &t, a, rec, ptoken, wslot(s, w)->pid);
		if (rc == -ENOSPC) {
			tx_begin(&t, s);
		}
	}
	slot_finish(s, &t, w, rc);
	*done = 1;
	wakes_add(wk, w);
	int crc = tx_commit(&t);
	if (crc != 0) {
		return crc;
	}
	return rc == 0 && ops_alter(ops, nops);
}

/*
 * Complete every queued operation that can now proceed: wait-for-zero
 * operations first, then altering ones in FIFO order, starting over after
 * each one that altered a value (it may have enabled an older one). Bounded:
 * each pass completes a slot or ends.
 */
static int
update_queue(shmkit_semset *s, struct wakes *wk)
{
	static _Thread_local struct attempt a;
	uint32_t order[WAIT_CAP];
	if (ctl(s)->npending == 0) {
		return 0;
	}
	for (uint32_t pass = 0; pass <= WAIT_CAP; pass++) {
		uint32_t n = pending_sorted(s, order);
		int restart = 0;
		for (int alter = 0; alter < 2 && !restart; alter++) {
			for (uint32_t k = 0; k < n && !restart; k++) {
				uint32_t w = order[k];
				if (atomic_load_explicit(&wslot(s, w)->state,
							 memory_order_relaxed) != W_PENDING) {
					continue;
				}
				struct ss_op ops[WAIT_OPS];
				uint32_t nops;
				if (slot_ops(s, w, ops, &nops) == 0 &&
				    ops_alter(ops, nops) != alter) {
					continue;
				}
				int done;
				int rc = slot_try(s, w, &a, wk, &done);
				if (rc < 0) {
					return rc;
				}
				restart = rc == 1;
			}
		}
		if (!restart) {
			return 0;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Creation and opening.                                                   */

static int
check_handle(const shmkit_semset *s)
{
	return s == NULL ? -EINVAL : 0;
}

static void
init_set(shmkit_semset *s, unsigned nsems, unsigned mode, int32_t id, uint32_t key)
{
	struct shmkit__creds cr;
	shmkit__creds_get(&cr);
	struct ss_meta *m = meta(s);
	m->magic = SS_MAGIC;
	m->layout = SS_LAYOUT;
	m->nsems = nsems;
	m->undo_cap = UNDO_CAP;
	m->wait_cap = WAIT_CAP;
	m->wait_ops = WAIT_OPS;
	m->jcap = s->l.jcap;
	m->sysv_id = id;
	m->sysv_key = key;
	m->total = s->l.total;
	shmkit_mutex_init(lockp(s));
	struct ss_ctl *c = ctl(s);
	c->uid = c->cuid = (uint32_t)cr.euid;
	c->gid = c->cgid = (uint32_t)cr.egid;
	c->mode = mode & 0777;
	now_sec(&c->ctime);
	c->otime = 0;
	SHMKIT_CRASHPOINT("semset_create_before_ready");
	/* Release: every byte written above is visible to an opener whose
	 * acquire load of @ready reads SS_MAGIC. */
	atomic_store_explicit(&m->ready, SS_MAGIC, memory_order_release);
}

static int
attach(shmkit_semset **out, shmkit_segment *seg)
{
	shmkit_semset *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return -ENOMEM;
	}
	s->seg = seg;
	s->base = shmkit_segment_data(seg);
	atomic_store_explicit(&s->undo_hint, UNDO_CAP, memory_order_relaxed);
	*out = s;
	return 0;
}

int
shmkit__semset_create_ex(shmkit_semset **out, const char *spec, unsigned nsems, unsigned mode,
			 int32_t sysv_id, uint32_t sysv_key)
{
	if (out == NULL || spec == NULL || nsems < 1 || nsems > SHMKIT_SEMMSL || mode > 0777) {
		return -EINVAL;
	}
	/* A new set: sample the credentials anew (the caller may have
	 * changed them since the last set it used). */
	shmkit__semset_creds_changed();
	shmkit_segment_opts o;
	shmkit_segment_opts_init(&o);
	struct layout l;
	layout_compute(&l, nsems);
	o.size = l.total;
	o.kind = SHMKIT_KIND_SEMSET;
	o.mode = shmkit__ipc_file_mode(mode, 0);
	shmkit_segment *seg;
	int rc = shmkit_segment_create(&seg, spec, &o);
	if (rc != 0) {
		return rc;
	}
	shmkit_semset *s;
	rc = attach(&s, seg);
	if (rc != 0) {
		shmkit_segment_destroy(seg);
		return rc;
	}
	s->l = l;
	s->sysv_id = sysv_id;
	s->sysv_key = sysv_key;
	init_set(s, nsems, mode, sysv_id, sysv_key);
	*out = s;
	return 0;
}

SHMKIT_API int
shmkit_semset_create(shmkit_semset **out, const char *spec, unsigned nsems, unsigned mode)
{
	return shmkit__semset_create_ex(out, spec, nsems, mode, -1, 0);
}

/* Wait (bounded) for the creator to publish the set; then validate it. */
static int
wait_ready(shmkit_semset *s)
{
	struct ss_meta *m = meta(s);
	size_t avail = shmkit_segment_size(s->seg);
	int rc = shmkit__wait_inner_ready(&m->ready, SS_MAGIC, s->seg, READY_WAIT_NS);
	if (rc != 0) {
		return rc;
	}
	/* Read each field once, check the copies. */
	struct ss_meta mc;
	memcpy(&mc, m, sizeof(mc));
	if (mc.magic != SS_MAGIC) {
		return -EBADMSG;
	}
	if (mc.layout != SS_LAYOUT) {
		return -EPROTO;
	}
	if (mc.nsems < 1 || mc.nsems > SHMKIT_SEMMSL || mc.undo_cap != UNDO_CAP ||
	    mc.wait_cap != WAIT_CAP || mc.wait_ops != WAIT_OPS) {
		return -EBADMSG;
	}
	layout_compute(&s->l, mc.nsems);
	if (mc.jcap != s->l.jcap || mc.total != s->l.total || s->l.total > avail) {
		return -EBADMSG;
	}
	s->sysv_id = mc.sysv_id;
	s->sysv_key = mc.sysv_key;
	return 0;
}

SHMKIT_API int
shmkit_semset_open(shmkit_semset **out, const char *spec)
{
	if (out == NULL || spec == NULL) {
		return -EINVAL;
	}
	shmkit_segment *seg;
	int rc = shmkit__open_object_segment(&seg, spec, SHMKIT_KIND_SEMSET);
	if (rc != 0) {
		return rc;
	}
	shmkit_semset *s;
	rc = attach(&s, seg);
	if (rc != 0) {
		shmkit_segment_close(seg);
		return rc;
	}
	rc = wait_ready(s);
	if (rc == 0 && atomic_load_explicit(&ctl(s)->removed, memory_order_relaxed)) {
		rc = -EIDRM;
	}
	if (rc != 0) {
		shmkit_segment_close(seg);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

SHMKIT_API int
shmkit_semset_close(shmkit_semset *s)
{
	if (s == NULL) {
		return 0;
	}
	int rc = shmkit_segment_close(s->seg);
	free(s);
	return rc;
}

/* Mark removed and fail every waiter; called under the lock. */
static int
mark_removed(shmkit_semset *s, struct wakes *wk)
{
	struct tx t;
	int rc = owner_check(s);
	if (rc != 0) {
		return rc;
	}
	tx_begin(&t, s);
	for (uint32_t w = 0; w < WAIT_CAP; w++) {
		if (atomic_load_explicit(&wslot(s, w)->state, memory_order_relaxed) == W_PENDING) {
			tx_w32(&t, &wslot(s, w)->result, (uint32_t)-EIDRM);
			tx_w32(&t, &wslot(s, w)->state, W_DONE);
			wakes_add(wk, w);
		}
	}
	tx_w32(&t, &ctl(s)->npending, 0);
	tx_w32(&t, &ctl(s)->removed, 1);
	return tx_commit(&t);
}

int
shmkit__semset_mark_removed(shmkit_semset *s)
{
	struct wakes wk;
	wk.n = 0; /* not the whole array: it is large and hot */
	int rc = ss_lock(s);
	if (rc != 0) {
		return rc;
	}
	if (atomic_load_explicit(&ctl(s)->removed, memory_order_relaxed)) {
		rc = -EIDRM;
	} else {
		rc = mark_removed(s, &wk);
	}
	ss_unlock(s);
	wakes_flush(s, &wk);
	return rc;
}

SHMKIT_API int
shmkit_semset_remove(shmkit_semset *s)
{
	int rc = check_handle(s);
	if (rc != 0) {
		return rc;
	}
	rc = shmkit__semset_mark_removed(s);
	if (rc != 0 && rc != -EIDRM) {
		return rc;
	}
	/* The name goes only while it still names this set. */
	int drc = shmkit_segment_destroy(s->seg);
	free(s);
	if (rc == 0 && drc == -ENOENT) {
		drc = 0; /* someone removed the name already; the set is gone */
	}
	return rc != 0 ? rc : drc;
}

/* ---------------------------------------------------------------------- */
/* semop                                                                   */

/* Start a locked call: lock, refuse a removed or corrupted set. */
static int
begin(shmkit_semset *s)
{
	int rc = ss_lock(s);
	if (rc != 0) {
		return rc;
	}
	if (atomic_load_explicit(&ctl(s)->removed, memory_order_relaxed)) {
		ss_unlock(s);
		return -EIDRM;
	}
	rc = ctl_ok(s);
	if (rc != 0) {
		ss_unlock(s);
		return rc;
	}
	return 0;
}

static void
end(shmkit_semset *s, struct wakes *wk)
{
	ss_unlock(s);
	wakes_flush(s, wk);
}

/* The distinct semaphores of @ops, into @nums. */
static uint32_t
distinct_sems(const shmkit_sembuf *ops, size_t nops, uint16_t *nums)
{
	uint32_t n = 0;
	for (size_t i = 0; i < nops; i++) {
		uint32_t k = 0;
		while (k < n && nums[k] != ops[i].sem_num) {
			k++;
		}
		if (k == n) {
			nums[n++] = ops[i].sem_num;
		}
	}
	return n;
}

/*
 * Free the slots of waiters that died: pending ones (nobody will take the
 * result) and completed ones never collected. One liveness check per slot,
 * so only when the queue fills up.
 */
static void
reclaim_slots(shmkit_semset *s)
{
	for (uint32_t w = 0; w < WAIT_CAP; w++) {
		struct ss_wait *x = wslot(s, w);
		uint32_t st = atomic_load_explicit(&x->state, memory_order_relaxed);
		if (st == W_FREE || !shmkit__token_dead(x->ttoken)) {
			continue;
		}
		struct tx t;
		tx_begin(&t, s);
		if (st == W_PENDING) {
			slot_drop(s, &t, w);
		} else {
			tx_w32(&t, &x->state, W_FREE);
		}
		tx_commit(&t);
	}
}

/* Queue the caller in a free wait slot; return its index or -1 (none). */
static int
enqueue(shmkit_semset *s, const struct ss_op *ops, uint32_t nops, uint32_t ptoken, uint32_t ttoken)
{
	if (nops > WAIT_OPS || ttoken == 0) {
		return -1;
	}
	if (ctl(s)->npending >= WAIT_CAP / 2) {
		reclaim_slots(s);
	}
	for (uint32_t w = 0; w < WAIT_CAP; w++) {
		struct ss_wait *x = wslot(s, w);
		if (atomic_load_explicit(&x->state, memory_order_relaxed) != W_FREE) {
			continue;
		}
		/* The slot is free: its body is scratch until the commit below
		 * publishes it as pending. */
		x->ptoken = ptoken;
		x->ttoken = ttoken;
		x->pid = shmkit__self_pid();
		x->result = 0;
		x->nsops = nops;
		memcpy(x->ops, ops, nops * sizeof(ops[0]));
		struct tx t;
		tx_begin(&t, s);
		uint32_t tk = ctl(s)->next_ticket;
		tx_w32(&t, &x->ticket, tk);
		tx_w32(&t, &ctl(s)->next_ticket, tk + 1);
		tx_w32(&t, &ctl(s)->npending, ctl(s)->npending + 1);
		tx_w32(&t, &x->state, W_PENDING);
		if (tx_commit(&t) != 0) {
			return -1;
		}
		return (int)w;
	}
	return -1;
}

/*
 * Leave slot @w after waking: return its result if it was completed, or
 * free it and return @why (-ETIMEDOUT, -EINTR). Called under the lock.
 */
static int
dequeue(shmkit_semset *s, uint32_t w, int why)
{
	struct ss_wait *x = wslot(s, w);
	uint32_t st = atomic_load_explicit(&x->state, memory_order_relaxed);
	struct tx t;
	tx_begin(&t, s);
	if (st == W_DONE) {
		int32_t r = x->result;
		tx_w32(&t, &x->state, W_FREE);
		tx_commit(&t);
		/* Only the results a completer can give; anything else is a
		 * corrupted slot. */
		if (r == 0 || r == -EAGAIN || r == -ERANGE || r == -EIDRM || r == -ENOSPC ||
		    r == -EBADMSG) {
			return r;
		}
		return -EBADMSG;
	}
	if (st == W_PENDING) {
		slot_drop(s, &t, w);
		tx_commit(&t);
		return why;
	}
	return -EBADMSG; /* somebody freed our slot */
}

/* Sleep on slot @slot (or poll, without one) until woken, a slice passes,
 * the deadline passes, or (interruptible) a signal. Return 0, -ETIMEDOUT
 * or -EINTR. */
static int
sleep_once(shmkit_semset *s, int slot, const struct timespec *deadline, unsigned flags)
{
	for (;;) {
		struct timespec until;
		int wrc;
		shmkit__ts_slice(&until, deadline, slot >= 0 ? SLEEP_SLICE_NS : POLL_SLICE_NS);
		if (slot >= 0) {
			wrc = shmkit__futex_wait(&wslot(s, (uint32_t)slot)->state, W_PENDING,
						 &until);
		} else {
			/* Nobody wakes this word: a timed sleep that a
			 * signal can still interrupt. */
			_Atomic uint32_t dummy = 0;
			wrc = shmkit__futex_wait(&dummy, 0, &until);
		}
		if (wrc == -EINTR && (flags & SHMKIT_SEMSET_F_INTERRUPTIBLE)) {
			return -EINTR;
		}
		if (shmkit__ts_passed(deadline)) {
			return -ETIMEDOUT;
		}
		if (wrc != -EINTR) {
			return 0; /* woken, slice over, or the word changed */
		}
	}
}

/* After a wake-up, under the lock: apply dead holders' adjustments that we
 * may be waiting for, and complete what the queue allows (also what a
 * recovered journal made possible). */
static int
waiter_housekeeping(shmkit_semset *s, const uint16_t *nums, uint32_t nn, struct wakes *wk)
{
	int applied = 0;
	int rc = undo_sweep(s, nums, nn, 0, &applied);
	if (rc == 0) {
		rc = update_queue(s, wk);
	}
	return rc;
}

#define FAST_DECLINED 1

/*
 * The common case, one operation without SEM_UNDO that can proceed at once
 * on a set where nobody is queued and no undo record touches the semaphore:
 * under the set's lock, the new value is one aligned store, which is its
 * own commit point, so the journal is not needed (a holder killed before
 * the store changed nothing; after it, only sempid/otime may lag, which are
 * advisory). Anything else (errors included, so they come in the kernel's
 * order) is declined to the full path.
 */
static int
fast_op(shmkit_semset *s, const shmkit_sembuf *op)
{
	uint32_t num = op->sem_num;
	if (num >= s->l.nsems) {
		return FAST_DECLINED;
	}
	int rc = ss_lock(s);
	if (rc != 0) {
		return rc;
	}
	const struct ss_ctl *c = ctl(s);
	struct ss_sem *x = sem(s, num);
	uint32_t v = x->value;
	int32_t nv = (int32_t)v + op->sem_op;
	if (atomic_load_explicit(&c->removed, memory_order_relaxed) || c->npending != 0 ||
	    x->undo_nz != 0 || v > SHMKIT_SEMVMX ||
	    (op->sem_op == 0 ? v != 0 : (nv < 0 || nv > SHMKIT_SEMVMX)) ||
	    perm_check(s, op->sem_op != 0 ? 2 : 4) != 0) {
		ss_unlock(s);
		return FAST_DECLINED;
	}
	SHMKIT_CRASHPOINT("semset_fast_before_store");
	x->value = (uint32_t)nv;
	SHMKIT_CRASHPOINT("semset_fast_after_store");
	x->pid = shmkit__self_pid();
	int64_t now;
	now_sec(&now);
	ctl(s)->otime = now;
	ss_unlock(s);
	return 0;
}

SHMKIT_API int
shmkit_semset_op(shmkit_semset *s, const shmkit_sembuf *sops, size_t nops,
		 const struct timespec *deadline, unsigned flags)
{
	/* Scratch too large for the stack, per thread; one TLS lookup. */
	static _Thread_local struct {
		struct attempt a;
		struct ss_op ops[SHMKIT_SEMOPM];
		uint16_t nums[SHMKIT_SEMOPM];
	} scratch;
	struct attempt *const ap = &scratch.a;
	struct ss_op *const ops = scratch.ops;
	uint16_t *const nums = scratch.nums;
	int rc = check_handle(s);
	if (rc != 0) {
		return rc;
	}
	/* The kernel's order of checks: count, size, pointer, timeout. */
	if (nops < 1) {
		return -EINVAL;
	}
	if (nops > SHMKIT_SEMOPM) {
		return -E2BIG;
	}
	if (sops == NULL) {
		return -EFAULT;
	}
	if (shmkit__ts_check(deadline) != 0 || (flags & ~SHMKIT_SEMSET_F_INTERRUPTIBLE)) {
		return -EINVAL;
	}
	if (nops == 1 && !(sops[0].sem_flg & SHMKIT_SEM_UNDO)) {
		rc = fast_op(s, sops);
		if (rc != FAST_DECLINED) {
			return rc;
		}
	}
	unsigned maxnum = 0;
	int undos = 0, alter = 0;
	for (size_t i = 0; i < nops; i++) {
		ops[i].num = sops[i].sem_num;
		ops[i].op = sops[i].sem_op;
		ops[i].flg = sops[i].sem_flg;
		ops[i].reserved = 0;
		maxnum = sops[i].sem_num > maxnum ? sops[i].sem_num : maxnum;
		undos |= (sops[i].sem_flg & SHMKIT_SEM_UNDO) != 0;
		alter |= sops[i].sem_op != 0;
	}
	uint32_t ptoken = 0;
	if (undos) {
		rc = shmkit__self_token(&ptoken);
		if (rc != 0) {
			return rc;
		}
	}
	struct wakes wk;
	wk.n = 0; /* not the whole array: it is large and hot */
	rc = begin(s);
	if (rc != 0) {
		return rc;
	}
	if (maxnum >= s->l.nsems) {
		end(s, &wk);
		return -EFBIG;
	}
	rc = perm_check(s, alter ? 2 : 4);
	if (rc != 0) {
		end(s, &wk);
		return rc;
	}
	uint32_t nn = distinct_sems(sops, nops, nums);
	int applied = 0;
	rc = undo_sweep(s, nums, nn, 0, &applied);
	if (rc == 0 && applied) {
		rc = update_queue(s, &wk);
	}
	int slot = -1;
	int why = 0;
	while (rc == 0) {
		int rec = undo_find(s, ptoken);
		rc = attempt_ops(s, ops, (uint32_t)nops, rec, ap);
		if (rc == 0) {
			struct tx t;
			tx_begin(&t, s);
			rc = attempt_record(s, &t, ap, rec, ptoken, shmkit__self_pid());
			if (rc == -ENOSPC) {
				/* The table is full: reclaim dead processes'
				 * records and try once more. */
				applied = 0;
				rc = undo_sweep(s, NULL, 0, 1, &applied);
				if (rc == 0 && applied) {
					rc = update_queue(s, &wk);
					continue;
				}
				rc = rc == 0 ? -ENOSPC : rc;
				break;
			}
			if (rc == 0) {
				rc = tx_commit(&t);
			}
			if (rc == 0 && alter) {
				rc = update_queue(s, &wk);
			}
			break;
		}
		if (rc < 0) {
			break;
		}
		/* It must wait. */
		if (why != 0) {
			rc = why;
			break;
		}
		if (ptoken == 0) {
			shmkit__self_token(&ptoken);
		}
		uint32_t ttoken = 0;
		shmkit__thread_token(&ttoken);
		slot = enqueue(s, ops, (uint32_t)nops, ptoken, ttoken);
		rc = 0;
		/*
		 * Queued, the operation is completed by whoever makes it
		 * possible (as in the kernel); we sleep on our slot and only
		 * wake for the result, for a deadline or a signal, or every
		 * slice to look for dead undo holders. Without a slot (the
		 * queue is full, or more than WAIT_OPS operations), we poll.
		 */
		for (;;) {
			ss_unlock(s);
			wakes_flush(s, &wk);
			why = sleep_once(s, slot, deadline, flags);
			rc = ss_lock(s);
			if (rc != 0) {
				return rc; /* the set is unusable; our slot with it */
			}
			if (slot < 0) {
				break;
			}
			uint32_t st = atomic_load_explicit(&wslot(s, (uint32_t)slot)->state,
							   memory_order_relaxed);
			if (st == W_PENDING && why == 0) {
				rc = waiter_housekeeping(s, nums, nn, &wk);
				st = atomic_load_explicit(&wslot(s, (uint32_t)slot)->state,
							  memory_order_relaxed);
			}
			if (rc != 0 || st != W_PENDING || why != 0) {
				break;
			}
		}
		if (rc != 0) {
			break;
		}
		if (slot >= 0) {
			/* Done (its result), or given up (why). */
			rc = dequeue(s, (uint32_t)slot, why);
			break;
		}
		if (atomic_load_explicit(&ctl(s)->removed, memory_order_relaxed)) {
			rc = -EIDRM;
			break;
		}
		rc = waiter_housekeeping(s, nums, nn, &wk);
	}
	end(s, &wk);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* semctl                                                                  */

/*
 * The start of a read of semaphore @idx (GETVAL, GETPID, GETNCNT, GETZCNT):
 * take the lock, check read permission and the index, then apply the
 * adjustments of dead undo holders first, as any operation does: of @idx
 * only, or with @all of every record. *@locked says whether the lock is
 * held (then the caller ends with end(), whatever the result).
 */
static int
read_one_begin(shmkit_semset *s, unsigned idx, int all, struct wakes *wk, int *locked)
{
	*locked = 0;
	int rc = check_handle(s);
	if (rc == 0) {
		rc = begin(s);
	}
	if (rc != 0) {
		return rc;
	}
	*locked = 1;
	rc = perm_check(s, 4);
	if (rc == 0 && idx >= s->l.nsems) {
		rc = -EINVAL;
	}
	int applied = 0;
	if (rc == 0) {
		uint16_t n = (uint16_t)idx;
		rc = all ? undo_sweep(s, NULL, 0, 1, &applied) : undo_sweep(s, &n, 1, 0, &applied);
	}
	if (rc == 0 && applied) {
		rc = update_queue(s, wk);
	}
	return rc;
}

SHMKIT_API int
shmkit_semset_getval(shmkit_semset *s, unsigned idx)
{
	struct wakes wk;
	wk.n = 0; /* not the whole array: it is large and hot */
	int locked;
	int rc = read_one_begin(s, idx, 0, &wk, &locked);
	if (!locked) {
		return rc;
	}
	uint32_t v = 0;
	if (rc == 0) {
		rc = sem_read(s, idx, &v);
	}
	end(s, &wk);
	return rc != 0 ? rc : (int)v;
}

/* Clear adjustment @i of every record (SETVAL), into @t. */
static void
clear_adj_one(shmkit_semset *s, struct tx *t, uint32_t i)
{
	uint32_t used = ctl(s)->undo_used;
	for (uint32_t r = 0; r < UNDO_CAP; r++) {
		struct ss_undo *u = undo(s, r);
		if (u->token == 0 || *adj(s, r, i) == 0) {
			continue;
		}
		uint32_t nz = u->nz > 0 ? u->nz - 1 : 0;
		tx_w16(t, adj(s, r, i), 0);
		tx_w32(t, &u->nz, nz);
		if (nz == 0) {
			tx_w32(t, &u->token, 0);
			tx_w32(t, &u->pid, 0);
			used = used > 0 ? used - 1 : 0;
		}
	}
	tx_w32(t, &ctl(s)->undo_used, used);
	tx_w32(t, &sem(s, i)->undo_nz, 0);
}

SHMKIT_API int
shmkit_semset_setval(shmkit_semset *s, unsigned idx, int value)
{
	struct wakes wk;
	wk.n = 0; /* not the whole array: it is large and hot */
	int rc = check_handle(s);
	if (rc != 0) {
		return rc;
	}
	/* The kernel's order: range, then index, then permission. */
	if (value < 0 || value > SHMKIT_SEMVMX) {
		return -ERANGE;
	}
	rc = begin(s);
	if (rc != 0) {
		return rc;
	}
	if (idx >= s->l.nsems) {
		rc = -EINVAL;
	} else {
		rc = perm_check(s, 2);
	}
	if (rc == 0) {
		struct tx t;
		int64_t now;
		now_sec(&now);
		tx_begin(&t, s);
		clear_adj_one(s, &t, idx);
		tx_w32(&t, &sem(s, idx)->value, (uint32_t)value);
		tx_w32(&t, &sem(s, idx)->pid, (uint32_t)shmkit__self_pid());
		tx_w64(&t, &ctl(s)->ctime, now);
		rc = tx_commit(&t);
	}
	if (rc == 0) {
		rc = update_queue(s, &wk);
	}
	end(s, &wk);
	return rc;
}

SHMKIT_API int
shmkit_semset_getall(shmkit_semset *s, unsigned short *values)
{
	struct wakes wk;
	wk.n = 0; /* not the whole array: it is large and hot */
	int rc = check_handle(s);
	if (rc == 0) {
		rc = begin(s);
	}
	if (rc != 0) {
		return rc;
	}
	rc = perm_check(s, 4);
	if (rc == 0 && values == NULL) {
		rc = -EFAULT;
	}
	int applied = 0;
	if (rc == 0) {
		rc = undo_sweep(s, NULL, 0, 1, &applied);
	}
	if (rc == 0 && applied) {
		rc = update_queue(s, &wk);
	}
	for (uint32_t i = 0; rc == 0 && i < s->l.nsems; i++) {
		uint32_t v = 0;
		rc = sem_read(s, i, &v);
		values[i] = (unsigned short)v;
	}
	end(s, &wk);
	return rc;
}

SHMKIT_API int
shmkit_semset_setall(shmkit_semset *s, const unsigned short *values)
{
	struct wakes wk;
	wk.n = 0; /* not the whole array: it is large and hot */
	int rc = check_handle(s);
	if (rc == 0) {
		rc = begin(s);
	}
	if (rc != 0) {
		return rc;
	}
	rc = perm_check(s, 2);
	if (rc == 0 && values == NULL) {
		rc = -EFAULT;
	}
	for (uint32_t i = 0; rc == 0 && i < s->l.nsems; i++) {
		if (values[i] > SHMKIT_SEMVMX) {
			rc = -ERANGE;
		}
	}
	if (rc == 0) {
		/* The values go to the staging area first: scratch until the
		 * J_SETALL entry that copies them is committed. */
		memcpy(stage(s), values, s->l.nsems * sizeof(uint16_t));
		struct tx t;
		int64_t now;
		now_sec(&now);
		tx_begin(&t, s);
		tx_put(&t, sem(s, 0), J_SETALL, (uint64_t)(uint32_t)shmkit__self_pid());
		/* Every adjustment of every record goes (the kernel clears
		 * them all), and with them every record. */
		tx_put(&t, undo(s, 0), J_ZERO, s->l.wait - s->l.undo);
		tx_w32(&t, &ctl(s)->undo_used, 0);
		tx_w64(&t, &ctl(s)->ctime, now);
		rc = tx_commit(&t);
	}
	if (rc == 0) {
		rc = update_queue(s, &wk);
	}
	end(s, &wk);
	return rc;
}

SHMKIT_API int
shmkit_semset_getpid(shmkit_semset *s, unsigned idx)
{
	struct wakes wk;
	wk.n = 0; /* not the whole array: it is large and hot */
	int locked;
	int rc = read_one_begin(s, idx, 0, &wk, &locked);
	if (!locked) {
		return rc;
	}
	int32_t pid = rc == 0 ? sem(s, idx)->pid : 0;
	end(s, &wk);
	if (rc == 0 && pid < 0) {
		rc = -EBADMSG;
	}
	return rc != 0 ? rc : pid;
}

/*
 * semncnt / semzcnt: the queued operations whose blocking operation (the
 * first that cannot proceed, recomputed now) is a decrement (@zero 0) or a
 * wait-for-zero (@zero 1) of @idx, as the kernel counts them since 3.x.
 * Waiters whose thread died are dropped here, so they never stay counted.
 */
static int
count_waiters(shmkit_semset *s, unsigned idx, int zero)
{
	static _Thread_local struct attempt a;
	struct wakes wk;
	wk.n = 0; /* not the whole array: it is large and hot */
	int locked;
	int rc = read_one_begin(s, idx, 1, &wk, &locked);
	if (!locked) {
		return rc;
	}
	int count = 0;
	for (uint32_t w = 0; rc == 0 && w < WAIT_CAP; w++) {
		struct ss_wait *x = wslot(s, w);
		if (atomic_load_explicit(&x->state, memory_order_relaxed) != W_PENDING) {
			continue;
		}
		struct ss_op ops[WAIT_OPS];
		uint32_t nops;
		if (slot_ops(s, w, ops, &nops) != 0) {
			continue;
		}
		int r = attempt_ops(s, ops, nops, undo_find(s, x->ptoken), &a);
		if (r != 1) {
			continue; /* not blocked (a completer will finish it) */
		}
		const struct ss_op *b = &ops[a.blocking];
		if (b->num != idx || (zero ? b->op != 0 : b->op >= 0)) {
			continue;
		}
		if (shmkit__token_dead(x->ttoken)) {
			struct tx t;
			tx_begin(&t, s);
			slot_drop(s, &t, w);
			rc = tx_commit(&t);
			continue;
		}
		count++;
	}
	end(s, &wk);
	return rc != 0 ? rc : count;
}

SHMKIT_API int
shmkit_semset_getncnt(shmkit_semset *s, unsigned idx)
{
	return count_waiters(s, idx, 0);
}

SHMKIT_API int
shmkit_semset_getzcnt(shmkit_semset *s, unsigned idx)
{
	return count_waiters(s, idx, 1);
}

SHMKIT_API int
shmkit_semset_stat(shmkit_semset *s, shmkit_semset_info *info)
{
	return shmkit__semset_stat(s, info, 1);
}

int
shmkit__semset_stat(shmkit_semset *s, shmkit_semset_info *info, int check)
{
	struct wakes wk;
	wk.n = 0; /* not the whole array: it is large and hot */
	int rc = check_handle(s);
	if (rc == 0 && info == NULL) {
		rc = -EFAULT;
	}
	/* Who holds the lock, seen before we queue for it ourselves. */
	shmkit_mutex_info held;
	if (rc == 0 && shmkit_mutex_inspect(lockp(s), &held) != 0) {
		memset(&held, 0, sizeof(held));
	}
	if (rc == 0) {
		rc = begin(s);
	}
	if (rc != 0) {
		return rc;
	}
	rc = check ? perm_check(s, 4) : 0;
	if (rc == 0) {
		const struct ss_ctl *c = ctl(s);
		uint32_t self = 0;
		shmkit__self_token(&self);
		memset(info, 0, sizeof(*info));
		info->nsems = s->l.nsems;
		info->mode = c->mode;
		info->uid = c->uid;
		info->gid = c->gid;
		info->cuid = c->cuid;
		info->cgid = c->cgid;
		info->otime = c->otime;
		info->ctime = c->ctime;
		info->removed = 0;
		for (uint32_t r = 0; r < UNDO_CAP; r++) {
			uint32_t tok = undo(s, r)->token;
			if (tok == 0) {
				continue;
			}
			info->undo_records++;
			if (tok != self && shmkit__token_alive(tok) == 0) {
				info->dead_undo_records++;
			}
		}
		info->waiters = c->npending;
		info->lock_holder_pid = held.locked ? held.holder_pid : -1;
		info->lock_holder_alive = held.locked ? held.holder_alive : 0;
	}
	end(s, &wk);
	return rc;
}

SHMKIT_API int
shmkit_semset_set_perm(shmkit_semset *s, long mode, long uid, long gid)
{
	struct wakes wk;
	wk.n = 0; /* not the whole array: it is large and hot */
	int rc = check_handle(s);
	if (rc != 0) {
		return rc;
	}
	if ((mode != SHMKIT_PERM_KEEP && (mode < 0 || mode > 0777)) ||
	    (uid != SHMKIT_PERM_KEEP && (uid < 0 || uid > (long)UINT32_MAX - 1)) ||
	    (gid != SHMKIT_PERM_KEEP && (gid < 0 || gid > (long)UINT32_MAX - 1))) {
		return -EINVAL;
	}
	rc = begin(s);
	if (rc != 0) {
		return rc;
	}
	rc = owner_check(s);
	if (rc == 0) {
		struct ss_ctl *c = ctl(s);
		uint32_t nm = mode == SHMKIT_PERM_KEEP ? c->mode : (uint32_t)mode;
		uint32_t nu = uid == SHMKIT_PERM_KEEP ? c->uid : (uint32_t)uid;
		uint32_t ng = gid == SHMKIT_PERM_KEEP ? c->gid : (uint32_t)gid;
		struct tx t;
		int64_t now;
		now_sec(&now);
		tx_begin(&t, s);
		tx_w32(&t, &c->mode, nm);
		tx_w32(&t, &c->uid, nu);
		tx_w32(&t, &c->gid, ng);
		tx_w32(&t, &c->perm_gen, c->perm_gen + 1);
		tx_w64(&t, &c->ctime, now);
		rc = tx_commit(&t);
		if (rc == 0) {
			/* Best effort: only the file's owner (or root) may
			 * change its mode; the set's own bits rule anyway. */
			int fd = shmkit_segment_fd(s->seg);
			if (fd >= 0) {
				fchmod(fd,
				       shmkit__ipc_file_mode(nm, nu != c->cuid || ng != c->cgid));
			}
		}
	}
	end(s, &wk);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* For the System V drop-in.                                               */

int32_t
shmkit__semset_sysv_id(const shmkit_semset *s)
{
	return s->sysv_id;
}

uint32_t
shmkit__semset_sysv_key(const shmkit_semset *s)
{
	return s->sysv_key;
}

unsigned
shmkit__semset_nsems(const shmkit_semset *s)
{
	return s->l.nsems;
}

int
shmkit__semset_fd(const shmkit_semset *s)
{
	return shmkit_segment_fd(s->seg);
}

int
shmkit__semset_removed(const shmkit_semset *s)
{
	return atomic_load_explicit(&ctl(s)->removed, memory_order_relaxed) != 0;
}

int
shmkit__semset_access(shmkit_semset *s, int flg)
{
	unsigned want = ((unsigned)flg >> 6 | (unsigned)flg >> 3 | (unsigned)flg) & 7;
	int rc = begin(s);
	if (rc != 0) {
		return rc;
	}
	rc = want == 0 ? 0 : perm_check(s, want);
	ss_unlock(s);
	return rc;
}
