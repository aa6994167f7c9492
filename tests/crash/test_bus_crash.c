/* SPDX-License-Identifier: MIT */
/* T03 and T04 for the bus: publishers killed inside claim->publish, subscribers killed holding
 * loans. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/*
 * T03: two publisher roles publish sequenced, checksummed messages on a
 * reliable bus that two subscribers (never killed) read; the test kills a
 * publisher 500 times (5,000 with SHMKIT_SOAK=1), at random or at one of
 * the bus's crash points, and starts a replacement. Each role keeps its
 * progress in one 64-bit ledger word (next sequence << 1 | pending): a
 * replacement resends a pending sequence under a new incarnation. The
 * subscribers check, per role: the sequence is the last + 1, or the last
 * again under a newer incarnation (the retry); never a gap (a dead claim
 * is a hole, not a lost message), never a duplicate of one incarnation,
 * never a torn payload; and they never stall (dead claims are skipped).
 * At the end every role's last sequence arrived and the whole log can be
 * claimed again.
 *
 * T04: subscribers that die holding a peeked message (a loan) never block
 * a reliable publisher for good: they are removed, and the log is whole
 * again.
 */

#define KILLS_CI   500
#define KILLS_SOAK 5000
#define ROLES      2

struct ledger {
	_Atomic uint64_t prod[ROLES];
	_Atomic uint64_t stop_at;
	_Atomic uint32_t incarnations;
	_Atomic uint32_t failures;
	_Atomic uint64_t accepted;
	_Atomic uint64_t done_subs;
	char why[256];
};

struct msg {
	uint64_t seq;
	uint32_t role, inc;
	uint32_t len, crc;
};

static struct ledger *
ledger_open(const char *spec, shmkit_segment **seg)
{
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	return shmkit_segment_open(seg, spec, &so) == 0 ? shmkit_segment_data(*seg) : NULL;
}

static void
fail(struct ledger *l, const char *why, uint64_t a, uint64_t b)
{
	snprintf(l->why, sizeof(l->why), "%s (%llu, %llu)", why, (unsigned long long)a,
		 (unsigned long long)b);
	atomic_fetch_add(&l->failures, 1);
	th_exit(10);
}

CHILD(publisher)
{
	shmkit_segment *lseg;
	struct ledger *l = ledger_open(argv[2], &lseg);
	uint32_t role = (uint32_t)atoi(argv[3]);
	shmkit_bus *b;
	if (l == NULL || role >= ROLES || shmkit_bus_open(&b, argv[1]) != 0) {
		return 2;
	}
	uint32_t inc = atomic_fetch_add(&l->incarnations, 1) + 1;
	shmkit_bus_set_wait(b, (int)(inc % 3));
	uint64_t seq = atomic_load(&l->prod[role]) >> 1;
	uint64_t rng = 0x9e3779b97f4a7c15ull * inc;
	unsigned char buf[512];
	for (;;) {
		if (seq >= atomic_load(&l->stop_at)) {
			shmkit_bus_close(b);
			shmkit_segment_close(lseg);
			return 0;
		}
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		uint32_t body = (uint32_t)(rng % (sizeof(buf) - sizeof(struct msg)));
		struct msg m = {.seq = seq, .role = role, .inc = inc, .len = body};
		th_fill(buf + sizeof(m), body, seq * 31 + inc);
		m.crc = th_crc32(buf + sizeof(m), body);
		memcpy(buf, &m, sizeof(m));
		atomic_store(&l->prod[role], seq << 1 | 1);
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += 20;
		int rc;
		if (rng & 1) {
			rc = shmkit_bus_send(b, buf, sizeof(m) + body, 0, &dl);
		} else {
			void *w;
			rc = shmkit_bus_loan(b, sizeof(m) + body, &w, 0, &dl);
			if (rc == 0) {
				memcpy(w, buf, sizeof(m) + body);
				rc = shmkit_bus_publish(b, sizeof(m) + body);
			}
		}
		if (rc != 0) {
			fail(l, "publish failed", seq, (uint64_t)-rc);
		}
		seq++;
		atomic_store(&l->prod[role], seq << 1);
	}
}

static const char *const points[] = {"bus_after_claim", "bus_before_publish", "bus_after_publish"};

static void
subscriber_loop(struct ledger *l, shmkit_bus *b)
{
	uint64_t last[ROLES] = {0};
	uint32_t last_inc[ROLES] = {0};
	int seen[ROLES] = {0};
	unsigned char buf[512];
	for (;;) {
		uint64_t stop = atomic_load(&l->stop_at);
		int all = 1;
		for (int r = 0; r < ROLES; r++) {
			all &= seen[r] && last[r] + 1 == stop;
		}
		if (all) {
			return;
		}
		uint64_t lost = 0;
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += 20; /* never stall: a dead claim is skipped in a slice */
		ssize_t n = shmkit_bus_recv(b, buf, sizeof(buf), &lost, 0, &dl);
		if (n < 0) {
			fail(l, "recv failed", (uint64_t)-n, 0);
		}
		struct msg m;
		if ((size_t)n < sizeof(m)) {
			fail(l, "short", (uint64_t)n, 0);
		}
		memcpy(&m, buf, sizeof(m));
		if (m.role >= ROLES || m.len != (size_t)n - sizeof(m) ||
		    th_crc32(buf + sizeof(m), m.len) != m.crc) {
			fail(l, "torn", m.seq, m.role);
		}
		if (lost != 0) {
			fail(l, "lost on a reliable bus", lost, m.seq);
		}
		uint32_t r = m.role;
		int first = !seen[r] && m.seq == 0;
		int next = seen[r] && m.seq == last[r] + 1;
		int retry = seen[r] && m.seq == last[r] && m.inc > last_inc[r];
		if (!first && !next && !retry) {
			fail(l, "gap, duplicate or reorder", m.seq, seen[r] ? last[r] : UINT64_MAX);
		}
		seen[r] = 1;
		last[r] = m.seq;
		last_inc[r] = m.inc;
		atomic_fetch_add(&l->accepted, 1);
	}
}

static pid_t
start_pub(const char *bus, const char *lspec, int role, const char *point)
{
	char rs[8];
	snprintf(rs, sizeof(rs), "%d", role);
	return th_spawn_env("SHMKIT_CRASHPOINT", point, "publisher", bus, lspec, rs, NULL);
}

static unsigned
kills_wanted(void)
{
	const char *s = getenv("SHMKIT_SOAK");
	return s != NULL && strcmp(s, "1") == 0 ? KILLS_SOAK : KILLS_CI;
}

TEST_TIMEOUT(publishers_killed, 600)
{
	char bus[TH_SPEC_MAX], lspec[TH_SPEC_MAX];
	shmkit_bus_opts o;
	shmkit_bus *b;
	shmkit_bus_opts_init(&o);
	o.slots = 16;
	o.max_msg_size = 512;
	o.flags = SHMKIT_BUS_RELIABLE;
	th_spec(bus, sizeof(bus), "posix");
	ASSERT_OK(shmkit_bus_create(&b, bus, &o));
	shmkit_segment *lseg;
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.size = sizeof(struct ledger);
	th_spec(lspec, sizeof(lspec), "posix");
	ASSERT_OK(shmkit_segment_create(&lseg, lspec, &so));
	struct ledger *l = shmkit_segment_data(lseg);
	atomic_store(&l->stop_at, UINT64_MAX);

	/* Two subscribers, joined before any publisher. */
	pid_t subs[2];
	for (int i = 0; i < 2; i++) {
		subs[i] = th_fork();
		if (subs[i] == 0) {
			shmkit_bus *cs;
			if (shmkit_bus_open(&cs, bus) != 0 || shmkit_bus_subscribe(cs, 0) != 0) {
				th_exit(2);
			}
			atomic_fetch_add(&l->done_subs, 1);
			subscriber_loop(l, cs);
			shmkit_bus_close(cs);
			shmkit_segment_close(lseg);
			th_exit(0);
		}
	}
	int64_t until = th_now_ms() + 10000;
	while (atomic_load(&l->done_subs) < 2 && th_now_ms() < until) {
		th_sleep_ms(1);
	}
	pid_t pubs[ROLES];
	for (int r = 0; r < ROLES; r++) {
		pubs[r] = start_pub(bus, lspec, r, NULL);
	}
	uint64_t rng = 0x2545f4914f6cdd1dull;
	unsigned kills = kills_wanted(), done = 0, at_point[3] = {0};
	uint64_t progress = 0;
	int64_t since = th_now_ms();
	while (done < kills) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		int role = (int)(rng & 1);
		int status;
		usleep((useconds_t)((rng >> 8) % 2000));
		kill(pubs[role], SIGKILL);
		status = th_wait(pubs[role]);
		if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
			th_fail(__FILE__, __LINE__, "publisher ended: %d: %s", status, l->why);
		}
		done++;
		const char *point = NULL;
		unsigned which = (unsigned)((rng >> 24) % 3);
		if ((rng >> 20) & 1) {
			point = points[which];
		}
		pubs[role] = start_pub(bus, lspec, role, point);
		if (point != NULL) {
			int64_t t = th_now_ms() + 100;
			int reaped = 0;
			while (!reaped && th_now_ms() < t) {
				reaped = waitpid(pubs[role], &status, WNOHANG) == pubs[role];
				if (!reaped) {
					usleep(500);
				}
			}
			if (reaped) {
				ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
				done++;
				at_point[which]++;
				pubs[role] = start_pub(bus, lspec, role, NULL);
			}
		}
		ASSERT_EQ(atomic_load(&l->failures), 0);
		uint64_t acc = atomic_load(&l->accepted);
		if (acc != progress) {
			progress = acc;
			since = th_now_ms();
		}
		ASSERT_LT(th_now_ms() - since, 30000); /* the subscribers never stall */
	}
	/* The end: each role finishes 500 more. */
	uint64_t top = 0;
	for (int r = 0; r < ROLES; r++) {
		uint64_t s = atomic_load(&l->prod[r]) >> 1;
		top = s > top ? s : top;
	}
	atomic_store(&l->stop_at, top + 500);
	for (int r = 0; r < ROLES; r++) {
		int st = th_wait(pubs[r]);
		/* One started at a crash point that came late dies there now. */
		while (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
			pubs[r] = start_pub(bus, lspec, r, NULL);
			st = th_wait(pubs[r]);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			th_fail(__FILE__, __LINE__, "publisher %d: %d: %s", r, st, l->why);
		}
	}
	for (int i = 0; i < 2; i++) {
		int st = th_wait(subs[i]);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			th_fail(__FILE__, __LINE__, "subscriber %d: %d: %s", i, st, l->why);
		}
	}
	for (int k = 0; k < 3; k++) {
		th_log("died at %-20s %u", points[k], at_point[k]);
		ASSERT_GT(at_point[k], 0);
	}
	th_log("%u kills, %llu messages accepted", done,
	       (unsigned long long)atomic_load(&l->accepted));
	/* Capacity back to 100 %: with nobody subscribed, a whole log of
	 * claims goes through at once (holes and dead entries reclaimed). */
	for (uint32_t k = 0; k < o.slots; k++) {
		ASSERT_OK(shmkit_bus_send(b, &k, sizeof(k), SHMKIT_BUS_F_NOWAIT, NULL));
	}
	shmkit_bus_info in;
	ASSERT_OK(shmkit_bus_stat(b, &in));
	ASSERT_EQ(in.subscribers, 0);
	ASSERT_OK(shmkit_segment_destroy(lseg));
	ASSERT_OK(shmkit_bus_remove(b));
}

/* T04: subscribers killed holding a loan never hold a reliable bus. */
TEST_TIMEOUT(subscribers_killed_holding_loans, 300)
{
	char bus[TH_SPEC_MAX];
	shmkit_bus_opts o;
	shmkit_bus *p, *live;
	shmkit_bus_opts_init(&o);
	o.slots = 8;
	o.max_msg_size = 64;
	o.max_subscribers = 16;
	o.flags = SHMKIT_BUS_RELIABLE;
	th_spec(bus, sizeof(bus), "posix");
	ASSERT_OK(shmkit_bus_create(&p, bus, &o));
	ASSERT_OK(shmkit_bus_open(&live, bus));
	ASSERT_OK(shmkit_bus_subscribe(live, 0));
	uint32_t next = 0, expect = 0;
	for (int round = 0; round < 200; round++) {
		int ready[2];
		ASSERT_EQ(pipe(ready), 0);
		pid_t pid = th_fork();
		if (pid == 0) {
			shmkit_bus *c;
			const void *m;
			if (shmkit_bus_open(&c, bus) != 0 || shmkit_bus_subscribe(c, 0) != 0 ||
			    write(ready[1], "r", 1) != 1) {
				th_exit(2);
			}
			/* Peek one message, and die holding it. */
			if (shmkit_bus_peek(c, &m, NULL, 0, NULL) < 0) {
				th_exit(3);
			}
			kill(getpid(), SIGKILL);
			th_exit(4);
		}
		char x;
		ASSERT_EQ(read(ready[0], &x, 1), 1);
		close(ready[0]);
		close(ready[1]);
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += 20;
		ASSERT_OK(shmkit_bus_send(p, &next, sizeof(next), 0, &dl));
		next++;
		ASSERT_SIGNALED(th_wait(pid), SIGKILL);
		/* More than a whole log: the dead holder is in the way, then
		 * removed. The live subscriber keeps up. */
		for (uint32_t k = 0; k < o.slots + 2; k++) {
			clock_gettime(CLOCK_MONOTONIC, &dl);
			dl.tv_sec += 20;
			ASSERT_OK(shmkit_bus_send(p, &next, sizeof(next), 0, &dl));
			next++;
			while (expect < next) {
				uint32_t v;
				uint64_t lost;
				ASSERT_EQ(shmkit_bus_recv(live, &v, sizeof(v), &lost, 0, NULL), 4);
				ASSERT_EQ(v, expect);
				ASSERT_EQ(lost, 0);
				expect++;
			}
		}
	}
	shmkit_bus_info in;
	ASSERT_OK(shmkit_bus_stat(p, &in));
	ASSERT_EQ(in.subscribers, 1);
	ASSERT_LE(in.dead_subscribers, 1); /* the last one, until it is in the way */
	/* A release of nothing (double, or forged) is refused. */
	ASSERT_ERR(shmkit_bus_release(live), -EINVAL);
	ASSERT_OK(shmkit_bus_close(live));
	ASSERT_OK(shmkit_bus_remove(p));
}
