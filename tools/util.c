/* SPDX-License-Identifier: MIT */
/* Helpers shared by the subcommands of the shmkit tool: parsing, output, errors. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmkit/common.h>

static void verr(const char *cmd, int hint, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
verr(const char *cmd, int hint, const char *fmt, va_list ap)
{
	char msg[1024];
	char shown[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	cli_printable(msg, shown, sizeof(shown));
	if (hint) {
		fprintf(stderr, "shmkit%s%s: %s (try 'shmkit%s%s --help')\n", cmd ? " " : "",
			cmd ? cmd : "", shown, cmd ? " " : "", cmd ? cmd : "");
	} else {
		fprintf(stderr, "shmkit%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "", shown);
	}
}

void
cli_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(cmd, 0, fmt, ap);
	va_end(ap);
}

int
cli_usage_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(cmd, 1, fmt, ap);
	va_end(ap);
	return CLI_EXIT_USAGE;
}

int
cli_getopt_err(const char *cmd, int c, char **argv, const struct option *longopts)
{
	/*
	 * After an error getopt_long() has moved optind past the offending
	 * word. For a long option that word is the option itself; for a short
	 * one inside a cluster ("-xq") optopt names the letter.
	 */
	const char *word = optind > 0 ? argv[optind - 1] : "?";
	const struct option *match = NULL;
	const char *eq;
	size_t len, i, nmatch = 0;

	if (word[0] != '-' || word[1] != '-') {
		if (c == ':') {
			return cli_usage_err(cmd, "option '-%c' requires an argument", optopt);
		}
		if (isprint(optopt)) {
			return cli_usage_err(cmd, "unknown option '-%c'", optopt);
		}
		return cli_usage_err(cmd, "unknown option");
	}
	if (c == ':') {
		return cli_usage_err(cmd, "option '%s' requires an argument", word);
	}
	/*
	 * Unknown, ambiguous, or given an argument it does not take. As
	 * getopt_long() does, an exact name wins over prefixes of longer ones.
	 */
	eq = strchr(word, '=');
	len = eq != NULL ? (size_t)(eq - word - 2) : strlen(word + 2);
	for (i = 0; longopts != NULL && longopts[i].name != NULL; i++) {
		if (strncmp(longopts[i].name, word + 2, len) != 0) {
			continue;
		}
		if (longopts[i].name[len] == '\0') {
			match = &longopts[i];
			nmatch = 1;
			break;
		}
		match = &longopts[i];
		nmatch++;
	}
	if (nmatch > 1) {
		return cli_usage_err(cmd, "ambiguous option '%s'", word);
	}
	if (nmatch == 1 && eq != NULL && match->has_arg == no_argument) {
		return cli_usage_err(cmd, "option '--%s' takes no argument", match->name);
	}
	return cli_usage_err(cmd, "unknown option '%s'", word);
}

int
cli_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGTPE";
	const char *unit;
	unsigned long long v;
	char *end;
	unsigned shift = 0;

	/* strtoull() would accept a sign and leading blanks: refuse them. */
	if (s == NULL || !isdigit((unsigned char)s[0])) {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE) {
		return -ERANGE;
	}
	/* Binary multiples: K = 2^10, M = 2^20, ... E = 2^60. */
	if (*end != '\0' && (unit = strchr(units, toupper((unsigned char)*end))) != NULL) {
		shift = 10 * (unsigned)(unit - units + 1);
	}
	if (shift != 0) {
		end++;
		if (*end == 'i' && end[1] == 'B') {
			end += 2;
		} else if (*end == 'B') {
			end++;
		}
	} else if (*end == 'B') {
		end++;
	}
	if (*end != '\0') {
		return -EINVAL;
	}
	if (shift != 0 && v > (UINT64_MAX >> shift)) {
		return -ERANGE;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

int
cli_parse_mode(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	size_t i;

	if (s == NULL || s[0] == '\0') {
		return -EINVAL;
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '7') {
			return -EINVAL;
		}
		v = v * 8 + (uint32_t)(s[i] - '0');
		if (v > 0777) {
			return -EINVAL;
		}
	}
	*out = v;
	return 0;
}

int
cli_parse_long(const char *s, long min, long max, long *out)
{
	long v;
	char *end;

	if (s == NULL || s[0] == '\0' ||
	    !(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1])))) {
		return -EINVAL;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0') {
		return -EINVAL;
	}
	if (errno == ERANGE || v < min || v > max) {
		return -ERANGE;
	}
	*out = v;
	return 0;
}

const char *
cli_human_size(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)n;
	size_t u = 0;

	if (n < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", n);
		return buf;
	}
	v /= 1024.0;
	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

const char *
cli_user_name(uid_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL && pw->pw_name != NULL) {
		snprintf(buf, len, "%s", pw->pw_name);
	} else {
		snprintf(buf, len, "%lu", (unsigned long)uid);
	}
	return buf;
}

const char *
cli_group_name(gid_t gid, char *buf, size_t len)
{
	struct group *gr = getgrgid(gid);

	if (gr != NULL && gr->gr_name != NULL) {
		snprintf(buf, len, "%s", gr->gr_name);
	} else {
		snprintf(buf, len, "%lu", (unsigned long)gid);
	}
	return buf;
}

const char *
cli_time_str(int64_t sec, char *buf, size_t len)
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S %z", &tm) == 0) {
		snprintf(buf, len, "?");
	}
	return buf;
}

const char *
cli_printable(const char *s, char *buf, size_t len)
{
	size_t i;

	if (len == 0) {
		return buf;
	}
	for (i = 0; s[i] != '\0' && i + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[i] = '\0';
	return buf;
}

/*
 * Length of the valid UTF-8 sequence at @p (1..4) within @avail bytes, or 0
 * if it is not one. Overlong forms, surrogates and code points over
 * U+10FFFF are invalid.
 */
static size_t
utf8_seq_len(const unsigned char *p, size_t avail)
{
	uint32_t cp;
	size_t n, i;

	if (p[0] < 0x80) {
		return 1;
	} else if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	/* Cut short by the end of the bytes: never read past it. */
	if (n > avail) {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return n;
}

/* The two-character JSON escape of @c, or NULL if it has none. */
static const char *
json_escape(unsigned char c)
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	default:
		return NULL;
	}
}

void
cli_json_string(FILE *f, const char *s)
{
	cli_json_bytes(f, s, strlen(s));
}

void
cli_json_bytes(FILE *f, const void *data, size_t len)
{
	const unsigned char *p = data;
	const unsigned char *end = p + len;

	fputc('"', f);
	while (p < end) {
		const char *esc;
		size_t n;

		esc = json_escape(*p);
		if (esc != NULL) {
			fputs(esc, f);
			p++;
			continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
			p++;
			continue;
		}
		n = utf8_seq_len(p, (size_t)(end - p));
		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}

const char *
cli_state_label(const shmkit_segment_info *info)
{
	if (info->is_shmkit) {
		return shmkit_state_name(info->state);
	}
	switch (-info->header_error) {
	case 0:
	case EMEDIUMTYPE:
		return "foreign";
	case EBADMSG:
		return "bad-header";
	case EPROTO:
		return "bad-version";
	case EACCES:
	case EPERM:
		return "unreadable";
	case EIDRM:
	case ENOENT:
		return "gone";
	case ENOTRECOVERABLE:
		return "broken";
	default:
		return "error";
	}
}

static void
json_key(FILE *f, int indent, int *first, const char *key)
{
	fprintf(f, "%s\n%*s\"%s\": ", *first ? "" : ",", indent + 2, "", key);
	*first = 0;
}

static void
json_i64(FILE *f, int indent, int *first, const char *key, int64_t v)
{
	json_key(f, indent, first, key);
	fprintf(f, "%" PRId64, v);
}

static void
json_u64(FILE *f, int indent, int *first, const char *key, uint64_t v)
{
	json_key(f, indent, first, key);
	fprintf(f, "%" PRIu64, v);
}

static void
json_str(FILE *f, int indent, int *first, const char *key, const char *v)
{
	json_key(f, indent, first, key);
	cli_json_string(f, v);
}

static void
json_bool(FILE *f, int indent, int *first, const char *key, int v)
{
	json_key(f, indent, first, key);
	fputs(v ? "true" : "false", f);
}

void
cli_json_info_fields(FILE *f, const shmkit_segment_info *info, int indent)
{
	char buf[256];
	int first = 1;

	fprintf(f, "%*s{", indent, "");
	json_str(f, indent, &first, "spec", info->spec);
	json_str(f, indent, &first, "backend", shmkit_backend_name(info->backend));
	json_bool(f, indent, &first, "is_shmkit", info->is_shmkit);
	json_i64(f, indent, &first, "header_error", info->header_error);
	json_str(f, indent, &first, "header_error_text",
		 info->header_error ? shmkit_strerror(info->header_error) : "");
	json_u64(f, indent, &first, "kind", info->kind);
	json_str(f, indent, &first, "kind_name",
		 info->is_shmkit && cli_kind_name(info->kind) ? cli_kind_name(info->kind) : "");
	json_u64(f, indent, &first, "state", info->state);
	json_str(f, indent, &first, "state_name", cli_state_label(info));
	json_u64(f, indent, &first, "layout_version", info->layout_version);
	json_u64(f, indent, &first, "size", info->size);
	json_u64(f, indent, &first, "data_offset", info->data_offset);
	json_u64(f, indent, &first, "data_size", info->data_size);
	json_u64(f, indent, &first, "mode", info->mode);
	snprintf(buf, sizeof(buf), "%04o", (unsigned)info->mode);
	json_str(f, indent, &first, "mode_octal", buf);
	json_u64(f, indent, &first, "uid", info->uid);
	json_str(f, indent, &first, "owner", cli_user_name((uid_t)info->uid, buf, sizeof(buf)));
	json_u64(f, indent, &first, "gid", info->gid);
	json_i64(f, indent, &first, "creator_pid", info->creator_pid);
	json_u64(f, indent, &first, "creator_uid", info->creator_uid);
	json_u64(f, indent, &first, "creator_start", info->creator_start);
	json_i64(f, indent, &first, "creator_alive", info->creator_alive);
	json_bool(f, indent, &first, "removed", info->removed);
	json_i64(f, indent, &first, "created_ns", info->created_ns);
	json_i64(f, indent, &first, "nattch", info->nattch);
	json_i64(f, indent, &first, "sysv_id", info->sysv_id);
	json_u64(f, indent, &first, "sysv_key", info->sysv_key);
	json_i64(f, indent, &first, "last_pid", info->last_pid);
	json_i64(f, indent, &first, "holder_pid", info->holder_pid);
	json_i64(f, indent, &first, "atime", info->atime);
	json_i64(f, indent, &first, "dtime", info->dtime);
	json_i64(f, indent, &first, "ctime", info->ctime);
	json_i64(f, indent, &first, "mtime", info->mtime);
}

void
cli_json_info(FILE *f, const shmkit_segment_info *info, int indent)
{
	cli_json_info_fields(f, info, indent);
	fprintf(f, "\n%*s}", indent, "");
}

void
cli_table_init(struct cli_table *t, size_t ncols, const char *align)
{
	t->ncols = ncols;
	t->align = align;
	t->cells = NULL;
	t->nrows = 0;
	t->cap = 0;
}

int
cli_table_add(struct cli_table *t, const char *const *row)
{
	size_t i;

	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		char **n;

		if (ncap > SIZE_MAX / sizeof(char *) / t->ncols) {
			return -ENOMEM;
		}
		n = realloc(t->cells, ncap * t->ncols * sizeof(char *));
		if (n == NULL) {
			return -ENOMEM;
		}
		t->cells = n;
		t->cap = ncap;
	}
	for (i = 0; i < t->ncols; i++) {
		char *c = strdup(row[i] ? row[i] : "");

		if (c == NULL) {
			while (i-- > 0) {
				free(t->cells[t->nrows * t->ncols + i]);
			}
			return -ENOMEM;
		}
		/* Shown as printed, so the widths below match the output. */
		cli_printable(c, c, strlen(c) + 1);
		t->cells[t->nrows * t->ncols + i] = c;
	}
	t->nrows++;
	return 0;
}

void
cli_table_print(const struct cli_table *t, FILE *f)
{
	size_t *width = calloc(t->ncols ? t->ncols : 1, sizeof(size_t));
	size_t r, c;

	if (width == NULL) {
		return;
	}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			size_t w = strlen(t->cells[r * t->ncols + c]);

			if (w > width[c]) {
				width[c] = w;
			}
		}
	}
	for (r = 0; r < t->nrows; r++) {
		/* Empty trailing cells print nothing, so no line ends in blanks. */
		size_t ncols = t->ncols;

		while (ncols > 1 && t->cells[r * t->ncols + ncols - 1][0] == '\0') {
			ncols--;
		}
		for (c = 0; c < ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			int w = (int)width[c];
			int last = c + 1 == ncols;

			if (c > 0) {
				fputs("  ", f);
			}
			if (t->align != NULL && t->align[c] == 'r') {
				fprintf(f, "%*s", w, cell);
			} else if (last) {
				fputs(cell, f);
			} else {
				fprintf(f, "%-*s", w, cell);
			}
		}
		fputc('\n', f);
	}
	free(width);
}

void
cli_table_free(struct cli_table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++) {
		free(t->cells[i]);
	}
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
	t->cap = 0;
}

volatile sig_atomic_t cli_stop_signal;

static void
on_stop_signal(int sig)
{
	cli_stop_signal = sig;
}

void
cli_catch_stop_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop_signal;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old;

		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN) {
			sigaction(sigs[i], &sa, NULL);
		}
	}
	signal(SIGPIPE, SIG_IGN);
}

int
cli_die_of_signal(int sig)
{
	fflush(stdout);
	fflush(stderr);
	signal(sig, SIG_DFL);
	raise(sig);
	return 128 + sig;
}
