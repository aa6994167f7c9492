/* SPDX-License-Identifier: MIT */
/* The data area shared by segment_server and segment_client, and their common helpers. */
#ifndef SEGMENT_DEMO_H
#define SEGMENT_DEMO_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* The spec both programs use when none is given on the command line. */
#define DEMO_DEFAULT_SPEC "posix:segment-demo"

/* How long either side waits for the other before giving up, and how long
 * it sleeps between two looks at the shared flags. */
#define DEMO_TIMEOUT_MS 10000
#define DEMO_POLL_NS    1000000L

/* The value the client stores in the handshake byte, as in the classic pair. */
#define DEMO_ACK '*'

/*
 * Atomics in shared memory must be lock-free: a lock-based atomic keeps its
 * lock in the process that uses it, so two processes would not exclude each
 * other. Every Linux target has lock-free 32-bit and 8-bit atomics, but say
 * so where the compiler can check it.
 */
#if ATOMIC_INT_LOCK_FREE != 2 || ATOMIC_CHAR_LOCK_FREE != 2
#error "this example needs lock-free atomics for int and char"
#endif

/*
 * What the server places at the start of the segment's data area. The
 * segment is zero-filled at creation, so both flags start at 0.
 *
 * @ready:     0 until the server has written @text; then 1. The server
 *             stores it with release ordering after writing @text, the
 *             client loads it with acquire ordering before reading @text, so
 *             a client that sees 1 also sees the whole message.
 * @handshake: 0 until the client has read the message; then DEMO_ACK. The
 *             client's store is release and the server's load acquire, which
 *             orders the client's reads of @text before the server removes
 *             the segment.
 * @text:      the message, NUL-terminated by the server. The client treats
 *             it as untrusted and never reads past the array.
 */
struct demo_area {
	atomic_uint ready;
	atomic_uchar handshake;
	char text[251];
};

_Static_assert(sizeof(struct demo_area) == 256, "demo_area is 256 bytes");

/* Milliseconds on CLOCK_MONOTONIC, which wall-clock changes do not move. */
static inline int64_t
demo_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep about one poll interval. An early return on a signal is fine: every
 * caller rechecks its condition and its deadline. */
static inline void
demo_pause(void)
{
	struct timespec ts = {0, DEMO_POLL_NS};
	nanosleep(&ts, NULL);
}

#endif /* SEGMENT_DEMO_H */
