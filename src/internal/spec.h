/* SPDX-License-Identifier: MIT */
/* Parsing and formatting of segment spec strings (private). */
#ifndef SHMKIT_INTERNAL_SPEC_H
#define SHMKIT_INTERNAL_SPEC_H

#include <limits.h>
#include <stdint.h>

#include <shmkit/segment.h>

#define SHMKIT_NAME_MAX 200
/* Every posix object of shmkit lives at /dev/shm/<prefix><NAME>. */
#define SHMKIT_POSIX_DIR    "/dev/shm"
#define SHMKIT_POSIX_PREFIX "shmkit."

enum shmkit_spec_form {
	SHMKIT_SPEC_NAME = 1, /* posix:NAME, file:PATH, memfd:LABEL, memfd: */
	SHMKIT_SPEC_KEY,      /* sysv:KEY */
	SHMKIT_SPEC_FTOK,     /* sysv:ftok=PATH,ID */
	SHMKIT_SPEC_PRIVATE,  /* sysv:private */
	SHMKIT_SPEC_ID,       /* sysv:id=SHMID */
	SHMKIT_SPEC_FD,       /* memfd:fd=N */
	SHMKIT_SPEC_PID_FD,   /* memfd:pid=P,fd=N */
};

struct shmkit_spec {
	shmkit_backend backend;
	enum shmkit_spec_form form;
	char name[SHMKIT_NAME_MAX + 1]; /* posix NAME, memfd LABEL ("" if none) */
	char path[PATH_MAX];            /* file PATH, ftok PATH */
	uint32_t key;                   /* sysv key (after ftok for FTOK) */
	int ftok_id;
	int id;  /* sysv shmid */
	int fd;  /* memfd descriptor */
	int pid; /* memfd holder */
};

/*
 * Parse @spec into @out. Does not touch the system except for the ftok form,
 * which stats PATH to compute the key.
 * Return: 0, -EINVAL (malformed, empty, bad characters, key 0 or out of range,
 * ID out of 1..255), -ENAMETOOLONG (name over 200, path over PATH_MAX - 1),
 * or the errno of ftok's stat (-ENOENT ...).
 */
int shmkit__spec_parse(const char *spec, struct shmkit_spec *out);

/* Check a posix name or memfd label. Return 0, -EINVAL or -ENAMETOOLONG. */
int shmkit__name_check(const char *name, size_t len);

/* Write the canonical spec of @s into @buf. Return its length or -ENAMETOOLONG. */
int shmkit__spec_format(const struct shmkit_spec *s, char *buf, size_t len);

/* Path of a posix object: /dev/shm/shmkit.NAME. Return length or -ENAMETOOLONG. */
int shmkit__posix_path(const char *name, char *buf, size_t len);

#endif
