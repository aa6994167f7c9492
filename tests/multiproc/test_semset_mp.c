/* SPDX-License-Identifier: MIT */
/* shmkit_semset across processes: wake-ups, removal, SEM_UNDO after SIGKILL, crashes, threads. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* ---- helpers ---- */

static int
op1(shmkit_semset *s, unsigned num, int op, int flg)
{
	shmkit_sembuf b = {
		.sem_num = (unsigned short)num, .sem_op = (short)op, .sem_flg = (short)flg};
	return shmkit_semset_op(s, &b, 1, NULL, 0);
}

static void
await_count(int (*fn)(shmkit_semset *, unsigned), shmkit_semset *s, unsigned idx, int want)
{
	int64_t end = th_now_ms() + 10000;
	int v;
	while ((v = fn(s, idx)) != want && th_now_ms() < end) {
		th_sleep_ms(2);
	}
	ASSERT_EQ(v, want);
}

static shmkit_semset *
open_set(const char *spec)
{
	shmkit_semset *s = NULL;
	ASSERT_OK(shmkit_semset_open(&s, spec));
	return s;
}

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

static key_t
fresh_key(void)
{
	static unsigned n;
	return (key_t)(0x5f000000u | (((unsigned)getpid() & 0xffffu) << 8) | (++n & 0xffu));
}

static void
cleanup_sysv(int id, key_t key)
{
	char name[64];
	snprintf(name, sizeof(name), "semid.%d", id % 32768);
	th_cleanup_posix(name);
	if (key != IPC_PRIVATE) {
		snprintf(name, sizeof(name), "semkey.0x%08x", (unsigned)key);
		th_cleanup_posix(name);
	}
}

/* argv: op SPEC NUM OP FLG EXPECT -- one operation, exit 0 if it returns EXPECT */
CHILD(op)
{
	ASSERT_EQ(argc, 6);
	shmkit_semset *s = open_set(argv[1]);
	int rc = op1(s, (unsigned)atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	shmkit_semset_close(s);
	if (rc != atoi(argv[5])) {
		th_log("op returned %d, expected %s", rc, argv[5]);
		return 1;
	}
	return 0;
}

/* argv: hold SPEC NUM OP FLG -- an operation, then sleep until killed */
CHILD(hold)
{
	ASSERT_EQ(argc, 5);
	shmkit_semset *s = open_set(argv[1]);
	ASSERT_OK(op1(s, (unsigned)atoi(argv[2]), atoi(argv[3]), atoi(argv[4])));
	for (;;) {
		pause();
	}
}

/* argv: three SPEC -- +1 on semaphores 0, 1 and 2 at once (crash points) */
CHILD(three)
{
	shmkit_semset *s = open_set(argv[1]);
	shmkit_sembuf b[3] = {{.sem_num = 0, .sem_op = 1, .sem_flg = SHMKIT_SEM_UNDO},
			      {.sem_num = 1, .sem_op = 1},
			      {.sem_num = 2, .sem_op = 1}};
	return shmkit_semset_op(s, b, 3, NULL, 0) == 0 ? 0 : 1;
}

/* argv: single SPEC -- +1 on semaphore 1 alone, the fast path (crash points) */
CHILD(single)
{
	shmkit_semset *s = open_set(argv[1]);
	shmkit_sembuf b = {.sem_num = 1, .sem_op = 1};
	return shmkit_semset_op(s, &b, 1, NULL, 0) == 0 ? 0 : 1;
}

/* argv: setall SPEC -- SETALL to 7,7,7 (crash points) */
CHILD(setall)
{
	shmkit_semset *s = open_set(argv[1]);
	unsigned short v[3] = {7, 7, 7};
	return shmkit_semset_setall(s, v) == 0 ? 0 : 1;
}

/* ---- cases ---- */

TEST(waiter_in_other_process_woken)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s;
	th_spec(spec, sizeof(spec), "posix");
	ASSERT_OK(shmkit_semset_create(&s, spec, 2, 0600));
	pid_t p = th_spawn("op", spec, "1", "-2", "0", "0", NULL);
	pid_t z = th_spawn("op", spec, "0", "0", "0", "0", NULL);
	ASSERT_OK(op1(s, 0, 1, 0));
	await_count(shmkit_semset_getncnt, s, 1, 1);
	await_count(shmkit_semset_getzcnt, s, 0, 1);
	ASSERT_OK(op1(s, 1, 1, 0));
	ASSERT_EQ(shmkit_semset_getncnt(s, 1), 1); /* 1 of 2: still waiting */
	ASSERT_OK(op1(s, 1, 1, 0));
	ASSERT_EXIT(th_wait(p), 0);
	ASSERT_OK(op1(s, 0, -1, 0));
	ASSERT_EXIT(th_wait(z), 0);
	ASSERT_EQ(shmkit_semset_getval(s, 1), 0);
	ASSERT_EQ(shmkit_semset_getpid(s, 1), p);
	shmkit_semset_close(s);
}

TEST(removed_while_waiting_other_process)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s;
	char eidrm[16];
	snprintf(eidrm, sizeof(eidrm), "%d", -EIDRM);
	th_spec(spec, sizeof(spec), "posix");
	ASSERT_OK(shmkit_semset_create(&s, spec, 1, 0600));
	pid_t p1 = th_spawn("op", spec, "0", "-1", "0", eidrm, NULL);
	pid_t p2 = th_spawn("op", spec, "0", "0", "0", "0", NULL);       /* zero: succeeds */
	pid_t p3 = th_spawn("op", spec, "0", "-3", "4096", eidrm, NULL); /* SEM_UNDO */
	await_count(shmkit_semset_getncnt, s, 0, 2);
	ASSERT_EXIT(th_wait(p2), 0);
	ASSERT_OK(shmkit_semset_remove(s));
	ASSERT_EXIT(th_wait(p1), 0);
	ASSERT_EXIT(th_wait(p3), 0);
}

TEST(undo_after_sigkill)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s;
	th_spec(spec, sizeof(spec), "posix");
	ASSERT_OK(shmkit_semset_create(&s, spec, 2, 0600));
	ASSERT_OK(shmkit_semset_setval(s, 0, 1));
	/* A holder takes the only unit with SEM_UNDO; a waiter queues
	 * behind it. Killing the holder must release the waiter, which
	 * notices the death itself (nobody else touches the set). */
	pid_t h = th_spawn("hold", spec, "0", "-1", "4096", NULL);
	await_count(shmkit_semset_getval, s, 0, 0);
	pid_t w = th_spawn("op", spec, "0", "-1", "0", "0", NULL);
	await_count(shmkit_semset_getncnt, s, 0, 1);
	kill(h, SIGKILL);
	ASSERT_SIGNALED(th_wait(h), SIGKILL);
	ASSERT_EXIT(th_wait(w), 0);
	ASSERT_EQ(shmkit_semset_getval(s, 0), 0);

	/* A killed holder of an increment: its value goes back down. */
	h = th_spawn("hold", spec, "1", "3", "4096", NULL);
	await_count(shmkit_semset_getval, s, 1, 3);
	kill(h, SIGKILL);
	ASSERT_SIGNALED(th_wait(h), SIGKILL);
	ASSERT_EQ(shmkit_semset_getval(s, 1), 0);
	ASSERT_EQ(shmkit_semset_getpid(s, 1), h);
	shmkit_semset_info in;
	ASSERT_OK(shmkit_semset_stat(s, &in));
	ASSERT_EQ(in.undo_records, 0);
	shmkit_semset_close(s);
}

/* A process killed at each step of a transaction leaves all or nothing. */
TEST_TIMEOUT(crash_points, 120)
{
	static const char *const points[] = {"semset_before_commit", "semset_after_commit",
					     "semset_mid_apply"};
	for (int round = 0; round < 2; round++) {
		for (size_t k = 0; k < sizeof(points) / sizeof(points[0]); k++) {
			char spec[TH_SPEC_MAX];
			shmkit_semset *s;
			unsigned short v[3];
			th_spec(spec, sizeof(spec), "posix");
			th_context("%s %s", round ? "setall" : "three", points[k]);
			ASSERT_OK(shmkit_semset_create(&s, spec, 3, 0600));
			pid_t p = th_spawn_env("SHMKIT_CRASHPOINT", points[k],
					       round ? "setall" : "three", spec, NULL);
			ASSERT_SIGNALED(th_wait(p), SIGKILL);
			ASSERT_OK(shmkit_semset_getall(s, v));
			unsigned want = k == 0 ? 0 : (round ? 7 : 1);
			/* "three" took semaphore 0 with SEM_UNDO: once
			 * applied, the dead child's adjustment undoes it. */
			ASSERT_EQ(v[0], round ? want : 0);
			ASSERT_EQ(v[1], want);
			ASSERT_EQ(v[2], want);
			/* The set works on: the lock was recovered. */
			ASSERT_OK(op1(s, 0, 1, 0));
			shmkit_semset_info in;
			ASSERT_OK(shmkit_semset_stat(s, &in));
			/* A committed "three" carried the dead child's
			 * adjustment; it was undone when we looked. */
			ASSERT_EQ(in.undo_records, 0);
			shmkit_semset_close(s);
		}
	}
}

/*
 * The single-operation fast path commits with one store of the value: a
 * process killed before it changed nothing, after it the operation stands;
 * either way the next caller recovers the lock and the set works on.
 */
TEST(crash_points_fast_path)
{
	static const char *const points[] = {"semset_fast_before_store", "semset_fast_after_store"};
	for (size_t k = 0; k < sizeof(points) / sizeof(points[0]); k++) {
		char spec[TH_SPEC_MAX];
		shmkit_semset *s;
		unsigned short v[3];
		th_spec(spec, sizeof(spec), "posix");
		th_context("single %s", points[k]);
		ASSERT_OK(shmkit_semset_create(&s, spec, 3, 0600));
		pid_t p = th_spawn_env("SHMKIT_CRASHPOINT", points[k], "single", spec, NULL);
		ASSERT_SIGNALED(th_wait(p), SIGKILL);
		ASSERT_OK(shmkit_semset_getall(s, v));
		ASSERT_EQ(v[0], 0);
		ASSERT_EQ(v[1], k == 0 ? 0 : 1);
		ASSERT_EQ(v[2], 0);
		ASSERT_OK(op1(s, 1, 1, 0));
		ASSERT_OK(shmkit_semset_getall(s, v));
		ASSERT_EQ(v[1], k == 0 ? 1 : 2);
		shmkit_semset_close(s);
	}
}

static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	(void)sig;
	got_signal++;
}

/* argv: sysv_wait ID INTERRUPTIBLE -- P on semaphore 0 with a SIGUSR1 handler */
CHILD(sysv_wait)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART */
	sigaction(SIGUSR1, &sa, NULL);
	int id = atoi(argv[1]);
	struct sembuf b = {0, -1, 0};
	if (atoi(argv[2])) {
		int rc = shmkit_semop(id, &b, 1);
		return rc == -1 && errno == EINTR && got_signal ? 0 : 10 + errno;
	}
	/* The shmkit_semset call without the interruptible flag sleeps on. */
	char spec[64];
	snprintf(spec, sizeof(spec), "posix:semid.%d", id % 32768);
	shmkit_semset *s = open_set(spec);
	int rc = op1(s, 0, -1, 0);
	shmkit_semset_close(s);
	return rc == 0 && got_signal ? 0 : 20;
}

/* argv: sysv_op ID OP FLG -- semop; exit with errno (0 on success) */
CHILD(sysv_op)
{
	struct sembuf b = {0, (short)atoi(argv[2]), (short)atoi(argv[3])};
	int rc = shmkit_semop(atoi(argv[1]), &b, 1);
	if (rc == 0 && argc > 4) {
		for (;;) {
			pause();
		}
	}
	return rc == 0 ? 0 : errno;
}

TEST(sysv_signal_interrupts_only_when_asked)
{
	char ids[16];
	int id = shmkit_semget(IPC_PRIVATE, 1, 0600);
	ASSERT_GE(id, 0);
	cleanup_sysv(id, IPC_PRIVATE);
	snprintf(ids, sizeof(ids), "%d", id);
	pid_t p = th_spawn("sysv_wait", ids, "1", NULL);
	while (shmkit_semctl(id, 0, GETNCNT) != 1) {
		th_sleep_ms(2);
	}
	/* The waiter counts in a few instructions before it sleeps in the
	 * futex; a signal in between runs the handler and is gone (as one
	 * just before the kernel's own semop would be): send it until the
	 * wait answers. */
	int st = 0, done = 0;
	for (int k = 0; k < 200 && !done; k++) {
		kill(p, SIGUSR1);
		th_sleep_ms(20);
		done = waitpid(p, &st, WNOHANG) == p;
	}
	ASSERT_TRUE(done);
	ASSERT_EXIT(st, 0);
	ASSERT_EQ(shmkit_semctl(id, 0, GETNCNT), 0);

	p = th_spawn("sysv_wait", ids, "0", NULL);
	while (shmkit_semctl(id, 0, GETNCNT) != 1) {
		th_sleep_ms(2);
	}
	kill(p, SIGUSR1);
	th_sleep_ms(50);
	ASSERT_EQ(shmkit_semctl(id, 0, GETNCNT), 1);
	struct sembuf v = {0, 1, 0};
	ASSERT_OK(shmkit_semop(id, &v, 1));
	ASSERT_EXIT(th_wait(p), 0);
	ASSERT_OK(shmkit_semctl(id, 0, IPC_RMID));
}

TEST(sysv_removed_while_waiting_and_undo)
{
	char ids[16], undo[16];
	key_t key = fresh_key();
	int id = shmkit_semget(key, 1, IPC_CREAT | 0600);
	ASSERT_GE(id, 0);
	cleanup_sysv(id, key);
	snprintf(ids, sizeof(ids), "%d", id);
	snprintf(undo, sizeof(undo), "%d", SEM_UNDO);
	/* SEM_UNDO through the drop-in, holder killed. */
	union semun a = {.val = 2};
	ASSERT_OK(shmkit_semctl(id, 0, SETVAL, a));
	pid_t h = th_spawn("sysv_op", ids, "-2", undo, "hold", NULL);
	while (shmkit_semctl(id, 0, GETVAL) != 0) {
		th_sleep_ms(2);
	}
	kill(h, SIGKILL);
	ASSERT_SIGNALED(th_wait(h), SIGKILL);
	ASSERT_EQ(shmkit_semctl(id, 0, GETVAL), 2);
	ASSERT_EQ(shmkit_semctl(id, 0, GETPID), h);

	pid_t w = th_spawn("sysv_op", ids, "-3", "0", NULL);
	while (shmkit_semctl(id, 0, GETNCNT) != 1) {
		th_sleep_ms(2);
	}
	ASSERT_OK(shmkit_semctl(id, 0, IPC_RMID));
	ASSERT_EXIT(th_wait(w), EIDRM);
	ASSERT_EQ(shmkit_semget(key, 1, 0), -1);
	ASSERT_EQ(errno, ENOENT);
}

/* argv: sysv_excl KEY -- exit 0 if we created, 17 (EEXIST) otherwise */
CHILD(sysv_excl)
{
	key_t key = (key_t)strtoul(argv[1], NULL, 0);
	int id = shmkit_semget(key, 1, IPC_CREAT | IPC_EXCL | 0600);
	if (id >= 0) {
		return 0;
	}
	return errno;
}

TEST(sysv_excl_race_has_one_winner)
{
	char keys[32];
	key_t key = fresh_key();
	pid_t p[8];
	snprintf(keys, sizeof(keys), "0x%x", (unsigned)key);
	{
		char name[64];
		snprintf(name, sizeof(name), "semkey.0x%08x", (unsigned)key);
		th_cleanup_posix(name);
	}
	for (int i = 0; i < 8; i++) {
		p[i] = th_spawn("sysv_excl", keys, NULL);
	}
	int won = 0;
	for (int i = 0; i < 8; i++) {
		int st = th_wait(p[i]);
		ASSERT_TRUE(WIFEXITED(st));
		ASSERT_IN(WEXITSTATUS(st), 0, EEXIST);
		won += WEXITSTATUS(st) == 0;
	}
	ASSERT_EQ(won, 1);
	int id = shmkit_semget(key, 1, 0);
	ASSERT_GE(id, 0);
	cleanup_sysv(id, key);
	ASSERT_OK(shmkit_semctl(id, 0, IPC_RMID));
	/* The losers left no set behind under any index. */
	struct seminfo si;
	union semun a = {.__buf = &si};
	ASSERT_GE(shmkit_semctl(0, 0, SEM_INFO, a), 0);
}

/* ---- threads (run under TSan in the sanitizer builds) ---- */

struct tctx {
	shmkit_semset *s;
	long *counter;
	int iters;
};

static void *
worker(void *arg)
{
	struct tctx *c = arg;
	shmkit_sembuf p = {.sem_num = 0, .sem_op = -1, .sem_flg = SHMKIT_SEM_UNDO};
	shmkit_sembuf v = {.sem_num = 0, .sem_op = 1, .sem_flg = SHMKIT_SEM_UNDO};
	for (int i = 0; i < c->iters; i++) {
		if (shmkit_semset_op(c->s, &p, 1, NULL, 0) != 0) {
			return (void *)1;
		}
		/* The semaphore is a mutex here: a plain increment. */
		long x = *c->counter;
		*c->counter = x + 1;
		if (shmkit_semset_op(c->s, &v, 1, NULL, 0) != 0) {
			return (void *)1;
		}
	}
	return NULL;
}

TEST_TIMEOUT(threads_as_mutex, 120)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s;
	th_spec(spec, sizeof(spec), "posix");
	ASSERT_OK(shmkit_semset_create(&s, spec, 1, 0600));
	ASSERT_OK(shmkit_semset_setval(s, 0, 1));
	static long counter;
	struct tctx c = {.s = s, .counter = &counter, .iters = 2000};
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(pthread_create(&t[i], NULL, worker, &c), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		ASSERT_TRUE(r == NULL);
	}
	ASSERT_EQ(counter, 4 * 2000);
	ASSERT_EQ(shmkit_semset_getval(s, 0), 1);
	shmkit_semset_info in;
	ASSERT_OK(shmkit_semset_stat(s, &in));
	ASSERT_EQ(in.undo_records, 0);
	shmkit_semset_close(s);
}
