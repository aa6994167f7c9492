/* SPDX-License-Identifier: MIT */
/*
 * shmkit-bench-iceoryx: Eclipse iceoryx 2.0 (its C binding) measured the way
 * shmkit-bench measures its rows, so that the figures can stand side by side:
 * the same pinning (first two usable CPUs), the same payload pattern and
 * checks (payload.c), the same warm-up rule, the same nearest-rank
 * percentiles and the same throughput protocol (acknowledged warm-up, clock
 * over the timed messages only).
 *
 * Two processes, each an iceoryx runtime of its own registered with the RouDi
 * daemon (which must be running; run-iceoryx.sh starts one): the parent, on
 * the first CPU, sends pings and the throughput stream; the child, on the
 * second CPU, answers and receives. They fork before either touches iceoryx,
 * then each calls iox_runtime_init with its own name.
 *
 * Every message is a zero-copy chunk: loaned from the publisher, written in
 * place, published, taken by the subscriber and released. Two receive modes:
 *   spin     the receiver busy-polls iox_sub_take_chunk with a pause hint
 *   waitset  the receiver blocks in an iceoryx WaitSet (subscriber state
 *            HAS_DATA), iceoryx's blocking mode
 * The publishers are created with ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER and
 * the subscribers with QueueFullPolicy_BLOCK_PRODUCER and the largest queue
 * iceoryx allows, so a full queue blocks the producer instead of dropping;
 * the receiver still checks every sequence number and counts any gap.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "iceoryx_binding_c/config.h"
#include "iceoryx_binding_c/enums.h"
#include "iceoryx_binding_c/log.h"
#include "iceoryx_binding_c/notification_info.h"
#include "iceoryx_binding_c/publisher.h"
#include "iceoryx_binding_c/runtime.h"
#include "iceoryx_binding_c/subscriber.h"
#include "iceoryx_binding_c/types.h"
#include "iceoryx_binding_c/wait_set.h"

#include "../bench.h"

#ifndef SHMKIT_BENCH_VERSION
#define SHMKIT_BENCH_VERSION "unknown"
#endif
/* The version the binding was built against, when CMake knows it. */
#ifndef SHMKIT_IOX_VERSION
#define SHMKIT_IOX_VERSION "2.0"
#endif

#define SERVICE   "shmkit-bench"
#define MAX_SIZE  ((size_t)1 << 20)
#define CONNECT_S 20u /* bound on runtime registration and port matching */
#define NMODES    2
#define WS_NOTIFS 8

static const char usage[] =
	"usage: shmkit-bench-iceoryx [options]\n"
	"Measures Eclipse iceoryx (C binding, zero-copy loan/publish/take) the\n"
	"way shmkit-bench measures its rows: round-trip latency and one-way\n"
	"throughput between two processes pinned to two CPUs, every message\n"
	"checked. A RouDi daemon must be running (see run-iceoryx.sh).\n"
	"\n"
	"  --iters N        timed round trips per mode (default 100000), after\n"
	"                   N/10 warm-up ones\n"
	"  --messages N     timed throughput messages per mode (default 1000000),\n"
	"                   after N/10 warm-up ones\n"
	"  --size SIZE      message size in bytes, for both (default 64; 16 B..1 MiB);\n"
	"                   RouDi needs a mempool of chunks of at least SIZE, and\n"
	"                   for throughput about 270 of them (or a smaller --queue)\n"
	"  --modes LIST     spin,waitset (default both)\n"
	"  --no-latency     skip the round trips\n"
	"  --no-throughput  skip the throughput runs\n"
	"  --queue N        subscriber queue capacity (default: the largest allowed)\n"
	"  --lossy          iceoryx's default policies instead (the oldest message is\n"
	"                   dropped when a queue is full; losses are counted)\n"
	"  --json           print one JSON document instead of the tables\n"
	"  --help           print this help and exit\n"
	"\n"
	"Exit status: 0 measured, 1 runtime failure (a check failure, the\n"
	"watchdog, no RouDi), 2 bad usage.\n";

enum mode {
	MODE_SPIN = 0,
	MODE_WAITSET = 1,
};

static const char *const mode_row[NMODES] = {"iceoryx-spin", "iceoryx-waitset"};
static const char *const mode_tag[NMODES] = {"spin", "waitset"};
static const char *const mode_what[NMODES] = {
	"iceoryx pub/sub, zero-copy loan+publish; the receiver busy-polls "
	"iox_sub_take_chunk with a pause hint",
	"iceoryx pub/sub, zero-copy loan+publish; the receiver blocks in an iceoryx "
	"WaitSet (subscriber state HAS_DATA)",
};

struct opts {
	unsigned long lat_iters;
	unsigned long lat_warmup;
	unsigned long tput_msgs;
	unsigned long tput_warmup;
	size_t size;
	int modes[NMODES];
	int latency;
	int tput;
	uint64_t queue;
	int lossy; /* iceoryx's default policies: discard the oldest, never wait */
	int json;
	unsigned watchdog_s;
};

/* What one throughput run found; the child (the receiver) fills it in a
 * shared page, the parent reads it once the child has exited. */
struct rx_stats {
	uint64_t received;
	uint64_t lost;      /* sequence numbers never seen */
	int queue_overflow; /* iox_sub_has_lost_chunks said so */
};

struct shared {
	struct rx_stats rx[NMODES];
};

struct tput_result {
	int measured;
	unsigned long msgs;
	double secs;
	double msgs_per_s;
	double mb_per_s;
	uint64_t loan_retries;
	struct rx_stats rx;
};

/*
 * The ports of one side. Topics are SERVICE/<phase>-<parent pid>/<event>:
 * one pair per phase, so a straggler of one phase can never be taken for a
 * message of the next, and two runs under one RouDi never meet.
 */
enum phase {
	PH_LAT_SPIN,
	PH_LAT_WS,
	PH_TPUT_SPIN,
	PH_TPUT_WS,
	NPHASES,
};

static const char *const phase_name[NPHASES] = {"lat-spin", "lat-waitset", "tput-spin",
						"tput-waitset"};

struct side {
	int is_parent;
	int used[NPHASES];
	iox_pub_storage_t pub_st[NPHASES];
	iox_sub_storage_t sub_st[NPHASES];
	iox_pub_t pub[NPHASES]; /* this side's outgoing topic of the phase */
	iox_sub_t sub[NPHASES]; /* this side's incoming topic */
	iox_ws_storage_t ws_st;
	iox_ws_t ws;
	unsigned char *out; /* private message buffer (latency) */
	uint64_t loan_retries;
};

static const struct opts *cfg;
static const char *side_name = "parent";

/*
 * The child is registered with the guard (guard.c), whose handlers kill it
 * on the watchdog or an interrupt, and end the run when it fails (it
 * printed why) or dies, since this side may be spinning on a subscriber
 * nobody will publish to again.
 */
__attribute__((format(printf, 1, 2), noreturn)) static void
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s: ", bench_prog, side_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (bench_guard_kids() > 0) {
		bench_abandon_exit();
	}
	/* The child: the parent's SIGCHLD handler ends the run. */
	_exit(1);
}

/* Arm the watchdog: what 1 bounds the connection to RouDi, else a
 * measurement. */
static void
arm(unsigned what, unsigned seconds)
{
	alarm(0);
	if (what == 1) {
		bench_watchdog_msg(
			"%s: watchdog: no RouDi answered, or iceoryx did not connect the "
			"ports in time; is iox-roudi running (run-iceoryx.sh starts it)?\n",
			bench_prog);
	} else {
		bench_watchdog_msg("%s: watchdog: a measurement did not finish in time; stopped\n",
				   bench_prog);
	}
	alarm(seconds);
}

/* ---- iceoryx ports ------------------------------------------------------ */

static void
open_ports(struct side *s, pid_t parent)
{
	for (int ph = 0; ph < NPHASES; ph++) {
		char instance[64];
		const char *out_ev, *in_ev;
		iox_pub_options_t po;
		iox_sub_options_t so;

		if (!s->used[ph]) {
			continue;
		}
		snprintf(instance, sizeof(instance), "%s-%d", phase_name[ph], (int)parent);
		if (ph == PH_LAT_SPIN || ph == PH_LAT_WS) {
			out_ev = s->is_parent ? "ping" : "pong";
			in_ev = s->is_parent ? "pong" : "ping";
		} else {
			out_ev = s->is_parent ? "data" : "ack";
			in_ev = s->is_parent ? "ack" : "data";
		}
		iox_pub_options_init(&po);
		po.historyCapacity = 0;
		po.offerOnCreate = true;
		po.subscriberTooSlowPolicy = cfg->lossy ? ConsumerTooSlowPolicy_DISCARD_OLDEST_DATA
							: ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
		s->pub[ph] = iox_pub_init(&s->pub_st[ph], SERVICE, instance, out_ev, &po);
		iox_sub_options_init(&so);
		so.queueCapacity = cfg->queue;
		so.historyRequest = 0;
		so.subscribeOnCreate = true;
		so.queueFullPolicy = cfg->lossy ? QueueFullPolicy_DISCARD_OLDEST_DATA
						: QueueFullPolicy_BLOCK_PRODUCER;
		s->sub[ph] = iox_sub_init(&s->sub_st[ph], SERVICE, instance, in_ev, &so);
		if (s->pub[ph] == NULL || s->sub[ph] == NULL) {
			fail("cannot create the iceoryx ports of %s", phase_name[ph]);
		}
	}
	s->ws = iox_ws_init(&s->ws_st);
	if (s->ws == NULL) {
		fail("cannot create an iceoryx WaitSet");
	}
}

/* Wait (the watchdog bounds it) until every port of this side is matched:
 * each subscriber subscribed, each publisher seen by the peer's subscriber. */
static void
wait_connected(struct side *s)
{
	struct timespec ms = {0, 1000000};

	for (;;) {
		int all = 1;

		for (int ph = 0; ph < NPHASES; ph++) {
			if (!s->used[ph]) {
				continue;
			}
			if (iox_sub_get_subscription_state(s->sub[ph]) !=
				    SubscribeState_SUBSCRIBED ||
			    !iox_pub_has_subscribers(s->pub[ph])) {
				all = 0;
			}
		}
		if (all) {
			return;
		}
		nanosleep(&ms, NULL);
	}
}

static void
close_ports(struct side *s)
{
	iox_ws_deinit(s->ws);
	for (int ph = 0; ph < NPHASES; ph++) {
		if (!s->used[ph]) {
			continue;
		}
		iox_sub_deinit(s->sub[ph]);
		iox_pub_deinit(s->pub[ph]);
	}
}

static const char *
alloc_result_str(enum iox_AllocationResult r)
{
	switch (r) {
	case AllocationResult_NO_MEMPOOLS_AVAILABLE:
		return "no mempool available";
	case AllocationResult_RUNNING_OUT_OF_CHUNKS:
		return "running out of chunks";
	case AllocationResult_TOO_MANY_CHUNKS_ALLOCATED_IN_PARALLEL:
		return "too many chunks allocated in parallel";
	case AllocationResult_INVALID_CHUNK:
		return "invalid chunk";
	case AllocationResult_INVALID_PARAMETER_FOR_USER_PAYLOAD_OR_USER_HEADER:
		return "invalid user-payload or user-header parameter";
	case AllocationResult_INVALID_PARAMETER_FOR_CHUNK:
		return "invalid chunk parameter";
	case AllocationResult_INVALID_PARAMETER_FOR_REQUEST_HEADER:
		return "invalid request-header parameter";
	case AllocationResult_SUCCESS:
		return "success";
	case AllocationResult_UNDEFINED_ERROR:
	default:
		return "undefined error";
	}
}

/* Loan a chunk of size bytes; a transient shortage (every chunk of the pool
 * in flight) is waited out and counted, anything else is fatal. */
static void *
loan(struct side *s, iox_pub_t pub, size_t size)
{
	for (;;) {
		void *p = NULL;
		enum iox_AllocationResult r = iox_pub_loan_chunk(pub, &p, (uint32_t)size);

		if (r == AllocationResult_SUCCESS) {
			return p;
		}
		if (r != AllocationResult_RUNNING_OUT_OF_CHUNKS &&
		    r != AllocationResult_TOO_MANY_CHUNKS_ALLOCATED_IN_PARALLEL) {
			fail("loan of a %zu B chunk failed: %s (does RouDi's mempool "
			     "configuration have chunks of at least %zu B?)",
			     size, alloc_result_str(r), size);
		}
		s->loan_retries++;
		bench_relax();
	}
}

/* Take the next chunk of sub: busy-polling, or blocking in the WaitSet. */
static const void *
take(struct side *s, iox_sub_t sub, enum mode m)
{
	iox_notification_info_t notifs[WS_NOTIFS];

	for (;;) {
		const void *p = NULL;
		enum iox_ChunkReceiveResult r = iox_sub_take_chunk(sub, &p);

		if (r == ChunkReceiveResult_SUCCESS) {
			return p;
		}
		if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE) {
			fail("iox_sub_take_chunk failed (%d)", (int)r);
		}
		if (m == MODE_SPIN) {
			bench_relax();
		} else {
			uint64_t missed = 0;

			(void)iox_ws_wait(s->ws, notifs, WS_NOTIFS, &missed);
		}
	}
}

static void
attach(struct side *s, iox_sub_t sub, enum mode m)
{
	if (m != MODE_WAITSET) {
		return;
	}
	if (iox_ws_attach_subscriber_state(s->ws, sub, SubscriberState_HAS_DATA, 1, NULL) !=
	    WaitSetResult_SUCCESS) {
		fail("cannot attach a subscriber to the WaitSet");
	}
}

static void
detach(struct side *s, iox_sub_t sub, enum mode m)
{
	if (m == MODE_WAITSET) {
		iox_ws_detach_subscriber_state(s->ws, sub, SubscriberState_HAS_DATA);
	}
}

static void
check_or_fail(const void *p, size_t len, uint64_t seq)
{
	char why[200];

	if (bench_check(p, len, seq, why, sizeof(why)) != 0) {
		fail("%s", why);
	}
}

static uint64_t
load_seq(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* ---- latency ------------------------------------------------------------ */

static void
parent_latency(struct side *s, enum mode m, uint64_t *samples)
{
	int ph = m == MODE_SPIN ? PH_LAT_SPIN : PH_LAT_WS;
	unsigned long total = cfg->lat_warmup + cfg->lat_iters;
	size_t size = cfg->size;

	attach(s, s->sub[ph], m);
	for (unsigned long i = 0; i < total; i++) {
		uint64_t t0, t1;
		const void *in;
		void *c;

		/* As shmkit-bench's parent: the message is built before the
		 * clock starts, and sending it (here: loaning a chunk, copying
		 * the message in, publishing) is timed. */
		bench_fill(s->out, size, i);
		t0 = bench_now_ns();
		c = loan(s, s->pub[ph], size);
		memcpy(c, s->out, size);
		iox_pub_publish_chunk(s->pub[ph], c);
		in = take(s, s->sub[ph], m);
		t1 = bench_now_ns();
		/* Checking and releasing the reply are outside the clock, as
		 * the check is for shmkit-bench; zero-copy lets the receiver
		 * hold the chunk, so the release is not on the round trip. */
		check_or_fail(in, size, i | BENCH_SEQ_REPLY);
		iox_sub_release_chunk(s->sub[ph], in);
		if (i >= cfg->lat_warmup) {
			samples[i - cfg->lat_warmup] = t1 - t0;
		}
	}
	detach(s, s->sub[ph], m);
}

static void
child_latency(struct side *s, enum mode m)
{
	int ph = m == MODE_SPIN ? PH_LAT_SPIN : PH_LAT_WS;
	unsigned long total = cfg->lat_warmup + cfg->lat_iters;
	size_t size = cfg->size;

	attach(s, s->sub[ph], m);
	for (unsigned long i = 0; i < total; i++) {
		const void *in;
		void *c;

		/* The reply is ready before the ping arrives, and the ping is
		 * checked after the reply has left (as in shmkit-bench). */
		bench_fill(s->out, size, i | BENCH_SEQ_REPLY);
		in = take(s, s->sub[ph], m);
		c = loan(s, s->pub[ph], size);
		memcpy(c, s->out, size);
		iox_pub_publish_chunk(s->pub[ph], c);
		check_or_fail(in, size, i);
		iox_sub_release_chunk(s->sub[ph], in);
	}
	detach(s, s->sub[ph], m);
}

/* ---- throughput --------------------------------------------------------- */

static void
send_ack(struct side *s, int ph, uint64_t n)
{
	void *c = loan(s, s->pub[ph], BENCH_HDR_SIZE);

	bench_fill(c, BENCH_HDR_SIZE, BENCH_SEQ_ACK | n);
	iox_pub_publish_chunk(s->pub[ph], c);
}

static void
wait_ack(struct side *s, int ph, enum mode m, uint64_t n)
{
	const void *in = take(s, s->sub[ph], m);

	check_or_fail(in, BENCH_HDR_SIZE, BENCH_SEQ_ACK | n);
	iox_sub_release_chunk(s->sub[ph], in);
}

static void
parent_tput(struct side *s, enum mode m, struct tput_result *res)
{
	int ph = m == MODE_SPIN ? PH_TPUT_SPIN : PH_TPUT_WS;
	unsigned long warm = cfg->tput_warmup, total = warm + cfg->tput_msgs;
	size_t size = cfg->size;
	uint64_t t0 = 0, retries0 = 0;

	attach(s, s->sub[ph], m);
	for (unsigned long i = 0; i < total; i++) {
		void *c;

		if (i == warm) {
			/* The receiver has taken the whole warm-up. */
			wait_ack(s, ph, m, warm);
			retries0 = s->loan_retries;
			t0 = bench_now_ns();
		}
		/* Zero-copy: the message is written in place in the chunk. */
		c = loan(s, s->pub[ph], size);
		bench_fill(c, size, i);
		iox_pub_publish_chunk(s->pub[ph], c);
	}
	wait_ack(s, ph, m, total);
	res->secs = (double)(bench_now_ns() - t0) / 1e9;
	if (res->secs <= 0) {
		res->secs = 1e-9;
	}
	detach(s, s->sub[ph], m);
	res->measured = 1;
	res->msgs = cfg->tput_msgs;
	res->msgs_per_s = (double)res->msgs / res->secs;
	res->mb_per_s = (double)res->msgs * (double)size / res->secs / 1e6;
	res->loan_retries = s->loan_retries - retries0;
}

static void
child_tput(struct side *s, enum mode m, struct rx_stats *rx)
{
	int ph = m == MODE_SPIN ? PH_TPUT_SPIN : PH_TPUT_WS;
	uint64_t warm = cfg->tput_warmup, total = warm + cfg->tput_msgs;
	uint64_t expected = 0;
	int warm_acked = 0;
	char name[48];

	memset(rx, 0, sizeof(*rx));
	attach(s, s->sub[ph], m);
	while (expected < total) {
		const void *in = take(s, s->sub[ph], m);
		uint64_t seq = load_seq(in);

		/* A gap is counted (and the run goes on); anything that goes
		 * backwards, repeats or is not a data message is an error. */
		if (seq < expected || seq >= total) {
			fail("%s received where message %" PRIu64 " was expected",
			     bench_seq_name(seq, name, sizeof(name)), expected);
		}
		rx->lost += seq - expected;
		check_or_fail(in, cfg->size, seq);
		iox_sub_release_chunk(s->sub[ph], in);
		rx->received++;
		expected = seq + 1;
		/* Acknowledge the end of the warm-up and the end of the run:
		 * the sender's clock spans exactly the timed messages. */
		if (!warm_acked && expected >= warm) {
			send_ack(s, ph, warm);
			warm_acked = 1;
		}
	}
	send_ack(s, ph, total);
	rx->queue_overflow = iox_sub_has_lost_chunks(s->sub[ph]);
	detach(s, s->sub[ph], m);
}

/* ---- the two processes ---------------------------------------------------- */

static void
runtime_up(struct side *s, const char *role, pid_t parent)
{
	char name[96];

	/* iceoryx's own messages below warnings would fill the tables. */
	iox_set_loglevel(Iceoryx_LogLevel_Warn);
	snprintf(name, sizeof(name), "shmkit-iox-%s-%d", role, (int)parent);
	iox_runtime_init(name);
	open_ports(s, parent);
	wait_connected(s);
}

/* The parent tells the child it has taken every message: until then the
 * child keeps its publishers, whose last chunks the parent may still hold. */
static void
send_bye(struct side *s)
{
	void *c = loan(s, s->pub[PH_LAT_SPIN], BENCH_HDR_SIZE);

	bench_fill(c, BENCH_HDR_SIZE, BENCH_SEQ_ACK | BENCH_SEQ_REPLY);
	iox_pub_publish_chunk(s->pub[PH_LAT_SPIN], c);
}

static void
wait_bye(struct side *s)
{
	struct timespec ms = {0, 1000000};

	for (;;) {
		const void *p = NULL;

		if (iox_sub_take_chunk(s->sub[PH_LAT_SPIN], &p) == ChunkReceiveResult_SUCCESS) {
			check_or_fail(p, BENCH_HDR_SIZE, BENCH_SEQ_ACK | BENCH_SEQ_REPLY);
			iox_sub_release_chunk(s->sub[PH_LAT_SPIN], p);
			return;
		}
		nanosleep(&ms, NULL);
	}
}

__attribute__((noreturn)) static void
child_main(struct side *s, const struct bench_plan *plan, struct shared *sh, pid_t parent)
{
	cpu_set_t set;

	side_name = "child";
	/* If the parent dies, so does the child (RouDi's monitoring then
	 * reclaims both runtimes' resources). */
	if (bench_guard_child(parent) < 0) {
		_exit(1);
	}
	if (plan->pinned) {
		CPU_ZERO(&set);
		CPU_SET(plan->cpu_child, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			fail("cannot pin to CPU %d: %s", plan->cpu_child, strerror(errno));
		}
	}
	s->is_parent = 0;
	runtime_up(s, "pong", parent);
	for (int m = 0; m < NMODES; m++) {
		if (cfg->latency && cfg->modes[m]) {
			child_latency(s, (enum mode)m);
		}
	}
	for (int m = 0; m < NMODES; m++) {
		if (cfg->tput && cfg->modes[m]) {
			child_tput(s, (enum mode)m, &sh->rx[m]);
		}
	}
	wait_bye(s);
	close_ports(s);
	exit(0);
}

/* ---- results -------------------------------------------------------------- */

/* The nearest-rank percentiles of shmkit-bench's runner (util.c). */
static void
summarize(uint64_t *samples, unsigned long n, struct bench_latency *out)
{
	bench_latency_fill(out, samples, n);
	out->size = cfg->size;
	out->iters = n;
	out->warmup = cfg->lat_warmup;
}

static const char *
pub_policy(void)
{
	return cfg->lossy ? "DISCARD_OLDEST_DATA" : "WAIT_FOR_CONSUMER";
}

static const char *
sub_policy(void)
{
	return cfg->lossy ? "DISCARD_OLDEST_DATA" : "BLOCK_PRODUCER";
}

static void
print_table(const struct bench_machine *mach, const struct bench_latency *lat,
	    const struct tput_result *tp)
{
	printf("shmkit-bench-iceoryx %s, Eclipse iceoryx %s (C binding)\n", SHMKIT_BENCH_VERSION,
	       SHMKIT_IOX_VERSION);
	bench_print_machine(mach);
	printf("pinning: %s; RouDi not pinned\n", mach->pin_note);
	printf("ports: zero-copy loan/publish/take; publisher %s, subscriber %s,\n"
	       "       queue capacity %" PRIu64 ", no history\n",
	       pub_policy(), sub_policy(), cfg->queue);
	if (cfg->latency) {
		printf("\nRound-trip latency in ns: %lu round trips after %lu warm-up ones, "
		       "every message checked\n",
		       cfg->lat_iters, cfg->lat_warmup);
		printf("%-18s %-7s %5s %8s %8s %8s %9s\n", "transport", "kind", "size", "p50",
		       "p99", "p99.9", "max");
		for (int m = 0; m < NMODES; m++) {
			const struct bench_latency *l = &lat[m];

			if (!l->measured) {
				continue;
			}
			printf("%-18s %-7s %5zu %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %9" PRIu64
			       "\n",
			       mode_row[m], "iceoryx", l->size, l->p50_ns, l->p99_ns, l->p999_ns,
			       l->max_ns);
		}
	}
	if (cfg->tput) {
		printf("\nOne-way throughput: parent publishes, child takes and checks every "
		       "message; MB = 10^6 bytes\n");
		printf("%-8s %-18s %-7s %9s %12s %10s %6s\n", "size", "transport", "kind",
		       "messages", "msgs/s", "MB/s", "lost");
		for (int m = 0; m < NMODES; m++) {
			const struct tput_result *t = &tp[m];

			if (!t->measured) {
				continue;
			}
			printf("%-8zu %-18s %-7s %9lu %12.0f %10.1f %6" PRIu64 "%s\n", cfg->size,
			       mode_row[m], "iceoryx", t->msgs, t->msgs_per_s, t->mb_per_s,
			       t->rx.lost, t->rx.queue_overflow ? " (queue overflowed)" : "");
		}
		printf("lost: sequence numbers the receiver never saw%s\n",
		       cfg->lossy ? " (msgs/s counts the messages sent)"
				  : " (0 expected: the producer blocks)");
	}
}

static void
print_json(const struct bench_plan *plan, const struct bench_machine *mach,
	   const struct bench_latency *lat, const struct tput_result *tp)
{
	int first = 1;

	bench_json_head("shmkit-bench-iceoryx", NULL, -1);
	printf(",\n  \"iceoryx_version\": ");
	bench_json_str(SHMKIT_IOX_VERSION);
	printf(",\n  ");
	bench_json_machine(mach, plan->pinned, "parent_cpu", plan->cpu_parent, "child_cpu",
			   plan->cpu_child, mach->pin_note);
	printf("},\n  \"iceoryx\": {\"publisher_policy\": \"%s\", "
	       "\"subscriber_policy\": \"%s\", \"queue_capacity\": %" PRIu64
	       ", \"history_capacity\": 0, \"zero_copy\": true},\n",
	       pub_policy(), sub_policy(), cfg->queue);
	printf("  \"latency_round_trips\": %lu,\n  \"latency_warmup\": %lu,\n", cfg->lat_iters,
	       cfg->lat_warmup);
	printf("  \"throughput_messages\": %lu,\n  \"throughput_warmup\": %lu,\n", cfg->tput_msgs,
	       cfg->tput_warmup);
	printf("  \"size\": %zu,\n", cfg->size);
	printf("  \"units\": {\"latency\": \"ns per round trip\", "
	       "\"throughput\": \"MB = 10^6 bytes\"},\n  \"rows\": [");
	for (int m = 0; m < NMODES; m++) {
		const struct bench_latency *l = &lat[m];
		const struct tput_result *t = &tp[m];

		if (!cfg->modes[m]) {
			continue;
		}
		printf("%s\n    {\"transport\": ", first ? "" : ",");
		first = 0;
		bench_json_str(mode_row[m]);
		printf(", \"kind\": \"iceoryx\", \"mode\": ");
		bench_json_str(mode_tag[m]);
		printf(", \"description\": ");
		bench_json_str(mode_what[m]);
		printf(",\n     \"latency\": ");
		if (l->measured) {
			printf("{\"size\": %zu, \"round_trips\": %lu, \"warmup\": %lu, "
			       "\"min_ns\": %" PRIu64 ", \"mean_ns\": %.1f, \"p50_ns\": %" PRIu64
			       ", \"p99_ns\": %" PRIu64 ", \"p999_ns\": %" PRIu64
			       ", \"max_ns\": %" PRIu64 "}",
			       l->size, l->iters, l->warmup, l->min_ns, l->mean_ns, l->p50_ns,
			       l->p99_ns, l->p999_ns, l->max_ns);
		} else {
			printf("{\"size\": %zu, \"available\": false, \"reason\": "
			       "\"not measured (--no-latency)\"}",
			       cfg->size);
		}
		printf(",\n     \"throughput\": [\n       ");
		if (t->measured) {
			printf("{\"size\": %zu, \"messages\": %lu, \"seconds\": %.6f, "
			       "\"msgs_per_s\": %.1f, \"mb_per_s\": %.2f, \"lost\": %" PRIu64
			       ", \"queue_overflow\": %s, \"loan_retries\": %" PRIu64 "}",
			       cfg->size, t->msgs, t->secs, t->msgs_per_s, t->mb_per_s, t->rx.lost,
			       t->rx.queue_overflow ? "true" : "false", t->loan_retries);
		} else {
			printf("{\"size\": %zu, \"available\": false, \"reason\": "
			       "\"not measured (--no-throughput)\"}",
			       cfg->size);
		}
		printf("]}");
	}
	printf("\n  ]\n}\n");
}

/* ---- options -------------------------------------------------------------- */

static void
parse_modes(struct opts *o, const char *arg)
{
	char buf[64];
	char *save;

	memset(o->modes, 0, sizeof(o->modes));
	for (char *tok = bench_list_first("--modes", arg, buf, sizeof(buf), &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		int m;

		for (m = 0; m < NMODES; m++) {
			if (strcmp(tok, mode_tag[m]) == 0) {
				o->modes[m] = 1;
				break;
			}
		}
		if (m == NMODES) {
			bench_usage_error("--modes: unknown mode '%s' (spin, waitset)", tok);
		}
	}
}

static void
parse_options(struct opts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		{"iters", required_argument, NULL, 'i'},
		{"messages", required_argument, NULL, 'n'},
		{"size", required_argument, NULL, 'z'},
		{"modes", required_argument, NULL, 'm'},
		{"no-latency", no_argument, NULL, 'L'},
		{"no-throughput", no_argument, NULL, 'T'},
		{"queue", required_argument, NULL, 'Q'},
		{"lossy", no_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t qmax = iox_cfg_max_subscriber_queue_capacity();
	struct bench_cli cli = {0};
	unsigned long v, n;
	int c;

	memset(o, 0, sizeof(*o));
	o->lat_iters = 100000;
	o->tput_msgs = 1000000;
	o->size = BENCH_LAT_SIZE;
	o->modes[MODE_SPIN] = o->modes[MODE_WAITSET] = 1;
	o->latency = o->tput = 1;
	o->queue = qmax;
	while ((c = bench_getopt(argc, argv, lopts, usage, &cli)) != -1) {
		switch (c) {
		case 'i':
			o->lat_iters = bench_count_arg("--iters", optarg);
			break;
		case 'n':
			o->tput_msgs = bench_count_arg("--messages", optarg);
			break;
		case 'z':
			if (bench_parse_size(optarg, &o->size) != 0 || o->size < BENCH_HDR_SIZE ||
			    o->size > MAX_SIZE) {
				bench_usage_error("--size: expected %d B..1 MiB, got '%s'",
						  BENCH_HDR_SIZE, optarg);
			}
			break;
		case 'm':
			parse_modes(o, optarg);
			break;
		case 'L':
			o->latency = 0;
			break;
		case 'T':
			o->tput = 0;
			break;
		case 'Q':
			if (bench_parse_ulong(optarg, &v) != 0 || v < 1 || v > qmax) {
				bench_usage_error("--queue: expected 1..%" PRIu64 ", got '%s'",
						  qmax, optarg);
			}
			o->queue = v;
			break;
		case 'D':
			o->lossy = 1;
			break;
		}
	}
	o->json = cli.json;
	if (!o->latency && !o->tput) {
		bench_usage_error("--no-latency and --no-throughput leave nothing to measure");
	}
	o->lat_warmup = bench_warmup(o->lat_iters);
	o->tput_warmup = bench_warmup(o->tput_msgs);
	/* One extra millisecond per iteration of the longest phase on top of
	 * two minutes, as shmkit-bench bounds a measurement. */
	n = o->lat_iters > o->tput_msgs ? o->lat_iters : o->tput_msgs;
	o->watchdog_s = 120 + (unsigned)(n / 1000);
}

int
main(int argc, char **argv)
{
	static struct opts o;
	struct bench_plan plan;
	struct bench_machine mach;
	struct bench_latency lat[NMODES];
	struct tput_result tp[NMODES];
	struct side s;
	struct shared *sh;
	uint64_t *samples = NULL;
	pid_t parent = getpid(), pid;
	sigset_t chld, old;
	int rc;

	bench_prog = "shmkit-bench-iceoryx";
	parse_options(&o, argc, argv);
	cfg = &o;
	memset(&plan, 0, sizeof(plan));
	memset(&mach, 0, sizeof(mach));
	memset(lat, 0, sizeof(lat));
	memset(tp, 0, sizeof(tp));
	memset(&s, 0, sizeof(s));
	/* Pins this process to the first usable CPU, as shmkit-bench does. */
	bench_probe_machine(&plan, &mach);

	for (int m = 0; m < NMODES; m++) {
		if (!o.modes[m]) {
			continue;
		}
		s.used[m == MODE_SPIN ? PH_LAT_SPIN : PH_LAT_WS] |= o.latency;
		s.used[m == MODE_SPIN ? PH_TPUT_SPIN : PH_TPUT_WS] |= o.tput;
	}
	/* The closing handshake travels on the spin round trip's ping topic. */
	s.used[PH_LAT_SPIN] = 1;
	s.out = aligned_alloc(64, (o.size + 63) / 64 * 64);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (o.latency) {
		samples = malloc(o.lat_iters * sizeof(*samples));
	}
	if (s.out == NULL || sh == MAP_FAILED || (o.latency && samples == NULL)) {
		fprintf(stderr, "%s: out of memory\n", bench_prog);
		return 1;
	}
	/* Touch every page now rather than during the timed loops. */
	memset(s.out, 0, (o.size + 63) / 64 * 64);
	memset(sh, 0, sizeof(*sh));
	if (samples != NULL) {
		memset(samples, 0, o.lat_iters * sizeof(*samples));
	}

	/* No iceoryx runtime before the fork (only its compile-time limits
	 * were read): each process becomes a runtime of its own, registered
	 * with RouDi under its own name, after it. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	bench_guard_init(BENCH_GUARD_CHILD | BENCH_GUARD_MASK_ALL, NULL);
	bench_died_msg("%s: the child process died unexpectedly\n", bench_prog);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: fork failed: %s\n", bench_prog, strerror(errno));
		return 1;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		child_main(&s, &plan, sh, parent);
	}
	bench_guard_add(pid);
	sigprocmask(SIG_SETMASK, &old, NULL);

	s.is_parent = 1;
	arm(1, CONNECT_S);
	runtime_up(&s, "ping", parent);
	arm(2, o.watchdog_s);
	for (int m = 0; m < NMODES; m++) {
		if (o.latency && o.modes[m]) {
			parent_latency(&s, (enum mode)m, samples);
			summarize(samples, o.lat_iters, &lat[m]);
			arm(2, o.watchdog_s);
		}
	}
	for (int m = 0; m < NMODES; m++) {
		if (o.tput && o.modes[m]) {
			parent_tput(&s, (enum mode)m, &tp[m]);
			arm(2, o.watchdog_s);
		}
	}
	send_bye(&s);

	rc = bench_guard_wait(pid);
	if (rc < 0) {
		fail("waitpid failed: %s", strerror(-rc));
	}
	if (rc > 0) {
		return 1;
	}
	/* Nothing is left to clean up: interrupts may end the rest at once. */
	bench_unblock();
	close_ports(&s);
	for (int m = 0; m < NMODES; m++) {
		tp[m].rx = sh->rx[m];
	}
	if (o.json) {
		print_json(&plan, &mach, lat, tp);
	} else {
		print_table(&mach, lat, tp);
	}
	free(samples);
	free(s.out);
	return bench_finish();
}
