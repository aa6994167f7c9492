/* SPDX-License-Identifier: MIT */
/* shmkit_semset and the System V drop-in: semantics, limits, bad input, permissions. */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"

/* ---- helpers ---- */

static shmkit_semset *
mkset(char *spec, size_t len, unsigned nsems, unsigned mode)
{
	shmkit_semset *s = NULL;
	th_spec(spec, len, "posix");
	ASSERT_OK(shmkit_semset_create(&s, spec, nsems, mode));
	return s;
}

static int
op1(shmkit_semset *s, unsigned num, int op, int flg)
{
	shmkit_sembuf b = {
		.sem_num = (unsigned short)num, .sem_op = (short)op, .sem_flg = (short)flg};
	return shmkit_semset_op(s, &b, 1, NULL, 0);
}

static int
op1_timed(shmkit_semset *s, unsigned num, int op, int flg, int64_t ns)
{
	struct timespec dl;
	shmkit_sembuf b = {
		.sem_num = (unsigned short)num, .sem_op = (short)op, .sem_flg = (short)flg};
	shmkit_deadline(&dl, ns);
	return shmkit_semset_op(s, &b, 1, &dl, 0);
}

/* Wait (bounded) for @fn(s, idx) to reach @want. */
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

/* A System V key nobody uses: derived from the pid and a counter. */
static key_t
fresh_key(void)
{
	static unsigned n;
	return (key_t)(0x5e000000u | (((unsigned)getpid() & 0xffffu) << 8) | (++n & 0xffu));
}

/* Register the names of a drop-in set for removal after the case. */
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

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

/* ---- shmkit_semset ---- */

TEST(create_values_zero_and_ctl)
{
	char spec[TH_SPEC_MAX];
	unsigned short v[4] = {1, 2, 3, 4}, r[4];
	shmkit_semset *s = mkset(spec, sizeof(spec), 4, 0600);
	for (unsigned i = 0; i < 4; i++) {
		ASSERT_EQ(shmkit_semset_getval(s, i), 0);
	}
	ASSERT_OK(shmkit_semset_setval(s, 2, 7));
	ASSERT_EQ(shmkit_semset_getval(s, 2), 7);
	ASSERT_EQ(shmkit_semset_getpid(s, 2), getpid());
	ASSERT_OK(shmkit_semset_setall(s, v));
	ASSERT_OK(shmkit_semset_getall(s, r));
	ASSERT_EQ(memcmp(v, r, sizeof(v)), 0);

	shmkit_semset *o;
	ASSERT_OK(shmkit_semset_open(&o, spec));
	ASSERT_EQ(shmkit_semset_getval(o, 3), 4);
	shmkit_semset_info in;
	ASSERT_OK(shmkit_semset_stat(o, &in));
	ASSERT_EQ(in.nsems, 4);
	ASSERT_EQ(in.mode, 0600);
	ASSERT_EQ(in.uid, geteuid());
	ASSERT_EQ(in.cuid, geteuid());
	ASSERT_EQ(in.otime, 0);
	ASSERT_GT(in.ctime, 0);
	ASSERT_OK(shmkit_semset_close(o));
	ASSERT_OK(shmkit_semset_close(s));
	ASSERT_OK(shmkit_semset_close(NULL));
}

TEST(op_increment_decrement_zero)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 2, 0600);
	ASSERT_OK(op1(s, 0, 3, 0));
	ASSERT_EQ(shmkit_semset_getval(s, 0), 3);
	ASSERT_OK(op1(s, 0, -2, 0));
	ASSERT_EQ(shmkit_semset_getval(s, 0), 1);
	ASSERT_ERR(op1(s, 0, -2, SHMKIT_IPC_NOWAIT), -EAGAIN);
	ASSERT_ERR(op1(s, 0, 0, SHMKIT_IPC_NOWAIT), -EAGAIN);
	ASSERT_OK(op1(s, 1, 0, SHMKIT_IPC_NOWAIT)); /* already zero */
	ASSERT_OK(op1(s, 0, -1, 0));
	ASSERT_OK(op1(s, 0, 0, 0));
	shmkit_semset_info in;
	ASSERT_OK(shmkit_semset_stat(s, &in));
	ASSERT_GT(in.otime, 0);
	ASSERT_EQ(shmkit_semset_getpid(s, 0), getpid());
	shmkit_semset_close(s);
}

TEST(op_all_or_none)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 3, 0600);
	ASSERT_OK(shmkit_semset_setval(s, 2, 5));
	shmkit_sembuf b[3] = {
		{.sem_num = 0, .sem_op = 1, .sem_flg = 0},
		{.sem_num = 2, .sem_op = -5, .sem_flg = 0},
		{.sem_num = 1, .sem_op = -1, .sem_flg = SHMKIT_IPC_NOWAIT},
	};
	ASSERT_ERR(shmkit_semset_op(s, b, 3, NULL, 0), -EAGAIN);
	ASSERT_EQ(shmkit_semset_getval(s, 0), 0);
	ASSERT_EQ(shmkit_semset_getval(s, 2), 5);
	/* ERANGE on the last op leaves the first ones undone too. */
	b[2] = (shmkit_sembuf){.sem_num = 1, .sem_op = SHMKIT_SEMVMX, .sem_flg = 0};
	ASSERT_OK(shmkit_semset_setval(s, 1, 1));
	ASSERT_ERR(shmkit_semset_op(s, b, 3, NULL, 0), -ERANGE);
	ASSERT_EQ(shmkit_semset_getval(s, 0), 0);
	ASSERT_EQ(shmkit_semset_getval(s, 1), 1);
	/* Operations see the ones before them on the same semaphore. */
	shmkit_sembuf d[2] = {{.sem_num = 0, .sem_op = 2}, {.sem_num = 0, .sem_op = -2}};
	ASSERT_OK(shmkit_semset_op(s, d, 2, NULL, 0));
	ASSERT_EQ(shmkit_semset_getval(s, 0), 0);
	shmkit_semset_close(s);
}

TEST(bad_input)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 2, 0600), *o;
	shmkit_sembuf b = {.sem_num = 0, .sem_op = 1};
	static shmkit_sembuf many[SHMKIT_SEMOPM + 1];
	struct timespec bad = {.tv_sec = 0, .tv_nsec = 1000000000L};
	unsigned short big[2] = {1, SHMKIT_SEMVMX + 1};

	ASSERT_ERR(shmkit_semset_create(&o, spec, 0, 0600), -EINVAL);
	ASSERT_ERR(shmkit_semset_create(&o, spec, SHMKIT_SEMMSL + 1, 0600), -EINVAL);
	ASSERT_ERR(shmkit_semset_create(&o, spec, 1, 01000), -EINVAL);
	ASSERT_ERR(shmkit_semset_create(NULL, spec, 1, 0600), -EINVAL);
	ASSERT_ERR(shmkit_semset_create(&o, spec, 1, 0600), -EEXIST);
	ASSERT_ERR(shmkit_semset_open(NULL, spec), -EINVAL);
	ASSERT_ERR(shmkit_semset_op(NULL, &b, 1, NULL, 0), -EINVAL);
	ASSERT_ERR(shmkit_semset_op(s, &b, 0, NULL, 0), -EINVAL);
	ASSERT_ERR(shmkit_semset_op(s, many, SHMKIT_SEMOPM + 1, NULL, 0), -E2BIG);
	ASSERT_ERR(shmkit_semset_op(s, NULL, 1, NULL, 0), -EFAULT);
	ASSERT_ERR(shmkit_semset_op(s, &b, 1, &bad, 0), -EINVAL);
	ASSERT_ERR(shmkit_semset_op(s, &b, 1, NULL, 0x100), -EINVAL);
	b.sem_num = 2;
	ASSERT_ERR(shmkit_semset_op(s, &b, 1, NULL, 0), -EFBIG);
	b.sem_num = 0;
	b.sem_op = SHMKIT_SEMVMX;
	ASSERT_OK(shmkit_semset_op(s, &b, 1, NULL, 0));
	b.sem_op = 1;
	ASSERT_ERR(shmkit_semset_op(s, &b, 1, NULL, 0), -ERANGE);
	ASSERT_ERR(shmkit_semset_setval(s, 0, -1), -ERANGE);
	ASSERT_ERR(shmkit_semset_setval(s, 0, SHMKIT_SEMVMX + 1), -ERANGE);
	ASSERT_ERR(shmkit_semset_setval(s, 2, 1), -EINVAL);
	ASSERT_ERR(shmkit_semset_getval(s, 2), -EINVAL);
	ASSERT_ERR(shmkit_semset_getpid(s, 9), -EINVAL);
	ASSERT_ERR(shmkit_semset_getncnt(s, 2), -EINVAL);
	ASSERT_ERR(shmkit_semset_getzcnt(s, 2), -EINVAL);
	ASSERT_ERR(shmkit_semset_setall(s, big), -ERANGE);
	ASSERT_EQ(shmkit_semset_getval(s, 0), SHMKIT_SEMVMX); /* untouched */
	ASSERT_ERR(shmkit_semset_setall(s, NULL), -EFAULT);
	ASSERT_ERR(shmkit_semset_getall(s, NULL), -EFAULT);
	ASSERT_ERR(shmkit_semset_stat(s, NULL), -EFAULT);
	ASSERT_ERR(shmkit_semset_getval(NULL, 0), -EINVAL);
	ASSERT_ERR(shmkit_semset_set_perm(s, 01000, -1, -1), -EINVAL);
	shmkit_semset_close(s);
}

TEST(open_wrong_kind_and_missing)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s;
	shmkit_segment *seg;
	shmkit_segment_opts o;
	th_spec(spec, sizeof(spec), "posix");
	ASSERT_ERR(shmkit_semset_open(&s, spec), -ENOENT);
	shmkit_segment_opts_init(&o);
	o.size = 4096;
	ASSERT_OK(shmkit_segment_create(&seg, spec, &o));
	ASSERT_ERR(shmkit_semset_open(&s, spec), -EPROTOTYPE);
	shmkit_segment_close(seg);
}

TEST(timeout)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 1, 0600);
	ASSERT_ERR(op1_timed(s, 0, -1, 0, 30000000), -ETIMEDOUT);
	ASSERT_ERR(op1_timed(s, 0, -1, 0, 0), -ETIMEDOUT);
	ASSERT_OK(op1(s, 0, 1, 0));
	ASSERT_ERR(op1_timed(s, 0, 0, 0, 20000000), -ETIMEDOUT);
	ASSERT_OK(op1_timed(s, 0, -1, 0, 20000000));
	ASSERT_EQ(shmkit_semset_getncnt(s, 0), 0);
	ASSERT_EQ(shmkit_semset_getzcnt(s, 0), 0);
	shmkit_semset_close(s);
}

/* The undo adjustment itself is limited to [-SEMAEM - 1, SEMAEM]. */
TEST(undo_range)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 1, 0600);
	ASSERT_OK(op1(s, 0, SHMKIT_SEMVMX, SHMKIT_SEM_UNDO)); /* adj -32767 */
	ASSERT_OK(op1(s, 0, -SHMKIT_SEMVMX, 0));
	ASSERT_OK(op1(s, 0, 1, SHMKIT_SEM_UNDO)); /* adj -32768: allowed */
	ASSERT_OK(op1(s, 0, -1, 0));
	ASSERT_ERR(op1(s, 0, 1, SHMKIT_SEM_UNDO), -ERANGE);
	ASSERT_EQ(shmkit_semset_getval(s, 0), 0);
	shmkit_semset_close(s);
}

static int
child_do(shmkit_semset *s, unsigned num, int op, int flg)
{
	pid_t pid = th_fork();
	if (pid == 0) {
		th_exit(op1(s, num, op, flg) == 0 ? 0 : 1);
	}
	return th_wait(pid);
}

TEST(undo_applied_at_exit)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 2, 0600);
	ASSERT_OK(shmkit_semset_setval(s, 0, 3));
	/* The child takes 2 with SEM_UNDO and exits: they come back. */
	ASSERT_EXIT(child_do(s, 0, -2, SHMKIT_SEM_UNDO), 0);
	ASSERT_EQ(shmkit_semset_getval(s, 0), 3);
	/* A child adds 5 with SEM_UNDO; we take 3 meanwhile; at its exit the
	 * value would be -3: clamped to 0, as the kernel does. */
	pid_t pid = th_fork();
	if (pid == 0) {
		ASSERT_OK(op1(s, 1, 5, SHMKIT_SEM_UNDO));
		th_exit(0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	shmkit_semset_info in;
	ASSERT_OK(shmkit_semset_stat(s, &in));
	ASSERT_EQ(in.undo_records, 1);
	ASSERT_EQ(in.dead_undo_records, 1);
	ASSERT_OK(shmkit_semset_setval(s, 0, 0)); /* unrelated semaphore */
	ASSERT_EQ(shmkit_semset_getval(s, 1), 0);
	ASSERT_EQ(shmkit_semset_getpid(s, 1), pid);
	ASSERT_OK(shmkit_semset_stat(s, &in));
	ASSERT_EQ(in.undo_records, 0);
	shmkit_semset_close(s);
}

TEST(undo_clamped_at_exit)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 1, 0600);
	int p[2];
	ASSERT_SYS(pipe(p));
	pid_t pid = th_fork();
	if (pid == 0) {
		char c;
		ASSERT_OK(op1(s, 0, 5, SHMKIT_SEM_UNDO));
		th_read_all(p[0], &c, 1); /* until the parent took 3 */
		th_exit(0);
	}
	await_count(shmkit_semset_getval, s, 0, 5);
	ASSERT_OK(op1(s, 0, -3, 0));
	ASSERT_EQ(th_write_all(p[1], "x", 1), 0);
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_EQ(shmkit_semset_getval(s, 0), 0);
	shmkit_semset_close(s);
}

TEST(setval_clears_adjustments)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 2, 0600);
	unsigned short v[2] = {4, 4};
	int p[2];
	ASSERT_SYS(pipe(p));
	pid_t pid = th_fork();
	if (pid == 0) {
		char c;
		ASSERT_OK(op1(s, 0, 2, SHMKIT_SEM_UNDO));
		ASSERT_OK(op1(s, 1, 2, SHMKIT_SEM_UNDO));
		th_read_all(p[0], &c, 1);
		th_exit(0);
	}
	await_count(shmkit_semset_getval, s, 1, 2);
	ASSERT_OK(shmkit_semset_setval(s, 0, 4)); /* clears semadj[0] only */
	ASSERT_EQ(th_write_all(p[1], "x", 1), 0);
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_EQ(shmkit_semset_getval(s, 0), 4);
	ASSERT_EQ(shmkit_semset_getval(s, 1), 0);

	/* SETALL clears every adjustment. */
	pid = th_fork();
	if (pid == 0) {
		ASSERT_OK(op1(s, 0, -1, SHMKIT_SEM_UNDO));
		ASSERT_OK(shmkit_semset_setall(s, v));
		th_exit(0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_EQ(shmkit_semset_getval(s, 0), 4);
	shmkit_semset_close(s);
}

TEST(fork_child_has_no_adjustments)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 1, 0600);
	ASSERT_OK(shmkit_semset_setval(s, 0, 2));
	ASSERT_OK(op1(s, 0, -1, SHMKIT_SEM_UNDO));
	pid_t pid = th_fork();
	if (pid == 0) {
		/* The parent's adjustment is not ours: undoing +1 here
		 * would be an error in the kernel's model too. */
		th_exit(op1(s, 0, 1, 0) == 0 ? 0 : 1);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_EQ(shmkit_semset_getval(s, 0), 2);
	ASSERT_OK(op1(s, 0, 1, SHMKIT_SEM_UNDO)); /* our adjustment back to 0 */
	shmkit_semset_info in;
	ASSERT_OK(shmkit_semset_stat(s, &in));
	ASSERT_EQ(in.undo_records, 0);
	shmkit_semset_close(s);
}

TEST(blocked_waiter_gets_value_handed_over)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 1, 0600);
	pid_t pid = th_fork();
	if (pid == 0) {
		th_exit(op1(s, 0, -1, 0) == 0 ? 0 : 1);
	}
	await_count(shmkit_semset_getncnt, s, 0, 1);
	ASSERT_EQ(shmkit_semset_getzcnt(s, 0), 0);
	/* As in the kernel, the V completes the sleeper's P at once: the
	 * unit is gone before we can take it. */
	ASSERT_OK(op1(s, 0, 1, 0));
	ASSERT_ERR(op1(s, 0, -1, SHMKIT_IPC_NOWAIT), -EAGAIN);
	ASSERT_EQ(shmkit_semset_getval(s, 0), 0);
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_EQ(shmkit_semset_getncnt(s, 0), 0);
	ASSERT_EQ(shmkit_semset_getpid(s, 0), pid);
	shmkit_semset_close(s);
}

TEST(wait_for_zero_woken)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 1, 0600);
	ASSERT_OK(shmkit_semset_setval(s, 0, 2));
	pid_t pid = th_fork();
	if (pid == 0) {
		th_exit(op1(s, 0, 0, 0) == 0 ? 0 : 1);
	}
	await_count(shmkit_semset_getzcnt, s, 0, 1);
	ASSERT_OK(op1(s, 0, -1, 0));
	ASSERT_EQ(shmkit_semset_getzcnt(s, 0), 1);
	ASSERT_OK(op1(s, 0, -1, 0));
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_EQ(shmkit_semset_getzcnt(s, 0), 0);
	shmkit_semset_close(s);
}

TEST(dead_waiter_not_counted)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 1, 0600);
	pid_t pid = th_fork();
	if (pid == 0) {
		op1(s, 0, -1, 0);
		th_exit(1);
	}
	await_count(shmkit_semset_getncnt, s, 0, 1);
	kill(pid, SIGKILL);
	ASSERT_SIGNALED(th_wait(pid), SIGKILL);
	ASSERT_EQ(shmkit_semset_getncnt(s, 0), 0);
	/* The dead waiter's P is not performed for it. */
	ASSERT_OK(op1(s, 0, 1, 0));
	ASSERT_EQ(shmkit_semset_getval(s, 0), 1);
	shmkit_semset_close(s);
}

TEST(removed_while_waiting)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 1, 0600), *o;
	ASSERT_OK(shmkit_semset_open(&o, spec));
	pid_t pid = th_fork();
	if (pid == 0) {
		th_exit(op1(o, 0, -1, 0) == -EIDRM ? 0 : 1);
	}
	await_count(shmkit_semset_getncnt, s, 0, 1);
	ASSERT_OK(shmkit_semset_remove(s));
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_ERR(shmkit_semset_getval(o, 0), -EIDRM);
	ASSERT_ERR(op1(o, 0, 1, 0), -EIDRM);
	ASSERT_ERR(shmkit_semset_open(&s, spec), -ENOENT);
	shmkit_semset_close(o);
}

/* A value or count out of range in the shared memory is refused. */
TEST(corrupted_set)
{
	char spec[TH_SPEC_MAX];
	shmkit_semset *s = mkset(spec, sizeof(spec), 2, 0600), *o;
	shmkit_segment *seg;
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.kind = SHMKIT_KIND_SEMSET;
	ASSERT_OK(shmkit_segment_open(&seg, spec, &so));
	unsigned char *d = shmkit_segment_data(seg);
	uint32_t bad = 40000;
	memcpy(d + 256, &bad, 4); /* semaphore 0's value (docs: LAYOUT) */
	ASSERT_ERR(shmkit_semset_getval(s, 0), -EBADMSG);
	ASSERT_ERR(op1(s, 0, 1, 0), -EBADMSG);
	unsigned short v[2];
	ASSERT_ERR(shmkit_semset_getall(s, v), -EBADMSG);
	ASSERT_OK(shmkit_semset_setval(s, 0, 1)); /* writing repairs it */
	ASSERT_EQ(shmkit_semset_getval(s, 0), 1);
	/* The undo record count. */
	uint32_t used = 9999;
	memcpy(d + 128 + 40, &used, 4);
	ASSERT_ERR(shmkit_semset_getval(s, 0), -EBADMSG);
	used = 0;
	memcpy(d + 128 + 40, &used, 4);
	/* The meta: a set with another geometry cannot be opened. */
	uint32_t nsems = 100000;
	memcpy(d + 8, &nsems, 4);
	ASSERT_ERR(shmkit_semset_open(&o, spec), -EBADMSG);
	shmkit_segment_close(seg);
	shmkit_semset_close(s);
}

/* ---- permissions ---- */

static void
drop_to_nobody(void)
{
	ASSERT_SYS(setgroups(0, NULL));
	ASSERT_SYS(setgid(65534));
	ASSERT_SYS(setuid(65534));
}

TEST(permissions_other_user)
{
	char spec[TH_SPEC_MAX];
	th_require_root("a second uid");
	shmkit_semset *s = mkset(spec, sizeof(spec), 1, 0644);
	ASSERT_OK(shmkit_semset_setval(s, 0, 1));
	pid_t pid = th_fork();
	if (pid == 0) {
		shmkit_semset *o;
		drop_to_nobody();
		ASSERT_OK(shmkit_semset_open(&o, spec));
		ASSERT_EQ(shmkit_semset_getval(o, 0), 1);
		ASSERT_ERR(shmkit_semset_setval(o, 0, 2), -EACCES);
		ASSERT_ERR(op1(o, 0, -1, SHMKIT_IPC_NOWAIT), -EACCES);
		ASSERT_ERR(op1(o, 0, 0, SHMKIT_IPC_NOWAIT), -EAGAIN); /* read suffices */
		ASSERT_ERR(shmkit_semset_set_perm(o, 0666, -1, -1), -EPERM);
		ASSERT_ERR(shmkit_semset_remove(o), -EPERM);
		th_exit(0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	/* The owner opens it up; the same process now may alter. */
	ASSERT_OK(shmkit_semset_set_perm(s, 0666, -1, -1));
	pid = th_fork();
	if (pid == 0) {
		shmkit_semset *o;
		drop_to_nobody();
		ASSERT_OK(shmkit_semset_open(&o, spec));
		ASSERT_OK(op1(o, 0, -1, 0));
		th_exit(0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_OK(shmkit_semset_set_perm(s, 0600, -1, -1));
	pid = th_fork();
	if (pid == 0) {
		shmkit_semset *o;
		drop_to_nobody();
		ASSERT_ERR(shmkit_semset_open(&o, spec), -EACCES);
		th_exit(0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	shmkit_semset_close(s);
}

/* ---- the uncontended semop makes no system call ---- */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

TEST(uncontended_op_makes_no_syscall)
{
	char spec[TH_SPEC_MAX];
	if (SANITIZED) {
		SKIP("sanitizer runtimes make system calls of their own");
	}
	shmkit_semset *s = mkset(spec, sizeof(spec), 2, 0600);
	shmkit_sembuf p = {.sem_num = 0, .sem_op = -1, .sem_flg = SHMKIT_SEM_UNDO};
	shmkit_sembuf v = {.sem_num = 0, .sem_op = 1, .sem_flg = SHMKIT_SEM_UNDO};
	shmkit_sembuf two[2] = {{.sem_num = 0, .sem_op = 1}, {.sem_num = 1, .sem_op = 0}};
	ASSERT_OK(shmkit_semset_setval(s, 0, 1));
	pid_t pid = th_fork();
	if (pid == 0) {
		/* Warm up: liveness tokens, credentials, pid are cached. */
		ASSERT_OK(shmkit_semset_op(s, &p, 1, NULL, 0));
		ASSERT_OK(shmkit_semset_op(s, &v, 1, NULL, 0));
		/* From here on any system call but the vDSO clock fallback
		 * and exit kills the process with SIGSYS. */
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 3, 0),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 2, 0),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clock_gettime, 1, 0),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
		ASSERT_SYS(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
		ASSERT_SYS(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
		int bad = 0;
		for (int i = 0; i < 10000; i++) {
			bad |= shmkit_semset_op(s, &p, 1, NULL, 0);
			bad |= shmkit_semset_op(s, &v, 1, NULL, 0);
			bad |= shmkit_semset_op(s, two, 2, NULL, 0);
			bad |= shmkit_semset_getval(s, 0) < 0;
		}
		_exit(bad ? 1 : 0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	shmkit_semset_close(s);
}

/* ---- the System V drop-in ---- */

TEST(sysv_get_create_excl_open)
{
	key_t key = fresh_key();
	errno = 0;
	ASSERT_EQ(shmkit_semget(key, 1, 0600), -1);
	ASSERT_EQ(errno, ENOENT);
	int id = shmkit_semget(key, 3, IPC_CREAT | IPC_EXCL | 0600);
	ASSERT_GE(id, 0);
	cleanup_sysv(id, key);
	ASSERT_EQ(shmkit_semget(key, 3, IPC_CREAT | IPC_EXCL | 0600), -1);
	ASSERT_EQ(errno, EEXIST);
	ASSERT_EQ(shmkit_semget(key, 0, 0), id);
	ASSERT_EQ(shmkit_semget(key, 2, IPC_CREAT | 0600), id);
	ASSERT_EQ(shmkit_semget(key, 4, 0), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(shmkit_semget(key, -1, 0), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(shmkit_semget(key, SHMKIT_SEMMSL + 1, 0), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(shmkit_semget(fresh_key(), 0, IPC_CREAT | 0600), -1);
	ASSERT_EQ(errno, EINVAL);
	int priv = shmkit_semget(IPC_PRIVATE, 1, 0600);
	ASSERT_GE(priv, 0);
	cleanup_sysv(priv, IPC_PRIVATE);
	ASSERT_NE(priv, id);
	int priv2 = shmkit_semget(IPC_PRIVATE, 1, 0600);
	ASSERT_GE(priv2, 0);
	cleanup_sysv(priv2, IPC_PRIVATE);
	ASSERT_NE(priv2, priv);
	ASSERT_OK(shmkit_semctl(priv2, 0, IPC_RMID));
	ASSERT_OK(shmkit_semctl(id, 0, IPC_RMID));
	ASSERT_OK(shmkit_semctl(priv, 0, IPC_RMID));
	ASSERT_EQ(shmkit_semget(key, 1, 0600), -1);
	ASSERT_EQ(errno, ENOENT);
}

TEST(sysv_semop_and_ctl)
{
	key_t key = fresh_key();
	int id = shmkit_semget(key, 2, IPC_CREAT | 0600);
	ASSERT_GE(id, 0);
	cleanup_sysv(id, key);
	struct sembuf b[2] = {{0, 2, 0}, {1, 1, SEM_UNDO}};
	ASSERT_OK(shmkit_semop(id, b, 2));
	ASSERT_EQ(shmkit_semctl(id, 0, GETVAL), 2);
	ASSERT_EQ(shmkit_semctl(id, 1, GETVAL), 1);
	ASSERT_EQ(shmkit_semctl(id, 1, GETPID), getpid());
	ASSERT_EQ(shmkit_semctl(id, 0, GETNCNT), 0);
	ASSERT_EQ(shmkit_semctl(id, 0, GETZCNT), 0);
	union semun a = {.val = 9};
	ASSERT_OK(shmkit_semctl(id, 0, SETVAL, a));
	ASSERT_EQ(shmkit_semctl(id, 0, GETVAL), 9);
	unsigned short vals[2] = {5, 6};
	a.array = vals;
	ASSERT_OK(shmkit_semctl(id, 0, SETALL, a));
	vals[0] = vals[1] = 0;
	ASSERT_OK(shmkit_semctl(id, 0, GETALL, a));
	ASSERT_EQ(vals[0], 5);
	ASSERT_EQ(vals[1], 6);
	struct semid_ds ds;
	a.buf = &ds;
	ASSERT_OK(shmkit_semctl(id, 0, IPC_STAT, a));
	ASSERT_EQ(ds.sem_nsems, 2);
	ASSERT_EQ(ds.sem_perm.__key, key);
	ASSERT_EQ(ds.sem_perm.mode & 0777, 0600);
	ASSERT_EQ(ds.sem_perm.uid, geteuid());
	ds.sem_perm.mode = 0640;
	ASSERT_OK(shmkit_semctl(id, 0, IPC_SET, a));
	ASSERT_OK(shmkit_semctl(id, 0, IPC_STAT, a));
	ASSERT_EQ(ds.sem_perm.mode & 0777, 0640);
	struct seminfo si;
	a.__buf = &si;
	int maxidx = shmkit_semctl(0, 0, IPC_INFO, a);
	ASSERT_GE(maxidx, id % 32768);
	ASSERT_EQ(si.semvmx, 32767);
	ASSERT_EQ(si.semopm, 500);
	ASSERT_EQ(si.semmsl, 32000);
	ASSERT_GE(shmkit_semctl(0, 0, SEM_INFO, a), id % 32768);
	ASSERT_GE(si.semusz, 1);
	ASSERT_GE(si.semaem, 2);
	a.buf = &ds;
	ASSERT_EQ(shmkit_semctl(id % 32768, 0, SEM_STAT, a), id);
	ASSERT_EQ(shmkit_semctl(id % 32768, 0, SEM_STAT_ANY, a), id);
	ASSERT_EQ(ds.sem_nsems, 2);
	ASSERT_OK(shmkit_semctl(id, 0, IPC_RMID));
	ASSERT_EQ(shmkit_semop(id, b, 1), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(shmkit_semctl(id, 0, GETVAL), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(shmkit_semctl(id % 32768, 0, SEM_STAT, a), -1);
	ASSERT_EQ(errno, EINVAL);
}

TEST(sysv_errors)
{
	key_t key = fresh_key();
	int id = shmkit_semget(key, 2, IPC_CREAT | 0600);
	ASSERT_GE(id, 0);
	cleanup_sysv(id, key);
	static struct sembuf many[SHMKIT_SEMOPM + 1];
	struct sembuf b = {0, -1, IPC_NOWAIT};
	struct timespec t = {0, 20000000};
	union semun a = {.buf = NULL};
	ASSERT_EQ(shmkit_semop(id, &b, 0), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(shmkit_semop(-1, &b, 1), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(shmkit_semop(id, many, SHMKIT_SEMOPM + 1), -1);
	ASSERT_EQ(errno, E2BIG);
	ASSERT_EQ(shmkit_semop(id, NULL, 1), -1);
	ASSERT_EQ(errno, EFAULT);
	ASSERT_EQ(shmkit_semop(id, &b, 1), -1);
	ASSERT_EQ(errno, EAGAIN);
	b.sem_flg = 0;
	ASSERT_EQ(shmkit_semtimedop(id, &b, 1, &t), -1);
	ASSERT_EQ(errno, EAGAIN);
	t.tv_nsec = -1;
	ASSERT_EQ(shmkit_semtimedop(id, &b, 1, &t), -1);
	ASSERT_EQ(errno, EINVAL);
	b.sem_num = 2;
	ASSERT_EQ(shmkit_semop(id, &b, 1), -1);
	ASSERT_EQ(errno, EFBIG);
	b = (struct sembuf){0, SHMKIT_SEMVMX, 0};
	ASSERT_OK(shmkit_semop(id, &b, 1));
	b.sem_op = 1;
	ASSERT_EQ(shmkit_semop(id, &b, 1), -1);
	ASSERT_EQ(errno, ERANGE);
	ASSERT_EQ(shmkit_semop(id + 32768, &b, 1), -1); /* stale sequence */
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(shmkit_semctl(id, 0, IPC_STAT, a), -1);
	ASSERT_EQ(errno, EFAULT);
	ASSERT_EQ(shmkit_semctl(id, 0, IPC_SET, a), -1);
	ASSERT_EQ(errno, EFAULT);
	ASSERT_EQ(shmkit_semctl(id, 0, GETALL, a), -1);
	ASSERT_EQ(errno, EFAULT);
	ASSERT_EQ(shmkit_semctl(id, 0, SETALL, a), -1);
	ASSERT_EQ(errno, EFAULT);
	ASSERT_EQ(shmkit_semctl(0, 0, IPC_INFO, a), -1);
	ASSERT_EQ(errno, EFAULT);
	ASSERT_EQ(shmkit_semctl(id, 0, 9999), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(shmkit_semctl(id, 2, GETVAL), -1);
	ASSERT_EQ(errno, EINVAL);
	a.val = 32768;
	ASSERT_EQ(shmkit_semctl(id, 0, SETVAL, a), -1);
	ASSERT_EQ(errno, ERANGE);
	a.val = -1;
	ASSERT_EQ(shmkit_semctl(id, 0, SETVAL, a), -1);
	ASSERT_EQ(errno, ERANGE);
	ASSERT_EQ(shmkit_semctl(-1, 0, GETVAL), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_OK(shmkit_semctl(id, 0, IPC_RMID));
	ASSERT_EQ(shmkit_semctl(id, 0, IPC_RMID), -1);
	ASSERT_EQ(errno, EINVAL);
}

TEST(sysv_permissions)
{
	th_require_root("a second uid");
	key_t key = fresh_key();
	int id = shmkit_semget(key, 1, IPC_CREAT | 0644);
	ASSERT_GE(id, 0);
	cleanup_sysv(id, key);
	int id2 = shmkit_semget(IPC_PRIVATE, 1, 0600);
	ASSERT_GE(id2, 0);
	cleanup_sysv(id2, IPC_PRIVATE);
	pid_t pid = th_fork();
	if (pid == 0) {
		struct sembuf b = {0, 1, 0};
		union semun a = {.val = 1};
		drop_to_nobody();
		/* The mode bits of semflg ask for access, folded as the
		 * kernel folds them: 0444 asks for read, 0644 for write. */
		ASSERT_EQ(shmkit_semget(key, 1, 0), id);
		ASSERT_EQ(shmkit_semget(key, 1, 0444), id);
		ASSERT_EQ(shmkit_semget(key, 1, 0644), -1);
		ASSERT_EQ(errno, EACCES);
		ASSERT_EQ(shmkit_semctl(id, 0, GETVAL), 0);
		ASSERT_EQ(shmkit_semop(id, &b, 1), -1);
		ASSERT_EQ(errno, EACCES);
		ASSERT_EQ(shmkit_semctl(id, 0, SETVAL, a), -1);
		ASSERT_EQ(errno, EACCES);
		ASSERT_EQ(shmkit_semctl(id, 0, IPC_RMID), -1);
		ASSERT_EQ(errno, EPERM);
		ASSERT_EQ(shmkit_semctl(id2, 0, GETVAL), -1);
		ASSERT_EQ(errno, EACCES);
		th_exit(0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_OK(shmkit_semctl(id, 0, IPC_RMID));
	ASSERT_OK(shmkit_semctl(id2, 0, IPC_RMID));
}
