/* SPDX-License-Identifier: MIT */
/* Single-process semantics and bad input for every function of shmkit/sync.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* Storage for one object of each kind, in memory a forked child shares. */
struct objs {
	shmkit_mutex m;
	shmkit_sem s;
	shmkit_event e;
	shmkit_cond c;
	_Alignas(64) unsigned char raw[256];
};

static struct objs *
shared_objs(void)
{
	void *p = mmap(NULL, sizeof(struct objs), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	return p;
}

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void
deadline_ms(struct timespec *ts, int ms)
{
	shmkit_deadline(ts, (int64_t)ms * 1000000);
}

/* A deadline already in the past (one second before now, or time zero). */
static void
deadline_past(struct timespec *ts)
{
	shmkit_deadline(ts, 0);
	if (ts->tv_sec > 1) {
		ts->tv_sec -= 1;
	}
}

/* The timed call must have returned no earlier than @deadline. */
static void
assert_not_early(const struct timespec *deadline, const char *what)
{
	int64_t now = mono_ns();

	if (now < ts_ns(deadline)) {
		th_fail(__FILE__, __LINE__, "%s returned -ETIMEDOUT %lld ns before its deadline",
			what, (long long)(ts_ns(deadline) - now));
	}
}

/*
 * A forked child that locks @m, tells the parent, and holds the mutex until
 * the parent writes to (or closes) the returned descriptor; it then unlocks
 * (exit 0 if the unlock returned 0). The parent returns once it holds.
 */
struct holder {
	pid_t pid;
	int release_fd;
};

static struct holder
hold_in_child(shmkit_mutex *m)
{
	int ready[2], release[2];
	struct holder h;
	char c;

	ASSERT_SYS(pipe(ready));
	ASSERT_SYS(pipe(release));
	h.pid = th_fork();
	if (h.pid == 0) {
		int rc;

		close(ready[0]);
		close(release[1]);
		rc = shmkit_mutex_lock(m);
		if (rc != 0) {
			fprintf(stderr, "holder: lock: %d\n", rc);
			th_exit(2);
		}
		(void)th_write_all(ready[1], "L", 1);
		(void)th_read_all(release[0], &c, 1);
		rc = shmkit_mutex_unlock(m);
		if (rc != 0) {
			fprintf(stderr, "holder: unlock: %d\n", rc);
			th_exit(3);
		}
		th_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	ASSERT_EQ(th_read_all(ready[0], &c, 1), 0);
	close(ready[0]);
	h.release_fd = release[1];
	return h;
}

static void
release_holder(struct holder *h)
{
	ASSERT_EQ(th_write_all(h->release_fd, "U", 1), 0);
	close(h->release_fd);
	ASSERT_EXIT(th_wait(h->pid), 0);
}

/* ---- NULL, unaligned and garbage storage ---- */

TEST(null_storage)
{
	struct timespec dl;
	shmkit_mutex_info info;
	struct objs *o = shared_objs();

	deadline_ms(&dl, 10);
	ASSERT_OK(shmkit_mutex_init(&o->m));
	ASSERT_OK(shmkit_cond_init(&o->c));

	ASSERT_ERR(shmkit_mutex_init(NULL), -EINVAL);
	ASSERT_ERR(shmkit_mutex_lock(NULL), -EINVAL);
	ASSERT_ERR(shmkit_mutex_trylock(NULL), -EINVAL);
	ASSERT_ERR(shmkit_mutex_timedlock(NULL, &dl), -EINVAL);
	ASSERT_ERR(shmkit_mutex_timedlock(NULL, NULL), -EINVAL);
	ASSERT_ERR(shmkit_mutex_unlock(NULL), -EINVAL);
	ASSERT_ERR(shmkit_mutex_consistent(NULL), -EINVAL);
	ASSERT_ERR(shmkit_mutex_inspect(NULL, &info), -EINVAL);
	ASSERT_ERR(shmkit_mutex_inspect(&o->m, NULL), -EINVAL);

	ASSERT_ERR(shmkit_sem_init(NULL, 0), -EINVAL);
	ASSERT_ERR(shmkit_sem_post(NULL), -EINVAL);
	ASSERT_ERR(shmkit_sem_wait(NULL), -EINVAL);
	ASSERT_ERR(shmkit_sem_trywait(NULL), -EINVAL);
	ASSERT_ERR(shmkit_sem_timedwait(NULL, &dl), -EINVAL);
	ASSERT_ERR(shmkit_sem_value(NULL), -EINVAL);

	ASSERT_ERR(shmkit_event_init(NULL), -EINVAL);
	ASSERT_EQ(shmkit_event_seq(NULL), 0);
	ASSERT_ERR(shmkit_event_wait(NULL, 0, &dl), -EINVAL);
	ASSERT_ERR(shmkit_event_wait(NULL, 0, NULL), -EINVAL);
	ASSERT_ERR(shmkit_event_signal(NULL, 1), -EINVAL);

	ASSERT_ERR(shmkit_cond_init(NULL), -EINVAL);
	ASSERT_ERR(shmkit_cond_wait(NULL, &o->m), -EINVAL);
	ASSERT_ERR(shmkit_cond_wait(&o->c, NULL), -EINVAL);
	ASSERT_ERR(shmkit_cond_timedwait(NULL, &o->m, &dl), -EINVAL);
	ASSERT_ERR(shmkit_cond_timedwait(&o->c, NULL, &dl), -EINVAL);
	ASSERT_ERR(shmkit_cond_signal(NULL), -EINVAL);
	ASSERT_ERR(shmkit_cond_broadcast(NULL), -EINVAL);

	/* The NULL mutex above must not have been locked or damaged. */
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.locked, 0);
}

TEST(unaligned_storage)
{
	static const size_t offs[] = {1, 4, 8, 32, 63};
	struct objs *o = shared_objs();
	struct timespec dl;

	deadline_ms(&dl, 10);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		/* Initialised copies at the odd address, so only the alignment is wrong. */
		void *p = o->raw + offs[i];
		shmkit_mutex *m = p;
		shmkit_sem *s = p;
		shmkit_event *e = p;
		shmkit_cond *c = p;
		shmkit_mutex_info info;

		th_context("offset %zu", offs[i]);
		ASSERT_OK(shmkit_mutex_init(&o->m));
		ASSERT_OK(shmkit_cond_init(&o->c));
		ASSERT_ERR(shmkit_mutex_init(m), -EINVAL);
		memcpy(p, &o->m, sizeof(o->m));
		ASSERT_ERR(shmkit_mutex_lock(m), -EINVAL);
		ASSERT_ERR(shmkit_mutex_trylock(m), -EINVAL);
		ASSERT_ERR(shmkit_mutex_timedlock(m, &dl), -EINVAL);
		ASSERT_ERR(shmkit_mutex_unlock(m), -EINVAL);
		ASSERT_ERR(shmkit_mutex_consistent(m), -EINVAL);
		ASSERT_ERR(shmkit_mutex_inspect(m, &info), -EINVAL);

		ASSERT_ERR(shmkit_sem_init(s, 1), -EINVAL);
		ASSERT_OK(shmkit_sem_init(&o->s, 1));
		memcpy(p, &o->s, sizeof(o->s));
		ASSERT_ERR(shmkit_sem_post(s), -EINVAL);
		ASSERT_ERR(shmkit_sem_wait(s), -EINVAL);
		ASSERT_ERR(shmkit_sem_trywait(s), -EINVAL);
		ASSERT_ERR(shmkit_sem_timedwait(s, &dl), -EINVAL);
		ASSERT_ERR(shmkit_sem_value(s), -EINVAL);

		ASSERT_ERR(shmkit_event_init(e), -EINVAL);
		ASSERT_OK(shmkit_event_init(&o->e));
		memcpy(p, &o->e, sizeof(o->e));
		ASSERT_EQ(shmkit_event_seq(e), 0);
		ASSERT_ERR(shmkit_event_wait(e, 0, &dl), -EINVAL);
		ASSERT_ERR(shmkit_event_wait(e, 1, NULL), -EINVAL);
		ASSERT_ERR(shmkit_event_signal(e, 1), -EINVAL);

		ASSERT_ERR(shmkit_cond_init(c), -EINVAL);
		memcpy(p, &o->c, sizeof(o->c));
		ASSERT_OK(shmkit_mutex_lock(&o->m));
		ASSERT_ERR(shmkit_cond_wait(c, &o->m), -EINVAL);
		ASSERT_ERR(shmkit_cond_timedwait(c, &o->m, &dl), -EINVAL);
		ASSERT_ERR(shmkit_cond_signal(c), -EINVAL);
		ASSERT_ERR(shmkit_cond_broadcast(c), -EINVAL);
		/* A refused wait leaves the mutex held. */
		ASSERT_OK(shmkit_mutex_unlock(&o->m));
	}
}

/* Every operation on @p, which is not a valid object of any kind, gives -EBADMSG. */
static void
assert_all_badmsg(void *p, struct objs *o)
{
	shmkit_mutex *m = p;
	shmkit_sem *s = p;
	shmkit_event *e = p;
	shmkit_cond *c = p;
	shmkit_mutex_info info;
	struct timespec dl;

	deadline_ms(&dl, 5);
	ASSERT_ERR(shmkit_mutex_lock(m), -EBADMSG);
	ASSERT_ERR(shmkit_mutex_trylock(m), -EBADMSG);
	ASSERT_ERR(shmkit_mutex_timedlock(m, &dl), -EBADMSG);
	ASSERT_ERR(shmkit_mutex_timedlock(m, NULL), -EBADMSG);
	ASSERT_ERR(shmkit_mutex_unlock(m), -EBADMSG);
	ASSERT_ERR(shmkit_mutex_consistent(m), -EBADMSG);
	ASSERT_ERR(shmkit_mutex_inspect(m, &info), -EBADMSG);

	ASSERT_ERR(shmkit_sem_post(s), -EBADMSG);
	ASSERT_ERR(shmkit_sem_wait(s), -EBADMSG);
	ASSERT_ERR(shmkit_sem_trywait(s), -EBADMSG);
	ASSERT_ERR(shmkit_sem_timedwait(s, &dl), -EBADMSG);
	ASSERT_ERR(shmkit_sem_timedwait(s, NULL), -EBADMSG);
	ASSERT_ERR(shmkit_sem_value(s), -EBADMSG);

	ASSERT_EQ(shmkit_event_seq(e), 0);
	ASSERT_ERR(shmkit_event_wait(e, 0, &dl), -EBADMSG);
	ASSERT_ERR(shmkit_event_wait(e, 0, NULL), -EBADMSG);
	ASSERT_ERR(shmkit_event_wait(e, 0x12345678, NULL), -EBADMSG);
	ASSERT_ERR(shmkit_event_signal(e, 1), -EBADMSG);
	ASSERT_ERR(shmkit_event_signal(e, SHMKIT_EVENT_ALL), -EBADMSG);

	ASSERT_OK(shmkit_mutex_init(&o->m));
	ASSERT_OK(shmkit_cond_init(&o->c));
	ASSERT_OK(shmkit_mutex_lock(&o->m));
	ASSERT_ERR(shmkit_cond_wait(c, &o->m), -EBADMSG);
	ASSERT_ERR(shmkit_cond_timedwait(c, &o->m, &dl), -EBADMSG);
	/* The refused waits must have left the good mutex held by us. */
	ASSERT_OK(shmkit_mutex_unlock(&o->m));
	ASSERT_ERR(shmkit_cond_signal(c), -EBADMSG);
	ASSERT_ERR(shmkit_cond_broadcast(c), -EBADMSG);
	/* A good condition variable with a bad mutex. */
	ASSERT_ERR(shmkit_cond_wait(&o->c, m), -EBADMSG);
	ASSERT_ERR(shmkit_cond_timedwait(&o->c, m, &dl), -EBADMSG);
}

TEST_TIMEOUT(zeroed_storage_is_badmsg, 20)
{
	struct objs *o = shared_objs();

	/* Fresh shared memory reads as zeroes: never initialised. */
	memset(o->raw, 0, 64);
	assert_all_badmsg(o->raw, o);
	/* Nothing above wrote to the storage. */
	for (int i = 0; i < 64; i++) {
		ASSERT_EQ(o->raw[i], 0);
	}
}

TEST_TIMEOUT(random_storage_is_badmsg, 30)
{
	struct objs *o = shared_objs();

	for (uint64_t seed = 1; seed <= 64; seed++) {
		th_context("seed %llu", (unsigned long long)seed);
		th_fill(o->raw, 64, seed * 0x9e3779b97f4a7c15ull);
		assert_all_badmsg(o->raw, o);
	}
	/* All 0xff, and a valid object overwritten by a stray memset. */
	th_context("0xff");
	memset(o->raw, 0xff, 64);
	assert_all_badmsg(o->raw, o);
}

/* An object of one kind is not a valid object of another kind. */
TEST_TIMEOUT(wrong_kind_is_badmsg, 20)
{
	struct objs *o = shared_objs();
	struct timespec dl;
	shmkit_mutex_info info;

	deadline_ms(&dl, 5);
	ASSERT_OK(shmkit_mutex_init(&o->m));
	ASSERT_OK(shmkit_sem_init(&o->s, 1));
	ASSERT_OK(shmkit_event_init(&o->e));
	ASSERT_OK(shmkit_cond_init(&o->c));

	ASSERT_ERR(shmkit_sem_trywait((shmkit_sem *)&o->m), -EBADMSG);
	ASSERT_ERR(shmkit_sem_post((shmkit_sem *)&o->e), -EBADMSG);
	ASSERT_ERR(shmkit_sem_value((shmkit_sem *)&o->c), -EBADMSG);
	ASSERT_ERR(shmkit_mutex_trylock((shmkit_mutex *)&o->s), -EBADMSG);
	ASSERT_ERR(shmkit_mutex_inspect((shmkit_mutex *)&o->e, &info), -EBADMSG);
	ASSERT_ERR(shmkit_mutex_timedlock((shmkit_mutex *)&o->c, &dl), -EBADMSG);
	ASSERT_ERR(shmkit_event_wait((shmkit_event *)&o->s, 0, &dl), -EBADMSG);
	ASSERT_ERR(shmkit_event_signal((shmkit_event *)&o->m, 1), -EBADMSG);
	ASSERT_ERR(shmkit_event_signal((shmkit_event *)&o->c, 1), -EBADMSG);
	ASSERT_ERR(shmkit_cond_signal((shmkit_cond *)&o->e), -EBADMSG);
	ASSERT_ERR(shmkit_cond_broadcast((shmkit_cond *)&o->s), -EBADMSG);
	ASSERT_OK(shmkit_mutex_lock(&o->m));
	ASSERT_ERR(shmkit_cond_timedwait((shmkit_cond *)&o->e, &o->m, &dl), -EBADMSG);
	ASSERT_ERR(shmkit_cond_timedwait(&o->c, (shmkit_mutex *)&o->s, &dl), -EBADMSG);
	ASSERT_OK(shmkit_mutex_unlock(&o->m));

	/* And the real objects are untouched. */
	ASSERT_EQ(shmkit_sem_value(&o->s), 1);
	ASSERT_EQ(shmkit_event_seq(&o->e), 0);
	ASSERT_OK(shmkit_mutex_trylock(&o->m));
	ASSERT_OK(shmkit_mutex_unlock(&o->m));
}

/*
 * One byte of a valid object changed at each position: whatever the layout,
 * every call returns one of its documented results and none hangs (each
 * wait has a short deadline; the watchdog catches a hang).
 */
TEST_TIMEOUT(byte_flips_never_crash_or_hang, 60)
{
	static const unsigned char vals[] = {0x00, 0x01, 0x80, 0xff};
	struct objs *o = shared_objs();
	_Alignas(64) unsigned char good[64];
	struct timespec dl;
	shmkit_mutex_info info;
	int rc;

	for (int kind = 0; kind < 4; kind++) {
		void *p = o->raw;

		switch (kind) {
		case 0:
			ASSERT_OK(shmkit_mutex_init(p));
			break;
		case 1:
			ASSERT_OK(shmkit_sem_init(p, 1));
			break;
		case 2:
			ASSERT_OK(shmkit_event_init(p));
			break;
		default:
			ASSERT_OK(shmkit_cond_init(p));
			break;
		}
		memcpy(good, p, 64);
		for (int pos = 0; pos < 64; pos++) {
			for (size_t v = 0; v < sizeof(vals); v++) {
				memcpy(p, good, 64);
				o->raw[pos] = vals[v];
				th_context("kind %d byte %d = 0x%02x", kind, pos, vals[v]);
				deadline_ms(&dl, 2);
				switch (kind) {
				case 0:
					rc = shmkit_mutex_inspect(p, &info);
					ASSERT_IN(rc, 0, -EBADMSG);
					rc = shmkit_mutex_timedlock(p, &dl);
					ASSERT_IN(rc, 0, -EOWNERDEAD, -ENOTRECOVERABLE, -ETIMEDOUT,
						  -EBADMSG, -EDEADLK);
					if (rc == 0 || rc == -EOWNERDEAD) {
						rc = shmkit_mutex_unlock(p);
						ASSERT_IN(rc, 0, -EBADMSG);
					}
					break;
				case 1:
					rc = shmkit_sem_value(p);
					ASSERT_TRUE(rc >= 0 || rc == -EBADMSG);
					rc = shmkit_sem_timedwait(p, &dl);
					ASSERT_IN(rc, 0, -ETIMEDOUT, -EBADMSG);
					rc = shmkit_sem_post(p);
					ASSERT_IN(rc, 0, -EOVERFLOW, -EBADMSG);
					break;
				case 2:
					(void)shmkit_event_seq(p);
					rc = shmkit_event_wait(p, shmkit_event_seq(p), &dl);
					ASSERT_IN(rc, 0, -ETIMEDOUT, -EBADMSG);
					rc = shmkit_event_signal(p, SHMKIT_EVENT_ALL);
					ASSERT_IN(rc, 0, -EBADMSG);
					break;
				default:
					ASSERT_OK(shmkit_mutex_init(&o->m));
					ASSERT_OK(shmkit_mutex_lock(&o->m));
					rc = shmkit_cond_timedwait(p, &o->m, &dl);
					ASSERT_IN(rc, 0, -ETIMEDOUT, -EBADMSG);
					ASSERT_OK(shmkit_mutex_unlock(&o->m));
					rc = shmkit_cond_signal(p);
					ASSERT_IN(rc, 0, -EBADMSG);
					rc = shmkit_cond_broadcast(p);
					ASSERT_IN(rc, 0, -EBADMSG);
					break;
				}
			}
		}
	}
}

/* ---- shmkit_deadline ---- */

TEST(deadline)
{
	struct timespec before, d, after;

	clock_gettime(CLOCK_MONOTONIC, &before);
	shmkit_deadline(&d, 250000000);
	clock_gettime(CLOCK_MONOTONIC, &after);
	ASSERT_TRUE(d.tv_nsec >= 0 && d.tv_nsec < 1000000000);
	ASSERT_GE(ts_ns(&d), ts_ns(&before) + 250000000);
	ASSERT_LE(ts_ns(&d), ts_ns(&after) + 250000000);

	/* Negative counts as 0: now. */
	clock_gettime(CLOCK_MONOTONIC, &before);
	shmkit_deadline(&d, -5000000000LL);
	clock_gettime(CLOCK_MONOTONIC, &after);
	ASSERT_TRUE(d.tv_nsec >= 0 && d.tv_nsec < 1000000000);
	ASSERT_GE(ts_ns(&d), ts_ns(&before));
	ASSERT_LE(ts_ns(&d), ts_ns(&after));

	/* Carries nanoseconds into seconds, and handles whole seconds. */
	for (int64_t ns = 999999999; ns <= 3000000001LL; ns += 500000001) {
		clock_gettime(CLOCK_MONOTONIC, &before);
		shmkit_deadline(&d, ns);
		clock_gettime(CLOCK_MONOTONIC, &after);
		ASSERT_TRUE(d.tv_nsec >= 0 && d.tv_nsec < 1000000000);
		ASSERT_GE(ts_ns(&d), ts_ns(&before) + ns);
		ASSERT_LE(ts_ns(&d), ts_ns(&after) + ns);
	}

	/* A huge timeout saturates rather than wrapping into the past. */
	shmkit_deadline(&d, INT64_MAX);
	ASSERT_TRUE(d.tv_nsec >= 0 && d.tv_nsec < 1000000000);
	ASSERT_GT(d.tv_sec, after.tv_sec + 1000000);
}

/* ---- mutex ---- */

TEST(mutex_basic)
{
	struct objs *o = shared_objs();
	shmkit_mutex_info info;

	th_fill(&o->m, sizeof(o->m), 3); /* init overwrites whatever was there */
	ASSERT_OK(shmkit_mutex_init(&o->m));
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.locked, 0);
	ASSERT_EQ(info.holder_pid, -1);
	ASSERT_EQ(info.state, 0);
	ASSERT_EQ(info.waiters, 0);

	ASSERT_ERR(shmkit_mutex_lock(&o->m), 0);
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.locked, 1);
	ASSERT_EQ(info.holder_pid, getpid());
	ASSERT_EQ(info.holder_alive, 1);
	ASSERT_EQ(info.state, 0);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.locked, 0);
	ASSERT_EQ(info.holder_pid, -1);

	ASSERT_ERR(shmkit_mutex_trylock(&o->m), 0);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);
	ASSERT_ERR(shmkit_mutex_timedlock(&o->m, NULL), 0);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);

	/* A free mutex is taken even with a deadline in the past. */
	{
		struct timespec past;

		deadline_past(&past);
		ASSERT_ERR(shmkit_mutex_timedlock(&o->m, &past), 0);
		ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);
	}

	for (int i = 0; i < 100000; i++) {
		ASSERT_ERR(shmkit_mutex_lock(&o->m), 0);
		ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);
	}
}

TEST(mutex_misuse_same_process)
{
	struct objs *o = shared_objs();
	struct timespec dl;
	int rc;

	ASSERT_OK(shmkit_mutex_init(&o->m));
	/* Unlock of a free mutex, consistent on a free or healthy mutex. */
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), -EPERM);
	ASSERT_ERR(shmkit_mutex_consistent(&o->m), -EINVAL);

	ASSERT_OK(shmkit_mutex_lock(&o->m));
	ASSERT_ERR(shmkit_mutex_lock(&o->m), -EDEADLK);
	deadline_ms(&dl, 20);
	ASSERT_ERR(shmkit_mutex_timedlock(&o->m, &dl), -EDEADLK);
	ASSERT_ERR(shmkit_mutex_timedlock(&o->m, NULL), -EDEADLK);
	/* trylock by the holder: -EDEADLK as lock says, or -EBUSY as POSIX trylock does. */
	rc = shmkit_mutex_trylock(&o->m);
	ASSERT_IN(rc, -EDEADLK, -EBUSY);
	ASSERT_ERR(shmkit_mutex_consistent(&o->m), -EINVAL);
	ASSERT_OK(shmkit_mutex_unlock(&o->m));
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), -EPERM);

	/* Misuse changed nothing: the mutex works. */
	ASSERT_ERR(shmkit_mutex_trylock(&o->m), 0);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);
}

TEST(mutex_held_by_other_process)
{
	struct objs *o = shared_objs();
	struct timespec dl;
	struct holder h;
	shmkit_mutex_info info;
	int64_t t0;

	ASSERT_OK(shmkit_mutex_init(&o->m));
	h = hold_in_child(&o->m);

	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.locked, 1);
	ASSERT_EQ(info.holder_pid, h.pid);
	ASSERT_EQ(info.holder_alive, 1);
	ASSERT_EQ(info.state, 0);

	ASSERT_ERR(shmkit_mutex_trylock(&o->m), -EBUSY);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), -EPERM);
	ASSERT_ERR(shmkit_mutex_consistent(&o->m), -EINVAL);

	/* A deadline in the past, then a near one. */
	deadline_past(&dl);
	ASSERT_ERR(shmkit_mutex_timedlock(&o->m, &dl), -ETIMEDOUT);
	deadline_ms(&dl, 0);
	ASSERT_ERR(shmkit_mutex_timedlock(&o->m, &dl), -ETIMEDOUT);
	t0 = mono_ns();
	deadline_ms(&dl, 50);
	ASSERT_ERR(shmkit_mutex_timedlock(&o->m, &dl), -ETIMEDOUT);
	assert_not_early(&dl, "shmkit_mutex_timedlock");
	ASSERT_GE(mono_ns() - t0, 50000000);

	/* Bad timespecs, while the call would have to wait. */
	dl.tv_sec = 1;
	dl.tv_nsec = 1000000000;
	ASSERT_ERR(shmkit_mutex_timedlock(&o->m, &dl), -EINVAL);
	dl.tv_nsec = -1;
	ASSERT_ERR(shmkit_mutex_timedlock(&o->m, &dl), -EINVAL);
	dl.tv_sec = -1;
	dl.tv_nsec = 0;
	ASSERT_ERR(shmkit_mutex_timedlock(&o->m, &dl), -EINVAL);

	/* Still held by the child, which unlocks cleanly. */
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.holder_pid, h.pid);
	release_holder(&h);
	ASSERT_ERR(shmkit_mutex_trylock(&o->m), 0);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);
}

TEST(mutex_bad_timespec_free_mutex)
{
	struct objs *o = shared_objs();
	struct timespec dl = {.tv_sec = 0, .tv_nsec = 1000000000};
	int rc;

	ASSERT_OK(shmkit_mutex_init(&o->m));
	/* POSIX lets a free mutex be taken without looking at the deadline. */
	rc = shmkit_mutex_timedlock(&o->m, &dl);
	ASSERT_IN(rc, 0, -EINVAL);
	if (rc == 0) {
		ASSERT_OK(shmkit_mutex_unlock(&o->m));
	}
	ASSERT_ERR(shmkit_mutex_trylock(&o->m), 0);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);
}

TEST(mutex_waiter_wakes_on_unlock)
{
	struct objs *o = shared_objs();
	struct holder h;
	pid_t waiter;
	int st;

	ASSERT_OK(shmkit_mutex_init(&o->m));
	h = hold_in_child(&o->m);
	waiter = th_fork();
	if (waiter == 0) {
		int rc = shmkit_mutex_lock(&o->m);

		if (rc != 0) {
			th_exit(10 + (-rc & 0x3f));
		}
		th_exit(shmkit_mutex_unlock(&o->m) == 0 ? 0 : 2);
	}
	th_sleep_ms(50);
	release_holder(&h);
	st = th_wait(waiter);
	ASSERT_EXIT(st, 0);
	ASSERT_ERR(shmkit_mutex_trylock(&o->m), 0);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);
}

TEST(mutex_forked_child_is_another_process)
{
	struct objs *o = shared_objs();
	pid_t pid;

	ASSERT_OK(shmkit_mutex_init(&o->m));
	ASSERT_OK(shmkit_mutex_lock(&o->m));
	pid = th_fork();
	if (pid == 0) {
		/* What the parent holds is not ours. */
		if (shmkit_mutex_unlock(&o->m) != -EPERM) {
			th_exit(2);
		}
		if (shmkit_mutex_trylock(&o->m) != -EBUSY) {
			th_exit(3);
		}
		th_exit(0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_OK(shmkit_mutex_unlock(&o->m));
}

/* A child locks and exits (normally) without unlocking. */
static void
die_holding(shmkit_mutex *m)
{
	pid_t pid = th_fork();

	if (pid == 0) {
		th_exit(shmkit_mutex_lock(m) == 0 ? 0 : 2);
	}
	ASSERT_EXIT(th_wait(pid), 0);
}

TEST(mutex_owner_dead_then_consistent)
{
	struct objs *o = shared_objs();
	shmkit_mutex_info info;

	ASSERT_OK(shmkit_mutex_init(&o->m));
	die_holding(&o->m);
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.locked, 1);
	ASSERT_EQ(info.holder_alive, 0);

	ASSERT_ERR(shmkit_mutex_lock(&o->m), -EOWNERDEAD);
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.locked, 1);
	ASSERT_EQ(info.holder_pid, getpid());
	ASSERT_EQ(info.holder_alive, 1);
	ASSERT_EQ(info.state, 1);
	ASSERT_ERR(shmkit_mutex_lock(&o->m), -EDEADLK);
	ASSERT_ERR(shmkit_mutex_consistent(&o->m), 0);
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.state, 0);
	ASSERT_EQ(info.locked, 1);
	/* Once consistent, a second consistent is misuse. */
	ASSERT_ERR(shmkit_mutex_consistent(&o->m), -EINVAL);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);
	ASSERT_ERR(shmkit_mutex_lock(&o->m), 0);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);

	/* trylock and timedlock report the death too. */
	die_holding(&o->m);
	ASSERT_ERR(shmkit_mutex_trylock(&o->m), -EOWNERDEAD);
	ASSERT_OK(shmkit_mutex_consistent(&o->m));
	ASSERT_OK(shmkit_mutex_unlock(&o->m));
	die_holding(&o->m);
	{
		struct timespec dl;

		deadline_ms(&dl, 1000);
		ASSERT_ERR(shmkit_mutex_timedlock(&o->m, &dl), -EOWNERDEAD);
	}
	ASSERT_OK(shmkit_mutex_consistent(&o->m));
	ASSERT_OK(shmkit_mutex_unlock(&o->m));
}

TEST(mutex_not_recoverable)
{
	struct objs *o = shared_objs();
	shmkit_mutex_info info;
	struct timespec dl;
	pid_t pid;

	ASSERT_OK(shmkit_mutex_init(&o->m));
	die_holding(&o->m);
	ASSERT_ERR(shmkit_mutex_lock(&o->m), -EOWNERDEAD);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0); /* without consistent */
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.state, 2);
	ASSERT_EQ(info.locked, 0);

	ASSERT_ERR(shmkit_mutex_lock(&o->m), -ENOTRECOVERABLE);
	ASSERT_ERR(shmkit_mutex_trylock(&o->m), -ENOTRECOVERABLE);
	deadline_ms(&dl, 20);
	ASSERT_ERR(shmkit_mutex_timedlock(&o->m, &dl), -ENOTRECOVERABLE);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), -EPERM);
	ASSERT_ERR(shmkit_mutex_consistent(&o->m), -EINVAL);
	pid = th_fork();
	if (pid == 0) {
		th_exit(shmkit_mutex_lock(&o->m) == -ENOTRECOVERABLE ? 0 : 2);
	}
	ASSERT_EXIT(th_wait(pid), 0);

	/* Only a new init brings it back. */
	ASSERT_OK(shmkit_mutex_init(&o->m));
	ASSERT_ERR(shmkit_mutex_lock(&o->m), 0);
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);
}

/* ---- semaphore ---- */

TEST(sem_init_bounds)
{
	struct objs *o = shared_objs();

	ASSERT_ERR(shmkit_sem_init(&o->s, (uint32_t)SHMKIT_SEM_VALUE_MAX + 1), -EINVAL);
	ASSERT_ERR(shmkit_sem_init(&o->s, UINT32_MAX), -EINVAL);
	ASSERT_OK(shmkit_sem_init(&o->s, 0));
	ASSERT_EQ(shmkit_sem_value(&o->s), 0);
	ASSERT_OK(shmkit_sem_init(&o->s, 7));
	ASSERT_EQ(shmkit_sem_value(&o->s), 7);
	ASSERT_OK(shmkit_sem_init(&o->s, SHMKIT_SEM_VALUE_MAX));
	ASSERT_EQ(shmkit_sem_value(&o->s), SHMKIT_SEM_VALUE_MAX);
	ASSERT_ERR(shmkit_sem_post(&o->s), -EOVERFLOW);
	ASSERT_EQ(shmkit_sem_value(&o->s), SHMKIT_SEM_VALUE_MAX);
	ASSERT_ERR(shmkit_sem_trywait(&o->s), 0);
	ASSERT_EQ(shmkit_sem_value(&o->s), SHMKIT_SEM_VALUE_MAX - 1);
	ASSERT_ERR(shmkit_sem_post(&o->s), 0);
	ASSERT_ERR(shmkit_sem_post(&o->s), -EOVERFLOW);
	ASSERT_EQ(shmkit_sem_value(&o->s), SHMKIT_SEM_VALUE_MAX);
}

TEST(sem_post_wait)
{
	struct objs *o = shared_objs();
	struct timespec dl;

	ASSERT_OK(shmkit_sem_init(&o->s, 0));
	ASSERT_ERR(shmkit_sem_trywait(&o->s), -EAGAIN);
	ASSERT_EQ(shmkit_sem_value(&o->s), 0);
	ASSERT_ERR(shmkit_sem_post(&o->s), 0);
	ASSERT_EQ(shmkit_sem_value(&o->s), 1);
	ASSERT_ERR(shmkit_sem_trywait(&o->s), 0);
	ASSERT_EQ(shmkit_sem_value(&o->s), 0);
	for (int i = 0; i < 3; i++) {
		ASSERT_ERR(shmkit_sem_post(&o->s), 0);
	}
	ASSERT_EQ(shmkit_sem_value(&o->s), 3);
	ASSERT_ERR(shmkit_sem_wait(&o->s), 0);
	deadline_ms(&dl, 10);
	ASSERT_ERR(shmkit_sem_timedwait(&o->s, &dl), 0);
	ASSERT_ERR(shmkit_sem_timedwait(&o->s, NULL), 0);
	ASSERT_EQ(shmkit_sem_value(&o->s), 0);
	ASSERT_ERR(shmkit_sem_trywait(&o->s), -EAGAIN);

	/* A count that is available is taken even with a past deadline. */
	ASSERT_OK(shmkit_sem_post(&o->s));
	deadline_past(&dl);
	ASSERT_ERR(shmkit_sem_timedwait(&o->s, &dl), 0);

	for (int i = 0; i < 100000; i++) {
		ASSERT_ERR(shmkit_sem_post(&o->s), 0);
		ASSERT_ERR(shmkit_sem_wait(&o->s), 0);
	}
	ASSERT_EQ(shmkit_sem_value(&o->s), 0);
}

TEST(sem_timedwait_timeout)
{
	struct objs *o = shared_objs();
	struct timespec dl;

	ASSERT_OK(shmkit_sem_init(&o->s, 0));
	deadline_past(&dl);
	ASSERT_ERR(shmkit_sem_timedwait(&o->s, &dl), -ETIMEDOUT);
	deadline_ms(&dl, 40);
	ASSERT_ERR(shmkit_sem_timedwait(&o->s, &dl), -ETIMEDOUT);
	assert_not_early(&dl, "shmkit_sem_timedwait");
	ASSERT_EQ(shmkit_sem_value(&o->s), 0);

	dl.tv_sec = 0;
	dl.tv_nsec = 1000000000;
	ASSERT_ERR(shmkit_sem_timedwait(&o->s, &dl), -EINVAL);
	dl.tv_nsec = -1;
	ASSERT_ERR(shmkit_sem_timedwait(&o->s, &dl), -EINVAL);
	dl.tv_sec = -5;
	dl.tv_nsec = 0;
	ASSERT_ERR(shmkit_sem_timedwait(&o->s, &dl), -EINVAL);
	ASSERT_EQ(shmkit_sem_value(&o->s), 0);
}

TEST(sem_wait_woken_by_other_process)
{
	struct objs *o = shared_objs();
	pid_t pid;

	ASSERT_OK(shmkit_sem_init(&o->s, 0));
	pid = th_fork();
	if (pid == 0) {
		for (int i = 0; i < 3; i++) {
			if (shmkit_sem_wait(&o->s) != 0) {
				th_exit(2);
			}
		}
		th_exit(0);
	}
	for (int i = 0; i < 3; i++) {
		th_sleep_ms(20);
		ASSERT_OK(shmkit_sem_post(&o->s));
	}
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_EQ(shmkit_sem_value(&o->s), 0);
}

/* ---- event ---- */

TEST(event_basic)
{
	struct objs *o = shared_objs();
	struct timespec dl;
	uint32_t s0, s1;

	th_fill(&o->e, sizeof(o->e), 9);
	ASSERT_OK(shmkit_event_init(&o->e));
	s0 = shmkit_event_seq(&o->e);
	ASSERT_EQ(s0, 0);
	/* No one waits: signal just advances. */
	ASSERT_OK(shmkit_event_signal(&o->e, 1));
	s1 = shmkit_event_seq(&o->e);
	ASSERT_NE(s1, s0);
	ASSERT_OK(shmkit_event_signal(&o->e, SHMKIT_EVENT_ALL));
	ASSERT_NE(shmkit_event_seq(&o->e), s1);

	/* The sequence differs from @seen: return at once, deadline or not. */
	ASSERT_ERR(shmkit_event_wait(&o->e, s0, NULL), 0);
	deadline_past(&dl);
	ASSERT_ERR(shmkit_event_wait(&o->e, s1, &dl), 0);

	/* Unchanged: time out. */
	s1 = shmkit_event_seq(&o->e);
	ASSERT_ERR(shmkit_event_wait(&o->e, s1, &dl), -ETIMEDOUT);
	deadline_ms(&dl, 40);
	ASSERT_ERR(shmkit_event_wait(&o->e, s1, &dl), -ETIMEDOUT);
	assert_not_early(&dl, "shmkit_event_wait");
	ASSERT_EQ(shmkit_event_seq(&o->e), s1);

	dl.tv_sec = 0;
	dl.tv_nsec = 1000000000;
	ASSERT_ERR(shmkit_event_wait(&o->e, s1, &dl), -EINVAL);
	dl.tv_nsec = -1;
	ASSERT_ERR(shmkit_event_wait(&o->e, s1, &dl), -EINVAL);

	/* Every signal advances: 1000 signals give 1000 distinct values in a row. */
	for (int i = 0; i < 1000; i++) {
		uint32_t before = shmkit_event_seq(&o->e);

		ASSERT_OK(shmkit_event_signal(&o->e, i % 2 ? 1 : SHMKIT_EVENT_ALL));
		ASSERT_NE(shmkit_event_seq(&o->e), before);
	}
}

TEST(event_wait_woken_by_other_process)
{
	struct objs *o = shared_objs();
	int ready[2];
	pid_t pid;
	char c;

	ASSERT_OK(shmkit_event_init(&o->e));
	ASSERT_SYS(pipe(ready));
	pid = th_fork();
	if (pid == 0) {
		for (int i = 0; i < 3; i++) {
			uint32_t seen = shmkit_event_seq(&o->e);

			(void)th_write_all(ready[1], "r", 1);
			if (shmkit_event_wait(&o->e, seen, NULL) != 0) {
				th_exit(2);
			}
			if (shmkit_event_seq(&o->e) == seen) {
				th_exit(3);
			}
		}
		th_exit(0);
	}
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(th_read_all(ready[0], &c, 1), 0);
		th_sleep_ms(20);
		ASSERT_OK(shmkit_event_signal(&o->e, i == 1 ? 1 : SHMKIT_EVENT_ALL));
	}
	ASSERT_EXIT(th_wait(pid), 0);
}

/* ---- condition variable ---- */

TEST(cond_basic)
{
	struct objs *o = shared_objs();
	shmkit_mutex_info info;
	struct timespec dl;

	th_fill(&o->c, sizeof(o->c), 11);
	ASSERT_OK(shmkit_cond_init(&o->c));
	ASSERT_OK(shmkit_mutex_init(&o->m));
	/* Nobody waits. */
	ASSERT_ERR(shmkit_cond_signal(&o->c), 0);
	ASSERT_ERR(shmkit_cond_broadcast(&o->c), 0);

	/* Waiting requires holding the mutex. */
	ASSERT_ERR(shmkit_cond_wait(&o->c, &o->m), -EPERM);
	deadline_ms(&dl, 10);
	ASSERT_ERR(shmkit_cond_timedwait(&o->c, &o->m, &dl), -EPERM);
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.locked, 0);

	ASSERT_OK(shmkit_mutex_lock(&o->m));
	deadline_past(&dl);
	ASSERT_ERR(shmkit_cond_timedwait(&o->c, &o->m, &dl), -ETIMEDOUT);
	deadline_ms(&dl, 40);
	ASSERT_ERR(shmkit_cond_timedwait(&o->c, &o->m, &dl), -ETIMEDOUT);
	assert_not_early(&dl, "shmkit_cond_timedwait");
	/* Relocked by us. */
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.locked, 1);
	ASSERT_EQ(info.holder_pid, getpid());

	dl.tv_sec = 0;
	dl.tv_nsec = 1000000000;
	ASSERT_ERR(shmkit_cond_timedwait(&o->c, &o->m, &dl), -EINVAL);
	/* A refused wait leaves the mutex held. */
	ASSERT_ERR(shmkit_mutex_unlock(&o->m), 0);
}

/* A mutex held by another process is not ours to wait with. */
TEST(cond_wait_mutex_held_elsewhere)
{
	struct objs *o = shared_objs();
	struct holder h;
	struct timespec dl;

	ASSERT_OK(shmkit_cond_init(&o->c));
	ASSERT_OK(shmkit_mutex_init(&o->m));
	h = hold_in_child(&o->m);
	deadline_ms(&dl, 10);
	ASSERT_ERR(shmkit_cond_timedwait(&o->c, &o->m, &dl), -EPERM);
	ASSERT_ERR(shmkit_cond_wait(&o->c, &o->m), -EPERM);
	release_holder(&h);
}

/* Waiters in other processes, woken one by one with signal, then all by broadcast. */
TEST(cond_signal_and_broadcast)
{
	enum { WAITERS = 3 };
	struct shared {
		shmkit_mutex m;
		shmkit_cond c;
		int tickets;
		int woken;
		int go_all;
	} * sh;
	pid_t pids[WAITERS];
	int64_t until;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(sh != MAP_FAILED);
	ASSERT_OK(shmkit_mutex_init(&sh->m));
	ASSERT_OK(shmkit_cond_init(&sh->c));
	for (int i = 0; i < WAITERS; i++) {
		pids[i] = th_fork();
		if (pids[i] == 0) {
			/* Phase 1: wait for a ticket. Phase 2: wait for go_all. */
			if (shmkit_mutex_lock(&sh->m) != 0) {
				th_exit(2);
			}
			while (sh->tickets == 0) {
				if (shmkit_cond_wait(&sh->c, &sh->m) != 0) {
					th_exit(3);
				}
			}
			sh->tickets--;
			sh->woken++;
			while (!sh->go_all) {
				if (shmkit_cond_wait(&sh->c, &sh->m) != 0) {
					th_exit(4);
				}
			}
			sh->woken++;
			th_exit(shmkit_mutex_unlock(&sh->m) == 0 ? 0 : 5);
		}
	}
	th_sleep_ms(50);
	for (int i = 0; i < WAITERS; i++) {
		ASSERT_OK(shmkit_mutex_lock(&sh->m));
		sh->tickets++;
		ASSERT_OK(shmkit_cond_signal(&sh->c));
		ASSERT_OK(shmkit_mutex_unlock(&sh->m));
		/* One signal is enough for one waiter: wait until it took the ticket. */
		until = th_now_ms() + 5000;
		for (;;) {
			int w;

			ASSERT_OK(shmkit_mutex_lock(&sh->m));
			w = sh->woken;
			ASSERT_OK(shmkit_mutex_unlock(&sh->m));
			if (w == i + 1) {
				break;
			}
			if (th_now_ms() > until) {
				th_fail(__FILE__, __LINE__, "signal %d woke no waiter in 5 s",
					i + 1);
			}
			th_sleep_ms(2);
		}
	}
	ASSERT_OK(shmkit_mutex_lock(&sh->m));
	sh->go_all = 1;
	ASSERT_OK(shmkit_cond_broadcast(&sh->c));
	ASSERT_OK(shmkit_mutex_unlock(&sh->m));
	for (int i = 0; i < WAITERS; i++) {
		ASSERT_EXIT(th_wait(pids[i]), 0);
	}
	ASSERT_EQ(sh->woken, 2 * WAITERS);
}

/* ---- shmkit_mutex_inspect ---- */

TEST(mutex_inspect_reports_waiters)
{
	struct objs *o = shared_objs();
	shmkit_mutex_info info;
	struct holder h;
	pid_t waiter;
	int64_t until;

	ASSERT_OK(shmkit_mutex_init(&o->m));
	memset(&info, 0x5a, sizeof(info));
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.locked, 0);
	ASSERT_EQ(info.waiters, 0);
	ASSERT_EQ(info.state, 0);

	h = hold_in_child(&o->m);
	waiter = th_fork();
	if (waiter == 0) {
		int rc = shmkit_mutex_lock(&o->m);

		th_exit(rc == 0 && shmkit_mutex_unlock(&o->m) == 0 ? 0 : 2);
	}
	/* The waiter shows once it sleeps (bounded poll, not a timing assertion). */
	until = th_now_ms() + 5000;
	do {
		th_sleep_ms(5);
		ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	} while (info.waiters == 0 && th_now_ms() < until);
	ASSERT_EQ(info.waiters, 1);
	ASSERT_EQ(info.locked, 1);
	ASSERT_EQ(info.holder_pid, h.pid);
	release_holder(&h);
	ASSERT_EXIT(th_wait(waiter), 0);
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.locked, 0);

	/* A holder killed: inspect shows it dead, without changing anything. */
	h = hold_in_child(&o->m);
	ASSERT_SYS(kill(h.pid, SIGKILL));
	(void)th_wait(h.pid);
	close(h.release_fd);
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.locked, 1);
	ASSERT_EQ(info.holder_pid, h.pid);
	ASSERT_EQ(info.holder_alive, 0);
	/* Before anyone takes it over: consistent, or already "owner died". */
	ASSERT_IN(info.state, 0, 1);
	ASSERT_OK(shmkit_mutex_inspect(&o->m, &info));
	ASSERT_EQ(info.holder_alive, 0);
	ASSERT_ERR(shmkit_mutex_lock(&o->m), -EOWNERDEAD);
	ASSERT_OK(shmkit_mutex_consistent(&o->m));
	ASSERT_OK(shmkit_mutex_unlock(&o->m));
}

/*
 * Whatever a corrupted mutex holds, when inspect reports it locked by a dead
 * holder, a lock without deadline must come back (-EOWNERDEAD, or
 * -ENOTRECOVERABLE/-EBADMSG) within T01's 2 s, never sleep forever.
 */
TEST_TIMEOUT(byte_flips_dead_holder_lock_returns, 60)
{
	static const unsigned char vals[] = {0x01, 0x80, 0xff};
	struct objs *o = shared_objs();
	_Alignas(64) unsigned char good[64];
	shmkit_mutex_info info;
	int tried = 0;

	ASSERT_OK(shmkit_mutex_init((shmkit_mutex *)o->raw));
	memcpy(good, o->raw, 64);
	for (int pos = 0; pos < 64; pos++) {
		for (size_t v = 0; v < sizeof(vals); v++) {
			int64_t until;
			pid_t pid;
			int st;

			memcpy(o->raw, good, 64);
			o->raw[pos] = vals[v];
			if (shmkit_mutex_inspect((shmkit_mutex *)o->raw, &info) != 0 ||
			    !info.locked || info.holder_alive) {
				continue;
			}
			th_context("byte %d = 0x%02x: locked, holder dead", pos, vals[v]);
			tried++;
			pid = th_fork();
			if (pid == 0) {
				int rc = shmkit_mutex_lock((shmkit_mutex *)o->raw);

				th_exit(rc == -EOWNERDEAD || rc == -ENOTRECOVERABLE ||
							rc == -EBADMSG
						? 0
						: 2);
			}
			until = th_now_ms() + 2000;
			while (waitpid(pid, &st, WNOHANG) != pid) {
				if (th_now_ms() > until) {
					kill(pid, SIGKILL);
					(void)th_wait(pid);
					th_fail(__FILE__, __LINE__,
						"shmkit_mutex_lock still blocked after 2 s on a "
						"mutex "
						"that inspect reports held by a dead holder");
				}
				th_sleep_ms(2);
			}
			ASSERT_EXIT(st, 0);
		}
	}
	th_context(NULL);
	th_log("%d corrupted mutexes reported locked by a dead holder", tried);
}

TEST(event_signal_bad_count)
{
	struct objs *o = shared_objs();

	ASSERT_OK(shmkit_event_init(&o->e));
	ASSERT_ERR(shmkit_event_signal(&o->e, 0), -EINVAL);
	ASSERT_ERR(shmkit_event_signal(&o->e, -1), -EINVAL);
	ASSERT_EQ(shmkit_event_seq(&o->e), 0);
}
