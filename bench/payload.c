/* SPDX-License-Identifier: MIT */
/* Fills every message with a sequence-derived pattern and checks it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

/*
 * Layout of a message of 16 bytes or more:
 *   bytes 0..7   sequence number (host order)
 *   bytes 8..15  digest of (sequence, length, body)
 *   bytes 16..   body: 64-bit words of an arithmetic pattern seeded by the
 *                sequence number, so that a stale or misplaced body fails
 * A message of exactly 8 bytes (the word floors) is the sequence number alone.
 *
 * The digest runs four independent multiply-rotate lanes so that it is not
 * limited by one dependency chain; the sender computes it in the same pass
 * that writes the pattern, which keeps the cost of checking small next to the
 * transport being measured. It is an error detector, not a cryptographic hash.
 */

#define P1 UINT64_C(0x9E3779B185EBCA87)
#define P2 UINT64_C(0xC2B2AE3D27D4EB4F)
#define P3 UINT64_C(0x165667B19E3779F9)

static inline uint64_t
rotl(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t
lane(uint64_t h, uint64_t w)
{
	return rotl(h ^ (w * P2), 31) * P1;
}

static inline uint64_t
load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void
store64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint64_t
finish(uint64_t h[4], uint64_t seq, size_t len)
{
	uint64_t x = (seq * P3) ^ (uint64_t)len;

	for (int k = 0; k < 4; k++) {
		x = rotl(x ^ h[k], 27) * P1 + P3;
	}
	/* The final avalanche spreads every input bit over the whole digest. */
	x ^= x >> 33;
	x *= P2;
	x ^= x >> 29;
	x *= P3;
	x ^= x >> 32;
	return x;
}

static uint64_t
digest(const unsigned char *body, size_t blen, uint64_t seq, size_t len)
{
	uint64_t h[4] = {P1, P2, P3, P1 ^ P2};
	size_t nw = blen / 8;
	size_t i = 0;

	for (; i + 4 <= nw; i += 4) {
		h[0] = lane(h[0], load64(body + 8 * i));
		h[1] = lane(h[1], load64(body + 8 * i + 8));
		h[2] = lane(h[2], load64(body + 8 * i + 16));
		h[3] = lane(h[3], load64(body + 8 * i + 24));
	}
	for (; i < nw; i++) {
		h[i & 3] = lane(h[i & 3], load64(body + 8 * i));
	}
	if (blen % 8 != 0) {
		uint64_t t = 0;

		memcpy(&t, body + 8 * nw, blen % 8);
		h[0] = lane(h[0], t);
	}
	return finish(h, seq, len);
}

void
bench_fill(void *buf, size_t len, uint64_t seq)
{
	unsigned char *p = buf;
	unsigned char *body = p + BENCH_HDR_SIZE;
	uint64_t h[4] = {P1, P2, P3, P1 ^ P2};
	uint64_t w = (seq * P2) ^ (uint64_t)len;
	size_t blen, nw, i = 0;

	if (len < BENCH_HDR_SIZE) {
		store64(p, seq);
		return;
	}
	blen = len - BENCH_HDR_SIZE;
	nw = blen / 8;
	/*
	 * Write the pattern and hash it in one pass; the loop mirrors digest()
	 * word for word, so both sides compute the same value.
	 */
	for (; i + 4 <= nw; i += 4) {
		store64(body + 8 * i, w);
		h[0] = lane(h[0], w);
		w += P1;
		store64(body + 8 * i + 8, w);
		h[1] = lane(h[1], w);
		w += P1;
		store64(body + 8 * i + 16, w);
		h[2] = lane(h[2], w);
		w += P1;
		store64(body + 8 * i + 24, w);
		h[3] = lane(h[3], w);
		w += P1;
	}
	for (; i < nw; i++) {
		store64(body + 8 * i, w);
		h[i & 3] = lane(h[i & 3], w);
		w += P1;
	}
	if (blen % 8 != 0) {
		uint64_t t = 0;

		memcpy(body + 8 * nw, &w, blen % 8);
		memcpy(&t, body + 8 * nw, blen % 8);
		h[0] = lane(h[0], t);
	}
	store64(p, seq);
	store64(p + 8, finish(h, seq, len));
}

const char *
bench_seq_name(uint64_t seq, char *buf, size_t len)
{
	if (seq & BENCH_SEQ_REPLY) {
		snprintf(buf, len, "reply %" PRIu64, seq & ~BENCH_SEQ_REPLY);
	} else if (seq & BENCH_SEQ_ACK) {
		snprintf(buf, len, "acknowledgement %" PRIu64, seq & ~BENCH_SEQ_ACK);
	} else {
		snprintf(buf, len, "message %" PRIu64, seq);
	}
	return buf;
}

int
bench_check(const void *buf, size_t len, uint64_t seq, char *why, size_t whylen)
{
	const unsigned char *p = buf;
	uint64_t got = load64(p);
	char a[48], b[48];

	if (got != seq) {
		snprintf(why, whylen,
			 "payload check failed: %s expected, %s "
			 "received (%zu bytes)",
			 bench_seq_name(seq, a, sizeof(a)), bench_seq_name(got, b, sizeof(b)), len);
		return -1;
	}
	if (len < BENCH_HDR_SIZE) {
		return 0;
	}
	if (digest(p + BENCH_HDR_SIZE, len - BENCH_HDR_SIZE, seq, len) != load64(p + 8)) {
		snprintf(why, whylen,
			 "payload check failed: checksum mismatch "
			 "in %s (%zu bytes)",
			 bench_seq_name(seq, a, sizeof(a)), len);
		return -1;
	}
	return 0;
}
