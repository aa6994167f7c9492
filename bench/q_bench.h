/* SPDX-License-Identifier: MIT */
/* shmkit-bench-queue: the typed message queue against the System V and POSIX queues. */
#ifndef SHMKIT_BENCH_Q_H
#define SHMKIT_BENCH_Q_H

#include <mqueue.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <shmkit/shmkit.h>

#include "bench.h"

/* The mechanisms a row can stand on. */
enum qb_mech {
	QB_SYSV = 0,   /* msgget/msgsnd/msgrcv */
	QB_POSIX = 1,  /* mq_open/mq_send/mq_receive */
	QB_SHMKIT = 2, /* shmkit_queue */
};

/* One row of the tables: a mechanism and, for shmkit, how its calls wait. */
struct qb_row {
	const char *name; /* "sysv-msg", "posix-mq", "shmkit-queue", ... */
	const char *kind; /* "kernel" or "shmkit" */
	const char *what; /* one line for the JSON */
	enum qb_mech mech;
	unsigned flags; /* shmkit: SHMKIT_QUEUE_F_* passed to every call */
};

/* The throughput rows, the System V queue (the reference) first. */
#define QB_NROWS 4
extern const struct qb_row qb_rows[QB_NROWS];
/* The selective-receive rows: shmkit-queue, then sysv-msg (the reference). */
#define QB_NSEL 2
extern const struct qb_row *const qb_sel_rows[QB_NSEL];

/* Throughput: payload sizes and producer counts, in table order. */
#define QB_NSIZES 2
#define QB_NPRODS 2
extern const size_t qb_sizes[QB_NSIZES];
extern const unsigned qb_prods[QB_NPRODS];
/* Every throughput queue has room for this many messages. */
#define QB_DEPTH 64

/* Selective receive: this many messages of QB_SEL_TYPES types, each of
 * QB_SEL_SIZE bytes, stay queued throughout. */
#define QB_SEL_MSGS  1000
#define QB_SEL_TYPES 16
#define QB_SEL_SIZE  64
#define QB_NMODES    5

/* How messages are picked in a selective-receive mode. */
struct qb_mode {
	const char *name;   /* for the table, e.g. "msgtyp -16" */
	const char *id;     /* for the JSON, e.g. "lowest" */
	const char *steady; /* what the queue settles into, for the notes */
	int select;         /* QB_PICK_* */
};

enum {
	QB_PICK_FIRST = 0,  /* msgtyp 0 */
	QB_PICK_CYCLE = 1,  /* msgtyp 1, 2, ..., 16, 1, ... */
	QB_PICK_RANDOM = 2, /* msgtyp drawn from 1..16 (fixed seed) */
	QB_PICK_LOWEST = 3, /* msgtyp -16 */
	QB_PICK_EXCEPT = 4, /* msgtyp 1 with EXCEPT */
};

extern const struct qb_mode qb_modes[QB_NMODES];

/*
 * One queue of a row, made by the parent before any fork; children use the
 * parent's queue through what they inherit (the System V id, the POSIX
 * descriptor, the shmkit handle). mem is private memory, so each process
 * has its own copy after the fork: a long mtype followed by the text, the
 * text 64-byte aligned. The System V calls take it from mtype on; the
 * others take the text alone, so no row pays for an extra copy.
 */
struct qb_queue {
	const struct qb_row *row;
	size_t msg_size;    /* bytes of the largest message */
	size_t cap;         /* receive capacity: msg_size + BENCH_BUF_SLACK */
	unsigned long room; /* messages of msg_size the queue holds at once */
	int msqid;          /* System V id, -1 when none */
	mqd_t mq;           /* POSIX descriptor, (mqd_t)-1 when none */
	char mq_name[64];   /* POSIX name while it is linked, else "" */
	shmkit_queue *q;    /* shmkit handle, NULL when none */
	char spec[64];      /* shmkit spec while the object has a name, else "" */
	unsigned char *mem; /* allocation holding mtype and the text */
	long *mtype;
	unsigned char *text;
	char note[200]; /* the capacity obtained, and how */
};

/*
 * Create a queue for messages of up to msg_size bytes with room for depth
 * of them, as far as the system allows: the capacity obtained is in
 * x->room and described in x->note. The queue is registered for cleanup
 * (signals must be blocked by the caller). Return 0, or a negative errno
 * with the reason in why; nothing is left behind then.
 */
int qb_queue_create(struct qb_queue *x, const struct qb_row *row, size_t msg_size,
		    unsigned long depth, char *why, size_t whylen);
/* Remove the queue and free the buffer; unregister it. Signals blocked. */
void qb_queue_destroy(struct qb_queue *x);
/* Send the first len bytes of x->text with this type (ignored by POSIX,
 * which sends priority 0). Return 0 or a negative errno. */
int qb_send(struct qb_queue *x, long type, size_t len, int nowait);
/* Receive into x->text: msgtyp and except select as msgrcv does (POSIX:
 * ignored, the oldest message of the highest priority). *type gets the
 * message's type (POSIX: 0). Return the length or a negative errno. */
ssize_t qb_recv(struct qb_queue *x, long msgtyp, int except, long *type, int nowait);
/* Messages in the queue now. Return 0 or a negative errno. */
int qb_count(struct qb_queue *x, uint64_t *n);

/*
 * Cleanup on every path (q_mech.c, on guard.c). The parent registers its
 * queues and children; a watchdog (SIGALRM), SIGINT, SIGTERM or SIGHUP, or
 * a failure in the parent (bench_fail), kills and reaps the children,
 * removes the queues and exits with status 1. Registration happens with
 * those signals blocked (bench_block), so a handler never sees a half-made
 * entry.
 */
void qb_guard_init(void);
/* In a child right after fork: default signal dispositions, dies with the
 * parent, nothing of the parent's registry. 0, or -1 if the parent is
 * already gone. */
int qb_child_init(pid_t parent);

/* What a run does, decided by the options (queue_main.c). */
struct qb_plan {
	const char *mode; /* "full", "quick" or "smoke" */
	int iters_given;
	unsigned long tput_msgs[QB_NSIZES]; /* timed messages per producer per round */
	unsigned rounds;                    /* throughput rounds, rows interleaved */
	unsigned long sel_batches;          /* timed batches per selective mode */
	unsigned long sel_batch_ops;        /* receive+send pairs per batch */
	unsigned long sel_warmup;           /* untimed pairs before each mode */
	unsigned watchdog_s;                /* per measurement */
	int pinned;
	int cpu_prod; /* producers, and the one-process measurements */
	int cpu_cons; /* the consumer */
	char pin_note[200];
	char ipc_note[200]; /* where the kernel's queues live, and their limits */
};

/* One throughput cell: a row at one size and producer count. */
struct qb_tput {
	int measured;
	unsigned long msgs; /* timed messages per round, all producers */
	unsigned rounds;
	double mps; /* median over the rounds, messages per second */
	double mps_min, mps_max;
	double mbps;        /* 10^6 bytes per second, from the median */
	unsigned long room; /* messages the queue held at once */
	char note[200];     /* capacity of the queue */
	char why[200];      /* when not measured */
};

/* One selective-receive mode of one row. */
struct qb_sel {
	int measured;
	unsigned long batches;
	unsigned long batch_ops;
	double p50_ns, min_ns, max_ns; /* ns per receive+send pair, over batches */
	char why[200];
};

/* Measure one throughput round: nprod producers send msgs + warm-up
 * messages each; the consumer times msgs * nprod of them. Return 0 with
 * the rate in *mps and the queue's capacity in *room and note, or 1 when
 * the row is not available (reason in why); every other failure ends the
 * program with status 1. */
int qb_run_tput(const struct qb_plan *plan, const struct qb_row *row, size_t size, unsigned nprod,
		unsigned long msgs, double *mps, unsigned long *room, char *note, size_t notelen,
		char *why, size_t whylen);

/* Measure every selective-receive mode of one row (one process); the
 * capacity of its queue is described in note. */
void qb_run_select(const struct qb_plan *plan, const struct qb_row *row,
		   struct qb_sel out[QB_NMODES], char *note, size_t notelen);

/* Everything the report shows (q_report.c). */
struct qb_report {
	const struct qb_plan *plan;
	const struct bench_machine *mach;
	struct qb_tput tput[QB_NSIZES][QB_NPRODS][QB_NROWS];
	struct qb_sel sel[QB_NSEL][QB_NMODES];
	char sel_note[QB_NSEL][200]; /* capacity of the selective queues */
};

void qb_print_table(const struct qb_report *r);
void qb_print_json(const struct qb_report *r);

#endif
