/* SPDX-License-Identifier: MIT */
/* shmkit rm: remove segments by spec or by System V shmid, like ipcrm. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmkit/shmkit.h>

#include "util.h"

#define CMD "rm"

enum {
	OPT_SYSV_ID = 256,
};

static const struct option longopts[] = {
	{"force", no_argument, NULL, 'f'},
	{"sysv-id", required_argument, NULL, OPT_SYSV_ID},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void
usage(void)
{
	fputs("Usage: shmkit rm [-f] SPEC...\n"
	      "       shmkit rm [-f] --sysv-id SHMID...\n"
	      "\n"
	      "Remove segments: shm_unlink for posix, unlink for file, IPC_RMID for\n"
	      "sysv. Processes that have a segment mapped keep it until they unmap it;\n"
	      "a System V segment is marked for removal, its key released at once,\n"
	      "and destroyed at its last detach. A memfd has no name to remove: it\n"
	      "goes with its last descriptor.\n"
	      "\n"
	      "Every SPEC is tried even when one fails; each failure is reported on\n"
	      "one line.\n"
	      "\n"
	      "Options:\n"
	      "  -f, --force          ignore objects that do not exist\n"
	      "      --sysv-id SHMID  remove the System V segment with that shmid, made\n"
	      "                       by shmkit or not (what 'ipcrm -m SHMID' does);\n"
	      "                       same as the spec sysv:id=SHMID; may be repeated\n"
	      "  -h, --help           show this help\n"
	      "\n"
	      "Exit status: 0 all removed, 1 any removal failed, 2 usage error.\n",
	      stdout);
}

static int
remove_one(const char *spec, int force)
{
	int rc = shmkit_segment_remove(spec);
	const char *hint = "";

	if (rc == 0) {
		return 0;
	}
	if (force && (rc == -ENOENT || rc == -EIDRM)) {
		return 0;
	}
	if (rc == -EOPNOTSUPP && strncmp(spec, "memfd:", 6) == 0) {
		hint = " (a memfd has no name: it goes with its last descriptor)";
	} else if (rc == -EINVAL) {
		hint = " (check the spec: see 'shmkit --help')";
	}
	cli_err(CMD, "%s: %s%s", spec, shmkit_strerror(rc), hint);
	return -1;
}

int
cmd_rm(int argc, char **argv)
{
	long *ids;
	size_t nids = 0;
	int force = 0, failed = 0;
	int c, i;
	size_t k;

	/* At most one --sysv-id per word of the command line. */
	ids = calloc((size_t)argc + 1, sizeof(*ids));
	if (ids == NULL) {
		cli_err(CMD, "out of memory");
		return CLI_EXIT_FAIL;
	}

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":fh", longopts, NULL)) != -1) {
		long id;

		switch (c) {
		case 'f':
			force = 1;
			break;
		case OPT_SYSV_ID:
			if (cli_parse_long(optarg, 0, INT_MAX, &id) < 0) {
				free(ids);
				return cli_usage_err(CMD,
						     "invalid shmid '%s': expected a number 0..%d",
						     optarg, INT_MAX);
			}
			ids[nids++] = id;
			break;
		case 'h':
			free(ids);
			usage();
			return CLI_EXIT_OK;
		default:
			free(ids);
			return cli_getopt_err(CMD, c, argv, longopts);
		}
	}
	if (optind >= argc && nids == 0) {
		free(ids);
		return cli_usage_err(CMD, "missing SPEC or --sysv-id");
	}
	/* Check every word first: a usage error removes nothing. */
	for (i = optind; i < argc; i++) {
		if (argv[i][0] == '\0') {
			free(ids);
			return cli_usage_err(CMD, "empty SPEC");
		}
	}

	for (i = optind; i < argc; i++) {
		if (remove_one(argv[i], force) < 0) {
			failed = 1;
		}
	}
	for (k = 0; k < nids; k++) {
		char spec[64];

		snprintf(spec, sizeof(spec), "sysv:id=%ld", ids[k]);
		if (remove_one(spec, force) < 0) {
			failed = 1;
		}
	}
	free(ids);
	return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
