/* SPDX-License-Identifier: MIT */
/* Throughput: one or two producers on one CPU, one checking consumer on the other. */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "q_bench.h"

/*
 * Every message starts with a 64-bit word that names its producer (1..n, in
 * the top bits) and its sequence number within that producer (the low
 * bits), followed by the digest and the body of payload.c, all seeded by
 * that word. The consumer takes messages as they come (msgtyp 0 for the
 * typed queues, which carry the producer id as the type as well) and checks
 * that each producer's sequence numbers arrive as 0, 1, 2, ... and that
 * every checksum is right: a lost, duplicated, reordered, torn or stale
 * message fails the run.
 */
#define PROD_SHIFT 40
#define SEQ_MASK   ((UINT64_C(1) << PROD_SHIFT) - 1)
#define MAX_PROD   8

/* Shared by the parent and the children of one measurement. */
struct ctl {
	_Atomic unsigned ready; /* children set up and waiting */
	_Atomic int go;         /* the producers may start */
	uint64_t t0, t1;        /* the consumer's clock around the timed messages */
};

struct job {
	const struct qb_plan *plan;
	const struct qb_row *row;
	struct qb_queue *x;
	struct ctl *ctl;
	size_t size;
	unsigned nprod;
	unsigned long msgs; /* timed messages per producer */
	unsigned long warm; /* warm-up messages per producer, sent first */
};

static void
pin_or_fail(const struct job *j, int cpu, const char *who)
{
	cpu_set_t set;

	if (!j->plan->pinned) {
		return;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		bench_child_fail("%s: %s: cannot pin to CPU %d: %s", j->row->name, who, cpu,
				 strerror(errno));
	}
}

static void
pause_briefly(long ns)
{
	struct timespec ts = {0, ns};

	nanosleep(&ts, NULL);
}

__attribute__((noreturn)) static void
producer(const struct job *j, unsigned p)
{
	unsigned long total = j->warm + j->msgs;
	char who[32];

	snprintf(who, sizeof(who), "producer %u", p);
	pin_or_fail(j, j->plan->cpu_prod, who);
	atomic_fetch_add(&j->ctl->ready, 1);
	/* Released together, so that two producers compete from the start. */
	while (!atomic_load(&j->ctl->go)) {
		pause_briefly(20000);
	}
	for (unsigned long i = 0; i < total; i++) {
		uint64_t seq = ((uint64_t)p << PROD_SHIFT) | i;
		int rc;

		bench_fill(j->x->text, j->size, seq);
		rc = qb_send(j->x, (long)p, j->size, 0);
		if (rc < 0) {
			bench_child_fail("%s: %s: send of message %lu failed: %s", j->row->name,
					 who, i, strerror(-rc));
		}
	}
	_exit(0);
}

__attribute__((noreturn)) static void
consumer(const struct job *j)
{
	uint64_t next[MAX_PROD + 1] = {0};
	uint64_t total = (uint64_t)j->nprod * (j->warm + j->msgs);
	uint64_t warm = (uint64_t)j->nprod * j->warm;
	uint64_t t0 = 0, left;
	const char *name = j->row->name;
	char why[200];
	int rc;

	pin_or_fail(j, j->plan->cpu_cons, "consumer");
	atomic_fetch_add(&j->ctl->ready, 1);
	for (uint64_t k = 0; k < total; k++) {
		uint64_t word, seq;
		unsigned p;
		long type;
		ssize_t n = qb_recv(j->x, 0, 0, &type, 0);

		if (n < 0) {
			bench_child_fail("%s: consumer: receive %" PRIu64 " failed: %s", name, k,
					 strerror((int)-n));
		}
		if ((size_t)n != j->size) {
			bench_child_fail("%s: consumer: message %" PRIu64
					 " has %zd bytes, %zu expected",
					 name, k, n, j->size);
		}
		memcpy(&word, j->x->text, sizeof(word));
		p = (unsigned)(word >> PROD_SHIFT);
		seq = word & SEQ_MASK;
		if (p < 1 || p > j->nprod) {
			bench_child_fail("%s: consumer: message %" PRIu64
					 " names producer %u (of %u)",
					 name, k, p, j->nprod);
		}
		if (seq != next[p]) {
			bench_child_fail("%s: consumer: producer %u: message %" PRIu64
					 " received where %" PRIu64
					 " was due (lost, duplicated or reordered)",
					 name, p, seq, next[p]);
		}
		if (j->row->mech != QB_POSIX && type != (long)p) {
			bench_child_fail("%s: consumer: producer %u: message %" PRIu64
					 " has type %ld, %u expected",
					 name, p, seq, type, p);
		}
		if (bench_check(j->x->text, j->size, word, why, sizeof(why)) != 0) {
			bench_child_fail("%s: consumer: producer %u: checksum mismatch in message "
					 "%" PRIu64 " (%zu bytes)",
					 name, p, seq, j->size);
		}
		next[p]++;
		/* The clock spans the messages after the warm-up, while the
		 * producers keep the queue busy. */
		if (k + 1 == warm) {
			t0 = bench_now_ns();
		}
	}
	j->ctl->t1 = bench_now_ns();
	j->ctl->t0 = t0;
	for (unsigned p = 1; p <= j->nprod; p++) {
		if (next[p] != j->warm + j->msgs) {
			bench_child_fail("%s: consumer: producer %u: %" PRIu64
					 " messages received, %lu sent",
					 name, p, next[p], j->warm + j->msgs);
		}
	}
	rc = qb_count(j->x, &left);
	if (rc < 0) {
		bench_child_fail("%s: consumer: cannot read the queue's count: %s", name,
				 strerror(-rc));
	}
	if (left != 0) {
		bench_child_fail("%s: consumer: %" PRIu64 " messages left after the last one", name,
				 left);
	}
	_exit(0);
}

/* A child ended: status 0 is its normal end, anything else the end of the
 * run (a child that failed has said why; one that was killed has not). */
static void
check_child(const struct job *j, pid_t pid, int status, const pid_t *pids)
{
	bench_guard_ended(pid, status, j->row->name,
			  pid == pids[0] ? "the consumer" : "the producer");
}

int
qb_run_tput(const struct qb_plan *plan, const struct qb_row *row, size_t size, unsigned nprod,
	    unsigned long msgs, double *mps, unsigned long *room, char *note, size_t notelen,
	    char *why, size_t whylen)
{
	struct qb_queue x;
	struct job j;
	pid_t pids[MAX_PROD + 1], parent = getpid();
	unsigned left = nprod + 1;
	char what[160];
	int rc, status;

	if (nprod < 1 || nprod > MAX_PROD) {
		bench_fail("%u producers: 1..%d supported", nprod, MAX_PROD);
	}
	memset(&j, 0, sizeof(j));
	j.plan = plan;
	j.row = row;
	j.x = &x;
	j.size = size;
	j.nprod = nprod;
	j.msgs = msgs;
	j.warm = bench_warmup(msgs);
	j.ctl = bench_map_shared(sizeof(*j.ctl));
	if (j.ctl == NULL) {
		bench_fail("%s: cannot map the control block: %s", row->name, strerror(errno));
	}
	atomic_init(&j.ctl->ready, 0);
	atomic_init(&j.ctl->go, 0);

	/* From the queue's creation until every child is registered, a signal
	 * must find everything it has to clean up. */
	bench_block(NULL);
	rc = qb_queue_create(&x, row, size, QB_DEPTH, why, whylen);
	if (rc < 0) {
		bench_unblock();
		bench_unmap(j.ctl, sizeof(*j.ctl));
		return 1;
	}
	snprintf(note, notelen, "%s", x.note);
	*room = x.room;
	fflush(stdout);
	fflush(stderr);
	for (unsigned i = 0; i <= nprod; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			bench_fail("%s: fork failed: %s", row->name, strerror(errno));
		}
		if (pid == 0) {
			if (qb_child_init(parent) < 0) {
				_exit(1);
			}
			if (i == 0) {
				consumer(&j);
			}
			producer(&j, i);
		}
		pids[i] = pid;
		bench_guard_add(pid);
	}
	bench_unblock();
	snprintf(what, sizeof(what), "the %s throughput measurement (%zu B, %u producer%s)",
		 row->name, size, nprod, nprod == 1 ? "" : "s");
	bench_watchdog(plan->watchdog_s, what);

	/* Release the producers once everyone is in place; a child that fails
	 * while setting up ends the run here rather than at the watchdog. */
	while (atomic_load(&j.ctl->ready) < nprod + 1) {
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid > 0) {
			check_child(&j, pid, status, pids);
			left--;
		}
		pause_briefly(1000000);
	}
	atomic_store(&j.ctl->go, 1);
	while (left > 0) {
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == EINTR) {
				continue;
			}
			bench_fail("%s: waitpid failed: %s", row->name, strerror(errno));
		}
		check_child(&j, pid, status, pids);
		left--;
	}
	bench_watchdog(0, NULL);

	*mps = (double)nprod * (double)msgs /
	       ((double)(j.ctl->t1 > j.ctl->t0 ? j.ctl->t1 - j.ctl->t0 : 1) / 1e9);
	bench_block(NULL);
	qb_queue_destroy(&x);
	bench_unblock();
	bench_unmap(j.ctl, sizeof(*j.ctl));
	return 0;
}
