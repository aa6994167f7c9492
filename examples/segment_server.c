/* SPDX-License-Identifier: MIT */
/* segment_server: create a segment, leave a message in it, wait for a client's '*'. */

/*
 * The classic System V pair (shmget/shmat, a busy loop with sleep(1) on the
 * first byte) rewritten on shmkit segments:
 *
 *  - the segment is created exclusively with mode 0600, and a posix or file
 *    segment appears under its name only once it is complete, so a client
 *    never attaches to a half-made one;
 *  - the message is published with a release store of a ready flag and read
 *    after an acquire load of it, so the client cannot see the flag before
 *    the text;
 *  - every wait is a short sleep in a loop bounded by a deadline, so a peer
 *    that never comes is reported instead of waited for forever;
 *  - the segment is removed at the end whatever happened, also on a timeout
 *    or on SIGINT/SIGTERM.
 *
 * Usage: segment_server [SPEC]      (default posix:segment-demo)
 * Start segment_client with the same SPEC, before or after this program.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shmkit/shmkit.h>

#include "segment_demo.h"

static volatile sig_atomic_t stop_signal;

static void
on_stop_signal(int sig)
{
	stop_signal = sig;
}

/* Ask SIGINT and SIGTERM to end the wait, so the segment is still removed. */
static int
catch_stop_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
		return -errno;
	}
	return 0;
}

/* Wait for the client's acknowledgement. Return 0, -ETIMEDOUT or -EINTR. */
static int
wait_for_ack(struct demo_area *area)
{
	int64_t deadline = demo_now_ms() + DEMO_TIMEOUT_MS;
	/* Acquire pairs with the client's release store of DEMO_ACK. */
	while (atomic_load_explicit(&area->handshake, memory_order_acquire) != DEMO_ACK) {
		if (stop_signal != 0) {
			return -EINTR;
		}
		if (demo_now_ms() >= deadline) {
			return -ETIMEDOUT;
		}
		demo_pause();
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *spec = argc > 1 ? argv[1] : DEMO_DEFAULT_SPEC;
	if (argc > 2) {
		fprintf(stderr, "usage: segment_server [SPEC]\n");
		return 2;
	}

	int rc = catch_stop_signals();
	if (rc < 0) {
		fprintf(stderr, "segment_server: sigaction: %s\n", shmkit_strerror(rc));
		return 1;
	}

	shmkit_segment_opts opts;
	shmkit_segment_opts_init(&opts);
	opts.size = sizeof(struct demo_area);

	shmkit_segment *seg;
	rc = shmkit_segment_create(&seg, spec, &opts);
	if (rc == -EEXIST) {
		fprintf(stderr,
			"segment_server: %s: %s (a previous run left it? "
			"remove it with: shmkit rm %s)\n",
			spec, shmkit_strerror(rc), spec);
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "segment_server: create %s: %s\n", spec, shmkit_strerror(rc));
		return 1;
	}

	/* The data area is cache-line aligned and at least opts.size bytes. */
	struct demo_area *area = shmkit_segment_data(seg);
	snprintf(area->text, sizeof(area->text), "hello from segment_server, pid %ld",
		 (long)getpid());
	/* Release: the text above happens-before the client's acquire load of
	 * ready == 1. */
	atomic_store_explicit(&area->ready, 1, memory_order_release);
	printf("segment_server: wrote \"%s\" to %s, waiting for the client\n", area->text, spec);
	if (shmkit_segment_backend(seg) == SHMKIT_BACKEND_MEMFD) {
		/* A memfd has no name: another process reaches it through this
		 * process's descriptor table. */
		printf("segment_server: clients open it as memfd:pid=%ld,fd=%d\n", (long)getpid(),
		       shmkit_segment_fd(seg));
	}
	fflush(stdout);

	int exit_code = 0;
	rc = wait_for_ack(area);
	if (rc == -ETIMEDOUT) {
		fprintf(stderr, "segment_server: %s: no client answered within %d s\n", spec,
			DEMO_TIMEOUT_MS / 1000);
		exit_code = 1;
	} else if (rc == -EINTR) {
		fprintf(stderr, "segment_server: %s: stopped by signal %d\n", spec,
			(int)stop_signal);
		exit_code = 1;
	} else {
		printf("segment_server: the client acknowledged with '%c'\n", DEMO_ACK);
	}

	/* Remove the name and unmap. A client still attached keeps its mapping
	 * until it closes; nobody can open the segment any more. (A memfd has
	 * no name: destroy only closes it, and it goes with its last
	 * descriptor and mapping.) */
	rc = shmkit_segment_destroy(seg);
	if (rc < 0) {
		fprintf(stderr, "segment_server: remove %s: %s\n", spec, shmkit_strerror(rc));
		exit_code = 1;
	}
	return exit_code;
}
