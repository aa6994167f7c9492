/* SPDX-License-Identifier: MIT */
/* shmkit-bench-bus: the publish/subscribe bus measured next to its floors. */
#ifndef SHMKIT_BENCH_B_H
#define SHMKIT_BENCH_B_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <shmkit/shmkit.h>

#include "bench.h"

/* The parts of a run, as --only names them. */
#define BB_PART_RT     0x1u
#define BB_PART_FANOUT 0x2u
#define BB_PART_TPUT   0x4u

/* Subscriber counts of the fan-out (--subs): at most this many entries, each
 * 1..BB_MAX_SUBS (the bus's own limit). */
#define BB_MAX_NSUBS 16
#define BB_MAX_SUBS  4096u
/* Every fan-out bus admits at least this many subscribers. */
#define BB_MIN_MAX_SUBS 256u

/* Every fan-out and round-trip message has this size. */
#define BB_MSG 64

/* Round-trip rows, in table order: the floors first. */
enum {
	BB_RT_CACHELINE = 0,
	BB_RT_SHMSPIN = 1,
	BB_RT_BUS_SPIN = 2,
	BB_RT_BUS_DEFAULT = 3,
	BB_RT_NROWS = 4,
};

/* Sleeping fan-out rows: the bus, and the bare wake-all floor. */
enum {
	BB_FO_BUS = 0,
	BB_FO_WAKEALL = 1,
	BB_FO_NROWS = 2,
};

/* Zero-copy sizes: 64 B, 4 KiB, 64 KiB, 1 MiB. */
#define BB_NZC 4
extern const size_t bb_zc_sizes[BB_NZC];
/* The large copying message. */
#define BB_BIG ((size_t)1 << 20)

/* What a run does, decided by the options (bus_main.c). */
struct bb_plan {
	const char *mode; /* "full", "quick" or "smoke" */
	unsigned parts;   /* BB_PART_* */
	unsigned subs[BB_MAX_NSUBS];
	size_t nsubs;
	unsigned max_subs; /* max_subscribers of the fan-out buses */
	/* Round trip: rows interleaved, rt_iters timed round trips per row
	 * in each of rt_rounds rounds, after rt_warmup untimed ones. */
	unsigned rt_rounds;
	unsigned long rt_iters;
	unsigned long rt_warmup;
	/* Fan-out with spinning subscribers. */
	unsigned long fs_msgs, fs_warmup;
	uint64_t fs_period_ns;
	uint32_t fs_slots;
	/* Fan-out with sleeping subscribers (and the wake-all floor). */
	unsigned long fz_msgs, fz_warmup;
	uint64_t fz_period_ns;
	uint64_t fz_settle_ns; /* at most this long for every subscriber to sleep */
	/* Throughput: rows interleaved, median of tp_rounds. */
	unsigned tp_rounds;
	unsigned long tp_small; /* 64 B messages, bus and floor ring */
	unsigned long tp_big;   /* 1 MiB copied messages, and memcpy calls */
	unsigned long tp_zc;    /* zero-copy messages per size */
	unsigned watchdog_s;    /* per measurement */
	int pinned;
	int cpu_pub;      /* the parent: publisher, pinger, producer */
	int cpu_sub;      /* the child of the pair measurements */
	cpu_set_t subset; /* the fan-out subscribers: every usable CPU but cpu_pub */
	int subset_ncpu;  /* CPUs in subset */
	char pin_note[240];
	double clock_ns; /* p50 cost of one clock read, for the notes */
};

/* Percentiles of one set of samples, in nanoseconds. */
struct bb_lat {
	int measured;
	unsigned long n;
	uint64_t min, p50, p99, p999, max;
	double mean;
	char why[200]; /* when not measured */
};

/* A rate: the median of the rounds, with the spread. */
struct bb_rate {
	int measured;
	unsigned rounds;
	unsigned long msgs; /* timed messages per round */
	double mps, mps_min, mps_max;
	double gbps; /* 10^9 bytes per second, from the median */
	char why[200];
};

/* One subscriber count of the spinning fan-out. */
struct bb_fspin {
	unsigned n;
	struct bb_lat cost; /* the publisher's time in shmkit_bus_send */
	double period_us;   /* mean time between publishes */
	double drain_ms;    /* from the last publish to the last subscriber done */
};

/* One subscriber count of one sleeping row. */
struct bb_fsleep {
	unsigned n;
	struct bb_lat cost;  /* the publisher's time in send / wake */
	struct bb_lat first; /* publish to the first subscriber's clock */
	struct bb_lat last;  /* publish to the last subscriber's clock */
	double period_us;    /* mean time between publishes */
	unsigned long late;  /* timed publishes delayed past their tick by the settling */
	unsigned long awake; /* timed publishes made with subscribers still awake */
	double sleeps;       /* voluntary context switches per subscriber per message */
	double drain_ms;     /* from the last publish to the last subscriber done */
};

/* Everything the report shows. */
struct bb_report {
	const struct bb_plan *plan;
	const struct bench_machine *mach;
	struct bb_lat rt[BB_RT_NROWS];
	struct bb_fspin fspin[BB_MAX_NSUBS];
	struct bb_fsleep fsleep[BB_FO_NROWS][BB_MAX_NSUBS];
	struct bb_rate ring64, bus64, memcpy_big, bus_big;
	struct bb_rate zc[BB_NZC];
};

/* Row names, kinds and descriptions (b_rt.c, b_fanout.c). */
extern const char *const bb_rt_names[BB_RT_NROWS];
extern const char *const bb_rt_kinds[BB_RT_NROWS];
extern const char *const bb_rt_what[BB_RT_NROWS];
extern const char *const bb_fo_names[BB_FO_NROWS];
extern const char *const bb_fo_what[BB_FO_NROWS];

/* The measurements. Each fills its part of the report; a row that cannot
 * be set up here is reported with its reason, every other failure ends the
 * program with status 1 after cleaning up. */
void bb_run_rt(const struct bb_plan *plan, struct bb_report *rep, int show);
void bb_run_fanout(const struct bb_plan *plan, struct bb_report *rep, int show);
void bb_run_tput(const struct bb_plan *plan, struct bb_report *rep, int show);

/* Sort the samples and fill in the percentiles (b_report.c). */
void bb_lat_fill(struct bb_lat *out, uint64_t *samples, unsigned long n);
/* The median of n doubles (sorted in place), into a rate (b_report.c). */
void bb_rate_fill(struct bb_rate *out, double *mps, unsigned n, unsigned long msgs, size_t size);

void bb_print_table(const struct bb_report *r);
void bb_print_json(const struct bb_report *r);

/*
 * Cleanup on every path (b_guard.c, on guard.c). The parent registers the
 * names of the buses it creates and the children it forks. A watchdog
 * (SIGALRM), SIGINT, SIGTERM or SIGHUP, a child that fails or dies
 * (SIGCHLD), or a failure in the parent (bench_fail) kills and reaps every
 * child and removes every name before the program exits with status 1.
 * Registration happens with those signals blocked (bench_block), so a
 * handler never sees a half-made entry.
 */
void bb_guard_init(void);
/* A unique bus spec "posix:bench-bus-PID-N" into spec (64 bytes), with any
 * leftover of an earlier run of this pid removed. */
void bb_bus_spec(char *spec, size_t len);
/* Register (on) or forget (off) a name to remove. Signals blocked. */
void bb_guard_spec(const char *spec, int on);
/*
 * Fork a child that runs fn(arg, idx), which ends with _exit(); the child
 * is registered. Call with signals blocked. In the child the handlers are
 * the defaults, the registry is empty, and the child dies with the parent.
 */
typedef void bb_child_fn(void *arg, unsigned idx);
pid_t bb_spawn(bb_child_fn *fn, void *arg, unsigned idx);
/* Wait for every registered child to exit; any status but 0 ends the run. */
void bb_reap_all(const char *what);
/* Pin this process to one CPU, or to a set; nothing when not pinned.
 * 0 or a negative errno. */
int bb_pin_cpu(const struct bb_plan *plan, int cpu);
int bb_pin_set(const struct bb_plan *plan, const cpu_set_t *set);
/* A shared anonymous mapping of len bytes (zeroed), or the run fails. */
void *bb_map_shared(size_t len, const char *what);
/* A message buffer as bench_alloc_buf, or the run fails. */
unsigned char *bb_alloc_buf(size_t size);
/* Sleep for ns nanoseconds. */
void bb_nap(long ns);

#endif
