/* SPDX-License-Identifier: MIT */
/* shmkit recv: take typed messages off a queue, msgrcv-style selection. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmkit/shmkit.h>

#include "util.h"

#define CMD "recv"

enum {
	OPT_EXCEPT = 256,
	OPT_NOWAIT,
	OPT_FORMAT,
};

enum format { FMT_TEXT, FMT_HEX, FMT_JSON };

static const struct option longopts[] = {
	{"type", required_argument, NULL, 't'},
	{"except", no_argument, NULL, OPT_EXCEPT},
	{"nowait", no_argument, NULL, OPT_NOWAIT},
	{"count", required_argument, NULL, 'n'},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void
usage(void)
{
	fputs("Usage: shmkit recv SPEC [--type N] [--except] [--nowait] [--count N]\n"
	      "                        [--format text|hex|json]\n"
	      "\n"
	      "Receive messages from the queue SPEC, selected as msgrcv(2) selects:\n"
	      "  --type 0 (default)  the first message\n"
	      "  --type N > 0        the first message of type N (--except: of any other)\n"
	      "  --type -N           the first of the lowest type <= N\n"
	      "\n"
	      "Options:\n"
	      "      --except       with --type N > 0, take the first of another type\n"
	      "      --nowait       fail (exit 1) when no message matches, instead of waiting\n"
	      "  -n, --count N      receive N messages (default 1)\n"
	      "      --format F     text (the payload, then a newline), hex, or json\n"
	      "                     (one object per message: type, length, data as hex)\n"
	      "  -h, --help         show this help\n"
	      "\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n",
	      stdout);
}

static void
print_msg(enum format fmt, long type, const unsigned char *buf, size_t len)
{
	switch (fmt) {
	case FMT_TEXT:
		fwrite(buf, 1, len, stdout);
		fputc('\n', stdout);
		break;
	case FMT_HEX:
		printf("type %ld, %zu bytes:", type, len);
		for (size_t i = 0; i < len; i++) {
			printf("%s%02x", i % 32 == 0 ? "\n  " : " ", buf[i]);
		}
		fputc('\n', stdout);
		break;
	case FMT_JSON:
		printf("{\"type\": %ld, \"length\": %zu, \"hex\": \"", type, len);
		for (size_t i = 0; i < len; i++) {
			printf("%02x", buf[i]);
		}
		printf("\"}\n");
		break;
	}
}

int
cmd_recv(int argc, char **argv)
{
	long msgtyp = 0, count = 1;
	unsigned flags = SHMKIT_QUEUE_F_INTERRUPTIBLE;
	enum format fmt = FMT_TEXT;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (cli_parse_long(optarg, -LONG_MAX, LONG_MAX, &msgtyp) != 0) {
				return cli_usage_err(CMD, "--type: '%s' is not a number", optarg);
			}
			break;
		case 'n':
			if (cli_parse_long(optarg, 1, LONG_MAX, &count) != 0) {
				return cli_usage_err(CMD, "--count: '%s' is not a count >= 1",
						     optarg);
			}
			break;
		case OPT_EXCEPT:
			flags |= SHMKIT_QUEUE_F_EXCEPT;
			break;
		case OPT_NOWAIT:
			flags |= SHMKIT_QUEUE_F_NOWAIT;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "text") == 0) {
				fmt = FMT_TEXT;
			} else if (strcmp(optarg, "hex") == 0) {
				fmt = FMT_HEX;
			} else if (strcmp(optarg, "json") == 0) {
				fmt = FMT_JSON;
			} else {
				return cli_usage_err(CMD, "--format: '%s' is not text, hex or json",
						     optarg);
			}
			break;
		case 'h':
			usage();
			return CLI_EXIT_OK;
		default:
			return cli_getopt_err(CMD, c, argv, longopts);
		}
	}
	if (optind >= argc) {
		return cli_usage_err(CMD, "missing SPEC");
	}
	if (optind + 1 < argc) {
		return cli_usage_err(CMD, "unexpected argument '%s'", argv[optind + 1]);
	}
	if ((flags & SHMKIT_QUEUE_F_EXCEPT) && msgtyp <= 0) {
		return cli_usage_err(CMD, "--except needs --type N with N > 0");
	}
	const char *spec = argv[optind];
	shmkit_queue *q = NULL;
	int rc = shmkit_queue_open(&q, spec);
	if (rc < 0) {
		cli_err(CMD, "%s: %s", spec, shmkit_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	shmkit_queue_info info;
	rc = shmkit_queue_stat(q, &info);
	unsigned char *buf = rc == 0 ? malloc(info.max_msg_size ? info.max_msg_size : 1) : NULL;
	if (rc == 0 && buf == NULL) {
		rc = -ENOMEM;
	}
	for (long i = 0; rc == 0 && i < count; i++) {
		long type = 0;
		ssize_t n =
			shmkit_queue_recv(q, buf, info.max_msg_size, msgtyp, &type, flags, NULL);
		if (n < 0) {
			rc = (int)n;
			break;
		}
		print_msg(fmt, type, buf, (size_t)n);
	}
	free(buf);
	shmkit_queue_close(q);
	if (fflush(stdout) != 0) {
		cli_err(CMD, "write error: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	if (rc < 0) {
		cli_err(CMD, "%s: %s%s", spec, shmkit_strerror(rc),
			rc == -ENOMSG ? " (no message matches)" : "");
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
