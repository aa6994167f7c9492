/* SPDX-License-Identifier: MIT */
/* shmkit_ring: a lock-free SPSC ring of messages or bytes between processes (docs/RING.md). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <shmkit/ring.h>
#include <shmkit/segment.h>

#include "internal/crashpoint.h"
#include "internal/futex.h"
#include "internal/header.h"
#include "internal/platform.h"
#include "internal/ready.h"
#include "internal/registry.h"

/*
 * The whole protocol (docs/RING.md has it with the proofs):
 *  - the producer alone writes @head (a byte position that only grows), the
 *    consumer alone @tail; bytes [tail, head) are committed and unread;
 *  - the producer writes records past @head, then publishes them with one
 *    store of @head; the consumer reads up to @head, then hands room back
 *    with one store of @tail. A record is visible whole or not at all, so a
 *    death anywhere leaves the ring consistent: the positions are the truth;
 *  - each side keeps a private copy of the other's position and reloads it
 *    only when the ring looks full (empty): no cache line moves while there
 *    is room (data);
 *  - a side about to sleep sets a bit in the peer's line, then looks again;
 *    the peer, after its store, looks at the bit (both seq_cst: one of the
 *    two sees the other) and only then makes a system call.
 */

#define R_MAGIC  0x31474e52u /* "RNG1" */
#define R_LAYOUT 1u
#define REC_HDR  8u
#define TAG_MSG  0x6d5a0000u
#define TAG_PAD  0x705a0000u
#define MIN_CAP  ((uint64_t)4096)
#define MAX_CAP  ((uint64_t)1 << 32) /* record lengths are 32-bit */
/* How long an opener waits for a creator to finish. */
#define READY_WAIT_NS 2000000000

/* Where the ring bytes start in the segment's data area: one page into the
 * mapping, so large copies are page aligned. */
#define DATA_OFF (4096u - SHMKIT_DATA_OFFSET)
_Static_assert(SHMKIT_DATA_OFFSET == 128, "the ring's bytes start on a page");

/* A default waiter spins this long before it sleeps. */
#define SPIN_NS 20000
/* Waiters look at the peer's liveness (and sleep at most) this often. */
#define SLICE_NS 100000000
/* A spinning waiter yields the CPU every so many rounds. */
#define YIELD_ROUNDS (1u << 12)

/* Bits of a want word: how a sleeping side wants to be woken. */
#define WANT_FUTEX 1u
#define WANT_FD    2u

/* Immutable after the creator publishes @ready. */
struct r_meta {
	uint32_t magic;
	uint32_t layout;
	uint64_t capacity;
	uint64_t max_msg_size;
	uint32_t flags;
	/* 0 while the creator initialises, R_MAGIC once done: stored with
	 * release ordering after every other byte, paired with the acquire
	 * load of open. */
	_Atomic uint32_t ready;
	uint8_t reserved[32];
};
_Static_assert(sizeof(struct r_meta) == 64, "meta is one line");

/* The producer's line: written by the producer on every publish. */
struct r_prod {
	/* Position past the last published record. Stored seq_cst by the
	 * producer after the records (pairs with the consumer's acquire
	 * loads; seq_cst against @want, see wake()). */
	_Atomic uint64_t head;
	_Atomic uint64_t sent;  /* messages (bytes) published; relaxed, for stats */
	_Atomic uint32_t owner; /* the producer's liveness token, 0 none */
	_Atomic uint32_t eof;   /* 1: shut down; stored release after @head */
	/* Written by the consumer when it is about to sleep (WANT_*): read
	 * here by the producer at no cost while the consumer is awake. */
	_Atomic uint32_t want;
	/* The consumer sleeps on this futex word; the producer bumps it. */
	_Atomic uint32_t wake;
	uint8_t reserved[32];
};
_Static_assert(sizeof(struct r_prod) == 64, "producer line");

/* The consumer's line, the mirror image. */
struct r_cons {
	_Atomic uint64_t tail;
	_Atomic uint64_t received;
	_Atomic uint32_t owner;
	uint32_t reserved0;
	_Atomic uint32_t want; /* written by the producer about to sleep */
	_Atomic uint32_t wake; /* the producer sleeps on it */
	uint8_t reserved[32];
};
_Static_assert(sizeof(struct r_cons) == 64, "consumer line");

/* The address of an endpoint's notification socket (see shmkit_ring_fd()):
 * written by its owner, read by the peer when it wakes it. */
struct r_addr {
	_Atomic uint32_t len; /* 0: none; stored release after @name */
	char name[28];
};
_Static_assert(sizeof(struct r_addr) == 32, "address size");

struct r_shared {
	struct r_meta meta;
	struct r_prod prod;
	struct r_cons cons;
	struct r_addr addr[2]; /* [0] the producer's, [1] the consumer's */
};
_Static_assert(sizeof(struct r_shared) == 256, "control block");
_Static_assert(sizeof(struct r_shared) <= DATA_OFF, "control block before the bytes");

struct shmkit_ring {
	shmkit_segment *seg;
	struct r_shared *s;
	unsigned char *bytes;
	uint64_t cap, mask, max_msg;
	uint32_t flags;
	int role;
	uint32_t token;
	uint32_t epoch; /* shmkit__fork_epoch() when the role was attached */
	int wait;
	/* Producer. */
	uint64_t head;      /* past the last commit (published or not) */
	uint64_t pub;       /* past the last publish */
	uint64_t tail_seen; /* the consumer's @tail, as last loaded */
	uint64_t resv_pos;  /* the outstanding reservation, if @resv_len */
	uint64_t resv_len;  /* bytes reserved (+1: a 0-byte reservation) */
	uint64_t unpub;     /* messages (bytes) committed, not yet published */
	/* Consumer. */
	uint64_t tail;      /* past the last release */
	uint64_t rd;        /* past the last peek */
	uint64_t head_seen; /* the producer's @head, as last loaded */
	uint64_t npeeked;   /* messages (bytes) peeked, not yet released */
	/* Notification sockets: ours (shmkit_ring_fd()) and one to send from. */
	int fd;
	int tx;
};

/* Does the handle hold @role in this process? */
static int
holds(const shmkit_ring *r, int role)
{
	return r->role == role && r->epoch == shmkit__fork_epoch();
}

static int
is_bytes(const shmkit_ring *r)
{
	return (r->flags & SHMKIT_RING_BYTES) != 0;
}

static uint64_t
align8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

static uint32_t
tag_at(uint32_t kind, uint64_t pos)
{
	/* Binds a record to its position: a record left from an earlier lap,
	 * or bytes that were never a record, do not pass. */
	return kind ^ (uint32_t)(pos >> 3);
}

SHMKIT_API void
shmkit_ring_opts_init(shmkit_ring_opts *opts)
{
	if (opts == NULL) {
		return;
	}
	memset(opts, 0, sizeof(*opts));
	opts->capacity = (uint64_t)1 << 20;
	opts->mode = 0600;
}

/* Check the immutable shape; 0 or -EINVAL. */
static int
shape_ok(uint64_t cap, uint64_t max_msg, uint32_t flags)
{
	if (cap < MIN_CAP || cap > MAX_CAP || (cap & (cap - 1)) != 0) {
		return -EINVAL;
	}
	if ((flags & ~SHMKIT_RING_BYTES) != 0) {
		return -EINVAL;
	}
	if (!(flags & SHMKIT_RING_BYTES) && (max_msg == 0 || max_msg > cap - REC_HDR)) {
		return -EINVAL;
	}
	return 0;
}

static void
set_shape(shmkit_ring *r, uint64_t cap, uint64_t max_msg, uint32_t flags)
{
	r->cap = cap;
	r->mask = cap - 1;
	r->max_msg = flags & SHMKIT_RING_BYTES ? cap : max_msg;
	r->flags = flags;
}

static shmkit_ring *
handle_new(shmkit_segment *seg)
{
	shmkit_ring *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return NULL;
	}
	r->seg = seg;
	r->s = shmkit_segment_data(seg);
	r->bytes = (unsigned char *)r->s + DATA_OFF;
	r->fd = -1;
	r->tx = -1;
	return r;
}

/* ---------------------------------------------------------------------- */
/* Roles.                                                                  */

static _Atomic uint32_t *
owner_of(const shmkit_ring *r, int role)
{
	return role == SHMKIT_RING_PRODUCER ? &r->s->prod.owner : &r->s->cons.owner;
}

/* Load both positions and check them against each other. An observer's
 * @tail may move between its two loads (then @head - @tail can pass the
 * capacity without anything being wrong): it loads @tail again, and only a
 * pair taken with @tail still is judged. */
static int
positions(const shmkit_ring *r, uint64_t *head, uint64_t *tail)
{
	for (int round = 0;; round++) {
		*tail = atomic_load_explicit(&r->s->cons.tail, memory_order_acquire);
		*head = atomic_load_explicit(&r->s->prod.head, memory_order_acquire);
		uint64_t again = atomic_load_explicit(&r->s->cons.tail, memory_order_acquire);
		if (again == *tail || round == 64) {
			break;
		}
	}
	if (*head - *tail > r->cap || (!is_bytes(r) && ((*head | *tail) & 7) != 0)) {
		return -EBADMSG;
	}
	return 0;
}

static void notify_fd(shmkit_ring *r, const struct r_addr *a);

SHMKIT_API int
shmkit_ring_attach(shmkit_ring *r, int role)
{
	uint32_t tok;
	int rc;
	if (r == NULL || (role != SHMKIT_RING_PRODUCER && role != SHMKIT_RING_CONSUMER)) {
		return -EINVAL;
	}
	if (r->role != SHMKIT_RING_NONE) {
		if (holds(r, r->role)) {
			return -EINVAL;
		}
		/* A copy made by fork(): the role is the parent's; the
		 * descriptors are our copies of the parent's. */
		r->role = SHMKIT_RING_NONE;
		if (r->fd >= 0) {
			close(r->fd);
			r->fd = -1;
		}
		if (r->tx >= 0) {
			close(r->tx);
			r->tx = -1;
		}
	}
	if ((rc = shmkit__self_token(&tok)) != 0) {
		return rc;
	}
	_Atomic uint32_t *owner = owner_of(r, role);
	for (int round = 0;; round++) {
		uint32_t cur = atomic_load_explicit(owner, memory_order_acquire);
		if (round == 16) {
			return -EBUSY; /* others keep taking it */
		}
		if (cur != 0 && (cur == tok || !shmkit__token_dead(cur))) {
			return -EBUSY;
		}
		/* Acquire: what the previous holder published is ours to see. */
		if (atomic_compare_exchange_strong_explicit(owner, &cur, tok, memory_order_acq_rel,
							    memory_order_acquire)) {
			break;
		}
	}
	SHMKIT_CRASHPOINT("ring_after_attach");
	uint64_t head, tail;
	if ((rc = positions(r, &head, &tail)) != 0) {
		atomic_store_explicit(owner, 0, memory_order_release);
		return rc;
	}
	r->role = role;
	r->token = tok;
	r->epoch = shmkit__fork_epoch();
	/* A dead holder's wishes to be woken and its socket's name are
	 * stale (the name may be another process's by now). */
	int me = role == SHMKIT_RING_PRODUCER ? 0 : 1;
	atomic_store_explicit(&r->s->addr[me].len, 0, memory_order_release);
	atomic_store_explicit(me ? &r->s->prod.want : &r->s->cons.want, 0, memory_order_relaxed);
	if (role == SHMKIT_RING_PRODUCER) {
		/* Whatever a dead producer wrote past @head was never published. */
		r->head = r->pub = head;
		r->tail_seen = tail;
		r->resv_len = 0;
		r->unpub = 0;
		atomic_store_explicit(&r->s->prod.eof, 0, memory_order_release);
	} else {
		/* What a dead consumer peeked and did not release comes again. */
		r->tail = r->rd = tail;
		r->head_seen = head;
		r->npeeked = 0;
	}
	/* A predecessor killed between its store and its wake (it may have
	 * taken the peer's want bits already) left the peer asleep on news it
	 * never got: the model (tests/model/) found it. Wake the peer once,
	 * whatever its bits say; it looks again and sleeps if nothing moved. */
	_Atomic uint32_t *peer_word =
		role == SHMKIT_RING_PRODUCER ? &r->s->prod.wake : &r->s->cons.wake;
	atomic_fetch_add_explicit(peer_word, 1, memory_order_seq_cst);
	shmkit__futex_wake(peer_word, 1);
	notify_fd(r, &r->s->addr[role == SHMKIT_RING_PRODUCER ? 1 : 0]);
	return 0;
}

/* Give the role back. */
static void
detach(shmkit_ring *r)
{
	if (r->role == SHMKIT_RING_NONE || !holds(r, r->role)) {
		return; /* none, or the parent's (a copy made by fork()) */
	}
	uint32_t tok = r->token;
	if (r->role == SHMKIT_RING_PRODUCER && r->head != r->pub) {
		(void)shmkit_ring_flush(r);
	}
	struct r_addr *a = &r->s->addr[r->role == SHMKIT_RING_PRODUCER ? 0 : 1];
	if (r->fd >= 0) {
		atomic_store_explicit(&a->len, 0, memory_order_release);
	}
	atomic_compare_exchange_strong_explicit(owner_of(r, r->role), &tok, 0, memory_order_release,
						memory_order_relaxed);
	r->role = SHMKIT_RING_NONE;
}

/* ---------------------------------------------------------------------- */
/* Create, open, close.                                                    */

static int
finish_open(shmkit_ring **out, shmkit_ring *r, int role)
{
	if (role != SHMKIT_RING_NONE) {
		int rc = shmkit_ring_attach(r, role);
		if (rc != 0) {
			return rc;
		}
	}
	*out = r;
	return 0;
}

SHMKIT_API int
shmkit_ring_create(shmkit_ring **out, const char *spec, const shmkit_ring_opts *opts, int role)
{
	shmkit_ring_opts o;
	if (out == NULL || spec == NULL || role < SHMKIT_RING_NONE || role > SHMKIT_RING_CONSUMER) {
		return -EINVAL;
	}
	if (opts != NULL) {
		o = *opts;
	} else {
		shmkit_ring_opts_init(&o);
	}
	if (o.max_msg_size == 0 && !(o.flags & SHMKIT_RING_BYTES)) {
		o.max_msg_size = o.capacity / 2;
	}
	int rc = shape_ok(o.capacity, o.max_msg_size, o.flags);
	if (rc != 0 || o.mode > 0777) {
		return -EINVAL;
	}
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.size = DATA_OFF + o.capacity;
	so.kind = SHMKIT_KIND_RING;
	so.mode = o.mode;
	shmkit_segment *seg;
	if ((rc = shmkit_segment_create(&seg, spec, &so)) != 0) {
		return rc;
	}
	shmkit_ring *r = handle_new(seg);
	if (r == NULL) {
		shmkit_segment_destroy(seg);
		return -ENOMEM;
	}
	set_shape(r, o.capacity, o.max_msg_size, o.flags);
	struct r_meta *m = &r->s->meta;
	m->magic = R_MAGIC;
	m->layout = R_LAYOUT;
	m->capacity = r->cap;
	m->max_msg_size = r->max_msg;
	m->flags = r->flags;
	/* Pairs with the acquire load in wait_ready(). */
	atomic_store_explicit(&m->ready, R_MAGIC, memory_order_release);
	if ((rc = finish_open(out, r, role)) != 0) {
		shmkit_segment_destroy(seg);
		free(r);
	}
	return rc;
}

/* Wait (bounded) for the creator, then check the shape once from a copy. */
static int
wait_ready(shmkit_ring *r)
{
	if (shmkit_segment_size(r->seg) < DATA_OFF) {
		return -EBADMSG;
	}
	/* Bounded: a creator that died before it was done gives -EOWNERDEAD. */
	int rc = shmkit__wait_inner_ready(&r->s->meta.ready, R_MAGIC, r->seg, READY_WAIT_NS);
	if (rc != 0) {
		return rc;
	}
	struct r_meta mc;
	memcpy(&mc, &r->s->meta, sizeof(mc));
	if (mc.magic != R_MAGIC) {
		return -EBADMSG;
	}
	if (mc.layout != R_LAYOUT) {
		return -EPROTO;
	}
	if (shape_ok(mc.capacity, mc.max_msg_size, mc.flags) != 0 ||
	    (mc.flags & SHMKIT_RING_BYTES ? mc.max_msg_size != mc.capacity : 0) ||
	    DATA_OFF + mc.capacity > shmkit_segment_size(r->seg)) {
		return -EBADMSG;
	}
	set_shape(r, mc.capacity, mc.max_msg_size, mc.flags);
	return 0;
}

SHMKIT_API int
shmkit_ring_open(shmkit_ring **out, const char *spec, int role)
{
	if (out == NULL || spec == NULL || role < SHMKIT_RING_NONE || role > SHMKIT_RING_CONSUMER) {
		return -EINVAL;
	}
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.kind = SHMKIT_KIND_RING;
	shmkit_segment *seg;
	int rc = shmkit_segment_open(&seg, spec, &so);
	if (rc != 0) {
		return rc;
	}
	shmkit_ring *r = handle_new(seg);
	if (r == NULL) {
		shmkit_segment_close(seg);
		return -ENOMEM;
	}
	if ((rc = wait_ready(r)) != 0 || (rc = finish_open(out, r, role)) != 0) {
		shmkit_segment_close(seg);
		free(r);
	}
	return rc;
}

SHMKIT_API int
shmkit_ring_open_or_create(shmkit_ring **out, const char *spec, const shmkit_ring_opts *opts,
			   int role)
{
	int rc = -EAGAIN;
	/* Bounded: each round loses a race to a creator or a remover. */
	for (int round = 0; round < 64; round++) {
		rc = shmkit_ring_open(out, spec, role);
		if (rc != -ENOENT) {
			return rc;
		}
		rc = shmkit_ring_create(out, spec, opts, role);
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
handle_free(shmkit_ring *r)
{
	if (r->fd >= 0) {
		close(r->fd);
	}
	if (r->tx >= 0) {
		close(r->tx);
	}
	free(r);
}

SHMKIT_API int
shmkit_ring_close(shmkit_ring *r)
{
	if (r == NULL) {
		return 0;
	}
	detach(r);
	int rc = shmkit_segment_close(r->seg);
	handle_free(r);
	return rc;
}

SHMKIT_API int
shmkit_ring_remove(shmkit_ring *r)
{
	if (r == NULL) {
		return -EINVAL;
	}
	detach(r);
	int rc = shmkit_segment_destroy(r->seg);
	handle_free(r);
	return rc;
}

SHMKIT_API int
shmkit_ring_set_wait(shmkit_ring *r, int strategy)
{
	if (r == NULL || strategy < SHMKIT_RING_WAIT_DEFAULT || strategy > SHMKIT_RING_WAIT_SLEEP) {
		return -EINVAL;
	}
	r->wait = strategy;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Waking and waiting.                                                     */

/* Send one datagram to the peer's notification socket, if it has one. */
static void
notify_fd(shmkit_ring *r, const struct r_addr *a)
{
	uint32_t len = atomic_load_explicit(&a->len, memory_order_acquire);
	struct sockaddr_un sa;
	/* Only an autobound abstract name passes: "\0" and hex digits. */
	if (len < 2 || len > sizeof(a->name)) {
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, a->name, len);
	if (sa.sun_path[0] != '\0') {
		return;
	}
	for (uint32_t i = 1; i < len; i++) {
		char c = sa.sun_path[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return;
		}
	}
	if (r->tx < 0) {
		r->tx = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (r->tx < 0) {
			return;
		}
	}
	/* Best effort: a full socket is already readable; a gone one needs
	 * nothing. */
	(void)sendto(r->tx, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
}

/*
 * After a store of our position (seq_cst), wake the peer if it said it
 * sleeps: it set @want (seq_cst) before it looked at our position again, so
 * either it saw the store or we see the bit.
 */
static void
wake_peer(shmkit_ring *r, _Atomic uint32_t *want, _Atomic uint32_t *wake, const struct r_addr *a)
{
	if (atomic_load_explicit(want, memory_order_seq_cst) == 0) {
		return;
	}
	uint32_t w = atomic_exchange_explicit(want, 0, memory_order_seq_cst);
	if (w & WANT_FUTEX) {
		atomic_fetch_add_explicit(wake, 1, memory_order_seq_cst);
		shmkit__futex_wake(wake, 1);
	}
	if (w & WANT_FD) {
		notify_fd(r, a);
	}
}

static void
wake_consumer(shmkit_ring *r)
{
	wake_peer(r, &r->s->prod.want, &r->s->prod.wake, &r->s->addr[1]);
}

static void
wake_producer(shmkit_ring *r)
{
	wake_peer(r, &r->s->cons.want, &r->s->cons.wake, &r->s->addr[0]);
}

/* Is there something for us? For the consumer: the producer's @head moved,
 * or the stream ended; for the producer: the consumer's @tail moved. */
static int
moved(shmkit_ring *r)
{
	/* seq_cst (a plain load on x86): the second half of the sleep
	 * protocol's Dekker pair (see wait_moved(), wake_peer()). */
	if (r->role == SHMKIT_RING_CONSUMER) {
		return atomic_load_explicit(&r->s->prod.head, memory_order_seq_cst) !=
			       r->head_seen ||
		       atomic_load_explicit(&r->s->prod.eof, memory_order_seq_cst) != 0;
	}
	return atomic_load_explicit(&r->s->cons.tail, memory_order_seq_cst) != r->tail_seen;
}

/* Is the peer's holder dead? Then free its role (once) and say so. */
static int
peer_check(shmkit_ring *r)
{
	int peer = r->role == SHMKIT_RING_PRODUCER ? SHMKIT_RING_CONSUMER : SHMKIT_RING_PRODUCER;
	_Atomic uint32_t *owner = owner_of(r, peer);
	uint32_t cur = atomic_load_explicit(owner, memory_order_acquire);
	if (cur == 0 || !shmkit__token_dead(cur)) {
		return 0;
	}
	if (atomic_compare_exchange_strong_explicit(owner, &cur, 0, memory_order_acq_rel,
						    memory_order_relaxed)) {
		return -ECONNRESET;
	}
	return 0;
}

/*
 * Wait until moved(), by the endpoint's strategy. Return 0, -EAGAIN
 * (NOWAIT), -ETIMEDOUT, -EINTR (INTERRUPTIBLE), -ECONNRESET.
 */
static int
wait_moved(shmkit_ring *r, unsigned flags, const struct timespec *deadline)
{
	if (flags & SHMKIT_RING_F_NOWAIT) {
		return -EAGAIN;
	}
	int consumer = r->role == SHMKIT_RING_CONSUMER;
	_Atomic uint32_t *want = consumer ? &r->s->prod.want : &r->s->cons.want;
	_Atomic uint32_t *wake = consumer ? &r->s->prod.wake : &r->s->cons.wake;
	int64_t now = shmkit__monotonic_ns();
	int64_t spin_until = r->wait == SHMKIT_RING_WAIT_SPIN    ? INT64_MAX
			     : r->wait == SHMKIT_RING_WAIT_SLEEP ? now
								 : now + SPIN_NS;
	int64_t next_check = now + SLICE_NS;
	for (uint32_t n = 1; spin_until > now; n++) {
		if (moved(r)) {
			return 0;
		}
		if ((n & 63) == 0) {
			/* The clock is read every 64 rounds only: it is the costly part. */
			now = shmkit__monotonic_ns();
			if (shmkit__ts_passed(deadline)) {
				return -ETIMEDOUT;
			}
			if (now >= next_check) {
				int rc = peer_check(r);
				if (rc != 0) {
					return rc;
				}
				next_check = now + SLICE_NS;
			}
			if (now >= spin_until) {
				break;
			}
			if ((n % YIELD_ROUNDS) == 0) {
				sched_yield();
			}
		}
		shmkit__cpu_relax();
	}
	for (;;) {
		uint32_t seen = atomic_load_explicit(wake, memory_order_seq_cst);
		/* Our bit, then our look at the peer's position, both
		 * seq_cst: see wake_peer(). */
		atomic_fetch_or_explicit(want, WANT_FUTEX, memory_order_seq_cst);
		if (moved(r)) {
			atomic_fetch_and_explicit(want, ~WANT_FUTEX, memory_order_relaxed);
			return 0;
		}
		struct timespec until;
		shmkit__ts_slice(&until, deadline, SLICE_NS);
		int rc = shmkit__futex_wait(wake, seen, &until);
		atomic_fetch_and_explicit(want, ~WANT_FUTEX, memory_order_relaxed);
		if (moved(r)) {
			return 0;
		}
		if (rc == -EINTR && (flags & SHMKIT_RING_F_INTERRUPTIBLE)) {
			return -EINTR;
		}
		if (shmkit__ts_passed(deadline)) {
			return -ETIMEDOUT;
		}
		if ((rc = peer_check(r)) != 0) {
			return rc;
		}
	}
}

/* ---------------------------------------------------------------------- */
/* Producer.                                                               */

/* Make room for @need bytes at r->head: 0, or an error of wait_moved(). */
static int
room_for(shmkit_ring *r, uint64_t need, unsigned flags, const struct timespec *deadline)
{
	for (;;) {
		if (r->head + need - r->tail_seen <= r->cap) {
			return 0;
		}
		uint64_t tail = atomic_load_explicit(&r->s->cons.tail, memory_order_acquire);
		/* The consumer's word is untrusted: it may not pass what was
		 * published, nor lag by more than the ring. */
		if (r->pub - tail > r->cap || (!is_bytes(r) && (tail & 7) != 0)) {
			return -EBADMSG;
		}
		if (tail != r->tail_seen) {
			r->tail_seen = tail;
			continue;
		}
		/* Publish what waits (a batch, a pad) before sleeping on a
		 * consumer that may be waiting for it. */
		if (r->head != r->pub) {
			shmkit_ring_flush(r);
		}
		int rc = wait_moved(r, flags, deadline);
		if (rc != 0) {
			return rc;
		}
	}
}

static int
producer_check(const shmkit_ring *r)
{
	return r == NULL ? -EINVAL : !holds(r, SHMKIT_RING_PRODUCER) ? -EPERM : 0;
}

SHMKIT_API ssize_t
shmkit_ring_reserve(shmkit_ring *r, size_t len, void **data, unsigned flags,
		    const struct timespec *deadline)
{
	int rc = producer_check(r);
	if (rc != 0) {
		return rc;
	}
	if (data == NULL || (flags & ~(SHMKIT_RING_F_NOWAIT | SHMKIT_RING_F_INTERRUPTIBLE)) != 0 ||
	    shmkit__ts_check(deadline) != 0 || (is_bytes(r) && len == 0)) {
		return -EINVAL;
	}
	if (len > r->max_msg && !is_bytes(r)) {
		return -EMSGSIZE;
	}
	if (is_bytes(r)) {
		if ((rc = room_for(r, 1, flags, deadline)) != 0) {
			return rc;
		}
		uint64_t off = r->head & r->mask;
		uint64_t n = r->cap - (r->head - r->tail_seen);
		n = n < r->cap - off ? n : r->cap - off;
		n = n < len ? n : len;
		r->resv_pos = r->head;
		r->resv_len = n + 1;
		*data = r->bytes + off;
		return (ssize_t)n;
	}
	uint64_t rec = REC_HDR + align8(len);
	for (;;) {
		uint64_t off = r->head & r->mask;
		if (off + rec <= r->cap) {
			if ((rc = room_for(r, rec, flags, deadline)) != 0) {
				return rc;
			}
			break;
		}
		/* It does not fit before the end: pad to the end, go on at 0. */
		uint64_t pad = r->cap - off;
		if ((rc = room_for(r, pad, flags, deadline)) != 0) {
			return rc;
		}
		uint32_t hdr[2] = {(uint32_t)(pad - REC_HDR), tag_at(TAG_PAD, r->head)};
		memcpy(r->bytes + off, hdr, sizeof(hdr));
		SHMKIT_CRASHPOINT("ring_after_pad");
		r->head += pad;
	}
	r->resv_pos = r->head;
	r->resv_len = len + 1;
	*data = r->bytes + (r->head & r->mask) + REC_HDR;
	return (ssize_t)len;
}

SHMKIT_API int
shmkit_ring_flush(shmkit_ring *r)
{
	int rc = producer_check(r);
	if (rc != 0) {
		return rc;
	}
	if (r->head == r->pub) {
		return 0;
	}
	SHMKIT_CRASHPOINT("ring_before_publish");
	/* The commit point: the records before @head are visible whole. */
	atomic_store_explicit(&r->s->prod.head, r->head, memory_order_seq_cst);
	r->pub = r->head;
	SHMKIT_CRASHPOINT("ring_after_publish");
	uint64_t sent = atomic_load_explicit(&r->s->prod.sent, memory_order_relaxed);
	atomic_store_explicit(&r->s->prod.sent, sent + r->unpub, memory_order_relaxed);
	r->unpub = 0;
	wake_consumer(r);
	return 0;
}

SHMKIT_API int
shmkit_ring_commit(shmkit_ring *r, size_t len, unsigned flags)
{
	int rc = producer_check(r);
	if (rc != 0) {
		return rc;
	}
	if (r->resv_len == 0 || len > r->resv_len - 1 || (flags & ~SHMKIT_RING_F_MORE) != 0) {
		return -EINVAL;
	}
	if (is_bytes(r)) {
		r->head = r->resv_pos + len;
		r->unpub += len;
	} else {
		uint32_t hdr[2] = {(uint32_t)len, tag_at(TAG_MSG, r->resv_pos)};
		memcpy(r->bytes + (r->resv_pos & r->mask), hdr, sizeof(hdr));
		r->head = r->resv_pos + REC_HDR + align8(len);
		r->unpub++;
	}
	r->resv_len = 0;
	SHMKIT_CRASHPOINT("ring_after_commit");
	return flags & SHMKIT_RING_F_MORE ? 0 : shmkit_ring_flush(r);
}

SHMKIT_API int
shmkit_ring_send(shmkit_ring *r, const void *data, size_t len, unsigned flags,
		 const struct timespec *deadline)
{
	void *p;
	if (r != NULL && is_bytes(r)) {
		return -EINVAL; /* shmkit_ring_write() */
	}
	if (data == NULL && len != 0) {
		return -EINVAL;
	}
	ssize_t n = shmkit_ring_reserve(r, len, &p, flags, deadline);
	if (n < 0) {
		return (int)n;
	}
	if (len != 0) {
		memcpy(p, data, len);
	}
	SHMKIT_CRASHPOINT("ring_after_write");
	return shmkit_ring_commit(r, len, 0);
}

SHMKIT_API ssize_t
shmkit_ring_write(shmkit_ring *r, const void *data, size_t len, unsigned flags,
		  const struct timespec *deadline)
{
	int rc = producer_check(r);
	if (rc != 0) {
		return rc;
	}
	if (!is_bytes(r) || (data == NULL && len != 0)) {
		return -EINVAL;
	}
	size_t done = 0;
	while (done < len) {
		void *p;
		ssize_t n = shmkit_ring_reserve(r, len - done, &p, flags, deadline);
		if (n < 0) {
			/* room_for() published what was written before it gave up. */
			return done > 0 ? (ssize_t)done : n;
		}
		memcpy(p, (const unsigned char *)data + done, (size_t)n);
		done += (size_t)n;
		/* Publish at the end, or when the ring is full (room_for()). */
		(void)shmkit_ring_commit(r, (size_t)n, done < len ? SHMKIT_RING_F_MORE : 0);
	}
	return (ssize_t)done;
}

SHMKIT_API int
shmkit_ring_shutdown(shmkit_ring *r)
{
	int rc = producer_check(r);
	if (rc != 0) {
		return rc;
	}
	shmkit_ring_flush(r);
	/* After @head: a consumer that sees @eof sees everything before it. */
	atomic_store_explicit(&r->s->prod.eof, 1, memory_order_seq_cst);
	wake_consumer(r);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Consumer.                                                               */

static int
consumer_check(const shmkit_ring *r)
{
	return r == NULL ? -EINVAL : !holds(r, SHMKIT_RING_CONSUMER) ? -EPERM : 0;
}

/* Load the producer's @head and check it against what we hold. */
static int
load_head(shmkit_ring *r)
{
	/* seq_cst: shmkit_ring_arm() relies on it (a plain load on x86). */
	uint64_t head = atomic_load_explicit(&r->s->prod.head, memory_order_seq_cst);
	if (head - r->tail > r->cap || head - r->rd > r->cap || (!is_bytes(r) && (head & 7) != 0)) {
		return -EBADMSG;
	}
	r->head_seen = head;
	return 0;
}

/* Wait until something lies past r->rd: 0, -EPIPE (shut down, all read). */
static int
data_ready(shmkit_ring *r, unsigned flags, const struct timespec *deadline)
{
	for (;;) {
		if (r->rd != r->head_seen) {
			return 0;
		}
		/* @eof before @head: if the stream ended, @head is final. */
		int eof = atomic_load_explicit(&r->s->prod.eof, memory_order_acquire) != 0;
		int rc = load_head(r);
		if (rc != 0) {
			return rc;
		}
		if (r->rd != r->head_seen) {
			return 0;
		}
		if (eof) {
			return -EPIPE;
		}
		if ((rc = wait_moved(r, flags, deadline)) != 0) {
			return rc;
		}
	}
}

static void
publish_tail(shmkit_ring *r, uint64_t tail, uint64_t count)
{
	SHMKIT_CRASHPOINT("ring_before_release");
	/* The commit point of a release: the room is the producer's again. */
	atomic_store_explicit(&r->s->cons.tail, tail, memory_order_seq_cst);
	r->tail = tail;
	SHMKIT_CRASHPOINT("ring_after_release");
	uint64_t got = atomic_load_explicit(&r->s->cons.received, memory_order_relaxed);
	atomic_store_explicit(&r->s->cons.received, got + count, memory_order_relaxed);
	wake_producer(r);
}

/*
 * The record at @pos (< r->head_seen), read once and checked. Return 0 and
 * its length and next position, 1 for a pad (next position set), -EBADMSG.
 */
static int
record_at(const shmkit_ring *r, uint64_t pos, uint64_t head, uint64_t *len, uint64_t *next)
{
	uint64_t off = pos & r->mask;
	uint32_t hdr[2];
	memcpy(hdr, (const void *)(r->bytes + off), sizeof(hdr));
	if (hdr[1] == tag_at(TAG_PAD, pos)) {
		*next = pos + (r->cap - off);
		return hdr[0] == r->cap - off - REC_HDR && *next <= head ? 1 : -EBADMSG;
	}
	if (hdr[1] != tag_at(TAG_MSG, pos) || hdr[0] > r->max_msg) {
		return -EBADMSG;
	}
	*len = hdr[0];
	*next = pos + REC_HDR + align8(hdr[0]);
	if (*next > head || off + REC_HDR + hdr[0] > r->cap) {
		return -EBADMSG;
	}
	return 0;
}

SHMKIT_API ssize_t
shmkit_ring_peek(shmkit_ring *r, const void **data, unsigned flags, const struct timespec *deadline)
{
	int rc = consumer_check(r);
	if (rc != 0) {
		return rc;
	}
	if (data == NULL || (flags & ~(SHMKIT_RING_F_NOWAIT | SHMKIT_RING_F_INTERRUPTIBLE)) != 0 ||
	    shmkit__ts_check(deadline) != 0) {
		return -EINVAL;
	}
	for (;;) {
		if ((rc = data_ready(r, flags, deadline)) != 0) {
			return rc;
		}
		uint64_t off = r->rd & r->mask;
		if (is_bytes(r)) {
			uint64_t n = r->head_seen - r->rd;
			n = n < r->cap - off ? n : r->cap - off;
			*data = r->bytes + off;
			r->rd += n;
			r->npeeked += n;
			return (ssize_t)n;
		}
		uint64_t len = 0, next;
		rc = record_at(r, r->rd, r->head_seen, &len, &next);
		if (rc < 0) {
			return rc;
		}
		r->rd = next;
		if (rc == 1) {
			/* A pad: hand it back at once unless messages before it
			 * are still held (they release it with them). */
			if (r->npeeked == 0) {
				publish_tail(r, r->rd, 0);
			}
			continue;
		}
		r->npeeked++;
		*data = r->bytes + off + REC_HDR;
		SHMKIT_CRASHPOINT("ring_after_peek");
		return (ssize_t)len;
	}
}

SHMKIT_API int
shmkit_ring_release(shmkit_ring *r, size_t n)
{
	int rc = consumer_check(r);
	if (rc != 0) {
		return rc;
	}
	if (n == SIZE_MAX || n == r->npeeked) {
		n = (size_t)r->npeeked;
		if (n == 0 && r->tail == r->rd) {
			return 0;
		}
		r->npeeked = 0;
		publish_tail(r, r->rd, n);
		return 0;
	}
	if (n > r->npeeked) {
		return -EINVAL;
	}
	if (n == 0) {
		return 0;
	}
	uint64_t pos = r->tail;
	if (is_bytes(r)) {
		pos += n;
	} else {
		/* Walk @n messages (and the pads between them) from @tail. */
		for (size_t k = 0; k < n;) {
			uint64_t len, next;
			rc = record_at(r, pos, r->rd, &len, &next);
			if (rc < 0) {
				return rc;
			}
			pos = next;
			k += rc == 0;
		}
	}
	r->npeeked -= n;
	publish_tail(r, pos, n);
	return 0;
}

SHMKIT_API ssize_t
shmkit_ring_recv(shmkit_ring *r, void *buf, size_t cap, unsigned flags,
		 const struct timespec *deadline)
{
	const void *p;
	int rc = consumer_check(r);
	if (rc != 0) {
		return rc;
	}
	if (is_bytes(r) || (buf == NULL && cap != 0)) {
		return -EINVAL;
	}
	if (r->npeeked != 0) {
		return -EBUSY; /* release what was peeked first: order */
	}
	ssize_t n = shmkit_ring_peek(r, &p, flags, deadline);
	if (n < 0) {
		return n;
	}
	if ((size_t)n > cap) {
		/* It stays: the next peek or recv sees it again. */
		/* Back to the message: @tail, since nothing was peeked before
		 * (a pad skipped on the way may have moved it past @rd). */
		r->rd = r->tail;
		r->npeeked = 0;
		return -EMSGSIZE;
	}
	if (n > 0) {
		memcpy(buf, p, (size_t)n);
	}
	SHMKIT_CRASHPOINT("ring_after_copy");
	r->npeeked = 0;
	publish_tail(r, r->rd, 1);
	return n;
}

SHMKIT_API ssize_t
shmkit_ring_read(shmkit_ring *r, void *buf, size_t cap, unsigned flags,
		 const struct timespec *deadline)
{
	int rc = consumer_check(r);
	if (rc != 0) {
		return rc;
	}
	if (!is_bytes(r) || (buf == NULL && cap != 0) ||
	    (flags & ~(SHMKIT_RING_F_NOWAIT | SHMKIT_RING_F_INTERRUPTIBLE)) != 0 ||
	    shmkit__ts_check(deadline) != 0) {
		return -EINVAL;
	}
	if (r->npeeked != 0) {
		return -EBUSY; /* release what was peeked first: order */
	}
	if (cap == 0) {
		return 0;
	}
	if ((rc = data_ready(r, flags, deadline)) != 0) {
		return rc == -EPIPE ? 0 : rc;
	}
	uint64_t avail = r->head_seen - r->rd;
	size_t n = avail < cap ? (size_t)avail : cap;
	uint64_t off = r->rd & r->mask;
	size_t first = n < r->cap - off ? n : (size_t)(r->cap - off);
	memcpy(buf, r->bytes + off, first);
	memcpy((unsigned char *)buf + first, r->bytes, n - first);
	r->rd += n;
	publish_tail(r, r->rd, n);
	return (ssize_t)n;
}

/* ---------------------------------------------------------------------- */
/* Event loops.                                                            */

SHMKIT_API int
shmkit_ring_fd(shmkit_ring *r)
{
	if (r == NULL) {
		return -EINVAL;
	}
	if (!holds(r, SHMKIT_RING_PRODUCER) && !holds(r, SHMKIT_RING_CONSUMER)) {
		return -EPERM;
	}
	if (r->fd >= 0) {
		return r->fd;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	/* Autobind: the kernel picks a free abstract name, so none can be
	 * squatted, and it vanishes with the socket (nothing left after a
	 * crash). */
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	socklen_t sl = sizeof(sa_family_t);
	if (bind(fd, (struct sockaddr *)&sa, sl) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	sl = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	size_t len = sl - offsetof(struct sockaddr_un, sun_path);
	struct r_addr *a = &r->s->addr[r->role == SHMKIT_RING_PRODUCER ? 0 : 1];
	if (len < 2 || len > sizeof(a->name)) {
		close(fd);
		return -EADDRNOTAVAIL;
	}
	memcpy(a->name, sa.sun_path, len);
	/* After @name: pairs with the acquire load in notify_fd(). */
	atomic_store_explicit(&a->len, (uint32_t)len, memory_order_release);
	r->fd = fd;
	return fd;
}

SHMKIT_API int
shmkit_ring_arm(shmkit_ring *r)
{
	int fd = shmkit_ring_fd(r);
	if (fd < 0) {
		return fd;
	}
	char junk[64];
	while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) >= 0) {
		/* Drain the notifications already taken into account. */
	}
	int consumer = r->role == SHMKIT_RING_CONSUMER;
	_Atomic uint32_t *want = consumer ? &r->s->prod.want : &r->s->cons.want;
	/* As in wait_moved(): the bit, then seq_cst looks. */
	atomic_fetch_or_explicit(want, WANT_FD, memory_order_seq_cst);
	if (consumer) {
		int rc = load_head(r);
		if (rc != 0) {
			return rc;
		}
		if (r->rd != r->head_seen ||
		    atomic_load_explicit(&r->s->prod.eof, memory_order_seq_cst) != 0) {
			atomic_fetch_and_explicit(want, ~WANT_FD, memory_order_relaxed);
			return 1;
		}
		return 0;
	}
	uint64_t tail = atomic_load_explicit(&r->s->cons.tail, memory_order_seq_cst);
	if (tail != r->tail_seen || r->head - tail < r->cap) {
		atomic_fetch_and_explicit(want, ~WANT_FD, memory_order_relaxed);
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Stats.                                                                  */

static void
holder(uint32_t tok, int32_t *pid, int32_t *alive)
{
	pid_t p = 0;
	if (tok == 0) {
		*pid = 0;
		*alive = -1;
		return;
	}
	*alive = shmkit__token_dead(tok) ? 0 : 1;
	*pid = shmkit__token_pid(tok, &p) == 0 ? (int32_t)p : -1;
}

SHMKIT_API int
shmkit_ring_stat(shmkit_ring *r, shmkit_ring_info *info)
{
	if (r == NULL || info == NULL) {
		return -EINVAL;
	}
	memset(info, 0, sizeof(*info));
	uint64_t head, tail;
	int rc = positions(r, &head, &tail);
	if (rc != 0) {
		return rc;
	}
	info->capacity = r->cap;
	info->max_msg_size = r->max_msg;
	info->flags = r->flags;
	info->eof = atomic_load_explicit(&r->s->prod.eof, memory_order_acquire) != 0;
	info->used = head - tail;
	info->sent = atomic_load_explicit(&r->s->prod.sent, memory_order_relaxed);
	info->received = atomic_load_explicit(&r->s->cons.received, memory_order_relaxed);
	if (!is_bytes(r)) {
		/* Count the records; a consumer may release meanwhile, so a
		 * record that no longer checks ends the count, not the call. */
		for (uint64_t pos = tail; pos != head;) {
			uint64_t len, next;
			int k = record_at(r, pos, head, &len, &next);
			if (k < 0) {
				break;
			}
			info->messages += k == 0;
			pos = next;
		}
	}
	holder(atomic_load_explicit(&r->s->prod.owner, memory_order_acquire), &info->producer_pid,
	       &info->producer_alive);
	holder(atomic_load_explicit(&r->s->cons.owner, memory_order_acquire), &info->consumer_pid,
	       &info->consumer_alive);
	info->consumer_sleeping =
		(atomic_load_explicit(&r->s->prod.want, memory_order_relaxed) & WANT_FUTEX) != 0;
	info->producer_sleeping =
		(atomic_load_explicit(&r->s->cons.want, memory_order_relaxed) & WANT_FUTEX) != 0;
	return 0;
}
