/* SPDX-License-Identifier: MIT */
/* Threaded stress of mutex, semaphore, event and cond in one process (for TSan, T14). */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/*
 * The protected data below is plain (not atomic) on purpose: only the
 * library's acquire/release ordering makes the accesses race-free, which
 * is what ThreadSanitizer checks.
 */
#define THREADS 4
#define ITERS   20000

static int failed_rc; /* first unexpected return value, written once under fail_lock */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void
note_fail(int rc)
{
	pthread_mutex_lock(&fail_lock);
	if (failed_rc == 0) {
		failed_rc = rc ? rc : -1;
	}
	pthread_mutex_unlock(&fail_lock);
}

static int
read_fail(void)
{
	int rc;

	pthread_mutex_lock(&fail_lock);
	rc = failed_rc;
	pthread_mutex_unlock(&fail_lock);
	return rc;
}

static void
run_threads(void *(*fn)(void *), void *arg)
{
	pthread_t th[THREADS];

	for (int i = 0; i < THREADS; i++) {
		ASSERT_EQ(pthread_create(&th[i], NULL, fn, arg), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		ASSERT_EQ(pthread_join(th[i], NULL), 0);
	}
	if (read_fail() != 0) {
		char b[160];

		th_fail(__FILE__, __LINE__, "a thread got %s",
			th_errdesc(read_fail(), b, sizeof(b)));
	}
}

/* ---- mutex ---- */

static struct {
	shmkit_mutex m;
	uint64_t a, b;
} mx;

static void *
mutex_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < ITERS; i++) {
		int rc;

		if (i % 3 == 0) {
			while ((rc = shmkit_mutex_trylock(&mx.m)) == -EBUSY) {
				sched_yield();
			}
		} else if (i % 3 == 1) {
			rc = shmkit_mutex_timedlock(&mx.m, NULL);
		} else {
			rc = shmkit_mutex_lock(&mx.m);
		}
		if (rc != 0) {
			note_fail(rc);
			return NULL;
		}
		if (mx.a != mx.b) {
			note_fail(-1000);
		}
		mx.a++;
		mx.b++;
		rc = shmkit_mutex_unlock(&mx.m);
		if (rc != 0) {
			note_fail(rc);
			return NULL;
		}
	}
	return NULL;
}

TEST_TIMEOUT(mutex_threads, 60)
{
	ASSERT_OK(shmkit_mutex_init(&mx.m));
	run_threads(mutex_main, NULL);
	ASSERT_EQ(mx.a, (uint64_t)THREADS * ITERS);
	ASSERT_EQ(mx.b, mx.a);
}

/* Ownership is per thread: another thread may not unlock; a thread that exits holding is dead. */
static void *
lock_and_exit(void *arg)
{
	int rc = shmkit_mutex_lock(arg);

	if (rc != 0) {
		note_fail(rc);
	}
	return NULL;
}

static void *
try_unlock(void *arg)
{
	int rc = shmkit_mutex_unlock(arg);

	if (rc != -EPERM) {
		note_fail(rc ? rc : -2000);
	}
	rc = shmkit_mutex_trylock(arg);
	if (rc != -EBUSY) {
		note_fail(rc ? rc : -2001);
	}
	return NULL;
}

TEST(mutex_thread_ownership)
{
	pthread_t th;

	ASSERT_OK(shmkit_mutex_init(&mx.m));
	ASSERT_OK(shmkit_mutex_lock(&mx.m));
	ASSERT_EQ(pthread_create(&th, NULL, try_unlock, &mx.m), 0);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	ASSERT_EQ(read_fail(), 0);
	ASSERT_OK(shmkit_mutex_unlock(&mx.m));

	ASSERT_EQ(pthread_create(&th, NULL, lock_and_exit, &mx.m), 0);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	ASSERT_EQ(read_fail(), 0);
	ASSERT_ERR(shmkit_mutex_lock(&mx.m), -EOWNERDEAD);
	ASSERT_OK(shmkit_mutex_consistent(&mx.m));
	ASSERT_OK(shmkit_mutex_unlock(&mx.m));
}

/* ---- semaphore: a bounded buffer between 2 producers and 2 consumers ---- */

#define SLOTS 4

static struct {
	shmkit_sem lock, items, spaces;
	uint64_t buf[SLOTS];
	unsigned head, tail;
	uint64_t sum;
	int next_id;
} sb;

static void *
sem_main(void *arg)
{
	int id;

	(void)arg;
	if (shmkit_sem_wait(&sb.lock) != 0) {
		note_fail(-3000);
		return NULL;
	}
	id = sb.next_id++;
	shmkit_sem_post(&sb.lock);
	for (uint64_t i = 1; i <= ITERS; i++) {
		shmkit_sem *take = id % 2 ? &sb.items : &sb.spaces;
		shmkit_sem *give = id % 2 ? &sb.spaces : &sb.items;
		int rc = i % 2 ? shmkit_sem_wait(take) : shmkit_sem_timedwait(take, NULL);

		if (rc == 0) {
			rc = shmkit_sem_wait(&sb.lock);
		}
		if (rc != 0) {
			note_fail(rc);
			return NULL;
		}
		if (id % 2) {
			sb.sum += sb.buf[sb.head];
			sb.head = (sb.head + 1) % SLOTS;
		} else {
			sb.buf[sb.tail] = i;
			sb.tail = (sb.tail + 1) % SLOTS;
		}
		if (shmkit_sem_post(&sb.lock) != 0 || shmkit_sem_post(give) != 0) {
			note_fail(-3001);
			return NULL;
		}
	}
	return NULL;
}

TEST_TIMEOUT(sem_threads, 60)
{
	memset(&sb, 0, sizeof(sb));
	ASSERT_OK(shmkit_sem_init(&sb.lock, 1));
	ASSERT_OK(shmkit_sem_init(&sb.items, 0));
	ASSERT_OK(shmkit_sem_init(&sb.spaces, SLOTS));
	run_threads(sem_main, NULL);
	ASSERT_EQ(sb.sum, (uint64_t)(THREADS / 2) * ITERS * (ITERS + 1) / 2);
	ASSERT_EQ(shmkit_sem_value(&sb.items), 0);
	ASSERT_EQ(shmkit_sem_value(&sb.spaces), SLOTS);
	ASSERT_EQ(shmkit_sem_value(&sb.lock), 1);
}

/* ---- event: a baton passed around a ring of threads ---- */

#define EVENT_LAPS 5000

static struct {
	shmkit_event e[THREADS];
	uint64_t baton; /* touched only by the thread whose turn it is */
	pthread_mutex_t id_lock;
	int next_id;
} ev;

static void *
event_main(void *arg)
{
	uint32_t seen;
	int id;

	(void)arg;
	pthread_mutex_lock(&ev.id_lock);
	id = ev.next_id++;
	pthread_mutex_unlock(&ev.id_lock);
	seen = 0; /* each event starts at 0 and is signalled once per lap */
	for (int lap = 0; lap < EVENT_LAPS; lap++) {
		uint32_t now;

		while ((now = shmkit_event_seq(&ev.e[id])) == seen) {
			int rc = shmkit_event_wait(&ev.e[id], seen, NULL);

			if (rc != 0) {
				note_fail(rc);
				return NULL;
			}
		}
		seen = now;
		if (ev.baton != (uint64_t)lap * THREADS + (uint64_t)id) {
			note_fail(-4000);
			return NULL;
		}
		ev.baton++;
		if (shmkit_event_signal(&ev.e[(id + 1) % THREADS],
					lap % 2 ? 1 : SHMKIT_EVENT_ALL) != 0) {
			note_fail(-4001);
			return NULL;
		}
	}
	return NULL;
}

TEST_TIMEOUT(event_threads, 60)
{
	pthread_t th[THREADS];

	memset(&ev, 0, sizeof(ev));
	pthread_mutex_init(&ev.id_lock, NULL);
	for (int i = 0; i < THREADS; i++) {
		ASSERT_OK(shmkit_event_init(&ev.e[i]));
	}
	for (int i = 0; i < THREADS; i++) {
		ASSERT_EQ(pthread_create(&th[i], NULL, event_main, NULL), 0);
	}
	ASSERT_OK(shmkit_event_signal(&ev.e[0], 1));
	for (int i = 0; i < THREADS; i++) {
		ASSERT_EQ(pthread_join(th[i], NULL), 0);
	}
	ASSERT_EQ(read_fail(), 0);
	ASSERT_EQ(ev.baton, (uint64_t)EVENT_LAPS * THREADS);
}

/* ---- cond: the same ring, with one mutex and one cond broadcast ---- */

#define COND_LAPS 3000

static struct {
	shmkit_mutex m;
	shmkit_cond c;
	uint64_t turn;
	pthread_mutex_t id_lock;
	int next_id;
} cv;

static void *
cond_main(void *arg)
{
	int id, rc;

	(void)arg;
	pthread_mutex_lock(&cv.id_lock);
	id = cv.next_id++;
	pthread_mutex_unlock(&cv.id_lock);
	for (int lap = 0; lap < COND_LAPS; lap++) {
		uint64_t mine = (uint64_t)lap * THREADS + (uint64_t)id;

		rc = shmkit_mutex_lock(&cv.m);
		while (rc == 0 && cv.turn != mine) {
			if (cv.turn > mine) {
				rc = -5000;
				break;
			}
			rc = lap % 2 ? shmkit_cond_wait(&cv.c, &cv.m)
				     : shmkit_cond_timedwait(&cv.c, &cv.m, NULL);
		}
		if (rc != 0) {
			note_fail(rc);
			return NULL;
		}
		cv.turn++;
		rc = shmkit_cond_broadcast(&cv.c);
		if (rc == 0) {
			rc = shmkit_mutex_unlock(&cv.m);
		}
		if (rc != 0) {
			note_fail(rc);
			return NULL;
		}
	}
	return NULL;
}

TEST_TIMEOUT(cond_threads, 60)
{
	memset(&cv, 0, sizeof(cv));
	pthread_mutex_init(&cv.id_lock, NULL);
	ASSERT_OK(shmkit_mutex_init(&cv.m));
	ASSERT_OK(shmkit_cond_init(&cv.c));
	run_threads(cond_main, NULL);
	ASSERT_EQ(cv.turn, (uint64_t)COND_LAPS * THREADS);
}

/* ---- everything at once on one mutex + cond + sem + event ---- */

static struct {
	shmkit_mutex m;
	shmkit_cond c;
	shmkit_sem s;
	shmkit_event e;
	uint64_t count;
} mix;

static void *
mix_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < ITERS / 4; i++) {
		struct timespec dl;
		uint32_t seen = shmkit_event_seq(&mix.e);
		int rc = shmkit_mutex_lock(&mix.m);

		if (rc == 0) {
			mix.count++;
			shmkit_deadline(&dl, 100000); /* 0.1 ms */
			rc = shmkit_cond_timedwait(&mix.c, &mix.m, &dl);
			if (rc == -ETIMEDOUT) {
				rc = 0;
			}
		}
		if (rc == 0) {
			rc = shmkit_cond_signal(&mix.c);
		}
		if (rc == 0) {
			rc = shmkit_mutex_unlock(&mix.m);
		}
		if (rc == 0) {
			rc = shmkit_sem_post(&mix.s);
		}
		if (rc == 0) {
			rc = shmkit_sem_wait(&mix.s);
		}
		if (rc == 0) {
			rc = shmkit_event_signal(&mix.e, 1);
		}
		if (rc == 0) {
			shmkit_deadline(&dl, 100000);
			rc = shmkit_event_wait(&mix.e, seen, &dl);
		}
		if (rc != 0) {
			note_fail(rc);
			return NULL;
		}
	}
	return NULL;
}

TEST_TIMEOUT(mixed_threads, 60)
{
	ASSERT_OK(shmkit_mutex_init(&mix.m));
	ASSERT_OK(shmkit_cond_init(&mix.c));
	ASSERT_OK(shmkit_sem_init(&mix.s, 0));
	ASSERT_OK(shmkit_event_init(&mix.e));
	run_threads(mix_main, NULL);
	ASSERT_EQ(mix.count, (uint64_t)THREADS * (ITERS / 4));
	ASSERT_EQ(shmkit_sem_value(&mix.s), 0);
}
