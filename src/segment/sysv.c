/* SPDX-License-Identifier: MIT */
/* sysv: backend: shmget/shmat/shmdt/shmctl with shmkit's header and checks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
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

#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif

static int
ipc_stat(int id, struct shmid_ds *ds)
{
	if (shmctl(id, IPC_STAT, ds) == 0) {
		return 0;
	}
	int err = errno;
	if (err == EACCES) {
		/*
		 * IPC_STAT wants read permission, which the owner of a mode-0000
		 * segment lacks; SHM_STAT_ANY (Linux 4.17) does not, and shows
		 * what ipcs shows. It takes the table index, the low bits of the
		 * id (15 bits, or 24 with ipcmni_extend); the id it returns
		 * confirms the match.
		 */
		if (shmctl(id & 0x7fff, SHM_STAT_ANY, ds) == id ||
		    shmctl(id & 0xffffff, SHM_STAT_ANY, ds) == id) {
			return 0;
		}
	}
	/* An id that names nothing is EINVAL: say "no such object". */
	return err == EINVAL ? -ENOENT : -err;
}

/*
 * A System V key is visible from shmget() on, before the creator has written
 * the header. To tell a shmkit creator's half-made segment from someone
 * else's zero-filled one, the creator holds an init marker for the key
 * while it works: a small file in /dev/shm with an OFD write lock, which the
 * kernel releases when the creator dies (RELIABILITY rule 2). A marker that
 * exists but is not locked is a dead creator's; no marker means the zeroed
 * segment is not shmkit's.
 */
enum marker { MARKER_NONE, MARKER_LIVE, MARKER_DEAD };

static int
marker_path(uint32_t key, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/.shmkit-sysv-init.%08x", SHMKIT_POSIX_DIR, key);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static int
lock_whole(int fd, int cmd, short type, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	return fcntl(fd, cmd, fl);
}

static enum marker
marker_state(uint32_t key)
{
	char path[128];
	struct flock fl;
	if (key == IPC_PRIVATE || marker_path(key, path, sizeof(path)) != 0) {
		return MARKER_NONE;
	}
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		return MARKER_NONE;
	}
	enum marker m = MARKER_DEAD;
	if (lock_whole(fd, F_OFD_GETLK, F_WRLCK, &fl) == 0 && fl.l_type != F_UNLCK) {
		m = MARKER_LIVE;
	}
	close(fd);
	return m;
}

/*
 * Take the init marker of @key. @leftover is set when the marker was already
 * there (and unlocked): its creator died mid-init. A live creator holding
 * the marker is waited for, up to @timeout_ms: it is about to finish, and
 * then the key is simply taken. Return the locked descriptor, -EEXIST when a
 * live creator still holds it at the deadline, or another errno.
 */
static int
marker_take(uint32_t key, uint32_t timeout_ms, int *leftover)
{
	char path[128];
	struct flock fl;
	struct stat a, b;
	int rc = marker_path(key, path, sizeof(path));
	if (rc != 0) {
		return rc;
	}
	int64_t deadline = shmkit__monotonic_ns() + (int64_t)timeout_ms * 1000000;
	int64_t nap = 20000;
	for (;;) {
		*leftover = 0;
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST) {
			*leftover = 1;
			fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0 && errno != ENOENT) {
			return -errno;
		}
		if (fd < 0 && !*leftover) {
			return -ENOENT; /* no such directory */
		}
		rc = -EAGAIN; /* released between our two opens: look again */
		if (fd >= 0 && lock_whole(fd, F_OFD_SETLK, F_WRLCK, &fl) != 0) {
			rc = (errno == EAGAIN || errno == EACCES) ? -EEXIST : -errno;
		} else if (fd >= 0) {
			/* The marker we locked must still be the one at the
			 * path; a creator that finished meanwhile unlinked it. */
			if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
			    a.st_ino == b.st_ino) {
				return fd;
			}
		}
		if (fd >= 0) {
			close(fd);
		}
		if (rc != -EEXIST && rc != -EAGAIN) {
			return rc;
		}
		if (shmkit__monotonic_ns() >= deadline) {
			return -EEXIST;
		}
		shmkit__sleep_ns(nap);
		if (nap < 1000000) {
			nap *= 2;
		}
	}
}

static void
marker_release(uint32_t key, int fd)
{
	char path[128];
	struct stat a, b;
	if (fd < 0) {
		return;
	}
	/* Unlink only our own marker, while still holding its lock. */
	if (marker_path(key, path, sizeof(path)) == 0 && fstat(fd, &a) == 0 &&
	    stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		unlink(path);
	}
	close(fd);
}

struct creator_ctx {
	pid_t cpid;
	int64_t ctime;
	uint32_t key;
};

/*
 * Is the creator of a sysv segment still at work? When the header names it,
 * its pid and start time decide. While the header is all zero, the init
 * marker of the key decides; a private segment has none, and then only the
 * kernel's shm_cpid is known: a process with that pid that started after the
 * segment was created is a reused pid, not the creator.
 * Return 1 alive, 0 dead, -1 the zeroed segment is not shmkit's.
 */
static int
sysv_creator_alive(void *ctx, const struct shmkit_header_view *v)
{
	const struct creator_ctx *c = ctx;
	if (v != NULL) {
		return shmkit__proc_alive(v->creator_pid, v->creator_start);
	}
	if (c->key != IPC_PRIVATE) {
		switch (marker_state(c->key)) {
		case MARKER_LIVE:
			return 1;
		case MARKER_DEAD:
			return 0;
		default:
			return -1;
		}
	}
	int64_t started;
	if (shmkit__proc_start_epoch(c->cpid, &started) != 0) {
		return 0;
	}
	return started <= c->ctime + 1;
}

/*
 * A segment at @key exists while we hold its init marker. If it is a
 * shmkit segment whose creator died before publishing READY, remove it so
 * creation can proceed (RELIABILITY rule 6). A zero-filled segment counts as
 * such only when the dead creator's marker was left behind (@leftover).
 * Return 1 if removed (or gone), 0 if it is a live object or someone else's.
 */
static int
reclaim_stale(key_t key, int leftover)
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
	int in_progress = 0;
	rc = shmkit__header_validate(p, ds.shm_segsz, &v, &in_progress);
	int stale = 0;
	if (rc == 0 && v.state == SHMKIT_STATE_INITIALIZING) {
		stale = !shmkit__proc_alive(v.creator_pid, v.creator_start);
	} else if (rc != 0 && in_progress) {
		/* Header not (fully) written: only the marker can tell. */
		stale = leftover;
	}
	shmdt(p);
	if (stale && shmctl(id, IPC_RMID, NULL) == 0) {
		return 1;
	}
	return 0;
}

static int
sysv_create_locked(struct shmkit_segment *seg, const shmkit_segment_opts *o, key_t key,
		   uint64_t total, int leftover)
{
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
		if (errno == EEXIST && key != IPC_PRIVATE && reclaim_stale(key, leftover)) {
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
	int rc;
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
	int leftover = 0, marker = -1;
	if (key != IPC_PRIVATE) {
		marker = marker_take((uint32_t)key, o->ready_timeout_ms, &leftover);
		if (marker == -ENOENT) {
			/* No /dev/shm on this system: create without a marker; a
			 * zero-filled leftover then reads as foreign. */
			marker = -1;
		} else if (marker < 0) {
			return marker;
		}
	}
	rc = sysv_create_locked(seg, o, key, total, leftover);
	/* Released after READY is published: an opener that then finds no
	 * marker re-reads the header and sees READY. */
	marker_release((uint32_t)key, marker);
	return rc;
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
	struct creator_ctx c = {
		.cpid = ds.shm_cpid, .ctime = ds.shm_ctime, .key = (uint32_t)ds.shm_perm.__key};
	struct shmkit_header_view v;
	rc = shmkit__wait_ready(p, ds.shm_segsz, o->ready_timeout_ms, sysv_creator_alive, &c, &v);
	if (rc == 0 && o->kind != SHMKIT_KIND_ANY && v.kind != o->kind) {
		rc = -EPROTOTYPE;
	}
	if (rc == -EMEDIUMTYPE || rc == -EOWNERDEAD) {
		/* A dead creator's leftover may have been reclaimed by another
		 * creator while we looked at it (its marker then gone too):
		 * what we attached is removed, not foreign. */
		struct shmid_ds now;
		if (shmctl(id, IPC_STAT, &now) != 0 || (now.shm_perm.mode & SHM_DEST)) {
			rc = -EIDRM;
		}
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
	struct shmid_ds ds;
	uint32_t key = ipc_stat(id, &ds) == 0 ? (uint32_t)ds.shm_perm.__key : IPC_PRIVATE;
	if (shmctl(id, IPC_RMID, NULL) != 0) {
		return errno == EINVAL ? -ENOENT : -errno;
	}
	/* A dead creator's init marker goes with its segment. */
	if (key != IPC_PRIVATE && marker_state(key) == MARKER_DEAD) {
		char path[128];
		if (marker_path(key, path, sizeof(path)) == 0) {
			unlink(path);
		}
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
	/* A foreign segment's creator: shm_cpid, with the reused-pid check. */
	struct creator_ctx c = {.cpid = ds.shm_cpid, .ctime = ds.shm_ctime, .key = IPC_PRIVATE};
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
	if (!info->is_shmkit && key != IPC_PRIVATE) {
		/* Still all zero, with a creator's init marker: shmkit's, half made. */
		enum marker m = marker_state(key);
		if (m != MARKER_NONE) {
			info->is_shmkit = 1;
			info->header_error = 0;
			info->state = SHMKIT_STATE_INITIALIZING;
			info->creator_alive = m == MARKER_LIVE;
		}
	}
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
