/* SPDX-License-Identifier: MIT */
/* shmkit-bench-bus: one-way throughput, copying and zero-copy, next to a ring and memcpy. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b_bench.h"

/*
 * One producer (the parent, first CPU) and one consumer (a child, second
 * CPU), both busy-waiting. Every message starts with its 64-bit sequence
 * number; the consumer checks that it receives 0, 1, 2, ... with the right
 * length and nothing reported lost, and times the messages after the
 * warm-up (at least two laps of the log, so every page of it is in place).
 * The buses are reliable (SHMKIT_BUS_RELIABLE): the publisher waits for
 * the subscriber rather than lapping it.
 *
 *  - ring64 / bus64: 64-byte messages through the shm-spin floor's SPSC
 *    ring (slots.c, 256 slots) and through a bus of 256 slots,
 *    shmkit_bus_send / shmkit_bus_recv;
 *  - big: 1 MiB messages through a bus of 8 slots, copied in and out, next
 *    to memcpy of 1 MiB between two buffers in one process;
 *  - zc: loan a slot, write the sequence number (one cache line), publish;
 *    peek, read the sequence number, release; a bus of 64 slots of each
 *    size, 64 B to 1 MiB, so that only the size changes.
 */

enum {
	TP_RING = 0,
	TP_COPY = 1,
	TP_ZC = 2,
};

#define SMALL_SLOTS 256u
#define BIG_SLOTS   8u
#define ZC_SLOTS    64u

const size_t bb_zc_sizes[BB_NZC] = {64, 4096, 65536, BB_BIG};

struct tp_ctl {
	/* The consumer is set up: release by it, acquire by the producer. */
	_Alignas(64) _Atomic unsigned ready;
	/* The consumer's clock around the timed messages; read by the
	 * parent after the consumer is reaped. */
	_Alignas(64) uint64_t t0, t1;
};

struct tp_job {
	const struct bb_plan *plan;
	int kind; /* TP_* */
	const char *name;
	size_t size;
	uint32_t slots; /* of the bus */
	unsigned long warm, total;
	char spec[64];
	struct bench_slots ring;
	struct tp_ctl *ctl;
};

static void
consumer(void *arg, unsigned idx)
{
	struct tp_job *j = arg;
	size_t cap = j->size + BENCH_BUF_SLACK;
	unsigned char *buf = bb_alloc_buf(j->size);
	shmkit_bus *b = NULL;
	uint64_t t0 = 0;
	int rc;

	(void)idx;
	rc = bb_pin_cpu(j->plan, j->plan->cpu_sub);
	if (rc < 0) {
		bench_child_fail("%s: consumer: cannot pin to CPU %d: %s", j->name,
				 j->plan->cpu_sub, strerror(-rc));
	}
	if (j->kind != TP_RING) {
		rc = shmkit_bus_open(&b, j->spec);
		if (rc == 0) {
			rc = shmkit_bus_set_wait(b, SHMKIT_BUS_WAIT_SPIN);
		}
		if (rc == 0) {
			rc = shmkit_bus_subscribe(b, 0);
		}
		if (rc < 0) {
			bench_child_fail("%s: consumer: cannot subscribe: %s", j->name,
					 shmkit_strerror(rc));
		}
	}
	atomic_store_explicit(&j->ctl->ready, 1, memory_order_release);
	for (unsigned long k = 0; k < j->total; k++) {
		uint64_t lost = 0, seq = UINT64_MAX;
		const void *p;
		ssize_t n;

		switch (j->kind) {
		case TP_RING:
			while ((n = bench_slots_try_get(&j->ring, 0, buf, cap)) == -EAGAIN) {
				bench_relax();
			}
			memcpy(&seq, buf, sizeof(seq));
			break;
		case TP_COPY:
			n = shmkit_bus_recv(b, buf, cap, &lost, 0, NULL);
			memcpy(&seq, buf, sizeof(seq));
			break;
		default:
			n = shmkit_bus_peek(b, &p, &lost, 0, NULL);
			if (n >= (ssize_t)sizeof(seq)) {
				memcpy(&seq, p, sizeof(seq));
				rc = shmkit_bus_release(b);
				if (rc < 0) {
					bench_child_fail(
						"%s: consumer: release of message %lu failed: "
						"%s",
						j->name, k, shmkit_strerror(rc));
				}
			}
			break;
		}
		if (n < 0) {
			bench_child_fail("%s: consumer: receive of message %lu failed: %s", j->name,
					 k, shmkit_strerror((int)n));
		}
		if (lost != 0) {
			bench_child_fail("%s: consumer: %llu messages lost before message %lu on a "
					 "reliable bus",
					 j->name, (unsigned long long)lost, k);
		}
		if ((size_t)n != j->size) {
			bench_child_fail("%s: consumer: message %lu has %zd bytes, %zu expected",
					 j->name, k, n, j->size);
		}
		if (seq != k) {
			bench_child_fail("%s: consumer: message %llu received where %lu was due "
					 "(lost, duplicated or reordered)",
					 j->name, (unsigned long long)seq, k);
		}
		if (k + 1 == j->warm) {
			t0 = bench_now_ns();
		}
	}
	j->ctl->t1 = bench_now_ns();
	j->ctl->t0 = t0;
	_exit(0);
}

static void
produce(struct tp_job *j, shmkit_bus *b)
{
	unsigned char *src = bb_alloc_buf(j->size);

	for (unsigned long k = 0; k < j->total; k++) {
		uint64_t seq = k;
		void *p;
		int rc;

		switch (j->kind) {
		case TP_RING:
			memcpy(src, &seq, sizeof(seq));
			while ((rc = bench_slots_try_put(&j->ring, 0, src, j->size)) == -EAGAIN) {
				bench_relax();
			}
			break;
		case TP_COPY:
			memcpy(src, &seq, sizeof(seq));
			rc = shmkit_bus_send(b, src, j->size, 0, NULL);
			break;
		default:
			rc = shmkit_bus_loan(b, j->size, &p, 0, NULL);
			if (rc == 0) {
				memcpy(p, &seq, sizeof(seq));
				rc = shmkit_bus_publish(b, j->size);
			}
			break;
		}
		if (rc < 0) {
			bench_fail("%s: producer: send of message %lu failed: %s", j->name, k,
				   shmkit_strerror(rc));
		}
	}
	free(src);
}

/* One measurement; messages per second into *mps. Return 0, or 1 when the
 * row cannot be set up here (reason in why). */
static int
tp_once(const struct bb_plan *plan, int kind, const char *name, size_t size, uint32_t slots,
	unsigned long msgs, double *mps, char *why, size_t whylen)
{
	struct tp_job j;
	shmkit_bus *b = NULL;
	char what[160];
	int rc;

	memset(&j, 0, sizeof(j));
	j.plan = plan;
	j.kind = kind;
	j.name = name;
	j.size = size;
	j.slots = slots;
	j.warm = msgs / 10 > 2 * slots ? msgs / 10 : 2 * slots;
	j.total = j.warm + msgs;
	j.ctl = bb_map_shared(sizeof(*j.ctl), "the throughput control block");
	snprintf(what, sizeof(what), "the %s throughput measurement", name);

	bench_block(NULL);
	if (kind == TP_RING) {
		rc = bench_slots_create(&j.ring, size);
		if (rc < 0) {
			bench_unblock();
			snprintf(why, whylen, "cannot map the ring: %s", strerror(-rc));
			bench_unmap(j.ctl, sizeof(*j.ctl));
			return 1;
		}
	} else {
		shmkit_bus_opts o;

		shmkit_bus_opts_init(&o);
		o.slots = slots;
		o.max_msg_size = size;
		o.flags = SHMKIT_BUS_RELIABLE;
		bb_bus_spec(j.spec, sizeof(j.spec));
		rc = shmkit_bus_create(&b, j.spec, &o);
		if (rc < 0) {
			bench_unblock();
			snprintf(why, whylen, "shmkit_bus_create failed: %s", shmkit_strerror(rc));
			bench_unmap(j.ctl, sizeof(*j.ctl));
			return 1;
		}
		bb_guard_spec(j.spec, 1);
		rc = shmkit_bus_set_wait(b, SHMKIT_BUS_WAIT_SPIN);
		if (rc < 0) {
			bench_fail("%s: shmkit_bus_set_wait failed: %s", name, shmkit_strerror(rc));
		}
	}
	bb_spawn(consumer, &j, 0);
	bench_unblock();
	bench_watchdog(plan->watchdog_s, what);
	/* The subscriber joins before the first message: nothing predates it. */
	while (!atomic_load_explicit(&j.ctl->ready, memory_order_acquire)) {
		bench_relax();
	}
	produce(&j, b);
	bb_reap_all(what);
	bench_watchdog(0, NULL);
	*mps = (double)msgs / ((double)(j.ctl->t1 > j.ctl->t0 ? j.ctl->t1 - j.ctl->t0 : 1) / 1e9);
	bench_block(NULL);
	if (kind == TP_RING) {
		bench_slots_destroy(&j.ring);
	} else {
		shmkit_bus_remove(b);
		bb_guard_spec(j.spec, 0);
	}
	bench_unblock();
	bench_unmap(j.ctl, sizeof(*j.ctl));
	return 0;
}

/* memcpy of 1 MiB between two buffers of this process, msgs times. */
static double
memcpy_once(unsigned long msgs)
{
	unsigned char *src = bb_alloc_buf(BB_BIG);
	unsigned char *dst = bb_alloc_buf(BB_BIG);
	unsigned long warm = msgs / 10 > 16 ? msgs / 10 : 16;
	uint64_t t0 = 0;

	memset(src, 0x5a, BB_BIG);
	for (unsigned long k = 0; k < warm + msgs; k++) {
		if (k == warm) {
			t0 = bench_now_ns();
		}
		memcpy(dst, src, BB_BIG);
		/* The copy must happen: the compiler may assume dst is read. */
		__asm__ __volatile__("" : : "r"(dst) : "memory");
	}
	double secs = (double)(bench_now_ns() - t0) / 1e9;
	free(src);
	free(dst);
	return (double)msgs / (secs > 0 ? secs : 1e-9);
}

/* The cells, in table order. */
enum {
	C_RING64 = 0,
	C_BUS64 = 1,
	C_MEMCPY = 2,
	C_BIG = 3,
	C_ZC0 = 4,
	C_N = C_ZC0 + BB_NZC,
};

static struct bb_rate *
cell(struct bb_report *rep, int c)
{
	switch (c) {
	case C_RING64:
		return &rep->ring64;
	case C_BUS64:
		return &rep->bus64;
	case C_MEMCPY:
		return &rep->memcpy_big;
	case C_BIG:
		return &rep->bus_big;
	default:
		return &rep->zc[c - C_ZC0];
	}
}

/*
 * Every cell once per round, the median over the rounds: on a virtual
 * machine the cost of cross-CPU traffic drifts within a minute, and a cell
 * measured alone would carry its minute's drift into its ratio.
 */
void
bb_run_tput(const struct bb_plan *plan, struct bb_report *rep, int show)
{
	static double v[C_N][64];
	unsigned rounds = plan->tp_rounds < 64 ? plan->tp_rounds : 64;

	for (int c = 0; c < C_N; c++) {
		cell(rep, c)->measured = 1;
	}
	for (unsigned r = 0; r < rounds; r++) {
		for (int c = 0; c < C_N; c++) {
			struct bb_rate *t = cell(rep, c);
			char name[64];
			int rc = 0;

			if (!t->measured) {
				continue;
			}
			switch (c) {
			case C_RING64:
				snprintf(name, sizeof(name), "shm-spin 64 B");
				break;
			case C_BUS64:
				snprintf(name, sizeof(name), "bus 64 B copying");
				break;
			case C_MEMCPY:
				snprintf(name, sizeof(name), "memcpy 1 MiB");
				break;
			case C_BIG:
				snprintf(name, sizeof(name), "bus 1 MiB copying");
				break;
			default:
				snprintf(name, sizeof(name), "bus %zu B zero-copy",
					 bb_zc_sizes[c - C_ZC0]);
				break;
			}
			bench_progress(show, "measuring throughput: %s, round %u of %u", name,
				       r + 1, rounds);
			switch (c) {
			case C_RING64:
				t->msgs = plan->tp_small;
				rc = tp_once(plan, TP_RING, name, BB_MSG, SMALL_SLOTS, t->msgs,
					     &v[c][r], t->why, sizeof(t->why));
				break;
			case C_BUS64:
				t->msgs = plan->tp_small;
				rc = tp_once(plan, TP_COPY, name, BB_MSG, SMALL_SLOTS, t->msgs,
					     &v[c][r], t->why, sizeof(t->why));
				break;
			case C_MEMCPY:
				t->msgs = plan->tp_big;
				v[c][r] = memcpy_once(t->msgs);
				break;
			case C_BIG:
				t->msgs = plan->tp_big;
				rc = tp_once(plan, TP_COPY, name, BB_BIG, BIG_SLOTS, t->msgs,
					     &v[c][r], t->why, sizeof(t->why));
				break;
			default:
				t->msgs = plan->tp_zc;
				rc = tp_once(plan, TP_ZC, name, bb_zc_sizes[c - C_ZC0], ZC_SLOTS,
					     t->msgs, &v[c][r], t->why, sizeof(t->why));
				break;
			}
			if (rc != 0) {
				t->measured = 0;
			}
		}
	}
	for (int c = 0; c < C_N; c++) {
		struct bb_rate *t = cell(rep, c);
		size_t size = c == C_RING64 || c == C_BUS64 ? BB_MSG
			      : c == C_MEMCPY || c == C_BIG ? BB_BIG
							    : bb_zc_sizes[c - C_ZC0];

		if (t->measured) {
			bb_rate_fill(t, v[c], rounds, t->msgs, size);
		}
	}
}
