/* SPDX-License-Identifier: MIT */
/* Helpers shared by the subcommands of the shmkit tool: parsing, output, errors. */
#ifndef SHMKIT_TOOLS_UTIL_H
#define SHMKIT_TOOLS_UTIL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <shmkit/segment.h>

/* Exit codes of every subcommand. */
#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

/*
 * Subcommands. Each gets argv[0] = its own name and returns the exit code.
 * They print their usage on --help and never call exit() themselves, except
 * in a forked child.
 */
int cmd_create(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_recv(int argc, char **argv);
int cmd_pipe_in(int argc, char **argv);
int cmd_pipe_out(int argc, char **argv);
int cmd_pub(int argc, char **argv);
int cmd_sub(int argc, char **argv);

/*
 * Print "shmkit CMD: MESSAGE" as one line on stderr. Control characters in
 * the message (a file: path may hold a newline) are shown as '?', so an
 * error is always exactly one line.
 */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cli_err() followed by "(try 'shmkit CMD --help')"; returns CLI_EXIT_USAGE. */
int cli_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Report what getopt_long() returned for an option it did not accept (':'
 * for a missing argument, '?' for an unknown option). Call with opterr = 0
 * and an optstring that begins with ':'; @longopts is the table given to
 * getopt_long(), to tell an unknown option from a misused one. Returns
 * CLI_EXIT_USAGE.
 */
struct option;
int cli_getopt_err(const char *cmd, int c, char **argv, const struct option *longopts);

/*
 * Parse a size: decimal digits with an optional binary suffix K, M, G, T, P
 * or E (any case, optionally followed by "B" or "iB"), or a plain "B".
 * Return: 0, -EINVAL (not a size), -ERANGE (over UINT64_MAX).
 * Zero is accepted here; callers that need a positive size check it.
 */
int cli_parse_size(const char *s, uint64_t *out);

/* Parse permission bits: octal digits only, 0..0777. Return 0 or -EINVAL. */
int cli_parse_mode(const char *s, uint32_t *out);

/* Parse a decimal integer in [min, max]. Return 0, -EINVAL or -ERANGE. */
int cli_parse_long(const char *s, long min, long max, long *out);

/* "4096 B", "64.0 KiB", "1.5 GiB" into @buf; returns @buf. */
const char *cli_human_size(uint64_t n, char *buf, size_t len);

/* The user name of @uid, or its number, into @buf; returns @buf. */
const char *cli_user_name(uid_t uid, char *buf, size_t len);

/* The group name of @gid, or its number, into @buf; returns @buf. */
const char *cli_group_name(gid_t gid, char *buf, size_t len);

/* Local time "2024-05-01 12:30:00 +0200" of @sec into @buf; returns @buf. */
const char *cli_time_str(int64_t sec, char *buf, size_t len);

/* Copy @s into @buf with control characters shown as '?'; returns @buf. */
const char *cli_printable(const char *s, char *buf, size_t len);

/*
 * Write @s as a JSON string, quotes included. Control characters, quotes and
 * backslashes are escaped; bytes that are not valid UTF-8 become U+FFFD, so
 * the output is always valid JSON whatever a file name holds.
 */
void cli_json_string(FILE *f, const char *s);

/* The same for @len bytes that may hold NULs (escaped as \u0000). */
void cli_json_bytes(FILE *f, const void *data, size_t len);

/*
 * Write @info as one JSON object with every field of shmkit_segment_info,
 * plus a few decoded ones (backend and state names, mode in octal, owner
 * name, header error text). @indent is the indentation of the braces.
 */
void cli_json_info(FILE *f, const shmkit_segment_info *info, int indent);

/*
 * The STATE column of a segment: ready/initializing/broken for a valid shmkit
 * header, "foreign" for an object without one, or a short name of the
 * header error ("bad-header", "bad-version", "unreadable", ...).
 */
const char *cli_state_label(const shmkit_segment_info *info);

/* cli_json_info() without the closing brace, for callers that add keys. */
void cli_json_info_fields(FILE *f, const shmkit_segment_info *info, int indent);

/* "segment", "semset", "queue", "ring", "bus", or NULL for a kind this tool
 * does not know. */
const char *cli_kind_name(uint32_t kind);

/* One line about a semaphore set for ls; 0 or a negative errno. */
int cli_semset_summary(const shmkit_segment_info *info, char *buf, size_t len);

/* The semaphores of a set for stat: text lines, or a ",\n  \"semset\": {...}"
 * JSON member when @json. Return 0 or a negative errno. */
int cli_semset_print(const shmkit_segment_info *info, int json);

/* The same for a message queue: depth, bytes, waiters, dead claims. */
int cli_queue_summary(const shmkit_segment_info *info, char *buf, size_t len);
int cli_queue_print(const shmkit_segment_info *info, int json);

/* The same for a ring: mode, bytes used, its two ends, end of stream. */
int cli_ring_summary(const shmkit_segment_info *info, char *buf, size_t len);
int cli_ring_print(const shmkit_segment_info *info, int json);

/* The same for a bus: policy, slots, messages published, publishers and
 * subscribers, and (stat) one line per subscriber. */
int cli_bus_summary(const shmkit_segment_info *info, char *buf, size_t len);
int cli_bus_print(const shmkit_segment_info *info, int json);

/* A small text table: left- or right-aligned columns, two spaces apart. */
struct cli_table {
	size_t ncols;
	const char *align; /* one 'l' or 'r' per column */
	char **cells;      /* nrows * ncols strings, owned */
	size_t nrows, cap;
};

/* Start an empty table of @ncols columns; @align as above (kept, not copied). */
void cli_table_init(struct cli_table *t, size_t ncols, const char *align);

/* Append a row of ncols strings (copied). Return 0 or -ENOMEM. */
int cli_table_add(struct cli_table *t, const char *const *row);

/* Print the table; control characters in cells are shown as '?'. */
void cli_table_print(const struct cli_table *t, FILE *f);

/* Free the cells. */
void cli_table_free(struct cli_table *t);

/*
 * Commands that stream (pipe-in/out, pub/sub): SIGINT, SIGTERM and SIGHUP
 * set cli_stop_signal (those ignored when the command started stay
 * ignored), without SA_RESTART so that a blocking read, write or wait
 * ends; SIGPIPE is ignored (a write gives EPIPE). cli_die_of_signal()
 * flushes and dies of @sig as if it had not been caught (its return value,
 * 128 + @sig, is for a raise() that returned).
 */
extern volatile sig_atomic_t cli_stop_signal;
void cli_catch_stop_signals(void);
int cli_die_of_signal(int sig);

#endif /* SHMKIT_TOOLS_UTIL_H */
