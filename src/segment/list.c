/* SPDX-License-Identifier: MIT */
/* shmkit_segment_list(): every segment the system can show us, on every backend. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment/segment_impl.h"

struct lister {
	shmkit_segment_list_fn fn;
	void *ctx;
	unsigned flags;
	int count;
	int stop; /* non-zero: the callback asked to stop with this value */
	shmkit_segment_info info;
};

static int
report(struct lister *l)
{
	l->count++;
	int rc = l->fn(&l->info, l->ctx);
	if (rc != 0) {
		l->stop = rc;
		return 1;
	}
	return 0;
}

static int
list_posix(struct lister *l)
{
	DIR *d = opendir(SHMKIT_POSIX_DIR);
	if (d == NULL) {
		return 0; /* no /dev/shm: nothing to list there */
	}
	const size_t plen = strlen(SHMKIT_POSIX_PREFIX);
	struct dirent *e;
	char spec[PATH_MAX + 16];
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			continue;
		}
		const char *name = e->d_name;
		int ours = strncmp(name, SHMKIT_POSIX_PREFIX, plen) == 0 &&
			   shmkit__name_check(name + plen, strlen(name + plen)) == 0;
		if (!ours && !(l->flags & SHMKIT_LIST_F_ALL)) {
			continue;
		}
		if (ours) {
			snprintf(spec, sizeof(spec), "posix:%s", name + plen);
		} else {
			/* A foreign POSIX object is reachable as a mapped file. */
			snprintf(spec, sizeof(spec), "file:%s/%s", SHMKIT_POSIX_DIR, name);
		}
		if (shmkit_segment_stat(spec, &l->info) != 0) {
			continue; /* vanished meanwhile, or not a regular file */
		}
		l->info.backend = SHMKIT_BACKEND_POSIX;
		if (report(l)) {
			break;
		}
	}
	closedir(d);
	return 0;
}

static int
list_sysv(struct lister *l)
{
	struct shm_info si;
	int max = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&si);
	if (max < 0) {
		return 0;
	}
	for (int idx = 0; idx <= max && !l->stop; idx++) {
		struct shmid_ds ds;
		/* SHM_STAT_ANY (Linux 4.17) lists segments we cannot read too,
		 * as ipcs does; SHM_STAT is the fallback on older kernels. */
		int id = shmctl(idx, SHM_STAT_ANY, &ds);
		if (id < 0 && errno == EINVAL) {
			id = shmctl(idx, SHM_STAT, &ds);
		}
		if (id < 0) {
			continue;
		}
		struct shmkit_spec s = {
			.backend = SHMKIT_BACKEND_SYSV, .form = SHMKIT_SPEC_ID, .id = id};
		memset(&l->info, 0, sizeof(l->info));
		l->info.creator_pid = -1;
		l->info.creator_alive = -1;
		l->info.holder_pid = -1;
		l->info.mtime = -1;
		if (shmkit__sysv_stat(&s, &l->info) != 0) {
			continue;
		}
		if (!l->info.is_shmkit && !(l->flags & SHMKIT_LIST_F_ALL)) {
			continue;
		}
		report(l);
	}
	return 0;
}

struct seen {
	dev_t dev;
	ino_t ino;
};

static int
list_memfd(struct lister *l)
{
	DIR *proc = opendir("/proc");
	if (proc == NULL) {
		return 0;
	}
	struct seen *seen = NULL;
	size_t nseen = 0, cap = 0;
	struct dirent *p;
	while (!l->stop && (p = readdir(proc)) != NULL) {
		char *end;
		long pid = strtol(p->d_name, &end, 10);
		if (*end != '\0' || pid <= 0) {
			continue;
		}
		char dir[64];
		snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
		DIR *fds = opendir(dir);
		if (fds == NULL) {
			continue; /* not ours to inspect, or gone */
		}
		struct dirent *f;
		while (!l->stop && (f = readdir(fds)) != NULL) {
			char link[PATH_MAX], target[128];
			long fd = strtol(f->d_name, &end, 10);
			if (*end != '\0' || f->d_name[0] == '\0') {
				continue;
			}
			snprintf(link, sizeof(link), "%s/%ld", dir, fd);
			ssize_t n = readlink(link, target, sizeof(target) - 1);
			if (n <= 0) {
				continue;
			}
			target[n] = '\0';
			if (strncmp(target, "/memfd:shmkit", 13) != 0) {
				continue;
			}
			struct stat st;
			if (stat(link, &st) != 0) {
				continue;
			}
			/* One object may be held by many descriptors: report it
			 * once, at the first holder found. */
			size_t i;
			for (i = 0; i < nseen; i++) {
				if (seen[i].dev == st.st_dev && seen[i].ino == st.st_ino) {
					break;
				}
			}
			if (i < nseen) {
				continue;
			}
			if (nseen == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct seen *ns = realloc(seen, ncap * sizeof(*ns));
				if (ns == NULL) {
					break;
				}
				seen = ns;
				cap = ncap;
			}
			seen[nseen].dev = st.st_dev;
			seen[nseen].ino = st.st_ino;
			nseen++;
			char spec[64];
			snprintf(spec, sizeof(spec), "memfd:pid=%ld,fd=%ld", pid, fd);
			if (shmkit_segment_stat(spec, &l->info) == 0) {
				report(l);
			}
		}
		closedir(fds);
	}
	free(seen);
	closedir(proc);
	return 0;
}

SHMKIT_API int
shmkit_segment_list(shmkit_segment_list_fn fn, void *ctx, unsigned flags)
{
	if (fn == NULL || (flags & ~SHMKIT_LIST_F_ALL)) {
		return -EINVAL;
	}
	struct lister *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return -ENOMEM;
	}
	l->fn = fn;
	l->ctx = ctx;
	l->flags = flags;
	list_posix(l);
	if (!l->stop) {
		list_sysv(l);
	}
	if (!l->stop) {
		list_memfd(l);
	}
	int rc = l->stop < 0 ? l->stop : l->count;
	free(l);
	return rc;
}
