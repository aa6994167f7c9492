/* SPDX-License-Identifier: MIT */
/* T09 for rings and buses: their shared words mutated at random, every call checked. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/*
 * A ring (messages), a ring (bytes) and a bus (lossy, then reliable) are
 * made once, brought into a state with data in them (records that wrap with
 * a pad, a pending batch, a lapped reader...), and their data area saved.
 * Each round restores it, flips 1 to 16 random bytes (or writes a random
 * 64-bit word) in the parts a reader interprets (docs/RING.md and
 * docs/BUS.md, section 1: the control lines, record headers, slot words
 * and lengths, subscriber and publisher entries, sleeper bitmaps; the ready
 * word is left alone: 0 there means "the creator is at work", and an opener
 * waits for its live creator, which would only slow the rounds), then opens
 * the object by name and runs every call without waiting. The checks:
 * nothing crashes (this runs under ASan+UBSan in CI) or hangs (the case's
 * watchdog); every result is one the header documents for that call; what
 * is returned stays inside the buffer or the mapping.
 *
 * SHMKIT_FUZZ_ITERS sets the rounds per object (default 50,000; the seed is
 * the round number, so a failure names the round that reproduces it).
 */

static unsigned long
iters(void)
{
	const char *s = getenv("SHMKIT_FUZZ_ITERS");
	return s != NULL ? strtoul(s, NULL, 10) : 50000;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A result must be in @ok (ends with 1: any length >= 0 allowed). */
static void
check(long long v, const long long *ok, size_t n, const char *what, unsigned long round)
{
	for (size_t i = 0; i < n; i++) {
		if (ok[i] == 1 ? v >= 0 : v == ok[i]) {
			return;
		}
	}
	char b[160];
	th_fail(__FILE__, __LINE__, "round %lu: %s gave %s", round, what,
		th_errdesc(v, b, sizeof(b)));
}

#define CHECK(v, ...)                                                                              \
	do {                                                                                       \
		const long long ok_[] = {__VA_ARGS__};                                             \
		check((long long)(v), ok_, sizeof(ok_) / sizeof(ok_[0]), #v, round);               \
	} while (0)

/* The errors any call on a corrupted object may give besides its own. */
#define CORRUPT -EBADMSG

/* Mutate @n bytes of @area at offsets from @regions (pairs: start, length). */
static void
mutate(unsigned char *area, const size_t *regions, size_t nreg, uint64_t *s, size_t skip_lo,
       size_t skip_hi)
{
	int flips = 1 + (int)(rnd(s) % 16);
	for (int k = 0; k < flips; k++) {
		size_t r = (size_t)(rnd(s) % nreg);
		size_t off = regions[2 * r] + (size_t)(rnd(s) % regions[2 * r + 1]);
		int word = rnd(s) % 4 == 0 && off + 8 <= regions[2 * r] + regions[2 * r + 1];
		if (off < skip_hi && off + (word ? 8 : 1) > skip_lo) {
			continue; /* the ready word */
		}
		if (word) {
			uint64_t w = rnd(s);
			if (rnd(s) % 2) {
				w &= 0xffff; /* small values: near the real ones */
			}
			memcpy(area + off, &w, 8);
		} else {
			area[off] ^= (unsigned char)(1u << (rnd(s) % 8));
		}
	}
}

/* ---- rings ---- */

#define RING_DATA 3968u /* docs/RING.md: the ring bytes start there */

/* Rounds in which a call succeeded after the mutation (reported: a run
 * where every open fails would test nothing). */
static unsigned long opened_ok;

static void
ring_round(const char *spec, int bytes, unsigned long round)
{
	shmkit_ring *p = NULL, *c = NULL;
	int rp = shmkit_ring_open(&p, spec, SHMKIT_RING_PRODUCER);
	CHECK(rp, 0, CORRUPT, -EBUSY, -EPROTO);
	int rc = shmkit_ring_open(&c, spec, SHMKIT_RING_CONSUMER);
	CHECK(rc, 0, CORRUPT, -EBUSY, -EPROTO);
	unsigned char buf[600];
	const void *ptr;
	void *w;
	shmkit_ring_info in;
	if (rc == 0) {
		CHECK(shmkit_ring_stat(c, &in), 0, CORRUPT);
		for (int k = 0; k < 4; k++) {
			ssize_t n = bytes ? shmkit_ring_read(c, buf, sizeof(buf),
							     SHMKIT_RING_F_NOWAIT, NULL)
					  : shmkit_ring_recv(c, buf, sizeof(buf),
							     SHMKIT_RING_F_NOWAIT, NULL);
			CHECK(n, 1, -EAGAIN, -EPIPE, -EMSGSIZE, CORRUPT);
			opened_ok += n >= 0;
			if (n > (ssize_t)sizeof(buf)) {
				th_fail(__FILE__, __LINE__, "round %lu: %zd bytes", round, n);
			}
		}
		ssize_t n = shmkit_ring_peek(c, &ptr, SHMKIT_RING_F_NOWAIT, NULL);
		CHECK(n, 1, -EAGAIN, -EPIPE, CORRUPT);
		if (n > 0) {
			/* In the mapping: touch it (ASan would see a wild one). */
			volatile unsigned char x = ((const unsigned char *)ptr)[n - 1];
			(void)x;
			CHECK(shmkit_ring_release(c, SIZE_MAX), 0, CORRUPT);
		}
	}
	if (rp == 0) {
		CHECK(shmkit_ring_stat(p, &in), 0, CORRUPT);
		for (int k = 0; k < 4; k++) {
			size_t len = (size_t)(round * 37 + (unsigned long)k * 101) % 500;
			memset(buf, k, len + 1);
			if (bytes) {
				CHECK(shmkit_ring_write(p, buf, len + 1, SHMKIT_RING_F_NOWAIT,
							NULL),
				      1, -EAGAIN, CORRUPT);
			} else {
				CHECK(shmkit_ring_send(p, buf, len, SHMKIT_RING_F_NOWAIT, NULL), 0,
				      -EAGAIN, -EMSGSIZE, CORRUPT);
			}
		}
		ssize_t n = shmkit_ring_reserve(p, 64, &w, SHMKIT_RING_F_NOWAIT, NULL);
		CHECK(n, 1, -EAGAIN, CORRUPT);
		if (n > 0) {
			memset(w, 0x5a, (size_t)n);
			CHECK(shmkit_ring_commit(p, (size_t)n, SHMKIT_RING_F_MORE), 0, CORRUPT);
			CHECK(shmkit_ring_flush(p), 0);
		}
	}
	if (rc == 0) {
		for (int k = 0; k < 2; k++) {
			ssize_t n = bytes ? shmkit_ring_read(c, buf, sizeof(buf),
							     SHMKIT_RING_F_NOWAIT, NULL)
					  : shmkit_ring_recv(c, buf, sizeof(buf),
							     SHMKIT_RING_F_NOWAIT, NULL);
			/* -EBUSY: a release refused above left messages peeked. */
			CHECK(n, 1, -EAGAIN, -EPIPE, -EMSGSIZE, -EBUSY, CORRUPT);
		}
	}
	shmkit_ring_close(p);
	shmkit_ring_close(c);
}

static void
ring_fuzz(int bytes)
{
	opened_ok = 0;
	char spec[TH_SPEC_MAX];
	shmkit_ring_opts o;
	shmkit_ring *p, *c;
	shmkit_ring_opts_init(&o);
	o.capacity = 4096;
	o.max_msg_size = bytes ? 0 : 512;
	o.flags = bytes ? SHMKIT_RING_BYTES : 0;
	th_spec(spec, sizeof(spec), "posix");
	ASSERT_OK(shmkit_ring_create(&p, spec, &o, SHMKIT_RING_PRODUCER));
	ASSERT_OK(shmkit_ring_open(&c, spec, SHMKIT_RING_CONSUMER));
	/* A state worth corrupting: laps done, records wrapping with a pad,
	 * some unread, a batch committed and published. */
	unsigned char buf[500];
	for (int k = 0; k < 40; k++) {
		memset(buf, k, sizeof(buf));
		if (bytes) {
			ASSERT_GT(shmkit_ring_write(p, buf, 300, 0, NULL), 0);
			if (k < 38) {
				ASSERT_GT(shmkit_ring_read(c, buf, sizeof(buf), 0, NULL), 0);
			}
		} else {
			ASSERT_OK(shmkit_ring_send(p, buf, (size_t)(k * 13) % 400, 0, NULL));
			if (k < 34) {
				ASSERT_OK(shmkit_ring_recv(c, buf, sizeof(buf), 0, NULL));
			}
		}
	}
	ASSERT_OK(shmkit_ring_close(c));
	ASSERT_OK(shmkit_ring_close(p)); /* roles free: each round takes them */
	shmkit_segment *seg;
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.kind = SHMKIT_KIND_ANY;
	ASSERT_OK(shmkit_segment_open(&seg, spec, &so));
	unsigned char *d = shmkit_segment_data(seg);
	size_t len = RING_DATA + 4096;
	unsigned char *saved = malloc(len);
	ASSERT_TRUE(saved != NULL);
	memcpy(saved, d, len);
	/* meta (the ready word, bytes 28..31, left alone), both lines, the
	 * addresses, and the ring bytes (record headers among them). */
	const size_t regions[] = {0, 64, 64, 64, 128, 64, 192, 64, RING_DATA, 4096};
	unsigned long n = iters();
	for (unsigned long round = 0; round < n; round++) {
		uint64_t s = 0x9e3779b97f4a7c15ull ^ (round + 1) * 0x2545f4914f6cdd1dull;
		memcpy(d, saved, len);
		mutate(d, regions, 5, &s, 28, 32);
		ring_round(spec, bytes, round);
	}
	free(saved);
	th_log("%lu rounds, %lu receives that succeeded after the mutation", n, opened_ok);
	ASSERT_GT(opened_ok, n / 10);
	ASSERT_OK(shmkit_segment_close(seg));
	ASSERT_OK(shmkit_segment_remove(spec));
}

TEST_TIMEOUT(ring_messages, 600)
{
	ring_fuzz(0);
}

TEST_TIMEOUT(ring_bytes, 600)
{
	ring_fuzz(1);
}

/* ---- buses ---- */

static void
bus_round(const char *spec, unsigned long round)
{
	shmkit_bus *b = NULL;
	int rc = shmkit_bus_open(&b, spec);
	CHECK(rc, 0, CORRUPT, -EPROTO);
	if (rc != 0) {
		return;
	}
	shmkit_bus_info in;
	shmkit_bus_sub_info si[8];
	unsigned char buf[200];
	const void *ptr;
	void *w;
	uint64_t lost;
	CHECK(shmkit_bus_stat(b, &in), 0);
	CHECK(shmkit_bus_subscribers(b, si, 8), 1);
	int sub = shmkit_bus_subscribe(b, round % 11);
	CHECK(sub, 0, -EUSERS);
	for (int k = 0; k < 3; k++) {
		CHECK(shmkit_bus_send(b, buf, (size_t)(round + (unsigned long)k) % 150,
				      SHMKIT_BUS_F_NOWAIT, NULL),
		      0, -EAGAIN, -EUSERS, -ESTALE, CORRUPT);
	}
	int lrc = shmkit_bus_loan(b, 100, &w, SHMKIT_BUS_F_NOWAIT, NULL);
	CHECK(lrc, 0, -EAGAIN, -EUSERS, CORRUPT);
	if (lrc == 0) {
		memset(w, 7, 100);
		CHECK(shmkit_bus_publish(b, 100), 0, -ESTALE);
	}
	if (sub == 0) {
		for (int k = 0; k < 6; k++) {
			ssize_t n = shmkit_bus_recv(b, buf, sizeof(buf), &lost, SHMKIT_BUS_F_NOWAIT,
						    NULL);
			CHECK(n, 1, -EAGAIN, -EMSGSIZE, CORRUPT);
			opened_ok += n >= 0;
			if (n > (ssize_t)sizeof(buf)) {
				th_fail(__FILE__, __LINE__, "round %lu: %zd bytes", round, n);
			}
		}
		ssize_t n = shmkit_bus_peek(b, &ptr, &lost, SHMKIT_BUS_F_NOWAIT, NULL);
		CHECK(n, 1, -EAGAIN, CORRUPT);
		if (n > 0) {
			volatile unsigned char x = ((const unsigned char *)ptr)[n - 1];
			(void)x;
			CHECK(shmkit_bus_release(b), 0, -ESTALE);
		}
		CHECK(shmkit_bus_unsubscribe(b), 0);
	}
	shmkit_bus_close(b);
}

static void
bus_fuzz(uint32_t flags)
{
	opened_ok = 0;
	char spec[TH_SPEC_MAX];
	shmkit_bus_opts o;
	shmkit_bus *p, *s;
	shmkit_bus_opts_init(&o);
	o.slots = 8;
	o.max_msg_size = 160;
	o.max_subscribers = 4;
	o.max_publishers = 2;
	o.flags = flags;
	th_spec(spec, sizeof(spec), "posix");
	ASSERT_OK(shmkit_bus_create(&p, spec, &o));
	ASSERT_OK(shmkit_bus_open(&s, spec));
	ASSERT_OK(shmkit_bus_subscribe(s, 0));
	unsigned char buf[160];
	for (int k = 0; k < 30; k++) {
		memset(buf, k, sizeof(buf));
		ASSERT_OK(
			shmkit_bus_send(p, buf, (size_t)(k * 7) % 150, SHMKIT_BUS_F_NOWAIT, NULL));
		if (k % 3 != 2 || flags) {
			uint64_t lost;
			ASSERT_GT(shmkit_bus_recv(s, buf, sizeof(buf), &lost, 0, NULL), -1);
		}
	}
	ASSERT_OK(shmkit_bus_close(s));
	ASSERT_OK(shmkit_bus_close(p));
	shmkit_segment *seg;
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.kind = SHMKIT_KIND_ANY;
	ASSERT_OK(shmkit_segment_open(&seg, spec, &so));
	unsigned char *d = shmkit_segment_data(seg);
	/* docs/BUS.md: 3 lines, two bitmap lines, 2 publishers, 4
	 * subscribers, then 8 slots of 16 + 160 rounded to 192 bytes. */
	size_t ring = 3 * 64 + 2 * 64 + 2 * 64 + 4 * 64;
	size_t len = ring + 8 * 192;
	unsigned char *saved = malloc(len);
	ASSERT_TRUE(saved != NULL);
	memcpy(saved, d, len);
	size_t regions[2 * 11] = {0, 192, 192, 128, 320, 128, 448, 256};
	size_t nreg = 4;
	for (size_t k = 0; k < 7; k++) {
		regions[2 * nreg] = ring + k * 192; /* slot words and lengths */
		regions[2 * nreg + 1] = 16;
		nreg++;
	}
	unsigned long n = iters();
	for (unsigned long round = 0; round < n; round++) {
		uint64_t seed = 0x2545f4914f6cdd1dull ^ (round + 1) * 0x9e3779b97f4a7c15ull;
		memcpy(d, saved, len);
		/* The meta's ready word is bytes 40..43. */
		mutate(d, regions, nreg, &seed, 40, 44);
		bus_round(spec, round);
	}
	free(saved);
	th_log("%lu rounds, %lu receives that succeeded after the mutation", n, opened_ok);
	ASSERT_GT(opened_ok, n / 10);
	ASSERT_OK(shmkit_segment_close(seg));
	ASSERT_OK(shmkit_segment_remove(spec));
}

TEST_TIMEOUT(bus_lossy, 600)
{
	bus_fuzz(0);
}

TEST_TIMEOUT(bus_reliable, 600)
{
	bus_fuzz(SHMKIT_BUS_RELIABLE);
}
