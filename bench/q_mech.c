/* SPDX-License-Identifier: MIT */
/* The three queues behind one interface, and their cleanup on every exit path. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include "q_bench.h"

const struct qb_row qb_rows[QB_NROWS] = {
	{"sysv-msg", "kernel", "System V message queue (msgsnd/msgrcv), IPC_PRIVATE", QB_SYSV, 0},
	{"posix-mq", "kernel", "POSIX message queue (mq_send/mq_receive), priority 0", QB_POSIX, 0},
	{"shmkit-queue", "shmkit",
	 "shmkit_queue (copying send/recv), default waiting: spin about 20 us, then sleep",
	 QB_SHMKIT, 0},
	{"shmkit-queue-sleep", "shmkit",
	 "shmkit_queue (copying send/recv), waiters sleep at once (SHMKIT_QUEUE_F_SLEEP)",
	 QB_SHMKIT, SHMKIT_QUEUE_F_SLEEP},
};

const struct qb_row *const qb_sel_rows[QB_NSEL] = {&qb_rows[2], &qb_rows[0]};

/* Names are unique per process and per queue: a run never meets a queue of
 * another run, and a leftover of this pid (a killed earlier run) is
 * replaced rather than reused. */
static unsigned name_counter;

/* ---- System V ---------------------------------------------------------- */

static int
sysv_create(struct qb_queue *x, unsigned long depth, char *why, size_t whylen)
{
	uint64_t msgmax = 8192, msgmnb = 16384;
	unsigned long long want = (unsigned long long)depth * x->msg_size;
	struct msqid_ds ds;
	int rc;

	bench_read_proc_u64("/proc/sys/kernel/msgmax", &msgmax);
	bench_read_proc_u64("/proc/sys/kernel/msgmnb", &msgmnb);
	if (x->msg_size > msgmax) {
		snprintf(why, whylen, "over the %llu B limit (kernel.msgmax)",
			 (unsigned long long)msgmax);
		return -EMSGSIZE;
	}
	x->msqid = msgget(IPC_PRIVATE, IPC_CREAT | IPC_EXCL | 0600);
	if (x->msqid < 0) {
		rc = -errno;
		snprintf(why, whylen, "msgget failed: %s", strerror(-rc));
		return rc;
	}
	if (msgctl(x->msqid, IPC_STAT, &ds) < 0) {
		rc = -errno;
		snprintf(why, whylen, "msgctl(IPC_STAT) failed: %s", strerror(-rc));
		msgctl(x->msqid, IPC_RMID, NULL);
		x->msqid = -1;
		return rc;
	}
	/*
	 * The kernel bounds a queue by msg_qbytes alone (bytes, and as many
	 * messages as bytes), so depth messages of msg_size need exactly
	 * depth * msg_size. Lowering it is always allowed; raising it over
	 * kernel.msgmnb needs CAP_SYS_RESOURCE.
	 */
	ds.msg_qbytes = (msglen_t)want;
	if (msgctl(x->msqid, IPC_SET, &ds) == 0) {
		x->room = depth;
		snprintf(x->note, sizeof(x->note), "msg_qbytes %llu via IPC_SET%s", want,
			 want > msgmnb ? " (over kernel.msgmnb, as a privileged process)" : "");
		return 0;
	}
	rc = errno;
	if (msgctl(x->msqid, IPC_STAT, &ds) < 0) {
		ds.msg_qbytes = (msglen_t)msgmnb;
	}
	x->room = (unsigned long)(ds.msg_qbytes / x->msg_size);
	snprintf(x->note, sizeof(x->note),
		 "msg_qbytes %lu, the default: IPC_SET to %llu refused (%s%s)",
		 (unsigned long)ds.msg_qbytes, want, strerror(rc),
		 rc == EPERM ? ": over kernel.msgmnb needs CAP_SYS_RESOURCE" : "");
	return 0;
}

/* ---- POSIX ------------------------------------------------------------- */

static int
posix_open(struct qb_queue *x, long maxmsg)
{
	struct mq_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.mq_maxmsg = maxmsg;
	attr.mq_msgsize = (long)x->msg_size;
	x->mq = mq_open(x->mq_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
	return x->mq == (mqd_t)-1 ? -errno : 0;
}

static int
posix_create(struct qb_queue *x, unsigned long depth, char *why, size_t whylen)
{
	uint64_t msg_max = 10, msgsize_max = 8192;
	int rc;

	bench_read_proc_u64("/proc/sys/fs/mqueue/msg_max", &msg_max);
	bench_read_proc_u64("/proc/sys/fs/mqueue/msgsize_max", &msgsize_max);
	snprintf(x->mq_name, sizeof(x->mq_name), "/shmkit-bench-q.%ld.%u", (long)getpid(),
		 ++name_counter);
	mq_unlink(x->mq_name);
	/*
	 * fs.mqueue.msg_max (10 by default) bounds mq_maxmsg for ordinary
	 * processes; one with CAP_SYS_RESOURCE may ask for more. Ask for the
	 * depth first, and settle for msg_max when that is refused.
	 */
	rc = posix_open(x, (long)depth);
	if (rc == 0) {
		x->room = depth;
		snprintf(x->note, sizeof(x->note), "mq_maxmsg %lu, mq_msgsize %zu%s", depth,
			 x->msg_size,
			 depth > msg_max ? " (over fs.mqueue.msg_max, as a privileged process)"
					 : "");
	} else if (rc == -EINVAL && depth > msg_max && x->msg_size <= msgsize_max) {
		int first = rc;

		rc = posix_open(x, (long)msg_max);
		if (rc == 0) {
			x->room = (unsigned long)msg_max;
			snprintf(x->note, sizeof(x->note),
				 "mq_maxmsg %llu, mq_msgsize %zu (fs.mqueue.msg_max; %lu refused: "
				 "%s, over it needs CAP_SYS_RESOURCE)",
				 (unsigned long long)msg_max, x->msg_size, depth, strerror(-first));
		}
	}
	if (rc < 0) {
		if (x->msg_size > msgsize_max) {
			snprintf(why, whylen, "over the %llu B limit (fs.mqueue.msgsize_max)",
				 (unsigned long long)msgsize_max);
		} else {
			snprintf(why, whylen, "mq_open failed: %s", strerror(-rc));
		}
		x->mq_name[0] = '\0';
		return rc;
	}
	/* Every process of the measurement holds the descriptor (the children
	 * inherit it), so the name can go at once: nothing is left in the
	 * queue namespace even if the whole run is killed with SIGKILL. */
	mq_unlink(x->mq_name);
	x->mq_name[0] = '\0';
	return 0;
}

/* ---- shmkit ------------------------------------------------------------ */

static int
shmkit_create(struct qb_queue *x, unsigned long depth, char *why, size_t whylen)
{
	shmkit_queue_opts o;
	int rc;

	shmkit_queue_opts_init(&o);
	o.max_msgs = (uint32_t)depth;
	o.max_bytes = (uint64_t)depth * x->msg_size;
	o.max_msg_size = (uint32_t)(x->msg_size + BENCH_BUF_SLACK);
	snprintf(x->spec, sizeof(x->spec), "posix:bench-q-%ld-%u", (long)getpid(), ++name_counter);
	shmkit_segment_remove(x->spec);
	rc = shmkit_queue_create(&x->q, x->spec, &o);
	if (rc < 0) {
		snprintf(why, whylen, "shmkit_queue_create failed: %s", shmkit_strerror(rc));
		x->spec[0] = '\0';
		x->q = NULL;
		return rc;
	}
	x->room = depth;
	snprintf(x->note, sizeof(x->note), "max_msgs %lu, max_bytes %llu, max_msg_size %u", depth,
		 (unsigned long long)o.max_bytes, o.max_msg_size);
	return 0;
}

/* ---- the interface ----------------------------------------------------- */

/* What the signal handlers clean up besides the children (guard.c): the
 * queues that exist. Changed only with the handled signals blocked. */
#define MAX_LIVE 4
static struct qb_queue *live[MAX_LIVE];

static void
track(struct qb_queue *x, int on)
{
	for (size_t i = 0; i < MAX_LIVE; i++) {
		if (on && live[i] == NULL) {
			live[i] = x;
			return;
		}
		if (!on && live[i] == x) {
			live[i] = NULL;
			return;
		}
	}
}

int
qb_queue_create(struct qb_queue *x, const struct qb_row *row, size_t msg_size, unsigned long depth,
		char *why, size_t whylen)
{
	size_t len;
	int rc;

	memset(x, 0, sizeof(*x));
	x->row = row;
	x->msg_size = msg_size;
	x->cap = msg_size + BENCH_BUF_SLACK;
	x->msqid = -1;
	x->mq = (mqd_t)-1;
	/* mtype sits in the 8 bytes before a 64-byte boundary, where the text
	 * starts. */
	len = (64 + x->cap + 63) / 64 * 64;
	x->mem = aligned_alloc(64, len);
	if (x->mem == NULL) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	/* Touch the pages now rather than in the timed loop. */
	memset(x->mem, 0, len);
	x->text = x->mem + 64;
	x->mtype = (long *)(void *)(x->text - sizeof(long));
	switch (row->mech) {
	case QB_SYSV:
		rc = sysv_create(x, depth, why, whylen);
		break;
	case QB_POSIX:
		rc = posix_create(x, depth, why, whylen);
		break;
	default:
		rc = shmkit_create(x, depth, why, whylen);
		break;
	}
	if (rc < 0) {
		free(x->mem);
		x->mem = NULL;
		return rc;
	}
	track(x, 1);
	return 0;
}

/* Remove what the queue holds in the kernel or in /dev/shm; idempotent and
 * async-signal-safe (msgctl, mq_unlink, unlink). The handle and the buffer
 * are left to the exit that follows. */
static void
abandon(struct qb_queue *x)
{
	if (x->msqid >= 0) {
		msgctl(x->msqid, IPC_RMID, NULL);
		x->msqid = -1;
	}
	if (x->mq_name[0] != '\0') {
		mq_unlink(x->mq_name);
		x->mq_name[0] = '\0';
	}
	if (x->spec[0] != '\0') {
		shmkit_segment_remove(x->spec);
		x->spec[0] = '\0';
	}
}

void
qb_queue_destroy(struct qb_queue *x)
{
	if (x->q != NULL) {
		/* IPC_RMID: wakes anyone still blocked, removes the name. On
		 * failure the handle may still be open. */
		if (shmkit_queue_remove(x->q) == -EPERM) {
			shmkit_queue_close(x->q);
		}
		x->q = NULL;
		x->spec[0] = '\0';
	}
	if (x->mq != (mqd_t)-1) {
		mq_close(x->mq);
		x->mq = (mqd_t)-1;
	}
	abandon(x);
	free(x->mem);
	x->mem = NULL;
	track(x, 0);
}

int
qb_send(struct qb_queue *x, long type, size_t len, int nowait)
{
	static const struct timespec now_or_never = {0, 0};
	int rc;

	switch (x->row->mech) {
	case QB_SYSV:
		*x->mtype = type;
		/* System V calls are never restarted after a signal handler. */
		while (msgsnd(x->msqid, x->mtype, len, nowait ? IPC_NOWAIT : 0) < 0) {
			if (errno != EINTR) {
				return -errno;
			}
		}
		return 0;
	case QB_POSIX:
		for (;;) {
			rc = nowait ? mq_timedsend(x->mq, (const char *)x->text, len, 0,
						   &now_or_never)
				    : mq_send(x->mq, (const char *)x->text, len, 0);
			if (rc == 0) {
				return 0;
			}
			if (errno != EINTR) {
				return errno == ETIMEDOUT ? -EAGAIN : -errno;
			}
		}
	default:
		return shmkit_queue_send(x->q, type, x->text, len,
					 x->row->flags | (nowait ? SHMKIT_QUEUE_F_NOWAIT : 0u),
					 NULL);
	}
}

ssize_t
qb_recv(struct qb_queue *x, long msgtyp, int except, long *type, int nowait)
{
	static const struct timespec now_or_never = {0, 0};
	unsigned flags;
	ssize_t n;

	switch (x->row->mech) {
	case QB_SYSV:
		/* Without MSG_NOERROR an oversized message fails with E2BIG
		 * instead of being cut short. */
		while ((n = msgrcv(x->msqid, x->mtype, x->cap, msgtyp,
				   (nowait ? IPC_NOWAIT : 0) | (except ? MSG_EXCEPT : 0))) < 0) {
			if (errno != EINTR) {
				return -errno;
			}
		}
		*type = *x->mtype;
		return n;
	case QB_POSIX:
		/* The capacity is at least mq_msgsize, as mq_receive requires. */
		for (;;) {
			n = nowait ? mq_timedreceive(x->mq, (char *)x->text, x->cap, NULL,
						     &now_or_never)
				   : mq_receive(x->mq, (char *)x->text, x->cap, NULL);
			if (n >= 0) {
				*type = 0;
				return n;
			}
			if (errno != EINTR) {
				return errno == ETIMEDOUT ? -ENOMSG : -errno;
			}
		}
	default:
		flags = x->row->flags | (nowait ? SHMKIT_QUEUE_F_NOWAIT : 0u) |
			(except ? SHMKIT_QUEUE_F_EXCEPT : 0u);
		return shmkit_queue_recv(x->q, x->text, x->cap, msgtyp, type, flags, NULL);
	}
}

int
qb_count(struct qb_queue *x, uint64_t *n)
{
	struct msqid_ds ds;
	struct mq_attr attr;
	shmkit_queue_info info;
	int rc;

	switch (x->row->mech) {
	case QB_SYSV:
		if (msgctl(x->msqid, IPC_STAT, &ds) < 0) {
			return -errno;
		}
		*n = ds.msg_qnum;
		return 0;
	case QB_POSIX:
		if (mq_getattr(x->mq, &attr) < 0) {
			return -errno;
		}
		*n = (uint64_t)attr.mq_curmsgs;
		return 0;
	default:
		rc = shmkit_queue_stat(x->q, &info);
		if (rc < 0) {
			return rc;
		}
		*n = info.count;
		return 0;
	}
}

/* ---- cleanup on every path --------------------------------------------- */

/* Remove the queues, after the children are gone: a child killed first
 * can no longer be inside a queue operation we would race with. Only
 * async-signal-safe calls. */
static void
remove_live(void)
{
	for (size_t i = 0; i < MAX_LIVE; i++) {
		if (live[i] != NULL) {
			abandon(live[i]);
			live[i] = NULL;
		}
	}
}

void
qb_guard_init(void)
{
	bench_guard_init(0, remove_live);
}

int
qb_child_init(pid_t parent)
{
	if (bench_guard_child(parent) < 0) {
		return -1;
	}
	/* The queues are the parent's to clean up. */
	for (size_t i = 0; i < MAX_LIVE; i++) {
		live[i] = NULL;
	}
	bench_unblock();
	return 0;
}
