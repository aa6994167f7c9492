/* SPDX-License-Identifier: MIT */
/* Selective receive: 1,000 queued messages of 16 types, receive by type, send back. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "q_bench.h"

/*
 * One process, no peer: the cost of selecting and moving a message with no
 * wake-up and no cache line crossing CPUs. The queue is filled with
 * QB_SEL_MSGS messages, message i of type 1 + i % 16; each operation then
 * receives one message as the mode selects it and sends it straight back
 * with its type, so the depth stays at QB_SEL_MSGS. Both calls use NOWAIT:
 * a message that should be there and is not fails the run instead of
 * hanging it.
 *
 * Every message is checked against a model of the queue kept beside it:
 * per type, the FIFO of message ids, and per message, the order in which
 * it was last sent. The model predicts exactly which message each receive
 * must return (the oldest one, the oldest of a type, the oldest of the
 * lowest type, the oldest not of a type), and the message must be that one,
 * of its type, with its checksum right. The model does the same work for
 * every mode (a pass over the 16 types' oldest messages), so that it adds
 * the same few nanoseconds to every row.
 */
const struct qb_mode qb_modes[QB_NMODES] = {
	{"msgtyp 0", "msgtyp0", "FIFO: the oldest message, always at the head", QB_PICK_FIRST},
	{"msgtyp 1..16 cycling", "cycle",
	 "the types in turn; the queue falls into the same turn, so the wanted message is at "
	 "most a few places from the head",
	 QB_PICK_CYCLE},
	{"msgtyp 1..16 random", "random",
	 "a pseudo-random type each time (fixed seed): the wanted message is some 50-70 "
	 "places deep on average",
	 QB_PICK_RANDOM},
	{"msgtyp -16", "lowest",
	 "the lowest type first: type 1 moves to the tail each time, so the 63 type-1 "
	 "messages gather behind the 937 others",
	 QB_PICK_LOWEST},
	{"msgtyp 1 EXCEPT", "except",
	 "anything but type 1: the 63 type-1 messages are never taken and gather at the head",
	 QB_PICK_EXCEPT},
};

/* Ids fit in the low 32 bits of the first word, the type above them. */
#define TYPE_SHIFT 32
#define RING       64 /* per type; a type has at most 63 messages */

struct model {
	uint16_t ring[QB_SEL_TYPES + 1][RING];
	unsigned head[QB_SEL_TYPES + 1];
	unsigned len[QB_SEL_TYPES + 1];
	uint64_t stamp[QB_SEL_MSGS]; /* when the message was last sent */
	uint64_t clock;
};

struct sel {
	const struct qb_row *row;
	struct qb_queue *x;
	struct model m;
	uint64_t rng;   /* xorshift64 state of the random mode */
	uint64_t cycle; /* position in the cycling mode */
	const struct qb_mode *mode;
};

static long
type_of(unsigned id)
{
	return 1 + (long)(id % QB_SEL_TYPES);
}

static void
model_push(struct model *m, unsigned id)
{
	long t = type_of(id);

	m->ring[t][(m->head[t] + m->len[t]) % RING] = (uint16_t)id;
	m->len[t]++;
	m->stamp[id] = ++m->clock;
}

static void
model_pop(struct model *m, long t)
{
	m->head[t] = (m->head[t] + 1) % RING;
	m->len[t]--;
}

/* The message the next receive must return, and the msgtyp and EXCEPT
 * flag that ask for it. */
static unsigned
model_pick(struct sel *s, long *msgtyp, int *except)
{
	struct model *m = &s->m;
	uint64_t best = UINT64_MAX, best_not1 = UINT64_MAX;
	unsigned first = 0, first_not1 = 0, lowest = 0;
	long t;

	for (t = QB_SEL_TYPES; t >= 1; t--) {
		unsigned id;

		if (m->len[t] == 0) {
			continue;
		}
		id = m->ring[t][m->head[t]];
		lowest = id;
		if (m->stamp[id] < best) {
			best = m->stamp[id];
			first = id;
		}
		if (t != 1 && m->stamp[id] < best_not1) {
			best_not1 = m->stamp[id];
			first_not1 = id;
		}
	}
	*except = 0;
	switch (s->mode->select) {
	case QB_PICK_FIRST:
		*msgtyp = 0;
		return first;
	case QB_PICK_CYCLE:
		t = 1 + (long)(s->cycle++ % QB_SEL_TYPES);
		break;
	case QB_PICK_RANDOM:
		s->rng ^= s->rng << 13;
		s->rng ^= s->rng >> 7;
		s->rng ^= s->rng << 17;
		t = 1 + (long)((s->rng >> 32) % QB_SEL_TYPES);
		break;
	case QB_PICK_LOWEST:
		*msgtyp = -QB_SEL_TYPES;
		return lowest;
	default:
		*msgtyp = 1;
		*except = 1;
		return first_not1;
	}
	*msgtyp = t;
	return m->ring[t][m->head[t]];
}

/* Receive the selected message, check it, send it back. */
static void
one_op(struct sel *s)
{
	struct qb_queue *x = s->x;
	long msgtyp, type;
	int except, rc;
	unsigned due = model_pick(s, &msgtyp, &except);
	uint64_t word, id;
	ssize_t n = qb_recv(x, msgtyp, except, &type, 1);
	char why[200];

	if (n < 0) {
		bench_fail("%s: %s: receive failed with %d messages queued: %s", s->row->name,
			   s->mode->name, QB_SEL_MSGS, strerror((int)-n));
	}
	memcpy(&word, x->text, sizeof(word));
	id = word & ((UINT64_C(1) << TYPE_SHIFT) - 1);
	if (n != QB_SEL_SIZE || id >= QB_SEL_MSGS || (long)(word >> TYPE_SHIFT) != type_of(id) ||
	    type != type_of(id)) {
		bench_fail(
			"%s: %s: received a message of %zd bytes, type %ld, first word 0x%" PRIx64
			"; message %u (type %ld, %d bytes) was due",
			s->row->name, s->mode->name, n, type, word, due, type_of(due), QB_SEL_SIZE);
	}
	if (id != due) {
		bench_fail("%s: %s: received message %" PRIu64 " (type %ld) where message %u "
			   "(type %ld) was due",
			   s->row->name, s->mode->name, id, type, due, type_of(due));
	}
	if (bench_check(x->text, QB_SEL_SIZE, word, why, sizeof(why)) != 0) {
		bench_fail("%s: %s: checksum mismatch in message %" PRIu64, s->row->name,
			   s->mode->name, id);
	}
	model_pop(&s->m, type);
	rc = qb_send(x, type, QB_SEL_SIZE, 1);
	if (rc < 0) {
		bench_fail("%s: %s: sending message %" PRIu64 " back failed: %s", s->row->name,
			   s->mode->name, id, strerror(-rc));
	}
	model_push(&s->m, (unsigned)id);
}

static void
expect_count(struct sel *s, uint64_t want, const char *when)
{
	uint64_t n;
	int rc = qb_count(s->x, &n);

	if (rc < 0) {
		bench_fail("%s: cannot read the queue's count: %s", s->row->name, strerror(-rc));
	}
	if (n != want) {
		bench_fail("%s: %" PRIu64 " messages queued %s, %" PRIu64 " expected", s->row->name,
			   n, when, want);
	}
}

static void
fill(struct sel *s)
{
	for (unsigned id = 0; id < QB_SEL_MSGS; id++) {
		uint64_t word = ((uint64_t)type_of(id) << TYPE_SHIFT) | id;
		int rc;

		bench_fill(s->x->text, QB_SEL_SIZE, word);
		rc = qb_send(s->x, type_of(id), QB_SEL_SIZE, 1);
		if (rc < 0) {
			bench_fail("%s: filling the queue: send of message %u failed: %s",
				   s->row->name, id, strerror(-rc));
		}
		model_push(&s->m, id);
	}
	expect_count(s, QB_SEL_MSGS, "after the fill");
}

/* Take every message out in FIFO order, checking each, and check that the
 * queue is then empty: nothing was lost or duplicated on the way. */
static void
drain(struct sel *s)
{
	static const struct qb_mode fifo = {"final drain", "drain", "", QB_PICK_FIRST};
	struct qb_queue *x = s->x;

	s->mode = &fifo;
	for (unsigned k = 0; k < QB_SEL_MSGS; k++) {
		long msgtyp, type;
		int except;
		unsigned due = model_pick(s, &msgtyp, &except);
		uint64_t word;
		ssize_t n = qb_recv(x, 0, 0, &type, 1);
		char why[200];

		if (n < 0) {
			bench_fail("%s: final drain: receive %u failed: %s", s->row->name, k,
				   strerror((int)-n));
		}
		memcpy(&word, x->text, sizeof(word));
		if (n != QB_SEL_SIZE || word != (((uint64_t)type_of(due) << TYPE_SHIFT) | due) ||
		    bench_check(x->text, QB_SEL_SIZE, word, why, sizeof(why)) != 0) {
			bench_fail("%s: final drain: receive %u did not return message %u intact",
				   s->row->name, k, due);
		}
		model_pop(&s->m, type_of(due));
	}
	expect_count(s, 0, "after the final drain");
}

void
qb_run_select(const struct qb_plan *plan, const struct qb_row *row, struct qb_sel out[QB_NMODES],
	      char *note, size_t notelen)
{
	struct qb_queue x;
	struct sel *s = calloc(1, sizeof(*s));
	double *samples = calloc(plan->sel_batches, sizeof(*samples));
	char why[200] = "";
	int rc;

	for (int k = 0; k < QB_NMODES; k++) {
		memset(&out[k], 0, sizeof(out[k]));
	}
	if (s == NULL || samples == NULL) {
		bench_fail("out of memory");
	}
	bench_block(NULL);
	rc = qb_queue_create(&x, row, QB_SEL_SIZE, QB_SEL_MSGS, why, sizeof(why));
	if (rc == 0 && x.room < QB_SEL_MSGS) {
		snprintf(why, sizeof(why), "the queue holds only %lu messages of %d B (%.140s)",
			 x.room, QB_SEL_SIZE, x.note);
		qb_queue_destroy(&x);
		rc = -ENOSPC;
	}
	bench_unblock();
	if (rc < 0) {
		snprintf(note, notelen, "n/a");
		for (int k = 0; k < QB_NMODES; k++) {
			snprintf(out[k].why, sizeof(out[k].why), "%s", why);
		}
		free(s);
		free(samples);
		return;
	}
	snprintf(note, notelen, "%s", x.note);
	s->row = row;
	s->x = &x;
	s->rng = UINT64_C(0x9E3779B97F4A7C15);

	bench_watchdog(plan->watchdog_s, "filling the selective-receive queue");
	fill(s);
	for (int k = 0; k < QB_NMODES; k++) {
		char what[160];
		double *v = samples;
		unsigned long nb = plan->sel_batches;

		s->mode = &qb_modes[k];
		snprintf(what, sizeof(what), "the %s selective receive (%s)", row->name,
			 qb_modes[k].name);
		bench_watchdog(plan->watchdog_s, what);
		/* The warm-up also lets the queue settle into the mode's
		 * order (two full turns of the queue in a full run). */
		for (unsigned long i = 0; i < plan->sel_warmup; i++) {
			one_op(s);
		}
		for (unsigned long b = 0; b < nb; b++) {
			uint64_t t0 = bench_now_ns(), t1;

			for (unsigned long i = 0; i < plan->sel_batch_ops; i++) {
				one_op(s);
			}
			t1 = bench_now_ns();
			v[b] = (double)(t1 - t0) / (double)plan->sel_batch_ops;
		}
		out[k].p50_ns = bench_median(v, nb);
		out[k].measured = 1;
		out[k].batches = nb;
		out[k].batch_ops = plan->sel_batch_ops;
		out[k].min_ns = v[0];
		out[k].max_ns = v[nb - 1];
		expect_count(s, QB_SEL_MSGS, "after the mode");
	}
	bench_watchdog(plan->watchdog_s, "draining the selective-receive queue");
	drain(s);
	bench_watchdog(0, NULL);
	bench_block(NULL);
	qb_queue_destroy(&x);
	bench_unblock();
	free(s);
	free(samples);
}
