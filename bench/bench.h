/* SPDX-License-Identifier: MIT */
/* The transport interface of shmkit-bench and the helpers its files share. */
#ifndef SHMKIT_BENCH_H
#define SHMKIT_BENCH_H

#include <signal.h>
#include <stdarg.h>
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

/* max_msg of a transport with no limit of its own (util.c). */
size_t bench_max_msg_none(char *why, size_t whylen);

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
struct option;

/* The program's name, for messages ("shmkit-bench" unless set; machine.c). */
extern const char *bench_prog;
/* "PROG: message" and then end on standard error (util.c). */
__attribute__((format(printf, 1, 0))) void bench_vmsg(const char *fmt, va_list ap, const char *end);
/* Bad usage: print "PROG: message (try --help)" and exit 2 (util.c). */
__attribute__((format(printf, 1, 2), noreturn)) void bench_usage_error(const char *fmt, ...);
/* A decimal unsigned number and nothing else: 0, or -1 (util.c). */
int bench_parse_ulong(const char *s, unsigned long *out);
/* The value of a count option, 1..100000000, or bad usage (util.c). */
unsigned long bench_count_arg(const char *opt, const char *arg);
/* A size such as 64, 4K, 4KiB, 1M or 1MiB: 0, or -1 (util.c). */
int bench_parse_size(const char *s, size_t *out);
/*
 * The first item of the comma-separated list arg of option opt, copied into
 * buf (len bytes) for strtok_r(NULL, ",", save) to go on with; NULL when
 * there is none. A list too long for buf is bad usage (util.c).
 */
char *bench_list_first(const char *opt, const char *arg, char *buf, size_t len, char **save);
/*
 * The options the programs share, which bench_getopt reads itself: --quick
 * ('q') and --smoke ('s') where a program has them, --json ('j') and --help
 * ('h').
 */
struct bench_cli {
	int quick;
	int smoke;
	int json;
};
/*
 * getopt_long over the options of opts: the next option that is not one of
 * the shared ones (those go into cli), or -1 once they are all read. --help
 * prints usage and exits 0; an unknown option, one without its value, an
 * argument left over, and --quick with --smoke are bad usage, each said in
 * one line (util.c).
 */
int bench_getopt(int argc, char **argv, const struct option *opts, const char *usage,
		 struct bench_cli *cli);
/* The watchdog of one measurement: 30 s in a smoke run, which must stop
 * itself (and clean up) well before the test runner's own timeout, else two
 * minutes and one more millisecond per iteration, at most one more day. */
unsigned bench_watchdog_for(int smoke, unsigned long iters);
/* A tenth of n as warm-up, at least one. */
unsigned long bench_warmup(unsigned long n);
/* Flush the results: 0, or 1 when they could not be written (said). */
int bench_finish(void);
/* Progress on standard error when on: the line cleared, then the message;
 * a NULL fmt only clears it (util.c). */
__attribute__((format(printf, 2, 3))) void bench_progress(int on, const char *fmt, ...);
/* Fill in the machine description, pin this process to the first usable CPU
 * and choose the second for the children (machine.c). */
void bench_probe_machine(struct bench_plan *plan, struct bench_machine *m);

/* Install the signal handlers that clean up after a failed or hung run. */
void bench_runner_init(void);

/*
 * Cleanup on every exit path (guard.c). A program registers the children it
 * forks and a cleanup function that releases what must not outlive it
 * (kernel objects, names); idempotent and async-signal-safe, as the
 * handlers call it. The watchdog (SIGALRM), SIGINT, SIGTERM, SIGHUP and,
 * with BENCH_GUARD_CHILD, a child that fails or dies (SIGCHLD) kill and
 * reap every registered child, call the cleanup and end the program with
 * status 1. Registration happens with those signals blocked (bench_block),
 * so a handler never sees a half-made entry.
 */
#define BENCH_GUARD_CHILD    0x1u /* handle SIGCHLD too */
#define BENCH_GUARD_MASK_ALL 0x2u /* block every signal in a handler, not only those */
/* Children at once, at most: a fan-out of 4096 subscribers and a few more. */
#define BENCH_MAX_KIDS 4100
void bench_guard_init(unsigned flags, void (*cleanup)(void));
/* Block the handled signals (the mask before into old, unless NULL), or
 * unblock them. */
void bench_block(sigset_t *old);
void bench_unblock(void);
/* Register a child (signals blocked), or forget one that was reaped. */
void bench_guard_add(pid_t pid);
void bench_guard_forget(pid_t pid);
/* The registry is full; the children registered. */
int bench_guard_full(void);
size_t bench_guard_kids(void);
/* Kill and reap the children and call the cleanup (signals blocked). */
void bench_abandon(void);
/* The same, then exit with status 1 (a child has given the reason). */
__attribute__((noreturn)) void bench_abandon_exit(void);
/*
 * In a child right after fork: the handled signals back to their default
 * dispositions, nothing of the parent's registry, and death with the
 * parent. 0, or -1 if the parent is already gone. The signal mask is left
 * as it is.
 */
int bench_guard_child(pid_t parent);
/*
 * Wait for the registered child pid with SIGCHLD blocked, then block the
 * handled signals, disarm the watchdog and forget the child. 0 when it
 * exited with status 0; 1 when it did not (one that failed has said why,
 * any other end is said with the message of bench_died_msg); a negative
 * errno when waitpid failed.
 */
int bench_guard_wait(pid_t pid);
/*
 * A registered child ended with this status: forget it. Status 0 is its
 * normal end; anything else ends the run, quietly for status 1 (the child
 * has said why), else with "PROG: what: who died of signal N (name)" or
 * "PROG: what: who exited with status N".
 */
void bench_guard_ended(pid_t pid, int status, const char *what, const char *who);
/* What the watchdog says when it fires, and what is said of a child that
 * dies unexpectedly; each a whole line. Set while neither can be said. */
__attribute__((format(printf, 1, 2))) void bench_watchdog_msg(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void bench_died_msg(const char *fmt, ...);
/* Arm the watchdog for one measurement, saying "PROG: watchdog: what did
 * not finish in secs s; stopped and cleaned up" when it fires; 0 disarms. */
void bench_watchdog(unsigned secs, const char *what);
/* A failure in the parent: print "PROG: message", kill the children, call
 * the cleanup, exit 1. */
__attribute__((format(printf, 1, 2), noreturn)) void bench_fail(const char *fmt, ...);
/* A failure in a child: print it and _exit(1); the parent cleans up. */
__attribute__((format(printf, 1, 2), noreturn)) void bench_child_fail(const char *fmt, ...);
/* write(2) of a whole string to standard error; usable from a handler. */
void bench_put_str(const char *s);

/* Payload pattern and checking (payload.c). */
void bench_fill(void *buf, size_t len, uint64_t seq);
int bench_check(const void *buf, size_t len, uint64_t seq, char *why, size_t whylen);
/* "message 7", "reply 7" or "acknowledgement 7", for error messages. */
const char *bench_seq_name(uint64_t seq, char *buf, size_t len);

/* Sorting and order statistics (util.c). */
int bench_cmp_u64(const void *a, const void *b);
int bench_cmp_double(const void *a, const void *b);
/* Nearest-rank percentile of n sorted samples, p in parts per 100000. */
uint64_t bench_percentile(const uint64_t *sorted, unsigned long n, unsigned long p);
/* Sort n samples (n > 0); return their mean. */
double bench_sort_mean(uint64_t *samples, unsigned long n);
/* Sort n samples (n > 0) and fill in the percentiles, min, max and mean
 * of out; it is then measured. */
void bench_latency_fill(struct bench_latency *out, uint64_t *samples, unsigned long n);
/* The median of n doubles (n > 0), which are sorted in place. */
double bench_median(double *v, unsigned long n);

/*
 * Printing (print.c). A JSON string (the names and reasons are ASCII, but
 * escaped anyway); "KiB" and "MiB" sizes; the machine in the tables and
 * in the JSON.
 */
void bench_json_str(const char *s);
/* {\n  "tool": "TOOL",\n  "version": "VERSION" and, unless mode is NULL,
 * ,\n  "mode": "MODE" and, unless iters_given < 0, ,\n  "iters_given": B. */
void bench_json_head(const char *tool, const char *mode, int iters_given);
/* "machine": {"cpu_model": ..., "arch": ..., "pinned": B, "KEY0": CPU,
 * "KEY1": CPU, "pinning": NOTE, without the closing brace; the CPUs are -1
 * when not pinned. */
void bench_json_machine(const struct bench_machine *m, int pinned, const char *key0, int cpu0,
			const char *key1, int cpu1, const char *pin_note);
/* , "KEY": num / den (3 decimals), or null when either is 0. */
void bench_json_ratio(const char *key, double num, double den);
/* , "available": false, "reason": "WHY"} */
void bench_json_unavailable(const char *why);
/* , "limit": L, "at_least": B, "ratio": R, "met": B} of a target; ratio 0
 * (not measured): null, null. */
void bench_json_target(double limit, int at_least, double ratio);
/* Whether ratio (measured: > 0) meets the target. */
int bench_target_met(double limit, int at_least, double ratio);
const char *bench_size_str(size_t size, char *buf, size_t len);
/* The "machine: ..." line of the tables. */
void bench_print_machine(const struct bench_machine *m);

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
/* A 64-byte aligned buffer for messages of size bytes and BENCH_BUF_SLACK,
 * every page touched; NULL when out of memory. */
unsigned char *bench_alloc_buf(size_t size);

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
