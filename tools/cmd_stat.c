/* SPDX-License-Identifier: MIT */
/* shmkit stat: show everything known about one segment, as text or JSON. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <shmkit/shmkit.h>

#include "util.h"

#define CMD "stat"

enum {
	OPT_JSON = 256,
	OPT_RAW,
};

static const struct option longopts[] = {
	{"json", no_argument, NULL, OPT_JSON},
	{"raw", no_argument, NULL, OPT_RAW},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void
usage(void)
{
	fputs("Usage: shmkit stat SPEC [--json] [--raw]\n"
	      "\n"
	      "Show everything known about the segment SPEC, one 'key: value' per line.\n"
	      "The object is inspected, never mapped or modified, so a foreign,\n"
	      "truncated or corrupted object can be examined safely: a foreign object\n"
	      "is shown with 'shmkit: no' and the reason in header_error.\n"
	      "\n"
	      "Values a backend does not know are shown as '-'. Sizes, owners, pids and\n"
	      "times are followed by a readable form in parentheses.\n"
	      "A semaphore set, a queue, a ring or a bus is followed by what it holds\n"
	      "(semset_*, queue_*, ring_* or bus_* keys; see shmkit(1)).\n"
	      "\n"
	      "Options:\n"
	      "      --json   print one JSON object with every field instead\n"
	      "      --raw    print the bare values only, as stored (numbers, -1 for\n"
	      "               unknown, times in seconds or nanoseconds since the epoch)\n"
	      "  -h, --help   show this help\n"
	      "\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n",
	      stdout);
}

struct out {
	int raw;
};

static void
line(const char *key, const char *value)
{
	printf("%s: %s\n", key, value);
}

/* A signed value of which -1 (or any negative) means unknown. */
static void
line_i64(const struct out *o, const char *key, int64_t v, const char *extra)
{
	if (o->raw) {
		printf("%s: %" PRId64 "\n", key, v);
	} else if (v < 0) {
		line(key, "-");
	} else if (extra != NULL && extra[0] != '\0') {
		printf("%s: %" PRId64 " (%s)\n", key, v, extra);
	} else {
		printf("%s: %" PRId64 "\n", key, v);
	}
}

static void
line_size(const struct out *o, const char *key, uint64_t v)
{
	char human[64];

	if (o->raw || v < 1024) {
		printf("%s: %" PRIu64 "\n", key, v);
	} else {
		printf("%s: %" PRIu64 " (%s)\n", key, v, cli_human_size(v, human, sizeof(human)));
	}
}

/* A time in seconds: -1 unknown; @never_zero: 0 means "never" (sysv). */
static void
line_time(const struct out *o, const char *key, int64_t sec, int never_zero)
{
	char when[128];

	if (o->raw) {
		printf("%s: %" PRId64 "\n", key, sec);
	} else if (sec < 0) {
		line(key, "-");
	} else if (sec == 0 && never_zero) {
		line(key, "0 (never)");
	} else {
		printf("%s: %" PRId64 " (%s)\n", key, sec, cli_time_str(sec, when, sizeof(when)));
	}
}

/* @yes for 1, @no for 0, @unknown otherwise (-1). */
static const char *
tristate(int v, const char *yes, const char *no, const char *unknown)
{
	if (v == 1) {
		return yes;
	}
	return v == 0 ? no : unknown;
}

static void
print_text(const shmkit_segment_info *in, int raw)
{
	const struct out o = {raw};
	char a[256], b[256];
	const int sysv = in->backend == SHMKIT_BACKEND_SYSV;
	char spec[sizeof(in->spec)];

	line("spec", cli_printable(in->spec, spec, sizeof(spec)));
	line("backend", shmkit_backend_name(in->backend));
	if (raw) {
		printf("is_shmkit: %d\n", (int)in->is_shmkit);
		printf("header_error: %d\n", (int)in->header_error);
	} else {
		line("is_shmkit", in->is_shmkit ? "yes" : "no");
		if (in->header_error != 0) {
			printf("header_error: %d (%s)\n", (int)in->header_error,
			       shmkit_strerror(in->header_error));
		} else {
			line("header_error", "0");
		}
	}
	if (raw) {
		printf("kind: %u\n", (unsigned)in->kind);
		printf("state: %u\n", (unsigned)in->state);
	} else {
		if (!in->is_shmkit) {
			line("kind", "-");
		} else if (cli_kind_name(in->kind) != NULL) {
			printf("kind: %u (%s)\n", (unsigned)in->kind, cli_kind_name(in->kind));
		} else {
			printf("kind: %u\n", (unsigned)in->kind);
		}
		line("state", cli_state_label(in));
	}
	printf("layout_version: %u\n", (unsigned)in->layout_version);
	line_size(&o, "size", in->size);
	printf("data_offset: %" PRIu64 "\n", in->data_offset);
	line_size(&o, "data_size", in->data_size);
	printf("mode: %04o\n", (unsigned)in->mode);
	if (raw) {
		printf("uid: %u\ngid: %u\n", (unsigned)in->uid, (unsigned)in->gid);
	} else {
		printf("uid: %u (%s)\n", (unsigned)in->uid,
		       cli_user_name((uid_t)in->uid, a, sizeof(a)));
		printf("gid: %u (%s)\n", (unsigned)in->gid,
		       cli_group_name((gid_t)in->gid, b, sizeof(b)));
	}
	line_i64(&o, "creator_pid", in->creator_pid,
		 tristate(in->creator_alive, "alive", "dead", ""));
	if (raw || in->is_shmkit) {
		if (raw) {
			printf("creator_uid: %u\n", (unsigned)in->creator_uid);
		} else {
			printf("creator_uid: %u (%s)\n", (unsigned)in->creator_uid,
			       cli_user_name((uid_t)in->creator_uid, a, sizeof(a)));
		}
		printf("creator_start: %" PRIu64 "\n", in->creator_start);
	} else {
		line("creator_uid", "-");
		line("creator_start", "-");
	}
	if (raw) {
		printf("creator_alive: %d\n", (int)in->creator_alive);
		printf("removed: %d\n", (int)in->removed);
		printf("created_ns: %" PRId64 "\n", in->created_ns);
	} else {
		line("creator_alive", tristate(in->creator_alive, "yes", "no", "-"));
		line("removed", in->removed ? "yes" : "no");
		if (in->created_ns <= 0) {
			line("created_ns", "-");
		} else {
			int64_t s = in->created_ns / 1000000000;

			printf("created_ns: %" PRId64 " (%s)\n", in->created_ns,
			       cli_time_str(s, a, sizeof(a)));
		}
	}
	line_i64(&o, "nattch", in->nattch, NULL);
	line_i64(&o, "sysv_id", in->sysv_id, NULL);
	if (raw || sysv) {
		printf("sysv_key: 0x%08x\n", (unsigned)in->sysv_key);
	} else {
		line("sysv_key", "-");
	}
	line_i64(&o, "last_pid", in->last_pid, NULL);
	line_i64(&o, "holder_pid", in->holder_pid, NULL);
	line_time(&o, "atime", in->atime, sysv);
	line_time(&o, "dtime", in->dtime, sysv);
	line_time(&o, "ctime", in->ctime, 0);
	line_time(&o, "mtime", in->mtime, 0);
}

int
cmd_stat(int argc, char **argv)
{
	shmkit_segment_info info;
	const char *spec;
	int json = 0, raw = 0;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			json = 1;
			break;
		case OPT_RAW:
			raw = 1;
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
	spec = argv[optind];
	if (spec[0] == '\0') {
		return cli_usage_err(CMD, "empty SPEC");
	}

	memset(&info, 0, sizeof(info));
	rc = shmkit_segment_stat(spec, &info);
	if (rc < 0) {
		cli_err(CMD, "%s: %s%s", spec, shmkit_strerror(rc),
			rc == -EINVAL ? " (check the spec: see 'shmkit --help')" : "");
		return CLI_EXIT_FAIL;
	}
	/* The library fills spec; make sure it is a string whatever happens. */
	info.spec[sizeof(info.spec) - 1] = '\0';
	if (json) {
		cli_json_info_fields(stdout, &info, 0);
		if (info.is_shmkit && info.kind == SHMKIT_KIND_SEMSET) {
			rc = cli_semset_print(&info, 1);
		} else if (info.is_shmkit && info.kind == SHMKIT_KIND_QUEUE) {
			rc = cli_queue_print(&info, 1);
		} else if (info.is_shmkit && info.kind == SHMKIT_KIND_RING) {
			rc = cli_ring_print(&info, 1);
		} else if (info.is_shmkit && info.kind == SHMKIT_KIND_BUS) {
			rc = cli_bus_print(&info, 1);
		}
		fputs("\n}\n", stdout);
	} else {
		print_text(&info, raw);
		if (info.is_shmkit && info.kind == SHMKIT_KIND_SEMSET) {
			rc = cli_semset_print(&info, 0);
		} else if (info.is_shmkit && info.kind == SHMKIT_KIND_QUEUE) {
			rc = cli_queue_print(&info, 0);
		} else if (info.is_shmkit && info.kind == SHMKIT_KIND_RING) {
			rc = cli_ring_print(&info, 0);
		} else if (info.is_shmkit && info.kind == SHMKIT_KIND_BUS) {
			rc = cli_bus_print(&info, 0);
		}
	}
	if (rc < 0) {
		cli_err(CMD, "%s: contents: %s", spec, shmkit_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	if (fflush(stdout) != 0) {
		cli_err(CMD, "write error: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
