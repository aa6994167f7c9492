/* SPDX-License-Identifier: MIT */
/* T05: liveness tokens under exits, zombies, SIGKILL, PID reuse and PID namespaces. */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "internal/registry.h"

/* What a child reports about itself. */
struct ident {
	uint32_t token;
	int32_t pid; /* getpid() in the child's own namespace */
	int32_t rc;  /* shmkit__self_token()'s result */
};

/* In a child: register and report on @fd. */
static void
report_self(int fd)
{
	struct ident id;

	memset(&id, 0, sizeof(id));
	id.rc = shmkit__self_token(&id.token);
	id.pid = (int32_t)getpid();
	if (th_write_all(fd, &id, sizeof(id)) != 0) {
		th_exit(3);
	}
}

static struct ident
read_ident(int fd)
{
	struct ident id;

	ASSERT_EQ(th_read_all(fd, &id, sizeof(id)), 0);
	ASSERT_OK(id.rc);
	ASSERT_NE(id.token, 0);
	ASSERT_EQ(id.token & ~SHMKIT_TOKEN_MASK, 0);
	return id;
}

/* In a child: close every descriptor but stdio and @keep1/@keep2 (siblings' pipe ends). */
static void
close_others(int keep1, int keep2)
{
	for (int fd = 3; fd < 1024; fd++) {
		if (fd != keep1 && fd != keep2) {
			close(fd);
		}
	}
}

/*
 * A child that registers, reports, then blocks until @hold_fd (its read
 * end) reaches end of file, and exits 0.
 */
struct kid {
	pid_t pid;
	int release_fd; /* close it to let the child exit */
	struct ident id;
};

static struct kid
start_kid(void)
{
	int rep[2], hold[2];
	struct kid k;
	char c;

	ASSERT_SYS(pipe(rep));
	ASSERT_SYS(pipe(hold));
	k.pid = th_fork();
	if (k.pid == 0) {
		close_others(rep[1], hold[0]);
		report_self(rep[1]);
		while (read(hold[0], &c, 1) != 0) {
		}
		th_exit(0);
	}
	close(rep[1]);
	close(hold[0]);
	k.id = read_ident(rep[0]);
	close(rep[0]);
	k.release_fd = hold[1];
	return k;
}

/* Wait until @pid has exited, leaving it a zombie (not reaped). */
static void
wait_zombie(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) != 0) {
		ASSERT_EQ(errno, EINTR);
	}
	ASSERT_EQ(si.si_pid, pid);
}

TEST(own_token)
{
	uint32_t t, t2;
	pid_t pid;

	ASSERT_OK(shmkit__self_token(&t));
	ASSERT_NE(t, 0);
	ASSERT_EQ(t & ~SHMKIT_TOKEN_MASK, 0);
	ASSERT_NE(t & 0xffffu, 0);
	ASSERT_OK(shmkit__self_token(&t2));
	ASSERT_EQ(t2, t);
	ASSERT_EQ(shmkit__token_alive(t), 1);
	ASSERT_OK(shmkit__token_pid(t, &pid));
	ASSERT_EQ(pid, getpid());
}

TEST(invalid_tokens)
{
	static const uint32_t bad[] = {0, 0x80000000u, 0x80000001u, 0xffffffffu,
				       SHMKIT_TOKEN_MASK + 1,
				       /* slot field 0: "slot + 1" cannot be 0 */
				       0x00010000u, 0x7fff0000u};
	pid_t pid;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		th_context("token 0x%08x", bad[i]);
		ASSERT_ERR(shmkit__token_alive(bad[i]), -EINVAL);
		ASSERT_ERR(shmkit__token_pid(bad[i], &pid), -EINVAL);
	}
	th_context(NULL);
	/* Well formed but never issued (the last slot, the last generation): dead. */
	ASSERT_EQ(shmkit__token_alive(0x7fffffffu), 0);
}

TEST(child_alive_then_dead_after_exit)
{
	struct kid k = start_kid();
	uint32_t mine;
	pid_t pid;

	ASSERT_OK(shmkit__self_token(&mine));
	ASSERT_NE(k.id.token, mine);
	ASSERT_EQ(k.id.pid, k.pid);
	ASSERT_EQ(shmkit__token_alive(k.id.token), 1);
	ASSERT_OK(shmkit__token_pid(k.id.token, &pid));
	ASSERT_EQ(pid, k.pid);

	close(k.release_fd);
	wait_zombie(k.pid);
	/* A zombie is dead: its descriptors, and so its locks, are gone. */
	ASSERT_EQ(shmkit__token_alive(k.id.token), 0);
	ASSERT_EXIT(th_wait(k.pid), 0);
	ASSERT_EQ(shmkit__token_alive(k.id.token), 0);
	/* And we are still alive. */
	ASSERT_EQ(shmkit__token_alive(mine), 1);
}

TEST(child_dead_after_sigkill)
{
	uint32_t mine;
	struct kid k;

	/* The parent registered before forking: the child must not share its token. */
	ASSERT_OK(shmkit__self_token(&mine));
	k = start_kid();
	ASSERT_NE(k.id.token, mine);
	ASSERT_EQ(shmkit__token_alive(k.id.token), 1);
	ASSERT_SYS(kill(k.pid, SIGKILL));
	wait_zombie(k.pid);
	ASSERT_EQ(shmkit__token_alive(k.id.token), 0);
	ASSERT_SIGNALED(th_wait(k.pid), SIGKILL);
	ASSERT_EQ(shmkit__token_alive(k.id.token), 0);
	ASSERT_EQ(shmkit__token_alive(mine), 1);
	close(k.release_fd);
}

/* A forked child that never registers must not keep or release our token. */
TEST(parent_token_survives_children)
{
	uint32_t mine;
	pid_t pid;

	ASSERT_OK(shmkit__self_token(&mine));
	pid = th_fork();
	if (pid == 0) {
		th_exit(0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_EQ(shmkit__token_alive(mine), 1);
	pid = th_fork();
	if (pid == 0) {
		pause();
		th_exit(0);
	}
	ASSERT_SYS(kill(pid, SIGKILL));
	(void)th_wait(pid);
	ASSERT_EQ(shmkit__token_alive(mine), 1);
}

/*
 * A process dies while a child it forked (which never used shmkit) runs on:
 * the child inherited the table's descriptors, and must not keep the dead
 * parent's token alive through them.
 */
TEST(dead_parent_with_live_child)
{
	int rep[2], hold[2];
	struct ident id;
	pid_t mid;

	ASSERT_SYS(pipe(rep));
	ASSERT_SYS(pipe(hold));
	mid = th_fork();
	if (mid == 0) {
		pid_t grandchild;
		char c;

		close(rep[0]);
		close(hold[1]);
		report_self(rep[1]);
		grandchild = fork();
		if (grandchild == 0) {
			/* Lives on (in the case's process group) until hold closes. */
			close(rep[1]);
			while (read(hold[0], &c, 1) != 0) {
			}
			_exit(0);
		}
		th_exit(grandchild > 0 ? 0 : 2);
	}
	close(rep[1]);
	close(hold[0]);
	id = read_ident(rep[0]);
	ASSERT_EXIT(th_wait(mid), 0);
	ASSERT_EQ(shmkit__token_alive(id.token), 0);
	close(hold[1]);
	close(rep[0]);
}

/* Same with SIGKILL and a grandchild that did register a token of its own. */
TEST(killed_parent_with_registered_child)
{
	int rep[2], hold[2];
	struct ident parent_id, child_id;
	pid_t mid;

	ASSERT_SYS(pipe(rep));
	ASSERT_SYS(pipe(hold));
	mid = th_fork();
	if (mid == 0) {
		char c;

		close(rep[0]);
		close(hold[1]);
		report_self(rep[1]);
		if (fork() == 0) {
			report_self(rep[1]);
			while (read(hold[0], &c, 1) != 0) {
			}
			_exit(0);
		}
		pause();
		th_exit(0);
	}
	close(rep[1]);
	close(hold[0]);
	parent_id = read_ident(rep[0]);
	child_id = read_ident(rep[0]);
	ASSERT_NE(parent_id.token, child_id.token);
	ASSERT_EQ(shmkit__token_alive(parent_id.token), 1);
	ASSERT_EQ(shmkit__token_alive(child_id.token), 1);
	ASSERT_SYS(kill(mid, SIGKILL));
	(void)th_wait(mid);
	ASSERT_EQ(shmkit__token_alive(parent_id.token), 0);
	ASSERT_EQ(shmkit__token_alive(child_id.token), 1);
	close(hold[1]);
	close(rep[0]);
}

static void *
thread_token_main(void *arg)
{
	uint32_t *t = arg;

	if (shmkit__thread_token(t) != 0 || shmkit__token_alive(*t) != 1) {
		*t = 0;
	}
	return NULL;
}

/* A thread's token (mutex ownership) dies with the thread, not the process's. */
TEST(thread_token_dies_with_thread)
{
	uint32_t proc, mine, t1 = 0, t2 = 0;
	pthread_t th;

	ASSERT_OK(shmkit__self_token(&proc));
	ASSERT_OK(shmkit__thread_token(&mine));
	ASSERT_EQ(shmkit__token_alive(mine), 1);
	ASSERT_EQ(pthread_create(&th, NULL, thread_token_main, &t1), 0);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	ASSERT_NE(t1, 0);
	ASSERT_NE(t1, mine);
	ASSERT_NE(t1, proc);
	ASSERT_EQ(shmkit__token_alive(t1), 0);
	ASSERT_EQ(pthread_create(&th, NULL, thread_token_main, &t2), 0);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	ASSERT_NE(t2, 0);
	ASSERT_NE(t2, t1);
	ASSERT_EQ(shmkit__token_alive(t1), 0);
	ASSERT_EQ(shmkit__token_alive(t2), 0);
	ASSERT_EQ(shmkit__token_alive(mine), 1);
	ASSERT_EQ(shmkit__token_alive(proc), 1);
}

/* ---- PID reuse: T05's 10,000 checks ---- */

#define REUSE_ROUNDS   12
#define REUSE_SHORT    100 /* short-lived children per round */
#define REUSE_FORCED   50  /* root: children forced onto a dead child's pid */
#define REUSE_LIVE     4
#define REUSE_CHECKS   10000
#define REUSE_MAX_DEAD (REUSE_ROUNDS * (REUSE_SHORT + REUSE_FORCED))
#define NS_LAST_PID    "/proc/sys/kernel/ns_last_pid"

struct dead {
	uint32_t token;
	pid_t pid;
};

/* Root: make the next fork() get @pid (racy with the rest of the machine). */
static int
aim_pid(pid_t pid)
{
	char buf[32];
	int fd = open(NS_LAST_PID, O_WRONLY | O_CLOEXEC);
	int n, ok;

	if (fd < 0) {
		return 0;
	}
	n = snprintf(buf, sizeof(buf), "%d", (int)pid - 1);
	ok = write(fd, buf, (size_t)n) == n;
	close(fd);
	return ok;
}

TEST_TIMEOUT(pid_reuse_no_misclassification, 120)
{
	static struct dead dead[REUSE_MAX_DEAD];
	struct kid live[REUSE_LIVE];
	size_t n_dead = 0;
	long checks = 0, forced = 0, reused = 0, slot_reused = 0;
	int can_aim = geteuid() == 0;

	for (int i = 0; i < REUSE_LIVE; i++) {
		live[i] = start_kid();
	}
	for (int round = 0; round < REUSE_ROUNDS || checks < REUSE_CHECKS; round++) {
		size_t first_new = n_dead;
		int rep[2];

		ASSERT_TRUE(round < 4 * REUSE_ROUNDS);
		th_context("round %d", round);
		ASSERT_SYS(pipe(rep));
		/* Short-lived children: register, report, exit. */
		for (int i = 0; i < REUSE_SHORT && n_dead < REUSE_MAX_DEAD; i++) {
			pid_t pid = th_fork();
			struct ident id;

			if (pid == 0) {
				close(rep[0]);
				report_self(rep[1]);
				th_exit(0);
			}
			id = read_ident(rep[0]);
			ASSERT_EXIT(th_wait(pid), 0);
			dead[n_dead].token = id.token;
			dead[n_dead].pid = pid;
			n_dead++;
		}
		close(rep[1]);
		close(rep[0]);

		/*
		 * Root: new processes on the very pids of the children that just
		 * died (the slot is chosen from the pid, so this also reuses
		 * slots). Each is alive while the dead one's token is checked.
		 */
		if (can_aim) {
			struct kid k[REUSE_FORCED];
			int nk = 0;

			for (size_t i = first_new; i < first_new + REUSE_FORCED && i < n_dead;
			     i++) {
				if (!aim_pid(dead[i].pid)) {
					can_aim = 0;
					th_log("cannot write %s: PID reuse left to chance",
					       NS_LAST_PID);
					break;
				}
				k[nk] = start_kid();
				forced++;
				if (k[nk].pid == dead[i].pid) {
					reused++;
					if ((k[nk].id.token & 0xffffu) ==
					    (dead[i].token & 0xffffu)) {
						slot_reused++;
					}
				}
				ASSERT_NE(k[nk].id.token, dead[i].token);
				ASSERT_EQ(shmkit__token_alive(dead[i].token), 0);
				ASSERT_EQ(shmkit__token_alive(k[nk].id.token), 1);
				checks += 2;
				nk++;
			}
			for (int i = 0; i < nk; i++) {
				close(k[i].release_fd);
				ASSERT_EXIT(th_wait(k[i].pid), 0);
				if (n_dead < REUSE_MAX_DEAD) {
					dead[n_dead].token = k[i].id.token;
					dead[n_dead].pid = k[i].pid;
					n_dead++;
				}
			}
		}

		/* Every token of an exited process: dead. Every live child: alive. */
		for (size_t i = 0; i < n_dead; i++) {
			int a = shmkit__token_alive(dead[i].token);

			if (a != 0) {
				th_fail(__FILE__, __LINE__,
					"token 0x%08x of exited pid %d reads %d (round %d)",
					dead[i].token, (int)dead[i].pid, a, round);
			}
			checks++;
		}
		for (int i = 0; i < REUSE_LIVE; i++) {
			ASSERT_EQ(shmkit__token_alive(live[i].id.token), 1);
			checks++;
		}
	}
	th_context(NULL);
	for (int i = 0; i < REUSE_LIVE; i++) {
		close(live[i].release_fd);
		ASSERT_EXIT(th_wait(live[i].pid), 0);
		ASSERT_EQ(shmkit__token_alive(live[i].id.token), 0);
	}
	th_log("%ld checks, %zu dead tokens; %ld forced forks, %ld got the dead pid, "
	       "%ld of those in the same slot",
	       checks, n_dead, forced, reused, slot_reused);
	ASSERT_GE(checks, REUSE_CHECKS);
	if (forced > 0) {
		/* The point of forcing: some new processes must really reuse pids. */
		ASSERT_GT(reused, 0);
	}
}

/* ---- PID namespaces ---- */

TEST(token_from_other_pid_namespace)
{
	int rep[2], hold[2], st;
	struct ident id;
	pid_t mid;
	pid_t seen;

	th_require_root("unshare(CLONE_NEWPID) needs CAP_SYS_ADMIN");
	ASSERT_SYS(pipe(rep));
	ASSERT_SYS(pipe(hold));
	mid = th_fork();
	if (mid == 0) {
		pid_t inner;
		char c;

		close(rep[0]);
		close(hold[1]);
		if (unshare(CLONE_NEWPID) != 0) {
			fprintf(stderr, "unshare(CLONE_NEWPID): %s\n", strerror(errno));
			th_exit(77);
		}
		inner = fork();
		if (inner == 0) {
			/* pid 1 of the new namespace. */
			report_self(rep[1]);
			while (read(hold[0], &c, 1) != 0) {
			}
			_exit(0);
		}
		if (inner < 0) {
			th_exit(2);
		}
		close(rep[1]);
		close(hold[0]);
		st = th_wait(inner);
		th_exit(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 4);
	}
	close(rep[1]);
	close(hold[0]);
	if (th_read_all(rep[0], &id, sizeof(id)) != 0) {
		st = th_wait(mid);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
			SKIP("no PID namespaces here");
		}
		th_fail(__FILE__, __LINE__, "the namespaced child reported nothing");
	}
	ASSERT_OK(id.rc);
	ASSERT_EQ(id.pid, 1);
	ASSERT_EQ(shmkit__token_alive(id.token), 1);
	ASSERT_OK(shmkit__token_pid(id.token, &seen));
	ASSERT_EQ(seen, 1); /* as registered, in its own namespace */
	close(hold[1]);
	ASSERT_EXIT(th_wait(mid), 0);
	/* Our pid 1 (init) is alive: a pid-based check would say "alive" here. */
	ASSERT_EQ(shmkit__token_alive(id.token), 0);
	close(rep[0]);
}
