/* SPDX-License-Identifier: MIT */
/* The transport interface of shmkit-bench and the helpers its files share. */
#ifndef SHMKIT_BENCH_H
#define SHMKIT_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Which process of a measured pair is running. The parent (pinned to the
 * first CPU) sends pings and throughput traffic; the child (pinned to the
 * second CPU) answers and receives.
 */
enum bench_side {
	BENCH_PARENT = 0,
	BENCH_CHILD = 1,
};

/* The transport only measures latency (the word floors carry no payload). */
#define BENCH_TF_LATENCY_ONLY 0x1u
/* The latency reference: every row's p50 is also shown relative to it. */
#define BENCH_TF_REFERENCE 0x2u

/* A message of this size is a bare 64-bit sequence word (word floors). */
#define BENCH_WORD_MSG 8
/* Every larger message starts with a sequence number and a checksum. */
#define BENCH_HDR_SIZE 16
/* The ping-pong message of the latency measurement. */
#define BENCH_LAT_SIZE 64
/* Sequence numbers of replies and acknowledgements carry one of these bits,
 * so that a reply can never pass for a ping nor an acknowledgement for data. */
#define BENCH_SEQ_REPLY (UINT64_C(1) << 62)
#define BENCH_SEQ_ACK   (UINT64_C(1) << 61)
/* Sizes accepted by --sizes. */
#define BENCH_MIN_SIZE BENCH_HDR_SIZE
#define BENCH_MAX_SIZE ((size_t)64 << 20)
/* Receive buffers are this much larger than the message they expect, so a
 * message transport can report an oversized message instead of cutting it. */
#define BENCH_BUF_SLACK 64

/*
 * One row of the tables. A transport moves whole messages between the two
 * processes of a pair; it knows nothing of sequence numbers, timing or
 * checksums, which the harness owns. Adding a row means adding one file that
 * defines one of these and listing it in transports.c.
 *
 * Life cycle of one measurement: the harness allocates ctx_size zeroed bytes,
 * calls setup() in the parent, forks, calls side_init() in each process,
 * then send()/recv() from both sides, reaps the child, and calls teardown()
 * in the parent. Each process owns its own copy of the context after fork.
 */
struct bench_transport {
	/* Name used by --only and in the tables, e.g. "pipe". */
	const char *name;
	/* "floor" for the reference rows, "kernel" for kernel mechanisms and,
	 * with later work, "shmkit" for the library's objects. */
	const char *kind;
	/* One line saying what is measured, for --list and the JSON. */
	const char *what;
	/* BENCH_TF_* bits. */
	unsigned flags;
	/* Bytes of private context the harness allocates for the transport. */
	size_t ctx_size;
	/*
	 * Largest message in bytes this transport carries on this system, or 0
	 * for no limit. When there is a limit, a short reason (such as the
	 * kernel setting that imposes it) is written to why.
	 */
	size_t (*max_msg)(char *why, size_t whylen);
	/*
	 * Create the kernel objects for messages of up to msg_size bytes,
	 * before the fork. Return 0 or a negative errno; on failure nothing
	 * is left behind and the row is reported as not available.
	 */
	int (*setup)(void *ctx, size_t msg_size);
	/* Prepare one side after the fork (close the other side's ends). */
	int (*side_init)(void *ctx, enum bench_side side);
	/* Send one message of len bytes; block while the transport is full.
	 * Return 0 or a negative errno. */
	int (*send)(void *ctx, const void *buf, size_t len);
	/*
	 * Receive one message into buf, which has room for the msg_size given
	 * to setup() plus BENCH_BUF_SLACK bytes. Stream transports read exactly
	 * len bytes; message transports return the length of the message they
	 * got, which the harness compares with len. Return the length or a
	 * negative errno (-ECONNRESET when the peer closed a stream).
	 */
	ssize_t (*recv)(void *ctx, void *buf, size_t len);
	/*
	 * Optional (NULL for none): check, in the parent once the child has
	 * exited normally, that the transport ended as a clean run leaves it
	 * (for a semaphore: every count consumed, so no wake-up was
	 * duplicated). Return 0, or a negative errno with the reason in why.
	 */
	int (*end_check)(void *ctx, char *why, size_t whylen);
	/*
	 * Release everything setup() created, in the parent, once the child is
	 * gone. It must be idempotent and async-signal-safe (close, munmap,
	 * msgctl, mq_unlink only), because the watchdog and the failure paths
	 * call it from signal handlers so that no kernel object outlives a run.
	 */
	void (*teardown)(void *ctx);
};

/* The transports, in table order (transports.c). */
extern const struct bench_transport *const bench_transports[];
extern const size_t bench_ntransports;

/* Everything a run needs to know, decided by the options (main.c). */
struct bench_plan {
	const char *mode;         /* "full", "quick" or "smoke" */
	int iters_given;          /* --iters overrode the mode's counts */
	unsigned long lat_iters;  /* timed round trips */
	unsigned long lat_warmup; /* untimed round trips before them */
	size_t lat_size;          /* round-trip message size (0: BENCH_LAT_SIZE) */
	size_t sizes[16];         /* throughput payload sizes */
	size_t nsizes;
	uint64_t tput_budget;   /* bytes per throughput measurement */
	unsigned long tput_max; /* at most this many messages */
	unsigned long tput_min; /* and at least this many */
	unsigned watchdog_s;    /* per measurement */
	int pinned;             /* parent and child pinned? */
	int cpu_parent;
	int cpu_child;
	unsigned rounds; /* shmkit-bench-sync: ping-pong rounds (rows interleaved) */
};

/* Result of one latency measurement (runner.c). */
struct bench_latency {
	int measured;
	size_t size;
	unsigned long iters;
	unsigned long warmup;
	uint64_t min_ns;
	uint64_t p50_ns;
	uint64_t p99_ns;
	uint64_t p999_ns;
	uint64_t max_ns;
	double mean_ns;
	char why[160]; /* when not measured */
};

/* Result of one throughput measurement at one size (runner.c). */
struct bench_tput {
	int measured;
	size_t size;
	unsigned long msgs;
	double secs;
	double msgs_per_s;
	double mb_per_s; /* 10^6 bytes per second */
	char why[160];   /* when not measured */
};

/* One line of the tables: a transport and everything measured for it. */
struct bench_row {
	const struct bench_transport *t;
	struct bench_latency lat;
	struct bench_tput tput[16]; /* one per plan size */
};

/* What the report says about the machine (main.c). */
struct bench_machine {
	char cpu_model[128];
	long cpus_online;
	int cpus_allowed;
	char kernel[128];
	char arch[80];
	char pin_note[160];
};

void bench_print_table(const struct bench_plan *plan, const struct bench_machine *m,
		       const struct bench_row *rows, size_t nrows);
void bench_print_json(const struct bench_plan *plan, const struct bench_machine *m,
		      const struct bench_row *rows, size_t nrows);

void bench_run_latency(const struct bench_plan *plan, const struct bench_transport *t,
		       struct bench_latency *out);
void bench_run_tput(const struct bench_plan *plan, const struct bench_transport *t, size_t size,
		    struct bench_tput *out);
/* The program's name, for messages ("shmkit-bench" unless set; machine.c). */
extern const char *bench_prog;
/* Bad usage: print "PROG: message (try --help)" and exit 2 (util.c). */
__attribute__((format(printf, 1, 2), noreturn)) void bench_usage_error(const char *fmt, ...);
/* A decimal unsigned number and nothing else: 0, or -1 (util.c). */
int bench_parse_ulong(const char *s, unsigned long *out);
/* Fill in the machine description, pin this process to the first usable CPU
 * and choose the second for the children (machine.c). */
void bench_probe_machine(struct bench_plan *plan, struct bench_machine *m);

/* Install the signal handlers that clean up after a failed or hung run. */
void bench_runner_init(void);

/* Payload pattern and checking (payload.c). */
void bench_fill(void *buf, size_t len, uint64_t seq);
int bench_check(const void *buf, size_t len, uint64_t seq, char *why, size_t whylen);
/* "message 7", "reply 7" or "acknowledgement 7", for error messages. */
const char *bench_seq_name(uint64_t seq, char *buf, size_t len);

/* Small helpers (util.c). */
uint64_t bench_now_ns(void);
void bench_set_single_cpu(int single);
void bench_relax(void);
int bench_write_full(int fd, const void *buf, size_t len);
ssize_t bench_read_full(int fd, void *buf, size_t len);
int bench_read_proc_u64(const char *path, uint64_t *out);
void *bench_map_shared(size_t len);
void *bench_map_private(size_t len);
void bench_unmap(void *addr, size_t len);

/*
 * A single-producer single-consumer ring of fixed-size slots in shared
 * memory, one ring per direction, used by the shm-spin floor and the eventfd
 * row (slots.c). The struct itself is process-local: each process keeps its
 * own cached copy of the peer's index after the fork.
 */
struct bench_slots {
	unsigned char *base; /* shared mapping */
	size_t map_len;
	size_t stride;          /* bytes per slot, a cache-line multiple */
	uint32_t nslots;        /* power of two */
	uint64_t peer_cache[2]; /* last seen tail (producer) / head (consumer) */
};

int bench_slots_create(struct bench_slots *s, size_t msg_size);
void bench_slots_destroy(struct bench_slots *s);
/* Direction 0 carries parent-to-child messages, direction 1 the replies.
 * Both return -EAGAIN when the ring is full or empty. */
int bench_slots_try_put(struct bench_slots *s, int dir, const void *buf, size_t len);
ssize_t bench_slots_try_get(struct bench_slots *s, int dir, void *buf, size_t cap);

#endif
