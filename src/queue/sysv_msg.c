/* SPDX-License-Identifier: MIT */
/* The System V message queue API (msgget, msgsnd, msgrcv, msgctl) on shmkit queues. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <shmkit/queue.h>
#include <shmkit/sysv.h>

#include "internal/idcache.h"
#include "internal/platform.h"
#include "internal/registry.h"
#include "internal/spec.h"
#include "internal/sysvids.h"
#include "queue/queue_impl.h"

/* Ids are built as the kernel builds them: index + IPCMNI * sequence. */
#define IPCMNI       SHMKIT_IPCMNI
#define NAME_ID      "msqid."
#define NAME_IDX     "msqidx."
#define NAME_KEY     "msqkey."
#define MSGMNB_      16384 /* the kernel's default msg_qbytes */
#define MSGMAX_      8192  /* the kernel's default largest message */
#define MSGSSZ_      16
#define MSGPOOL_     (SHMKIT_MSGMNI * MSGMNB_ / 1024)
#define RACE_RETRIES 64
/* A claim without a queue for this long was left by a dead process. */
#define STALE_CLAIM_S 60

_Static_assert(SHMKIT_QUEUE_F_NOWAIT != 0, "flags");

static int
fail(int err)
{
	errno = err < 0 ? -err : err;
	return -1;
}

/*
 * Library errors the kernel's calls never give, mapped to what a caller of
 * the originals understands: a queue that is corrupted or not a queue is one
 * that does not exist for System V purposes.
 */
static int
to_errno(int rc)
{
	switch (rc) {
	case -EBADMSG:
	case -ENOTRECOVERABLE:
	case -EOWNERDEAD:
	case -EPROTO:
	case -EPROTOTYPE:
	case -EMEDIUMTYPE:
	case -EOVERFLOW:
	case -ELOOP:
	case -ENOENT:
	case -EIDRM:
		return EINVAL;
	case -EDQUOT:
	case -EFBIG:
		return ENOSPC;
	default:
		return -rc;
	}
}

/* A system-wide limit from /proc/sys/kernel, or @def if unreadable. */
static long
sysctl_long(const char *path, long def)
{
	char buf[32];
	long v = def;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return def;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		char *end;
		long x = strtol(buf, &end, 10);
		if (end != buf && x > 0) {
			v = x;
		}
	}
	return v;
}

static long
msgmax(void)
{
	static _Atomic long cached;
	long v = atomic_load_explicit(&cached, memory_order_relaxed);
	if (v == 0) {
		v = sysctl_long("/proc/sys/kernel/msgmax", MSGMAX_);
		atomic_store_explicit(&cached, v, memory_order_relaxed);
	}
	return v;
}

static long
msgmnb(void)
{
	static _Atomic long cached;
	long v = atomic_load_explicit(&cached, memory_order_relaxed);
	if (v == 0) {
		v = sysctl_long("/proc/sys/kernel/msgmnb", MSGMNB_);
		atomic_store_explicit(&cached, v, memory_order_relaxed);
	}
	return v;
}

/* ---------------------------------------------------------------------- */
/* The process's handles, by id: msgsnd(msqid) must not open anything on   */
/* its fast path.                                                          */

/* The handles by id live in a shmkit__idcache (src/common/idcache.c). */
static int
close_queue(void *h)
{
	return shmkit_queue_close(h);
}

static struct shmkit__idcache queue_handles = SHMKIT__IDCACHE_INIT(close_queue);

static shmkit_queue *
cache_get(int id)
{
	return shmkit__idcache_get(&queue_handles, id);
}

static shmkit_queue *
cache_add(int id, shmkit_queue *h)
{
	return shmkit__idcache_add(&queue_handles, id, h);
}

static void
cache_forget(int id)
{
	shmkit__idcache_forget(&queue_handles, id);
}

static void
release(shmkit_queue *h)
{
	shmkit__idcache_release(&queue_handles, h);
}

/* ---------------------------------------------------------------------- */
/* Names. A queue with id ID at index IDX = ID % IPCMNI has:               */
/*  - shmkit.msqidx.IDX: the index's claim, a small file "ID KEY CREATOR" */
/*    (the creator's liveness token), created exclusively and written      */
/*    before the queue exists;                                             */
/*  - shmkit.msqid.ID: the queue itself (a posix shmkit object);           */
/*  - for a key, shmkit.msqkey.0xKKKKKKKK: a symbolic link whose target is */
/*    the queue's name, made once the queue is complete. symlink() never   */
/*    replaces a name, so of racing IPC_CREAT callers exactly one wins.    */

static void
spec_id(char *buf, size_t len, int id)
{
	snprintf(buf, len, "posix:" NAME_ID "%d", id);
}

static void
path_idx(char *buf, size_t len, int idx)
{
	snprintf(buf, len, SHMKIT_POSIX_DIR "/" SHMKIT_POSIX_PREFIX NAME_IDX "%d", idx);
}

static void
path_key(char *buf, size_t len, key_t key)
{
	snprintf(buf, len, SHMKIT_POSIX_DIR "/" SHMKIT_POSIX_PREFIX NAME_KEY "0x%08x",
		 (unsigned)key);
}

static void
target_of(char *buf, size_t len, int id)
{
	snprintf(buf, len, SHMKIT_POSIX_PREFIX NAME_ID "%d", id);
}

/* Read the claim of @idx: 0 with *id, *key and, when the claim names
 * its creator, *creator (its liveness token; 0 when it does not), or
 * -ENOENT. */
static int
read_claim_full(int idx, int *id, uint32_t *key, uint32_t *creator)
{
	char path[PATH_MAX], buf[64];
	path_idx(path, sizeof(path), idx);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		return -ENOENT;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return -ENOENT; /* a creator between open and write, or one that died */
	}
	buf[n] = '\0';
	unsigned long k;
	unsigned int t = 0;
	int i;
	int got = sscanf(buf, "%d %lx %u", &i, &k, &t);
	if (got < 2 || i < 0 || i % IPCMNI != idx) {
		return -ENOENT;
	}
	*id = i;
	*key = (uint32_t)k;
	*creator = got == 3 ? (uint32_t)t : 0;
	return 0;
}

/* Read the claim of @idx: 0 with *id and *key, or -ENOENT. */
static int
read_claim(int idx, int *id, uint32_t *key)
{
	uint32_t creator;
	return read_claim_full(idx, id, key, &creator);
}

/* The claimed queue indices (see shmkit__sysv_scan_indices). */
static int
scan_indices(unsigned char *used)
{
	return shmkit__sysv_scan_indices(NAME_IDX, SHMKIT_MSGMNI, used);
}

/* Remove the key's link if it still points at the queue @id. */
static void
unlink_key_if(key_t key, int id)
{
	char path[PATH_MAX], want[64], have[64];
	path_key(path, sizeof(path), key);
	target_of(want, sizeof(want), id);
	ssize_t n = readlink(path, have, sizeof(have) - 1);
	if (n > 0) {
		have[n] = '\0';
		if (strcmp(have, want) == 0) {
			unlink(path);
		}
	}
}

/* Remove the names left after the queue @id at its index was removed. */
static void
unlink_names(int id, uint32_t key)
{
	char path[PATH_MAX];
	int cid;
	uint32_t ckey;
	if (key != 0) {
		unlink_key_if((key_t)key, id);
	}
	/* The claim goes last: only then may the index be taken again. */
	if (read_claim(id % IPCMNI, &cid, &ckey) == 0 && cid == id) {
		path_idx(path, sizeof(path), id % IPCMNI);
		unlink(path);
	}
}

/* Open the queue @id by name: 0, -ENOENT, -EIDRM, ... */
static int
open_id(int id, shmkit_queue **out)
{
	char spec[64];
	spec_id(spec, sizeof(spec), id);
	return shmkit_queue_open(out, spec);
}

/* The handle for @msqid with a reference taken, or NULL with *@err. */
static shmkit_queue *
get_queue(int msqid, int *err)
{
	if (msqid < 0 || msqid % IPCMNI >= SHMKIT_MSGMNI) {
		*err = EINVAL;
		return NULL;
	}
	shmkit_queue *q = cache_get(msqid);
	if (q != NULL) {
		return q;
	}
	int rc = open_id(msqid, &q);
	if (rc != 0) {
		*err = to_errno(rc);
		return NULL;
	}
	return cache_add(msqid, q);
}

/* ---------------------------------------------------------------------- */
/* msgget                                                                  */

/*
 * Remove the claims whose queue is gone (its creator died before creating
 * it, or its remover before removing the claim). A claim names its
 * creator: while that process lives, its creation may be in progress and
 * the claim stays; once it is gone, the claim goes at once. A claim that
 * names nobody (an older library's) goes once older than any creation in
 * progress can be (by its file's time, so a clock set forward shortens
 * that). Return how many were removed.
 */
static int
sweep_claims(void)
{
	int n = 0;
	time_t now = time(NULL);
	for (int idx = 0; idx < SHMKIT_MSGMNI; idx++) {
		char path[PATH_MAX];
		struct stat st;
		int id;
		uint32_t key;
		shmkit_queue *q;
		uint32_t creator = 0;
		path_idx(path, sizeof(path), idx);
		if (lstat(path, &st) != 0) {
			continue;
		}
		int have = read_claim_full(idx, &id, &key, &creator) == 0;
		int alive = have && creator != 0 ? shmkit__token_alive(creator) : -EINVAL;
		if (alive == 1 || (alive != 0 && now - st.st_mtime < STALE_CLAIM_S)) {
			continue; /* its creator may still be at work */
		}
		if (have) {
			int rc = open_id(id, &q);
			if (rc == 0) {
				shmkit_queue_close(q);
				continue;
			}
			if (rc == -EOWNERDEAD) {
				/* Its creator died before the queue was ready:
				 * nobody can ever use it; remove it with the claim. */
				char spec[64];
				spec_id(spec, sizeof(spec), id);
				(void)shmkit_segment_remove(spec);
			} else if (rc != -ENOENT && rc != -EIDRM) {
				continue;
			}
		}
		if (unlink(path) == 0) {
			n++;
		}
	}
	return n;
}

/* Create a queue at the lowest free index: the id, -EEXIST, -errno. */
static int
create_queue(key_t key, int msgflg)
{
	unsigned char used[(SHMKIT_MSGMNI + 7) / 8];
	memset(used, 0, sizeof(used));
	if (scan_indices(used) >= SHMKIT_MSGMNI - 1 && sweep_claims() > 0) {
		memset(used, 0, sizeof(used));
		scan_indices(used);
	}
	for (int idx = 0; idx < SHMKIT_MSGMNI; idx++) {
		if (used[idx / 8] & (1u << (idx % 8))) {
			continue;
		}
		char ipath[PATH_MAX], spec[64], line[64];
		int id = (int)(shmkit__sysv_new_seq() * SHMKIT_IPCMNI) + idx;
		path_idx(ipath, sizeof(ipath), idx);
		int fd = open(ipath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0) {
			if (errno == EEXIST) {
				continue; /* a concurrent creator took this index */
			}
			return errno == ENOSPC || errno == EDQUOT ? -ENOSPC : -errno;
		}
		/* The creator's liveness token: its claim is safe while it lives
		 * and reclaimable as soon as it is gone (sweep_claims). */
		uint32_t me = 0;
		(void)shmkit__self_token(&me);
		int len = snprintf(line, sizeof(line), "%d 0x%08x %u\n", id, (unsigned)key, me);
		if (write(fd, line, (size_t)len) != len) {
			close(fd);
			unlink(ipath);
			return -ENOSPC;
		}
		close(fd);

		shmkit_queue_opts o;
		shmkit_queue_opts_init(&o);
		long mnb = msgmnb(), mmax = msgmax();
		o.max_bytes = (uint64_t)mnb;
		o.max_msg_size = (uint32_t)(mmax < mnb ? mmax : mnb);
		/* The kernel's count limit is msg_qbytes messages: as many
		 * descriptors, each with its own 64-byte payload slot, and big
		 * slots only for what msg_qbytes can hold over 64 bytes (about
		 * 4 MiB per queue at the default msgmnb; see sysv.h). */
		o.max_msgs = (uint32_t)(mnb < SHMKIT_MSGMAXCOUNT ? mnb : SHMKIT_MSGMAXCOUNT);
		o.mode = (uint32_t)msgflg & 0777;
		shmkit_queue *q;
		spec_id(spec, sizeof(spec), id);
		int rc = shmkit_queue_create(&q, spec, &o);
		if (rc != 0) {
			unlink(ipath);
			return rc == -EEXIST ? -ENOSPC : rc;
		}
		if (key != IPC_PRIVATE) {
			/* The queue is complete: only now may the key reach it. */
			char kpath[PATH_MAX], target[64];
			path_key(kpath, sizeof(kpath), key);
			target_of(target, sizeof(target), id);
			if (symlink(target, kpath) != 0) {
				int e = errno;
				/* Lost: nobody knows this queue's id yet. */
				shmkit_queue_remove(q);
				unlink(ipath);
				return -e;
			}
		}
		release(cache_add(id, q));
		return id;
	}
	return -ENOSPC;
}

SHMKIT_API int
shmkit_msgget(key_t key, int msgflg)
{
	if (key == IPC_PRIVATE) {
		int rc = create_queue(key, msgflg);
		return rc < 0 ? fail(to_errno(rc)) : rc;
	}
	char kpath[PATH_MAX];
	path_key(kpath, sizeof(kpath), key);
	for (int attempt = 0; attempt < RACE_RETRIES; attempt++) {
		char target[64];
		ssize_t n = readlink(kpath, target, sizeof(target) - 1);
		if (n > 0) {
			static const char pre[] = SHMKIT_POSIX_PREFIX NAME_ID;
			target[n] = '\0';
			int id = -1;
			if (strncmp(target, pre, sizeof(pre) - 1) == 0) {
				id = atoi(target + sizeof(pre) - 1);
			}
			shmkit_queue *q;
			int rc = id >= 0 ? open_id(id, &q) : -ENOENT;
			if (rc == -ENOENT || rc == -EIDRM) {
				/* Removed, but its remover died before unlinking
				 * the key: remove the stale link, look again. */
				unlink_key_if(key, id);
				continue;
			}
			if (rc == -EACCES && !((msgflg & IPC_CREAT) && (msgflg & IPC_EXCL)) &&
			    (msgflg & 0666) == 0) {
				/*
				 * The queue's file refuses us (its mode grants
				 * our class nothing), but asking for no access
				 * needs none: the kernel returns the id, and so
				 * do we; the calls that need access then fail
				 * with EACCES, as the kernel's.
				 */
				return id;
			}
			if (rc != 0) {
				return fail(to_errno(rc));
			}
			if ((msgflg & IPC_CREAT) && (msgflg & IPC_EXCL)) {
				shmkit_queue_close(q);
				return fail(EEXIST);
			}
			rc = shmkit__queue_access(q, msgflg);
			if (rc == -EIDRM) {
				shmkit_queue_close(q);
				continue;
			}
			if (rc != 0) {
				shmkit_queue_close(q);
				return fail(to_errno(rc));
			}
			release(cache_add(id, q));
			return id;
		}
		if (errno != ENOENT) {
			return fail(errno == EINVAL ? ENOENT : errno);
		}
		if (!(msgflg & IPC_CREAT)) {
			return fail(ENOENT);
		}
		int rc = create_queue(key, msgflg);
		if (rc >= 0) {
			return rc;
		}
		if (rc != -EEXIST) {
			return fail(to_errno(rc));
		}
		if (msgflg & IPC_EXCL) {
			return fail(EEXIST);
		}
		/* Someone else created it first: open theirs. */
	}
	return fail(ENOSPC);
}

/* ---------------------------------------------------------------------- */
/* msgsnd, msgrcv                                                          */

SHMKIT_API int
shmkit_msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg)
{
	long mtype;
	/* The kernel's order: the type is read first, then the size, the id
	 * and the type are checked, then the text is copied in. */
	if (msgp == NULL) {
		return fail(EFAULT);
	}
	memcpy(&mtype, msgp, sizeof(mtype));
	if ((long)msgsz < 0 || msgsz > (size_t)msgmax() || msqid < 0) {
		return fail(EINVAL);
	}
	if (mtype < 1) {
		return fail(EINVAL);
	}
	int err = EINVAL;
	shmkit_queue *q = get_queue(msqid, &err);
	if (q == NULL) {
		return fail(err);
	}
	const char *text = (const char *)msgp + sizeof(long);
	/*
	 * A first attempt that never waits tells a queue removed before this
	 * call (EINVAL, an unknown id, as the kernel) from one removed while
	 * the call slept (EIDRM).
	 */
	int rc = shmkit_queue_send(q, mtype, text, msgsz, SHMKIT_QUEUE_F_NOWAIT, NULL);
	if (rc == -EIDRM) {
		rc = -EINVAL;
	} else if (rc == -EAGAIN && !(msgflg & IPC_NOWAIT)) {
		rc = shmkit_queue_send(q, mtype, text, msgsz, SHMKIT_QUEUE_F_INTERRUPTIBLE, NULL);
	}
	release(q);
	if (rc == -EIDRM || rc == -EINVAL) {
		cache_forget(msqid);
	}
	if (rc == -EIDRM || rc == -EINTR) {
		return fail(-rc);
	}
	return rc < 0 ? fail(to_errno(rc)) : 0;
}

SHMKIT_API ssize_t
shmkit_msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg)
{
	if (msqid < 0 || (long)msgsz < 0) {
		return fail(EINVAL);
	}
	if ((msgflg & MSG_COPY) && ((msgflg & MSG_EXCEPT) || !(msgflg & IPC_NOWAIT))) {
		return fail(EINVAL);
	}
	unsigned flags = 0;
	if (msgflg & MSG_COPY) {
		/* The kernel copies into a buffer of the caller's size, which
		 * refuses a longer message with EINVAL even with NOERROR. */
		flags |= SHMKIT_QUEUE_F_COPY;
	} else if (msgflg & MSG_NOERROR) {
		flags |= SHMKIT_QUEUE_F_NOERROR;
	}
	if ((msgflg & MSG_EXCEPT) && msgtyp > 0) {
		flags |= SHMKIT_QUEUE_F_EXCEPT;
	}
	if (msgtyp == LONG_MIN) {
		msgtyp = -LONG_MAX; /* the same selection, without the overflow */
	}
	if ((msgflg & MSG_COPY) && msgp == NULL &&
	    (msgsz < (size_t)msgmax() ? msgsz : (size_t)msgmax()) > 0) {
		/* The kernel reads the caller's buffer in to make its copy. */
		return fail(EFAULT);
	}
	int err = EINVAL;
	shmkit_queue *q = get_queue(msqid, &err);
	if (q == NULL) {
		return fail(err);
	}
	/*
	 * A NULL buffer: the kernel selects (and takes) the message before it
	 * finds it cannot store it, then fails with EFAULT. Receive into a
	 * scratch buffer to do the same.
	 */
	char *text = msgp != NULL ? (char *)msgp + sizeof(long) : NULL;
	char *scratch = NULL;
	size_t cap = msgsz;
	if (msgp == NULL) {
		cap = msgsz < (size_t)msgmax() ? msgsz : (size_t)msgmax();
		scratch = malloc(cap ? cap : 1);
		if (scratch == NULL) {
			release(q);
			return fail(ENOMEM);
		}
		text = scratch;
	}
	long type = 0;
	ssize_t rc =
		shmkit_queue_recv(q, text, cap, msgtyp, &type, flags | SHMKIT_QUEUE_F_NOWAIT, NULL);
	if (rc == -EIDRM) {
		rc = -EINVAL;
	} else if (rc == -ENOMSG && !(msgflg & IPC_NOWAIT)) {
		rc = shmkit_queue_recv(q, text, cap, msgtyp, &type,
				       flags | SHMKIT_QUEUE_F_INTERRUPTIBLE, NULL);
	}
	release(q);
	free(scratch);
	if ((msgflg & MSG_COPY) && (msgflg & MSG_NOERROR) && rc == -E2BIG) {
		rc = -EINVAL;
	}
	if (rc == -EIDRM || (rc == -EINVAL && !(msgflg & MSG_COPY))) {
		cache_forget(msqid);
	}
	if (rc == -EIDRM || rc == -EINTR) {
		return fail((int)-rc);
	}
	if (rc < 0) {
		return fail(to_errno((int)rc));
	}
	if (msgp == NULL) {
		return fail(EFAULT);
	}
	memcpy(msgp, &type, sizeof(type));
	return rc;
}

/* ---------------------------------------------------------------------- */
/* msgctl                                                                  */

static void
fill_ds(struct msqid_ds *ds, const shmkit_queue_info *in, int id, uint32_t key)
{
	memset(ds, 0, sizeof(*ds));
	ds->msg_perm.__key = (key_t)key;
	ds->msg_perm.uid = in->uid;
	ds->msg_perm.gid = in->gid;
	ds->msg_perm.cuid = in->cuid;
	ds->msg_perm.cgid = in->cgid;
	ds->msg_perm.mode = (unsigned short)in->mode;
	ds->msg_perm.__seq = (unsigned short)(id / IPCMNI);
	ds->msg_stime = (time_t)in->stime;
	ds->msg_rtime = (time_t)in->rtime;
	ds->msg_ctime = (time_t)in->ctime;
	ds->msg_cbytes = (__syscall_ulong_t)in->bytes;
	ds->msg_qnum = (msgqnum_t)in->count;
	ds->msg_qbytes = (msglen_t)in->max_bytes;
	ds->msg_lspid = in->last_send_pid;
	ds->msg_lrpid = in->last_recv_pid;
}

/* IPC_INFO and MSG_INFO. */
static int
info(int cmd, struct msginfo *out)
{
	struct msginfo mi;
	memset(&mi, 0, sizeof(mi));
	mi.msgmni = SHMKIT_MSGMNI;
	mi.msgmax = (int)msgmax();
	mi.msgmnb = (int)msgmnb();
	mi.msgssz = MSGSSZ_;
	/* MSGSEG as the kernel reports it, clamped to its 16-bit field. */
	long seg = (long)MSGPOOL_ * 1024 / MSGSSZ_;
	mi.msgseg = (unsigned short)(seg > 0xffff ? 0xffff : seg);
	unsigned char used[(SHMKIT_MSGMNI + 7) / 8];
	memset(used, 0, sizeof(used));
	int max = scan_indices(used);
	if (cmd == MSG_INFO) {
		/* Queues in use, their messages and bytes. */
		long queues = 0, msgs = 0, bytes = 0;
		for (int idx = 0; idx <= max; idx++) {
			int id;
			uint32_t key;
			shmkit_queue *q;
			shmkit_queue_info in;
			if (!(used[idx / 8] & (1u << (idx % 8))) ||
			    read_claim(idx, &id, &key) != 0 || open_id(id, &q) != 0) {
				continue;
			}
			queues++;
			if (shmkit__queue_stat(q, &in, 0) == 0) {
				msgs += (long)in.count;
				bytes += (long)in.bytes;
			}
			shmkit_queue_close(q);
		}
		mi.msgpool = (int)queues;
		mi.msgmap = (int)(msgs > INT_MAX ? INT_MAX : msgs);
		mi.msgtql = (int)(bytes > INT_MAX ? INT_MAX : bytes);
	} else {
		mi.msgpool = MSGPOOL_;
		mi.msgmap = MSGMNB_;
		mi.msgtql = MSGMNB_;
	}
	if (out == NULL) {
		return fail(EFAULT);
	}
	*out = mi;
	return max < 0 ? 0 : max;
}

/* MSG_STAT and MSG_STAT_ANY: by index. */
static int
stat_index(int idx, int cmd, struct msqid_ds *buf)
{
	int id;
	uint32_t key;
	shmkit_queue *q;
	shmkit_queue_info in;
	if (idx < 0 || idx >= SHMKIT_MSGMNI || read_claim(idx, &id, &key) != 0) {
		return fail(EINVAL);
	}
	int rc = open_id(id, &q);
	if (rc != 0) {
		return fail(to_errno(rc));
	}
	rc = shmkit__queue_stat(q, &in, cmd == MSG_STAT);
	shmkit_queue_close(q);
	if (rc != 0) {
		return fail(rc == -EACCES ? EACCES : to_errno(rc));
	}
	if (buf == NULL) {
		return fail(EFAULT);
	}
	fill_ds(buf, &in, id, key);
	return id;
}

/* IPC_RMID: remove the queue through a handle of its own (removal closes
 * it), then its names; the cached handle goes once unused. */
static int
remove_queue(int msqid)
{
	shmkit_queue *q;
	int id;
	uint32_t key = 0;
	int rc = open_id(msqid, &q);
	if (rc != 0) {
		/* Refused by the file: not the owner nor the creator (see
		 * shmkit_msgctl). */
		return rc == -EACCES ? -EPERM : -to_errno(rc);
	}
	if (read_claim(msqid % IPCMNI, &id, &key) != 0 || id != msqid) {
		key = 0;
	}
	rc = shmkit_queue_remove(q);
	if (rc != 0) {
		/* -EIDRM closed the handle (removed already); any other
		 * error left it open. */
		if (rc != -EIDRM) {
			shmkit_queue_close(q);
		}
		return rc == -EIDRM ? -EINVAL : rc;
	}
	unlink_names(msqid, key);
	return 0;
}

/*
 * After IPC_SET gave the queue @id (with @key) to @uid/@gid: the names in
 * /dev/shm belong to the creator, and in that sticky directory only their
 * owner may remove them, so the new owner could not IPC_RMID. Root may
 * hand them over; for anyone else this fails, and the creator (or root)
 * removes the names (documented in sysv.h).
 */
static void
chown_names(shmkit_queue *q, int id, uint32_t key, uid_t uid, gid_t gid)
{
	char path[PATH_MAX];
	int fd = shmkit__queue_fd(q);
	if (fd < 0 || fchown(fd, uid, gid) != 0) {
		return;
	}
	if (key != 0) {
		path_key(path, sizeof(path), (key_t)key);
		(void)lchown(path, uid, gid);
	}
	path_idx(path, sizeof(path), id % IPCMNI);
	(void)lchown(path, uid, gid);
}

SHMKIT_API int
shmkit_msgctl(int msqid, int cmd, struct msqid_ds *buf)
{
	if (msqid < 0 || cmd < 0) {
		return fail(EINVAL);
	}
	switch (cmd) {
	case IPC_INFO:
	case MSG_INFO:
		return info(cmd, (struct msginfo *)(void *)buf);
	case MSG_STAT:
	case MSG_STAT_ANY:
		return stat_index(msqid, cmd, buf);
	case IPC_STAT:
	case IPC_SET:
	case IPC_RMID:
		break;
	default:
		return fail(EINVAL);
	}
	if (cmd == IPC_SET && buf == NULL) {
		return fail(EFAULT); /* copied in before the queue is looked up */
	}
	int err = EINVAL;
	shmkit_queue *q = get_queue(msqid, &err);
	if (q == NULL) {
		/* A file that refuses us belongs to a queue whose mode grants
		 * us nothing: we are neither its owner nor its creator (those
		 * can always open it), which the kernel answers with EPERM. */
		return fail(err == EACCES && (cmd == IPC_SET || cmd == IPC_RMID) ? EPERM : err);
	}
	int rc = 0;
	shmkit_queue_info in;
	memset(&in, 0, sizeof(in));
	if (cmd == IPC_STAT) {
		rc = shmkit_queue_stat(q, &in);
		if (rc == 0) {
			int id;
			uint32_t key = 0;
			if (read_claim(msqid % IPCMNI, &id, &key) != 0 || id != msqid) {
				key = 0;
			}
			if (buf == NULL) {
				rc = -EFAULT;
			} else {
				fill_ds(buf, &in, msqid, key);
			}
		}
	} else if (cmd == IPC_SET) {
		rc = shmkit_queue_stat(q, &in);
		if (rc == 0 || rc == -EACCES) {
			uid_t euid = geteuid();
			if (rc == 0 && euid != 0 && euid != in.uid && euid != in.cuid) {
				rc = -EPERM;
			} else if ((long)buf->msg_qbytes > msgmnb() && euid != 0) {
				rc = -EPERM; /* CAP_SYS_RESOURCE */
			} else {
				/* msg_qbytes 0 is a limit, as the kernel's. */
				rc = shmkit__queue_set(q, (uint64_t)buf->msg_qbytes, 1,
						       (long)(buf->msg_perm.mode & 0777),
						       (long)buf->msg_perm.uid,
						       (long)buf->msg_perm.gid);
				if (rc == 0 && euid == 0 && in.max_msgs != 0 &&
				    (buf->msg_perm.uid != in.uid || buf->msg_perm.gid != in.gid)) {
					int id;
					uint32_t key = 0;
					if (read_claim(msqid % IPCMNI, &id, &key) != 0 ||
					    id != msqid) {
						key = 0;
					}
					chown_names(q, msqid, key, buf->msg_perm.uid,
						    buf->msg_perm.gid);
				}
			}
		}
	} else {
		release(q);
		q = NULL;
		rc = remove_queue(msqid);
		if (rc == 0) {
			cache_forget(msqid);
		}
	}
	if (q != NULL) {
		release(q);
	}
	if (rc == -EIDRM) {
		/* Removed before our call: an unknown id. */
		cache_forget(msqid);
		rc = -EINVAL;
	}
	return rc < 0 ? fail(to_errno(rc)) : 0;
}
