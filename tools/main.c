/* SPDX-License-Identifier: MIT */
/* The shmkit command: dispatch to a subcommand, global --help and --version. */
#include <stdio.h>
#include <string.h>

#include <shmkit/shmkit.h>

#include "util.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{"create", cmd_create, "create (or open) a segment, optionally run a command with it"},
	{"ls", cmd_ls, "list shmkit segments (and with --all, foreign ones)"},
	{"stat", cmd_stat, "show everything known about one segment"},
	{"rm", cmd_rm, "remove segments by spec or System V shmid"},
	{"send", cmd_send, "send a typed message to a queue (created if absent)"},
	{"recv", cmd_recv, "receive typed messages from a queue, as msgrcv selects"},
	{"pipe-in", cmd_pipe_in, "copy standard input into a byte ring (a shared-memory pipe)"},
	{"pipe-out", cmd_pipe_out, "copy a byte ring to standard output, then remove it"},
	{"pub", cmd_pub, "publish messages to a topic on a bus (created if absent)"},
	{"sub", cmd_sub, "subscribe to a topic on a bus and print its messages"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	size_t i;

	fputs("Usage: shmkit COMMAND [OPTIONS] [ARGS]\n"
	      "       shmkit COMMAND --help\n"
	      "       shmkit --help | --version\n"
	      "\n"
	      "Inspect and manage shmkit shared-memory objects.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (i = 0; i < NCOMMANDS; i++) {
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	}
	fputs("\n"
	      "Segments are named by a spec:\n"
	      "  NAME, posix:NAME       POSIX shared memory (/dev/shm)\n"
	      "  sysv:KEY               System V segment with that key (decimal or 0xHEX)\n"
	      "  sysv:ftok=PATH,ID      System V segment with key ftok(PATH, ID)\n"
	      "  sysv:private           a new IPC_PRIVATE System V segment (create only)\n"
	      "  sysv:id=SHMID          an existing System V segment by its shmid\n"
	      "  file:PATH              a regular file mapped shared\n"
	      "  memfd:, memfd:LABEL    an anonymous memfd (create only)\n"
	      "  memfd:fd=N             a memfd this process holds as descriptor N\n"
	      "  memfd:pid=P,fd=N       a memfd held by process P as descriptor N\n"
	      "\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n",
	      f);
}

int
main(int argc, char **argv)
{
	const char *name;
	size_t i;

	if (argc < 2) {
		cli_usage_err(NULL, "missing command");
		return CLI_EXIT_USAGE;
	}
	name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
		printf("shmkit %s (shared-memory layout %u)\n", shmkit_version(),
		       shmkit_layout_version());
		return CLI_EXIT_OK;
	}
	if (strcmp(name, "help") == 0) {
		/* "shmkit help CMD" is "shmkit CMD --help". */
		if (argc < 3) {
			usage(stdout);
			return CLI_EXIT_OK;
		}
		for (i = 0; i < NCOMMANDS; i++) {
			if (strcmp(argv[2], commands[i].name) == 0) {
				char help[] = "--help";
				char *av[] = {argv[2], help, NULL};

				return commands[i].run(2, av);
			}
		}
		return cli_usage_err(NULL, "unknown command '%s'", argv[2]);
	}
	for (i = 0; i < NCOMMANDS; i++) {
		if (strcmp(name, commands[i].name) == 0) {
			return commands[i].run(argc - 1, argv + 1);
		}
	}
	if (name[0] == '-') {
		return cli_usage_err(NULL, "unknown option '%s'", name);
	}
	return cli_usage_err(NULL, "unknown command '%s'", name);
}
