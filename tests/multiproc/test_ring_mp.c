/* SPDX-License-Identifier: MIT */
/* shmkit_ring under stress: checksummed, sequenced payloads across processes and threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/*
 * Every message carries (sequence, length, CRC of the body): the consumer
 * checks each against the next expected sequence, so loss, duplication,
 * reordering and tearing all fail the case. The matrix runs over ring
 * sizes, message sizes (pads at the end of the ring included), the three
 * waiting strategies on each side, and the copying and zero-copy (batched)
 * paths; then a byte stream with a running checksum. Threads (one process,
 * two threads) are the form TSan checks (T14); processes the real use.
 */

struct head {
	uint64_t seq;
	uint32_t len;
	uint32_t crc;
};

struct plan {
	const char *spec;
	uint64_t count;
	uint32_t max_body;
	int pwait, cwait;
	int zero_copy;
};

static uint64_t
next_rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Return 0, or a line number where it went wrong. */
static int
produce(const struct plan *pl)
{
	shmkit_ring *r;
	if (shmkit_ring_open(&r, pl->spec, SHMKIT_RING_PRODUCER) != 0) {
		return __LINE__;
	}
	shmkit_ring_set_wait(r, pl->pwait);
	static _Thread_local unsigned char buf[70000];
	uint64_t rng = 88172645463325252ull;
	for (uint64_t seq = 0; seq < pl->count; seq++) {
		uint32_t body = (uint32_t)(next_rng(&rng) % (pl->max_body + 1));
		struct head h = {.seq = seq, .len = body};
		th_fill(buf + sizeof(h), body, seq);
		h.crc = th_crc32(buf + sizeof(h), body);
		memcpy(buf, &h, sizeof(h));
		if (pl->zero_copy) {
			void *w;
			if (shmkit_ring_reserve(r, sizeof(h) + body, &w, 0, NULL) < 0) {
				return __LINE__;
			}
			memcpy(w, buf, sizeof(h) + body);
			/* Publish in batches of 4. */
			unsigned more =
				(seq % 4 != 3 && seq + 1 < pl->count) ? SHMKIT_RING_F_MORE : 0;
			if (shmkit_ring_commit(r, sizeof(h) + body, more) != 0) {
				return __LINE__;
			}
		} else if (shmkit_ring_send(r, buf, sizeof(h) + body, 0, NULL) != 0) {
			return __LINE__;
		}
	}
	if (shmkit_ring_shutdown(r) != 0 || shmkit_ring_close(r) != 0) {
		return __LINE__;
	}
	return 0;
}

static int
check(const void *p, size_t n, uint64_t want)
{
	struct head h;
	if (n < sizeof(h)) {
		return 0;
	}
	memcpy(&h, p, sizeof(h));
	return h.seq == want && h.len == n - sizeof(h) &&
	       th_crc32((const unsigned char *)p + sizeof(h), h.len) == h.crc;
}

static int
consume(const struct plan *pl)
{
	shmkit_ring *r;
	if (shmkit_ring_open(&r, pl->spec, SHMKIT_RING_CONSUMER) != 0) {
		return __LINE__;
	}
	shmkit_ring_set_wait(r, pl->cwait);
	static _Thread_local unsigned char buf[70000];
	uint64_t seq = 0;
	for (;;) {
		if (pl->zero_copy) {
			/* Peek up to 3, then release them together. */
			int held = 0;
			for (; held < 3; held++) {
				const void *p;
				ssize_t n = shmkit_ring_peek(r, &p, held ? SHMKIT_RING_F_NOWAIT : 0,
							     NULL);
				if (n == -EAGAIN || (n == -EPIPE && held > 0)) {
					break;
				}
				if (n == -EPIPE) {
					goto end;
				}
				if (n < 0 || !check(p, (size_t)n, seq)) {
					return __LINE__;
				}
				seq++;
			}
			if (shmkit_ring_release(r, SIZE_MAX) != 0) {
				return __LINE__;
			}
			continue;
		}
		ssize_t n = shmkit_ring_recv(r, buf, sizeof(buf), 0, NULL);
		if (n == -EPIPE) {
			break;
		}
		if (n < 0 || !check(buf, (size_t)n, seq)) {
			return __LINE__;
		}
		seq++;
	}
end:
	if (seq != pl->count) {
		return __LINE__;
	}
	shmkit_ring_info in;
	if (shmkit_ring_stat(r, &in) != 0 || in.used != 0 || in.sent != pl->count ||
	    in.received != pl->count) {
		return __LINE__;
	}
	shmkit_ring_close(r);
	return 0;
}

static void
make(char *spec, size_t len, uint64_t cap, uint32_t flags)
{
	shmkit_ring_opts o;
	shmkit_ring *r;
	shmkit_ring_opts_init(&o);
	o.capacity = cap;
	o.flags = flags;
	if (!(flags & SHMKIT_RING_BYTES)) {
		o.max_msg_size = 70000 < cap - 8 ? 70000 : cap - 8;
	}
	th_spec(spec, len, "posix");
	ASSERT_OK(shmkit_ring_create(&r, spec, &o, SHMKIT_RING_NONE));
	ASSERT_OK(shmkit_ring_close(r));
}

static void
run_processes(struct plan *pl)
{
	pid_t p = th_fork();
	if (p == 0) {
		int line = produce(pl);
		if (line != 0) {
			th_log("producer failed at line %d", line);
		}
		th_exit(line != 0);
	}
	int line = consume(pl);
	if (line != 0) {
		kill(p, SIGKILL);
		th_wait(p);
		th_fail(__FILE__, line, "consumer failed");
	}
	ASSERT_EXIT(th_wait(p), 0);
}

TEST_TIMEOUT(processes_matrix, 300)
{
	static const uint64_t caps[] = {4096, 65536, 1u << 20};
	static const uint32_t bodies[] = {48, 1000, 60000};
	int k = 0;
	for (size_t c = 0; c < 3; c++) {
		for (size_t b = 0; b < 3; b++) {
			char spec[TH_SPEC_MAX];
			struct plan pl = {.spec = spec};
			uint32_t body = bodies[b];
			if (body + sizeof(struct head) > caps[c] - 8) {
				body = (uint32_t)(caps[c] - 8 - sizeof(struct head));
			}
			pl.max_body = body;
			pl.count = body > 10000 ? 3000 : 20000;
			pl.pwait = k % 3;
			pl.cwait = (k / 3 + k) % 3;
			pl.zero_copy = k % 2;
			make(spec, sizeof(spec), caps[c], 0);
			th_context("cap %llu body %u waits %d/%d zero-copy %d",
				   (unsigned long long)caps[c], body, pl.pwait, pl.cwait,
				   pl.zero_copy);
			run_processes(&pl);
			ASSERT_OK(shmkit_segment_remove(spec));
			k++;
		}
	}
}

/* A byte stream of odd-sized writes and reads; the bytes are the same. */
TEST_TIMEOUT(processes_bytes, 120)
{
	char spec[TH_SPEC_MAX];
	make(spec, sizeof(spec), 8192, SHMKIT_RING_BYTES);
	const size_t total = 8u << 20;
	pid_t p = th_fork();
	if (p == 0) {
		shmkit_ring *r;
		static unsigned char buf[5000];
		if (shmkit_ring_open(&r, spec, SHMKIT_RING_PRODUCER) != 0) {
			th_exit(2);
		}
		uint64_t rng = 7;
		for (size_t done = 0; done < total;) {
			size_t n = 1 + next_rng(&rng) % sizeof(buf);
			n = n < total - done ? n : total - done;
			for (size_t i = 0; i < n; i++) {
				buf[i] = (unsigned char)((done + i) * 2654435761u >> 13);
			}
			if (shmkit_ring_write(r, buf, n, 0, NULL) != (ssize_t)n) {
				th_exit(3);
			}
			done += n;
		}
		shmkit_ring_shutdown(r);
		th_exit(0);
	}
	shmkit_ring *r;
	ASSERT_OK(shmkit_ring_open(&r, spec, SHMKIT_RING_CONSUMER));
	static unsigned char buf[7000];
	uint64_t rng = 11;
	size_t got = 0;
	for (;;) {
		size_t cap = 1 + next_rng(&rng) % sizeof(buf);
		ssize_t n = shmkit_ring_read(r, buf, cap, 0, NULL);
		ASSERT_GE(n, 0);
		if (n == 0) {
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != (unsigned char)((got + (size_t)i) * 2654435761u >> 13)) {
				th_fail(__FILE__, __LINE__, "byte %zu differs", got + (size_t)i);
			}
		}
		got += (size_t)n;
	}
	ASSERT_EQ(got, total);
	ASSERT_EXIT(th_wait(p), 0);
	ASSERT_OK(shmkit_ring_remove(r));
}

static void *
producer_thread(void *arg)
{
	return (void *)(intptr_t)produce(arg);
}

/* T14: the same protocol between two threads, for TSan to check. */
TEST_TIMEOUT(threads, 300)
{
	for (int k = 0; k < 6; k++) {
		char spec[TH_SPEC_MAX];
		struct plan pl = {.spec = spec, .count = 5000, .max_body = k < 3 ? 100 : 3000};
		pl.pwait = k % 3;
		pl.cwait = (k + 1) % 3;
		pl.zero_copy = k % 2;
		make(spec, sizeof(spec), 8192, 0);
		pthread_t t;
		ASSERT_EQ(pthread_create(&t, NULL, producer_thread, &pl), 0);
		int line = consume(&pl);
		void *ret;
		pthread_join(t, &ret);
		ASSERT_EQ(line, 0);
		ASSERT_EQ((intptr_t)ret, 0);
		ASSERT_OK(shmkit_segment_remove(spec));
	}
}
