/* SPDX-License-Identifier: MIT */
/* shmkit_ring: roles, messages, bytes, zero-copy, waiting, event fd, wraparound, corruption. */
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* The shared layout as docs/RING.md gives it, to corrupt or move on purpose:
 * offsets from the segment's data area. */
#define OFF_META_LAYOUT 4u
#define OFF_META_CAP    8u
#define OFF_HEAD        64u
#define OFF_TAIL        128u
#define OFF_BYTES       3968u

static shmkit_ring *
make_ring(char *spec, size_t len, uint64_t cap, uint64_t max_msg, uint32_t flags, int role)
{
	shmkit_ring_opts o;
	shmkit_ring *r = NULL;
	shmkit_ring_opts_init(&o);
	o.capacity = cap;
	o.max_msg_size = max_msg;
	o.flags = flags;
	th_spec(spec, len, "posix");
	ASSERT_OK(shmkit_ring_create(&r, spec, &o, role));
	return r;
}

static shmkit_ring *
open_role(const char *spec, int role)
{
	shmkit_ring *r = NULL;
	ASSERT_OK(shmkit_ring_open(&r, spec, role));
	return r;
}

/* The raw data area of the ring's segment (for corrupting it). */
static unsigned char *
raw(const char *spec, shmkit_segment **seg)
{
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.kind = SHMKIT_KIND_ANY;
	ASSERT_OK(shmkit_segment_open(seg, spec, &so));
	return shmkit_segment_data(*seg);
}

static void
send_pattern(shmkit_ring *p, size_t len, uint64_t seed)
{
	unsigned char buf[8192];
	th_fill(buf, len, seed);
	ASSERT_OK(shmkit_ring_send(p, buf, len, SHMKIT_RING_F_NOWAIT, NULL));
}

static void
expect_pattern(shmkit_ring *c, size_t len, uint64_t seed)
{
	unsigned char buf[8192];
	ssize_t n = shmkit_ring_recv(c, buf, sizeof(buf), SHMKIT_RING_F_NOWAIT, NULL);
	ASSERT_EQ(n, (ssize_t)len);
	ASSERT_EQ(th_check_fill(buf, len, seed), -1);
}

TEST(bad_options_and_arguments)
{
	char spec[TH_SPEC_MAX];
	shmkit_ring_opts o;
	shmkit_ring *r = NULL;
	th_spec(spec, sizeof(spec), "posix");
	const uint64_t caps[] = {0, 1000, 2048, 4097, 6144, (uint64_t)1 << 33};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		shmkit_ring_opts_init(&o);
		o.capacity = caps[i];
		ASSERT_ERR(shmkit_ring_create(&r, spec, &o, SHMKIT_RING_NONE), -EINVAL);
	}
	shmkit_ring_opts_init(&o);
	o.capacity = 4096;
	o.max_msg_size = 4096 - 7;
	ASSERT_ERR(shmkit_ring_create(&r, spec, &o, SHMKIT_RING_NONE), -EINVAL);
	shmkit_ring_opts_init(&o);
	o.flags = 0x80;
	ASSERT_ERR(shmkit_ring_create(&r, spec, &o, SHMKIT_RING_NONE), -EINVAL);
	shmkit_ring_opts_init(&o);
	o.mode = 01000;
	ASSERT_ERR(shmkit_ring_create(&r, spec, &o, SHMKIT_RING_NONE), -EINVAL);
	ASSERT_ERR(shmkit_ring_create(&r, spec, NULL, 3), -EINVAL);
	ASSERT_ERR(shmkit_ring_create(NULL, spec, NULL, 0), -EINVAL);
	ASSERT_ERR(shmkit_ring_create(&r, NULL, NULL, 0), -EINVAL);
	ASSERT_ERR(shmkit_ring_open(&r, spec, 0), -ENOENT);
	ASSERT_ERR(shmkit_ring_open(&r, spec, -1), -EINVAL);
	ASSERT_ERR(shmkit_ring_send(NULL, "x", 1, 0, NULL), -EINVAL);
	ASSERT_ERR(shmkit_ring_recv(NULL, NULL, 0, 0, NULL), -EINVAL);
	ASSERT_ERR(shmkit_ring_set_wait(NULL, 0), -EINVAL);
	ASSERT_OK(shmkit_ring_close(NULL));

	/* A queue is not a ring. */
	char qspec[TH_SPEC_MAX];
	shmkit_queue *q;
	th_spec(qspec, sizeof(qspec), "posix");
	ASSERT_OK(shmkit_queue_create(&q, qspec, NULL));
	ASSERT_ERR(shmkit_ring_open(&r, qspec, 0), -EPROTOTYPE);
	ASSERT_OK(shmkit_queue_remove(q));

	/* Defaults, open_or_create. */
	ASSERT_EQ(shmkit_ring_open_or_create(&r, spec, NULL, SHMKIT_RING_NONE), 1);
	shmkit_ring_info in;
	ASSERT_OK(shmkit_ring_stat(r, &in));
	ASSERT_EQ(in.capacity, (uint64_t)1 << 20);
	ASSERT_EQ(in.max_msg_size, (uint64_t)1 << 19);
	ASSERT_EQ(in.producer_alive, -1);
	ASSERT_EQ(in.consumer_alive, -1);
	shmkit_ring *r2;
	ASSERT_EQ(shmkit_ring_open_or_create(&r2, spec, NULL, SHMKIT_RING_NONE), 0);
	ASSERT_ERR(shmkit_ring_set_wait(r2, 3), -EINVAL);
	ASSERT_OK(shmkit_ring_close(r2));
	ASSERT_OK(shmkit_ring_remove(r));
}

TEST(roles)
{
	char spec[TH_SPEC_MAX];
	shmkit_ring *p = make_ring(spec, sizeof(spec), 4096, 0, 0, SHMKIT_RING_PRODUCER);
	shmkit_ring *r = NULL, *c = NULL;
	ASSERT_ERR(shmkit_ring_open(&r, spec, SHMKIT_RING_PRODUCER), -EBUSY);
	c = open_role(spec, SHMKIT_RING_CONSUMER);
	ASSERT_ERR(shmkit_ring_open(&r, spec, SHMKIT_RING_CONSUMER), -EBUSY);
	shmkit_ring *none = open_role(spec, SHMKIT_RING_NONE);
	char buf[16];
	const void *pp;
	void *wp;
	ASSERT_ERR(shmkit_ring_send(none, "x", 1, 0, NULL), -EPERM);
	ASSERT_ERR(shmkit_ring_recv(none, buf, sizeof(buf), 0, NULL), -EPERM);
	ASSERT_ERR(shmkit_ring_recv(p, buf, sizeof(buf), 0, NULL), -EPERM);
	ASSERT_ERR(shmkit_ring_peek(p, &pp, 0, NULL), -EPERM);
	ASSERT_ERR(shmkit_ring_send(c, "x", 1, 0, NULL), -EPERM);
	ASSERT_ERR(shmkit_ring_reserve(c, 1, &wp, 0, NULL), -EPERM);
	ASSERT_ERR(shmkit_ring_shutdown(c), -EPERM);
	ASSERT_ERR(shmkit_ring_fd(none), -EPERM);
	ASSERT_ERR(shmkit_ring_attach(p, SHMKIT_RING_CONSUMER), -EINVAL);
	ASSERT_ERR(shmkit_ring_attach(none, 7), -EINVAL);
	ASSERT_ERR(shmkit_ring_attach(none, SHMKIT_RING_PRODUCER), -EBUSY);

	/* Closing gives the role back; what was sent stays. */
	ASSERT_OK(shmkit_ring_send(p, "abc", 3, 0, NULL));
	ASSERT_OK(shmkit_ring_close(p));
	ASSERT_OK(shmkit_ring_attach(none, SHMKIT_RING_PRODUCER));
	ASSERT_EQ(shmkit_ring_recv(c, buf, sizeof(buf), 0, NULL), 3);

	/* A dead holder is replaced; what it committed is received once. */
	ASSERT_OK(shmkit_ring_close(none));
	pid_t pid = th_fork();
	if (pid == 0) {
		shmkit_ring *cp = NULL;
		if (shmkit_ring_open(&cp, spec, SHMKIT_RING_PRODUCER) != 0) {
			th_exit(2);
		}
		for (int i = 0; i < 3; i++) {
			if (shmkit_ring_send(cp, &i, sizeof(i), 0, NULL) != 0) {
				th_exit(3);
			}
		}
		void *half;
		/* Reserved and never committed: must never appear. */
		if (shmkit_ring_reserve(cp, 4, &half, 0, NULL) != 4) {
			th_exit(4);
		}
		memset(half, 0x55, 4);
		th_exit(0); /* no close */
	}
	ASSERT_EXIT(th_wait(pid), 0);
	shmkit_ring_info in;
	ASSERT_OK(shmkit_ring_stat(c, &in));
	ASSERT_EQ(in.producer_alive, 0);
	ASSERT_EQ(in.messages, 3);
	p = open_role(spec, SHMKIT_RING_PRODUCER);
	for (int i = 0; i < 3; i++) {
		int v = -1;
		ASSERT_EQ(shmkit_ring_recv(c, &v, sizeof(v), SHMKIT_RING_F_NOWAIT, NULL), 4);
		ASSERT_EQ(v, i);
	}
	ASSERT_ERR(shmkit_ring_recv(c, buf, sizeof(buf), SHMKIT_RING_F_NOWAIT, NULL), -EAGAIN);

	/* After fork the child attaches on its own copy of a handle. */
	ASSERT_OK(shmkit_ring_close(c));
	shmkit_ring *fh = open_role(spec, SHMKIT_RING_NONE);
	pid = th_fork();
	if (pid == 0) {
		if (shmkit_ring_attach(fh, SHMKIT_RING_CONSUMER) != 0) {
			th_exit(2);
		}
		int v = 0;
		ssize_t n = shmkit_ring_recv(fh, &v, sizeof(v), 0, NULL);
		th_exit(n == 4 && v == 42 ? 0 : 3);
	}
	int v = 42;
	ASSERT_OK(shmkit_ring_send(p, &v, sizeof(v), 0, NULL));
	ASSERT_EXIT(th_wait(pid), 0);

	/* A child's copy of a handle holding a role holds nothing: it can
	 * neither use the role nor give it back. */
	pid = th_fork();
	if (pid == 0) {
		if (shmkit_ring_send(p, "x", 1, SHMKIT_RING_F_NOWAIT, NULL) != -EPERM ||
		    shmkit_ring_fd(p) != -EPERM) {
			th_exit(2);
		}
		shmkit_ring_close(p);
		th_exit(0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_ERR(shmkit_ring_open(&r, spec, SHMKIT_RING_PRODUCER), -EBUSY);
	ASSERT_OK(shmkit_ring_send(p, "y", 1, 0, NULL));
	ASSERT_OK(shmkit_ring_close(fh));
	ASSERT_OK(shmkit_ring_remove(p));
}

TEST(messages_and_limits)
{
	char spec[TH_SPEC_MAX];
	shmkit_ring *p = make_ring(spec, sizeof(spec), 8192, 1000, 0, SHMKIT_RING_PRODUCER);
	shmkit_ring *c = open_role(spec, SHMKIT_RING_CONSUMER);
	char buf[2000];
	for (size_t len = 0; len <= 300; len += 7) {
		send_pattern(p, len, len + 1);
		expect_pattern(c, len, len + 1);
	}
	ASSERT_ERR(shmkit_ring_send(p, buf, 1001, 0, NULL), -EMSGSIZE);
	ASSERT_ERR(shmkit_ring_send(p, NULL, 3, 0, NULL), -EINVAL);
	ASSERT_ERR(shmkit_ring_send(p, buf, 1, 0x100, NULL), -EINVAL);
	ASSERT_ERR(shmkit_ring_recv(c, buf, sizeof(buf), SHMKIT_RING_F_NOWAIT, NULL), -EAGAIN);
	struct timespec bad = {.tv_sec = 0, .tv_nsec = 2000000000L};
	ASSERT_ERR(shmkit_ring_recv(c, buf, sizeof(buf), 0, &bad), -EINVAL);
	struct timespec soon = th_in_ms(30);
	ASSERT_ERR(shmkit_ring_recv(c, buf, sizeof(buf), 0, &soon), -ETIMEDOUT);

	/* Too small a buffer: the message stays. */
	send_pattern(p, 100, 7);
	ASSERT_ERR(shmkit_ring_recv(c, buf, 99, 0, NULL), -EMSGSIZE);
	expect_pattern(c, 100, 7);

	/* Fill it: each record takes 8 + 1000 bytes. */
	int sent = 0;
	while (shmkit_ring_send(p, buf, 1000, SHMKIT_RING_F_NOWAIT, NULL) == 0) {
		sent++;
	}
	ASSERT_GE(sent, 7);
	ASSERT_ERR(shmkit_ring_send(p, buf, 1000, SHMKIT_RING_F_NOWAIT, NULL), -EAGAIN);
	soon = th_in_ms(30);
	ASSERT_ERR(shmkit_ring_send(p, buf, 1000, 0, &soon), -ETIMEDOUT);
	shmkit_ring_info in;
	ASSERT_OK(shmkit_ring_stat(p, &in));
	ASSERT_EQ(in.messages, (uint64_t)sent);
	for (int i = 0; i < sent; i++) {
		ASSERT_EQ(shmkit_ring_recv(c, buf, sizeof(buf), 0, NULL), 1000);
	}
	ASSERT_OK(shmkit_ring_stat(p, &in));
	ASSERT_EQ(in.used, 0);
	ASSERT_EQ(in.sent, in.received);
	ASSERT_OK(shmkit_ring_close(c));
	ASSERT_OK(shmkit_ring_remove(p));
}

TEST(wrap_with_pads)
{
	char spec[TH_SPEC_MAX];
	shmkit_ring *p = make_ring(spec, sizeof(spec), 4096, 4088, 0, SHMKIT_RING_PRODUCER);
	shmkit_ring *c = open_role(spec, SHMKIT_RING_CONSUMER);
	/* Sizes that leave every kind of remainder before the end, the
	 * largest message included (it needs the whole ring). */
	uint64_t seed = 1;
	for (int lap = 0; lap < 3000; lap++) {
		size_t len = (size_t)((lap * 977u) % 1500u);
		if (lap % 97 == 0) {
			len = 4088;
		}
		int burst = 1 + lap % 3;
		int n = 0;
		for (; n < burst; n++) {
			unsigned char buf[4096];
			th_fill(buf, len, seed + (uint64_t)n);
			int rc = shmkit_ring_send(p, buf, len, SHMKIT_RING_F_NOWAIT, NULL);
			if (rc == -EAGAIN && n == 0) {
				/* It waits for the consumer to pass the pad before
				 * the end (a look hands the pad back). */
				const void *rp;
				ASSERT_ERR(shmkit_ring_peek(c, &rp, SHMKIT_RING_F_NOWAIT, NULL),
					   -EAGAIN);
				rc = shmkit_ring_send(p, buf, len, SHMKIT_RING_F_NOWAIT, NULL);
			}
			if (rc != 0) {
				ASSERT_ERR(rc, -EAGAIN);
				break;
			}
		}
		ASSERT_GE(n, 1);
		for (int k = 0; k < n; k++) {
			unsigned char buf[4096];
			ASSERT_EQ(shmkit_ring_recv(c, buf, sizeof(buf), 0, NULL), (ssize_t)len);
			ASSERT_EQ(th_check_fill(buf, len, seed + (uint64_t)k), -1);
		}
		seed += 10;
	}
	ASSERT_OK(shmkit_ring_close(c));
	ASSERT_OK(shmkit_ring_remove(p));
}

TEST(zero_copy_and_batches)
{
	char spec[TH_SPEC_MAX];
	shmkit_ring *p = make_ring(spec, sizeof(spec), 4096, 0, 0, SHMKIT_RING_PRODUCER);
	shmkit_ring *c = open_role(spec, SHMKIT_RING_CONSUMER);
	void *w;
	const void *rp;
	char buf[64];
	ASSERT_ERR(shmkit_ring_commit(p, 0, 0), -EINVAL); /* nothing reserved */
	ASSERT_EQ(shmkit_ring_reserve(p, 100, &w, 0, NULL), 100);
	ASSERT_ERR(shmkit_ring_commit(p, 101, 0), -EINVAL);
	memcpy(w, "hello", 5);
	ASSERT_OK(shmkit_ring_commit(p, 5, 0)); /* shorter than reserved */
	ASSERT_EQ(shmkit_ring_peek(c, &rp, 0, NULL), 5);
	ASSERT_EQ(memcmp(rp, "hello", 5), 0);
	ASSERT_OK(shmkit_ring_release(c, 1));

	/* Batched commits stay invisible until published. */
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(shmkit_ring_reserve(p, sizeof(i), &w, 0, NULL), (ssize_t)sizeof(i));
		memcpy(w, &i, sizeof(i));
		ASSERT_OK(shmkit_ring_commit(p, sizeof(i), SHMKIT_RING_F_MORE));
	}
	ASSERT_ERR(shmkit_ring_peek(c, &rp, SHMKIT_RING_F_NOWAIT, NULL), -EAGAIN);
	ASSERT_OK(shmkit_ring_flush(p));

	/* Peek all three, release one, then the rest. */
	for (int i = 0; i < 3; i++) {
		int v;
		ASSERT_EQ(shmkit_ring_peek(c, &rp, SHMKIT_RING_F_NOWAIT, NULL), 4);
		memcpy(&v, rp, sizeof(v));
		ASSERT_EQ(v, i);
	}
	ASSERT_ERR(shmkit_ring_peek(c, &rp, SHMKIT_RING_F_NOWAIT, NULL), -EAGAIN);
	ASSERT_ERR(shmkit_ring_recv(c, buf, sizeof(buf), SHMKIT_RING_F_NOWAIT, NULL), -EBUSY);
	ASSERT_ERR(shmkit_ring_release(c, 4), -EINVAL);
	ASSERT_OK(shmkit_ring_release(c, 1));
	shmkit_ring_info in;
	ASSERT_OK(shmkit_ring_stat(c, &in));
	ASSERT_EQ(in.messages, 2);
	ASSERT_OK(shmkit_ring_release(c, SIZE_MAX));
	ASSERT_OK(shmkit_ring_stat(c, &in));
	ASSERT_EQ(in.messages, 0);
	ASSERT_EQ(in.used, 0);
	ASSERT_OK(shmkit_ring_release(c, SIZE_MAX)); /* nothing: fine */

	/* A consumer that goes away unreleased: its replacement sees it again. */
	send_pattern(p, 10, 3);
	ASSERT_EQ(shmkit_ring_peek(c, &rp, 0, NULL), 10);
	ASSERT_OK(shmkit_ring_close(c));
	c = open_role(spec, SHMKIT_RING_CONSUMER);
	expect_pattern(c, 10, 3);
	ASSERT_OK(shmkit_ring_close(c));
	ASSERT_OK(shmkit_ring_remove(p));
}

TEST(bytes)
{
	char spec[TH_SPEC_MAX];
	shmkit_ring *p =
		make_ring(spec, sizeof(spec), 4096, 0, SHMKIT_RING_BYTES, SHMKIT_RING_PRODUCER);
	shmkit_ring *c = open_role(spec, SHMKIT_RING_CONSUMER);
	static unsigned char src[20000], dst[20000];
	char small[8];
	th_fill(src, sizeof(src), 9);
	ASSERT_ERR(shmkit_ring_send(p, "x", 1, 0, NULL), -EINVAL);
	ASSERT_ERR(shmkit_ring_recv(c, small, sizeof(small), 0, NULL), -EINVAL);
	void *w;
	ASSERT_ERR(shmkit_ring_reserve(p, 0, &w, 0, NULL), -EINVAL);
	/* Odd chunk sizes through a small ring: every wrap position. */
	size_t in = 0, out = 0;
	while (out < sizeof(src)) {
		if (in < sizeof(src)) {
			size_t want = 1 + (in * 31) % 997;
			if (want > sizeof(src) - in) {
				want = sizeof(src) - in;
			}
			ssize_t n =
				shmkit_ring_write(p, src + in, want, SHMKIT_RING_F_NOWAIT, NULL);
			ASSERT_TRUE(n > 0 || n == -EAGAIN);
			in += n > 0 ? (size_t)n : 0;
		}
		size_t cap = 1 + (out * 17) % 1500;
		ssize_t n = shmkit_ring_read(c, dst + out, cap, SHMKIT_RING_F_NOWAIT, NULL);
		ASSERT_TRUE(n > 0 || n == -EAGAIN);
		out += n > 0 ? (size_t)n : 0;
	}
	ASSERT_EQ(memcmp(src, dst, sizeof(src)), 0);

	/* A full ring takes part of a write (NOWAIT), then nothing. */
	ASSERT_EQ(shmkit_ring_write(p, src, 5000, SHMKIT_RING_F_NOWAIT, NULL), 4096);
	ASSERT_ERR(shmkit_ring_write(p, src, 1, SHMKIT_RING_F_NOWAIT, NULL), -EAGAIN);
	/* Zero-copy reads: contiguous pieces, released partly. */
	const void *rp;
	ssize_t n = shmkit_ring_peek(c, &rp, 0, NULL);
	ASSERT_GT(n, 0);
	ASSERT_EQ(memcmp(rp, src, (size_t)n), 0);
	ASSERT_OK(shmkit_ring_release(c, 100));
	ASSERT_ERR(shmkit_ring_read(c, dst, 10, 0, NULL), -EBUSY); /* bytes still peeked */
	ASSERT_OK(shmkit_ring_release(c, SIZE_MAX));
	size_t got = (size_t)n;
	while (got < 4096) {
		n = shmkit_ring_read(c, dst, sizeof(dst), SHMKIT_RING_F_NOWAIT, NULL);
		ASSERT_GT(n, 0);
		ASSERT_EQ(memcmp(dst, src + got, (size_t)n), 0);
		got += (size_t)n;
	}
	/* The end of the stream: 0 once everything is read. */
	ASSERT_EQ(shmkit_ring_write(p, "tail", 4, 0, NULL), 4);
	ASSERT_OK(shmkit_ring_shutdown(p));
	ASSERT_EQ(shmkit_ring_read(c, dst, sizeof(dst), 0, NULL), 4);
	ASSERT_EQ(shmkit_ring_read(c, dst, sizeof(dst), 0, NULL), 0);
	ASSERT_ERR(shmkit_ring_read(c, dst, sizeof(dst), 0x40, NULL), -EINVAL);
	ASSERT_ERR(shmkit_ring_peek(c, &rp, 0, NULL), -EPIPE);
	/* A new producer opens the stream again. */
	ASSERT_OK(shmkit_ring_close(p));
	p = open_role(spec, SHMKIT_RING_PRODUCER);
	ASSERT_ERR(shmkit_ring_read(c, dst, sizeof(dst), SHMKIT_RING_F_NOWAIT, NULL), -EAGAIN);
	ASSERT_OK(shmkit_ring_close(c));
	ASSERT_OK(shmkit_ring_remove(p));
}

TEST(end_of_messages)
{
	char spec[TH_SPEC_MAX];
	shmkit_ring *p = make_ring(spec, sizeof(spec), 4096, 0, 0, SHMKIT_RING_PRODUCER);
	shmkit_ring *c = open_role(spec, SHMKIT_RING_CONSUMER);
	char buf[16];
	ASSERT_OK(shmkit_ring_send(p, "last", 4, 0, NULL));
	ASSERT_OK(shmkit_ring_shutdown(p));
	ASSERT_EQ(shmkit_ring_recv(c, buf, sizeof(buf), 0, NULL), 4);
	ASSERT_ERR(shmkit_ring_recv(c, buf, sizeof(buf), 0, NULL), -EPIPE);
	shmkit_ring_info in;
	ASSERT_OK(shmkit_ring_stat(c, &in));
	ASSERT_EQ(in.eof, 1);
	ASSERT_OK(shmkit_ring_close(c));
	ASSERT_OK(shmkit_ring_remove(p));
}

/* A consumer (each waiting strategy) waits across processes, sees the
 * producer die once (-ECONNRESET), then waits for its replacement. */
TEST_TIMEOUT(waiting_and_peer_death, 60)
{
	static const int strategies[] = {SHMKIT_RING_WAIT_DEFAULT, SHMKIT_RING_WAIT_SPIN,
					 SHMKIT_RING_WAIT_SLEEP};
	for (size_t s = 0; s < 3; s++) {
		char spec[TH_SPEC_MAX];
		shmkit_ring *c = make_ring(spec, sizeof(spec), 4096, 0, 0, SHMKIT_RING_CONSUMER);
		ASSERT_OK(shmkit_ring_set_wait(c, strategies[s]));
		pid_t pid = th_fork();
		if (pid == 0) {
			shmkit_ring *cp = NULL;
			if (shmkit_ring_open(&cp, spec, SHMKIT_RING_PRODUCER) != 0) {
				th_exit(2);
			}
			th_sleep_ms(50);
			int v = 7;
			if (shmkit_ring_send(cp, &v, sizeof(v), 0, NULL) != 0) {
				th_exit(3);
			}
			pause(); /* killed */
			th_exit(4);
		}
		int v = 0;
		struct timespec dl = th_in_ms(10000);
		ASSERT_EQ(shmkit_ring_recv(c, &v, sizeof(v), 0, &dl), 4);
		ASSERT_EQ(v, 7);
		if (strategies[s] == SHMKIT_RING_WAIT_SLEEP) {
			/* The stats show the consumer asleep while it waits; a
			 * watcher sees it, then kills the producer. */
			pid_t w = th_fork();
			if (w == 0) {
				shmkit_ring *wr = NULL;
				shmkit_ring_info in;
				int seen = 0;
				if (shmkit_ring_open(&wr, spec, SHMKIT_RING_NONE) != 0) {
					th_exit(2);
				}
				int64_t until = th_now_ms() + 10000;
				while (!seen && th_now_ms() < until) {
					th_sleep_ms(5);
					seen = shmkit_ring_stat(wr, &in) == 0 &&
					       in.consumer_sleeping;
				}
				kill(pid, SIGKILL);
				th_exit(seen ? 0 : 5);
			}
			dl = th_in_ms(20000);
			ASSERT_ERR(shmkit_ring_recv(c, &v, sizeof(v), 0, &dl), -ECONNRESET);
			ASSERT_EXIT(th_wait(w), 0);
		} else {
			kill(pid, SIGKILL);
			dl = th_in_ms(10000);
			ASSERT_ERR(shmkit_ring_recv(c, &v, sizeof(v), 0, &dl), -ECONNRESET);
		}
		ASSERT_SIGNALED(th_wait(pid), SIGKILL);
		/* Once per death: now it waits for a replacement. */
		dl = th_in_ms(20);
		ASSERT_ERR(shmkit_ring_recv(c, &v, sizeof(v), 0, &dl), -ETIMEDOUT);
		ASSERT_OK(shmkit_ring_remove(c));
	}
}

static void
on_usr1(int sig)
{
	(void)sig;
}

TEST_TIMEOUT(interrupted_wait, 30)
{
	char spec[TH_SPEC_MAX];
	shmkit_ring *c = make_ring(spec, sizeof(spec), 4096, 0, 0, SHMKIT_RING_CONSUMER);
	ASSERT_OK(shmkit_ring_set_wait(c, SHMKIT_RING_WAIT_SLEEP));
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	pid_t self = getpid();
	pid_t pid = th_fork();
	if (pid == 0) {
		/* Until the parent's wait ends (it resends: a signal that lands
		 * before the sleep only retries it). */
		for (int i = 0; i < 400; i++) {
			th_sleep_ms(25);
			kill(self, SIGUSR1);
		}
		th_exit(0);
	}
	char buf[8];
	ASSERT_ERR(shmkit_ring_recv(c, buf, sizeof(buf), SHMKIT_RING_F_INTERRUPTIBLE, NULL),
		   -EINTR);
	/* Without the flag, signals do not end the wait; the deadline does. */
	struct timespec dl = th_in_ms(200);
	ASSERT_ERR(shmkit_ring_recv(c, buf, sizeof(buf), 0, &dl), -ETIMEDOUT);
	kill(pid, SIGKILL);
	th_wait(pid);
	ASSERT_OK(shmkit_ring_remove(c));
}

static int
readable(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

TEST_TIMEOUT(event_fd, 30)
{
	char spec[TH_SPEC_MAX];
	shmkit_ring *p = make_ring(spec, sizeof(spec), 4096, 0, 0, SHMKIT_RING_PRODUCER);
	shmkit_ring *c = open_role(spec, SHMKIT_RING_CONSUMER);
	int cfd = shmkit_ring_fd(c);
	ASSERT_OK(cfd);
	ASSERT_EQ(shmkit_ring_fd(c), cfd);
	ASSERT_EQ(shmkit_ring_arm(c), 0);
	ASSERT_EQ(readable(cfd, 0), 0);
	pid_t pid = th_fork();
	if (pid == 0) {
		shmkit_ring_attach(p, SHMKIT_RING_PRODUCER); /* -EINVAL: a copy of ours */
		th_exit(0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_OK(shmkit_ring_send(p, "a", 1, 0, NULL));
	ASSERT_EQ(readable(cfd, 5000), 1);
	ASSERT_EQ(shmkit_ring_arm(c), 1); /* data: do not sleep */
	char buf[8];
	ASSERT_EQ(shmkit_ring_recv(c, buf, sizeof(buf), SHMKIT_RING_F_NOWAIT, NULL), 1);
	ASSERT_EQ(shmkit_ring_arm(c), 0);
	ASSERT_EQ(readable(cfd, 0), 0);

	/* The producer's fd: room after a full ring. */
	int pfd = shmkit_ring_fd(p);
	ASSERT_OK(pfd);
	while (shmkit_ring_send(p, buf, 8, SHMKIT_RING_F_NOWAIT, NULL) == 0) {
	}
	ASSERT_EQ(shmkit_ring_arm(p), 0);
	ASSERT_EQ(readable(pfd, 0), 0);
	ASSERT_EQ(shmkit_ring_recv(c, buf, sizeof(buf), SHMKIT_RING_F_NOWAIT, NULL), 8);
	ASSERT_EQ(readable(pfd, 5000), 1);
	ASSERT_EQ(shmkit_ring_arm(p), 1);
	ASSERT_OK(shmkit_ring_close(c));
	ASSERT_OK(shmkit_ring_remove(p));
}

/* T12: positions near 2^64 wrap with nothing lost or torn. */
TEST(position_wraparound)
{
	char spec[TH_SPEC_MAX];
	shmkit_ring *none = make_ring(spec, sizeof(spec), 4096, 0, 0, SHMKIT_RING_NONE);
	shmkit_segment *seg;
	unsigned char *d = raw(spec, &seg);
	uint64_t start = UINT64_MAX - 3 * 4096 + 1 - 40; /* 8-aligned, a pad before 0 */
	start &= ~(uint64_t)7;
	atomic_store((_Atomic uint64_t *)(void *)(d + OFF_HEAD), start);
	atomic_store((_Atomic uint64_t *)(void *)(d + OFF_TAIL), start);
	shmkit_ring *p = open_role(spec, SHMKIT_RING_PRODUCER);
	shmkit_ring *c = open_role(spec, SHMKIT_RING_CONSUMER);
	for (int i = 0; i < 200; i++) {
		size_t len = (size_t)(i * 131) % 1000;
		send_pattern(p, len, (uint64_t)i);
		if (i % 2 == 1) {
			expect_pattern(c, (size_t)((i - 1) * 131) % 1000, (uint64_t)i - 1);
			expect_pattern(c, len, (uint64_t)i);
		}
	}
	uint64_t head = atomic_load((_Atomic uint64_t *)(void *)(d + OFF_HEAD));
	ASSERT_TRUE(head < start); /* it did wrap */
	ASSERT_OK(shmkit_segment_close(seg));
	ASSERT_OK(shmkit_ring_close(c));
	ASSERT_OK(shmkit_ring_close(p));
	ASSERT_OK(shmkit_ring_remove(none));
}

/* A stray writer: every bad word is refused with -EBADMSG, nothing wild. */
TEST(corruption)
{
	char spec[TH_SPEC_MAX];
	shmkit_ring *p = make_ring(spec, sizeof(spec), 4096, 0, 0, SHMKIT_RING_PRODUCER);
	shmkit_ring *c = open_role(spec, SHMKIT_RING_CONSUMER);
	shmkit_segment *seg;
	unsigned char *d = raw(spec, &seg);
	_Atomic uint64_t *head = (_Atomic uint64_t *)(void *)(d + OFF_HEAD);
	_Atomic uint64_t *tail = (_Atomic uint64_t *)(void *)(d + OFF_TAIL);
	char buf[64];
	void *w;

	/* A record header that lies: its length, then its tag. */
	ASSERT_OK(shmkit_ring_send(p, "abcdef", 6, 0, NULL));
	unsigned char saved[8];
	memcpy(saved, d + OFF_BYTES, 8);
	uint32_t huge = 100000;
	memcpy(d + OFF_BYTES, &huge, 4);
	ASSERT_ERR(shmkit_ring_recv(c, buf, sizeof(buf), 0, NULL), -EBADMSG);
	memcpy(d + OFF_BYTES, saved, 8);
	memset(d + OFF_BYTES + 4, 0x77, 4);
	ASSERT_ERR(shmkit_ring_recv(c, buf, sizeof(buf), 0, NULL), -EBADMSG);
	shmkit_ring_info in;
	ASSERT_OK(shmkit_ring_stat(c, &in)); /* counts up to the bad record */
	ASSERT_EQ(in.messages, 0);
	memcpy(d + OFF_BYTES, saved, 8);
	ASSERT_EQ(shmkit_ring_recv(c, buf, sizeof(buf), 0, NULL), 6);

	/* Positions that cannot be: ahead by more than the ring, behind,
	 * unaligned. */
	uint64_t h = atomic_load(head), t = atomic_load(tail);
	atomic_store(head, t + 4096 + 8);
	ASSERT_ERR(shmkit_ring_recv(c, buf, sizeof(buf), SHMKIT_RING_F_NOWAIT, NULL), -EBADMSG);
	ASSERT_ERR(shmkit_ring_stat(c, &in), -EBADMSG);
	atomic_store(head, t + 3);
	ASSERT_ERR(shmkit_ring_recv(c, buf, sizeof(buf), SHMKIT_RING_F_NOWAIT, NULL), -EBADMSG);
	atomic_store(head, h);
	atomic_store(tail, h + 1000000); /* past what was published */
	for (int i = 0; i < 1000; i++) {
		ssize_t n = shmkit_ring_reserve(p, 1000, &w, SHMKIT_RING_F_NOWAIT, NULL);
		if (n < 0) {
			ASSERT_ERR(n, -EBADMSG);
			break;
		}
		ASSERT_OK(shmkit_ring_commit(p, 0, 0));
		ASSERT_LT(i, 999);
	}
	atomic_store(tail, t);
	ASSERT_OK(shmkit_ring_close(c));
	ASSERT_OK(shmkit_ring_close(p));

	/* The shape: another layout, a capacity that is no power of two. */
	uint32_t layout;
	memcpy(&layout, d + OFF_META_LAYOUT, 4);
	uint32_t other = layout + 1;
	memcpy(d + OFF_META_LAYOUT, &other, 4);
	shmkit_ring *r;
	ASSERT_ERR(shmkit_ring_open(&r, spec, SHMKIT_RING_NONE), -EPROTO);
	memcpy(d + OFF_META_LAYOUT, &layout, 4);
	uint64_t cap = 4096 + 64;
	memcpy(d + OFF_META_CAP, &cap, 8);
	ASSERT_ERR(shmkit_ring_open(&r, spec, SHMKIT_RING_NONE), -EBADMSG);
	cap = (uint64_t)1 << 30; /* larger than the mapping */
	memcpy(d + OFF_META_CAP, &cap, 8);
	ASSERT_ERR(shmkit_ring_open(&r, spec, SHMKIT_RING_NONE), -EBADMSG);
	ASSERT_OK(shmkit_segment_close(seg));
	ASSERT_OK(shmkit_segment_remove(spec));
}

/* A message too large for the buffer stays, also when the pad before it
 * ends exactly at 2^64 (the position wraps to 0 there). */
TEST(too_small_buffer_at_the_wrap)
{
	char spec[TH_SPEC_MAX];
	shmkit_ring *none = make_ring(spec, sizeof(spec), 4096, 0, 0, SHMKIT_RING_NONE);
	shmkit_segment *seg;
	unsigned char *d = raw(spec, &seg);
	uint64_t start = UINT64_MAX - 24 + 1; /* 2^64 - 24: a 24-byte pad to the wrap */
	atomic_store((_Atomic uint64_t *)(void *)(d + OFF_HEAD), start);
	atomic_store((_Atomic uint64_t *)(void *)(d + OFF_TAIL), start);
	shmkit_ring *p = open_role(spec, SHMKIT_RING_PRODUCER);
	shmkit_ring *c = open_role(spec, SHMKIT_RING_CONSUMER);
	char small[10];
	send_pattern(p, 100, 1);
	ASSERT_ERR(shmkit_ring_recv(c, small, sizeof(small), 0, NULL), -EMSGSIZE);
	send_pattern(p, 1984, 2);
	expect_pattern(c, 100, 1);
	send_pattern(p, 1984, 3);
	expect_pattern(c, 1984, 2);
	expect_pattern(c, 1984, 3);
	ASSERT_OK(shmkit_segment_close(seg));
	ASSERT_OK(shmkit_ring_close(c));
	ASSERT_OK(shmkit_ring_close(p));
	ASSERT_OK(shmkit_ring_remove(none));
}
