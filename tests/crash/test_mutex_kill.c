/* SPDX-License-Identifier: MIT */
/* T01: robust mutex kill loop, and sem/event/cond across processes with killed peers. */
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "segtest.h"

#define KILL_ROUNDS   200
#define WORKERS       3
#define LOCK_BOUND_NS (2 * 1000000000LL) /* T01: every lock returns within 2 s */
#define WAIT_BOUND_MS 5000               /* a lost wake-up shows as a 5 s stall */

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t
seed_from_env(void)
{
	const char *e = getenv("SHMKIT_TEST_SEED");
	uint64_t seed = e ? th_parse_u64(e) : (uint64_t)mono_ns() ^ ((uint64_t)getpid() << 32);

	th_log("seed %llu (SHMKIT_TEST_SEED to repeat)", (unsigned long long)seed);
	return seed ? seed : 1;
}

/* The case's (or helper's) segment; closed by done_segment() at the end. */
static shmkit_segment *seg;

/* A shmkit segment for the case; the caller gets its data area. */
static void *
make_segment(char *spec, size_t len, size_t size)
{
	th_spec(spec, len, "posix");
	seg = seg_create(spec, size, 0);
	ASSERT_GE(shmkit_segment_size(seg), size);
	return shmkit_segment_data(seg);
}

static void *
open_segment(const char *spec)
{
	seg = seg_open(spec, 0);
	return shmkit_segment_data(seg);
}

static void
done_segment(void)
{
	ASSERT_OK(shmkit_segment_close(seg));
	seg = NULL;
}

/* waitpid with a bound: the status, or fail the case after @ms. */
static int
wait_bounded(pid_t pid, int ms, const char *what)
{
	int64_t until = th_now_ms() + ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			return st;
		}
		if (r < 0 && errno != EINTR) {
			th_fail(__FILE__, __LINE__, "waitpid(%d): %s", (int)pid, strerror(errno));
		}
		if (th_now_ms() > until) {
			kill(pid, SIGKILL);
			th_fail(__FILE__, __LINE__, "%s (pid %d) still blocked after %d ms", what,
				(int)pid, ms);
		}
		th_sleep_ms(1);
	}
}

/* ---- T01: the kill loop ---- */

struct kill_shared {
	shmkit_mutex m;
	/* Protected by m: must be equal whenever m is free and consistent. */
	uint64_t a, b;
	uint64_t repairs;
	_Atomic uint64_t ops;
	_Atomic uint64_t ownerdead;
	_Atomic int64_t max_lock_ns;
	/* First failure a worker saw. */
	_Atomic int fail_code;
	_Atomic int64_t fail_value;
};

enum { F_RC = 1, F_SLOW, F_INVARIANT, F_CONSISTENT, F_UNLOCK };

static int
worker_fail(struct kill_shared *sh, int code, int64_t value)
{
	int expected = 0;

	atomic_compare_exchange_strong(&sh->fail_code, &expected, code);
	if (expected == 0) {
		atomic_store(&sh->fail_value, value);
	}
	return 10 + code;
}

/* argv: worker SPEC SEED. Lock, mutate non-atomically, unlock, until killed. */
CHILD(worker)
{
	struct kill_shared *sh;
	uint64_t seed;

	ASSERT_EQ(argc, 3);
	sh = open_segment(argv[1]);
	seed = th_parse_u64(argv[2]) | 1;
	for (;;) {
		int64_t t0 = mono_ns(), dt;
		int rc = shmkit_mutex_lock(&sh->m);
		int64_t prev;

		dt = mono_ns() - t0;
		prev = atomic_load(&sh->max_lock_ns);
		while (dt > prev && !atomic_compare_exchange_weak(&sh->max_lock_ns, &prev, dt)) {
		}
		if (rc != 0 && rc != -EOWNERDEAD) {
			return worker_fail(sh, F_RC, rc);
		}
		if (dt > LOCK_BOUND_NS) {
			return worker_fail(sh, F_SLOW, dt);
		}
		if (rc == -EOWNERDEAD) {
			/* The holder died between a++ and b++, or not: repair either way. */
			atomic_fetch_add(&sh->ownerdead, 1);
			sh->b = sh->a;
			sh->repairs++;
			rc = shmkit_mutex_consistent(&sh->m);
			if (rc != 0) {
				return worker_fail(sh, F_CONSISTENT, rc);
			}
		} else if (sh->a != sh->b) {
			return worker_fail(sh, F_INVARIANT, (int64_t)(sh->a - sh->b));
		}
		sh->a++;
		/* Hold a little while, so that kills often land inside. */
		for (volatile unsigned spin = (unsigned)(rnd(&seed) % 20000); spin > 0; spin--) {
		}
		sh->b++;
		atomic_fetch_add(&sh->ops, 1);
		rc = shmkit_mutex_unlock(&sh->m);
		if (rc != 0) {
			return worker_fail(sh, F_UNLOCK, rc);
		}
		for (volatile unsigned spin = (unsigned)(rnd(&seed) % 2000); spin > 0; spin--) {
		}
	}
}

static pid_t
spawn_worker(const char *spec, uint64_t *seed)
{
	char s[32];

	snprintf(s, sizeof(s), "%llu", (unsigned long long)(rnd(seed) | 1));
	return th_spawn("worker", spec, s, NULL);
}

static void
check_workers(struct kill_shared *sh)
{
	int code = atomic_load(&sh->fail_code);
	char b[160];

	if (code != 0) {
		int64_t v = atomic_load(&sh->fail_value);

		th_fail(__FILE__, __LINE__, "a worker failed: %s %s",
			code == F_RC           ? "lock returned"
			: code == F_SLOW       ? "lock took (ns)"
			: code == F_INVARIANT  ? "invariant a == b broken by"
			: code == F_CONSISTENT ? "consistent returned"
					       : "unlock returned",
			code == F_SLOW || code == F_INVARIANT
				? (snprintf(b, sizeof(b), "%lld", (long long)v), b)
				: th_errdesc(v, b, sizeof(b)));
	}
}

TEST_TIMEOUT(kill_loop, 150)
{
	char spec[TH_SPEC_MAX];
	struct kill_shared *sh = make_segment(spec, sizeof(spec), sizeof(struct kill_shared));
	pid_t w[WORKERS];
	uint64_t seed = seed_from_env();
	long kills = 0, holder_kills = 0, dead_holder_seen = 0;
	shmkit_mutex_info info;
	int rc;

	ASSERT_OK(shmkit_mutex_init(&sh->m));
	for (int i = 0; i < WORKERS; i++) {
		w[i] = spawn_worker(spec, &seed);
	}
	for (int round = 0; round < KILL_ROUNDS; round++) {
		int victim = (int)(rnd(&seed) % WORKERS);
		uint64_t ops0;
		int64_t until;
		int st;

		th_context("round %d", round);
		if (round % 2 == 0) {
			/* Kill whichever worker holds the lock right now. */
			until = th_now_ms() + 2000;
			for (;;) {
				int found = -1;

				ASSERT_OK(shmkit_mutex_inspect(&sh->m, &info));
				for (int i = 0; info.locked && info.holder_alive && i < WORKERS;
				     i++) {
					if (info.holder_pid == w[i]) {
						found = i;
					}
				}
				if (found >= 0) {
					victim = found;
					holder_kills++;
					break;
				}
				if (th_now_ms() > until) {
					break; /* nobody seen holding: kill at random */
				}
			}
		} else {
			usleep((useconds_t)(rnd(&seed) % 3000));
		}
		ASSERT_SYS(kill(w[victim], SIGKILL));
		kills++;
		st = th_wait(w[victim]);
		check_workers(sh);
		ASSERT_SIGNALED(st, SIGKILL);
		ASSERT_OK(shmkit_mutex_inspect(&sh->m, &info));
		if (info.locked && info.holder_pid == w[victim]) {
			/* It died holding: the next locker must see -EOWNERDEAD. */
			ASSERT_EQ(info.holder_alive, 0);
			dead_holder_seen++;
		}
		ops0 = atomic_load(&sh->ops);
		w[victim] = spawn_worker(spec, &seed);
		/* Progress resumes (a bound, not a timing assertion). */
		until = th_now_ms() + WAIT_BOUND_MS;
		while (atomic_load(&sh->ops) < ops0 + 3) {
			check_workers(sh);
			if (th_now_ms() > until) {
				th_fail(__FILE__, __LINE__, "no progress for %d ms after a kill",
					WAIT_BOUND_MS);
			}
			usleep(200);
		}
	}
	th_context(NULL);
	for (int i = 0; i < WORKERS; i++) {
		kill(w[i], SIGKILL);
		ASSERT_SIGNALED(th_wait(w[i]), SIGKILL);
	}
	check_workers(sh);
	rc = shmkit_mutex_lock(&sh->m);
	ASSERT_IN(rc, 0, -EOWNERDEAD);
	if (rc == -EOWNERDEAD) {
		atomic_fetch_add(&sh->ownerdead, 1);
		sh->b = sh->a;
		ASSERT_OK(shmkit_mutex_consistent(&sh->m));
	}
	ASSERT_EQ(sh->a, sh->b);
	ASSERT_OK(shmkit_mutex_unlock(&sh->m));
	ASSERT_OK(shmkit_mutex_inspect(&sh->m, &info));
	ASSERT_EQ(info.state, 0);
	th_log("%ld kills (%ld aimed at the holder, %ld seen dead holding), %llu -EOWNERDEAD, "
	       "%llu ops, longest lock %lld ms",
	       kills, holder_kills, dead_holder_seen,
	       (unsigned long long)atomic_load(&sh->ownerdead),
	       (unsigned long long)atomic_load(&sh->ops),
	       (long long)(atomic_load(&sh->max_lock_ns) / 1000000));
	/* Each death while holding gives exactly one -EOWNERDEAD. */
	ASSERT_GE((long)atomic_load(&sh->ownerdead), dead_holder_seen);
	ASSERT_LE((long)atomic_load(&sh->ownerdead), kills);
	ASSERT_GT(dead_holder_seen, 0);
	done_segment();
}

/* ---- -ENOTRECOVERABLE across processes ---- */

struct small_shared {
	shmkit_mutex m;
	shmkit_cond c;
	shmkit_sem s;
	shmkit_event e;
	int flag[4];
	_Atomic int rc[4];
	_Atomic int holder;
};

/* A forked child that locks @m, writes 'L' on @fd and sleeps until killed. */
static pid_t
lock_and_hang(shmkit_mutex *m)
{
	int p[2];
	pid_t pid;
	char c;

	ASSERT_SYS(pipe(p));
	pid = th_fork();
	if (pid == 0) {
		close(p[0]);
		if (shmkit_mutex_lock(m) != 0) {
			th_exit(2);
		}
		(void)th_write_all(p[1], "L", 1);
		for (;;) {
			pause();
		}
	}
	close(p[1]);
	ASSERT_EQ(th_read_all(p[0], &c, 1), 0);
	close(p[0]);
	return pid;
}

TEST_TIMEOUT(not_recoverable_after_unrepaired_unlock, 30)
{
	char spec[TH_SPEC_MAX];
	struct small_shared *sh = make_segment(spec, sizeof(spec), sizeof(*sh));
	pid_t holder, lockers[2];
	struct timespec dl;
	int got_dead = 0, got_notrec = 0;

	ASSERT_OK(shmkit_mutex_init(&sh->m));
	holder = lock_and_hang(&sh->m);
	for (int i = 0; i < 2; i++) {
		lockers[i] = th_fork();
		if (lockers[i] == 0) {
			int64_t t0 = mono_ns();
			int rc = shmkit_mutex_lock(&sh->m);

			atomic_store(&sh->rc[i], rc);
			if (mono_ns() - t0 > LOCK_BOUND_NS + 1000000000LL) {
				th_exit(3);
			}
			if (rc == -EOWNERDEAD) {
				/* Give up without repairing. */
				th_exit(shmkit_mutex_unlock(&sh->m) == 0 ? 0 : 2);
			}
			th_exit(0);
		}
	}
	th_sleep_ms(50);
	ASSERT_SYS(kill(holder, SIGKILL));
	(void)th_wait(holder);
	for (int i = 0; i < 2; i++) {
		ASSERT_EXIT(wait_bounded(lockers[i], WAIT_BOUND_MS, "locker"), 0);
		got_dead += atomic_load(&sh->rc[i]) == -EOWNERDEAD;
		got_notrec += atomic_load(&sh->rc[i]) == -ENOTRECOVERABLE;
	}
	ASSERT_EQ(got_dead, 1);
	ASSERT_EQ(got_notrec, 1);
	ASSERT_ERR(shmkit_mutex_lock(&sh->m), -ENOTRECOVERABLE);
	ASSERT_ERR(shmkit_mutex_trylock(&sh->m), -ENOTRECOVERABLE);
	shmkit_deadline(&dl, 20000000);
	ASSERT_ERR(shmkit_mutex_timedlock(&sh->m, &dl), -ENOTRECOVERABLE);
	/* A process that opens the segment afresh sees the same. */
	lockers[0] = th_fork();
	if (lockers[0] == 0) {
		struct small_shared *o = open_segment(spec);

		th_exit(shmkit_mutex_lock(&o->m) == -ENOTRECOVERABLE ? 0 : 2);
	}
	ASSERT_EXIT(wait_bounded(lockers[0], WAIT_BOUND_MS, "late locker"), 0);
	done_segment();
}

/* The holder dies while a child it forked lives on: the child keeps nothing alive. */
TEST_TIMEOUT(holder_dies_child_lives, 30)
{
	char spec[TH_SPEC_MAX];
	struct small_shared *sh = make_segment(spec, sizeof(spec), sizeof(*sh));
	int p[2];
	pid_t mid;
	char c;
	int64_t t0;

	ASSERT_OK(shmkit_mutex_init(&sh->m));
	ASSERT_SYS(pipe(p));
	mid = th_fork();
	if (mid == 0) {
		close(p[0]);
		if (shmkit_mutex_lock(&sh->m) != 0) {
			th_exit(2);
		}
		if (fork() == 0) {
			for (;;) {
				pause(); /* killed with the case's process group */
			}
		}
		(void)th_write_all(p[1], "L", 1);
		for (;;) {
			pause();
		}
	}
	close(p[1]);
	ASSERT_EQ(th_read_all(p[0], &c, 1), 0);
	ASSERT_SYS(kill(mid, SIGKILL));
	(void)th_wait(mid);
	t0 = mono_ns();
	ASSERT_ERR(shmkit_mutex_lock(&sh->m), -EOWNERDEAD);
	ASSERT_LE(mono_ns() - t0, LOCK_BOUND_NS);
	ASSERT_OK(shmkit_mutex_consistent(&sh->m));
	ASSERT_OK(shmkit_mutex_unlock(&sh->m));
	done_segment();
}

/* ---- semaphore ping-pong with checksums ---- */

#define PING_ROUNDS 2000
#define MSG_BYTES   200

struct msg {
	uint64_t seq;
	uint32_t len;
	uint32_t crc;
	unsigned char data[MSG_BYTES];
};

struct ping_shared {
	shmkit_sem ping, pong;
	struct msg to_child, to_parent;
};

static void
msg_fill(struct msg *m, uint64_t seq, uint64_t salt)
{
	m->seq = seq;
	m->len = (uint32_t)(1 + (seq * 37) % MSG_BYTES);
	th_fill(m->data, m->len, seq ^ salt);
	m->crc = th_crc32(m->data, m->len);
}

static int
msg_ok(const struct msg *m, uint64_t seq, uint64_t salt)
{
	return m->seq == seq && m->len == (uint32_t)(1 + (seq * 37) % MSG_BYTES) &&
	       m->len <= MSG_BYTES && m->crc == th_crc32(m->data, m->len) &&
	       th_check_fill(m->data, m->len, seq ^ salt) < 0;
}

/* argv: ponger SPEC. Answers every ping; exit 0 after PING_ROUNDS. */
CHILD(ponger)
{
	struct ping_shared *sh;
	struct timespec dl;

	ASSERT_EQ(argc, 2);
	sh = open_segment(argv[1]);
	for (uint64_t i = 1; i <= PING_ROUNDS; i++) {
		shmkit_deadline(&dl, (int64_t)WAIT_BOUND_MS * 1000000);
		ASSERT_OK(shmkit_sem_timedwait(&sh->ping, &dl));
		if (!msg_ok(&sh->to_child, i, 0x1111)) {
			th_fail(__FILE__, __LINE__, "ping %llu arrived damaged",
				(unsigned long long)i);
		}
		msg_fill(&sh->to_parent, i, 0x2222);
		ASSERT_OK(shmkit_sem_post(&sh->pong));
	}
	done_segment();
	return 0;
}

TEST_TIMEOUT(sem_ping_pong, 60)
{
	char spec[TH_SPEC_MAX];
	struct ping_shared *sh = make_segment(spec, sizeof(spec), sizeof(*sh));
	struct timespec dl;
	pid_t child;

	ASSERT_OK(shmkit_sem_init(&sh->ping, 0));
	ASSERT_OK(shmkit_sem_init(&sh->pong, 0));
	child = th_spawn("ponger", spec, NULL);
	for (uint64_t i = 1; i <= PING_ROUNDS; i++) {
		msg_fill(&sh->to_child, i, 0x1111);
		ASSERT_OK(shmkit_sem_post(&sh->ping));
		shmkit_deadline(&dl, (int64_t)WAIT_BOUND_MS * 1000000);
		ASSERT_OK(shmkit_sem_timedwait(&sh->pong, &dl));
		if (!msg_ok(&sh->to_parent, i, 0x2222)) {
			th_fail(__FILE__, __LINE__, "pong %llu arrived damaged",
				(unsigned long long)i);
		}
	}
	ASSERT_EXIT(wait_bounded(child, WAIT_BOUND_MS, "ponger"), 0);
	ASSERT_EQ(shmkit_sem_value(&sh->ping), 0);
	ASSERT_EQ(shmkit_sem_value(&sh->pong), 0);
	done_segment();
}

/* ---- event wake-ups across processes ---- */

#define EVENT_ROUNDS  300
#define EVENT_WAITERS 3

struct event_shared {
	shmkit_event e;
	shmkit_sem ack;
	_Atomic uint32_t round;
	uint64_t payload[EVENT_WAITERS]; /* written before the signal, read after */
};

TEST_TIMEOUT(event_wakeups_across_processes, 60)
{
	char spec[TH_SPEC_MAX];
	struct event_shared *sh = make_segment(spec, sizeof(spec), sizeof(*sh));
	pid_t w[EVENT_WAITERS];
	struct timespec dl;

	ASSERT_OK(shmkit_event_init(&sh->e));
	ASSERT_OK(shmkit_sem_init(&sh->ack, 0));
	for (int i = 0; i < EVENT_WAITERS; i++) {
		w[i] = th_fork();
		if (w[i] == 0) {
			uint32_t mine = 0;

			while (mine < EVENT_ROUNDS) {
				uint32_t seen = shmkit_event_seq(&sh->e);
				uint32_t cur =
					atomic_load_explicit(&sh->round, memory_order_relaxed);
				int rc;

				if (cur != mine) {
					if (cur != mine + 1 ||
					    sh->payload[i] != (uint64_t)cur * 1000 + (uint64_t)i) {
						th_exit(3);
					}
					mine = cur;
					ASSERT_OK(shmkit_sem_post(&sh->ack));
					continue;
				}
				shmkit_deadline(&dl, (int64_t)WAIT_BOUND_MS * 1000000);
				rc = shmkit_event_wait(&sh->e, seen, &dl);
				if (rc != 0) {
					th_exit(rc == -ETIMEDOUT ? 4 : 5);
				}
			}
			th_exit(0);
		}
	}
	for (uint32_t r = 1; r <= EVENT_ROUNDS; r++) {
		for (int i = 0; i < EVENT_WAITERS; i++) {
			sh->payload[i] = (uint64_t)r * 1000 + (uint64_t)i;
		}
		atomic_store_explicit(&sh->round, r, memory_order_relaxed);
		ASSERT_OK(shmkit_event_signal(&sh->e, SHMKIT_EVENT_ALL));
		for (int i = 0; i < EVENT_WAITERS; i++) {
			shmkit_deadline(&dl, (int64_t)WAIT_BOUND_MS * 1000000);
			ASSERT_OK(shmkit_sem_timedwait(&sh->ack, &dl));
		}
	}
	for (int i = 0; i < EVENT_WAITERS; i++) {
		ASSERT_EXIT(wait_bounded(w[i], WAIT_BOUND_MS, "event waiter"), 0);
	}
	done_segment();
}

/* ---- cond + mutex producer/consumer across processes ---- */

#define PC_PRODUCERS 2
#define PC_CONSUMERS 2
#define PC_ITEMS     1500 /* per producer */
#define PC_CAP       8

struct pc_shared {
	shmkit_mutex m;
	shmkit_cond not_empty, not_full;
	uint32_t count, head, tail;
	uint64_t buf[PC_CAP];
	uint64_t taken, sum;
};

static int
pc_lock(struct pc_shared *sh)
{
	int rc = shmkit_mutex_lock(&sh->m);

	return rc == 0 ? 0 : 20;
}

static int
pc_wait(shmkit_cond *c, struct pc_shared *sh)
{
	struct timespec dl;
	int rc;

	shmkit_deadline(&dl, (int64_t)WAIT_BOUND_MS * 1000000);
	rc = shmkit_cond_timedwait(c, &sh->m, &dl);
	return rc == 0 ? 0 : rc == -ETIMEDOUT ? 21 : 22;
}

static int
producer(struct pc_shared *sh, uint64_t id)
{
	int rc;

	for (uint64_t seq = 1; seq <= PC_ITEMS; seq++) {
		if ((rc = pc_lock(sh)) != 0) {
			return rc;
		}
		while (sh->count == PC_CAP) {
			if ((rc = pc_wait(&sh->not_full, sh)) != 0) {
				return rc;
			}
		}
		sh->buf[sh->tail] = id << 32 | seq;
		sh->tail = (sh->tail + 1) % PC_CAP;
		sh->count++;
		if (shmkit_cond_signal(&sh->not_empty) != 0 || shmkit_mutex_unlock(&sh->m) != 0) {
			return 23;
		}
	}
	return 0;
}

static int
consumer(struct pc_shared *sh)
{
	uint64_t last[PC_PRODUCERS] = {0};
	int rc;

	for (;;) {
		uint64_t item, p, seq;

		if ((rc = pc_lock(sh)) != 0) {
			return rc;
		}
		while (sh->count == 0 && sh->taken < (uint64_t)PC_PRODUCERS * PC_ITEMS) {
			if ((rc = pc_wait(&sh->not_empty, sh)) != 0) {
				return rc;
			}
		}
		if (sh->count == 0) {
			/* Everything was taken: let the other consumers see it too. */
			shmkit_cond_broadcast(&sh->not_empty);
			return shmkit_mutex_unlock(&sh->m) == 0 ? 0 : 23;
		}
		item = sh->buf[sh->head];
		sh->head = (sh->head + 1) % PC_CAP;
		sh->count--;
		sh->taken++;
		sh->sum += item;
		if (sh->taken == (uint64_t)PC_PRODUCERS * PC_ITEMS) {
			shmkit_cond_broadcast(&sh->not_empty);
		}
		if (shmkit_cond_signal(&sh->not_full) != 0 || shmkit_mutex_unlock(&sh->m) != 0) {
			return 23;
		}
		p = item >> 32;
		seq = item & 0xffffffffu;
		/* One queue: each producer's items come out in order. */
		if (p >= PC_PRODUCERS || seq <= last[p] || seq > PC_ITEMS) {
			return 24;
		}
		last[p] = seq;
	}
}

TEST_TIMEOUT(cond_producer_consumer, 60)
{
	char spec[TH_SPEC_MAX];
	struct pc_shared *sh = make_segment(spec, sizeof(spec), sizeof(*sh));
	pid_t pids[PC_PRODUCERS + PC_CONSUMERS];
	uint64_t want = 0;

	ASSERT_OK(shmkit_mutex_init(&sh->m));
	ASSERT_OK(shmkit_cond_init(&sh->not_empty));
	ASSERT_OK(shmkit_cond_init(&sh->not_full));
	for (int i = 0; i < PC_PRODUCERS + PC_CONSUMERS; i++) {
		pids[i] = th_fork();
		if (pids[i] == 0) {
			th_exit(i < PC_PRODUCERS ? producer(sh, (uint64_t)i) : consumer(sh));
		}
	}
	for (int i = 0; i < PC_PRODUCERS + PC_CONSUMERS; i++) {
		ASSERT_EXIT(wait_bounded(pids[i], 30000, "producer/consumer"), 0);
	}
	for (uint64_t p = 0; p < PC_PRODUCERS; p++) {
		for (uint64_t s = 1; s <= PC_ITEMS; s++) {
			want += p << 32 | s;
		}
	}
	ASSERT_EQ(sh->taken, (uint64_t)PC_PRODUCERS * PC_ITEMS);
	ASSERT_EQ(sh->count, 0);
	ASSERT_EQ(sh->sum, want);
	done_segment();
}

/* ---- killed waiters and signallers ---- */

/* Child @i: wait (no deadline) on the cond until flag[i], then exit 0. */
static pid_t
cond_waiter(struct small_shared *sh, int i)
{
	pid_t pid = th_fork();

	if (pid == 0) {
		int rc = shmkit_mutex_lock(&sh->m);

		if (rc != 0) {
			th_exit(2);
		}
		while (!sh->flag[i]) {
			rc = shmkit_cond_wait(&sh->c, &sh->m);
			if (rc != 0) {
				th_exit(3);
			}
		}
		th_exit(shmkit_mutex_unlock(&sh->m) == 0 ? 0 : 4);
	}
	return pid;
}

TEST_TIMEOUT(killed_cond_waiter_blocks_nobody, 30)
{
	char spec[TH_SPEC_MAX];
	struct small_shared *sh = make_segment(spec, sizeof(spec), sizeof(*sh));
	pid_t w[3];

	ASSERT_OK(shmkit_mutex_init(&sh->m));
	ASSERT_OK(shmkit_cond_init(&sh->c));
	for (int i = 0; i < 3; i++) {
		w[i] = cond_waiter(sh, i);
	}
	th_sleep_ms(100); /* let them sleep; correctness does not depend on it */
	ASSERT_SYS(kill(w[0], SIGKILL));
	ASSERT_SIGNALED(th_wait(w[0]), SIGKILL);
	/* One signal for one live waiter: it must not be spent on the dead one. */
	ASSERT_OK(shmkit_mutex_lock(&sh->m));
	sh->flag[1] = 1;
	ASSERT_OK(shmkit_cond_signal(&sh->c));
	ASSERT_OK(shmkit_mutex_unlock(&sh->m));
	/* w[2] may wake too (spuriously) but goes back to sleep; keep signalling
	 * until w[1] is out, as a user would, bounded. */
	for (int64_t until = th_now_ms() + WAIT_BOUND_MS;;) {
		int st;
		pid_t r = waitpid(w[1], &st, WNOHANG);

		if (r == w[1]) {
			ASSERT_EXIT(st, 0);
			break;
		}
		ASSERT_TRUE(th_now_ms() < until);
		th_sleep_ms(20);
		ASSERT_OK(shmkit_cond_signal(&sh->c));
	}
	ASSERT_OK(shmkit_mutex_lock(&sh->m));
	sh->flag[2] = 1;
	ASSERT_OK(shmkit_cond_broadcast(&sh->c));
	ASSERT_OK(shmkit_mutex_unlock(&sh->m));
	ASSERT_EXIT(wait_bounded(w[2], WAIT_BOUND_MS, "cond waiter"), 0);
	done_segment();
}

/*
 * Two waiters woken by a broadcast; the first to relock stalls and is
 * killed holding the mutex: the other's cond_wait returns -EOWNERDEAD.
 */
TEST_TIMEOUT(cond_relock_after_holder_death, 30)
{
	char spec[TH_SPEC_MAX];
	struct small_shared *sh = make_segment(spec, sizeof(spec), sizeof(*sh));
	int p[2];
	pid_t w[2], first;
	int second;

	ASSERT_OK(shmkit_mutex_init(&sh->m));
	ASSERT_OK(shmkit_cond_init(&sh->c));
	ASSERT_SYS(pipe(p));
	atomic_store(&sh->holder, 0);
	for (int i = 0; i < 2; i++) {
		w[i] = th_fork();
		if (w[i] == 0) {
			int rc;

			close(p[0]);
			if (shmkit_mutex_lock(&sh->m) != 0) {
				th_exit(2);
			}
			rc = 0;
			while (!sh->flag[0] && rc == 0) {
				rc = shmkit_cond_wait(&sh->c, &sh->m);
			}
			if (rc == 0 && atomic_exchange(&sh->holder, 1) == 0) {
				/* First back in: stall holding the mutex until killed. */
				pid_t me = getpid();

				(void)th_write_all(p[1], &me, sizeof(me));
				for (;;) {
					pause();
				}
			}
			atomic_store(&sh->rc[i], rc);
			if (rc == -EOWNERDEAD) {
				if (shmkit_mutex_consistent(&sh->m) != 0) {
					th_exit(5);
				}
			}
			th_exit(shmkit_mutex_unlock(&sh->m) == 0 ? 0 : 4);
		}
	}
	close(p[1]);
	th_sleep_ms(100);
	ASSERT_OK(shmkit_mutex_lock(&sh->m));
	sh->flag[0] = 1;
	ASSERT_OK(shmkit_cond_broadcast(&sh->c));
	ASSERT_OK(shmkit_mutex_unlock(&sh->m));
	ASSERT_EQ(th_read_all(p[0], &first, sizeof(first)), 0);
	second = first == w[0] ? 1 : 0;
	ASSERT_TRUE(first == w[0] || first == w[1]);
	th_sleep_ms(50); /* the other is (most likely) blocked relocking now */
	ASSERT_SYS(kill(first, SIGKILL));
	(void)th_wait(first);
	ASSERT_EXIT(wait_bounded(w[second], WAIT_BOUND_MS, "second waiter"), 0);
	ASSERT_EQ(atomic_load(&sh->rc[second]), -EOWNERDEAD);
	done_segment();
}

TEST_TIMEOUT(killed_sem_and_event_waiters_block_nobody, 30)
{
	char spec[TH_SPEC_MAX];
	struct small_shared *sh = make_segment(spec, sizeof(spec), sizeof(*sh));
	pid_t w[2];

	ASSERT_OK(shmkit_sem_init(&sh->s, 0));
	ASSERT_OK(shmkit_event_init(&sh->e));

	/* Semaphore: the one post goes to the live waiter. */
	for (int i = 0; i < 2; i++) {
		w[i] = th_fork();
		if (w[i] == 0) {
			th_exit(shmkit_sem_wait(&sh->s) == 0 ? 0 : 2);
		}
	}
	th_sleep_ms(100);
	ASSERT_SYS(kill(w[0], SIGKILL));
	ASSERT_SIGNALED(th_wait(w[0]), SIGKILL);
	ASSERT_OK(shmkit_sem_post(&sh->s));
	ASSERT_EXIT(wait_bounded(w[1], WAIT_BOUND_MS, "sem waiter"), 0);
	ASSERT_EQ(shmkit_sem_value(&sh->s), 0);
	ASSERT_ERR(shmkit_sem_trywait(&sh->s), -EAGAIN);
	ASSERT_OK(shmkit_sem_post(&sh->s));
	ASSERT_EQ(shmkit_sem_value(&sh->s), 1);

	/* Event: a wake of one reaches the live waiter. */
	for (int i = 0; i < 2; i++) {
		w[i] = th_fork();
		if (w[i] == 0) {
			th_exit(shmkit_event_wait(&sh->e, 0, NULL) == 0 ? 0 : 2);
		}
	}
	th_sleep_ms(100);
	ASSERT_SYS(kill(w[0], SIGKILL));
	ASSERT_SIGNALED(th_wait(w[0]), SIGKILL);
	ASSERT_OK(shmkit_event_signal(&sh->e, 1));
	ASSERT_EXIT(wait_bounded(w[1], WAIT_BOUND_MS, "event waiter"), 0);
	done_segment();
}

/* A process hammering signal/broadcast/post is killed at random, again and again. */
TEST_TIMEOUT(killed_signaller_breaks_nothing, 60)
{
	char spec[TH_SPEC_MAX];
	struct small_shared *sh = make_segment(spec, sizeof(spec), sizeof(*sh));
	uint64_t seed = seed_from_env();
	pid_t waiter;
	int64_t posts_lost;

	ASSERT_OK(shmkit_mutex_init(&sh->m));
	ASSERT_OK(shmkit_cond_init(&sh->c));
	ASSERT_OK(shmkit_sem_init(&sh->s, 0));
	ASSERT_OK(shmkit_event_init(&sh->e));
	for (int k = 0; k < 20; k++) {
		pid_t sig = th_fork();

		if (sig == 0) {
			for (;;) {
				if (shmkit_event_signal(&sh->e, SHMKIT_EVENT_ALL) != 0 ||
				    shmkit_cond_broadcast(&sh->c) != 0 ||
				    shmkit_sem_post(&sh->s) != 0 ||
				    shmkit_sem_trywait(&sh->s) != 0) {
					th_exit(2);
				}
			}
		}
		usleep((useconds_t)(200 + rnd(&seed) % 3000));
		ASSERT_SYS(kill(sig, SIGKILL));
		ASSERT_SIGNALED(th_wait(sig), SIGKILL);
	}
	/* Each kill between a post and its trywait leaves one count behind. */
	posts_lost = shmkit_sem_value(&sh->s);
	ASSERT_GE(posts_lost, 0);
	ASSERT_LE(posts_lost, 20);
	while (shmkit_sem_trywait(&sh->s) == 0) {
	}

	/* Everything still works across processes. */
	waiter = th_fork();
	if (waiter == 0) {
		uint32_t seen = shmkit_event_seq(&sh->e);

		if (shmkit_sem_wait(&sh->s) != 0) {
			th_exit(2);
		}
		if (shmkit_mutex_lock(&sh->m) != 0) {
			th_exit(3);
		}
		while (!sh->flag[0]) {
			if (shmkit_cond_wait(&sh->c, &sh->m) != 0) {
				th_exit(4);
			}
		}
		shmkit_mutex_unlock(&sh->m);
		while (shmkit_event_seq(&sh->e) == seen) {
			if (shmkit_event_wait(&sh->e, seen, NULL) != 0) {
				th_exit(5);
			}
		}
		th_exit(0);
	}
	th_sleep_ms(20);
	ASSERT_OK(shmkit_sem_post(&sh->s));
	th_sleep_ms(20);
	ASSERT_OK(shmkit_mutex_lock(&sh->m));
	sh->flag[0] = 1;
	ASSERT_OK(shmkit_cond_broadcast(&sh->c));
	ASSERT_OK(shmkit_mutex_unlock(&sh->m));
	th_sleep_ms(20);
	ASSERT_OK(shmkit_event_signal(&sh->e, 1));
	ASSERT_EXIT(wait_bounded(waiter, WAIT_BOUND_MS, "waiter after signaller kills"), 0);
	done_segment();
}
