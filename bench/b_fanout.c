/* SPDX-License-Identifier: MIT */
/* shmkit-bench-bus: one publisher, N subscriber processes; its cost and the wake-up spread. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "b_bench.h"

/*
 * The publisher is the parent, pinned to the first CPU; the N subscribers
 * are forked children pinned to the other usable CPUs (on two CPUs: all of
 * them on the second), so that a subscriber never preempts the publisher
 * inside the call whose time is measured, and no priority change is needed.
 * Each subscriber opens the bus by name and subscribes; the publisher
 * starts once all have. It publishes 64-byte messages at a fixed pace,
 * spinning on the clock between them so that it stays on its CPU, and
 * times each shmkit_bus_send() call alone. A message carries its sequence
 * number and the publish time; every subscriber checks that it receives
 * every message, in order, and that the bus reports nothing lost.
 *
 * Spinning subscribers (SHMKIT_BUS_WAIT_SPIN) share their CPU and preempt
 * each other; the log holds every message of the run (plan->fs_slots), so
 * that none is lapped however long it waits for its turn, and the time
 * from the last publish until all have checked everything is reported.
 *
 * Sleeping subscribers (SHMKIT_BUS_WAIT_SLEEP): before each publish the
 * publisher waits until every subscriber has recorded the previous
 * message and is asleep, both as the bus counts it and as the kernel sees
 * it (a subscriber woken but not yet run is still counted asleep by the
 * bus), for at most plan->fz_settle_ns; then for the next tick. Publishes
 * made with subscribers still awake are counted, and each subscriber
 * reports its voluntary context switches, so that wake-ups beyond one per
 * message show. Each subscriber writes the time from the publish (carried
 * in the message) to its own clock into a shared results segment; per
 * message, the smallest is the first subscriber woken and the largest the
 * last. The wake-all floor does the same with the bare mechanism: N
 * processes sleep on one shared futex word, and the publisher stores the
 * message, bumps the word and calls FUTEX_WAKE for all of them.
 */

enum {
	FO_SPIN = 0,
	FO_SLEEP = 1,
	FO_WAKEALL = 2,
};

const char *const bb_fo_names[BB_FO_NROWS] = {"bus-sleep", "wake-all"};
const char *const bb_fo_what[BB_FO_NROWS] = {
	"shmkit_bus, subscribers sleep at once (SHMKIT_BUS_WAIT_SLEEP)",
	"N processes in FUTEX_WAIT on one shared word; the publisher bumps it and calls "
	"FUTEX_WAKE(INT_MAX)",
};

/* A fan-out message: 64 bytes. */
struct fo_msg {
	uint64_t seq;
	uint64_t t_pub; /* the publisher's clock just before the call */
	unsigned char pad[BB_MSG - 16];
};
_Static_assert(sizeof(struct fo_msg) == BB_MSG, "a 64-byte message");

/* Shared by the parent and the subscribers of one measurement; each group
 * of fields that different processes write has its own cache line. */
struct fo_ctl {
	/* Subscribers set up; release by each, acquire by the publisher. */
	_Alignas(64) _Atomic unsigned ready;
	/* Sleeping rows: messages recorded, summed over the subscribers.
	 * Bumped with release after the record is written; the publisher's
	 * acquire load pairs with it before it reads the records. */
	_Alignas(64) _Atomic uint64_t processed;
	/* The wake-all floor: messages published. Stored with release after
	 * seq and t_pub; the waiters' acquire loads pair with it. */
	_Alignas(64) _Atomic uint32_t word;
	uint64_t seq, t_pub;
	/* Floor waiters counted between going to sleep and waking up. */
	_Alignas(64) _Atomic uint32_t asleep;
};

struct fo_job {
	const struct bb_plan *plan;
	int kind; /* FO_* */
	unsigned n;
	unsigned long warm, total;
	char spec[64];
	struct fo_ctl *ctl;
	uint64_t *lat; /* shared: [total][n] publish-to-subscriber times (sleeping rows) */
	uint64_t *csw; /* shared: [n] voluntary context switches of each subscriber's loop */
	pid_t *pids;   /* the parent's: the subscribers */
	size_t map_len;
};

static const char *
kind_name(int kind)
{
	return kind == FO_SPIN ? "bus-spin fan-out" : bb_fo_names[kind == FO_SLEEP ? 0 : 1];
}

static long
futex(_Atomic uint32_t *addr, int op, uint32_t val)
{
	/* No FUTEX_PRIVATE_FLAG: the word is shared between processes, as the
	 * bus's own words are. */
	return syscall(SYS_futex, (void *)addr, op, val, NULL, NULL, 0);
}

/* This process's voluntary context switches so far: its sleeps. */
static uint64_t
sleeps_so_far(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0) {
		return 0;
	}
	return (uint64_t)ru.ru_nvcsw;
}

static void
pin_sub(const struct fo_job *j, unsigned idx)
{
	int rc = bb_pin_set(j->plan, &j->plan->subset);

	if (rc < 0) {
		bench_child_fail("%s, %u subscribers: subscriber %u: cannot pin: %s",
				 kind_name(j->kind), j->n, idx, strerror(-rc));
	}
}

static void
bus_sub(void *arg, unsigned idx)
{
	const struct fo_job *j = arg;
	const char *name = kind_name(j->kind);
	unsigned char buf[BB_MSG + BENCH_BUF_SLACK];
	struct fo_msg m;
	shmkit_bus *b;
	int rc;

	pin_sub(j, idx);
	rc = shmkit_bus_open(&b, j->spec);
	if (rc == 0) {
		rc = shmkit_bus_set_wait(b, j->kind == FO_SPIN ? SHMKIT_BUS_WAIT_SPIN
							       : SHMKIT_BUS_WAIT_SLEEP);
	}
	if (rc == 0) {
		rc = shmkit_bus_subscribe(b, 0);
	}
	if (rc < 0) {
		bench_child_fail("%s, %u subscribers: subscriber %u: cannot subscribe: %s", name,
				 j->n, idx, shmkit_strerror(rc));
	}
	uint64_t sw = sleeps_so_far();

	atomic_fetch_add_explicit(&j->ctl->ready, 1, memory_order_release);
	for (unsigned long k = 0; k < j->total; k++) {
		uint64_t lost = 0, t;
		ssize_t n = shmkit_bus_recv(b, buf, sizeof(buf), &lost, 0, NULL);

		t = bench_now_ns();
		if (n < 0) {
			bench_child_fail(
				"%s, %u subscribers: subscriber %u: receive of message %lu "
				"failed: %s",
				name, j->n, idx, k, shmkit_strerror((int)n));
		}
		if (lost != 0) {
			bench_child_fail("%s, %u subscribers: subscriber %u: lapped after %lu "
					 "messages: %llu lost (it fell a whole log behind)",
					 name, j->n, idx, k, (unsigned long long)lost);
		}
		if (n != BB_MSG) {
			bench_child_fail("%s, %u subscribers: subscriber %u: message %lu has %zd "
					 "bytes, %d expected",
					 name, j->n, idx, k, n, BB_MSG);
		}
		memcpy(&m, buf, sizeof(m));
		if (m.seq != k) {
			bench_child_fail("%s, %u subscribers: subscriber %u: message %llu received "
					 "where %lu was due",
					 name, j->n, idx, (unsigned long long)m.seq, k);
		}
		if (j->kind == FO_SLEEP) {
			j->lat[k * j->n + idx] = t - m.t_pub;
			if (k + 1 == j->total) {
				j->csw[idx] = sleeps_so_far() - sw;
			}
			atomic_fetch_add_explicit(&j->ctl->processed, 1, memory_order_release);
		}
	}
	_exit(0);
}

static void
wakeall_sub(void *arg, unsigned idx)
{
	const struct fo_job *j = arg;
	struct fo_ctl *c = j->ctl;

	pin_sub(j, idx);
	uint64_t sw = sleeps_so_far();

	atomic_fetch_add_explicit(&c->ready, 1, memory_order_release);
	for (unsigned long k = 0; k < j->total; k++) {
		uint64_t t, seq;

		/* Message k bumps the word from k to k + 1. FUTEX_WAIT returns at
		 * once if the word has moved already, so no wake-up is missed;
		 * a spurious return just loops. */
		while (atomic_load_explicit(&c->word, memory_order_acquire) == (uint32_t)k) {
			atomic_fetch_add_explicit(&c->asleep, 1, memory_order_seq_cst);
			futex(&c->word, FUTEX_WAIT, (uint32_t)k);
			atomic_fetch_sub_explicit(&c->asleep, 1, memory_order_seq_cst);
		}
		t = bench_now_ns();
		seq = c->seq;
		if (seq != k) {
			bench_child_fail(
				"wake-all, %u waiters: waiter %u: message %llu seen where %lu "
				"was due",
				j->n, idx, (unsigned long long)seq, k);
		}
		j->lat[k * j->n + idx] = t - c->t_pub;
		if (k + 1 == j->total) {
			j->csw[idx] = sleeps_so_far() - sw;
		}
		atomic_fetch_add_explicit(&c->processed, 1, memory_order_release);
	}
	_exit(0);
}

/* Wait until pred-like condition "processed >= want" holds, napping; fail
 * after a long time (the watchdog is the last resort). */
static void
wait_processed(const struct fo_job *j, uint64_t want, unsigned long k)
{
	uint64_t start = bench_now_ns();

	while (atomic_load_explicit(&j->ctl->processed, memory_order_acquire) < want) {
		if (bench_now_ns() - start > UINT64_C(10000000000)) {
			bench_fail("%s, %u subscribers: message %lu not received by all in 10 s "
				   "(%llu of %llu records)",
				   kind_name(j->kind), j->n, k,
				   (unsigned long long)atomic_load(&j->ctl->processed),
				   (unsigned long long)want);
		}
		bb_nap(20000);
	}
}

/*
 * Is this process asleep, as the kernel sees it (state S in /proc)? A
 * subscriber that has been woken but has not run yet still counts as
 * asleep for the bus (and for the floor's counter), but is R here. 1 when
 * /proc cannot tell.
 */
static int
proc_sleeping(pid_t pid)
{
	char path[64], buf[256];
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return 1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return 1;
	}
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last parenthesis. */
	p = strrchr(buf, ')');
	return p == NULL || p[1] != ' ' || p[2] == 'S';
}

/* Are all n subscribers asleep: as the bus (or the floor) counts them, and
 * as the kernel sees them? */
static int
all_asleep(const struct fo_job *j, shmkit_bus *b)
{
	if (j->kind == FO_WAKEALL) {
		if (atomic_load_explicit(&j->ctl->asleep, memory_order_seq_cst) != j->n) {
			return 0;
		}
	} else {
		shmkit_bus_info info;
		int rc = shmkit_bus_stat(b, &info);

		if (rc < 0) {
			bench_fail("%s: shmkit_bus_stat failed: %s", kind_name(j->kind),
				   shmkit_strerror(rc));
		}
		if (info.sleeping != j->n) {
			return 0;
		}
	}
	for (unsigned i = 0; i < j->n; i++) {
		if (!proc_sleeping(j->pids[i])) {
			return 0;
		}
	}
	return 1;
}

/* Wait until every subscriber sleeps, for at most plan->fz_settle_ns;
 * return 0 if they do, -1 if some are still awake then. */
static int
wait_asleep(const struct fo_job *j, shmkit_bus *b)
{
	uint64_t start = bench_now_ns();

	while (!all_asleep(j, b)) {
		if (bench_now_ns() - start > j->plan->fz_settle_ns) {
			return -1;
		}
		bb_nap(20000);
	}
	return 0;
}

/*
 * Publish j->total messages, the first j->warm untimed; cost[] gets the
 * time of each timed publish. For the sleeping rows, wait before each one
 * until every subscriber has recorded the previous message and sleeps.
 */
static void
publish_all(const struct fo_job *j, shmkit_bus *b, uint64_t period, uint64_t *cost,
	    double *period_us, unsigned long *late, unsigned long *awake)
{
	struct fo_msg m;
	uint64_t tick, first = 0, last = 0;
	struct fo_ctl *c = j->ctl;

	memset(&m, 0, sizeof(m));
	*late = 0;
	*awake = 0;
	tick = bench_now_ns();
	for (unsigned long k = 0; k < j->total; k++) {
		uint64_t t0, t1;
		int rc = 0;

		if (j->kind != FO_SPIN) {
			wait_processed(j, (uint64_t)j->n * k, k);
			if (wait_asleep(j, b) != 0 && k >= j->warm) {
				(*awake)++;
			}
			if (bench_now_ns() > tick && k >= j->warm) {
				(*late)++;
			}
		}
		while (bench_now_ns() < tick) {
			bench_relax();
		}
		t0 = bench_now_ns();
		if (j->kind == FO_WAKEALL) {
			c->seq = k;
			c->t_pub = t0;
			atomic_store_explicit(&c->word, (uint32_t)(k + 1), memory_order_release);
			if (futex(&c->word, FUTEX_WAKE, INT_MAX) < 0) {
				rc = -errno;
			}
		} else {
			m.seq = k;
			m.t_pub = t0;
			rc = shmkit_bus_send(b, &m, sizeof(m), 0, NULL);
		}
		t1 = bench_now_ns();
		if (rc < 0) {
			bench_fail("%s, %u subscribers: publish of message %lu failed: %s",
				   kind_name(j->kind), j->n, k, shmkit_strerror(rc));
		}
		if (k >= j->warm) {
			cost[k - j->warm] = t1 - t0;
			if (k == j->warm) {
				first = t0;
			}
			last = t0;
		}
		tick = t0 + period;
	}
	*period_us = j->total - j->warm > 1
			     ? (double)(last - first) / (double)(j->total - j->warm - 1) / 1e3
			     : 0;
	if (j->kind != FO_SPIN) {
		wait_processed(j, (uint64_t)j->n * j->total, j->total);
	}
}

/* Per timed message, the smallest and largest time over the subscribers. */
static void
spread(const struct fo_job *j, struct bb_lat *first, struct bb_lat *last)
{
	unsigned long msgs = j->total - j->warm;
	uint64_t *lo = malloc(msgs * sizeof(*lo));
	uint64_t *hi = malloc(msgs * sizeof(*hi));

	if (lo == NULL || hi == NULL) {
		bench_fail("out of memory");
	}
	for (unsigned long k = 0; k < msgs; k++) {
		const uint64_t *row = j->lat + (j->warm + k) * j->n;

		lo[k] = hi[k] = row[0];
		for (unsigned i = 1; i < j->n; i++) {
			lo[k] = row[i] < lo[k] ? row[i] : lo[k];
			hi[k] = row[i] > hi[k] ? row[i] : hi[k];
		}
	}
	bb_lat_fill(first, lo, msgs);
	bb_lat_fill(last, hi, msgs);
	free(lo);
	free(hi);
}

/*
 * One measurement: a row at one subscriber count, into out. Return 0, or
 * 1 when the bus cannot be created here (reason in out->cost.why).
 */
static int
fo_once(const struct bb_plan *plan, int kind, unsigned n, struct bb_fsleep *out)
{
	struct fo_job j;
	shmkit_bus *b = NULL;
	uint64_t *samples;
	char what[160];
	size_t ctl_len = (sizeof(struct fo_ctl) + 4095) / 4096 * 4096;
	int rc;

	memset(&j, 0, sizeof(j));
	j.plan = plan;
	j.kind = kind;
	j.n = n;
	j.warm = kind == FO_SPIN ? plan->fs_warmup : plan->fz_warmup;
	j.total = j.warm + (kind == FO_SPIN ? plan->fs_msgs : plan->fz_msgs);
	j.map_len = ctl_len + (kind == FO_SPIN ? 0 : (j.total + 1) * n * sizeof(uint64_t));
	j.ctl = bb_map_shared(j.map_len, "the fan-out results");
	j.lat = (uint64_t *)(void *)((unsigned char *)j.ctl + ctl_len);
	j.csw = j.lat + j.total * n;
	samples = calloc(j.total - j.warm, sizeof(*samples));
	j.pids = calloc(n, sizeof(*j.pids));
	if (samples == NULL || j.pids == NULL) {
		bench_fail("out of memory");
	}
	snprintf(what, sizeof(what), "the %s measurement with %u subscribers", kind_name(kind), n);

	bench_block(NULL);
	if (kind != FO_WAKEALL) {
		shmkit_bus_opts o;
		struct fo_msg m;

		shmkit_bus_opts_init(&o);
		o.max_msg_size = BB_MSG;
		o.max_subscribers = plan->max_subs;
		if (kind == FO_SPIN) {
			o.slots = plan->fs_slots;
		}
		bb_bus_spec(j.spec, sizeof(j.spec));
		rc = shmkit_bus_create(&b, j.spec, &o);
		if (rc < 0) {
			bench_unblock();
			snprintf(out->cost.why, sizeof(out->cost.why),
				 "shmkit_bus_create failed: %s", shmkit_strerror(rc));
			bench_unmap(j.ctl, j.map_len);
			free(samples);
			free(j.pids);
			return 1;
		}
		bb_guard_spec(j.spec, 1);
		bench_unblock();
		rc = shmkit_bus_set_wait(b, SHMKIT_BUS_WAIT_SPIN);
		/* One lap of the log before anyone subscribes: every page of the
		 * ring is in place before the timed publishes (a subscriber
		 * joining with no history never sees these). */
		memset(&m, 0, sizeof(m));
		m.seq = UINT64_MAX;
		for (uint32_t i = 0; rc == 0 && i < o.slots; i++) {
			rc = shmkit_bus_send(b, &m, sizeof(m), 0, NULL);
		}
		if (rc < 0) {
			bench_fail("%s: the warm-up lap failed: %s", what, shmkit_strerror(rc));
		}
		bench_block(NULL);
	}
	for (unsigned i = 0; i < n; i++) {
		j.pids[i] = bb_spawn(kind == FO_WAKEALL ? wakeall_sub : bus_sub, &j, i);
	}
	bench_unblock();
	bench_watchdog(plan->watchdog_s, what);
	while (atomic_load_explicit(&j.ctl->ready, memory_order_acquire) < n) {
		bb_nap(200000);
	}
	publish_all(&j, b, kind == FO_SPIN ? plan->fs_period_ns : plan->fz_period_ns, samples,
		    &out->period_us, &out->late, &out->awake);
	uint64_t t_end = bench_now_ns();

	bb_reap_all(what);
	out->drain_ms = (double)(bench_now_ns() - t_end) / 1e6;
	bench_watchdog(0, NULL);

	bb_lat_fill(&out->cost, samples, j.total - j.warm);
	if (kind != FO_SPIN) {
		uint64_t sum = 0;

		spread(&j, &out->first, &out->last);
		for (unsigned i = 0; i < n; i++) {
			sum += j.csw[i];
		}
		out->sleeps = (double)sum / (double)n / (double)j.total;
	}
	if (b != NULL) {
		bench_block(NULL);
		shmkit_bus_remove(b);
		bb_guard_spec(j.spec, 0);
		bench_unblock();
	}
	bench_unmap(j.ctl, j.map_len);
	free(samples);
	free(j.pids);
	return 0;
}

void
bb_run_fanout(const struct bb_plan *plan, struct bb_report *rep, int show)
{
	for (size_t s = 0; s < plan->nsubs; s++) {
		struct bb_fspin *f = &rep->fspin[s];
		struct bb_fsleep tmp;

		memset(&tmp, 0, sizeof(tmp));
		f->n = plan->subs[s];
		bench_progress(show, "measuring fan-out, spinning subscribers: %u", f->n);
		fo_once(plan, FO_SPIN, f->n, &tmp);
		f->cost = tmp.cost;
		f->period_us = tmp.period_us;
		f->drain_ms = tmp.drain_ms;
	}
	/* The two sleeping rows alternate at each count, so that both see the
	 * same state of the machine. */
	for (size_t s = 0; s < plan->nsubs; s++) {
		for (int r = 0; r < BB_FO_NROWS; r++) {
			struct bb_fsleep *f = &rep->fsleep[r][s];

			f->n = plan->subs[s];
			bench_progress(show, "measuring fan-out, sleeping subscribers: %s, %u",
				       bb_fo_names[r], f->n);
			fo_once(plan, r == BB_FO_BUS ? FO_SLEEP : FO_WAKEALL, f->n, f);
		}
	}
}
