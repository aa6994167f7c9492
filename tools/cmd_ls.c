/* SPDX-License-Identifier: MIT */
/* shmkit ls: list shmkit segments (and with --all, the system's foreign ones). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmkit/shmkit.h>

#include "util.h"

#define CMD "ls"

enum {
	OPT_JSON = 256,
};

static const struct option longopts[] = {
	{"all", no_argument, NULL, 'a'},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void
usage(void)
{
	fputs("Usage: shmkit ls [--all] [--json]\n"
	      "\n"
	      "List the shmkit segments of every backend that can be enumerated: posix\n"
	      "(/dev/shm), sysv (the kernel's table) and memfd (descriptors of the\n"
	      "processes we may inspect). file: segments have no registry and are not\n"
	      "listed; use 'shmkit stat file:PATH'.\n"
	      "\n"
	      "Options:\n"
	      "  -a, --all    also list foreign System V and POSIX shared-memory objects\n"
	      "      --json   print a JSON array of objects, one per segment, with every\n"
	      "               field that 'shmkit stat --json' prints\n"
	      "  -h, --help   show this help\n"
	      "\n"
	      "Columns:\n"
	      "  SPEC     the canonical spec that reaches the segment\n"
	      "  BACKEND  posix, sysv or memfd\n"
	      "  KIND     the shmkit object kind (\"segment\", \"semset\", \"queue\",\n"
	      "           \"ring\", \"bus\", or a number), \"-\" if foreign\n"
	      "  SIZE     bytes of the whole object\n"
	      "  MODE     permission bits\n"
	      "  OWNER    owner's user name (or uid)\n"
	      "  CPID     creator's pid, with \"(dead)\" when it is no longer running\n"
	      "  NATTCH   System V attach count (\"-\" elsewhere)\n"
	      "  STATE    ready, initializing or broken; foreign (no shmkit header);\n"
	      "           or what is wrong with the header: bad-header, bad-version,\n"
	      "           unreadable; \",removed\" for a System V segment marked for\n"
	      "           removal that is still attached\n"
	      "  DETAIL   for a semset, a queue, a ring or a bus, what it holds (see\n"
	      "           shmkit(1))\n"
	      "\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n",
	      stdout);
}

struct listing {
	shmkit_segment_info *items;
	size_t n, cap;
	int oom;
};

static int
collect(const shmkit_segment_info *info, void *ctx)
{
	struct listing *l = ctx;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 32;
		shmkit_segment_info *p;

		p = realloc(l->items, ncap * sizeof(*p));
		if (p == NULL) {
			l->oom = 1;
			return -ENOMEM;
		}
		l->items = p;
		l->cap = ncap;
	}
	l->items[l->n++] = *info;
	return 0;
}

/* Sorted by backend, then spec, so that the output is stable. */
static int
compare(const void *a, const void *b)
{
	const shmkit_segment_info *x = a, *y = b;

	if (x->backend != y->backend) {
		return x->backend < y->backend ? -1 : 1;
	}
	return strcmp(x->spec, y->spec);
}

static const char *
kind_label(const shmkit_segment_info *info, char *buf, size_t len)
{
	if (!info->is_shmkit) {
		return "-";
	}
	if (cli_kind_name(info->kind) != NULL) {
		return cli_kind_name(info->kind);
	}
	snprintf(buf, len, "%u", (unsigned)info->kind);
	return buf;
}

static int
print_table(const struct listing *l)
{
	struct cli_table t;
	size_t i;
	int rc = 0;

	cli_table_init(&t, 10, "lllrllrrll");
	{
		static const char *const head[] = {"SPEC",  "BACKEND", "KIND",   "SIZE",  "MODE",
						   "OWNER", "CPID",    "NATTCH", "STATE", "DETAIL"};

		rc = cli_table_add(&t, head);
	}
	for (i = 0; rc == 0 && i < l->n; i++) {
		const shmkit_segment_info *in = &l->items[i];
		char kind[32], size[32], mode[16], owner[256], cpid[48];
		char nattch[32], state[64], detail[192];
		const char *row[10];

		snprintf(size, sizeof(size), "%" PRIu64, in->size);
		snprintf(mode, sizeof(mode), "%04o", (unsigned)in->mode);
		cli_user_name((uid_t)in->uid, owner, sizeof(owner));
		if (in->creator_pid < 0) {
			snprintf(cpid, sizeof(cpid), "-");
		} else if (in->creator_alive == 0) {
			snprintf(cpid, sizeof(cpid), "%d(dead)", (int)in->creator_pid);
		} else {
			snprintf(cpid, sizeof(cpid), "%d", (int)in->creator_pid);
		}
		if (in->nattch < 0) {
			snprintf(nattch, sizeof(nattch), "-");
		} else {
			snprintf(nattch, sizeof(nattch), "%" PRId64, in->nattch);
		}
		snprintf(state, sizeof(state), "%s%s", cli_state_label(in),
			 in->removed ? ",removed" : "");
		row[0] = in->spec;
		row[1] = shmkit_backend_name(in->backend);
		row[2] = kind_label(in, kind, sizeof(kind));
		row[3] = size;
		row[4] = mode;
		row[5] = owner;
		row[6] = cpid;
		row[7] = nattch;
		row[8] = state;
		if (in->is_shmkit && in->kind == SHMKIT_KIND_SEMSET &&
		    cli_semset_summary(in, detail, sizeof(detail)) == 0) {
			row[9] = detail;
		} else if (in->is_shmkit && in->kind == SHMKIT_KIND_QUEUE &&
			   cli_queue_summary(in, detail, sizeof(detail)) == 0) {
			row[9] = detail;
		} else if (in->is_shmkit && in->kind == SHMKIT_KIND_RING &&
			   cli_ring_summary(in, detail, sizeof(detail)) == 0) {
			row[9] = detail;
		} else if (in->is_shmkit && in->kind == SHMKIT_KIND_BUS &&
			   cli_bus_summary(in, detail, sizeof(detail)) == 0) {
			row[9] = detail;
		} else {
			row[9] = "";
		}
		rc = cli_table_add(&t, row);
	}
	if (rc < 0) {
		cli_table_free(&t);
		cli_err(CMD, "%s", shmkit_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
	return CLI_EXIT_OK;
}

static void
print_json(const struct listing *l)
{
	size_t i;

	if (l->n == 0) {
		fputs("[]\n", stdout);
		return;
	}
	fputs("[\n", stdout);
	for (i = 0; i < l->n; i++) {
		cli_json_info(stdout, &l->items[i], 2);
		fputs(i + 1 < l->n ? ",\n" : "\n", stdout);
	}
	fputs("]\n", stdout);
}

int
cmd_ls(int argc, char **argv)
{
	struct listing l = {NULL, 0, 0, 0};
	unsigned flags = 0;
	int json = 0;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ah", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			flags |= SHMKIT_LIST_F_ALL;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case 'h':
			usage();
			return CLI_EXIT_OK;
		default:
			return cli_getopt_err(CMD, c, argv, longopts);
		}
	}
	if (optind < argc) {
		return cli_usage_err(CMD, "unexpected argument '%s'", argv[optind]);
	}

	rc = shmkit_segment_list(collect, &l, flags);
	if (rc < 0) {
		cli_err(CMD, "%s", l.oom ? "out of memory" : shmkit_strerror(rc));
		free(l.items);
		return CLI_EXIT_FAIL;
	}
	if (l.n > 1) {
		qsort(l.items, l.n, sizeof(l.items[0]), compare);
	}
	if (json) {
		print_json(&l);
		rc = CLI_EXIT_OK;
	} else {
		rc = print_table(&l);
	}
	free(l.items);
	if (fflush(stdout) != 0) {
		cli_err(CMD, "write error: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return rc;
}
