/* SPDX-License-Identifier: MIT */
/* shmkit_queue across processes: MPMC exactly-once, producers killed in claim->commit, fencing
 * (T03). */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "queue/queue_impl.h"

/*
 * Every payload starts with a header naming its producer and sequence, its
 * length and the CRC of the body that follows (th_fill of a seed derived
 * from both), so a consumer detects tearing, duplicates and reordering.
 * Producers report each sequence they committed (8 bytes to a pipe, after
 * the send returned); consumers report each message they took. The parent
 * then knows exactly which messages were committed.
 */

#define STOP_TYPE 1000000L
#define MAX_PROD  1024
#define MAX_PER   4096

struct hdr {
	uint32_t producer;
	uint32_t seq;
	uint32_t len;
	uint32_t crc;
};

static uint64_t
seed_of(uint32_t producer, uint32_t seq)
{
	return ((uint64_t)producer << 32) ^ seq ^ 0x9e3779b97f4a7c15ull;
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

static shmkit_queue *
open_q(const char *spec)
{
	shmkit_queue *q;
	ASSERT_OK(child_open(&q, spec));
	return q;
}

/* argv: produce SPEC ID COUNT MAXLEN REPORT_FD */
CHILD(produce)
{
	shmkit_queue *q = open_q(argv[1]);
	uint32_t id = (uint32_t)atoi(argv[2]);
	uint32_t count = (uint32_t)atoi(argv[3]);
	uint32_t maxlen = (uint32_t)atoi(argv[4]);
	int fd = atoi(argv[5]);
	unsigned char buf[8192];
	uint64_t r = seed_of(id, 7);
	for (uint32_t s = 0; s < count; s++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		uint32_t len = (uint32_t)sizeof(struct hdr) +
			       (uint32_t)(r % (maxlen - sizeof(struct hdr) + 1));
		struct hdr h = {.producer = id, .seq = s, .len = len};
		th_fill(buf + sizeof(h), len - sizeof(h), seed_of(id, s));
		h.crc = th_crc32(buf + sizeof(h), len - sizeof(h));
		memcpy(buf, &h, sizeof(h));
		/* Odd producers use the zero-copy path (claim, fill, commit),
		 * even ones the copying send (one locked step up to 4 KiB):
		 * the crash points of both are hit. */
		int rc;
		if (id % 2 == 1) {
			shmkit_queue_loan l;
			rc = shmkit_queue_reserve(q, len, &l, 0, NULL);
			if (rc == 0) {
				memcpy(l.data, buf, len);
				rc = shmkit_queue_commit(q, &l, 1 + (long)(id % 7));
			}
		} else {
			rc = shmkit_queue_send(q, 1 + (long)(id % 7), buf, len, 0, NULL);
		}
		if (rc != 0) {
			th_log("producer %u: send %u: %d", id, s, rc);
			return 2;
		}
		uint64_t rec = ((uint64_t)id << 32) | s;
		if (th_write_all(fd, &rec, sizeof(rec)) != 0) {
			return 3;
		}
	}
	return 0;
}

/* argv: consume SPEC REPORT_FD MAXLEN */
CHILD(consume)
{
	shmkit_queue *q = open_q(argv[1]);
	int fd = atoi(argv[2]);
	size_t maxlen = (size_t)atoi(argv[3]);
	static int64_t last[MAX_PROD];
	for (int i = 0; i < MAX_PROD; i++) {
		last[i] = -1;
	}
	unsigned char buf[8192];
	for (;;) {
		long type = 0;
		struct timespec dl;
		shmkit_deadline(&dl, 30000000000LL);
		ssize_t n = shmkit_queue_recv(q, buf, maxlen, 0, &type, 0, &dl);
		if (n < 0) {
			th_log("consumer: recv %zd", n);
			return 2;
		}
		if (type == STOP_TYPE) {
			return 0;
		}
		struct hdr h;
		if ((size_t)n < sizeof(h)) {
			return 4;
		}
		memcpy(&h, buf, sizeof(h));
		if (h.len != (uint32_t)n || h.producer >= MAX_PROD ||
		    th_crc32(buf + sizeof(h), (size_t)n - sizeof(h)) != h.crc ||
		    th_check_fill(buf + sizeof(h), (size_t)n - sizeof(h),
				  seed_of(h.producer, h.seq)) != -1 ||
		    type != 1 + (long)(h.producer % 7)) {
			th_log("consumer: torn message from %u seq %u", h.producer, h.seq);
			return 5;
		}
		/* In order per producer, as this consumer sees them. */
		if ((int64_t)h.seq <= last[h.producer]) {
			th_log("consumer: producer %u seq %u after %lld", h.producer, h.seq,
			       (long long)last[h.producer]);
			return 6;
		}
		last[h.producer] = h.seq;
		uint64_t rec = ((uint64_t)h.producer << 32) | h.seq;
		if (th_write_all(fd, &rec, sizeof(rec)) != 0) {
			return 3;
		}
	}
}

/* ---- bookkeeping in the parent ---- */

struct book {
	int rep[2]; /* producers -> parent: committed */
	int res[2]; /* consumers -> parent: received */
	int32_t reported[MAX_PROD];
	uint16_t got[MAX_PROD][MAX_PER / 16 + 1];
	uint32_t received;
};

static void
book_init(struct book *b)
{
	memset(b, 0, sizeof(*b));
	ASSERT_SYS(pipe(b->rep));
	ASSERT_SYS(pipe(b->res));
	ASSERT_SYS(fcntl(b->rep[0], F_SETFL, O_NONBLOCK));
	ASSERT_SYS(fcntl(b->res[0], F_SETFL, O_NONBLOCK));
	for (int i = 0; i < MAX_PROD; i++) {
		b->reported[i] = -1;
	}
}

static void
drain_fd(struct book *b, int fd, int is_res)
{
	uint64_t recs[512];
	for (;;) {
		ssize_t n = read(fd, recs, sizeof(recs));
		if (n <= 0) {
			return;
		}
		ASSERT_EQ(n % 8, 0);
		for (ssize_t k = 0; k < n / 8; k++) {
			uint32_t p = (uint32_t)(recs[k] >> 32), s = (uint32_t)recs[k];
			ASSERT_LT(p, MAX_PROD);
			ASSERT_LT(s, MAX_PER);
			if (is_res) {
				uint16_t bit = (uint16_t)(1u << (s % 16));
				/* Exactly once. */
				ASSERT_EQ(b->got[p][s / 16] & bit, 0);
				b->got[p][s / 16] |= bit;
				b->received++;
			} else {
				ASSERT_EQ((int32_t)s, b->reported[p] + 1);
				b->reported[p] = (int32_t)s;
			}
		}
	}
}

static void
drain(struct book *b)
{
	drain_fd(b, b->rep[0], 0);
	drain_fd(b, b->res[0], 1);
}

/* Wait for @pid while draining the pipes; return its status. */
static int
wait_draining(struct book *b, pid_t pid)
{
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		ASSERT_NE(r, -1);
		drain(b);
		if (r == pid) {
			return st;
		}
		struct pollfd pf[2] = {{.fd = b->rep[0], .events = POLLIN},
				       {.fd = b->res[0], .events = POLLIN}};
		poll(pf, 2, 5);
	}
}

/* Every producer's messages: received exactly the committed ones. */
static void
check_book(struct book *b, uint32_t nprod, const int *killed)
{
	for (uint32_t p = 0; p < nprod; p++) {
		uint32_t k = 0;
		while (k < MAX_PER && (b->got[p][k / 16] & (1u << (k % 16)))) {
			k++;
		}
		for (uint32_t s = k; s < MAX_PER; s++) {
			if (b->got[p][s / 16] & (1u << (s % 16))) {
				th_fail(__FILE__, __LINE__, "producer %u: gap before seq %u", p, s);
			}
		}
		/* Reported r + 1 messages; the last one may have been committed
		 * and not yet reported when the producer was killed. */
		int64_t r = (int64_t)b->reported[p] + 1;
		if (killed != NULL && killed[p]) {
			ASSERT_TRUE((int64_t)k == r || (int64_t)k == r + 1);
		} else {
			ASSERT_EQ((int64_t)k, r);
		}
	}
}

static void
send_stops(shmkit_queue *q, int n)
{
	for (int i = 0; i < n; i++) {
		ASSERT_OK(shmkit_queue_send(q, STOP_TYPE, NULL, 0, 0, NULL));
	}
}

static shmkit_queue *
make_q(char *spec, size_t len, uint64_t max_bytes, uint32_t max_msg_size, uint32_t max_msgs)
{
	shmkit_queue_opts o;
	shmkit_queue *q;
	shmkit_queue_opts_init(&o);
	o.max_bytes = max_bytes;
	o.max_msg_size = max_msg_size;
	o.max_msgs = max_msgs;
	th_spec(spec, len, "posix");
	ASSERT_OK(shmkit_queue_create(&q, spec, &o));
	return q;
}

static pid_t
spawn_producer(struct book *b, const char *spec, const char *crash, uint32_t id, uint32_t count,
	       uint32_t maxlen)
{
	char a[16], c[16], m[16], f[16];
	snprintf(a, sizeof(a), "%u", id);
	snprintf(c, sizeof(c), "%u", count);
	snprintf(m, sizeof(m), "%u", maxlen);
	snprintf(f, sizeof(f), "%d", b->rep[1]);
	if (crash != NULL) {
		return th_spawn_env("SHMKIT_CRASHPOINT", crash, "produce", spec, a, c, m, f, NULL);
	}
	return th_spawn("produce", spec, a, c, m, f, NULL);
}

static pid_t
spawn_consumer(struct book *b, const char *spec, uint32_t maxlen)
{
	char f[16], m[16];
	snprintf(f, sizeof(f), "%d", b->res[1]);
	snprintf(m, sizeof(m), "%u", maxlen);
	return th_spawn("consume", spec, f, m, NULL);
}

/* Capacity is back to 100 %: max_msgs messages that use every byte fit. */
static void
check_full_capacity(shmkit_queue *q, uint32_t max_msgs, uint64_t max_bytes)
{
	ASSERT_OK(shmkit__queue_sweep(q));
	shmkit_queue_info in;
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, 0);
	ASSERT_EQ(in.bytes, 0);
	ASSERT_EQ(in.dead_claims, 0);
	/* Deaths rebuild the index on the way (not counted); a repair would
	 * mean the index went wrong without one. */
	ASSERT_EQ(in.repairs, 0);
	static unsigned char buf[65536];
	size_t each = (size_t)(max_bytes / max_msgs);
	for (uint32_t i = 0; i < max_msgs; i++) {
		ASSERT_OK(shmkit_queue_send(q, 1, buf, each, SHMKIT_QUEUE_F_NOWAIT, NULL));
	}
	ASSERT_ERR(shmkit_queue_send(q, 1, buf, 0, SHMKIT_QUEUE_F_NOWAIT, NULL), -EAGAIN);
	for (uint32_t i = 0; i < max_msgs; i++) {
		ASSERT_EQ(shmkit_queue_recv(q, buf, sizeof(buf), 0, NULL, SHMKIT_QUEUE_F_NOWAIT,
					    NULL),
			  (ssize_t)each);
	}
}

static void
mpmc(uint32_t nprod, uint32_t ncons, uint32_t per, uint32_t maxlen, uint32_t max_msgs)
{
	char spec[128];
	uint64_t max_bytes = (uint64_t)max_msgs * maxlen;
	shmkit_queue *q = make_q(spec, sizeof(spec), max_bytes, maxlen, max_msgs);
	static struct book b;
	book_init(&b);
	pid_t cons[16], prod[16];
	for (uint32_t i = 0; i < ncons; i++) {
		cons[i] = spawn_consumer(&b, spec, maxlen);
	}
	for (uint32_t i = 0; i < nprod; i++) {
		prod[i] = spawn_producer(&b, spec, NULL, i, per, maxlen);
	}
	for (uint32_t i = 0; i < nprod; i++) {
		ASSERT_EXIT(wait_draining(&b, prod[i]), 0);
	}
	send_stops(q, (int)ncons);
	for (uint32_t i = 0; i < ncons; i++) {
		ASSERT_EXIT(wait_draining(&b, cons[i]), 0);
	}
	drain(&b);
	ASSERT_EQ(b.received, nprod * per);
	check_book(&b, nprod, NULL);
	check_full_capacity(q, max_msgs, max_bytes);
	ASSERT_OK(shmkit_queue_remove(q));
}

TEST_TIMEOUT(mpmc_small_messages, 60)
{
	mpmc(4, 3, 2000, 64, 16);
}

TEST_TIMEOUT(mpmc_large_messages, 60)
{
	mpmc(3, 2, 600, 4096, 8);
}

TEST_TIMEOUT(mpmc_one_slot, 60)
{
	mpmc(2, 2, 500, 128, 1);
}

/*
 * T03: producers killed inside claim->commit (at both crash points, and
 * inside the claim's own transaction with the lock held, which the next
 * locker's journal replay completes) and at
 * random times; committed messages arrive exactly once, dead claims are
 * reclaimed and the capacity is back to 100 %.
 */
TEST_TIMEOUT(producers_killed, 60)
{
	char spec[128];
	const uint32_t maxlen = 256, max_msgs = 8;
	const uint64_t max_bytes = (uint64_t)max_msgs * maxlen;
	shmkit_queue *q = make_q(spec, sizeof(spec), max_bytes, maxlen, max_msgs);
	static struct book b;
	static int killed[MAX_PROD];
	book_init(&b);
	pid_t cons[2];
	for (int i = 0; i < 2; i++) {
		cons[i] = spawn_consumer(&b, spec, maxlen);
	}
	uint32_t id = 0;
	unsigned crash_kills = 0, random_kills = 0;
	srand((unsigned)getpid());
	/* Crash points: each such producer dies at its first claim. */
	const char *points[] = {"queue_after_claim", "queue_before_commit", "queue_mid_commit"};
	for (int round = 0; round < 240; round++) {
		pid_t p = spawn_producer(&b, spec, points[round % 3], id, 10, maxlen);
		killed[id++] = 1;
		ASSERT_SIGNALED(wait_draining(&b, p), SIGKILL);
		crash_kills++;
	}
	/* Random times: a few producers run, one is killed at a random
	 * moment while the others go on; the queue is small, so they often
	 * sit in claim->commit or blocked on a full queue. */
	shmkit_queue_info in;
	ASSERT_OK(shmkit_queue_stat(q, &in));
	th_log("after the crash points: %u dead claims pending", in.dead_claims);
	for (int round = 0; round < 300; round++) {
		pid_t a = spawn_producer(&b, spec, NULL, id, 3000, maxlen);
		killed[id++] = 1;
		pid_t c = spawn_producer(&b, spec, NULL, id++, 20, maxlen);
		int64_t until = th_now_ms() + 1 + rand() % 15;
		while (th_now_ms() < until) {
			drain(&b);
			th_sleep_ms(1);
		}
		kill(a, SIGKILL);
		int st = wait_draining(&b, a);
		ASSERT_TRUE(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 0));
		random_kills += WIFSIGNALED(st);
		ASSERT_EXIT(wait_draining(&b, c), 0);
	}
	send_stops(q, 2);
	for (int i = 0; i < 2; i++) {
		ASSERT_EXIT(wait_draining(&b, cons[i]), 0);
	}
	drain(&b);
	th_log("%u crash-point kills, %u random kills, %u messages", crash_kills, random_kills,
	       b.received);
	check_book(&b, id, killed);
	check_full_capacity(q, max_msgs, max_bytes);
	ASSERT_OK(shmkit_queue_remove(q));
}

/* argv: stall SPEC FD -- reserve, say so, stop; once continued, commit. */
CHILD(stall)
{
	shmkit_queue *q = open_q(argv[1]);
	int fd = atoi(argv[2]);
	shmkit_queue_loan l;
	if (shmkit_queue_reserve(q, 5, &l, SHMKIT_QUEUE_F_NOWAIT, NULL) != 0) {
		return 10;
	}
	char c = 'r';
	if (th_write_all(fd, &c, 1) != 0) {
		return 11;
	}
	raise(SIGSTOP);
	memcpy(l.data, "late!", 5);
	int rc = shmkit_queue_commit(q, &l, 3);
	if (rc != -ESTALE) {
		th_log("late commit returned %d", rc);
		return 12;
	}
	/* The fenced slot came back when we learnt of it. */
	return 0;
}

/* T03: a producer stopped inside claim->commit is fenced; its late commit
 * fails with -ESTALE and the capacity was never lost. */
TEST_TIMEOUT(stalled_producer_fenced, 30)
{
	char spec[128];
	const uint32_t max_msgs = 4;
	shmkit_queue *q = make_q(spec, sizeof(spec), 4 * 64, 64, max_msgs);
	int p[2];
	ASSERT_SYS(pipe(p));
	char f[16];
	snprintf(f, sizeof(f), "%d", p[1]);
	pid_t c = th_spawn("stall", spec, f, NULL);
	char ch;
	ASSERT_EQ(th_read_all(p[0], &ch, 1), 0);
	int st;
	ASSERT_EQ(waitpid(c, &st, WUNTRACED), c);
	ASSERT_TRUE(WIFSTOPPED(st));
	/* Within the bound the claim holds its room. */
	unsigned char buf[64] = {0};
	for (uint32_t i = 0; i < max_msgs - 1; i++) {
		ASSERT_OK(shmkit_queue_send(q, 1, buf, 64, SHMKIT_QUEUE_F_NOWAIT, NULL));
	}
	ASSERT_ERR(shmkit_queue_send(q, 1, buf, 1, SHMKIT_QUEUE_F_NOWAIT, NULL), -EAGAIN);
	/* Past the bound, a sender that finds the queue full fences it. */
	struct timespec dl;
	shmkit_deadline(&dl, 5000000000LL);
	ASSERT_OK(shmkit_queue_send(q, 2, "fill", 4, 0, &dl));
	shmkit_queue_info in;
	ASSERT_OK(shmkit_queue_stat(q, &in));
	ASSERT_EQ(in.count, max_msgs);
	ASSERT_SYS(kill(c, SIGCONT));
	ASSERT_EXIT(th_wait(c), 0);
	/* Exactly the messages sent here; the late one is not among them. */
	for (uint32_t i = 0; i < max_msgs; i++) {
		long type = 0;
		ASSERT_OK(shmkit_queue_recv(q, buf, sizeof(buf), 0, &type, SHMKIT_QUEUE_F_NOWAIT,
					    NULL));
		ASSERT_NE(type, 3);
	}
	ASSERT_ERR(shmkit_queue_recv(q, buf, sizeof(buf), 0, NULL, SHMKIT_QUEUE_F_NOWAIT, NULL),
		   -ENOMSG);
	check_full_capacity(q, max_msgs, 4 * 64);
	ASSERT_OK(shmkit_queue_remove(q));
}
