/* SPDX-License-Identifier: MIT */
/* shmkit_queue: msgsnd/msgrcv semantics, limits, bad input, corruption, zero-copy, wraparound. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "queue/queue_impl.h"

/* ---- helpers ---- */

static shmkit_queue *
make_queue(char *spec, size_t len, uint64_t max_bytes, uint32_t max_msg_size, uint32_t max_msgs)
{
	shmkit_queue_opts o;
	shmkit_queue *q = NULL;
	shmkit_queue_opts_init(&o);
	o.max_bytes = max_bytes;
	o.max_msg_size = max_msg_size;
	o.max_msgs = max_msgs;
	th_spec(spec, len, "posix");
	ASSERT_OK(shmkit_queue_create(&q, spec, &o));
	return q;
}

static void
send_str(shmkit_queue *q, long type, const char *s)
{
	ASSERT_OK(shmkit_queue_send(q, type, s, strlen(s), SHMKIT_QUEUE_F_NOWAIT, NULL));
}

/* Receive with NOWAIT and check the text and type. */
static void
expect(shmkit_queue *q, long msgtyp, unsigned flags, const char *want, long want_type)
{
	char buf[256];
	long type = -1;
	ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf) - 1, msgtyp, &type,
				      flags | SHMKIT_QUEUE_F_NOWAIT, NULL);
	ASSERT_EQ(n, (ssize_t)strlen(want));
	buf[n] = 0;
	ASSERT_STREQ(buf, want);
	ASSERT_EQ(type, want_type);
}

static ssize_t
recv_nowait(shmkit_queue *q, long msgtyp, unsigned flags)
{
	char buf[256];
	return shmkit_queue_recv(q, buf, sizeof(buf), msgtyp, NULL, flags | SHMKIT_QUEUE_F_NOWAIT,
				 NULL);
}

static void
await_waiters(shmkit_queue *q, uint32_t senders, uint32_t receivers)
{
	shmkit_queue_info in;
	int64_t end = th_now_ms() + 10000;
	do {
		ASSERT_OK(shmkit_queue_stat(q, &in));
		if (in.waiting_senders == senders && in.waiting_receivers == receivers) {
			return;
		}
		th_sleep_ms(2);
	} while (th_now_ms() < end);
	ASSERT_EQ(in.waiting_senders, senders);
	ASSERT_EQ(in.waiting_receivers, receivers);
}

/* A helper process's handle, closed at exit whatever path the helper took. */
static shmkit_queue *child_q;

static void
close_child_q(void)
{
	shmkit_queue_close(child_q);
	child_q = NULL;
}

static int
child_open(shmkit_queue **q, const char *spec)
{
	int rc = shmkit_queue_open(q, spec);
	if (rc == 0) {
		child_q = *q;
		atexit(close_child_q);
	}
	return rc;
}

/* ---- basics ---- */

TEST(fifo_and_types)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 16384, 8192, 0);
	send_str(q, 1, "a");
	send_str(q, 2, "bb");
	send_str(q, 1, "ccc");
	ASSERT_OK(shmkit_queue_send(q, 5, NULL, 0, 0, NULL)); /* an empty message */
	shmkit_queue_info in;
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, 4);
	ASSERT_EQ(in.bytes, 6);
	ASSERT_EQ(in.last_send_pid, getpid());
	ASSERT_EQ(in.max_msgs, 1024);
	ASSERT_EQ(in.max_bytes, 16384);
	ASSERT_EQ(in.mode, 0600);
	expect(q, 0, 0, "a", 1);
	expect(q, 0, 0, "bb", 2);
	expect(q, 0, 0, "ccc", 1);
	expect(q, 0, 0, "", 5);
	ASSERT_ERR(recv_nowait(q, 0, 0), -ENOMSG);
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, 0);
	ASSERT_EQ(in.bytes, 0);
	ASSERT_EQ(in.last_recv_pid, getpid());
	ASSERT_OK(shmkit_queue_remove(q));
}

TEST(selection)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 16384, 512, 0);
	send_str(q, 3, "3a");
	send_str(q, 1, "1a");
	send_str(q, 2, "2a");
	send_str(q, 1, "1b");
	send_str(q, 3, "3b");
	/* > 0: first of that type. */
	expect(q, 3, 0, "3a", 3);
	/* EXCEPT: first of another type. */
	expect(q, 1, SHMKIT_QUEUE_F_EXCEPT, "2a", 2);
	/* < 0: lowest type <= |msgtyp|, FIFO among equals. */
	expect(q, -3, 0, "1a", 1);
	expect(q, -3, 0, "1b", 1);
	ASSERT_ERR(recv_nowait(q, -2, 0), -ENOMSG);
	ASSERT_ERR(recv_nowait(q, 7, 0), -ENOMSG);
	ASSERT_ERR(recv_nowait(q, 3, SHMKIT_QUEUE_F_EXCEPT), -ENOMSG);
	expect(q, LONG_MIN, 0, "3b", 3);
	ASSERT_OK(shmkit_queue_remove(q));
}

TEST(copy_positions)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 16384, 512, 0);
	send_str(q, 4, "p0");
	send_str(q, 2, "p1");
	send_str(q, 9, "p2");
	expect(q, 2, SHMKIT_QUEUE_F_COPY, "p2", 9);
	expect(q, 0, SHMKIT_QUEUE_F_COPY, "p0", 4);
	expect(q, 1, SHMKIT_QUEUE_F_COPY, "p1", 2);
	ASSERT_ERR(recv_nowait(q, 3, SHMKIT_QUEUE_F_COPY), -ENOMSG);
	ASSERT_ERR(recv_nowait(q, -1, SHMKIT_QUEUE_F_COPY), -ENOMSG);
	char buf[8];
	/* As the kernel: COPY needs NOWAIT and excludes EXCEPT. */
	ASSERT_ERR(shmkit_queue_recv(q, buf, sizeof(buf), 0, NULL, SHMKIT_QUEUE_F_COPY, NULL),
		   -EINVAL);
	ASSERT_ERR(recv_nowait(q, 0, SHMKIT_QUEUE_F_COPY | SHMKIT_QUEUE_F_EXCEPT), -EINVAL);
	/* Too small without NOERROR: -E2BIG; with it a truncated copy. */
	ASSERT_ERR(shmkit_queue_recv(q, buf, 1, 0, NULL,
				     SHMKIT_QUEUE_F_COPY | SHMKIT_QUEUE_F_NOWAIT, NULL),
		   -E2BIG);
	ASSERT_EQ(shmkit_queue_recv(q, buf, 1, 0, NULL,
				    SHMKIT_QUEUE_F_COPY | SHMKIT_QUEUE_F_NOWAIT |
					    SHMKIT_QUEUE_F_NOERROR,
				    NULL),
		  1);
	/* Nothing was removed. */
	shmkit_queue_info in;
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, 3);
	expect(q, 0, 0, "p0", 4);
	ASSERT_OK(shmkit_queue_remove(q));
}

TEST(e2big_and_noerror)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 16384, 512, 0);
	send_str(q, 1, "hello world");
	char buf[5];
	long type = 0;
	ASSERT_ERR(shmkit_queue_recv(q, buf, sizeof(buf), 0, &type, SHMKIT_QUEUE_F_NOWAIT, NULL),
		   -E2BIG);
	/* The message stayed. */
	shmkit_queue_info in;
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, 1);
	ASSERT_EQ(shmkit_queue_recv(q, buf, sizeof(buf), 0, &type,
				    SHMKIT_QUEUE_F_NOWAIT | SHMKIT_QUEUE_F_NOERROR, NULL),
		  5);
	ASSERT_TRUE(memcmp(buf, "hello", 5) == 0);
	ASSERT_EQ(type, 1);
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, 0);
	ASSERT_EQ(in.bytes, 0);
	ASSERT_OK(shmkit_queue_remove(q));
}

TEST(bad_input)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 100, 8);
	char buf[200] = {0};
	ASSERT_ERR(shmkit_queue_send(q, 0, buf, 1, 0, NULL), -EINVAL);
	ASSERT_ERR(shmkit_queue_send(q, -5, buf, 1, 0, NULL), -EINVAL);
	ASSERT_ERR(shmkit_queue_send(q, 1, buf, 101, 0, NULL), -EINVAL);
	ASSERT_ERR(shmkit_queue_send(q, 1, NULL, 1, 0, NULL), -EFAULT);
	ASSERT_ERR(shmkit_queue_send(q, 1, buf, 1, 1u << 20, NULL), -EINVAL);
	ASSERT_ERR(shmkit_queue_send(NULL, 1, buf, 1, 0, NULL), -EINVAL);
	struct timespec bad = {.tv_sec = 0, .tv_nsec = 1000000000};
	ASSERT_ERR(shmkit_queue_send(q, 1, buf, 1, 0, &bad), -EINVAL);
	ASSERT_ERR(shmkit_queue_recv(q, buf, 1, 0, NULL, 0, &bad), -EINVAL);
	ASSERT_ERR(shmkit_queue_recv(q, NULL, 1, 0, NULL, SHMKIT_QUEUE_F_NOWAIT, NULL), -EFAULT);
	ASSERT_ERR(shmkit_queue_recv(q, buf, 1, 0, NULL, 1u << 20, NULL), -EINVAL);
	ASSERT_ERR(shmkit_queue_recv(NULL, buf, 1, 0, NULL, 0, NULL), -EINVAL);
	shmkit_queue_loan loan;
	ASSERT_ERR(shmkit_queue_reserve(q, 101, &loan, 0, NULL), -EINVAL);
	ASSERT_ERR(shmkit_queue_reserve(q, 1, NULL, 0, NULL), -EINVAL);
	memset(&loan, 0, sizeof(loan));
	ASSERT_ERR(shmkit_queue_commit(q, &loan, 1), -EINVAL);
	ASSERT_ERR(shmkit_queue_abort(q, &loan), -EINVAL);
	ASSERT_ERR(shmkit_queue_release(q, &loan), -EINVAL);
	ASSERT_ERR(shmkit_queue_mq_send(q, buf, 1, SHMKIT_MQ_PRIO_MAX, 0, NULL), -EINVAL);
	ASSERT_ERR(shmkit_queue_stat(q, NULL), -EINVAL);
	ASSERT_ERR(shmkit_queue_set(q, 0, 01000, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP), -EINVAL);
	ASSERT_OK(shmkit_queue_close(NULL));

	/* Creation limits. */
	shmkit_queue_opts o;
	shmkit_queue *q2;
	char spec2[128];
	th_spec(spec2, sizeof(spec2), "posix");
	shmkit_queue_opts_init(&o);
	o.max_bytes = 0;
	ASSERT_ERR(shmkit_queue_create(&q2, spec2, &o), -EINVAL);
	shmkit_queue_opts_init(&o);
	o.max_msg_size = 0;
	ASSERT_ERR(shmkit_queue_create(&q2, spec2, &o), -EINVAL);
	shmkit_queue_opts_init(&o);
	o.max_msg_size = 20000; /* over max_bytes */
	ASSERT_ERR(shmkit_queue_create(&q2, spec2, &o), -EINVAL);
	shmkit_queue_opts_init(&o);
	o.mode = 01777;
	ASSERT_ERR(shmkit_queue_create(&q2, spec2, &o), -EINVAL);
	shmkit_queue_opts_init(&o);
	o.flags = 1;
	ASSERT_ERR(shmkit_queue_create(&q2, spec2, &o), -EINVAL);
	shmkit_queue_opts_init(&o);
	o.max_msgs = 0xffffffffu;
	ASSERT_ERR(shmkit_queue_create(&q2, spec2, &o), -EINVAL);
	ASSERT_ERR(shmkit_queue_create(&q2, spec, NULL), -EEXIST);
	ASSERT_ERR(shmkit_queue_open(&q2, spec2), -ENOENT);
	ASSERT_ERR(shmkit_queue_open(NULL, spec), -EINVAL);
	ASSERT_OK(shmkit_queue_remove(q));
}

TEST(open_wrong_kind_and_open_or_create)
{
	char spec[128];
	shmkit_segment *seg;
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.size = 4096;
	th_spec(spec, sizeof(spec), "posix");
	ASSERT_OK(shmkit_segment_create(&seg, spec, &so));
	shmkit_queue *q;
	ASSERT_ERR(shmkit_queue_open(&q, spec), -EPROTOTYPE);
	ASSERT_OK(shmkit_segment_destroy(seg));

	char spec2[128];
	th_spec(spec2, sizeof(spec2), "posix");
	shmkit_queue *a, *b;
	ASSERT_EQ(shmkit_queue_open_or_create(&a, spec2, NULL), 1);
	ASSERT_EQ(shmkit_queue_open_or_create(&b, spec2, NULL), 0);
	send_str(a, 7, "via a");
	expect(b, 7, 0, "via a", 7);
	ASSERT_OK(shmkit_queue_close(b));
	ASSERT_OK(shmkit_queue_remove(a));
	ASSERT_ERR(shmkit_queue_open(&b, spec2), -ENOENT);
}

TEST(sysv_backend)
{
	char spec[128];
	shmkit_queue_opts o;
	shmkit_queue *q, *r;
	shmkit_queue_opts_init(&o);
	th_spec(spec, sizeof(spec), "sysv");
	ASSERT_OK(shmkit_queue_create(&q, spec, &o));
	ASSERT_OK(shmkit_queue_open(&r, spec));
	send_str(q, 1, "sysv");
	expect(r, 0, 0, "sysv", 1);
	ASSERT_OK(shmkit_queue_close(r));
	ASSERT_OK(shmkit_queue_remove(q));
}

/* ---- limits and waiting ---- */

TEST(limits_bytes_and_count)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 100, 60, 3);
	char buf[60] = {0};
	ASSERT_OK(shmkit_queue_send(q, 1, buf, 60, SHMKIT_QUEUE_F_NOWAIT, NULL));
	/* 60 + 41 > 100 bytes. */
	ASSERT_ERR(shmkit_queue_send(q, 1, buf, 41, SHMKIT_QUEUE_F_NOWAIT, NULL), -EAGAIN);
	ASSERT_OK(shmkit_queue_send(q, 1, buf, 40, SHMKIT_QUEUE_F_NOWAIT, NULL));
	ASSERT_OK(shmkit_queue_send(q, 1, buf, 0, SHMKIT_QUEUE_F_NOWAIT, NULL));
	/* Three messages: the count limit. */
	ASSERT_ERR(shmkit_queue_send(q, 1, buf, 0, SHMKIT_QUEUE_F_NOWAIT, NULL), -EAGAIN);
	struct timespec dl;
	shmkit_deadline(&dl, 20000000);
	ASSERT_ERR(shmkit_queue_send(q, 1, buf, 0, 0, &dl), -ETIMEDOUT);
	ASSERT_EQ(recv_nowait(q, 0, 0), 60);
	ASSERT_OK(shmkit_queue_send(q, 1, buf, 60, SHMKIT_QUEUE_F_NOWAIT, NULL));
	/* Raising the byte limit lets more in (the count limit stays). */
	ASSERT_OK(shmkit_queue_set(q, 1000, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP));
	shmkit_queue_info in;
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.max_bytes, 1000);
	ASSERT_EQ(in.count, 3);
	ASSERT_EQ(in.bytes, 100);
	ASSERT_OK(shmkit_queue_remove(q));
}

TEST(empty_recv_times_out)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 100, 8);
	char buf[16];
	struct timespec dl;
	shmkit_deadline(&dl, 30000000);
	ASSERT_ERR(shmkit_queue_recv(q, buf, sizeof(buf), 0, NULL, 0, &dl), -ETIMEDOUT);
	ASSERT_ERR(shmkit_queue_recv(q, buf, sizeof(buf), 0, NULL, SHMKIT_QUEUE_F_NOWAIT, NULL),
		   -ENOMSG);
	ASSERT_OK(shmkit_queue_remove(q));
}

CHILD(recv_one)
{
	shmkit_queue *q;
	char buf[64];
	long type = 0;
	if (child_open(&q, argv[1]) != 0) {
		return 10;
	}
	ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), atol(argv[2]), &type, 0, NULL);
	if (n == -EIDRM) {
		return 3;
	}
	if (n != 5 || memcmp(buf, "wake!", 5) != 0 || type != 4) {
		return 11;
	}
	return 0;
}

CHILD(send_one)
{
	shmkit_queue *q;
	if (child_open(&q, argv[1]) != 0) {
		return 10;
	}
	int rc = shmkit_queue_send(q, 2, "x", 1, 0, NULL);
	return rc == -EIDRM ? 3 : rc == 0 ? 0 : 11;
}

TEST(blocked_receiver_and_sender_wake)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 100, 1);
	pid_t r = th_spawn("recv_one", spec, "4", NULL);
	await_waiters(q, 0, 1);
	send_str(q, 9, "other"); /* not selected: the receiver keeps waiting */
	th_sleep_ms(20);
	/* Count limit 1: the next send blocks until the other message goes. */
	pid_t s = th_spawn("send_one", spec, NULL);
	await_waiters(q, 1, 1);
	expect(q, 9, 0, "other", 9);
	ASSERT_EXIT(th_wait(s), 0);
	expect(q, 2, 0, "x", 2);
	send_str(q, 4, "wake!");
	ASSERT_EXIT(th_wait(r), 0);
	await_waiters(q, 0, 0);
	ASSERT_OK(shmkit_queue_remove(q));
}

/* argv: SPEC FLAGS -- send type 5 "late" after 30 ms */
CHILD(send_late)
{
	shmkit_queue *q;
	if (child_open(&q, argv[1]) != 0) {
		return 10;
	}
	th_sleep_ms(30);
	return shmkit_queue_send(q, 5, "late", 4, 0, NULL) == 0 ? 0 : 11;
}

/* Every waiting strategy gets the message a peer sends later; the two
 * strategies together are refused. */
TEST(wait_strategies)
{
	static const unsigned how[] = {0, SHMKIT_QUEUE_F_SPIN, SHMKIT_QUEUE_F_SLEEP};
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 100, 4);
	for (size_t k = 0; k < sizeof(how) / sizeof(how[0]); k++) {
		char buf[16];
		long type = 0;
		pid_t p = th_spawn("send_late", spec, NULL);
		ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), 5, &type, how[k], NULL);
		ASSERT_EQ(n, 4);
		ASSERT_EQ(type, 5);
		ASSERT_EQ(memcmp(buf, "late", 4), 0);
		ASSERT_EXIT(th_wait(p), 0);
	}
	/* A deadline bounds a spinning wait too. */
	struct timespec dl;
	shmkit_deadline(&dl, 20000000);
	char buf[16];
	ASSERT_ERR(shmkit_queue_recv(q, buf, sizeof(buf), 0, NULL, SHMKIT_QUEUE_F_SPIN, &dl),
		   -ETIMEDOUT);
	ASSERT_ERR(shmkit_queue_recv(q, buf, sizeof(buf), 0, NULL,
				     SHMKIT_QUEUE_F_SPIN | SHMKIT_QUEUE_F_SLEEP, NULL),
		   -EINVAL);
	ASSERT_OK(shmkit_queue_remove(q));
}

TEST(removal_wakes_waiters_with_eidrm)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 100, 1);
	send_str(q, 1, "full");
	pid_t r = th_spawn("recv_one", spec, "4", NULL);
	pid_t s = th_spawn("send_one", spec, NULL);
	await_waiters(q, 1, 1);
	ASSERT_OK(shmkit_queue_remove(q));
	ASSERT_EXIT(th_wait(r), 3);
	ASSERT_EXIT(th_wait(s), 3);
}

TEST(removed_handle_gives_eidrm)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 100, 4);
	shmkit_queue *r;
	ASSERT_OK(shmkit_queue_open(&r, spec));
	ASSERT_OK(shmkit_queue_remove(q));
	char buf[8];
	ASSERT_ERR(shmkit_queue_send(r, 1, "x", 1, 0, NULL), -EIDRM);
	ASSERT_ERR(shmkit_queue_recv(r, buf, 8, 0, NULL, 0, NULL), -EIDRM);
	shmkit_queue_info in;
	ASSERT_ERR(shmkit_queue_stat(r, &in), -EIDRM);
	ASSERT_OK(shmkit_queue_close(r));
}

static void
on_usr1(int sig)
{
	(void)sig;
}

CHILD(recv_intr)
{
	shmkit_queue *q;
	char buf[8];
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART */
	sigaction(SIGUSR1, &sa, NULL);
	if (child_open(&q, argv[1]) != 0) {
		return 10;
	}
	unsigned flags = atoi(argv[2]) ? SHMKIT_QUEUE_F_INTERRUPTIBLE : 0;
	ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), 0, NULL, flags, NULL);
	return n == -EINTR ? 4 : n == 1 ? 0 : 11;
}

TEST(eintr_only_when_interruptible)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 100, 4);
	pid_t a = th_spawn("recv_intr", spec, "1", NULL);
	pid_t b = th_spawn("recv_intr", spec, "0", NULL);
	await_waiters(q, 0, 2);
	th_sleep_ms(20);
	kill(a, SIGUSR1);
	kill(b, SIGUSR1);
	ASSERT_EXIT(th_wait(a), 4);
	th_sleep_ms(50);
	send_str(q, 1, "z");
	ASSERT_EXIT(th_wait(b), 0);
	ASSERT_OK(shmkit_queue_remove(q));
}

/* ---- zero-copy ---- */

TEST(reserve_commit_abort)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 100, 2);
	shmkit_queue_loan a, b, c;
	ASSERT_OK(shmkit_queue_reserve(q, 5, &a, SHMKIT_QUEUE_F_NOWAIT, NULL));
	ASSERT_OK(shmkit_queue_reserve(q, 3, &b, SHMKIT_QUEUE_F_NOWAIT, NULL));
	ASSERT_EQ(a.len, 5);
	/* Claims count against the limits. */
	ASSERT_ERR(shmkit_queue_reserve(q, 1, &c, SHMKIT_QUEUE_F_NOWAIT, NULL), -EAGAIN);
	memcpy(a.data, "first", 5);
	memcpy(b.data, "sec", 3);
	/* Commit order decides queue order, not claim order. */
	ASSERT_ERR(shmkit_queue_commit(q, &b, 0), -EINVAL);
	ASSERT_OK(shmkit_queue_commit(q, &b, 2));
	ASSERT_ERR(shmkit_queue_commit(q, &b, 2), -EINVAL); /* used up */
	ASSERT_OK(shmkit_queue_abort(q, &a));
	ASSERT_ERR(shmkit_queue_abort(q, &a), -EINVAL);
	shmkit_queue_info in;
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, 1);
	ASSERT_EQ(in.bytes, 3);
	expect(q, 0, 0, "sec", 2);
	ASSERT_OK(shmkit_queue_remove(q));
}

TEST(recv_loan_release)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 100, 2);
	send_str(q, 3, "loaned");
	send_str(q, 1, "plain");
	shmkit_queue_loan l;
	ASSERT_EQ(shmkit_queue_recv_loan(q, 3, &l, SHMKIT_QUEUE_F_NOWAIT, NULL), 6);
	ASSERT_EQ(l.type, 3);
	ASSERT_TRUE(memcmp(l.data, "loaned", 6) == 0);
	/* The message left the queue but its room is held until release. */
	shmkit_queue_info in;
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, 1);
	ASSERT_ERR(shmkit_queue_send(q, 1, "x", 1, SHMKIT_QUEUE_F_NOWAIT, NULL), -EAGAIN);
	shmkit_queue_loan forged = l;
	forged.priv_[2] ^= 1;
	ASSERT_ERR(shmkit_queue_release(q, &forged), -EINVAL);
	ASSERT_OK(shmkit_queue_release(q, &l));
	ASSERT_ERR(shmkit_queue_release(q, &l), -EINVAL);
	ASSERT_OK(shmkit_queue_send(q, 1, "x", 1, SHMKIT_QUEUE_F_NOWAIT, NULL));
	ASSERT_ERR(
		shmkit_queue_recv_loan(q, 0, &l, SHMKIT_QUEUE_F_COPY | SHMKIT_QUEUE_F_NOWAIT, NULL),
		-EINVAL);
	ASSERT_OK(shmkit_queue_remove(q));
}

CHILD(die_holding)
{
	shmkit_queue *q;
	shmkit_queue_loan l;
	if (child_open(&q, argv[1]) != 0) {
		return 10;
	}
	if (strcmp(argv[2], "claim") == 0) {
		if (shmkit_queue_reserve(q, 7, &l, SHMKIT_QUEUE_F_NOWAIT, NULL) != 0) {
			return 11;
		}
	} else if (shmkit_queue_recv_loan(q, 0, &l, SHMKIT_QUEUE_F_NOWAIT, NULL) < 0) {
		return 12;
	}
	return 0; /* exits holding it */
}

TEST(dead_claim_and_loan_reclaimed)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 100, 2);
	ASSERT_EXIT(th_wait(th_spawn("die_holding", spec, "claim", NULL)), 0);
	shmkit_queue_info in;
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.dead_claims, 1);
	send_str(q, 1, "m");
	ASSERT_EXIT(th_wait(th_spawn("die_holding", spec, "loan", NULL)), 0);
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, 0);
	/* Both slots are held by the dead: a send sweeps them and fits. */
	send_str(q, 1, "a");
	send_str(q, 1, "b");
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.dead_claims, 0);
	ASSERT_EQ(in.count, 2);
	ASSERT_OK(shmkit_queue_remove(q));
}

/* ---- mq_* and wraparound ---- */

TEST(mq_priority_order)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 16384, 64, 0);
	const unsigned prios[] = {0, 5, 5, 31, 0, SHMKIT_MQ_PRIO_MAX - 1, 7};
	for (unsigned i = 0; i < 7; i++) {
		char m[16];
		snprintf(m, sizeof(m), "m%u", i);
		ASSERT_OK(shmkit_queue_mq_send(q, m, strlen(m), prios[i], 0, NULL));
	}
	const char *order[] = {"m5", "m3", "m6", "m1", "m2", "m0", "m4"};
	const unsigned oprio[] = {SHMKIT_MQ_PRIO_MAX - 1, 31, 7, 5, 5, 0, 0};
	for (unsigned i = 0; i < 7; i++) {
		char buf[16];
		unsigned p = 99;
		ssize_t n = shmkit_queue_mq_receive(q, buf, sizeof(buf) - 1, &p,
						    SHMKIT_QUEUE_F_NOWAIT, NULL);
		ASSERT_EQ(n, (ssize_t)strlen(order[i]));
		buf[n] = 0;
		ASSERT_STREQ(buf, order[i]);
		ASSERT_EQ(p, oprio[i]);
	}
	ASSERT_OK(shmkit_queue_remove(q));
}

TEST(sequence_wraparound)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 16384, 64, 64);
	ASSERT_OK(shmkit__queue_set_next_seq(q, UINT64_MAX - 20));
	unsigned sent = 0, got = 0;
	/* Keep about 30 messages queued while the counter wraps, with mixed
	 * types so selective receive also compares across the wrap. */
	for (unsigned round = 0; round < 200; round++) {
		char m[32];
		snprintf(m, sizeof(m), "%u", sent);
		ASSERT_OK(shmkit_queue_send(q, 1 + sent % 3, m, strlen(m), SHMKIT_QUEUE_F_NOWAIT,
					    NULL));
		sent++;
		if (round >= 30) {
			char buf[32];
			ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf) - 1, 0, NULL,
						      SHMKIT_QUEUE_F_NOWAIT, NULL);
			ASSERT_GE(n, 1);
			buf[n] = 0;
			ASSERT_EQ(strtoul(buf, NULL, 10), got);
			got++;
		}
	}
	/* Type 2 messages in FIFO order across the wrap, then the rest. */
	long prev = -1;
	for (;;) {
		char buf[32];
		ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf) - 1, 2, NULL,
					      SHMKIT_QUEUE_F_NOWAIT, NULL);
		if (n == -ENOMSG) {
			break;
		}
		ASSERT_GE(n, 1);
		buf[n] = 0;
		long v = strtol(buf, NULL, 10);
		ASSERT_GT(v, prev);
		prev = v;
		got++;
	}
	while (recv_nowait(q, 0, 0) >= 0) {
		got++;
	}
	ASSERT_EQ(got, sent);
	ASSERT_OK(shmkit_queue_remove(q));
}

/* ---- corruption ---- */

static unsigned char *
raw_data(const char *spec, shmkit_segment **seg)
{
	shmkit_segment_opts o;
	shmkit_segment_opts_init(&o);
	o.kind = SHMKIT_KIND_ANY;
	ASSERT_OK(shmkit_segment_open(seg, spec, &o));
	return shmkit_segment_data(*seg);
}

/*
 * Payloads over 64 bytes take big slots, of which there are as many as the
 * byte limit of creation can hold (650 / 65 + 4 spares = 14); small ones
 * stay in their descriptor. Raising the byte limit later lets more small
 * messages in, but not more big ones: a send then finds the queue full.
 */
TEST(big_slots_follow_the_byte_limit_of_creation)
{
	char spec[128], big[200], small[8];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 650, 200, 40);
	memset(big, 'b', sizeof(big));
	memset(small, 's', sizeof(small));
	/* Within the limit: 3 big messages (600 bytes), then small ones. */
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(shmkit_queue_send(q, 1, big, sizeof(big), SHMKIT_QUEUE_F_NOWAIT, NULL));
	}
	ASSERT_ERR(shmkit_queue_send(q, 1, big, sizeof(big), SHMKIT_QUEUE_F_NOWAIT, NULL), -EAGAIN);
	for (int i = 0; i < 6; i++) {
		ASSERT_OK(
			shmkit_queue_send(q, 2, small, sizeof(small), SHMKIT_QUEUE_F_NOWAIT, NULL));
	}
	ASSERT_ERR(shmkit_queue_send(q, 2, small, sizeof(small), SHMKIT_QUEUE_F_NOWAIT, NULL),
		   -EAGAIN);
	/* A much larger byte limit: big messages until the 14 big slots are
	 * gone, small ones on until the 40 descriptors are. */
	ASSERT_OK(
		shmkit_queue_set(q, 1000000, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP));
	int nbig = 3;
	while (shmkit_queue_send(q, 1, big, sizeof(big), SHMKIT_QUEUE_F_NOWAIT, NULL) == 0) {
		nbig++;
		ASSERT_LE(nbig, 40);
	}
	ASSERT_EQ(nbig, 14);
	int nsmall = 6;
	while (shmkit_queue_send(q, 2, small, sizeof(small), SHMKIT_QUEUE_F_NOWAIT, NULL) == 0) {
		nsmall++;
		ASSERT_LE(nsmall, 40);
	}
	ASSERT_EQ(nbig + nsmall, 40);
	/* Every payload comes back whole, and a freed big slot is reused. */
	char buf[256];
	long type;
	for (int i = 0; i < nbig; i++) {
		ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), 1, &type, SHMKIT_QUEUE_F_NOWAIT,
					      NULL);
		ASSERT_EQ(n, (ssize_t)sizeof(big));
		ASSERT_EQ(memcmp(buf, big, sizeof(big)), 0);
		if (i == 0) {
			ASSERT_OK(shmkit_queue_send(q, 3, big, sizeof(big), SHMKIT_QUEUE_F_NOWAIT,
						    NULL));
		}
	}
	ASSERT_EQ(shmkit_queue_recv(q, buf, sizeof(buf), 3, &type, SHMKIT_QUEUE_F_NOWAIT, NULL),
		  (ssize_t)sizeof(big));
	for (int i = 0; i < nsmall; i++) {
		ASSERT_EQ(shmkit_queue_recv(q, buf, sizeof(buf), 0, &type, SHMKIT_QUEUE_F_NOWAIT,
					    NULL),
			  (ssize_t)sizeof(small));
		ASSERT_EQ(memcmp(buf, small, sizeof(small)), 0);
	}
	shmkit_queue_info in;
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, 0);
	ASSERT_EQ(in.repairs, 0);
	ASSERT_OK(shmkit_queue_remove(q));
}

TEST(corrupted_queue_gives_ebadmsg)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 100, 4);
	struct shmkit__queue_offsets off;
	shmkit__queue_offsets(q, &off);
	send_str(q, 1, "a");
	shmkit_segment *seg;
	unsigned char *d = raw_data(spec, &seg);
	unsigned char saved[4096];
	ASSERT_LE(off.arena, sizeof(saved));
	memcpy(saved, d, off.arena);
	char buf[128];
	shmkit_queue_info in;

	/* The counters and lists are an index derived from the descriptors:
	 * garbage there (more messages than slots, a broken list) is found
	 * and the index rebuilt, with nothing lost. */
	uint32_t huge = 0x7fffffff;
	memcpy(d + off.hot + 32, &huge, 4); /* qnum */
	ASSERT_OK(shmkit_queue_send(q, 2, "b", 1, SHMKIT_QUEUE_F_NOWAIT, NULL));
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, 2);
	ASSERT_EQ(in.repairs, 1);
	memset(d + off.hot + 40, 0xee, 12); /* head, tail, free list */
	ASSERT_EQ(recv_nowait(q, 2, 0), 1);
	memset(d + off.buckets, 0x5a, 64 * 8); /* every bucket */
	ASSERT_EQ(recv_nowait(q, -5, 0), 1);
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, 0);
	ASSERT_EQ(in.repairs, 3);
	send_str(q, 1, "a");
	memcpy(saved, d, off.arena);

	/* The permissions are the truth: a bad selector is refused. */
	uint32_t sel = 7;
	memcpy(d + off.ctl + 12, &sel, 4);
	ASSERT_ERR(shmkit_queue_send(q, 1, "x", 1, SHMKIT_QUEUE_F_NOWAIT, NULL), -EBADMSG);
	ASSERT_ERR(recv_nowait(q, 0, 0), -EBADMSG);
	ASSERT_ERR(shmkit_queue_stat(q, &in), -EBADMSG);
	memcpy(d, saved, off.arena);

	/* A descriptor with a bad state, then with a bad length. */
	uint32_t bad = 77;
	memcpy(d + off.desc, &bad, 4);
	ASSERT_ERR(recv_nowait(q, 0, 0), -EBADMSG);
	memcpy(d, saved, off.arena);
	memcpy(d + off.desc + 12, &huge, 4);
	ASSERT_ERR(shmkit_queue_recv(q, buf, sizeof(buf), 0, NULL, SHMKIT_QUEUE_F_NOWAIT, NULL),
		   -EBADMSG);
	memcpy(d, saved, off.arena);

	/* Every byte of the metadata flipped in turn: never a crash or a
	 * hang, only results or -EBADMSG (the lock word aside: a garbage
	 * owner is the mutex's -EBADMSG). */
	for (size_t i = 128; i < off.arena; i += 3) {
		d[i] ^= 0xa5;
		ssize_t n = recv_nowait(q, 0, 0);
		ASSERT_IN(n, 1, -ENOMSG, -EBADMSG, -EIDRM, -EACCES, -ENOTRECOVERABLE);
		int s = shmkit_queue_send(q, 1, "y", 1, SHMKIT_QUEUE_F_NOWAIT, NULL);
		ASSERT_IN(s, 0, -EAGAIN, -EBADMSG, -EIDRM, -EACCES, -ENOTRECOVERABLE);
		memcpy(d, saved, off.arena);
	}

	/* The meta block: an opener refuses it. */
	d[0] ^= 1;
	shmkit_queue *r;
	ASSERT_ERR(shmkit_queue_open(&r, spec), -EBADMSG);
	d[0] ^= 1;
	uint32_t big = 0xffffffffu;
	memcpy(d + 8, &big, 4); /* max_msgs */
	ASSERT_ERR(shmkit_queue_open(&r, spec), -EBADMSG);
	memcpy(d, saved, off.arena);
	ASSERT_OK(shmkit_queue_open(&r, spec));
	ASSERT_OK(shmkit_queue_close(r));
	ASSERT_OK(shmkit_segment_close(seg));
	ASSERT_OK(shmkit_queue_remove(q));
}

CHILD(open_then_drop)
{
	shmkit_queue *q;
	if (child_open(&q, argv[1]) != 0) {
		return 10;
	}
	if (setgid(65534) != 0 || setuid(65534) != 0) {
		return 12;
	}
	shmkit__queue_creds_changed();
	char buf[8];
	int s = shmkit_queue_send(q, 1, "x", 1, SHMKIT_QUEUE_F_NOWAIT, NULL);
	ssize_t r = shmkit_queue_recv(q, buf, sizeof(buf), 0, NULL, SHMKIT_QUEUE_F_NOWAIT, NULL);
	int e = shmkit_queue_set(q, 0, 0666, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP);
	int rm = shmkit_queue_remove(q);
	return (s == -EACCES && r == -EACCES && e == -EPERM && rm == -EPERM) ? 0 : 11;
}

TEST(permissions)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 100, 4);
	if (geteuid() != 0) {
		/* As the owner without CAP_IPC_OWNER: the mode bits decide. */
		ASSERT_OK(shmkit_queue_set(q, 0, 0200, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP));
		send_str(q, 1, "w");
		ASSERT_ERR(recv_nowait(q, 0, 0), -EACCES);
		ASSERT_OK(shmkit_queue_set(q, 0, 0400, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP));
		ASSERT_ERR(shmkit_queue_send(q, 1, "x", 1, 0, NULL), -EACCES);
		ASSERT_EQ(recv_nowait(q, 0, 0), 1);
		ASSERT_OK(shmkit_queue_remove(q));
		return;
	}
	/* Root: another uid that the mode refuses. */
	ASSERT_EXIT(th_wait(th_spawn("open_then_drop", spec, NULL)), 0);
	ASSERT_OK(shmkit_queue_remove(q));
}

/* ---- threads of one process (for the sanitizers, T14) ---- */

#define TH_PROD 4
#define TH_CONS 3
#define TH_PER  3000

struct th_arg {
	shmkit_queue *q;
	unsigned id;
	unsigned got;
	int bad;
	_Atomic unsigned char *seen;
};

static void *
th_producer(void *p)
{
	struct th_arg *a = p;
	for (unsigned s = 0; s < TH_PER; s++) {
		uint32_t m[4] = {a->id, s, a->id ^ s ^ 0x5a5a5a5au, 0};
		size_t len = sizeof(m) - 4 * (s % 2);
		if (shmkit_queue_send(a->q, 1 + a->id, m, len, 0, NULL) != 0) {
			a->bad = 1;
		}
	}
	return NULL;
}

static void *
th_consumer(void *p)
{
	struct th_arg *a = p;
	int64_t last[TH_PROD] = {-1, -1, -1, -1};
	for (;;) {
		uint32_t m[4];
		long type;
		ssize_t n = shmkit_queue_recv(a->q, m, sizeof(m), 0, &type, 0, NULL);
		if (n < 0) {
			a->bad = 1;
			return NULL;
		}
		if (type == 100) {
			return NULL;
		}
		if (n < 12 || m[0] >= TH_PROD || m[1] >= TH_PER ||
		    m[2] != (m[0] ^ m[1] ^ 0x5a5a5a5au) || type != 1 + (long)m[0] ||
		    (int64_t)m[1] <= last[m[0]]) {
			a->bad = 1;
			return NULL;
		}
		last[m[0]] = m[1];
		if (atomic_fetch_add(&a->seen[m[0] * TH_PER + m[1]], 1) != 0) {
			a->bad = 1;
		}
		a->got++;
	}
}

TEST_TIMEOUT(threads_mpmc, 60)
{
	char spec[128];
	shmkit_queue *q = make_queue(spec, sizeof(spec), 1024, 16, 16);
	static _Atomic unsigned char seen[TH_PROD * TH_PER];
	pthread_t pt[TH_PROD], ct[TH_CONS];
	struct th_arg pa[TH_PROD], ca[TH_CONS];
	for (unsigned i = 0; i < TH_CONS; i++) {
		ca[i] = (struct th_arg){.q = q, .id = i, .seen = seen};
		ASSERT_EQ(pthread_create(&ct[i], NULL, th_consumer, &ca[i]), 0);
	}
	for (unsigned i = 0; i < TH_PROD; i++) {
		pa[i] = (struct th_arg){.q = q, .id = i, .seen = seen};
		ASSERT_EQ(pthread_create(&pt[i], NULL, th_producer, &pa[i]), 0);
	}
	for (unsigned i = 0; i < TH_PROD; i++) {
		ASSERT_EQ(pthread_join(pt[i], NULL), 0);
		ASSERT_EQ(pa[i].bad, 0);
	}
	for (unsigned i = 0; i < TH_CONS; i++) {
		ASSERT_OK(shmkit_queue_send(q, 100, NULL, 0, 0, NULL));
	}
	unsigned total = 0;
	for (unsigned i = 0; i < TH_CONS; i++) {
		ASSERT_EQ(pthread_join(ct[i], NULL), 0);
		ASSERT_EQ(ca[i].bad, 0);
		total += ca[i].got;
	}
	ASSERT_EQ(total, TH_PROD * TH_PER);
	ASSERT_OK(shmkit_queue_remove(q));
}
