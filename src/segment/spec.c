/* SPDX-License-Identifier: MIT */
/* Spec strings: which backend and which object a user means. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/stat.h>

#include "internal/spec.h"

int
shmkit__name_check(const char *name, size_t len)
{
	if (len == 0) {
		return -EINVAL;
	}
	if (len > SHMKIT_NAME_MAX) {
		return -ENAMETOOLONG;
	}
	/* "." and ".." would be harmless after the prefix, but they read as
	 * directory references to a person, so they are refused. */
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok) {
			return -EINVAL;
		}
	}
	return 0;
}

/* Parse a whole unsigned number (decimal, or hex with 0x) up to @max. */
static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (*s == '\0') {
		return -EINVAL;
	}
	uint64_t v = 0;
	for (; *s != '\0'; s++) {
		int d;
		if (*s >= '0' && *s <= '9') {
			d = *s - '0';
		} else if (base == 16 && *s >= 'a' && *s <= 'f') {
			d = *s - 'a' + 10;
		} else if (base == 16 && *s >= 'A' && *s <= 'F') {
			d = *s - 'A' + 10;
		} else {
			return -EINVAL;
		}
		if (v > (max - (uint64_t)d) / (uint64_t)base) {
			return -EINVAL;
		}
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*out = v;
	return 0;
}

static int
copy_path(const char *path, struct shmkit_spec *out)
{
	size_t len = strlen(path);
	if (len == 0) {
		return -EINVAL;
	}
	if (len >= sizeof(out->path)) {
		return -ENAMETOOLONG;
	}
	memcpy(out->path, path, len + 1);
	return 0;
}

static int
parse_sysv(const char *rest, struct shmkit_spec *out)
{
	uint64_t v;
	out->backend = SHMKIT_BACKEND_SYSV;
	if (strcmp(rest, "private") == 0) {
		out->form = SHMKIT_SPEC_PRIVATE;
		out->key = IPC_PRIVATE;
		return 0;
	}
	if (strncmp(rest, "id=", 3) == 0) {
		if (parse_u64(rest + 3, INT32_MAX, &v) != 0) {
			return -EINVAL;
		}
		out->form = SHMKIT_SPEC_ID;
		out->id = (int)v;
		return 0;
	}
	if (strncmp(rest, "ftok=", 5) == 0) {
		const char *path = rest + 5;
		const char *comma = strrchr(path, ',');
		if (comma == NULL || comma == path) {
			return -EINVAL;
		}
		if (parse_u64(comma + 1, 255, &v) != 0 || v == 0) {
			return -EINVAL;
		}
		size_t len = (size_t)(comma - path);
		if (len >= sizeof(out->path)) {
			return -ENAMETOOLONG;
		}
		memcpy(out->path, path, len);
		out->path[len] = '\0';
		out->ftok_id = (int)v;
		out->form = SHMKIT_SPEC_FTOK;
		/* ftok() documents only -1 on error; its errno is stat's. */
		errno = 0;
		key_t key = ftok(out->path, out->ftok_id);
		if (key == (key_t)-1) {
			return errno != 0 ? -errno : -EINVAL;
		}
		out->key = (uint32_t)key;
		if (out->key == IPC_PRIVATE) {
			return -EINVAL;
		}
		return 0;
	}
	if (parse_u64(rest, UINT32_MAX, &v) != 0 || v == 0) {
		/* Key 0 is IPC_PRIVATE: say "sysv:private" to mean it. */
		return -EINVAL;
	}
	out->form = SHMKIT_SPEC_KEY;
	out->key = (uint32_t)v;
	return 0;
}

static int
parse_memfd(const char *rest, struct shmkit_spec *out)
{
	uint64_t v;
	out->backend = SHMKIT_BACKEND_MEMFD;
	if (strncmp(rest, "fd=", 3) == 0) {
		if (parse_u64(rest + 3, INT32_MAX, &v) != 0) {
			return -EINVAL;
		}
		out->form = SHMKIT_SPEC_FD;
		out->fd = (int)v;
		return 0;
	}
	if (strncmp(rest, "pid=", 4) == 0) {
		const char *comma = strchr(rest, ',');
		char num[16];
		size_t len = comma != NULL ? (size_t)(comma - rest - 4) : 0;
		if (comma == NULL || len == 0 || len >= sizeof(num) ||
		    strncmp(comma + 1, "fd=", 3) != 0) {
			return -EINVAL;
		}
		memcpy(num, rest + 4, len);
		num[len] = '\0';
		if (parse_u64(num, INT32_MAX, &v) != 0 || v == 0) {
			return -EINVAL;
		}
		out->pid = (int)v;
		if (parse_u64(comma + 4, INT32_MAX, &v) != 0) {
			return -EINVAL;
		}
		out->fd = (int)v;
		out->form = SHMKIT_SPEC_PID_FD;
		return 0;
	}
	out->form = SHMKIT_SPEC_NAME;
	size_t len = strlen(rest);
	if (len == 0) {
		return 0;
	}
	int rc = shmkit__name_check(rest, len);
	if (rc != 0) {
		return rc;
	}
	memcpy(out->name, rest, len + 1);
	return 0;
}

int
shmkit__spec_parse(const char *spec, struct shmkit_spec *out)
{
	if (spec == NULL || out == NULL) {
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	out->id = -1;
	out->fd = -1;
	if (strncmp(spec, "sysv:", 5) == 0) {
		return parse_sysv(spec + 5, out);
	}
	if (strncmp(spec, "memfd:", 6) == 0) {
		return parse_memfd(spec + 6, out);
	}
	if (strncmp(spec, "file:", 5) == 0) {
		out->backend = SHMKIT_BACKEND_FILE;
		out->form = SHMKIT_SPEC_NAME;
		return copy_path(spec + 5, out);
	}
	const char *name = spec;
	if (strncmp(spec, "posix:", 6) == 0) {
		name = spec + 6;
	} else if (strchr(spec, ':') != NULL) {
		return -EINVAL; /* an unknown backend prefix */
	}
	size_t len = strlen(name);
	int rc = shmkit__name_check(name, len);
	if (rc != 0) {
		return rc;
	}
	out->backend = SHMKIT_BACKEND_POSIX;
	out->form = SHMKIT_SPEC_NAME;
	memcpy(out->name, name, len + 1);
	return 0;
}

int
shmkit__spec_format(const struct shmkit_spec *s, char *buf, size_t len)
{
	int n = -1;
	switch (s->backend) {
	case SHMKIT_BACKEND_POSIX:
		n = snprintf(buf, len, "posix:%s", s->name);
		break;
	case SHMKIT_BACKEND_FILE:
		n = snprintf(buf, len, "file:%s", s->path);
		break;
	case SHMKIT_BACKEND_SYSV:
		switch (s->form) {
		case SHMKIT_SPEC_PRIVATE:
			n = snprintf(buf, len, "sysv:private");
			break;
		case SHMKIT_SPEC_ID:
			n = snprintf(buf, len, "sysv:id=%d", s->id);
			break;
		case SHMKIT_SPEC_FTOK:
			n = snprintf(buf, len, "sysv:ftok=%s,%d", s->path, s->ftok_id);
			break;
		default:
			n = snprintf(buf, len, "sysv:0x%08x", s->key);
			break;
		}
		break;
	case SHMKIT_BACKEND_MEMFD:
		if (s->form == SHMKIT_SPEC_FD) {
			n = snprintf(buf, len, "memfd:fd=%d", s->fd);
		} else if (s->form == SHMKIT_SPEC_PID_FD) {
			n = snprintf(buf, len, "memfd:pid=%d,fd=%d", s->pid, s->fd);
		} else {
			n = snprintf(buf, len, "memfd:%s", s->name);
		}
		break;
	default:
		return -EINVAL;
	}
	if (n < 0 || (size_t)n >= len) {
		return -ENAMETOOLONG;
	}
	return n;
}

int
shmkit__posix_path(const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s%s", SHMKIT_POSIX_DIR, SHMKIT_POSIX_PREFIX, name);
	if (n < 0 || (size_t)n >= len) {
		return -ENAMETOOLONG;
	}
	return n;
}
