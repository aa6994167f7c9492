/* SPDX-License-Identifier: MIT */
/* shmkit pipe-in, pipe-out: a pipe between two shell commands through a byte ring. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmkit/shmkit.h>

#include "util.h"

/* Bytes moved per system call on either side: what a pipe holds. */
#define CHUNK ((size_t)64 << 10)

/* A waiting end wakes this often to see whether its ring is still named. */
#define CHECK_NS 1000000000L

/* The ring's capacity: what the library accepts. */
#define MIN_CAPACITY ((uint64_t)4 << 10)
#define MAX_CAPACITY ((uint64_t)4 << 30)

static const struct option longopts[] = {
	{"capacity", required_argument, NULL, 'c'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void
usage(const char *cmd)
{
	int in = strcmp(cmd, "pipe-in") == 0;

	printf("Usage: shmkit %s RING [--capacity BYTES]\n\n", cmd);
	if (in) {
		fputs("Copy standard input into the byte ring RING (a segment spec), then end\n"
		      "the stream: 'shmkit pipe-out RING' in another shell writes it out.\n"
		      "Either end may start first: the first one creates the ring. Waits while\n"
		      "the ring is full. At the end of the input, exits at once (the data\n"
		      "stays in the ring for the reader), with status 0.\n",
		      stdout);
	} else {
		fputs("Copy the byte ring RING (a segment spec) to standard output until its\n"
		      "writer, 'shmkit pipe-in RING', ends the stream; then remove the ring.\n"
		      "Either end may start first: the first one creates the ring. A pipe-in\n"
		      "that joins before the end of the stream has been read continues it, as\n"
		      "a second writer of a named pipe does; one that starts later makes a new\n"
		      "ring for the next pipe-out.\n",
		      stdout);
	}
	fputs("\n"
	      "Options:\n"
	      "  -c, --capacity BYTES  size of the ring if this end creates it: a power of\n"
	      "                        two from 4K to 4G, with an optional suffix K, M or G\n"
	      "                        (default 1M); an existing ring keeps its own\n"
	      "  -h, --help            show this help\n"
	      "\n"
	      "The end fails (exit 1) when the other end dies, when its role is held by\n"
	      "another live process, or when RING is not a byte ring.\n"
	      "\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n",
	      stdout);
}

/* What tells a ring from a later one of the same name. */
struct ident {
	shmkit_backend backend;
	int32_t creator_pid;
	uint64_t creator_start;
	int64_t created_ns;
	int32_t sysv_id;
};

static int
ident_get(const char *spec, struct ident *id)
{
	shmkit_segment_info info;
	int rc = shmkit_segment_stat(spec, &info);

	if (rc < 0) {
		return rc;
	}
	if (!info.is_shmkit || info.kind != SHMKIT_KIND_RING) {
		return -ENOENT;
	}
	id->backend = info.backend;
	id->creator_pid = info.creator_pid;
	id->creator_start = info.creator_start;
	id->created_ns = info.created_ns;
	id->sysv_id = info.sysv_id;
	return 0;
}

static int
ident_same(const struct ident *a, const struct ident *b)
{
	return a->backend == b->backend && a->creator_pid == b->creator_pid &&
	       a->creator_start == b->creator_start && a->created_ns == b->created_ns &&
	       a->sysv_id == b->sysv_id;
}

/* One end: the command, its spec, its role and its ring. */
struct end {
	const char *cmd;
	const char *spec;
	int role;
	shmkit_ring *r;
	struct ident id; /* the ring @r, as its name showed it when opened */
};

/*
 * Does the spec still name our ring? 0 only when we know it does not: it is
 * gone or names another object. Any other failure to look counts as yes, so
 * that a transient error never makes an end give up.
 */
static int
still_named(const struct end *e)
{
	struct ident now;
	int rc = ident_get(e->spec, &now);

	if (rc == -ENOENT || rc == -EIDRM) {
		return 0;
	}
	return rc < 0 || ident_same(&now, &e->id);
}

/* The role of the other end, and what the messages call the two ends. */
static const char *
role_name(int role)
{
	return role == SHMKIT_RING_PRODUCER ? "writer" : "reader";
}

/* A stat of the ring; reports a failure. */
static int
ring_info(const struct end *e, shmkit_ring_info *ri)
{
	int rc = shmkit_ring_stat(e->r, ri);

	if (rc < 0) {
		cli_err(e->cmd, "%s: %s", e->spec, shmkit_strerror(rc));
	}
	return rc;
}

/* Give up on the stream: remove the ring (while the name is still ours:
 * the library checks), so that the other end learns there is no one left. */
static void
abandon(struct end *e)
{
	(void)shmkit_ring_remove(e->r);
	e->r = NULL;
}

static int
open_error(const struct end *e, int rc)
{
	shmkit_segment_info info;

	if (rc == -EPROTOTYPE && shmkit_segment_stat(e->spec, &info) == 0 && info.is_shmkit) {
		const char *kind = cli_kind_name(info.kind);

		if (kind != NULL) {
			cli_err(e->cmd, "%s: is a %s, not a ring", e->spec, kind);
		} else {
			cli_err(e->cmd, "%s: is a shmkit object of kind %u, not a ring", e->spec,
				(unsigned)info.kind);
		}
	} else if (rc == -EMEDIUMTYPE) {
		cli_err(e->cmd, "%s: not a ring (no shmkit header)", e->spec);
	} else {
		cli_err(e->cmd, "%s: %s%s", e->spec, shmkit_strerror(rc),
			rc == -EINVAL ? " (check the spec: see 'shmkit --help')" : "");
	}
	return CLI_EXIT_FAIL;
}

/* Open or create the ring without a role, and learn its identity: the name
 * may be removed and made again meanwhile (by a pipe-out that ends). */
static int
open_ring(struct end *e, uint64_t capacity)
{
	shmkit_ring_opts opts;

	shmkit_ring_opts_init(&opts);
	opts.capacity = capacity;
	opts.flags = SHMKIT_RING_BYTES;
	for (int round = 0; round < 16; round++) {
		struct ident before, after;
		int had = ident_get(e->spec, &before) == 0;
		int rc = shmkit_ring_open_or_create(&e->r, e->spec, &opts, SHMKIT_RING_NONE);

		if (rc < 0) {
			return open_error(e, rc);
		}
		if (ident_get(e->spec, &after) == 0 &&
		    (rc == 1 || (had && ident_same(&before, &after)))) {
			e->id = after;
			return 0;
		}
		shmkit_ring_close(e->r);
		e->r = NULL;
	}
	cli_err(e->cmd, "%s: the ring keeps being removed and made again", e->spec);
	return CLI_EXIT_FAIL;
}

static int
open_end(struct end *e, uint64_t capacity)
{
	shmkit_ring_info ri;
	int rc;

	if ((rc = open_ring(e, capacity)) != 0) {
		return rc;
	}
	if (ring_info(e, &ri) < 0) {
		goto fail;
	}
	if (!(ri.flags & SHMKIT_RING_BYTES)) {
		cli_err(e->cmd, "%s: is a ring of messages, not of bytes", e->spec);
		goto fail;
	}
	/*
	 * Taking over the role of a holder that died is what the library does,
	 * but in a byte stream it would join two streams with a hole between
	 * them: what a dead writer had not written yet, what a dead reader had
	 * read and not written out. Only an untouched stream is taken over.
	 */
	if (e->role == SHMKIT_RING_PRODUCER && ri.producer_alive == 0 && !ri.eof && ri.sent > 0) {
		cli_err(e->cmd,
			"%s: holds the unfinished stream of a writer that died (pid %d): "
			"'shmkit rm %s' discards it",
			e->spec, (int)ri.producer_pid, e->spec);
		goto fail;
	}
	if (e->role == SHMKIT_RING_CONSUMER && ri.consumer_alive == 0 && ri.received > 0) {
		cli_err(e->cmd,
			"%s: its reader died (pid %d) in the middle of the stream: "
			"'shmkit rm %s' discards it",
			e->spec, (int)ri.consumer_pid, e->spec);
		goto fail;
	}
	rc = shmkit_ring_attach(e->r, e->role);
	if (rc == -EBUSY && shmkit_ring_stat(e->r, &ri) == 0) {
		int pid = e->role == SHMKIT_RING_PRODUCER ? ri.producer_pid : ri.consumer_pid;

		if (pid > 0) {
			cli_err(e->cmd, "%s: already has a %s, process %d", e->spec,
				role_name(e->role), pid);
		} else {
			cli_err(e->cmd, "%s: already has a %s", e->spec, role_name(e->role));
		}
		goto fail;
	}
	if (rc < 0) {
		cli_err(e->cmd, "%s: %s", e->spec, shmkit_strerror(rc));
		goto fail;
	}
	return 0;
fail:
	shmkit_ring_close(e->r);
	e->r = NULL;
	return CLI_EXIT_FAIL;
}

/* An absolute CLOCK_MONOTONIC deadline CHECK_NS from now. */
static void
check_deadline(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += CHECK_NS / 1000000000L;
	ts->tv_nsec += CHECK_NS % 1000000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* A call on the ring failed: say why, give the stream up. */
static int
ring_failed(struct end *e, ssize_t rc)
{
	int peer = e->role == SHMKIT_RING_PRODUCER ? SHMKIT_RING_CONSUMER : SHMKIT_RING_PRODUCER;

	if (rc == -ECONNRESET) {
		cli_err(e->cmd, "%s: the %s died before the end of the stream", e->spec,
			role_name(peer));
	} else {
		cli_err(e->cmd, "%s: %s", e->spec, shmkit_strerror((int)rc));
	}
	abandon(e);
	return CLI_EXIT_FAIL;
}

/* ---------------------------------------------------------------------- */
/* pipe-in                                                                 */

/*
 * The ring was removed while the stream was not all read: with no reader
 * attached, none can come, and what is in it is lost. Return 1 (and say so)
 * in that case.
 */
static int
orphaned(struct end *e)
{
	shmkit_ring_info ri;

	if (still_named(e) || shmkit_ring_stat(e->r, &ri) < 0 || ri.consumer_alive == 1) {
		return 0;
	}
	cli_err(e->cmd, "%s: the ring was removed and has no reader: %" PRIu64 " bytes lost",
		e->spec, ri.used);
	return 1;
}

static int
run_in(struct end *e)
{
	/* The ring's own bytes are the buffer: read(2) fills a reservation. */
	for (;;) {
		struct timespec dl;
		void *p;
		ssize_t n, got;

		check_deadline(&dl);
		n = shmkit_ring_reserve(e->r, CHUNK, &p, 0, &dl);
		if (n == -ETIMEDOUT) {
			if (orphaned(e)) {
				shmkit_ring_close(e->r);
				return CLI_EXIT_FAIL;
			}
			continue;
		}
		if (n < 0) {
			return ring_failed(e, n);
		}
		do {
			got = read(STDIN_FILENO, p, (size_t)n);
		} while (got < 0 && errno == EINTR);
		if (got < 0) {
			cli_err(e->cmd, "%s: read error: %s", e->spec, strerror(errno));
			abandon(e);
			return CLI_EXIT_FAIL;
		}
		(void)shmkit_ring_commit(e->r, (size_t)got, 0);
		if (got == 0) {
			break;
		}
	}
	(void)shmkit_ring_shutdown(e->r);
	/*
	 * Exit now, unless a pipe-out removed the ring as it ended just before
	 * we attached: then wait until the reader still attached has taken
	 * everything, or fail if none is left, rather than lose data quietly.
	 */
	for (;;) {
		shmkit_ring_info ri;
		const struct timespec pause = {0, 10000000};

		if (still_named(e) || shmkit_ring_stat(e->r, &ri) < 0 || ri.used == 0) {
			break;
		}
		if (orphaned(e)) {
			shmkit_ring_close(e->r);
			return CLI_EXIT_FAIL;
		}
		nanosleep(&pause, NULL);
	}
	shmkit_ring_close(e->r);
	return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------------- */
/* pipe-out                                                                */

/* Write all of @buf to standard output: 0 or an errno value. */
static int
write_all(const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0) {
			if (errno == EINTR && !cli_stop_signal) {
				continue;
			}
			return errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The stream has ended (read gave 0). Return 1 if it is over, 0 if a pipe-in
 * joined meanwhile (it reopened the stream, or wrote and ended it again).
 * The first time, remove the ring's name while still attached and look
 * again: a pipe-in that joined just before the removal is then still read,
 * and one that joins after it finds no reader (see run_in()).
 */
static int
stream_over(struct end *e, int *unlinked, int *err)
{
	shmkit_ring_info ri;

	if (ring_info(e, &ri) < 0) {
		*err = 1;
		return 1;
	}
	if (!ri.eof || ri.used > 0) {
		return 0;
	}
	if (!*unlinked) {
		if (still_named(e)) {
			(void)shmkit_segment_remove(e->spec);
		}
		*unlinked = 1;
		if (ring_info(e, &ri) < 0) {
			*err = 1;
			return 1;
		}
		if (!ri.eof || ri.used > 0) {
			return 0;
		}
	}
	return 1;
}

static int
run_out(struct end *e)
{
	static unsigned char buf[CHUNK];
	int unlinked = 0, err = 0;

	for (;;) {
		struct timespec dl;
		ssize_t n;

		if (cli_stop_signal) {
			abandon(e);
			return cli_die_of_signal(cli_stop_signal);
		}
		check_deadline(&dl);
		n = shmkit_ring_read(e->r, buf, sizeof(buf), SHMKIT_RING_F_INTERRUPTIBLE, &dl);
		if (n > 0) {
			int werr = write_all(buf, (size_t)n);

			if (werr == EINTR && cli_stop_signal) {
				continue;
			}
			if (werr != 0) {
				cli_err(e->cmd, "write error: %s", strerror(werr));
				abandon(e);
				return CLI_EXIT_FAIL;
			}
			continue;
		}
		if (n == 0) {
			if (stream_over(e, &unlinked, &err)) {
				break;
			}
			continue;
		}
		if (n == -EINTR) {
			continue;
		}
		if (n == -ETIMEDOUT) {
			shmkit_ring_info ri;

			/* Removed (by us, after a pipe-in joined, or by someone
			 * else) and no writer attached: none can come any more. */
			if (shmkit_ring_stat(e->r, &ri) == 0 && ri.producer_alive != 1 &&
			    (unlinked || !still_named(e))) {
				cli_err(e->cmd, "%s: the ring was removed and has no writer",
					e->spec);
				shmkit_ring_close(e->r);
				return CLI_EXIT_FAIL;
			}
			continue;
		}
		return ring_failed(e, n);
	}
	shmkit_ring_close(e->r);
	return err ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* ---------------------------------------------------------------------- */

static int
cmd_pipe(int argc, char **argv, int role)
{
	const char *cmd = role == SHMKIT_RING_PRODUCER ? "pipe-in" : "pipe-out";
	uint64_t capacity = (uint64_t)1 << 20;
	struct end e;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (cli_parse_size(optarg, &capacity) != 0 || capacity < MIN_CAPACITY ||
			    capacity > MAX_CAPACITY || (capacity & (capacity - 1)) != 0) {
				return cli_usage_err(cmd,
						     "--capacity: '%s' is not a power of two from "
						     "4K to 4G",
						     optarg);
			}
			break;
		case 'h':
			usage(cmd);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_err(cmd, c, argv, longopts);
		}
	}
	if (optind >= argc) {
		return cli_usage_err(cmd, "missing RING");
	}
	if (optind + 1 < argc) {
		return cli_usage_err(cmd, "unexpected argument '%s'", argv[optind + 1]);
	}
	if (argv[optind][0] == '\0') {
		return cli_usage_err(cmd, "empty RING");
	}

	memset(&e, 0, sizeof(e));
	e.cmd = cmd;
	e.spec = argv[optind];
	e.role = role;
	if (role == SHMKIT_RING_CONSUMER) {
		cli_catch_stop_signals();
	}
	if ((rc = open_end(&e, capacity)) != 0) {
		return rc;
	}
	return role == SHMKIT_RING_PRODUCER ? run_in(&e) : run_out(&e);
}

int
cmd_pipe_in(int argc, char **argv)
{
	return cmd_pipe(argc, argv, SHMKIT_RING_PRODUCER);
}

int
cmd_pipe_out(int argc, char **argv)
{
	return cmd_pipe(argc, argv, SHMKIT_RING_CONSUMER);
}
