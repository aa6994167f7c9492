/* SPDX-License-Identifier: MIT */
/* segment_client: open the server's segment, print its message, answer with '*'. */

/*
 * The client half of the classic System V pair, on shmkit segments. It may
 * start before the server: it retries the open while the segment does not
 * exist yet (-ENOENT), for a bounded time. Everything it reads from the
 * segment was written by another process and is treated as untrusted: the
 * size of the data area is checked before use and the message is never read
 * past its array, terminated or not.
 *
 * Usage: segment_client [SPEC]      (default posix:segment-demo)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <shmkit/shmkit.h>

#include "segment_demo.h"

/* Open @spec, retrying while it does not exist yet, until @deadline_ms. */
static int
open_when_created(shmkit_segment **out, const char *spec, int64_t deadline_ms)
{
	for (;;) {
		/* Default options: the kind must be a plain segment, the owner
		 * must be us, and a sysv segment still initialising is waited
		 * for (1 s) inside the call. */
		int rc = shmkit_segment_open(out, spec, NULL);
		if (rc != -ENOENT) {
			return rc;
		}
		if (demo_now_ms() >= deadline_ms) {
			return -ETIMEDOUT;
		}
		demo_pause();
	}
}

/* Wait until the server has published its message. 0 or -ETIMEDOUT. */
static int
wait_for_message(struct demo_area *area, int64_t deadline_ms)
{
	/* Acquire pairs with the server's release store of ready = 1: after
	 * it, the whole text is visible. */
	while (atomic_load_explicit(&area->ready, memory_order_acquire) != 1) {
		if (demo_now_ms() >= deadline_ms) {
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
		fprintf(stderr, "usage: segment_client [SPEC]\n");
		return 2;
	}
	int64_t deadline = demo_now_ms() + DEMO_TIMEOUT_MS;

	shmkit_segment *seg;
	int rc = open_when_created(&seg, spec, deadline);
	if (rc == -ETIMEDOUT) {
		fprintf(stderr, "segment_client: %s: no server created it within %d s\n", spec,
			DEMO_TIMEOUT_MS / 1000);
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "segment_client: open %s: %s\n", spec, shmkit_strerror(rc));
		return 1;
	}

	/* Another program may have made a segment under this name: never
	 * touch more than the data area holds. */
	if (shmkit_segment_size(seg) < sizeof(struct demo_area)) {
		fprintf(stderr, "segment_client: %s: data area of %zu bytes, %zu needed\n", spec,
			shmkit_segment_size(seg), sizeof(struct demo_area));
		shmkit_segment_close(seg);
		return 1;
	}
	struct demo_area *area = shmkit_segment_data(seg);

	rc = wait_for_message(area, deadline);
	if (rc < 0) {
		fprintf(stderr, "segment_client: %s: the server published no message within %d s\n",
			spec, DEMO_TIMEOUT_MS / 1000);
		shmkit_segment_close(seg);
		return 1;
	}

	/* Copy the message out once, terminate the copy ourselves, and make
	 * control characters harmless before printing it. */
	char text[sizeof(area->text)];
	memcpy(text, area->text, sizeof(text));
	text[sizeof(text) - 1] = '\0';
	for (char *p = text; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*p = '?';
		}
	}
	printf("segment_client: read \"%s\" from %s\n", text, spec);
	fflush(stdout);

	/* Release: our reads of the text happen-before the server's acquire
	 * load that sees the acknowledgement, so from then on the server may
	 * reuse the area or remove the segment. */
	atomic_store_explicit(&area->handshake, DEMO_ACK, memory_order_release);

	rc = shmkit_segment_close(seg);
	if (rc < 0) {
		fprintf(stderr, "segment_client: close %s: %s\n", spec, shmkit_strerror(rc));
		return 1;
	}
	return 0;
}
