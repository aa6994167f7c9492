/* SPDX-License-Identifier: MIT */
/* shmkit create: create (or open) a segment, optionally run a command with it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmkit/shmkit.h>

#include "util.h"

#define CMD "create"

enum {
	OPT_RAW = 256,
	OPT_HUGEPAGES,
	OPT_JSON,
};

static const struct option longopts[] = {
	{"size", required_argument, NULL, 's'},
	{"mode", required_argument, NULL, 'm'},
	{"exclusive", no_argument, NULL, 'x'},
	{"raw", no_argument, NULL, OPT_RAW},
	{"hugepages", no_argument, NULL, OPT_HUGEPAGES},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void
usage(void)
{
	fputs("Usage: shmkit create SPEC --size BYTES [OPTIONS] [-- CMD [ARGS...]]\n"
	      "\n"
	      "Create the segment SPEC, or open it if it exists (open-or-create), and\n"
	      "print its canonical spec, backend and size, with \"created\" or \"exists\".\n"
	      "An existing object smaller than --size is an error. sysv:private and\n"
	      "memfd: specs always make a new object.\n"
	      "\n"
	      "Options:\n"
	      "  -s, --size BYTES   bytes of user data (required): 4096, 64K, 1M, 2G, ...\n"
	      "                     (binary suffixes K, M, G, T, P, E; rounded up to pages)\n"
	      "  -m, --mode MODE    permission bits in octal, 0..0777 (default 0600);\n"
	      "                     the umask does not apply\n"
	      "  -x, --exclusive    fail if the object exists instead of opening it\n"
	      "      --raw          no shmkit header: create a plain segment, or open a\n"
	      "                     foreign one\n"
	      "      --hugepages    back the segment with huge pages (sysv, memfd)\n"
	      "      --json         print the result as a JSON object\n"
	      "  -h, --help         show this help\n"
	      "\n"
	      "Running a command:\n"
	      "  With '-- CMD [ARGS...]', shmkit keeps the segment open, runs CMD, waits\n"
	      "  for it and exits with its status (128+N if killed by signal N). The\n"
	      "  environment of CMD holds:\n"
	      "    SHMKIT_SPEC  a spec that reaches the segment (for a memfd:\n"
	      "                 memfd:fd=N, valid in CMD and its children)\n"
	      "    SHMKIT_FD    the descriptor of the segment, inherited by CMD (not\n"
	      "                 set for sysv, which has none)\n"
	      "  A memfd has no name and vanishes when its last descriptor closes, so\n"
	      "  this is the way to use one from the shell:\n"
	      "    shmkit create memfd:demo --size 1M -- sh -c 'shmkit stat \"$SHMKIT_SPEC\"'\n"
	      "  Without a command, a memfd vanishes as soon as shmkit exits.\n"
	      "\n"
	      "Exit status: 0 success, 1 failure, 2 usage error; with a command, its\n"
	      "status (127 if it could not be found, 126 if it could not be run).\n",
	      stdout);
}

/*
 * A spec that always makes a new object, so there is nothing to open:
 * "memfd:", "memfd:LABEL" and "sysv:private".
 */
static int
is_create_only(const char *spec)
{
	if (strcmp(spec, "sysv:private") == 0) {
		return 1;
	}
	if (strncmp(spec, "memfd:", 6) != 0) {
		return 0;
	}
	spec += 6;
	return strncmp(spec, "fd=", 3) != 0 && strncmp(spec, "pid=", 4) != 0;
}

static const char *
error_hint(int err, int exclusive, unsigned flags)
{
	switch (-err) {
	case EEXIST:
		return exclusive ? " (use without --exclusive to open it)" : "";
	case EMEDIUMTYPE:
		return " (use --raw to do so)";
	case EOWNERDEAD:
		/*
		 * A System V segment with no header yet (all zeroes) whose creator
		 * is gone: a shmkit creator that died while initialising, or a
		 * foreign segment that simply holds zeroes.
		 */
		return " (its creator died before it was ready, or it is not a shmkit object:"
		       " use --raw to open it, 'shmkit rm' to remove it)";
	case ETIMEDOUT:
		return " (its creator is still setting it up, or it is not a shmkit object:"
		       " use --raw to open it)";
	case EOPNOTSUPP:
		return (flags & SHMKIT_SEGMENT_F_HUGEPAGES)
			       ? " (huge pages need the sysv or memfd backend)"
			       : "";
	case ENOMEM:
		return (flags & SHMKIT_SEGMENT_F_HUGEPAGES) ? " (no free huge pages?)" : "";
	case EINVAL:
		return " (check the spec: see 'shmkit --help')";
	default:
		return "";
	}
}

static void
print_result(const char *status, const shmkit_segment_info *info, uint64_t data_size, int json)
{
	char spec[sizeof(info->spec)];
	char human[64];

	if (json) {
		printf("{\"status\": \"%s\", \"spec\": ", status);
		cli_json_string(stdout, info->spec);
		printf(", \"backend\": \"%s\", \"size\": %" PRIu64 ", \"data_size\": %" PRIu64
		       ", \"mode\": %u, \"mode_octal\": \"%04o\", \"is_shmkit\": %s}\n",
		       shmkit_backend_name(info->backend), info->size, data_size,
		       (unsigned)info->mode, (unsigned)info->mode,
		       info->is_shmkit ? "true" : "false");
		return;
	}
	printf("%s %s (%s, %" PRIu64 " bytes of data = %s, mode %04o)\n", status,
	       cli_printable(info->spec, spec, sizeof(spec)), shmkit_backend_name(info->backend),
	       data_size, cli_human_size(data_size, human, sizeof(human)), (unsigned)info->mode);
}

/*
 * Run @cmd with the segment's descriptor inherited and its spec in the
 * environment; return the exit code shmkit should end with.
 */
static int
run_command(shmkit_segment *seg, const shmkit_segment_info *info, char **cmd)
{
	struct sigaction ign, old_int, old_quit;
	char buf[64];
	int fd = shmkit_segment_fd(seg);
	int status;
	pid_t pid, w;

	if (fd >= 0) {
		/*
		 * The library opens every descriptor close-on-exec; this one is
		 * meant to cross the exec, so clear the flag on it alone.
		 */
		int fl = fcntl(fd, F_GETFD);

		if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0) {
			cli_err(CMD, "%s: cannot make the descriptor inheritable: %s", info->spec,
				strerror(errno));
			return CLI_EXIT_FAIL;
		}
		snprintf(buf, sizeof(buf), "%d", fd);
		if (setenv("SHMKIT_FD", buf, 1) < 0) {
			cli_err(CMD, "setenv: %s", strerror(errno));
			return CLI_EXIT_FAIL;
		}
	} else {
		unsetenv("SHMKIT_FD");
	}
	if (info->backend == SHMKIT_BACKEND_MEMFD && fd >= 0) {
		snprintf(buf, sizeof(buf), "memfd:fd=%d", fd);
		if (setenv("SHMKIT_SPEC", buf, 1) < 0) {
			cli_err(CMD, "setenv: %s", strerror(errno));
			return CLI_EXIT_FAIL;
		}
	} else if (setenv("SHMKIT_SPEC", info->spec, 1) < 0) {
		cli_err(CMD, "setenv: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}

	/* What we printed must come out before the command's own output. */
	fflush(stdout);
	fflush(stderr);

	pid = fork();
	if (pid < 0) {
		cli_err(CMD, "fork: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	if (pid == 0) {
		execvp(cmd[0], cmd);
		status = errno;
		cli_err(CMD, "%s: %s", cmd[0], strerror(status));
		_exit(status == ENOENT ? 127 : 126);
	}

	/*
	 * As system() does: while the command runs, a Ctrl-C or Ctrl-\ from the
	 * terminal is for it; we stay to report its status and close the
	 * segment.
	 */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	do {
		w = waitpid(pid, &status, 0);
	} while (w < 0 && errno == EINTR);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);

	if (w < 0) {
		cli_err(CMD, "waitpid: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	if (WIFEXITED(status)) {
		return WEXITSTATUS(status);
	}
	if (WIFSIGNALED(status)) {
		return 128 + WTERMSIG(status);
	}
	return CLI_EXIT_FAIL;
}

int
cmd_create(int argc, char **argv)
{
	shmkit_segment_opts opts;
	shmkit_segment_info info;
	shmkit_segment *seg = NULL;
	char **cmd = NULL;
	const char *spec;
	const char *size_arg = NULL;
	uint64_t size = 0;
	uint32_t mode = 0;
	int have_mode = 0, exclusive = 0, json = 0, created;
	unsigned flags = 0;
	int nopt = argc;
	int c, i, rc;

	/*
	 * Split off "-- CMD ARGS" ourselves: getopt_long() would permute the
	 * words after "--" together with SPEC and we could not tell them apart.
	 */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			nopt = i;
			cmd = argv + i + 1;
			break;
		}
	}

	opterr = 0;
	while ((c = getopt_long(nopt, argv, ":s:m:xh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			size_arg = optarg;
			break;
		case 'm':
			if (cli_parse_mode(optarg, &mode) < 0) {
				return cli_usage_err(
					CMD, "invalid mode '%s': expected octal 0..0777", optarg);
			}
			have_mode = 1;
			break;
		case 'x':
			exclusive = 1;
			break;
		case OPT_RAW:
			flags |= SHMKIT_SEGMENT_F_RAW;
			break;
		case OPT_HUGEPAGES:
			flags |= SHMKIT_SEGMENT_F_HUGEPAGES;
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

	if (optind >= nopt) {
		return cli_usage_err(CMD, "missing SPEC");
	}
	if (optind + 1 < nopt) {
		return cli_usage_err(CMD, "unexpected argument '%s'", argv[optind + 1]);
	}
	spec = argv[optind];
	if (spec[0] == '\0') {
		return cli_usage_err(CMD, "empty SPEC");
	}
	if (cmd != NULL && cmd[0] == NULL) {
		return cli_usage_err(CMD, "missing command after '--'");
	}
	if (size_arg == NULL) {
		return cli_usage_err(CMD, "missing --size");
	}
	rc = cli_parse_size(size_arg, &size);
	if (rc == -ERANGE) {
		return cli_usage_err(CMD, "size '%s' is too large", size_arg);
	}
	if (rc < 0) {
		return cli_usage_err(
			CMD, "invalid size '%s': expected BYTES, or a number with K, M, G or T",
			size_arg);
	}
	if (size == 0) {
		return cli_usage_err(CMD, "size must be greater than 0");
	}

	shmkit_segment_opts_init(&opts);
	opts.size = size;
	opts.flags = flags;
	if (have_mode) {
		opts.mode = mode;
	}

	if (exclusive || is_create_only(spec)) {
		rc = shmkit_segment_create(&seg, spec, &opts);
		created = 1;
	} else {
		rc = shmkit_segment_open_or_create(&seg, spec, &opts);
		created = rc == 1;
	}
	if (rc < 0) {
		cli_err(CMD, "%s: %s%s", spec, shmkit_strerror(rc),
			error_hint(rc, exclusive, flags));
		return CLI_EXIT_FAIL;
	}

	rc = shmkit_segment_info_get(seg, &info);
	if (rc < 0) {
		cli_err(CMD, "%s: %s", spec, shmkit_strerror(rc));
		shmkit_segment_close(seg);
		return CLI_EXIT_FAIL;
	}
	if (!created && shmkit_segment_size(seg) < size) {
		cli_err(CMD, "%s: exists with %zu bytes of data, fewer than the %" PRIu64 " asked",
			info.spec, shmkit_segment_size(seg), size);
		shmkit_segment_close(seg);
		return CLI_EXIT_FAIL;
	}
	print_result(created ? "created" : "exists", &info, (uint64_t)shmkit_segment_size(seg),
		     json);

	if (cmd != NULL) {
		rc = run_command(seg, &info, cmd);
	} else {
		rc = CLI_EXIT_OK;
		if (info.backend == SHMKIT_BACKEND_MEMFD) {
			cli_err(CMD,
				"note: a memfd has no name; %s vanishes as shmkit exits"
				" (use '-- CMD' to hand it to a command)",
				info.spec);
		}
	}
	shmkit_segment_close(seg);
	return rc;
}
