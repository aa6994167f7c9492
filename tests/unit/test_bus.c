/* SPDX-License-Identifier: MIT */
/* shmkit_bus: options, fan-out, history, lapping, reliable back-pressure, loans, dead and stalled
 * members. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static shmkit_bus *
make_bus(char *spec, size_t len, uint32_t slots, uint64_t max_msg, uint32_t flags)
{
	shmkit_bus_opts o;
	shmkit_bus *b = NULL;
	shmkit_bus_opts_init(&o);
	o.slots = slots;
	o.max_msg_size = max_msg;
	o.flags = flags;
	o.max_subscribers = 8;
	o.max_publishers = 4;
	th_spec(spec, len, "posix");
	ASSERT_OK(shmkit_bus_create(&b, spec, &o));
	return b;
}

static shmkit_bus *
open_bus(const char *spec)
{
	shmkit_bus *b = NULL;
	ASSERT_OK(shmkit_bus_open(&b, spec));
	return b;
}

static void
pub_u32(shmkit_bus *b, uint32_t v)
{
	ASSERT_OK(shmkit_bus_send(b, &v, sizeof(v), SHMKIT_BUS_F_NOWAIT, NULL));
}

static void
expect_u32(shmkit_bus *b, uint32_t want, uint64_t want_lost)
{
	uint32_t v = 0;
	uint64_t lost = 99;
	ASSERT_EQ(shmkit_bus_recv(b, &v, sizeof(v), &lost, SHMKIT_BUS_F_NOWAIT, NULL), 4);
	ASSERT_EQ(v, want);
	ASSERT_EQ(lost, want_lost);
}

TEST(bad_options_and_arguments)
{
	char spec[TH_SPEC_MAX];
	shmkit_bus_opts o;
	shmkit_bus *b;
	th_spec(spec, sizeof(spec), "posix");
	shmkit_bus_opts_init(&o);
	o.slots = 3;
	ASSERT_ERR(shmkit_bus_create(&b, spec, &o), -EINVAL);
	shmkit_bus_opts_init(&o);
	o.slots = 1;
	ASSERT_ERR(shmkit_bus_create(&b, spec, &o), -EINVAL);
	shmkit_bus_opts_init(&o);
	o.max_subscribers = 0;
	ASSERT_ERR(shmkit_bus_create(&b, spec, &o), -EINVAL);
	shmkit_bus_opts_init(&o);
	o.max_subscribers = 5000;
	ASSERT_ERR(shmkit_bus_create(&b, spec, &o), -EINVAL);
	shmkit_bus_opts_init(&o);
	o.max_publishers = 65;
	ASSERT_ERR(shmkit_bus_create(&b, spec, &o), -EINVAL);
	shmkit_bus_opts_init(&o);
	o.max_msg_size = ((uint64_t)1 << 30) + 1;
	ASSERT_ERR(shmkit_bus_create(&b, spec, &o), -EINVAL);
	shmkit_bus_opts_init(&o);
	o.flags = 2;
	ASSERT_ERR(shmkit_bus_create(&b, spec, &o), -EINVAL);
	ASSERT_ERR(shmkit_bus_open(&b, spec), -ENOENT);
	ASSERT_ERR(shmkit_bus_send(NULL, "x", 1, 0, NULL), -EINVAL);
	ASSERT_OK(shmkit_bus_close(NULL));
	ASSERT_EQ(shmkit_bus_open_or_create(&b, spec, NULL), 1);
	char buf[8];
	const void *p;
	ASSERT_ERR(shmkit_bus_recv(b, buf, sizeof(buf), NULL, 0, NULL), -ENOTCONN);
	ASSERT_ERR(shmkit_bus_release(b), -EINVAL);
	ASSERT_ERR(shmkit_bus_publish(b, 0), -EINVAL);
	ASSERT_OK(shmkit_bus_subscribe(b, 0));
	ASSERT_ERR(shmkit_bus_subscribe(b, 0), -EBUSY);
	ASSERT_ERR(shmkit_bus_peek(b, &p, NULL, SHMKIT_BUS_F_NOWAIT, NULL), -EAGAIN);
	struct timespec dl = th_in_ms(20);
	ASSERT_ERR(shmkit_bus_peek(b, &p, NULL, 0, &dl), -ETIMEDOUT);
	static char big[4097];
	ASSERT_ERR(shmkit_bus_send(b, big, sizeof(big), 0, NULL), -EMSGSIZE);
	void *w;
	ASSERT_OK(shmkit_bus_loan(b, 10, &w, 0, NULL));
	ASSERT_ERR(shmkit_bus_loan(b, 10, &w, 0, NULL), -EBUSY);
	ASSERT_ERR(shmkit_bus_publish(b, 11), -EINVAL);
	ASSERT_OK(shmkit_bus_publish(b, 0));
	ASSERT_EQ(shmkit_bus_recv(b, buf, sizeof(buf), NULL, 0, NULL), 0); /* 0 bytes */
	shmkit_bus *b2 = open_bus(spec);
	ASSERT_OK(shmkit_bus_remove(b2));
	ASSERT_OK(shmkit_bus_close(b));
}

/* Every subscriber reads every message, at its own pace; a late one asks
 * for history. */
TEST(fan_out_and_history)
{
	char spec[TH_SPEC_MAX];
	shmkit_bus *p = make_bus(spec, sizeof(spec), 16, 64, 0);
	shmkit_bus *s[3];
	for (int i = 0; i < 3; i++) {
		s[i] = open_bus(spec);
		ASSERT_OK(shmkit_bus_subscribe(s[i], 0));
	}
	for (uint32_t v = 0; v < 10; v++) {
		pub_u32(p, v);
	}
	for (int i = 0; i < 3; i++) {
		for (uint32_t v = 0; v < (uint32_t)(4 + 3 * i); v++) {
			expect_u32(s[i], v, 0);
		}
	}
	/* A late joiner: the last 4, then what comes. */
	shmkit_bus *late = open_bus(spec);
	ASSERT_OK(shmkit_bus_subscribe(late, 4));
	pub_u32(p, 10);
	for (uint32_t v = 6; v <= 10; v++) {
		expect_u32(late, v, 0);
	}
	/* History longer than the log: what is left. */
	shmkit_bus *all = open_bus(spec);
	ASSERT_OK(shmkit_bus_subscribe(all, 1000));
	expect_u32(all, 0, 0);
	shmkit_bus_info in;
	ASSERT_OK(shmkit_bus_stat(p, &in));
	ASSERT_EQ(in.subscribers, 5);
	ASSERT_EQ(in.publishers, 1);
	ASSERT_EQ(in.published, 11);
	shmkit_bus_sub_info si[8];
	ASSERT_EQ(shmkit_bus_subscribers(p, si, 8), 5);
	ASSERT_EQ(si[0].lag, 11 - 4);
	ASSERT_EQ(si[0].received, 4);
	ASSERT_OK(shmkit_bus_unsubscribe(all));
	ASSERT_ERR(shmkit_bus_unsubscribe(all), -ENOTCONN);
	ASSERT_EQ(shmkit_bus_subscribers(p, NULL, 0), 4);
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(shmkit_bus_close(s[i]));
	}
	ASSERT_OK(shmkit_bus_close(late));
	ASSERT_OK(shmkit_bus_close(all));
	ASSERT_OK(shmkit_bus_remove(p));
}

/* T13: a lapped subscriber is told exactly how many it lost. */
TEST(lapping_is_counted)
{
	char spec[TH_SPEC_MAX];
	shmkit_bus *p = make_bus(spec, sizeof(spec), 8, 64, 0);
	shmkit_bus *s = open_bus(spec);
	ASSERT_OK(shmkit_bus_subscribe(s, 0));
	uint64_t total_lost = 0, seen = 0;
	uint32_t next = 0, expect = 0;
	for (int round = 0; round < 200; round++) {
		int burst = 1 + (round * 7) % 20; /* up to 2.5 laps at once */
		for (int k = 0; k < burst; k++) {
			pub_u32(p, next++);
		}
		for (;;) {
			uint32_t v;
			uint64_t lost;
			ssize_t n =
				shmkit_bus_recv(s, &v, sizeof(v), &lost, SHMKIT_BUS_F_NOWAIT, NULL);
			if (n == -EAGAIN) {
				break;
			}
			ASSERT_EQ(n, 4);
			ASSERT_EQ(v, expect + (uint32_t)lost); /* never a silent gap */
			total_lost += lost;
			expect = v + 1;
			seen++;
		}
	}
	ASSERT_EQ(seen + total_lost, next);
	ASSERT_GT(total_lost, 0);
	shmkit_bus_sub_info si;
	ASSERT_EQ(shmkit_bus_subscribers(p, &si, 1), 1);
	ASSERT_EQ(si.lost, total_lost);

	/* In place: a message overwritten while held is reported stale. */
	const void *ptr;
	pub_u32(p, next++);
	ASSERT_EQ(shmkit_bus_peek(s, &ptr, NULL, 0, NULL), 4);
	for (int k = 0; k < 9; k++) {
		pub_u32(p, next++);
	}
	ASSERT_ERR(shmkit_bus_release(s), -ESTALE);
	ASSERT_OK(shmkit_bus_close(s));
	ASSERT_OK(shmkit_bus_remove(p));
}

TEST(reliable_back_pressure)
{
	char spec[TH_SPEC_MAX];
	shmkit_bus *p = make_bus(spec, sizeof(spec), 4, 64, SHMKIT_BUS_RELIABLE);
	/* No subscriber: nothing to wait for. */
	for (uint32_t v = 0; v < 10; v++) {
		pub_u32(p, v);
	}
	shmkit_bus *s = open_bus(spec), *s2 = open_bus(spec);
	ASSERT_OK(shmkit_bus_subscribe(s, 0));
	ASSERT_OK(shmkit_bus_subscribe(s2, 0));
	for (uint32_t v = 10; v < 14; v++) {
		pub_u32(p, v);
	}
	uint32_t v = 99;
	ASSERT_ERR(shmkit_bus_send(p, &v, sizeof(v), SHMKIT_BUS_F_NOWAIT, NULL), -EAGAIN);
	struct timespec dl = th_in_ms(30);
	ASSERT_ERR(shmkit_bus_send(p, &v, sizeof(v), 0, &dl), -ETIMEDOUT);
	expect_u32(s, 10, 0);
	/* The slowest one still holds it. */
	ASSERT_ERR(shmkit_bus_send(p, &v, sizeof(v), SHMKIT_BUS_F_NOWAIT, NULL), -EAGAIN);
	expect_u32(s2, 10, 0);
	pub_u32(p, 14);
	/* A subscriber that leaves stops holding anything back. */
	ASSERT_OK(shmkit_bus_unsubscribe(s2));
	for (uint32_t k = 11; k < 14; k++) {
		expect_u32(s, k, 0);
		pub_u32(p, k + 4);
	}

	/* One that dies is removed: the publisher goes on. */
	int ready[2];
	ASSERT_EQ(pipe(ready), 0);
	pid_t pid = th_fork();
	if (pid == 0) {
		shmkit_bus *c = NULL;
		if (shmkit_bus_open(&c, spec) != 0 || shmkit_bus_subscribe(c, 0) != 0 ||
		    write(ready[1], "r", 1) != 1) {
			th_exit(2);
		}
		const void *ptr;
		/* Dies holding a loan of the next message. */
		if (shmkit_bus_peek(c, &ptr, NULL, 0, NULL) < 0) {
			th_exit(3);
		}
		kill(getpid(), SIGKILL);
		th_exit(4);
	}
	/* Drain ours so that only the child could hold the publisher back. */
	for (uint32_t k = 14; k < 18; k++) {
		expect_u32(s, k, 0);
	}
	char x;
	ASSERT_EQ(read(ready[0], &x, 1), 1);
	close(ready[0]);
	close(ready[1]);
	pub_u32(p, 18);
	ASSERT_SIGNALED(th_wait(pid), SIGKILL);
	expect_u32(s, 18, 0);
	for (uint32_t k = 19; k < 40; k++) {
		dl = th_in_ms(10000);
		ASSERT_OK(shmkit_bus_send(p, &k, sizeof(k), 0, &dl));
		expect_u32(s, k, 0);
	}
	shmkit_bus_info in;
	ASSERT_OK(shmkit_bus_stat(p, &in));
	ASSERT_EQ(in.subscribers, 1);
	ASSERT_OK(shmkit_bus_close(s));
	ASSERT_OK(shmkit_bus_close(s2));
	ASSERT_OK(shmkit_bus_remove(p));
}

TEST(zero_copy)
{
	char spec[TH_SPEC_MAX];
	shmkit_bus *p = make_bus(spec, sizeof(spec), 8, 1 << 20, 0);
	shmkit_bus *s = open_bus(spec);
	ASSERT_OK(shmkit_bus_subscribe(s, 0));
	void *w;
	ASSERT_OK(shmkit_bus_loan(p, 1 << 20, &w, 0, NULL));
	th_fill(w, 1 << 20, 42);
	ASSERT_OK(shmkit_bus_publish(p, 1 << 20));
	const void *r;
	ASSERT_EQ(shmkit_bus_peek(s, &r, NULL, 0, NULL), 1 << 20);
	ASSERT_ERR(shmkit_bus_peek(s, &r, NULL, 0, NULL), -EBUSY);
	ASSERT_EQ(th_check_fill(r, 1 << 20, 42), -1);
	ASSERT_OK(shmkit_bus_release(s));
	char small[8];
	ASSERT_OK(shmkit_bus_send(p, "0123456789", 10, 0, NULL));
	ASSERT_ERR(shmkit_bus_recv(s, small, sizeof(small), NULL, 0, NULL), -EMSGSIZE);
	char big[16];
	ASSERT_EQ(shmkit_bus_recv(s, big, sizeof(big), NULL, 0, NULL), 10);
	ASSERT_OK(shmkit_bus_close(s));
	ASSERT_OK(shmkit_bus_remove(p));
}

/* T03: a publisher that dies inside its claim leaves a hole that readers
 * skip; one stopped inside it is fenced and its publish fails -ESTALE. */
TEST_TIMEOUT(dead_and_stalled_claimers, 60)
{
	char spec[TH_SPEC_MAX];
	shmkit_bus *p = make_bus(spec, sizeof(spec), 8, 64, 0);
	shmkit_bus *s = open_bus(spec);
	ASSERT_OK(shmkit_bus_subscribe(s, 0));
	pub_u32(p, 1);
	pid_t pid = th_fork();
	if (pid == 0) {
		shmkit_bus *c = NULL;
		void *w;
		if (shmkit_bus_open(&c, spec) != 0 || shmkit_bus_loan(c, 4, &w, 0, NULL) != 0) {
			th_exit(2);
		}
		kill(getpid(), SIGKILL); /* dies holding the claim */
		th_exit(3);
	}
	ASSERT_SIGNALED(th_wait(pid), SIGKILL);
	pub_u32(p, 2);
	expect_u32(s, 1, 0);
	struct timespec dl = th_in_ms(10000);
	uint32_t v;
	/* The reader waits on the dead claim, finds it dead, skips it. */
	ASSERT_EQ(shmkit_bus_recv(s, &v, sizeof(v), NULL, 0, &dl), 4);
	ASSERT_EQ(v, 2);

	/* Stalled: a whole lap of publishes later, and 2 s on, it is fenced. */
	int pfd[2], gfd[2]; /* child to parent, parent to child */
	ASSERT_EQ(pipe(pfd), 0);
	ASSERT_EQ(pipe(gfd), 0);
	pid = th_fork();
	if (pid == 0) {
		shmkit_bus *c = NULL;
		void *w;
		char x;
		if (shmkit_bus_open(&c, spec) != 0 || shmkit_bus_loan(c, 4, &w, 0, NULL) != 0) {
			th_exit(2);
		}
		if (write(pfd[1], "l", 1) != 1 || read(gfd[0], &x, 1) != 1) {
			th_exit(3);
		}
		memcpy(w, "late", 4);
		int rc = shmkit_bus_publish(c, 4);
		shmkit_bus_close(c);
		th_exit(rc == -ESTALE ? 0 : 4);
	}
	char x;
	ASSERT_EQ(read(pfd[0], &x, 1), 1);
	for (uint32_t k = 100; k < 120; k++) {
		/* A lap later the publisher waits for the stalled claim (it is
		 * usually a preempted one), then fences it (2 s). */
		dl = th_in_ms(20000);
		ASSERT_OK(shmkit_bus_send(p, &k, sizeof(k), 0, &dl));
	}
	ASSERT_EQ(write(gfd[1], "g", 1), 1);
	ASSERT_EXIT(th_wait(pid), 0);
	/* The reader lost what was lapped, and never sees "late". */
	uint64_t lost, got = 0, lost_all = 0;
	while (shmkit_bus_recv(s, &v, sizeof(v), &lost, SHMKIT_BUS_F_NOWAIT, NULL) == 4) {
		ASSERT_TRUE(v >= 100 && v < 120);
		got++;
		lost_all += lost;
	}
	ASSERT_GT(got, 0);
	close(pfd[0]);
	close(pfd[1]);
	close(gfd[0]);
	close(gfd[1]);
	ASSERT_OK(shmkit_bus_close(s));
	ASSERT_OK(shmkit_bus_remove(p));
}

TEST(limits_of_members)
{
	char spec[TH_SPEC_MAX];
	shmkit_bus_opts o;
	shmkit_bus *b;
	shmkit_bus_opts_init(&o);
	o.max_subscribers = 2;
	o.max_publishers = 1;
	th_spec(spec, sizeof(spec), "posix");
	ASSERT_OK(shmkit_bus_create(&b, spec, &o));
	shmkit_bus *x = open_bus(spec), *y = open_bus(spec), *z = open_bus(spec);
	ASSERT_OK(shmkit_bus_subscribe(x, 0));
	ASSERT_OK(shmkit_bus_subscribe(y, 0));
	ASSERT_ERR(shmkit_bus_subscribe(z, 0), -EUSERS);
	ASSERT_OK(shmkit_bus_send(x, "a", 1, 0, NULL));
	ASSERT_ERR(shmkit_bus_send(y, "a", 1, 0, NULL), -EUSERS);
	ASSERT_OK(shmkit_bus_close(x));
	ASSERT_OK(shmkit_bus_subscribe(z, 0));
	ASSERT_OK(shmkit_bus_send(y, "b", 1, 0, NULL));
	ASSERT_OK(shmkit_bus_close(y));
	ASSERT_OK(shmkit_bus_close(z));
	ASSERT_OK(shmkit_bus_remove(b));
}

/* Sleeping subscribers in other processes are all woken (the woken wake
 * the rest), and each reads every message. */
TEST_TIMEOUT(sleepers_woken, 60)
{
	char spec[TH_SPEC_MAX];
	shmkit_bus *p = make_bus(spec, sizeof(spec), 64, 64, SHMKIT_BUS_RELIABLE);
	enum { N = 6, MSGS = 200 };
	pid_t kids[N];
	int ready[2];
	ASSERT_EQ(pipe(ready), 0);
	for (int i = 0; i < N; i++) {
		kids[i] = th_fork();
		if (kids[i] == 0) {
			shmkit_bus *c = NULL;
			if (shmkit_bus_open(&c, spec) != 0 || shmkit_bus_subscribe(c, 0) != 0) {
				th_exit(2);
			}
			shmkit_bus_set_wait(c, i % 2 ? SHMKIT_BUS_WAIT_SLEEP
						     : SHMKIT_BUS_WAIT_DEFAULT);
			if (write(ready[1], "r", 1) != 1) {
				th_exit(3);
			}
			for (uint32_t k = 0; k < MSGS; k++) {
				uint32_t v;
				struct timespec dl = th_in_ms(20000);
				if (shmkit_bus_recv(c, &v, sizeof(v), NULL, 0, &dl) != 4 ||
				    v != k) {
					th_exit(4);
				}
			}
			shmkit_bus_close(c);
			th_exit(0);
		}
	}
	for (int i = 0; i < N; i++) {
		char x;
		ASSERT_EQ(read(ready[0], &x, 1), 1);
	}
	for (uint32_t k = 0; k < MSGS; k++) {
		if (k % 20 == 0) {
			th_sleep_ms(5); /* let them fall asleep */
		}
		struct timespec dl = th_in_ms(20000);
		ASSERT_OK(shmkit_bus_send(p, &k, sizeof(k), 0, &dl));
	}
	for (int i = 0; i < N; i++) {
		ASSERT_EXIT(th_wait(kids[i]), 0);
	}
	close(ready[0]);
	close(ready[1]);
	ASSERT_OK(shmkit_bus_remove(p));
}

/* A stray writer: bad words give -EBADMSG or are skipped, never a fault. */
TEST(corruption)
{
	char spec[TH_SPEC_MAX];
	shmkit_bus *p = make_bus(spec, sizeof(spec), 8, 64, 0);
	shmkit_bus *s = open_bus(spec);
	ASSERT_OK(shmkit_bus_subscribe(s, 0));
	shmkit_segment *seg;
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.kind = SHMKIT_KIND_ANY;
	ASSERT_OK(shmkit_segment_open(&seg, spec, &so));
	unsigned char *d = shmkit_segment_data(seg);
	/* The meta line: layout, slots, then sizes (docs/BUS.md). */
	uint32_t layout;
	memcpy(&layout, d + 4, 4);
	uint32_t other = layout + 1;
	memcpy(d + 4, &other, 4);
	shmkit_bus *x;
	ASSERT_ERR(shmkit_bus_open(&x, spec), -EPROTO);
	memcpy(d + 4, &layout, 4);
	uint32_t slots = 7;
	memcpy(d + 8, &slots, 4);
	ASSERT_ERR(shmkit_bus_open(&x, spec), -EBADMSG);
	slots = 8;
	memcpy(d + 8, &slots, 4);
	/* A slot whose length lies: -EBADMSG, not a wild read. */
	pub_u32(p, 1);
	shmkit_bus_info in;
	ASSERT_OK(shmkit_bus_stat(p, &in));
	/* Sections: 3 lines, two bitmap lines, 4 publishers, 8 subscribers,
	 * slots (docs/BUS.md). */
	size_t ring = 3 * 64 + 2 * 64 + 4 * 64 + 8 * 64;
	uint64_t huge = 1u << 20;
	memcpy(d + ring + 8, &huge, 8);
	char buf[64];
	ASSERT_ERR(shmkit_bus_recv(s, buf, sizeof(buf), NULL, 0, NULL), -EBADMSG);
	uint64_t four = 4;
	memcpy(d + ring + 8, &four, 8);
	ASSERT_EQ(shmkit_bus_recv(s, buf, sizeof(buf), NULL, 0, NULL), 4);
	/* A word of a sequence never claimed, and one of no lap at all. */
	uint64_t junk = 0x123456789abcdef0ull;
	memcpy(d + ring + 128, &junk, 8); /* slot 1: 16 + 64 bytes, to a line */
	ASSERT_ERR(shmkit_bus_recv(s, buf, sizeof(buf), NULL, SHMKIT_BUS_F_NOWAIT, NULL), -EBADMSG);
	junk = 0;
	memcpy(d + ring + 128, &junk, 8);
	ASSERT_ERR(shmkit_bus_recv(s, buf, sizeof(buf), NULL, SHMKIT_BUS_F_NOWAIT, NULL), -EBADMSG);
	ASSERT_EQ(in.published, 1);
	ASSERT_OK(shmkit_segment_close(seg));
	ASSERT_OK(shmkit_bus_close(s));
	ASSERT_OK(shmkit_bus_remove(p));
}

/* Holes (loans given up by closing) move a reader's cursor without a
 * release: a reliable publisher must still see it move. */
TEST_TIMEOUT(reliable_holes, 30)
{
	char spec[TH_SPEC_MAX];
	shmkit_bus *p = make_bus(spec, sizeof(spec), 2, 64, SHMKIT_BUS_RELIABLE);
	shmkit_bus *s = open_bus(spec);
	ASSERT_OK(shmkit_bus_subscribe(s, 0));
	for (int k = 0; k < 5; k++) {
		shmkit_bus *q = open_bus(spec);
		void *w;
		ASSERT_OK(shmkit_bus_loan(q, 4, &w, 0, NULL));
		ASSERT_OK(shmkit_bus_close(q)); /* never published: a hole */
		char buf[8];
		/* The reader passes the hole (and says so to publishers). */
		ASSERT_ERR(shmkit_bus_recv(s, buf, sizeof(buf), NULL, SHMKIT_BUS_F_NOWAIT, NULL),
			   -EAGAIN);
	}
	for (uint32_t v = 0; v < 6; v++) {
		struct timespec dl = th_in_ms(10000);
		ASSERT_OK(shmkit_bus_send(p, &v, sizeof(v), 0, &dl));
		expect_u32(s, v, 0);
	}
	ASSERT_OK(shmkit_bus_close(s));
	ASSERT_OK(shmkit_bus_remove(p));
}

/* Losses counted by a call that ended without a message are told with the
 * next message, and not carried into a new subscription. */
TEST(losses_are_kept_then_reset)
{
	char spec[TH_SPEC_MAX];
	shmkit_bus *p = make_bus(spec, sizeof(spec), 4, 64, 0);
	shmkit_bus *s = open_bus(spec);
	ASSERT_OK(shmkit_bus_subscribe(s, 0));
	for (uint32_t v = 0; v < 7; v++) {
		pub_u32(p, v); /* laps the reader */
	}
	/* The oldest still in the log, and exactly what was lost before it. */
	expect_u32(s, 3, 3);
	for (uint32_t v = 7; v < 14; v++) {
		pub_u32(p, v);
	}
	ASSERT_OK(shmkit_bus_unsubscribe(s));
	ASSERT_OK(shmkit_bus_subscribe(s, 0));
	pub_u32(p, 14);
	expect_u32(s, 14, 0);
	ASSERT_OK(shmkit_bus_close(s));
	ASSERT_OK(shmkit_bus_remove(p));
}
