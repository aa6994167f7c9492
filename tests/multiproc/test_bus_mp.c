/* SPDX-License-Identifier: MIT */
/* shmkit_bus under stress: 1 to 64 subscribers, several publishers, checksummed and counted. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

/*
 * Every message carries (publisher, sequence of that publisher, length,
 * CRC). A subscriber checks, per publisher, that sequences only go up and
 * that each gap is paid for: on a reliable bus there is none; on a lossy
 * one the lost counts the bus reports add up exactly to the gaps once the
 * last message of every publisher arrived (no silent loss, no invented
 * one), and are never behind them. Every payload is checked (no tearing).
 * Processes are the real use; the threaded case is the form TSan checks
 * (T14).
 */

#define MAX_PUB 4

struct head {
	uint32_t pub, len;
	uint64_t seq;
	uint32_t crc, pad;
};

struct plan {
	const char *spec;
	int pubs;
	uint64_t per_pub;
	uint32_t max_body;
	int wait;
	int reliable;
	/* Filled by each subscriber: what it saw. */
	_Atomic uint64_t *done; /* subscribers finished */
};

static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int
publish(const struct plan *pl, uint32_t id)
{
	shmkit_bus *b;
	if (shmkit_bus_open(&b, pl->spec) != 0) {
		return __LINE__;
	}
	shmkit_bus_set_wait(b, pl->wait);
	unsigned char buf[4096];
	uint64_t rng = 0x9e3779b97f4a7c15ull + id;
	for (uint64_t seq = 0; seq < pl->per_pub; seq++) {
		uint32_t body = (uint32_t)(rng_next(&rng) % (pl->max_body + 1));
		struct head h = {.pub = id, .len = body, .seq = seq};
		th_fill(buf + sizeof(h), body, seq * 7 + id);
		h.crc = th_crc32(buf + sizeof(h), body);
		memcpy(buf, &h, sizeof(h));
		int rc;
		if (seq % 3 == 0) {
			void *w;
			rc = shmkit_bus_loan(b, sizeof(h) + body, &w, 0, NULL);
			if (rc == 0) {
				memcpy(w, buf, sizeof(h) + body);
				rc = shmkit_bus_publish(b, sizeof(h) + body);
			}
		} else {
			rc = shmkit_bus_send(b, buf, sizeof(h) + body, 0, NULL);
		}
		if (rc == -ESTALE && !pl->reliable) {
			/* Lapped by another publisher while we held the claim
			 * (preempted): not published; send it again. */
			seq--;
			continue;
		}
		if (rc != 0) {
			th_log("publish: %d", rc);
			return __LINE__;
		}
		if (!pl->reliable && seq % 64 == 0) {
			usleep(50); /* give lossy readers a chance to keep up */
		}
	}
	shmkit_bus_close(b);
	return 0;
}

/* Read until every publisher's last message (or, lossy, a quiet second
 * after the publishers are done). Return 0 or a failing line. */
static int
subscribe(const struct plan *pl, shmkit_bus *b, _Atomic uint32_t *pubs_done)
{
	int64_t next[MAX_PUB];
	uint64_t gaps = 0, reported = 0, got = 0;
	unsigned char buf[4096];
	for (int i = 0; i < MAX_PUB; i++) {
		next[i] = 0;
	}
	for (;;) {
		int all = 1;
		for (int i = 0; i < pl->pubs; i++) {
			all &= (uint64_t)next[i] == pl->per_pub;
		}
		if (all) {
			break;
		}
		uint64_t lost = 0;
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += 1;
		ssize_t n = shmkit_bus_recv(b, buf, sizeof(buf), &lost, 0, &dl);
		if (n == -ETIMEDOUT && !pl->reliable &&
		    atomic_load(pubs_done) == (uint32_t)pl->pubs) {
			/* The ends were lapped: count them as gaps. */
			for (int i = 0; i < pl->pubs; i++) {
				gaps += pl->per_pub - (uint64_t)next[i];
			}
			/* Lost at the very end is never reported (no message
			 * follows): it is bounded by the log. */
			if (gaps - reported > 64 * 1024) {
				return __LINE__;
			}
			return reported <= gaps ? 0 : __LINE__;
		}
		if (n < 0) {
			th_log("recv: %zd", n);
			return __LINE__;
		}
		struct head h;
		if ((size_t)n < sizeof(h)) {
			return __LINE__;
		}
		memcpy(&h, buf, sizeof(h));
		if (h.pub >= (uint32_t)pl->pubs || h.len != (size_t)n - sizeof(h) ||
		    th_crc32(buf + sizeof(h), h.len) != h.crc) {
			return __LINE__;
		}
		if ((int64_t)h.seq < next[h.pub]) {
			return __LINE__; /* duplicated or reordered */
		}
		gaps += h.seq - (uint64_t)next[h.pub];
		reported += lost;
		next[h.pub] = (int64_t)h.seq + 1;
		got++;
		/* Every gap seen was reported by now (with this message or
		 * before; with several publishers a report may come before
		 * the gap shows, when the next of that publisher arrives). */
		if (reported < gaps) {
			th_log("reported %llu, gaps %llu", (unsigned long long)reported,
			       (unsigned long long)gaps);
			return __LINE__;
		}
	}
	/* The last of every publisher arrived: the account is exact. */
	if (reported != gaps || (pl->reliable && gaps != 0)) {
		th_log("reported %llu, gaps %llu", (unsigned long long)reported,
		       (unsigned long long)gaps);
		return __LINE__;
	}
	return 0;
}

struct shared {
	_Atomic uint32_t subscribed;
	_Atomic uint32_t pubs_done;
	_Atomic uint32_t failures;
};

static void
run(int subs, int pubs, int wait, int reliable, uint64_t per_pub, uint32_t slots)
{
	char spec[TH_SPEC_MAX];
	shmkit_bus_opts o;
	shmkit_bus *b;
	shmkit_bus_opts_init(&o);
	o.slots = slots;
	o.max_msg_size = 4096;
	o.max_subscribers = 64;
	o.flags = reliable ? SHMKIT_BUS_RELIABLE : 0;
	th_spec(spec, sizeof(spec), "posix");
	ASSERT_OK(shmkit_bus_create(&b, spec, &o));
	th_context("subs %d pubs %d wait %d reliable %d", subs, pubs, wait, reliable);
	struct shared *sh =
		mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(sh != MAP_FAILED);
	struct plan pl = {.spec = spec,
			  .pubs = pubs,
			  .per_pub = per_pub,
			  .max_body = 300,
			  .wait = wait,
			  .reliable = reliable};
	pid_t kids[64 + MAX_PUB];
	for (int i = 0; i < subs; i++) {
		kids[i] = th_fork();
		if (kids[i] == 0) {
			shmkit_bus *s;
			if (shmkit_bus_open(&s, spec) != 0 || shmkit_bus_subscribe(s, 0) != 0) {
				th_exit(2);
			}
			shmkit_bus_set_wait(s, wait);
			atomic_fetch_add(&sh->subscribed, 1);
			int line = subscribe(&pl, s, &sh->pubs_done);
			if (line != 0) {
				th_log("subscriber %d failed at line %d", i, line);
			}
			shmkit_bus_close(s);
			th_exit(line != 0);
		}
	}
	int64_t until = th_now_ms() + 30000;
	while (atomic_load(&sh->subscribed) < (uint32_t)subs && th_now_ms() < until) {
		th_sleep_ms(1);
	}
	ASSERT_EQ(atomic_load(&sh->subscribed), (uint32_t)subs);
	for (int i = 0; i < pubs; i++) {
		kids[subs + i] = th_fork();
		if (kids[subs + i] == 0) {
			int line = publish(&pl, (uint32_t)i);
			if (line != 0) {
				th_log("publisher %d failed at line %d", i, line);
			}
			atomic_fetch_add(&sh->pubs_done, 1);
			th_exit(line != 0);
		}
	}
	for (int i = 0; i < subs + pubs; i++) {
		ASSERT_EXIT(th_wait(kids[i]), 0);
	}
	munmap(sh, sizeof(*sh));
	ASSERT_OK(shmkit_bus_remove(b));
}

TEST_TIMEOUT(reliable_processes, 300)
{
	run(1, 1, SHMKIT_BUS_WAIT_SPIN, 1, 20000, 64);
	run(4, 2, SHMKIT_BUS_WAIT_DEFAULT, 1, 5000, 16);
	run(16, 3, SHMKIT_BUS_WAIT_DEFAULT, 1, 1000, 64);
	run(64, 1, SHMKIT_BUS_WAIT_SLEEP, 1, 300, 256);
}

TEST_TIMEOUT(lossy_processes, 300)
{
	run(1, 1, SHMKIT_BUS_WAIT_DEFAULT, 0, 20000, 8);
	run(4, 3, SHMKIT_BUS_WAIT_SPIN, 0, 5000, 16);
	run(16, 2, SHMKIT_BUS_WAIT_SLEEP, 0, 2000, 32);
}

struct tplan {
	struct plan pl;
	uint32_t id;
	shmkit_bus *sub;
	_Atomic uint32_t *pubs_done;
	int result;
};

static void *
pub_thread(void *arg)
{
	struct tplan *t = arg;
	t->result = publish(&t->pl, t->id);
	atomic_fetch_add(t->pubs_done, 1);
	return NULL;
}

static void *
sub_thread(void *arg)
{
	struct tplan *t = arg;
	t->result = subscribe(&t->pl, t->sub, t->pubs_done);
	return NULL;
}

/* T14: 2 publishers and 3 subscribers as threads, both policies. */
TEST_TIMEOUT(threads, 300)
{
	for (int reliable = 0; reliable < 2; reliable++) {
		char spec[TH_SPEC_MAX];
		shmkit_bus_opts o;
		shmkit_bus *b;
		shmkit_bus_opts_init(&o);
		o.slots = 16;
		o.max_msg_size = 4096;
		o.flags = reliable ? SHMKIT_BUS_RELIABLE : 0;
		th_spec(spec, sizeof(spec), "posix");
		ASSERT_OK(shmkit_bus_create(&b, spec, &o));
		_Atomic uint32_t pubs_done = 0;
		struct plan pl = {.spec = spec,
				  .pubs = 2,
				  .per_pub = 2000,
				  .max_body = 200,
				  .wait = reliable ? SHMKIT_BUS_WAIT_DEFAULT
						   : SHMKIT_BUS_WAIT_SLEEP,
				  .reliable = reliable};
		struct tplan t[5];
		pthread_t th[5];
		for (int i = 0; i < 3; i++) {
			t[i] = (struct tplan){.pl = pl, .pubs_done = &pubs_done};
			ASSERT_OK(shmkit_bus_open(&t[i].sub, spec));
			ASSERT_OK(shmkit_bus_subscribe(t[i].sub, 0));
			shmkit_bus_set_wait(t[i].sub, pl.wait);
			ASSERT_EQ(pthread_create(&th[i], NULL, sub_thread, &t[i]), 0);
		}
		for (int i = 3; i < 5; i++) {
			t[i] = (struct tplan){
				.pl = pl, .id = (uint32_t)(i - 3), .pubs_done = &pubs_done};
			ASSERT_EQ(pthread_create(&th[i], NULL, pub_thread, &t[i]), 0);
		}
		for (int i = 0; i < 5; i++) {
			pthread_join(th[i], NULL);
			ASSERT_EQ(t[i].result, 0);
		}
		for (int i = 0; i < 3; i++) {
			ASSERT_OK(shmkit_bus_close(t[i].sub));
		}
		ASSERT_OK(shmkit_bus_remove(b));
	}
}
