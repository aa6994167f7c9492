/* SPDX-License-Identifier: MIT */
/* sysv: backend: shmget/shmat/shmdt/shmctl with shmkit's header and checks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "internal/crashpoint.h"
#include "internal/platform.h"
#include "segment/segment_impl.h"

#define STALE_RETRIES 4

static uint64_t
shmmax(void)
{
	char buf[64];
	int fd = open("/proc/sys/kernel/shmmax", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return UINT64_MAX;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return UINT64_MAX;
	}
	buf[n] = '\0';
	return strtoull(buf, NULL, 10);
}

/* The shmid a spec names, or a negative errno. */
static int
resolve_id(const struct shmkit_spec *s)
{
	if (s->form == SHMKIT_SPEC_ID) {
		return s->id;
	}
	if (s->form == SHMKIT_SPEC_PRIVATE) {
		return -EINVAL;
	}
	int id = shmget((key_t)s->key, 0, 0);
	return id < 0 ? -errno : id;
}

static int
ipc_stat(int id, struct shmid_ds *ds)
{
	if (shmctl(id, IPC_STAT, ds) != 0) {
		/* An id that names nothing is EINVAL: say "no such object". */
		return errno == EINVAL ? -ENOENT : -errno;
	}
	return 0;
}

struct creator_ctx {
	pid_t cpid;
	int64_t ctime;
};

/*
 * Is the creator of a sysv segment still at work? When the header names it,
 * its pid and start time decide. When the header is still all zero, only
 * the kernel's shm_cpid is known; a process with that pid that started
 * after the segment was created is a reused pid, not the creator.
 */
static int
sysv_creator_alive(void *ctx, const struct shmkit_header_view *v)
{
	const struct creator_ctx *c = ctx;
	if (v != NULL) {
		return shmkit__proc_alive(v->creator_pid, v->creator_start);
	}
	int64_t started;
	if (shmkit__proc_start_epoch(c->cpid, &started) != 0) {
		return 0;
	}
	return started <= c->ctime + 1;
}

/*
 * A segment at @key exists. If it is a shmkit segment whose creator died
 * before publishing READY, remove it so creation can proceed (RELIABILITY
 * rule 6). Return 1 if removed, 0 if it is a live object or someone else's.
 */
static int
reclaim_stale(key_t key)
{
	struct shmid_ds ds;
	int id = shmget(key, 0, 0);
	if (id < 0) {
		return errno == ENOENT; /* gone meanwhile: try again */
	}
	int rc = ipc_stat(id, &ds);
	if (rc != 0) {
		return rc == -ENOENT || rc == -EIDRM;
	}
	if (ds.shm_perm.uid != geteuid() || ds.shm_segsz < SHMKIT_HEADER_SIZE) {
		return 0;
	}
	void *p = shmat(id, NULL, SHM_RDONLY);
	if (p == (void *)-1) {
		return 0;
	}
	struct shmkit_header_view v;
	int zeroed = 0;
	rc = shmkit__header_validate(p, ds.shm_segsz, &v, &zeroed);
	struct creator_ctx c = { .cpid = ds.shm_cpid, .ctime = ds.shm_ctime };
	int stale = 0;
	if ((rc == 0 && v.state == SHMKIT_STATE_INITIALIZING) || (rc != 0 && zeroed)) {
		stale = !sysv_creator_alive(&c, rc == 0 ? &v : NULL);
	}
	shmdt(p);
	if (stale && shmctl(id, IPC_RMID, NULL) == 0) {
		return 1;
	}
	return 0;
}

int
shmkit__sysv_create(struct shmkit_segment *seg, const shmkit_segment_opts *o)
{
	uint64_t total;
	int rc = shmkit__total_size(o->size, o->flags, &total);
	if (rc != 0) {
		return rc;
	}
	if (total > shmmax()) {
		return -EFBIG;
	}
	key_t key = seg->spec.form == SHMKIT_SPEC_PRIVATE ? IPC_PRIVATE : (key_t)seg->spec.key;
	/* Created 0600: the final mode is set only once the object is ready,
	 * so nobody else can attach to a half-made segment meanwhile. */
	int shmflg = IPC_CREAT | IPC_EXCL | 0600;
	if (o->flags & SHMKIT_SEGMENT_F_HUGEPAGES) {
		shmflg |= SHM_HUGETLB;
	}
	int id = -1;
	for (int i = 0; i < STALE_RETRIES && id < 0; i++) {
		id = shmget(key, total, shmflg);
		if (id >= 0) {
			break;
		}
		if (errno == EEXIST && key != IPC_PRIVATE && reclaim_stale(key)) {
			continue;
		}
		if (errno == EINVAL) {
			/* Too small or too large for the kernel, or an existing
			 * segment of another size (EEXIST came first then). */
			return -EFBIG;
		}
		return -errno;
	}
	if (id < 0) {
		return -EEXIST;
	}
	SHMKIT_CRASHPOINT("create_after_alloc");
	void *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		rc = -errno;
		shmctl(id, IPC_RMID, NULL);
		return rc;
	}
	seg->base = p;
	seg->map_size = total;
	seg->shmid = id;
	if (o->flags & SHMKIT_SEGMENT_F_RAW) {
		shmkit__segment_set_data(seg, NULL);
	} else {
		shmkit__segment_init_header(seg, o->kind);
		SHMKIT_CRASHPOINT("create_after_header");
	}
	if ((o->mode & 0777) != 0600) {
		struct shmid_ds ds;
		if (shmctl(id, IPC_STAT, &ds) != 0 ||
		    (ds.shm_perm.mode = (ds.shm_perm.mode & ~0777u) | (o->mode & 0777),
		     shmctl(id, IPC_SET, &ds) != 0)) {
			rc = -errno;
			shmdt(p);
			shmctl(id, IPC_RMID, NULL);
			seg->base = NULL;
			return rc;
		}
	}
	SHMKIT_CRASHPOINT("create_before_publish");
	if (!(o->flags & SHMKIT_SEGMENT_F_RAW)) {
		shmkit__header_publish(seg->base);
	}
	return 0;
}

int
shmkit__sysv_open(struct shmkit_segment *seg, const shmkit_segment_opts *o)
{
	struct shmid_ds ds;
	int id = resolve_id(&seg->spec);
	if (id < 0) {
		return id;
	}
	int rc = ipc_stat(id, &ds);
	if (rc != 0) {
		return rc;
	}
	if (ds.shm_perm.uid != geteuid() && !(o->flags & SHMKIT_SEGMENT_F_ANY_OWNER)) {
		return -EACCES;
	}
	if (!(o->flags & SHMKIT_SEGMENT_F_RAW) && ds.shm_segsz < SHMKIT_HEADER_SIZE) {
		return -EMEDIUMTYPE;
	}
	void *p = shmat(id, NULL, (o->flags & SHMKIT_SEGMENT_F_RDONLY) ? SHM_RDONLY : 0);
	if (p == (void *)-1) {
		return errno == EINVAL ? -EIDRM : -errno;
	}
	seg->base = p;
	seg->map_size = ds.shm_segsz;
	seg->shmid = id;
	if (o->flags & SHMKIT_SEGMENT_F_RAW) {
		shmkit__segment_set_data(seg, NULL);
		return 0;
	}
	struct creator_ctx c = { .cpid = ds.shm_cpid, .ctime = ds.shm_ctime };
	struct shmkit_header_view v;
	rc = shmkit__wait_ready(p, ds.shm_segsz, o->ready_timeout_ms, sysv_creator_alive, &c, &v);
	if (rc == 0 && o->kind != SHMKIT_KIND_ANY && v.kind != o->kind) {
		rc = -EPROTOTYPE;
	}
	if (rc != 0) {
		shmdt(p);
		seg->base = NULL;
		return rc;
	}
	shmkit__segment_set_data(seg, &v);
	return 0;
}

int
shmkit__sysv_close(struct shmkit_segment *seg)
{
	if (seg->base != NULL && shmdt(seg->base) != 0) {
		return -errno;
	}
	return 0;
}

int
shmkit__sysv_remove(const struct shmkit_spec *spec)
{
	int id = resolve_id(spec);
	if (id < 0) {
		return id;
	}
	if (shmctl(id, IPC_RMID, NULL) != 0) {
		return errno == EINVAL ? -ENOENT : -errno;
	}
	return 0;
}

int
shmkit__sysv_stat(const struct shmkit_spec *spec, shmkit_segment_info *info)
{
	struct shmid_ds ds;
	int id = resolve_id(spec);
	if (id < 0) {
		return id;
	}
	int rc = ipc_stat(id, &ds);
	if (rc != 0) {
		return rc;
	}
	uint32_t key = (uint32_t)ds.shm_perm.__key;
	info->backend = SHMKIT_BACKEND_SYSV;
	if (key != IPC_PRIVATE) {
		snprintf(info->spec, sizeof(info->spec), "sysv:0x%08x", key);
	} else {
		snprintf(info->spec, sizeof(info->spec), "sysv:id=%d", id);
	}
	info->size = ds.shm_segsz;
	info->mode = ds.shm_perm.mode & 0777;
	info->uid = ds.shm_perm.uid;
	info->gid = ds.shm_perm.gid;
	info->removed = (ds.shm_perm.mode & SHM_DEST) != 0;
	info->nattch = (int64_t)ds.shm_nattch;
	info->sysv_id = id;
	info->sysv_key = key;
	info->last_pid = ds.shm_lpid;
	info->atime = ds.shm_atime;
	info->dtime = ds.shm_dtime;
	info->ctime = ds.shm_ctime;
	info->creator_pid = ds.shm_cpid;
	info->creator_uid = ds.shm_perm.cuid;
	struct creator_ctx c = { .cpid = ds.shm_cpid, .ctime = ds.shm_ctime };
	info->creator_alive = sysv_creator_alive(&c, NULL);
	if (ds.shm_segsz < SHMKIT_HEADER_SIZE) {
		info->header_error = -EMEDIUMTYPE;
		return 0;
	}
	/* The header is read through a brief read-only attach (the kernel
	 * offers no other way to see the contents); the times and counts above
	 * were taken before it, so the attach does not show in them. */
	void *p = shmat(id, NULL, SHM_RDONLY);
	if (p == (void *)-1) {
		info->header_error = -errno;
		return 0;
	}
	shmkit__info_from_header(info, p, ds.shm_segsz);
	shmdt(p);
	return 0;
}

int
shmkit__sysv_set_perm(const struct shmkit_spec *spec, long mode, long uid, long gid)
{
	struct shmid_ds ds;
	int id = resolve_id(spec);
	if (id < 0) {
		return id;
	}
	int rc = ipc_stat(id, &ds);
	if (rc != 0) {
		return rc;
	}
	if (mode != SHMKIT_PERM_KEEP) {
		ds.shm_perm.mode = (ds.shm_perm.mode & ~0777u) | ((unsigned)mode & 0777);
	}
	if (uid != SHMKIT_PERM_KEEP) {
		ds.shm_perm.uid = (uid_t)uid;
	}
	if (gid != SHMKIT_PERM_KEEP) {
		ds.shm_perm.gid = (gid_t)gid;
	}
	if (shmctl(id, IPC_SET, &ds) != 0) {
		return errno == EINVAL ? -ENOENT : -errno;
	}
	return 0;
}

int
shmkit__sysv_check(const struct shmkit_segment *seg)
{
	struct shmid_ds ds;
	if (shmctl(seg->shmid, IPC_STAT, &ds) != 0) {
		return (errno == EINVAL || errno == EIDRM) ? -EIDRM : -errno;
	}
	if (ds.shm_perm.mode & SHM_DEST) {
		return -EIDRM;
	}
	if (seg->flags & SHMKIT_SEGMENT_F_RAW) {
		return 0;
	}
	struct shmkit_header_view v;
	int rc = shmkit__header_validate(seg->base, seg->map_size, &v, NULL);
	if (rc != 0) {
		return rc == -EMEDIUMTYPE ? -EBADMSG : rc;
	}
	return v.state == SHMKIT_STATE_BROKEN ? -ENOTRECOVERABLE : 0;
}
