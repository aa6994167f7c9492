/* SPDX-License-Identifier: MIT */
/* shmkit send: put one typed message on a queue. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmkit/shmkit.h>

#include "util.h"

#define CMD "send"

enum {
	OPT_NO_CREATE = 256,
	OPT_NOWAIT,
};

static const struct option longopts[] = {
	{"type", required_argument, NULL, 't'},
	{"no-create", no_argument, NULL, OPT_NO_CREATE},
	{"nowait", no_argument, NULL, OPT_NOWAIT},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void
usage(void)
{
	fputs("Usage: shmkit send SPEC [--type N] [--no-create] [--nowait] [DATA | -]\n"
	      "\n"
	      "Send one message to the queue SPEC: DATA as given, or standard input\n"
	      "when DATA is '-' or missing. The queue is created with the default\n"
	      "limits (16384 bytes, messages up to 8192 bytes, mode 0600) when it\n"
	      "does not exist.\n"
	      "\n"
	      "Options:\n"
	      "  -t, --type N     message type, 1..LONG_MAX (default 1)\n"
	      "      --no-create  fail if the queue does not exist\n"
	      "      --nowait     fail at once if the queue is full instead of waiting\n"
	      "  -h, --help       show this help\n"
	      "\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n",
	      stdout);
}

/* All of standard input, up to @max bytes (one more tells it is too long). */
static int
read_stdin(char **out, size_t *len, size_t max)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	if (buf == NULL) {
		return -ENOMEM;
	}
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n, stdin);
		n += got;
		if (got == 0) {
			if (ferror(stdin)) {
				free(buf);
				return -EIO;
			}
			break;
		}
	}
	*out = buf;
	*len = n;
	return 0;
}

int
cmd_send(int argc, char **argv)
{
	long type = 1;
	int create = 1;
	unsigned flags = SHMKIT_QUEUE_F_INTERRUPTIBLE;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (cli_parse_long(optarg, 1, LONG_MAX, &type) != 0) {
				return cli_usage_err(CMD, "--type: '%s' is not a type in 1..%ld",
						     optarg, LONG_MAX);
			}
			break;
		case OPT_NO_CREATE:
			create = 0;
			break;
		case OPT_NOWAIT:
			flags |= SHMKIT_QUEUE_F_NOWAIT;
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
	if (argc - optind > 2) {
		return cli_usage_err(CMD, "unexpected argument '%s'", argv[optind + 2]);
	}
	const char *spec = argv[optind];
	const char *data = optind + 1 < argc ? argv[optind + 1] : "-";
	if (spec[0] == '\0') {
		return cli_usage_err(CMD, "empty SPEC");
	}

	shmkit_queue *q = NULL;
	int rc = create ? shmkit_queue_open_or_create(&q, spec, NULL) : shmkit_queue_open(&q, spec);
	if (rc < 0) {
		cli_err(CMD, "%s: %s", spec, shmkit_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	shmkit_queue_info info;
	rc = shmkit_queue_stat(q, &info);
	char *buf = NULL;
	size_t len = 0;
	if (rc == 0 && strcmp(data, "-") == 0) {
		rc = read_stdin(&buf, &len, info.max_msg_size);
	} else if (rc == 0) {
		len = strlen(data);
	}
	if (rc == 0 && len > info.max_msg_size) {
		cli_err(CMD, "%s: message of %zu bytes is over the queue's limit of %u", spec, len,
			(unsigned)info.max_msg_size);
		free(buf);
		shmkit_queue_close(q);
		return CLI_EXIT_FAIL;
	}
	if (rc == 0) {
		rc = shmkit_queue_send(q, type, buf != NULL ? buf : data, len, flags, NULL);
	}
	free(buf);
	shmkit_queue_close(q);
	if (rc < 0) {
		cli_err(CMD, "%s: %s%s", spec, shmkit_strerror(rc),
			rc == -EAGAIN ? " (the queue is full)" : "");
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
