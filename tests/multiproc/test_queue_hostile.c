/* SPDX-License-Identifier: MIT */
/* T10: a hostile process flips bytes of a queue's indices and lengths while others use it. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "queue/queue_impl.h"

/*
 * A small queue holds a few messages. Two workers (helpers that open it by
 * name) run mixed operations in a loop: NOWAIT sends and receives of every
 * selection kind, MSG_COPY, reserve + commit/abort, receive loans, stat,
 * the sweep, and blocking receives and sends with a deadline of a few
 * milliseconds. Meanwhile a third helper, the hostile one, writes into the
 * queue's control block, hot counters and index, wake-up words, buckets,
 * whatever lies between the buckets and the descriptors, and descriptors:
 * bit flips, random bytes, the top bit, links set to a small index or NIL.
 *
 * It never writes the queue's mutex (offsets 64..127): a garbage lock word
 * is the mutex's business (test_sync), and a word naming a live owner
 * would only make every caller wait for that owner. Nor the meta block,
 * which is read once at open (T08, and the fuzzer's open mode, T09).
 *
 * Two storms:
 *   - indices: only what the library derives from the descriptors (the
 *     counters, the queue order, the buckets, the free list, the bitmap)
 *     is overwritten, and left overwritten. The truth is never touched, so
 *     once the storm is over the queue must work again, possibly after the
 *     library rebuilt its index (shmkit_queue_info.repairs).
 *   - everything: any byte from the control block up to the payloads. The
 *     truth (the descriptors' own fields, next_seq, the control block:
 *     permissions, limit, removal) is changed only for a few microseconds
 *     and then put back, unless the library wrote it meanwhile: a glitch
 *     that races with the workers, as a torn or stray write would. The
 *     rest is changed for good. Once the storm is over the queue either
 *     works or fails cleanly with -EBADMSG, -ENOTRECOVERABLE or -EIDRM.
 *
 * In both, every call returns a result its header documents (plus -EBADMSG
 * for a corrupted queue and -ENOTRECOVERABLE from a poisoned lock), a
 * received message fits the buffer and the message size, a loan lends
 * bytes that can be read and written, stat shows counts within the
 * limits, no helper dies by a signal, and every call returns (a per-call
 * alarm in the helpers, a bound on the helpers' run in the case, and the
 * case's own watchdog).
 *
 * The seed is printed; SHMKIT_HOSTILE_SEED=N replays a storm's choices
 * (not its timing), SHMKIT_HOSTILE_MS sets its length (default 2500 ms).
 */

#define MAX_MSGS     8u
#define MAX_MSG_SIZE 64u
#define MAX_BYTES    512u
#define NWORKERS     2

/* Offsets of fields inside the sections (docs/QUEUE.md section 1 gives the
 * sections; the fields are those of the structs in src/queue/queue.c). */
enum {
	CTL_REMOVED = 8,
	CTL_PERM_SEL = 12,
	CTL_PERM0 = 16, /* the byte limit of the first copy of the permissions */
	HOT_NEXT_SEQ = 0,
	HOT_QBYTES = 8,
	HOT_USED_BYTES = 16,
	HOT_BITMAP = 24,
	HOT_QNUM = 32,
	HOT_USED_MSGS = 36,
	HOT_HEAD = 40,
	HOT_TAIL = 44,
	HOT_FREE = 48,
	D_STATE = 0,
	D_OWNER = 4,
	D_GEN = 8,
	D_LEN = 12,
	D_TYPE = 16,
	D_SEQ = 24,
	D_NEXT = 40,
	D_PREV = 44,
	D_TNEXT = 48,
	D_TPREV = 52,
};

#define NIL 0xffffffffu

/* splitmix64 */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
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

/* A helper process's handle, closed at exit whatever path the helper took. */
static shmkit_queue *child_q;

static void
close_child_q(void)
{
	shmkit_queue_close(child_q);
	child_q = NULL;
}

/* ---- the hostile helper ---- */

struct target {
	size_t off;  /* from the start of the data area */
	size_t size; /* 1, 4 or 8 */
	int truth;   /* not derived from the descriptors: flipped back */
	int link;    /* a descriptor index or NIL */
};

/* A field to hit: mostly the ones that the code indexes and sizes with. */
static struct target
pick_target(const struct shmkit__queue_offsets *o, int everything, uint64_t *r)
{
	static const uint8_t dlinks[] = {D_NEXT, D_PREV, D_TNEXT, D_TPREV};
	static const uint8_t dtruth[] = {D_STATE, D_OWNER, D_GEN, D_LEN, D_TYPE, D_SEQ};
	static const uint8_t hcount[] = {HOT_QBYTES, HOT_USED_BYTES, HOT_BITMAP, HOT_QNUM,
					 HOT_USED_MSGS};
	static const uint8_t hlinks[] = {HOT_HEAD, HOT_TAIL, HOT_FREE};
	struct target t = {0, 4, 0, 0};
	uint32_t i = (uint32_t)(rnd(r) % o->nslots);
	switch (rnd(r) % (everything ? 9 : 5)) {
	case 0:
	case 1:
		t.off = o->desc + i * o->desc_size + dlinks[rnd(r) % sizeof(dlinks)];
		t.link = 1;
		break;
	case 2:
		t.off = o->hot + hlinks[rnd(r) % sizeof(hlinks)];
		t.link = 1;
		break;
	case 3:
		t.off = o->hot + hcount[rnd(r) % sizeof(hcount)];
		t.size = t.off == o->hot + HOT_QNUM || t.off == o->hot + HOT_USED_MSGS ? 4 : 8;
		break;
	case 4:
		/* Bucket ends: mostly of the types in use. */
		t.off = o->buckets + 8 * (rnd(r) % 4 == 0 ? rnd(r) % 64 : rnd(r) % 8) +
			4 * (rnd(r) % 2);
		t.link = 1;
		break;
	case 5:
	case 6: {
		uint8_t f = dtruth[rnd(r) % sizeof(dtruth)];
		t.off = o->desc + i * o->desc_size + f;
		t.size = f == D_TYPE || f == D_SEQ ? 8 : 4;
		t.truth = 1;
		break;
	}
	case 7: {
		/* The removal flag, the permission selector, the byte limit,
		 * the next sequence number. */
		static const size_t f[] = {CTL_REMOVED, CTL_PERM_SEL, CTL_PERM0};
		uint64_t k = rnd(r) % 4;
		t.off = k < 3 ? o->ctl + f[k] : o->hot + HOT_NEXT_SEQ;
		t.size = k < 2 ? 4 : 8;
		t.truth = 1;
		break;
	}
	default:
		/* Any byte from the control block to the payloads; the
		 * control block, next_seq and the descriptors are truth. */
		t.off = o->ctl + (size_t)(rnd(r) % (o->arena - o->ctl));
		t.size = 1;
		t.truth = t.off < o->hot + 8 || t.off >= o->desc;
		break;
	}
	if (t.size == 8 && (t.off % 8) != 0) {
		t.size = 4;
	}
	return t;
}

/* Overwrite @t in @d: a bit, a byte, a small index, NIL, or anything. */
static void
hit(volatile unsigned char *d, const struct target *t, uint32_t nslots, uint64_t *r)
{
	size_t k = rnd(r) % t->size;
	uint32_t v;
	switch (rnd(r) % 6) {
	case 0:
	case 1:
		d[t->off + k] ^= (unsigned char)(1u << (rnd(r) % 8));
		break;
	case 2:
		d[t->off + k] = (unsigned char)rnd(r);
		break;
	case 3:
		v = t->link ? (uint32_t)(rnd(r) % (nslots + 2)) : (uint32_t)(rnd(r) % 17);
		for (size_t b = 0; b < 4 && b < t->size; b++) {
			d[t->off + b] = (unsigned char)(v >> (8 * b));
		}
		break;
	case 4:
		v = t->link ? NIL : (uint32_t)rnd(r);
		for (size_t b = 0; b < 4 && b < t->size; b++) {
			d[t->off + b] = (unsigned char)(v >> (8 * b));
		}
		break;
	default:
		d[t->off + (t->size - 1)] ^= 0x80; /* the top bit: huge or negative */
		break;
	}
}

static uint64_t
load_field(volatile unsigned char *d, const struct target *t)
{
	void *p = (void *)(uintptr_t)(d + t->off);
	switch (t->size) {
	case 1:
		return __atomic_load_n((uint8_t *)p, __ATOMIC_RELAXED);
	case 4:
		return __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED);
	default:
		return __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
	}
}

/* Put @saved back if the field still holds @wrote. Return 1 if it did. */
static int
restore_field(volatile unsigned char *d, const struct target *t, uint64_t wrote, uint64_t saved)
{
	void *p = (void *)(uintptr_t)(d + t->off);
	switch (t->size) {
	case 1: {
		uint8_t w = (uint8_t)wrote;
		return __atomic_compare_exchange_n((uint8_t *)p, &w, (uint8_t)saved, 0,
						   __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	case 4: {
		uint32_t w = (uint32_t)wrote;
		return __atomic_compare_exchange_n((uint32_t *)p, &w, (uint32_t)saved, 0,
						   __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	default:
		return __atomic_compare_exchange_n((uint64_t *)p, &wrote, saved, 0,
						   __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
}

/* argv: flip SPEC SEED MS MODE (MODE 1: everything, 0: the index only) */
CHILD(flip)
{
	shmkit_queue *q;
	if (shmkit_queue_open(&q, argv[1]) != 0) {
		return 10;
	}
	child_q = q;
	atexit(close_child_q);
	uint64_t r = th_parse_u64(argv[2]);
	int64_t end = th_now_ms() + (int64_t)th_parse_u64(argv[3]);
	int everything = th_parse_u64(argv[4]) != 0;
	struct shmkit__queue_offsets o;
	shmkit__queue_offsets(q, &o);
	shmkit_segment *seg;
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.kind = SHMKIT_KIND_ANY;
	if (shmkit_segment_open(&seg, argv[1], &so) != 0) {
		return 11;
	}
	volatile unsigned char *d = shmkit_segment_data(seg);
	unsigned long long flips = 0, glitches = 0;
	while (th_now_ms() < end) {
		for (unsigned burst = 1 + (unsigned)(rnd(&r) % 8); burst > 0; burst--) {
			struct target t = pick_target(&o, everything, &r);
			if (!t.truth) {
				hit(d, &t, (uint32_t)o.nslots, &r);
				flips++;
				continue;
			}
			/* A glitch: the truth is wrong for a moment, then right
			 * again, unless the library wrote it meanwhile (putting
			 * an old next_seq or state back would be a lasting
			 * write of our own). */
			uint64_t saved = load_field(d, &t);
			hit(d, &t, (uint32_t)o.nslots, &r);
			uint64_t wrote = load_field(d, &t);
			for (uint64_t n = rnd(&r) % 4000; n > 0; n--) {
				cpu_relax();
			}
			glitches += restore_field(d, &t, wrote, saved);
		}
		/* Mostly back to back; now and then a pause, so that the
		 * workers also see a queue that stays still for a moment. */
		uint64_t pause = rnd(&r) % 16;
		if (pause == 0) {
			th_sleep_ms(1);
		} else {
			for (uint64_t n = pause * 64; n > 0; n--) {
				cpu_relax();
			}
		}
	}
	shmkit_segment_close(seg);
	th_log("hostile: %llu lasting writes, %llu glitches", flips, glitches);
	return 0;
}

/* ---- the workers ---- */

static const char *volatile cur_op = "none";
static uint64_t worker_seed;

static void
on_alarm(int sig)
{
	(void)sig;
	static const char m[] = "# worker: a call did not return within 10 s: ";
	ssize_t w = write(2, m, sizeof(m) - 1);
	w = write(2, cur_op, strlen(cur_op));
	w = write(2, "\n", 1);
	(void)w;
	_exit(9);
}

/* A result outside the documented set ends the worker with exit 3. */
static void
bad_result(const char *op, long long v)
{
	char b[160];
	th_log("worker (seed %#llx): %s returned %s, outside its documented results",
	       (unsigned long long)worker_seed, op, th_errdesc(v, b, sizeof(b)));
	th_exit(3);
}

#define EXPECT(op, v, ...)                                                                         \
	do {                                                                                       \
		const long long ok_[] = {__VA_ARGS__};                                             \
		long long v_ = (long long)(v);                                                     \
		if (!th_in_list_(v_, ok_, sizeof(ok_) / sizeof(ok_[0]))) {                         \
			bad_result((op), v_);                                                      \
		}                                                                                  \
	} while (0)

/* What any locked call may report about the queue itself. */
#define E_LOCKED -EBADMSG, -EIDRM, -EACCES, -ENOTRECOVERABLE

struct tally {
	unsigned long long ops, ok, badmsg, other;
};

static void
count(struct tally *t, long long v)
{
	t->ops++;
	if (v >= 0) {
		t->ok++;
	} else if (v == -EBADMSG) {
		t->badmsg++;
	} else {
		t->other++;
	}
}

static void
check_len(const char *op, ssize_t n, size_t cap)
{
	if (n > (ssize_t)cap || n > (ssize_t)MAX_MSG_SIZE) {
		th_log("worker (seed %#llx): %s: %zd bytes, buffer %zu",
		       (unsigned long long)worker_seed, op, n, cap);
		th_exit(4);
	}
}

/* One operation chosen by @r; @reader weighs receives, else sends. */
static void
one_op(shmkit_queue *q, uint64_t *r, int reader, struct tally *t)
{
	static const long types[] = {1, 2, 3, 5, 70, 1000};
	static const long sel[] = {0, 1, 2, 3, 70, -3, -100, LONG_MIN};
	unsigned char buf[MAX_MSG_SIZE];
	long type = 0;
	ssize_t n;
	int rc;
	struct timespec dl;
	unsigned op = (unsigned)(rnd(r) % 16);
	if (!reader && op >= 9 && op < 14) {
		op -= 9; /* writers send more */
	}
	switch (op) {
	case 0:
	case 1:
	case 3: {
		size_t len = (size_t)(rnd(r) % (MAX_MSG_SIZE + 1));
		th_fill(buf, len, rnd(r));
		cur_op = "send";
		rc = shmkit_queue_send(q, types[rnd(r) % 6], len ? buf : NULL, len,
				       SHMKIT_QUEUE_F_NOWAIT, NULL);
		EXPECT(cur_op, rc, 0, -EAGAIN, E_LOCKED);
		count(t, rc);
		break;
	}
	case 2: {
		cur_op = "reserve";
		shmkit_queue_loan l;
		size_t len = (size_t)(rnd(r) % (MAX_MSG_SIZE + 1));
		rc = shmkit_queue_reserve(q, len, &l, SHMKIT_QUEUE_F_NOWAIT, NULL);
		EXPECT(cur_op, rc, 0, -EAGAIN, E_LOCKED);
		count(t, rc);
		if (rc != 0) {
			break;
		}
		if (l.len != len) {
			bad_result("reserve (length)", (long long)l.len);
		}
		memset(l.data, 0x3c, l.len); /* must be ours to write */
		if (rnd(r) % 4 != 0) {
			cur_op = "commit";
			rc = shmkit_queue_commit(q, &l, types[rnd(r) % 6]);
			EXPECT(cur_op, rc, 0, -ESTALE, -EINVAL, -EIDRM, -EBADMSG, -ENOTRECOVERABLE);
		} else {
			cur_op = "abort";
			rc = shmkit_queue_abort(q, &l);
			EXPECT(cur_op, rc, 0, -EINVAL, -EBADMSG, -ENOTRECOVERABLE);
		}
		count(t, rc);
		break;
	}
	case 4:
	case 8:
	case 9:
	case 10:
	case 11:
	case 12:
	case 13: {
		size_t cap = rnd(r) % 3 == 0 ? 16 : MAX_MSG_SIZE;
		unsigned f = SHMKIT_QUEUE_F_NOWAIT;
		long m = sel[rnd(r) % 8];
		if (m > 0 && rnd(r) % 3 == 0) {
			f |= SHMKIT_QUEUE_F_EXCEPT;
		}
		if (rnd(r) % 4 == 0) {
			f |= SHMKIT_QUEUE_F_NOERROR;
		}
		cur_op = "recv";
		n = shmkit_queue_recv(q, buf, cap, m, &type, f, NULL);
		if (n >= 0) {
			check_len(cur_op, n, cap);
		} else {
			EXPECT(cur_op, n, -ENOMSG, -E2BIG, E_LOCKED);
		}
		count(t, n);
		break;
	}
	case 5:
		cur_op = "recv COPY";
		n = shmkit_queue_recv(q, buf, sizeof(buf), (long)(rnd(r) % 10), &type,
				      SHMKIT_QUEUE_F_NOWAIT | SHMKIT_QUEUE_F_COPY, NULL);
		if (n >= 0) {
			check_len(cur_op, n, sizeof(buf));
		} else {
			EXPECT(cur_op, n, -ENOMSG, -E2BIG, E_LOCKED);
		}
		count(t, n);
		break;
	case 6: {
		cur_op = "recv_loan";
		shmkit_queue_loan l;
		n = shmkit_queue_recv_loan(q, sel[rnd(r) % 8], &l, SHMKIT_QUEUE_F_NOWAIT, NULL);
		count(t, n);
		if (n < 0) {
			EXPECT(cur_op, n, -ENOMSG, E_LOCKED);
			break;
		}
		check_len(cur_op, n, MAX_MSG_SIZE);
		if ((ssize_t)l.len != n) {
			bad_result("recv_loan (length)", (long long)l.len);
		}
		memcpy(buf, l.data, l.len); /* must be readable */
		cur_op = "release";
		rc = shmkit_queue_release(q, &l);
		EXPECT(cur_op, rc, 0, -EINVAL, -EBADMSG, -ENOTRECOVERABLE);
		count(t, rc);
		break;
	}
	case 7: {
		shmkit_queue_info in;
		cur_op = "stat";
		rc = shmkit_queue_stat(q, &in);
		EXPECT(cur_op, rc, 0, E_LOCKED);
		if (rc == 0 &&
		    (in.count > in.max_msgs || in.bytes > (uint64_t)MAX_MSGS * MAX_MSG_SIZE)) {
			th_log("worker: stat: %llu messages, %llu bytes",
			       (unsigned long long)in.count, (unsigned long long)in.bytes);
			th_exit(4);
		}
		count(t, rc);
		cur_op = "sweep";
		rc = shmkit__queue_sweep(q);
		if (rc < 0) {
			EXPECT(cur_op, rc, -EBADMSG, -EIDRM, -ENOTRECOVERABLE);
		}
		count(t, rc);
		break;
	}
	case 14:
		cur_op = "blocking send";
		shmkit_deadline(&dl, (int64_t)(1 + rnd(r) % 20) * 100000);
		rc = shmkit_queue_send(q, types[rnd(r) % 6], buf, 16, 0, &dl);
		EXPECT(cur_op, rc, 0, -ETIMEDOUT, E_LOCKED);
		count(t, rc);
		break;
	default: {
		size_t cap = rnd(r) % 4 == 0 ? 8 : MAX_MSG_SIZE;
		cur_op = "blocking recv";
		shmkit_deadline(&dl, (int64_t)(1 + rnd(r) % 20) * 100000);
		n = shmkit_queue_recv(q, buf, cap, sel[rnd(r) % 8], &type, 0, &dl);
		if (n >= 0) {
			check_len(cur_op, n, cap);
		} else {
			EXPECT(cur_op, n, -ETIMEDOUT, -E2BIG, E_LOCKED);
		}
		count(t, n);
		break;
	}
	}
}

/* argv: work SPEC SEED MS READER READY_FD */
CHILD(work)
{
	shmkit_queue *q;
	if (shmkit_queue_open(&q, argv[1]) != 0) {
		return 10;
	}
	child_q = q;
	atexit(close_child_q);
	worker_seed = th_parse_u64(argv[2]);
	uint64_t r = worker_seed;
	int64_t end = th_now_ms() + (int64_t)th_parse_u64(argv[3]);
	int reader = th_parse_u64(argv[4]) != 0;
	int fd = (int)th_parse_u64(argv[5]);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	char c = 'r';
	if (th_write_all(fd, &c, 1) != 0) {
		return 11;
	}
	struct tally t = {0, 0, 0, 0};
	while (th_now_ms() < end) {
		/* A generous per-call bound: calls take microseconds, blocking
		 * ones their deadline (at most 2 ms) plus a sleep slice. */
		alarm(10);
		one_op(q, &r, reader, &t);
	}
	alarm(0);
	th_log("%s: %llu calls, %llu succeeded, %llu -EBADMSG, %llu other errors",
	       reader ? "reader" : "writer", t.ops, t.ok, t.badmsg, t.other);
	return 0;
}

/* ---- the cases ---- */

static shmkit_queue *
make_q(char *spec, size_t len)
{
	shmkit_queue_opts o;
	shmkit_queue *q;
	shmkit_queue_opts_init(&o);
	o.max_bytes = MAX_BYTES;
	o.max_msg_size = MAX_MSG_SIZE;
	o.max_msgs = MAX_MSGS;
	th_spec(spec, len, "posix");
	ASSERT_OK(shmkit_queue_create(&q, spec, &o));
	return q;
}

static uint64_t
storm_seed(void)
{
	const char *s = getenv("SHMKIT_HOSTILE_SEED");
	if (s != NULL && *s != '\0') {
		return th_parse_u64(s);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
}

static unsigned
storm_ms(void)
{
	const char *s = getenv("SHMKIT_HOSTILE_MS");
	return s != NULL && *s != '\0' ? (unsigned)th_parse_u64(s) : 2500;
}

/* Wait for @pid, at most @ms; a helper still running then is stuck. */
static int
wait_bounded(pid_t pid, int64_t ms, const char *who)
{
	int64_t end = th_now_ms() + ms;
	for (;;) {
		int st;
		pid_t w = waitpid(pid, &st, WNOHANG);
		ASSERT_NE(w, -1);
		if (w == pid) {
			return st;
		}
		if (th_now_ms() > end) {
			kill(pid, SIGKILL);
			th_wait(pid);
			th_fail(__FILE__, __LINE__, "%s did not finish: a call did not return",
				who);
		}
		th_sleep_ms(5);
	}
}

/*
 * After the storm, through the creator's handle: stat, sweep, drain, then
 * a message must go through, unless the queue reports itself corrupted
 * (allowed only after a storm that touched the truth). Return 1 if the
 * queue works.
 */
static int
after_storm(shmkit_queue *q, int must_work)
{
	shmkit_queue_info in;
	char b[160];
	int rc = shmkit_queue_stat(q, &in);
	ASSERT_IN(rc, 0, -EBADMSG, -EIDRM, -ENOTRECOVERABLE);
	if (rc == 0) {
		th_log("after the storm: %llu messages, %llu bytes, %u repairs",
		       (unsigned long long)in.count, (unsigned long long)in.bytes, in.repairs);
		rc = shmkit__queue_sweep(q);
		ASSERT_TRUE(rc >= 0 || rc == -EBADMSG || rc == -ENOTRECOVERABLE);
		rc = rc > 0 ? 0 : rc;
	}
	/* Whatever is left (the storm's messages, maybe garbage) goes. */
	unsigned char buf[MAX_MSG_SIZE];
	for (unsigned k = 0; rc == 0 && k < 4 * MAX_MSGS; k++) {
		ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), 0, NULL,
					      SHMKIT_QUEUE_F_NOWAIT | SHMKIT_QUEUE_F_NOERROR, NULL);
		ASSERT_IN(n < 0 ? n : 0, 0, -ENOMSG, -EBADMSG, -EIDRM, -ENOTRECOVERABLE);
		if (n == -ENOMSG) {
			break;
		}
		rc = n < 0 ? (int)n : 0;
	}
	if (rc == 0) {
		rc = shmkit_queue_stat(q, &in);
		ASSERT_IN(rc, 0, -EBADMSG, -EIDRM, -ENOTRECOVERABLE);
	}
	if (rc == 0) {
		/* The limits are the truth too: only a storm that could flip
		 * them may leave the queue unable to take a full message. */
		ASSERT_EQ(in.count, 0);
		unsigned char msg[MAX_MSG_SIZE];
		th_fill(msg, sizeof(msg), 77);
		rc = shmkit_queue_send(q, 7, msg, sizeof(msg), SHMKIT_QUEUE_F_NOWAIT, NULL);
		if (rc == -EAGAIN && !must_work &&
		    (in.max_bytes < sizeof(msg) || in.mode != 0600)) {
			th_log("after the storm: the limits were changed: %llu bytes, mode %o",
			       (unsigned long long)in.max_bytes, in.mode);
			return 0;
		}
		if (rc == -EAGAIN) {
			th_fail(__FILE__, __LINE__,
				"after the storm: an empty queue refuses a message (-EAGAIN): "
				"%llu bytes of %llu, %u repairs",
				(unsigned long long)in.bytes, (unsigned long long)in.max_bytes,
				in.repairs);
		}
		ASSERT_IN(rc, 0, -EBADMSG, -EIDRM, -ENOTRECOVERABLE);
	}
	if (rc == 0) {
		long type = 0;
		ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), 7, &type, SHMKIT_QUEUE_F_NOWAIT,
					      NULL);
		ASSERT_IN(n < 0 ? n : 0, 0, -EBADMSG, -EIDRM, -ENOTRECOVERABLE);
		if (n >= 0) {
			ASSERT_EQ(n, (ssize_t)sizeof(buf));
			ASSERT_EQ(th_check_fill(buf, sizeof(buf), 77), -1);
			ASSERT_EQ(type, 7);
			return 1;
		}
		rc = (int)n;
	}
	th_log("after the storm: the queue reports %s", th_errdesc(rc, b, sizeof(b)));
	if (must_work) {
		th_fail(__FILE__, __LINE__, "only the index was overwritten, yet the queue fails");
	}
	return 0;
}

static void
storm(int everything)
{
	char spec[TH_SPEC_MAX];
	shmkit_queue *q = make_q(spec, sizeof(spec));
	uint64_t seed = storm_seed();
	unsigned ms = storm_ms();
	th_log("storm of %s for %u ms, seed %#llx (SHMKIT_HOSTILE_SEED replays it)",
	       everything ? "everything" : "the index", ms, (unsigned long long)seed);
	static const long types[] = {1, 2, 1, 3, 70};
	for (unsigned i = 0; i < 5; i++) {
		unsigned char m[MAX_MSG_SIZE];
		th_fill(m, 10 + 10 * i, i);
		ASSERT_OK(shmkit_queue_send(q, types[i], m, 10 + 10 * i, SHMKIT_QUEUE_F_NOWAIT,
					    NULL));
	}
	int p[2];
	ASSERT_SYS(pipe(p));
	char fd[16], a[32], dur[16], mode[4];
	snprintf(fd, sizeof(fd), "%d", p[1]);
	/* The workers run a little longer than the storm: they also see the
	 * queue right after it. */
	snprintf(dur, sizeof(dur), "%u", ms + 300);
	pid_t w[NWORKERS];
	for (int i = 0; i < NWORKERS; i++) {
		snprintf(a, sizeof(a), "%llu", (unsigned long long)(seed + 1 + (uint64_t)i));
		w[i] = th_spawn("work", spec, a, dur, i == 0 ? "1" : "0", fd, NULL);
	}
	for (int i = 0; i < NWORKERS; i++) {
		char c;
		ASSERT_EQ(th_read_all(p[0], &c, 1), 0);
	}
	snprintf(a, sizeof(a), "%llu", (unsigned long long)seed);
	snprintf(dur, sizeof(dur), "%u", ms);
	snprintf(mode, sizeof(mode), "%d", everything);
	pid_t h = th_spawn("flip", spec, a, dur, mode, NULL);
	ASSERT_EXIT(wait_bounded(h, ms + 20000, "the hostile helper"), 0);
	for (int i = 0; i < NWORKERS; i++) {
		ASSERT_EXIT(wait_bounded(w[i], 20000, "a worker"), 0);
	}
	close(p[0]);
	close(p[1]);
	after_storm(q, !everything);
	int rc = shmkit_queue_remove(q);
	ASSERT_IN(rc, 0, -EIDRM, -EBADMSG, -ENOTRECOVERABLE);
	if (rc != 0) {
		shmkit_queue_close(q);
	}
}

TEST_TIMEOUT(hostile_index_writes, 60)
{
	storm(0);
}

TEST_TIMEOUT(hostile_writes_everywhere, 60)
{
	storm(1);
}
