/* SPDX-License-Identifier: MIT */
/* shmkit-bench-bus: children, bus names and their cleanup on every exit path. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "b_bench.h"

/*
 * What the signal handlers clean up: the names of the buses that exist
 * and the children that run. Both change only while the handled signals
 * are blocked. A fan-out measurement has up to BB_MAX_SUBS children.
 */
#define MAX_SPECS 4
#define MAX_KIDS  (BB_MAX_SUBS + 4)
static char specs[MAX_SPECS][64];
static pid_t kids[MAX_KIDS];
static size_t nkids;
static unsigned name_counter;
static sigset_t handled;
static char watchdog_msg[256];

/* write(2) of a whole string; usable from a signal handler. */
static void
put_str(const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, s, n);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

/*
 * Kill and reap the children, then remove the names: a child killed first
 * can no longer be inside a bus call we would race with, and a name
 * removed last cannot be opened again by a child still starting. Only
 * async-signal-safe calls (kill, waitpid, unlink through
 * shmkit_segment_remove).
 */
static void
abandon_all(void)
{
	for (size_t i = 0; i < nkids; i++) {
		kill(kids[i], SIGKILL);
	}
	for (size_t i = 0; i < nkids; i++) {
		while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR) {
			continue;
		}
	}
	nkids = 0;
	for (size_t i = 0; i < MAX_SPECS; i++) {
		if (specs[i][0] != '\0') {
			shmkit_segment_remove(specs[i]);
			specs[i][0] = '\0';
		}
	}
}

static void
on_signal(int sig)
{
	if (sig == SIGALRM) {
		put_str(watchdog_msg);
	} else {
		put_str(bench_prog);
		put_str(": interrupted; measurement abandoned\n");
	}
	abandon_all();
	_exit(1);
}

/*
 * A child that fails prints its reason and exits with status 1; one that
 * is killed says nothing. The parent may be spinning in a receive that
 * would never return, so it is not left to notice: this handler ends the
 * run at once. A normal exit (status 0) is left alone for bb_reap_all();
 * WNOWAIT keeps every child waitable for it.
 */
static void
on_child(int sig)
{
	int saved = errno;

	(void)sig;
	for (size_t i = 0; i < nkids; i++) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)kids[i], &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
		    si.si_pid == 0 || (si.si_code == CLD_EXITED && si.si_status == 0)) {
			continue;
		}
		if (si.si_code != CLD_EXITED || si.si_status != 1) {
			put_str(bench_prog);
			put_str(": a child process died unexpectedly; measurement abandoned\n");
		}
		abandon_all();
		_exit(1);
	}
	errno = saved;
}

void
bb_guard_init(void)
{
	struct sigaction sa;

	sigemptyset(&handled);
	sigaddset(&handled, SIGCHLD);
	sigaddset(&handled, SIGALRM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGHUP);
	memset(&sa, 0, sizeof(sa));
	/* Handlers never nest: each one ends the process or returns quickly. */
	sa.sa_mask = handled;
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void
bb_block(void)
{
	sigprocmask(SIG_BLOCK, &handled, NULL);
}

void
bb_unblock(void)
{
	sigprocmask(SIG_UNBLOCK, &handled, NULL);
}

void
bb_bus_spec(char *spec, size_t len)
{
	/* Unique per process and per bus: a run never meets a bus of another
	 * run, and a leftover of this pid (a killed earlier run) is replaced
	 * rather than reused. */
	snprintf(spec, len, "posix:bench-bus-%ld-%u", (long)getpid(), ++name_counter);
	shmkit_segment_remove(spec);
}

void
bb_guard_spec(const char *spec, int on)
{
	for (size_t i = 0; i < MAX_SPECS; i++) {
		if (on && specs[i][0] == '\0') {
			snprintf(specs[i], sizeof(specs[i]), "%s", spec);
			return;
		}
		if (!on && strcmp(specs[i], spec) == 0) {
			specs[i][0] = '\0';
			return;
		}
	}
	if (on) {
		bb_fail("internal: more than %d bus names at once", MAX_SPECS);
	}
}

/* In a child right after fork: default signal dispositions, nothing of the
 * parent's registry, and death with the parent. */
static void
child_init(pid_t parent)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &dfl, NULL);
	sigaction(SIGALRM, &dfl, NULL);
	sigaction(SIGINT, &dfl, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	sigaction(SIGHUP, &dfl, NULL);
	/* The names and the children are the parent's to clean up. */
	for (size_t i = 0; i < MAX_SPECS; i++) {
		specs[i][0] = '\0';
	}
	nkids = 0;
	/* If the parent dies, so does the child, rather than waiting forever
	 * on a bus nobody will publish on again. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) {
		_exit(1);
	}
	bb_unblock();
}

pid_t
bb_spawn(bb_child_fn *fn, void *arg, unsigned idx)
{
	pid_t parent = getpid();
	pid_t pid;

	if (nkids == MAX_KIDS) {
		bb_fail("internal: more than %d children at once", MAX_KIDS);
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		bb_fail("fork failed: %s", strerror(errno));
	}
	if (pid == 0) {
		child_init(parent);
		fn(arg, idx);
		_exit(0);
	}
	kids[nkids++] = pid;
	return pid;
}

void
bb_reap_all(const char *what)
{
	sigset_t chld, others;

	/* With SIGCHLD blocked its handler does not race this wait; the
	 * watchdog and the interrupts stay live in case a child does not
	 * exit. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	others = handled;
	sigdelset(&others, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	while (nkids > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == EINTR) {
				continue;
			}
			bb_fail("%s: waitpid failed: %s", what, strerror(errno));
		}
		sigprocmask(SIG_BLOCK, &others, NULL);
		for (size_t i = 0; i < nkids; i++) {
			if (kids[i] == pid) {
				kids[i] = kids[--nkids];
				break;
			}
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
			/* It said why. */
			abandon_all();
			exit(1);
		}
		if (WIFSIGNALED(status)) {
			bb_fail("%s: a child died of signal %d (%s)", what, WTERMSIG(status),
				strsignal(WTERMSIG(status)));
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			bb_fail("%s: a child exited with status %d", what, WEXITSTATUS(status));
		}
		sigprocmask(SIG_UNBLOCK, &others, NULL);
	}
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
}

void
bb_watchdog(unsigned secs, const char *what)
{
	alarm(0);
	if (secs == 0) {
		return;
	}
	snprintf(watchdog_msg, sizeof(watchdog_msg),
		 "%s: watchdog: %s did not finish in %u s; stopped and cleaned up\n", bench_prog,
		 what, secs);
	alarm(secs);
}

int
bb_pin_cpu(const struct bb_plan *plan, int cpu)
{
	cpu_set_t set;

	if (!plan->pinned) {
		return 0;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

int
bb_pin_set(const struct bb_plan *plan, const cpu_set_t *set)
{
	if (!plan->pinned) {
		return 0;
	}
	return sched_setaffinity(0, sizeof(*set), set) < 0 ? -errno : 0;
}

void
bb_fail(const char *fmt, ...)
{
	va_list ap;

	bb_block();
	alarm(0);
	fprintf(stderr, "%s: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abandon_all();
	exit(1);
}

void
bb_child_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* _exit: the parent's stdio buffers must not be flushed twice. */
	_exit(1);
}

void *
bb_map_shared(size_t len, const char *what)
{
	void *p = bench_map_shared(len);

	if (p == NULL) {
		bb_fail("cannot map %zu bytes for %s: %s", len, what, strerror(errno));
	}
	return p;
}

void
bb_nap(long ns)
{
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};

	nanosleep(&ts, NULL);
}
