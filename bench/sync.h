/* SPDX-License-Identifier: MIT */
/* The synchronization suite (shmkit-bench-sync): its rows and shared helpers. */
#ifndef SHMKIT_BENCH_SYNC_H
#define SHMKIT_BENCH_SYNC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench.h"

/*
 * Uncontended rows: one process, no peer, the cost of the fast path alone.
 * Each row belongs to a group; within a group every median is also shown
 * relative to the group's reference row (the mechanism shmkit replaces).
 */
enum bench_micro_group {
	BENCH_MG_MUTEX = 0, /* unit: one lock+unlock pair */
	BENCH_MG_SEM = 1,   /* unit: one operation (an iteration is +1 then -1) */
	BENCH_MG_COUNT
};

/* The row the other rows of its group are compared with. */
#define BENCH_MF_REFERENCE 0x1u

struct bench_micro {
	const char *name;
	const char *kind; /* "shmkit", "pthread", "kernel" or "posix" */
	const char *what;
	enum bench_micro_group group;
	unsigned flags;
	/* Units per iteration: 1 for a lock+unlock pair, 2 for +1 then -1. */
	unsigned units;
	size_t ctx_size;
	/* Create the object; 0 or a negative errno (the row is then n/a). */
	int (*setup)(void *ctx);
	/* Run n iterations; 0, or a negative errno from the first failing call
	 * with the call's name in why. */
	int (*loop)(void *ctx, unsigned long n, char *why, size_t whylen);
	/* Check the object is back in its initial state (count 0, unlocked). */
	int (*end_check)(void *ctx, char *why, size_t whylen);
	/* Release what setup() made; idempotent, called from signal handlers
	 * too (kernel and named objects must not outlive the run). */
	void (*teardown)(void *ctx);
};

extern const struct bench_micro *const bench_micros[];
extern const size_t bench_nmicros;

/* The ping-pong rows (runner.c transports carrying the 8-byte sequence
 * word), reference (the bare futex floor) first. */
extern const struct bench_transport *const bench_pingpongs[];
extern const size_t bench_npingpongs;

/* Most ping-pong rounds a run makes (sync_main.c). */
#define BENCH_SYNC_MAX_ROUNDS 5

/* How the one-process rows are run (sync_main.c decides). */
struct bench_micro_plan {
	unsigned runs;       /* timed runs per row, odd, interleaved across rows */
	uint64_t run_ns;     /* target duration of one run */
	unsigned watchdog_s; /* per batch */
};

/* Result of one one-process row, in ns per unit. */
struct bench_micro_result {
	int measured;
	unsigned long iters; /* iterations per run */
	unsigned runs;
	double median_ns;
	double min_ns;
	double max_ns;
	char why[160]; /* when not measured */
};

/* Set up the rows, calibrate, run, check and tear them down (sync_micro.c).
 * A failing call or end check ends the program with status 1. */
void bench_run_micros(const struct bench_micro *const *rows, size_t n,
		      const struct bench_micro_plan *mp, struct bench_micro_result *out);

/* Everything the report shows (sync_report.c). */
struct bench_sync_report {
	const struct bench_plan *plan; /* ping-pong counts, pinning, mode */
	const struct bench_micro_plan *mp;
	const struct bench_machine *mach;
	const struct bench_micro *const *micros;
	const struct bench_micro_result *mres;
	size_t nmicros;
	const struct bench_transport *const *pps;
	const struct bench_latency *lat;
	size_t npps;
};

void bench_sync_print_table(const struct bench_sync_report *r);
void bench_sync_print_json(const struct bench_sync_report *r);

/*
 * The sequence word of a ping-pong, one cache line per direction, indexed
 * by the sending side. The receiver takes the word and leaves EMPTY behind,
 * so a wake-up with no message behind it (spurious, or a post counted
 * twice) finds EMPTY and fails the run instead of passing unnoticed.
 */
#define BENCH_MBOX_EMPTY UINT64_MAX

struct bench_mbox {
	struct {
		_Alignas(64) _Atomic uint64_t word;
	} dir[2];
};

void bench_mbox_init(struct bench_mbox *m);
/* Store the message (8 bytes) for the peer; -EMSGSIZE for any other size,
 * -EBUSY if the previous one was never taken. */
int bench_mbox_put(struct bench_mbox *m, enum bench_side from, const void *buf, size_t len);
/* Take the peer's message; -ENOMSG when there is none. */
ssize_t bench_mbox_take(struct bench_mbox *m, enum bench_side to, void *buf);
/* 0 if both directions are empty, else -EPROTO with the reason in why. */
int bench_mbox_end_check(struct bench_mbox *m, char *why, size_t whylen);
/* max_msg of every ping-pong row: the sequence word only. */
size_t bench_mbox_max_msg(char *why, size_t whylen);

#endif
