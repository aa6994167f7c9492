/* SPDX-License-Identifier: MIT */
/* The System V semaphore API (semget, semop, semtimedop, semctl) on shmkit semaphore sets. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <shmkit/semset.h>
#include <shmkit/sysv.h>

#include "internal/futex.h"
#include "internal/idcache.h"
#include "internal/platform.h"
#include "internal/spec.h"
#include "internal/sysvids.h"
#include "sync/semset_impl.h"

/* The layout of struct sembuf is that of shmkit_sembuf: a cast is enough. */
_Static_assert(sizeof(struct sembuf) == sizeof(shmkit_sembuf), "sembuf size");
_Static_assert(offsetof(struct sembuf, sem_num) == offsetof(shmkit_sembuf, sem_num), "sem_num");
_Static_assert(offsetof(struct sembuf, sem_op) == offsetof(shmkit_sembuf, sem_op), "sem_op");
_Static_assert(offsetof(struct sembuf, sem_flg) == offsetof(shmkit_sembuf, sem_flg), "sem_flg");
_Static_assert(SHMKIT_IPC_NOWAIT == IPC_NOWAIT && SHMKIT_SEM_UNDO == SEM_UNDO, "flag values");

/* Ids are built as the kernel builds them: index + IPCMNI * sequence. */
#define IPCMNI     SHMKIT_IPCMNI
#define NAME_ID    "semid."
#define NAME_KEY   "semkey."
#define SEMMNS_ALL 1024000000 /* the kernel's default SEMMNS */
#define SEMUSZ     20         /* what the kernel reports as sizeof(struct sem_undo) */
/* Bound on retries of races between creators, openers and removers. */
#define RACE_RETRIES 64

/* The caller's union semun; the C library leaves defining it to the user. */
union shmkit_semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

static int
fail(int err)
{
	errno = err < 0 ? -err : err;
	return -1;
}

/*
 * Library errors the kernel's calls never give, mapped to what a caller
 * of the originals understands: a set that is corrupted, poisoned or not a
 * set is one that does not exist for System V purposes.
 */
static int
to_errno(int rc)
{
	switch (rc) {
	case -ETIMEDOUT:
		return EAGAIN; /* semtimedop's time-out */
	case -EBADMSG:
	case -ENOTRECOVERABLE:
	case -EOWNERDEAD:
	case -EPROTO:
	case -EPROTOTYPE:
	case -EMEDIUMTYPE:
	case -EOVERFLOW:
	case -ELOOP:
		return EINVAL;
	case -EDQUOT:
		return ENOSPC;
	default:
		return -rc;
	}
}

/* ---------------------------------------------------------------------- */
/* The process's handles, by id: semop(semid) must not open anything on    */
/* its fast path.                                                          */

/* The handles by id live in a shmkit__idcache (src/common/idcache.c). */
static int
close_set(void *h)
{
	return shmkit_semset_close(h);
}

static struct shmkit__idcache set_handles = SHMKIT__IDCACHE_INIT(close_set);

static shmkit_semset *
cache_get(int id)
{
	return shmkit__idcache_get(&set_handles, id);
}

static shmkit_semset *
cache_add(int id, shmkit_semset *h)
{
	return shmkit__idcache_add(&set_handles, id, h);
}

static void
cache_forget(int id)
{
	shmkit__idcache_forget(&set_handles, id);
}

static void
release(shmkit_semset *h)
{
	shmkit__idcache_release(&set_handles, h);
}

/* ---------------------------------------------------------------------- */
/* Names.                                                                  */

static void
spec_id(char *buf, size_t len, int idx)
{
	snprintf(buf, len, "posix:" NAME_ID "%d", idx);
}

static void
spec_key(char *buf, size_t len, key_t key)
{
	snprintf(buf, len, "posix:" NAME_KEY "0x%08x", (unsigned)key);
}

static void
path_of(char *buf, size_t len, const char *spec)
{
	/* spec is "posix:NAME" */
	snprintf(buf, len, SHMKIT_POSIX_DIR "/" SHMKIT_POSIX_PREFIX "%s", spec + 6);
}

/* Remove @spec's name if it still names the object of @fd (a name that
 * was replaced since is somebody else's). */
static void
unlink_if_ours(const char *spec, int fd)
{
	char path[PATH_MAX];
	struct stat a, b;
	path_of(path, sizeof(path), spec);
	if (fd < 0 || fstat(fd, &a) != 0 || lstat(path, &b) != 0) {
		return;
	}
	if (a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		unlink(path);
	}
}

/* Remove the names of a removed set. */
static void
unlink_names(shmkit_semset *s)
{
	char spec[64];
	int fd = shmkit__semset_fd(s);
	int32_t id = shmkit__semset_sysv_id(s);
	uint32_t key = shmkit__semset_sysv_key(s);
	if (key != 0) {
		spec_key(spec, sizeof(spec), (key_t)key);
		unlink_if_ours(spec, fd);
	}
	if (id >= 0) {
		spec_id(spec, sizeof(spec), id % IPCMNI);
		unlink_if_ours(spec, fd);
	}
}

/* The indices of sets in use (see shmkit__sysv_scan_indices). */
static int
scan_indices(unsigned char *used)
{
	return shmkit__sysv_scan_indices(NAME_ID, SHMKIT_SEMMNI, used);
}

/* ---------------------------------------------------------------------- */
/* Finding sets.                                                           */

/* Remove @spec's name if it names a set marked removed: its remover died
 * before it could remove the names itself. */
static void
unlink_stale(const char *spec)
{
	shmkit_segment *seg;
	shmkit_segment_opts o;
	shmkit_segment_opts_init(&o);
	o.kind = SHMKIT_KIND_SEMSET;
	o.flags = SHMKIT_SEGMENT_F_ANY_OWNER;
	if (shmkit_segment_open(&seg, spec, &o) == 0) {
		unlink_if_ours(spec, shmkit_segment_fd(seg));
		shmkit_segment_close(seg);
	}
}

/* Open the set at index @idx by name: 0, -ENOENT, -EIDRM (removed), ... */
static int
open_index(int idx, shmkit_semset **out)
{
	char spec[64];
	spec_id(spec, sizeof(spec), idx);
	int rc = shmkit_semset_open(out, spec);
	if (rc == -EIDRM) {
		unlink_stale(spec);
	}
	return rc;
}

/*
 * The handle for @semid with a reference taken, or NULL with *@err set
 * (EINVAL: no such set now).
 */
static shmkit_semset *
get_set(int semid, int *err)
{
	if (semid < 0) {
		*err = EINVAL;
		return NULL;
	}
	shmkit_semset *s = cache_get(semid);
	if (s != NULL) {
		if (!shmkit__semset_removed(s)) {
			return s;
		}
		release(s);
		cache_forget(semid);
		*err = EINVAL;
		return NULL;
	}
	int idx = semid % IPCMNI;
	if (idx >= SHMKIT_SEMMNI) {
		*err = EINVAL;
		return NULL;
	}
	int rc = open_index(idx, &s);
	if (rc != 0) {
		*err = rc == -ENOENT || rc == -EIDRM ? EINVAL : to_errno(rc);
		return NULL;
	}
	if (shmkit__semset_sysv_id(s) != semid) {
		/* Another set took the index since: the id is stale. */
		shmkit_semset_close(s);
		*err = EINVAL;
		return NULL;
	}
	return cache_add(semid, s);
}

/* ---------------------------------------------------------------------- */
/* semget                                                                  */

/*
 * Create a set at the lowest free index, and for a key, give it the key's
 * name. Return the id, -EEXIST (the key's name was taken meanwhile), or
 * another negative errno.
 */
static int
create_set(key_t key, int nsems, int semflg)
{
	unsigned char used[(SHMKIT_SEMMNI + 7) / 8];
	memset(used, 0, sizeof(used));
	scan_indices(used);
	for (int idx = 0; idx < SHMKIT_SEMMNI; idx++) {
		if (used[idx / 8] & (1u << (idx % 8))) {
			continue;
		}
		char spec[64];
		int id = (int)(shmkit__sysv_new_seq() * SHMKIT_IPCMNI) + idx;
		shmkit_semset *s;
		spec_id(spec, sizeof(spec), idx);
		int rc = shmkit__semset_create_ex(&s, spec, (unsigned)nsems,
						  (unsigned)semflg & 0777, id, (uint32_t)key);
		if (rc == -EEXIST) {
			continue; /* a concurrent creator took this index */
		}
		if (rc == -EFBIG) {
			return -ENOSPC; /* /dev/shm cannot hold it */
		}
		if (rc != 0) {
			return rc;
		}
		if (key != IPC_PRIVATE) {
			/* The set is complete: only now may the key reach it.
			 * link() never replaces a name: one creator wins. */
			char kspec[64], kpath[PATH_MAX], proc[64];
			spec_key(kspec, sizeof(kspec), key);
			path_of(kpath, sizeof(kpath), kspec);
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", shmkit__semset_fd(s));
			if (linkat(AT_FDCWD, proc, AT_FDCWD, kpath, AT_SYMLINK_FOLLOW) != 0) {
				int e = errno;
				/* Lost (or failed): nobody knows this set's id
				 * yet; take it away again. */
				shmkit__semset_mark_removed(s);
				unlink_if_ours(spec, shmkit__semset_fd(s));
				shmkit_semset_close(s);
				return -e;
			}
		}
		s = cache_add(id, s);
		release(s);
		return id;
	}
	return -ENOSPC;
}

SHMKIT_API int
shmkit_semget(key_t key, int nsems, int semflg)
{
	if (nsems < 0 || nsems > SHMKIT_SEMMSL) {
		return fail(EINVAL);
	}
	if (key == IPC_PRIVATE) {
		if (nsems == 0) {
			return fail(EINVAL);
		}
		int rc = create_set(key, nsems, semflg);
		return rc < 0 ? fail(to_errno(rc)) : rc;
	}
	char kspec[64];
	spec_key(kspec, sizeof(kspec), key);
	for (int attempt = 0; attempt < RACE_RETRIES; attempt++) {
		shmkit_semset *s;
		int rc = shmkit_semset_open(&s, kspec);
		if (rc == -EIDRM) {
			/* Removed, but its remover died before unlinking the
			 * key's name: remove the stale name and look again. */
			unlink_stale(kspec);
			continue;
		}
		if (rc == 0) {
			if ((semflg & IPC_CREAT) && (semflg & IPC_EXCL)) {
				shmkit_semset_close(s);
				return fail(EEXIST);
			}
			if ((unsigned)nsems > shmkit__semset_nsems(s)) {
				shmkit_semset_close(s);
				return fail(EINVAL);
			}
			rc = shmkit__semset_access(s, semflg);
			if (rc == -EIDRM) {
				shmkit_semset_close(s);
				continue;
			}
			if (rc != 0) {
				shmkit_semset_close(s);
				return fail(to_errno(rc));
			}
			int id = shmkit__semset_sysv_id(s);
			if (id < 0) {
				shmkit_semset_close(s);
				return fail(EINVAL);
			}
			s = cache_add(id, s);
			release(s);
			return id;
		}
		if (rc != -ENOENT) {
			return fail(to_errno(rc));
		}
		if (!(semflg & IPC_CREAT)) {
			return fail(ENOENT);
		}
		if (nsems == 0) {
			return fail(EINVAL);
		}
		rc = create_set(key, nsems, semflg);
		if (rc >= 0) {
			return rc;
		}
		if (rc != -EEXIST) {
			return fail(to_errno(rc));
		}
		if (semflg & IPC_EXCL) {
			return fail(EEXIST);
		}
		/* Someone else created it first: open theirs. */
	}
	return fail(ENOSPC);
}

/* ---------------------------------------------------------------------- */
/* semop, semtimedop                                                       */

SHMKIT_API int
shmkit_semtimedop(int semid, struct sembuf *sops, size_t nsops, const struct timespec *timeout)
{
	struct timespec deadline;
	const struct timespec *dl = NULL;
	/*
	 * The checks in the kernel's order: the count (the system call takes
	 * an unsigned int, so a larger size_t is truncated as the libc wrapper
	 * truncates it), then copying the operations in, then the id.
	 */
	unsigned n = (unsigned)nsops;
	if (n > SHMKIT_SEMOPM) {
		return fail(E2BIG);
	}
	if (n < 1) {
		return fail(EINVAL);
	}
	if (sops == NULL) {
		return fail(EFAULT);
	}
	if (semid < 0) {
		return fail(EINVAL);
	}
	if (timeout != NULL) {
		if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
		    timeout->tv_nsec >= 1000000000L) {
			return fail(EINVAL);
		}
		/* Relative, as the original; the deadline is taken on the
		 * monotonic clock, immune to wall-clock jumps. */
		shmkit__now(&deadline);
		int64_t ns = (int64_t)timeout->tv_nsec;
		if (timeout->tv_sec > (INT64_MAX - ns) / 1000000000 - 1) {
			ns = INT64_MAX / 2;
		} else {
			ns += (int64_t)timeout->tv_sec * 1000000000;
		}
		shmkit__ts_add_ns(&deadline, ns);
		dl = &deadline;
	}
	int err;
	shmkit_semset *s = get_set(semid, &err);
	if (s == NULL) {
		return fail(err);
	}
	int rc = shmkit_semset_op(s, (const shmkit_sembuf *)sops, n, dl,
				  SHMKIT_SEMSET_F_INTERRUPTIBLE);
	release(s);
	if (rc == -EIDRM) {
		cache_forget(semid);
	}
	return rc < 0 ? fail(to_errno(rc)) : 0;
}

SHMKIT_API int
shmkit_semop(int semid, struct sembuf *sops, size_t nsops)
{
	return shmkit_semtimedop(semid, sops, nsops, NULL);
}

/* ---------------------------------------------------------------------- */
/* semctl                                                                  */

static void
fill_ds(struct semid_ds *ds, const shmkit_semset_info *in, int id, uint32_t key)
{
	memset(ds, 0, sizeof(*ds));
	ds->sem_perm.__key = (key_t)key;
	ds->sem_perm.uid = in->uid;
	ds->sem_perm.gid = in->gid;
	ds->sem_perm.cuid = in->cuid;
	ds->sem_perm.cgid = in->cgid;
	ds->sem_perm.mode = (unsigned short)in->mode;
	ds->sem_perm.__seq = (unsigned short)(id / IPCMNI);
	ds->sem_otime = (time_t)in->otime;
	ds->sem_ctime = (time_t)in->ctime;
	ds->sem_nsems = in->nsems;
}

/* IPC_INFO and SEM_INFO. */
static int
info(int cmd, struct seminfo *out)
{
	struct seminfo si;
	memset(&si, 0, sizeof(si));
	si.semmni = SHMKIT_SEMMNI;
	si.semmns = SEMMNS_ALL;
	si.semmsl = SHMKIT_SEMMSL;
	si.semopm = SHMKIT_SEMOPM;
	si.semvmx = SHMKIT_SEMVMX;
	si.semmnu = SEMMNS_ALL;
	si.semmap = SEMMNS_ALL;
	si.semume = SHMKIT_SEMOPM;
	unsigned char used[(SHMKIT_SEMMNI + 7) / 8];
	memset(used, 0, sizeof(used));
	int max = scan_indices(used);
	if (cmd == SEM_INFO) {
		/* Sets in use and their semaphores. */
		int sets = 0;
		long sems = 0;
		for (int idx = 0; idx <= max; idx++) {
			shmkit_semset *s;
			if (!(used[idx / 8] & (1u << (idx % 8))) || open_index(idx, &s) != 0) {
				continue;
			}
			sets++;
			sems += shmkit__semset_nsems(s);
			shmkit_semset_close(s);
		}
		si.semusz = sets;
		si.semaem = (int)(sems > INT_MAX ? INT_MAX : sems);
	} else {
		si.semusz = SEMUSZ;
		si.semaem = SHMKIT_SEMAEM;
	}
	if (out == NULL) {
		return fail(EFAULT);
	}
	*out = si;
	return max < 0 ? 0 : max;
}

/* SEM_STAT and SEM_STAT_ANY: by index. */
static int
stat_index(int idx, int cmd, struct semid_ds *buf)
{
	shmkit_semset *s;
	shmkit_semset_info in;
	if (idx < 0 || idx >= SHMKIT_SEMMNI) {
		return fail(EINVAL);
	}
	int rc = open_index(idx, &s);
	if (rc != 0) {
		return fail(rc == -ENOENT || rc == -EIDRM ? EINVAL : to_errno(rc));
	}
	rc = shmkit__semset_stat(s, &in, cmd == SEM_STAT);
	int id = shmkit__semset_sysv_id(s);
	uint32_t key = shmkit__semset_sysv_key(s);
	shmkit_semset_close(s);
	if (rc != 0) {
		return fail(rc == -EIDRM ? EINVAL : to_errno(rc));
	}
	if (buf == NULL) {
		return fail(EFAULT);
	}
	fill_ds(buf, &in, id, key);
	return id;
}

static int
do_ctl(shmkit_semset *s, int semid, int semnum, int cmd, union shmkit_semun arg)
{
	shmkit_semset_info in;
	int rc;
	switch (cmd) {
	case IPC_STAT:
		rc = shmkit_semset_stat(s, &in);
		if (rc == 0) {
			if (arg.buf == NULL) {
				return -EFAULT;
			}
			fill_ds(arg.buf, &in, semid, shmkit__semset_sysv_key(s));
		}
		return rc;
	case IPC_SET: {
		rc = shmkit_semset_set_perm(s, (long)(arg.buf->sem_perm.mode & 0777),
					    (long)arg.buf->sem_perm.uid,
					    (long)arg.buf->sem_perm.gid);
		return rc;
	}
	case IPC_RMID:
		rc = shmkit__semset_mark_removed(s);
		if (rc == 0) {
			unlink_names(s);
		}
		return rc;
	case GETVAL:
		return shmkit_semset_getval(s, (unsigned)semnum);
	case GETPID:
		return shmkit_semset_getpid(s, (unsigned)semnum);
	case GETNCNT:
		return shmkit_semset_getncnt(s, (unsigned)semnum);
	case GETZCNT:
		return shmkit_semset_getzcnt(s, (unsigned)semnum);
	case SETVAL:
		return shmkit_semset_setval(s, (unsigned)semnum, arg.val);
	case GETALL:
		return shmkit_semset_getall(s, arg.array);
	case SETALL:
		return shmkit_semset_setall(s, arg.array);
	default:
		return -EINVAL;
	}
}

SHMKIT_API int
shmkit_semctl(int semid, int semnum, int cmd, ...)
{
	union shmkit_semun arg = {0};
	va_list ap;
	switch (cmd) {
	case IPC_STAT:
	case IPC_SET:
	case SEM_STAT:
	case SEM_STAT_ANY:
	case IPC_INFO:
	case SEM_INFO:
	case GETALL:
	case SETALL:
	case SETVAL:
		va_start(ap, cmd);
		arg = va_arg(ap, union shmkit_semun);
		va_end(ap);
		break;
	default:
		break;
	}
	switch (cmd) {
	case IPC_INFO:
	case SEM_INFO:
		return info(cmd, arg.__buf);
	case SEM_STAT:
	case SEM_STAT_ANY:
		return stat_index(semid, cmd, arg.buf);
	case IPC_STAT:
	case IPC_SET:
	case IPC_RMID:
	case GETVAL:
	case GETPID:
	case GETNCNT:
	case GETZCNT:
	case SETVAL:
	case GETALL:
	case SETALL:
		break;
	default:
		return fail(EINVAL);
	}
	if (cmd == SETVAL && (arg.val < 0 || arg.val > SHMKIT_SEMVMX)) {
		return fail(ERANGE); /* checked before the set, as the kernel does */
	}
	if (cmd == IPC_SET && arg.buf == NULL) {
		return fail(EFAULT); /* copied in before the set is looked up */
	}
	int err;
	shmkit_semset *s = get_set(semid, &err);
	if (s == NULL) {
		return fail(err);
	}
	int rc = do_ctl(s, semid, semnum, cmd, arg);
	release(s);
	if (cmd == IPC_RMID && rc == 0) {
		cache_forget(semid);
	}
	if (rc == -EIDRM) {
		/* Removed before our call took the lock: an unknown id. */
		cache_forget(semid);
		rc = -EINVAL;
	}
	return rc < 0 ? fail(to_errno(rc)) : rc;
}
