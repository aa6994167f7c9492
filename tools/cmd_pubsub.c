/* SPDX-License-Identifier: MIT */
/* shmkit pub, sub: publish messages to a topic on a bus, and subscribe to it. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmkit/shmkit.h>

#include "util.h"

#define NS_PER_SEC 1000000000LL

/* A waiting command wakes this often to see whether a signal stopped it. */
#define CHECK_NS 200000000LL

/* A topic's shape, as the library accepts it (and a total under 1 TiB). */
#define MAX_SLOTS    (1L << 20)
#define MAX_MSG_SIZE ((uint64_t)1 << 30)
#define MAX_TOTAL    ((uint64_t)1 << 40)

/* --rate: from one message in 1000 s to one a nanosecond. */
#define MIN_RATE 0.001
#define MAX_RATE 1e9

/* The first buffer of sub; it grows up to the topic's largest message. */
#define FIRST_BUF ((size_t)64 << 10)

enum {
	OPT_RELIABLE = 256,
	OPT_SLOTS,
	OPT_MAX_SIZE,
	OPT_HISTORY,
	OPT_FORMAT,
	OPT_HZ,
	OPT_TIMEOUT,
};

enum format { FMT_TEXT, FMT_HEX, FMT_JSON };

static const struct option pub_longopts[] = {
	{"rate", required_argument, NULL, 'r'},
	{"count", required_argument, NULL, 'n'},
	{"reliable", no_argument, NULL, OPT_RELIABLE},
	{"slots", required_argument, NULL, OPT_SLOTS},
	{"max-size", required_argument, NULL, OPT_MAX_SIZE},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static const struct option sub_longopts[] = {
	{"count", required_argument, NULL, 'n'},
	{"history", required_argument, NULL, OPT_HISTORY},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"hz", no_argument, NULL, OPT_HZ},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void
pub_usage(void)
{
	fputs("Usage: shmkit pub TOPIC [DATA | -] [--rate HZ] [--count N] [--reliable]\n"
	      "                        [--slots N] [--max-size BYTES]\n"
	      "\n"
	      "Publish messages to the bus TOPIC (a segment spec): DATA as one message,\n"
	      "or, when DATA is '-' or missing, each line of standard input as one\n"
	      "message, without its newline. Every subscriber ('shmkit sub TOPIC')\n"
	      "gets every message. Either command may start first: the first one\n"
	      "creates the topic (mode 0600). Exits 0 when everything is published.\n"
	      "\n"
	      "Options:\n"
	      "  -n, --count N         with DATA, publish it N times (default 1); from\n"
	      "                        standard input, publish at most N lines\n"
	      "  -r, --rate HZ         publish at most HZ messages a second, such as\n"
	      "                        100 or 0.5: 0.001 to 1000000000 (default: no\n"
	      "                        limit)\n"
	      "      --reliable        wait for the slowest subscriber instead of\n"
	      "                        letting it lose messages\n"
	      "      --slots N         messages the topic keeps: a power of two from 2\n"
	      "                        to 1048576 (default 256)\n"
	      "      --max-size BYTES  the largest message: 1 to 1G, with an optional\n"
	      "                        suffix K, M or G (default 4096)\n"
	      "  -h, --help            show this help\n"
	      "\n"
	      "--reliable, --slots and --max-size apply only when this command creates\n"
	      "the topic; a topic that exists keeps its own. A message over the topic's\n"
	      "largest size fails (exit 1): the messages before it are published.\n"
	      "On a lossy topic (the default) a publisher never waits; a subscriber that\n"
	      "falls a whole topic behind loses messages and is told how many.\n"
	      "SIGINT, SIGTERM and SIGHUP stop it between two messages (one waiting\n"
	      "for room on a reliable topic is not published); it dies of the signal.\n"
	      "\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n",
	      stdout);
}

static void
sub_usage(void)
{
	fputs("Usage: shmkit sub TOPIC [--count N] [--history K] [--format text|hex|json]\n"
	      "                        [--hz] [--timeout MS]\n"
	      "\n"
	      "Subscribe to the bus TOPIC (a segment spec) and print every message\n"
	      "published to it from now on. Either command may start first: the first\n"
	      "one creates the topic with the defaults of 'shmkit pub'.\n"
	      "\n"
	      "Options:\n"
	      "  -n, --count N       stop after N messages\n"
	      "      --history K     begin with the last K messages published that the\n"
	      "                      topic still holds (default 0: only new ones)\n"
	      "      --format F      text: each message as it is, then a newline\n"
	      "                      (default); hex: its number, length and bytes in\n"
	      "                      hex; json: one object per line with \"seq\" (its\n"
	      "                      number here, from 1), \"length\", \"lost\" and \"data\"\n"
	      "                      (a JSON string: bytes that are not UTF-8 become\n"
	      "                      U+FFFD; use hex for binary data)\n"
	      "      --hz            print the rate of messages and the losses to\n"
	      "                      standard error once a second, and a summary at the end\n"
	      "      --timeout MS    stop after MS milliseconds without a message (0:\n"
	      "                      as soon as no message is waiting)\n"
	      "  -h, --help          show this help\n"
	      "\n"
	      "Messages are never lost silently: on a lossy topic, a subscriber that\n"
	      "falls behind by a whole topic loses the oldest messages, and the next one\n"
	      "it gets is preceded by a line '# lost N' on standard error (text and hex)\n"
	      "or says \"lost\": N (json). On a reliable topic the publishers wait instead.\n"
	      "SIGINT ends the subscription (exit 0); SIGTERM and SIGHUP end it and\n"
	      "the command dies of the signal.\n"
	      "\n"
	      "Exit status: 0 success (--timeout: at least one message was received),\n"
	      "1 failure (--timeout: none was), 2 usage error.\n",
	      stdout);
}

/* ---------------------------------------------------------------------- */
/* Both commands.                                                          */

/* Returned by the steps of either command when a signal stopped it. */
#define STOPPED (-1)

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static struct timespec
ns_to_ts(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / NS_PER_SEC);
	ts.tv_nsec = (long)(ns % NS_PER_SEC);
	return ts;
}

static int
open_error(const char *cmd, const char *spec, int rc)
{
	shmkit_segment_info info;

	if (rc == -EPROTOTYPE && shmkit_segment_stat(spec, &info) == 0 && info.is_shmkit) {
		const char *kind = cli_kind_name(info.kind);

		if (kind != NULL) {
			cli_err(cmd, "%s: is a %s, not a bus", spec, kind);
		} else {
			cli_err(cmd, "%s: is a shmkit object of kind %u, not a bus", spec,
				(unsigned)info.kind);
		}
	} else if (rc == -EMEDIUMTYPE) {
		cli_err(cmd, "%s: not a bus (no shmkit header)", spec);
	} else {
		cli_err(cmd, "%s: %s%s", spec, shmkit_strerror(rc),
			rc == -EINVAL ? " (check the spec: see 'shmkit --help')" : "");
	}
	return CLI_EXIT_FAIL;
}

/* Open the topic, or create it with @opts; and take its stat. */
static int
open_topic(const char *cmd, const char *spec, const shmkit_bus_opts *opts, shmkit_bus **b,
	   shmkit_bus_info *info)
{
	int rc = shmkit_bus_open_or_create(b, spec, opts);

	if (rc < 0) {
		return open_error(cmd, spec, rc);
	}
	rc = shmkit_bus_stat(*b, info);
	if (rc < 0) {
		cli_err(cmd, "%s: %s", spec, shmkit_strerror(rc));
		shmkit_bus_close(*b);
		*b = NULL;
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* pub                                                                     */

#define PUB "pub"

struct pub {
	const char *spec;
	shmkit_bus *b;
	uint64_t max;
	int64_t interval_ns; /* --rate; 0: none */
	int64_t next_ns;     /* when the next message may go; 0: at once */
};

/*
 * --rate: wait until the next message may go, on absolute times so that
 * the time spent publishing does not add up. A message that is late by
 * more than an interval (a slow input, a full reliable topic) starts the
 * schedule again: the ones after it do not come in a burst to catch up.
 */
static int
pace(struct pub *p)
{
	int64_t now;

	if (p->interval_ns == 0) {
		return 0;
	}
	if (p->next_ns != 0) {
		struct timespec at = ns_to_ts(p->next_ns);
		int rc;

		while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL)) == EINTR) {
			if (cli_stop_signal) {
				return STOPPED;
			}
		}
	}
	now = now_ns();
	if (p->next_ns == 0 || now - p->next_ns > p->interval_ns) {
		p->next_ns = now;
	}
	p->next_ns += p->interval_ns;
	return 0;
}

/* Publish one message: 0, STOPPED or CLI_EXIT_FAIL (said why). */
static int
publish(struct pub *p, const void *data, size_t len)
{
	if (cli_stop_signal) {
		return STOPPED;
	}
	if (pace(p) != 0) {
		return STOPPED;
	}
	for (;;) {
		struct timespec dl;
		int rc;

		if (cli_stop_signal) {
			return STOPPED;
		}
		/* A reliable topic may make us wait: look at the signals now
		 * and then. */
		dl = ns_to_ts(now_ns() + CHECK_NS);
		rc = shmkit_bus_send(p->b, data, len, SHMKIT_BUS_F_INTERRUPTIBLE, &dl);
		if (rc == 0) {
			return 0;
		}
		/* -ESTALE: we were stopped so long while writing that our
		 * claim was fenced; nothing was published: publish again. */
		if (rc == -ETIMEDOUT || rc == -EINTR || rc == -ESTALE) {
			continue;
		}
		if (rc == -EMSGSIZE) {
			cli_err(PUB,
				"%s: message of %zu bytes is over the topic's limit of %" PRIu64
				" bytes",
				p->spec, len, p->max);
		} else {
			cli_err(PUB, "%s: %s%s", p->spec, shmkit_strerror(rc),
				rc == -EUSERS ? " (the topic has all the publishers it can take)"
					      : "");
		}
		return CLI_EXIT_FAIL;
	}
}

struct linebuf {
	char *buf;
	size_t cap;
};

/*
 * The next line of standard input, without its newline, in lb->buf (grown
 * as needed, up to @max bytes: a longer line is not read further). Return
 * 1 and its length in *@len, 0 at the end of the input, -EMSGSIZE (the
 * line is over @max), STOPPED, or -EIO / -ENOMEM.
 */
static int
read_line(struct linebuf *lb, uint64_t max, size_t *len)
{
	size_t n = 0;

	for (;;) {
		int c = getc_unlocked(stdin);

		if (c == EOF) {
			if (ferror(stdin)) {
				if (errno == EINTR && !cli_stop_signal) {
					clearerr(stdin);
					continue;
				}
				return cli_stop_signal ? STOPPED : -EIO;
			}
			if (n == 0) {
				return 0;
			}
			break;
		}
		if (c == '\n') {
			break;
		}
		if (n == max) {
			return -EMSGSIZE;
		}
		if (n == lb->cap) {
			size_t ncap = lb->cap ? lb->cap * 2 : 256;
			char *nb;

			if (ncap > max) {
				ncap = (size_t)max;
			}
			nb = realloc(lb->buf, ncap);
			if (nb == NULL) {
				return -ENOMEM;
			}
			lb->buf = nb;
			lb->cap = ncap;
		}
		lb->buf[n++] = (char)c;
	}
	*len = n;
	return 1;
}

/* Each line of standard input, up to @count of them (0: all). */
static int
publish_lines(struct pub *p, long count)
{
	struct linebuf lb = {NULL, 0};
	unsigned long lineno = 0;
	int rc = 0;

	while (count == 0 || (long)lineno < count) {
		size_t len = 0;
		int got = read_line(&lb, p->max, &len);

		if (got == 0 || got == STOPPED) {
			rc = got;
			break;
		}
		lineno++;
		if (got == -EMSGSIZE) {
			cli_err(PUB, "%s: line %lu is over the topic's limit of %" PRIu64 " bytes",
				p->spec, lineno, p->max);
			rc = CLI_EXIT_FAIL;
			break;
		}
		if (got < 0) {
			cli_err(PUB, "%s: %s", p->spec,
				got == -EIO ? "read error on standard input"
					    : shmkit_strerror(got));
			rc = CLI_EXIT_FAIL;
			break;
		}
		if ((rc = publish(p, lb.buf != NULL ? lb.buf : "", len)) != 0) {
			break;
		}
	}
	free(lb.buf);
	return rc;
}

/* --rate: a decimal number (digits, at most one point) in range. */
static int
parse_rate(const char *s, double *out)
{
	int points = 0, digits = 0;
	double v;

	for (const char *c = s; *c != '\0'; c++) {
		if (*c == '.') {
			points++;
		} else if (isdigit((unsigned char)*c)) {
			digits++;
		} else {
			return -EINVAL;
		}
	}
	if (digits == 0 || points > 1) {
		return -EINVAL;
	}
	v = strtod(s, NULL);
	if (!(v >= MIN_RATE) || v > MAX_RATE) {
		return -ERANGE;
	}
	*out = v;
	return 0;
}

int
cmd_pub(int argc, char **argv)
{
	shmkit_bus_opts opts;
	shmkit_bus_info info;
	struct pub p;
	const char *data;
	double rate = 0;
	long count = 0, slots;
	uint64_t size;
	int c, rc;

	shmkit_bus_opts_init(&opts);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":r:n:h", pub_longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (parse_rate(optarg, &rate) != 0) {
				return cli_usage_err(PUB,
						     "--rate: '%s' is not a number of messages a "
						     "second from 0.001 to 1000000000",
						     optarg);
			}
			break;
		case 'n':
			if (cli_parse_long(optarg, 1, LONG_MAX, &count) != 0) {
				return cli_usage_err(PUB, "--count: '%s' is not a count >= 1",
						     optarg);
			}
			break;
		case OPT_RELIABLE:
			opts.flags |= SHMKIT_BUS_RELIABLE;
			break;
		case OPT_SLOTS:
			if (cli_parse_long(optarg, 2, MAX_SLOTS, &slots) != 0 ||
			    (slots & (slots - 1)) != 0) {
				return cli_usage_err(PUB,
						     "--slots: '%s' is not a power of two from 2 "
						     "to %ld",
						     optarg, MAX_SLOTS);
			}
			opts.slots = (uint32_t)slots;
			break;
		case OPT_MAX_SIZE:
			if (cli_parse_size(optarg, &size) != 0 || size == 0 ||
			    size > MAX_MSG_SIZE) {
				return cli_usage_err(
					PUB, "--max-size: '%s' is not a size from 1 to 1G", optarg);
			}
			opts.max_msg_size = size;
			break;
		case 'h':
			pub_usage();
			return CLI_EXIT_OK;
		default:
			return cli_getopt_err(PUB, c, argv, pub_longopts);
		}
	}
	if (optind >= argc) {
		return cli_usage_err(PUB, "missing TOPIC");
	}
	if (argc - optind > 2) {
		return cli_usage_err(PUB, "unexpected argument '%s'", argv[optind + 2]);
	}
	if (argv[optind][0] == '\0') {
		return cli_usage_err(PUB, "empty TOPIC");
	}
	/* Each slot holds a 16-byte header and the message, in 64-byte lines. */
	if ((uint64_t)opts.slots * ((opts.max_msg_size + 16 + 63) / 64 * 64) > MAX_TOTAL) {
		return cli_usage_err(PUB,
				     "--slots %u of --max-size %" PRIu64
				     " bytes: over the 1T a topic may hold",
				     (unsigned)opts.slots, opts.max_msg_size);
	}
	data = optind + 1 < argc ? argv[optind + 1] : "-";

	memset(&p, 0, sizeof(p));
	p.spec = argv[optind];
	if (rate > 0) {
		p.interval_ns = (int64_t)((double)NS_PER_SEC / rate + 0.5);
		if (p.interval_ns < 1) {
			p.interval_ns = 1;
		}
	}
	cli_catch_stop_signals();
	if ((rc = open_topic(PUB, p.spec, &opts, &p.b, &info)) != 0) {
		return rc;
	}
	p.max = info.max_msg_size;
	if (strcmp(data, "-") == 0) {
		rc = publish_lines(&p, count);
	} else {
		size_t len = strlen(data);

		if (len > p.max) {
			cli_err(PUB,
				"%s: message of %zu bytes is over the topic's limit of %" PRIu64
				" bytes",
				p.spec, len, p.max);
			rc = CLI_EXIT_FAIL;
		} else {
			rc = 0;
			for (long i = 0; rc == 0 && i < (count ? count : 1); i++) {
				rc = publish(&p, data, len);
			}
		}
	}
	/* Closing gives our publisher entry back. */
	shmkit_bus_close(p.b);
	if (rc == STOPPED) {
		return cli_die_of_signal(cli_stop_signal);
	}
	return rc;
}

/* ---------------------------------------------------------------------- */
/* sub                                                                     */

#define SUB "sub"

struct sub {
	const char *spec;
	shmkit_bus *b;
	enum format fmt;
	int hz;
	uint64_t received, lost;
	/* --hz: since the last report. */
	int64_t start_ns, report_ns;
	uint64_t report_received, report_lost;
};

/* One message, in the format asked for; @lost: lost just before it. */
static void
print_msg(struct sub *s, const unsigned char *buf, size_t len, uint64_t lost)
{
	switch (s->fmt) {
	case FMT_TEXT:
		fwrite(buf, 1, len, stdout);
		fputc('\n', stdout);
		break;
	case FMT_HEX:
		printf("message %" PRIu64 ", %zu bytes:", s->received, len);
		for (size_t i = 0; i < len; i++) {
			printf("%s%02x", i % 32 == 0 ? "\n  " : " ", buf[i]);
		}
		fputc('\n', stdout);
		break;
	case FMT_JSON:
		printf("{\"seq\": %" PRIu64 ", \"length\": %zu, \"lost\": %" PRIu64 ", \"data\": ",
		       s->received, len, lost);
		cli_json_bytes(stdout, buf, len);
		fputs("}\n", stdout);
		break;
	}
}

/* --hz: the rate and the losses since the last report. */
static void
report(struct sub *s, int64_t now)
{
	double secs = (double)(now - s->report_ns) / (double)NS_PER_SEC;

	fprintf(stderr,
		"# %.1f msg/s, lost %" PRIu64 " (in all: %" PRIu64 " received, %" PRIu64 " lost)\n",
		secs > 0 ? (double)(s->received - s->report_received) / secs : 0.0,
		s->lost - s->report_lost, s->received, s->lost);
	s->report_received = s->received;
	s->report_lost = s->lost;
	s->report_ns = now;
}

static void
summary(const struct sub *s)
{
	double secs = (double)(now_ns() - s->start_ns) / (double)NS_PER_SEC;

	fprintf(stderr, "# %" PRIu64 " received, %" PRIu64 " lost in %.1f s (%.1f msg/s)\n",
		s->received, s->lost, secs, secs > 0 ? (double)s->received / secs : 0.0);
}

/* Flush standard output: 0, or CLI_EXIT_FAIL (said why). */
static int
flush_out(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_err(SUB, "write error: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* Read and print messages until @count (0: no end), @timeout_ms of silence
 * (-1: none) or a signal. Return an exit status, or STOPPED. */
static int
run_sub(struct sub *s, uint64_t max, long count, long timeout_ms)
{
	size_t cap = max < FIRST_BUF ? (size_t)max : FIRST_BUF;
	unsigned char *buf = malloc(cap ? cap : 1);
	int64_t last_ns = now_ns();
	int rc = CLI_EXIT_OK;

	if (buf == NULL) {
		cli_err(SUB, "out of memory");
		return CLI_EXIT_FAIL;
	}
	s->start_ns = s->report_ns = last_ns;
	while (count == 0 || s->received < (uint64_t)count) {
		int64_t now, until;
		struct timespec dl;
		uint64_t lost = 0;
		ssize_t n;

		if (cli_stop_signal) {
			rc = STOPPED;
			break;
		}
		/* What is waiting is taken without a system call; output is
		 * flushed only before a wait. */
		n = shmkit_bus_recv(s->b, buf, cap, &lost, SHMKIT_BUS_F_NOWAIT, NULL);
		if (n == -EAGAIN) {
			if ((rc = flush_out()) != 0) {
				break;
			}
			now = now_ns();
			until = now + CHECK_NS;
			if (s->hz && s->report_ns + NS_PER_SEC < until) {
				until = s->report_ns + NS_PER_SEC;
			}
			if (timeout_ms >= 0 && last_ns + timeout_ms * 1000000LL < until) {
				until = last_ns + timeout_ms * 1000000LL;
			}
			dl = ns_to_ts(until);
			n = shmkit_bus_recv(s->b, buf, cap, &lost, SHMKIT_BUS_F_INTERRUPTIBLE, &dl);
		}
		now = now_ns();
		if (s->hz && now - s->report_ns >= NS_PER_SEC) {
			report(s, now);
		}
		if (n == -ETIMEDOUT || n == -EINTR) {
			if (timeout_ms >= 0 && now - last_ns >= timeout_ms * 1000000LL) {
				if (s->received == 0) {
					cli_err(SUB, "%s: no message in %ld ms", s->spec,
						timeout_ms);
					rc = CLI_EXIT_FAIL;
				}
				break;
			}
			continue;
		}
		if (n == -EMSGSIZE && cap < max) {
			/* It stays in the topic: read it again, with room. */
			size_t ncap = cap * 2 < max ? cap * 2 : (size_t)max;
			unsigned char *nb = realloc(buf, ncap);

			if (nb == NULL) {
				cli_err(SUB, "out of memory");
				rc = CLI_EXIT_FAIL;
				break;
			}
			buf = nb;
			cap = ncap;
			continue;
		}
		if (n < 0) {
			cli_err(SUB, "%s: %s", s->spec, shmkit_strerror((int)n));
			rc = CLI_EXIT_FAIL;
			break;
		}
		last_ns = now;
		s->received++;
		s->lost += lost;
		if (lost > 0 && s->fmt != FMT_JSON) {
			/* In its place among the messages, when both go to
			 * one terminal or file. */
			if ((rc = flush_out()) != 0) {
				break;
			}
			fprintf(stderr, "# lost %" PRIu64 "\n", lost);
		}
		print_msg(s, buf, (size_t)n, lost);
	}
	free(buf);
	if (rc != CLI_EXIT_FAIL && flush_out() != 0) {
		rc = CLI_EXIT_FAIL;
	}
	return rc;
}

int
cmd_sub(int argc, char **argv)
{
	shmkit_bus_info info;
	struct sub s;
	long count = 0, history = 0, timeout_ms = -1;
	int c, rc;

	memset(&s, 0, sizeof(s));
	s.fmt = FMT_TEXT;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:h", sub_longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (cli_parse_long(optarg, 1, LONG_MAX, &count) != 0) {
				return cli_usage_err(SUB, "--count: '%s' is not a count >= 1",
						     optarg);
			}
			break;
		case OPT_HISTORY:
			if (cli_parse_long(optarg, 0, LONG_MAX, &history) != 0) {
				return cli_usage_err(SUB, "--history: '%s' is not a count >= 0",
						     optarg);
			}
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "text") == 0) {
				s.fmt = FMT_TEXT;
			} else if (strcmp(optarg, "hex") == 0) {
				s.fmt = FMT_HEX;
			} else if (strcmp(optarg, "json") == 0) {
				s.fmt = FMT_JSON;
			} else {
				return cli_usage_err(SUB, "--format: '%s' is not text, hex or json",
						     optarg);
			}
			break;
		case OPT_HZ:
			s.hz = 1;
			break;
		case OPT_TIMEOUT:
			/* In milliseconds, kept well inside the nanosecond clock. */
			if (cli_parse_long(optarg, 0, INT32_MAX, &timeout_ms) != 0) {
				return cli_usage_err(SUB,
						     "--timeout: '%s' is not a number of "
						     "milliseconds from 0 to %ld",
						     optarg, (long)INT32_MAX);
			}
			break;
		case 'h':
			sub_usage();
			return CLI_EXIT_OK;
		default:
			return cli_getopt_err(SUB, c, argv, sub_longopts);
		}
	}
	if (optind >= argc) {
		return cli_usage_err(SUB, "missing TOPIC");
	}
	if (optind + 1 < argc) {
		return cli_usage_err(SUB, "unexpected argument '%s'", argv[optind + 1]);
	}
	if (argv[optind][0] == '\0') {
		return cli_usage_err(SUB, "empty TOPIC");
	}
	s.spec = argv[optind];

	cli_catch_stop_signals();
	if ((rc = open_topic(SUB, s.spec, NULL, &s.b, &info)) != 0) {
		return rc;
	}
	rc = shmkit_bus_subscribe(s.b, (uint64_t)history);
	if (rc < 0) {
		cli_err(SUB, "%s: %s%s", s.spec, shmkit_strerror(rc),
			rc == -EUSERS ? " (the topic has all the subscribers it can take)" : "");
		shmkit_bus_close(s.b);
		return CLI_EXIT_FAIL;
	}
	rc = run_sub(&s, info.max_msg_size, count, timeout_ms);
	/* Closing unsubscribes: a reliable topic stops waiting for us. */
	shmkit_bus_close(s.b);
	if (s.hz) {
		summary(&s);
	}
	if (rc == STOPPED) {
		return cli_stop_signal == SIGINT ? CLI_EXIT_OK : cli_die_of_signal(cli_stop_signal);
	}
	return rc;
}
