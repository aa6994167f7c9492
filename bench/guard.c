/* SPDX-License-Identifier: MIT */
/* Cleanup on every exit path: the children, the watchdog and the signal handlers. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/*
 * What the signal handlers clean up: the children that run and whatever
 * the program's cleanup function releases. The registry changes only while
 * the handled signals are blocked, so a handler never sees it half-updated.
 */
static pid_t kids[BENCH_MAX_KIDS];
static size_t nkids;
static void (*cleanup_fn)(void);
static sigset_t handled;
static char watchdog_msg[256];
static char died_msg[256];

void
bench_put_str(const char *s)
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
 * Kill and reap the children, then call the cleanup: a child killed first
 * can no longer be inside a call we would race with, and a name removed
 * last cannot be opened again by a child still starting. Only
 * async-signal-safe calls (kill, waitpid, and what the cleanup promises).
 */
void
bench_abandon(void)
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
	if (cleanup_fn != NULL) {
		cleanup_fn();
	}
}

static void
on_signal(int sig)
{
	if (sig == SIGALRM) {
		bench_put_str(watchdog_msg);
	} else {
		bench_put_str(bench_prog);
		bench_put_str(": interrupted; measurement abandoned\n");
	}
	bench_abandon();
	_exit(1);
}

/*
 * A child that fails prints its own reason and exits with status 1; one
 * that is killed says nothing. The parent may be blocked in a receive that
 * would never return (a spinning shared-memory wait, a System V queue), so
 * it is not left to notice: this handler ends the run at once. A normal
 * exit (status 0) is left alone for the main path to reap; WNOWAIT keeps
 * every child waitable for it.
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
			bench_put_str(died_msg);
		}
		bench_abandon();
		_exit(1);
	}
	errno = saved;
}

void
bench_guard_init(unsigned flags, void (*cleanup)(void))
{
	struct sigaction sa;

	sigemptyset(&handled);
	if (flags & BENCH_GUARD_CHILD) {
		sigaddset(&handled, SIGCHLD);
	}
	sigaddset(&handled, SIGALRM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGHUP);
	cleanup_fn = cleanup;
	memset(&sa, 0, sizeof(sa));
	/* Handlers never nest: each one ends the process or returns quickly. */
	if (flags & BENCH_GUARD_MASK_ALL) {
		sigfillset(&sa.sa_mask);
	} else {
		sa.sa_mask = handled;
	}
	sa.sa_flags = SA_RESTART;
	if (flags & BENCH_GUARD_CHILD) {
		sa.sa_handler = on_child;
		sigaction(SIGCHLD, &sa, NULL);
	}
	sa.sa_handler = on_signal;
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

void
bench_block(sigset_t *old)
{
	sigprocmask(SIG_BLOCK, &handled, old);
}

void
bench_unblock(void)
{
	sigprocmask(SIG_UNBLOCK, &handled, NULL);
}

int
bench_guard_full(void)
{
	return nkids == BENCH_MAX_KIDS;
}

size_t
bench_guard_kids(void)
{
	return nkids;
}

void
bench_guard_add(pid_t pid)
{
	if (nkids < BENCH_MAX_KIDS) {
		kids[nkids++] = pid;
	}
}

void
bench_guard_forget(pid_t pid)
{
	for (size_t i = 0; i < nkids; i++) {
		if (kids[i] == pid) {
			kids[i] = kids[--nkids];
			return;
		}
	}
}

int
bench_guard_child(pid_t parent)
{
	struct sigaction dfl;
	static const int sigs[] = {SIGCHLD, SIGALRM, SIGINT, SIGTERM, SIGHUP};

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigismember(&handled, sigs[i])) {
			sigaction(sigs[i], &dfl, NULL);
		}
	}
	/* The children and the cleanup are the parent's. */
	nkids = 0;
	cleanup_fn = NULL;
	/* If the parent dies, so does the child, rather than waiting forever
	 * on a peer nobody will serve again. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	return getppid() == parent ? 0 : -1;
}

int
bench_guard_wait(pid_t pid)
{
	sigset_t chld;
	int status;

	/* With SIGCHLD blocked its handler does not race this wait; the
	 * watchdog and the interrupts stay live in case the child does not
	 * exit. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			return -errno;
		}
	}
	bench_block(NULL);
	alarm(0);
	bench_guard_forget(pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 1) {
			bench_put_str(died_msg);
		}
		return 1;
	}
	return 0;
}

void
bench_guard_ended(pid_t pid, int status, const char *what, const char *who)
{
	sigset_t old;

	bench_block(&old);
	bench_guard_forget(pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
		/* It said why. */
		bench_abandon_exit();
	}
	if (WIFSIGNALED(status)) {
		bench_fail("%s: %s died of signal %d (%s)", what, who, WTERMSIG(status),
			   strsignal(WTERMSIG(status)));
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		bench_fail("%s: %s exited with status %d", what, who, WEXITSTATUS(status));
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

void
bench_watchdog_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(watchdog_msg, sizeof(watchdog_msg), fmt, ap);
	va_end(ap);
}

void
bench_died_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(died_msg, sizeof(died_msg), fmt, ap);
	va_end(ap);
}

void
bench_watchdog(unsigned secs, const char *what)
{
	alarm(0);
	if (secs == 0) {
		return;
	}
	bench_watchdog_msg("%s: watchdog: %s did not finish in %u s; stopped and cleaned up\n",
			   bench_prog, what, secs);
	alarm(secs);
}

void
bench_abandon_exit(void)
{
	bench_block(NULL);
	bench_abandon();
	exit(1);
}

void
bench_fail(const char *fmt, ...)
{
	va_list ap;

	bench_block(NULL);
	alarm(0);
	va_start(ap, fmt);
	bench_vmsg(fmt, ap, "\n");
	va_end(ap);
	bench_abandon();
	exit(1);
}

void
bench_child_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bench_vmsg(fmt, ap, "\n");
	va_end(ap);
	/* _exit: the parent's stdio buffers must not be flushed twice. */
	_exit(1);
}
