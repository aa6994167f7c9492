/* SPDX-License-Identifier: MIT */
/* T02: ring producers and consumers killed anywhere and replaced; exactly once, in order, untorn.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/*
 * A producer and a consumer process run on one ring; the test kills one of
 * them (SIGKILL at a random time, or at one of the library's crash points
 * through SHMKIT_CRASHPOINT) and starts a replacement, 1,000 times (10,000
 * with -L soak). Every message carries (sequence, producer incarnation,
 * length, CRC). Each side keeps its progress in a ledger of its own, one
 * 64-bit word stored at once, so a kill anywhere leaves it exact:
 *  - the producer: the next sequence, and "pending" while a send is under
 *    way. A replacement resends a pending sequence (it cannot know whether
 *    the send committed), under a new incarnation;
 *  - the consumer: the last message it accepted, and "pending" between
 *    accepting it and releasing it. A replacement that is shown exactly that
 *    message again (peeked, never released) releases it without counting it.
 * The consumer checks, message by message: the sequence is the last + 1 (no
 * loss, no reordering), or equals the last under a newer incarnation (the
 * producer's retry); a message it already accepted never comes twice unless
 * it was pending; the payload matches its CRC (no tearing). At the end, the
 * consumer has accepted every sequence the producer finished.
 */

#define KILLS_CI   1000
#define KILLS_SOAK 10000

struct ledger {
	_Atomic uint64_t prod;    /* next sequence << 1 | pending */
	_Atomic uint64_t cons;    /* last sequence << 17 | incarnation << 1 | pending; 0: none */
	_Atomic uint64_t stop_at; /* the producer shuts down when it reaches it */
	_Atomic uint32_t incarnations;
	_Atomic uint32_t failures;
	_Atomic uint64_t accepted;
	char why[256];
};

struct msg_head {
	uint64_t seq;
	uint32_t inc;
	uint32_t len; /* bytes after the head */
	uint32_t crc;
	uint32_t pad;
};

#define NO_STOP UINT64_MAX

static struct ledger *
ledger_open(const char *spec, shmkit_segment **seg)
{
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	if (shmkit_segment_open(seg, spec, &so) != 0) {
		return NULL;
	}
	return shmkit_segment_data(*seg);
}

static void
fail(struct ledger *l, const char *why, uint64_t a, uint64_t b)
{
	snprintf(l->why, sizeof(l->why), "%s (%llu, %llu)", why, (unsigned long long)a,
		 (unsigned long long)b);
	atomic_fetch_add(&l->failures, 1);
	th_exit(10);
}

static int
open_role(const char *spec, int role, shmkit_ring **r)
{
	/* The killed holder is dead before the replacement starts: -EBUSY
	 * would be a bug, but a few retries keep a slow reap from failing. */
	for (int i = 0;; i++) {
		int rc = shmkit_ring_open(r, spec, role);
		if (rc != -EBUSY || i == 200) {
			return rc;
		}
		th_sleep_ms(5);
	}
}

CHILD(producer)
{
	shmkit_segment *lseg;
	struct ledger *l = ledger_open(argv[2], &lseg);
	shmkit_ring *r;
	if (l == NULL || open_role(argv[1], SHMKIT_RING_PRODUCER, &r) != 0) {
		return 2;
	}
	uint32_t inc = atomic_fetch_add(&l->incarnations, 1) + 1;
	shmkit_ring_set_wait(r, (int)(inc % 3));
	uint64_t p = atomic_load(&l->prod);
	uint64_t seq = p >> 1; /* a pending one is sent again */
	uint64_t rng = 0x9e3779b97f4a7c15ull * inc;
	unsigned char buf[2048];
	for (;;) {
		uint64_t stop = atomic_load(&l->stop_at);
		if (seq >= stop) {
			shmkit_ring_shutdown(r);
			shmkit_ring_close(r);
			shmkit_segment_close(lseg);
			return 0;
		}
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		uint32_t body = (uint32_t)(rng % (sizeof(buf) - sizeof(struct msg_head)));
		struct msg_head h = {.seq = seq, .inc = inc, .len = body};
		th_fill(buf + sizeof(h), body, seq * 131 + inc);
		h.crc = th_crc32(buf + sizeof(h), body);
		memcpy(buf, &h, sizeof(h));
		atomic_store(&l->prod, seq << 1 | 1);
		int rc;
		if (rng & 1) {
			rc = shmkit_ring_send(r, buf, sizeof(h) + body, 0, NULL);
		} else {
			void *w;
			ssize_t n = shmkit_ring_reserve(r, sizeof(h) + body, &w, 0, NULL);
			rc = n < 0 ? (int)n : 0;
			if (rc == 0) {
				memcpy(w, buf, sizeof(h) + body);
				rc = shmkit_ring_commit(r, sizeof(h) + body, 0);
			}
		}
		if (rc == -ECONNRESET) {
			continue; /* the consumer died; its replacement comes */
		}
		if (rc != 0) {
			fail(l, "send failed", seq, (uint64_t)-rc);
		}
		seq++;
		atomic_store(&l->prod, seq << 1);
	}
}

CHILD(consumer)
{
	shmkit_segment *lseg;
	struct ledger *l = ledger_open(argv[2], &lseg);
	shmkit_ring *r;
	if (l == NULL || open_role(argv[1], SHMKIT_RING_CONSUMER, &r) != 0) {
		return 2;
	}
	uint32_t inc = atomic_fetch_add(&l->incarnations, 1);
	shmkit_ring_set_wait(r, (int)(inc % 3));
	for (;;) {
		const void *p;
		ssize_t n = shmkit_ring_peek(r, &p, 0, NULL);
		if (n == -EPIPE) {
			shmkit_ring_close(r);
			shmkit_segment_close(lseg);
			return 0;
		}
		if (n == -ECONNRESET) {
			continue;
		}
		if (n < 0) {
			fail(l, "peek failed", 0, (uint64_t)-n);
		}
		struct msg_head h;
		if ((size_t)n < sizeof(h)) {
			fail(l, "short message", (uint64_t)n, 0);
		}
		memcpy(&h, p, sizeof(h));
		if (h.len != (size_t)n - sizeof(h) ||
		    th_crc32((const unsigned char *)p + sizeof(h), h.len) != h.crc) {
			fail(l, "torn message", h.seq, h.inc);
		}
		uint64_t c = atomic_load(&l->cons);
		uint64_t last = c >> 17, last_inc = (c >> 1) & 0xffff;
		int pending = (int)(c & 1);
		uint64_t me = h.seq << 17 | (uint64_t)(h.inc & 0xffff) << 1;
		if (c != 0 && h.seq == last && h.inc == last_inc) {
			if (!pending) {
				fail(l, "delivered twice", h.seq, h.inc);
			}
			/* Accepted by a consumer that died before releasing it. */
		} else {
			int first = c == 0 && h.seq == 0;
			int next = c != 0 && h.seq == last + 1;
			int retry = c != 0 && h.seq == last && h.inc > last_inc;
			if (!first && !next && !retry) {
				fail(l, "lost or reordered", h.seq, last);
			}
			atomic_store(&l->cons, me | 1);
			atomic_fetch_add(&l->accepted, 1);
		}
		if (shmkit_ring_release(r, 1) != 0) {
			fail(l, "release failed", h.seq, 0);
		}
		atomic_store(&l->cons, me);
	}
}

static const char *const prod_points[] = {
	"ring_after_attach", "ring_after_pad",      "ring_after_write",
	"ring_after_commit", "ring_before_publish", "ring_after_publish",
};
static const char *const cons_points[] = {
	"ring_after_attach",
	"ring_after_peek",
	"ring_before_release",
	"ring_after_release",
};

static pid_t
start(int role, const char *ring, const char *lspec, const char *point)
{
	return th_spawn_env("SHMKIT_CRASHPOINT", point, role == 0 ? "producer" : "consumer", ring,
			    lspec, NULL);
}

/* Has @pid ended by itself? Reap it if so. */
static int
ended(pid_t pid, int *status)
{
	return waitpid(pid, status, WNOHANG) == pid;
}

static void
run(uint64_t cap, unsigned kills)
{
	char ring[TH_SPEC_MAX], lspec[TH_SPEC_MAX];
	shmkit_ring_opts o;
	shmkit_ring *r;
	shmkit_ring_opts_init(&o);
	o.capacity = cap;
	o.max_msg_size = 2048;
	th_spec(ring, sizeof(ring), "posix");
	ASSERT_OK(shmkit_ring_create(&r, ring, &o, SHMKIT_RING_NONE));
	shmkit_segment *lseg;
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.size = sizeof(struct ledger);
	th_spec(lspec, sizeof(lspec), "posix");
	ASSERT_OK(shmkit_segment_create(&lseg, lspec, &so));
	struct ledger *l = shmkit_segment_data(lseg);
	atomic_store(&l->stop_at, NO_STOP);

	pid_t pids[2] = {start(0, ring, lspec, NULL), start(1, ring, lspec, NULL)};
	uint64_t rng = 0x2545f4914f6cdd1dull ^ cap;
	unsigned done = 0, at_point[2][6] = {{0}};
	uint64_t progress = 0;
	int64_t stalled_since = th_now_ms();
	while (done < kills) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		int role = (int)(rng & 1);
		int status;
		/* A child that ended by itself failed (or died at its crash
		 * point): a failure is reported at once. */
		for (int k = 0; k < 2; k++) {
			if (ended(pids[k], &status)) {
				ASSERT_EQ(atomic_load(&l->failures), 0);
				ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
				pids[k] = start(k, ring, lspec, NULL);
				done++;
			}
		}
		/* Let it run a little (0-2 ms), then kill it. */
		usleep((useconds_t)(rng >> 8) % 2000);
		kill(pids[role], SIGKILL);
		status = th_wait(pids[role]);
		if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
			th_fail(__FILE__, __LINE__, "child ended: %d: %s", status, l->why);
		}
		done++;
		/* Half of the replacements die at a crash point of their role. */
		const char *point = NULL;
		unsigned which = (unsigned)((rng >> 24) % (role == 0 ? 6 : 4));
		if ((rng >> 20) & 1) {
			point = role == 0 ? prod_points[which] : cons_points[which];
		}
		pids[role] = start(role, ring, lspec, point);
		if (point != NULL) {
			/* If it has not died there within 100 ms, it runs on as
			 * the normal replacement (the point may not come). */
			int64_t until = th_now_ms() + 100;
			int reaped = 0;
			while (!reaped && th_now_ms() < until) {
				reaped = ended(pids[role], &status);
				if (!reaped) {
					usleep(500);
				}
			}
			if (!reaped) {
				continue;
			}
			ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
			done++;
			at_point[role][which]++;
			pids[role] = start(role, ring, lspec, NULL);
		}
		/* Progress resumes: the consumer keeps accepting. */
		uint64_t acc = atomic_load(&l->accepted);
		if (acc != progress) {
			progress = acc;
			stalled_since = th_now_ms();
		}
		ASSERT_LT(th_now_ms() - stalled_since, 20000);
		ASSERT_EQ(atomic_load(&l->failures), 0);
	}
	/* The end: the producer finishes 1,000 more, the consumer reads to
	 * the end of the stream. */
	atomic_store(&l->stop_at, (atomic_load(&l->prod) >> 1) + 1000);
	for (int k = 0; k < 2; k++) {
		int status = th_wait(pids[k]);
		/* One started at a crash point that came late dies there now. */
		while (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
			pids[k] = start(k, ring, lspec, NULL);
			status = th_wait(pids[k]);
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			th_fail(__FILE__, __LINE__, "%s: status %d: %s",
				k ? "consumer" : "producer", status, l->why);
		}
	}
	uint64_t stop = atomic_load(&l->stop_at);
	ASSERT_EQ(atomic_load(&l->cons) >> 17, stop - 1);
	shmkit_ring_info in;
	ASSERT_OK(shmkit_ring_stat(r, &in));
	ASSERT_EQ(in.used, 0);
	th_log("cap %llu: %u kills, %llu messages accepted, %u incarnations",
	       (unsigned long long)cap, done, (unsigned long long)atomic_load(&l->accepted),
	       atomic_load(&l->incarnations));
	for (int k = 0; k < 6; k++) {
		th_log("  died at %-20s producer %u", prod_points[k], at_point[0][k]);
	}
	for (int k = 0; k < 4; k++) {
		th_log("  died at %-20s consumer %u", cons_points[k], at_point[1][k]);
	}
	/* Every crash point was reached (the sizes make pads). */
	for (int k = 0; k < 6; k++) {
		ASSERT_GT(at_point[0][k] + (k == 1 && cap > 4096), 0);
	}
	for (int k = 0; k < 4; k++) {
		ASSERT_GT(at_point[1][k], 0);
	}
	ASSERT_OK(shmkit_segment_destroy(lseg));
	ASSERT_OK(shmkit_ring_remove(r));
}

static unsigned
kills_wanted(void)
{
	const char *s = getenv("SHMKIT_SOAK");
	return s != NULL && *s != '\0' && *s != '0' ? KILLS_SOAK : KILLS_CI;
}

/* A small ring: it is full most of the time, records wrap with pads. */
TEST_TIMEOUT(small_ring, 600)
{
	run(4096, kills_wanted() / 2);
}

/* A larger one: the consumer waits, the producer runs ahead. */
TEST_TIMEOUT(large_ring, 600)
{
	run(65536, kills_wanted() / 2);
}
