/* SPDX-License-Identifier: MIT */
/* Differential test: shmkit_msgget/msgsnd/msgrcv/msgctl against the kernel's System V queues. */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#include <shmkit/sysv.h>

#include "internal/spec.h"
#include "internal/sysvids.h"
#include "queue/queue_impl.h"

/*
 * Every case runs the same operations against a kernel queue and a shmkit
 * queue and compares what the two systems answer: return value, errno when
 * -1, received type and text, and IPC_STAT's counts. The kernel is the
 * oracle; nothing here models msgrcv's selection.
 *
 * Part 1 (random_lockstep) is one process with IPC_NOWAIT everywhere, in
 * lockstep, over seeded random sequences: at least 10^5 operations.
 * Part 2 are scenarios with blocked children whose outcome is deterministic
 * (woken by a send or a receive, by a signal with EINTR, by removal with
 * EIDRM), run on the kernel and then on shmkit; the outcomes must be equal.
 * Part 3 SIGKILLs senders at random moments and checks exactly-once for the
 * messages that were committed: each sender's sequence numbers arrive once,
 * in order, with no gap before the last one received, as the kernel's do.
 * Part 4 (permissions_other_uid, root only) has a process with uid 65534
 * (other, in the group, owner but not creator) call everything on a queue
 * made by root with each mode, and compares every answer.
 *
 * Reproduce a random run with SHMKIT_SEED=<seed> (printed on failure).
 * SHMKIT_TRACE=1 prints every answer of part 4, equal or not.
 *
 * Cleanup: each case's body runs in a forked worker; every queue is
 * registered in a shared page when created (part 4 also registers its keys)
 * and removed after the worker ends, however it ends.
 */

#define MAX_QUEUES 64
#define TEXT_MAX   512

struct sys {
	const char *name;
	int (*get)(key_t key, int flg);
	int (*snd)(int id, const void *p, size_t sz, int flg);
	ssize_t (*rcv)(int id, void *p, size_t sz, long typ, int flg);
	int (*ctl)(int id, int cmd, struct msqid_ds *buf);
};

static const struct sys sys_kernel = {"kernel", msgget, msgsnd, msgrcv, msgctl};
static const struct sys sys_shmkit = {"shmkit", shmkit_msgget, shmkit_msgsnd, shmkit_msgrcv,
				      shmkit_msgctl};
static const struct sys *const systems[2] = {&sys_kernel, &sys_shmkit};

struct shared {
	int n;
	struct {
		int sys;
		int id;
	} q[MAX_QUEUES];
	int nkeys;
	key_t keys[MAX_QUEUES];
};

static struct shared *sh;

static int
new_queue(int w)
{
	int id = systems[w]->get(IPC_PRIVATE, IPC_CREAT | 0600);
	ASSERT_SYS(id);
	if (sh != NULL && sh->n < MAX_QUEUES) {
		sh->q[sh->n].sys = w;
		sh->q[sh->n].id = id;
		sh->n++;
	}
	return id;
}

/*
 * The names sysv.h documents for the shmkit queue @id (queue, index claim,
 * key link) that are still there after IPC_RMID: a queue that could not be
 * removed completely must not outlive the test. With @count non-NULL, only
 * count them. Return how many there were.
 */
static int
unlink_names_of(int id, int *count)
{
	char path[PATH_MAX], buf[64];
	int n = 0;

	snprintf(path, sizeof(path), SHMKIT_POSIX_DIR "/" SHMKIT_POSIX_PREFIX "msqid.%d", id);
	if (access(path, F_OK) == 0) {
		n++;
		if (count == NULL) {
			unlink(path);
		}
	}
	snprintf(path, sizeof(path), SHMKIT_POSIX_DIR "/" SHMKIT_POSIX_PREFIX "msqidx.%d",
		 id % SHMKIT_IPCMNI);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[r > 0 ? r : 0] = '\0';
		if (r > 0 && atoi(buf) == id) {
			n++;
			if (count == NULL) {
				unlink(path);
			}
		}
	}
	if (count != NULL) {
		*count = n;
	}
	return n;
}

/* The key link of @key, if it names the shmkit queue @id. */
static int
key_link_names(key_t key, int id)
{
	char path[PATH_MAX], want[64], have[64];

	snprintf(path, sizeof(path), SHMKIT_POSIX_DIR "/" SHMKIT_POSIX_PREFIX "msqkey.0x%08x",
		 (unsigned)key);
	snprintf(want, sizeof(want), SHMKIT_POSIX_PREFIX "msqid.%d", id);
	ssize_t r = readlink(path, have, sizeof(have) - 1);
	if (r <= 0) {
		return 0;
	}
	have[r] = '\0';
	return strcmp(have, want) == 0;
}

/* Run @body in a worker; remove every registered queue afterwards. */
static void
run_worker(void (*body)(void))
{
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	pid_t pid = th_fork();
	if (pid == 0) {
		body();
		th_exit(0);
	}
	int st = th_wait(pid);
	for (int i = 0; i < sh->n; i++) {
		systems[sh->q[i].sys]->ctl(sh->q[i].id, IPC_RMID, NULL);
		if (sh->q[i].sys == 1) {
			unlink_names_of(sh->q[i].id, NULL);
		}
	}
	/* Whatever a key names now (a helper may have made it), on both. */
	for (int i = 0; i < sh->nkeys; i++) {
		for (int w = 0; w < 2; w++) {
			int id = systems[w]->get(sh->keys[i], 0);
			if (id >= 0) {
				systems[w]->ctl(id, IPC_RMID, NULL);
			}
		}
	}
	ASSERT_EXIT(st, 0);
}

/* ---- the random generator (splitmix64) ---- */

static uint64_t rng_state;

static uint64_t
rnd(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static unsigned
rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* ---- part 1: random lockstep ---- */

struct mbuf {
	long mtype;
	char mtext[TEXT_MAX + 16];
};

static int copy_supported;

static const char *
flag_str(int f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", f & IPC_NOWAIT ? "NOWAIT|" : "",
		 f & MSG_NOERROR ? "NOERROR|" : "", f & MSG_EXCEPT ? "EXCEPT|" : "",
		 f & MSG_COPY ? "COPY|" : "", f == 0 ? "0" : "");
	return buf;
}

/* Types: mostly small, some around 64 (where shmkit's per-type lists give
 * way to one list sorted by type) and some large. */
static long
rand_type(void)
{
	switch (rn(20)) {
	case 0:
		return 0;
	case 1:
		return -(long)rn(3) - 1;
	case 2:
		return LONG_MAX;
	case 3:
	case 4:
		return 60 + (long)rn(10);
	case 5:
		return 100 + 1000 * (long)rn(3);
	default:
		return (long)rn(8) + 1;
	}
}

static size_t
rand_size(long qbytes)
{
	switch (rn(20)) {
	case 0:
		return 0;
	case 1:
		return 8193; /* over msgmax */
	case 2:
		return (size_t)rn((unsigned)qbytes + 2);
	case 3:
	case 4:
		return 100 + rn(400);
	default:
		return rn(64);
	}
}

static long
rand_msgtyp(void)
{
	switch (rn(16)) {
	case 0:
	case 1:
	case 2:
		return 0;
	case 3:
		return LONG_MIN;
	case 4:
	case 5:
	case 6:
		return -(long)rn(10);
	case 7:
		return -60 - (long)rn(10);
	case 8:
		return -100 - 1000 * (long)rn(3) - (long)rn(2);
	case 9:
		return 60 + (long)rn(10);
	case 10:
		return 100 + 1000 * (long)rn(3);
	case 11:
		return LONG_MAX;
	default:
		return (long)rn(10);
	}
}

__attribute__((noreturn)) static void
diverge(uint64_t seed, long op, const char *what, long long k, int ke, long long s, int se)
{
	th_fail(__FILE__, __LINE__,
		"seed %llu op %ld: %s: kernel %lld (errno %d %s), shmkit %lld (errno %d %s)",
		(unsigned long long)seed, op, what, k, ke, ke ? strerror(ke) : "-", s, se,
		se ? strerror(se) : "-");
}

static void
one_seed(uint64_t seed, long nops)
{
	int id[2];
	long qbytes = 16384;
	rng_state = seed;
	for (int w = 0; w < 2; w++) {
		id[w] = new_queue(w);
	}
	for (long op = 0; op < nops; op++) {
		unsigned kind = rn(100);
		long long rc[2];
		int er[2];
		char what[256], fb[64];
		if (kind < 42) {
			/* msgsnd, never blocking. */
			struct mbuf m;
			long type = rand_type();
			size_t sz = rand_size(qbytes);
			uint64_t fill = rnd();
			int null = rn(400) == 0;
			snprintf(what, sizeof(what), "msgsnd(type %ld, size %zu%s, NOWAIT)", type,
				 sz, null ? ", NULL" : "");
			for (int w = 0; w < 2; w++) {
				static char big[16400 + sizeof(long)];
				void *p = NULL;
				if (!null) {
					if (sz > TEXT_MAX) {
						memcpy(big, &type, sizeof(type));
						th_fill(big + sizeof(long), sz > 8193 ? 8193 : sz,
							fill);
						p = big;
					} else {
						m.mtype = type;
						th_fill(m.mtext, sz, fill);
						p = &m;
					}
				}
				errno = 0;
				rc[w] = systems[w]->snd(id[w], p, sz, IPC_NOWAIT);
				er[w] = rc[w] < 0 ? errno : 0;
			}
			if (rc[0] != rc[1] || er[0] != er[1]) {
				diverge(seed, op, what, rc[0], er[0], rc[1], er[1]);
			}
		} else if (kind < 84) {
			/* msgrcv, never blocking. */
			struct mbuf m[2];
			long typ = rand_msgtyp();
			int flg = IPC_NOWAIT;
			size_t cap = rn(4) == 0 ? rn(8) : rn(TEXT_MAX);
			if (rn(5) == 0) {
				flg |= MSG_NOERROR;
			}
			if (rn(6) == 0) {
				flg |= MSG_EXCEPT;
			}
			if (copy_supported && rn(8) == 0) {
				flg |= MSG_COPY;
				if (rn(10) == 0) {
					flg &= ~IPC_NOWAIT; /* EINVAL, before anything else */
				}
				if (!(flg & MSG_EXCEPT) && rn(2) == 0) {
					typ = (long)rn(12);
				}
			}
			int null = rn(300) == 0;
			snprintf(what, sizeof(what), "msgrcv(msgtyp %ld, cap %zu, %s%s)", typ, cap,
				 flag_str(flg, fb, sizeof(fb)), null ? ", NULL" : "");
			for (int w = 0; w < 2; w++) {
				memset(&m[w], 0xa5, sizeof(m[w]));
				errno = 0;
				rc[w] = systems[w]->rcv(id[w], null ? NULL : &m[w], cap, typ, flg);
				er[w] = rc[w] < 0 ? errno : 0;
			}
			if (rc[0] != rc[1] || er[0] != er[1]) {
				diverge(seed, op, what, rc[0], er[0], rc[1], er[1]);
			}
			if (rc[0] >= 0) {
				if (m[0].mtype != m[1].mtype) {
					strncat(what, ": type", sizeof(what) - strlen(what) - 1);
					diverge(seed, op, what, m[0].mtype, 0, m[1].mtype, 0);
				}
				if (memcmp(m[0].mtext, m[1].mtext, (size_t)rc[0]) != 0) {
					strncat(what, ": text", sizeof(what) - strlen(what) - 1);
					diverge(seed, op, what, 0, 0, 1, 0);
				}
			}
		} else if (kind < 96) {
			struct msqid_ds ds[2];
			for (int w = 0; w < 2; w++) {
				memset(&ds[w], 0, sizeof(ds[w]));
				errno = 0;
				rc[w] = systems[w]->ctl(id[w], IPC_STAT, &ds[w]);
				er[w] = rc[w] < 0 ? errno : 0;
			}
			if (rc[0] != rc[1] || er[0] != er[1]) {
				diverge(seed, op, "IPC_STAT", rc[0], er[0], rc[1], er[1]);
			}
			if (ds[0].msg_qnum != ds[1].msg_qnum) {
				diverge(seed, op, "IPC_STAT msg_qnum", (long long)ds[0].msg_qnum, 0,
					(long long)ds[1].msg_qnum, 0);
			}
			if (ds[0].msg_cbytes != ds[1].msg_cbytes) {
				diverge(seed, op, "IPC_STAT msg_cbytes",
					(long long)ds[0].msg_cbytes, 0, (long long)ds[1].msg_cbytes,
					0);
			}
			if (ds[0].msg_qbytes != ds[1].msg_qbytes) {
				diverge(seed, op, "IPC_STAT msg_qbytes",
					(long long)ds[0].msg_qbytes, 0, (long long)ds[1].msg_qbytes,
					0);
			}
			if (ds[0].msg_perm.mode != ds[1].msg_perm.mode) {
				diverge(seed, op, "IPC_STAT mode", ds[0].msg_perm.mode, 0,
					ds[1].msg_perm.mode, 0);
			}
			if (ds[0].msg_lspid != ds[1].msg_lspid ||
			    ds[0].msg_lrpid != ds[1].msg_lrpid) {
				diverge(seed, op, "IPC_STAT msg_lspid/lrpid",
					ds[0].msg_lspid * 100000LL + ds[0].msg_lrpid, 0,
					ds[1].msg_lspid * 100000LL + ds[1].msg_lrpid, 0);
			}
		} else {
			/* IPC_SET of msg_qbytes (0..MSGMNB: 0 accepts no message). */
			long nq = rn(3) == 0 ? 16384 : rn(20) == 0 ? 0 : (long)rn(16384) + 1;
			snprintf(what, sizeof(what), "IPC_SET msg_qbytes %ld", nq);
			for (int w = 0; w < 2; w++) {
				struct msqid_ds ds;
				ASSERT_SYS(systems[w]->ctl(id[w], IPC_STAT, &ds));
				ds.msg_qbytes = (msglen_t)nq;
				errno = 0;
				rc[w] = systems[w]->ctl(id[w], IPC_SET, &ds);
				er[w] = rc[w] < 0 ? errno : 0;
			}
			if (rc[0] != rc[1] || er[0] != er[1]) {
				diverge(seed, op, what, rc[0], er[0], rc[1], er[1]);
			}
			qbytes = nq;
		}
	}
	for (int w = 0; w < 2; w++) {
		ASSERT_SYS(systems[w]->ctl(id[w], IPC_RMID, NULL));
	}
}

static void
check_copy_support(void)
{
	struct mbuf m;
	int id = new_queue(0);
	errno = 0;
	ssize_t r = msgrcv(id, &m, sizeof(m.mtext), 0, MSG_COPY | IPC_NOWAIT);
	copy_supported = !(r < 0 && errno == ENOSYS);
	msgctl(id, IPC_RMID, NULL);
	if (!copy_supported) {
		th_log("the kernel lacks MSG_COPY (ENOSYS): not compared");
	}
}

static void
body_random(void)
{
	const char *env = getenv("SHMKIT_SEED");
	check_copy_support();
	if (env != NULL) {
		uint64_t seed = strtoull(env, NULL, 0);
		th_log("seed %llu", (unsigned long long)seed);
		one_seed(seed, 20000);
		return;
	}
	uint64_t base = (uint64_t)time(NULL);
	for (int i = 0; i < 6; i++) {
		uint64_t seed = base * 7919 + (uint64_t)i;
		th_context("seed %llu (SHMKIT_SEED=%llu)", (unsigned long long)seed,
			   (unsigned long long)seed);
		one_seed(seed, 20000);
	}
}

TEST_TIMEOUT(random_lockstep, 200)
{
	run_worker(body_random);
}

/* A fixed-seed run, so a divergence is reproducible across CI runs. */
static void
body_fixed(void)
{
	check_copy_support();
	for (uint64_t seed = 1; seed <= 3; seed++) {
		th_context("seed %llu", (unsigned long long)seed);
		one_seed(seed, 10000);
	}
}

TEST_TIMEOUT(fixed_seeds, 120)
{
	run_worker(body_fixed);
}

/* ---- part 2: blocked callers ---- */

/* Wait until @pid sleeps (state S) for good. */
static void
wait_sleeping(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int64_t end = th_now_ms() + 10000;
	int seen = 0;
	while (th_now_ms() < end) {
		int fd = open(path, O_RDONLY);
		ASSERT_SYS(fd);
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		ASSERT_GT(n, 0);
		buf[n] = '\0';
		char *p = strrchr(buf, ')');
		if (p != NULL && p[2] == 'S') {
			if (++seen >= 5) {
				return;
			}
		} else {
			seen = 0;
		}
		th_sleep_ms(10);
	}
	th_fail(__FILE__, __LINE__, "child %d never slept", (int)pid);
}

static void
on_usr1(int sig)
{
	(void)sig;
}

struct outcome {
	long long rc;
	int err;
	long type;
	char text[32];
};

enum act { ACT_SEND, ACT_RECV, ACT_SIGNAL, ACT_SIGNAL_RESTART, ACT_RMID, ACT_STOP_SEND };

/*
 * One scenario on system @w: the queue holds @prefill messages (types 1..);
 * a child blocks in msgrcv(@msgtyp) (or, with @child_sends, msgsnd on a
 * full queue); the parent acts once it sleeps; the child reports.
 */
static struct outcome
scenario(int w, int child_sends, long msgtyp, enum act act)
{
	const struct sys *s = systems[w];
	int id = new_queue(w);
	int pfd[2];
	struct mbuf m;
	ASSERT_SYS(pipe(pfd));
	if (child_sends) {
		struct msqid_ds ds;
		ASSERT_SYS(s->ctl(id, IPC_STAT, &ds));
		ds.msg_qbytes = 64;
		ASSERT_SYS(s->ctl(id, IPC_SET, &ds));
		m.mtype = 1;
		memset(m.mtext, 'f', 64);
		ASSERT_SYS(s->snd(id, &m, 64, IPC_NOWAIT));
	}
	pid_t pid = th_fork();
	if (pid == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr1;
		/* msgsnd and msgrcv are never restarted, SA_RESTART or not. */
		sa.sa_flags = act == ACT_SIGNAL_RESTART ? SA_RESTART : 0;
		sigaction(SIGUSR1, &sa, NULL);
		struct outcome o;
		memset(&o, 0, sizeof(o));
		errno = 0;
		if (child_sends) {
			m.mtype = 7;
			memcpy(m.mtext, "from-child", 10);
			o.rc = s->snd(id, &m, 10, 0);
		} else {
			o.rc = s->rcv(id, &m, sizeof(o.text), msgtyp, 0);
			if (o.rc >= 0) {
				o.type = m.mtype;
				memcpy(o.text, m.mtext, (size_t)o.rc);
			}
		}
		o.err = o.rc < 0 ? errno : 0;
		th_write_all(pfd[1], &o, sizeof(o));
		th_exit(0);
	}
	wait_sleeping(pid);
	if (act == ACT_STOP_SEND) {
		/* Stopped and continued without a handler: the kernel restarts
		 * the wait, and the child still gets its message. */
		ASSERT_SYS(kill(pid, SIGSTOP));
		th_sleep_ms(50);
		ASSERT_SYS(kill(pid, SIGCONT));
		wait_sleeping(pid);
		act = ACT_SEND;
	}
	switch (act) {
	case ACT_SEND:
		/* A message the child does not select, then one it does. */
		m.mtype = msgtyp > 0 ? msgtyp + 1 : 9;
		memcpy(m.mtext, "not-this", 8);
		ASSERT_SYS(s->snd(id, &m, 8, IPC_NOWAIT));
		m.mtype = msgtyp > 0 ? msgtyp : 2;
		memcpy(m.mtext, "this-one", 8);
		ASSERT_SYS(s->snd(id, &m, 8, IPC_NOWAIT));
		break;
	case ACT_RECV:
		ASSERT_EQ(s->rcv(id, &m, 64, 0, IPC_NOWAIT), 64);
		break;
	case ACT_SIGNAL:
	case ACT_SIGNAL_RESTART:
		ASSERT_SYS(kill(pid, SIGUSR1));
		break;
	case ACT_RMID:
		ASSERT_SYS(s->ctl(id, IPC_RMID, NULL));
		break;
	default:
		break;
	}
	struct outcome o;
	ASSERT_SYS(th_read_all(pfd[0], &o, sizeof(o)));
	ASSERT_EXIT(th_wait(pid), 0);
	close(pfd[0]);
	close(pfd[1]);
	if (act != ACT_RMID) {
		if (act == ACT_SEND || act == ACT_RECV) {
			/* What is left: the other message, or the child's. */
			memset(&m, 0, sizeof(m));
			long long r = s->rcv(id, &m, sizeof(m.mtext), 0, IPC_NOWAIT);
			ASSERT_GE(r, 0);
			ASSERT_EQ(m.mtype, act == ACT_SEND ? (msgtyp > 0 ? msgtyp + 1 : 9) : 7);
		}
		ASSERT_SYS(s->ctl(id, IPC_RMID, NULL));
	}
	return o;
}

static void
compare_scenario(const char *name, int child_sends, long msgtyp, enum act act)
{
	struct outcome o[2];
	for (int w = 0; w < 2; w++) {
		o[w] = scenario(w, child_sends, msgtyp, act);
	}
	if (o[0].rc != o[1].rc || o[0].err != o[1].err || o[0].type != o[1].type ||
	    memcmp(o[0].text, o[1].text, sizeof(o[0].text)) != 0) {
		th_fail(__FILE__, __LINE__,
			"%s: kernel rc %lld errno %d type %ld; shmkit rc %lld errno %d type %ld",
			name, o[0].rc, o[0].err, o[0].type, o[1].rc, o[1].err, o[1].type);
	}
}

static void
body_blocked(void)
{
	compare_scenario("recv type 5 woken by send", 0, 5, ACT_SEND);
	compare_scenario("recv type -3 woken by send", 0, -3, ACT_SEND);
	compare_scenario("send on a full queue woken by recv", 1, 0, ACT_RECV);
	compare_scenario("blocked recv, EINTR", 0, 0, ACT_SIGNAL);
	compare_scenario("blocked send, EINTR", 1, 0, ACT_SIGNAL);
	compare_scenario("blocked recv, SA_RESTART, EINTR", 0, 3, ACT_SIGNAL_RESTART);
	compare_scenario("blocked recv stopped and continued, then a send", 0, 4, ACT_STOP_SEND);
	compare_scenario("blocked send, SA_RESTART, EINTR", 1, 0, ACT_SIGNAL_RESTART);
	compare_scenario("blocked recv, EIDRM", 0, 0, ACT_RMID);
	compare_scenario("blocked send, EIDRM", 1, 0, ACT_RMID);
}

TEST_TIMEOUT(blocked_callers, 120)
{
	run_worker(body_blocked);
}

/* After IPC_RMID, the old id is unknown: EINVAL on every call. */
static void
body_removed(void)
{
	for (int w = 0; w < 2; w++) {
		const struct sys *s = systems[w];
		struct mbuf m = {.mtype = 1};
		int id = new_queue(w);
		ASSERT_SYS(s->ctl(id, IPC_RMID, NULL));
		errno = 0;
		ASSERT_EQ(s->snd(id, &m, 1, 0), -1);
		ASSERT_EQ(errno, EINVAL);
		errno = 0;
		ASSERT_EQ(s->rcv(id, &m, 1, 0, 0), -1);
		ASSERT_EQ(errno, EINVAL);
		errno = 0;
		ASSERT_EQ(s->ctl(id, IPC_RMID, NULL), -1);
		ASSERT_EQ(errno, EINVAL);
	}
}

TEST(removed_id_is_einval)
{
	run_worker(body_removed);
}

/* Keys: IPC_CREAT, IPC_EXCL, ENOENT, and the same id for the same key. */
static void
body_keys(void)
{
	key_t key = (key_t)(0x5e000000 | (getpid() & 0xffffff));
	for (int w = 0; w < 2; w++) {
		const struct sys *s = systems[w];
		errno = 0;
		ASSERT_EQ(s->get(key, 0600), -1);
		ASSERT_EQ(errno, ENOENT);
		int id = s->get(key, IPC_CREAT | IPC_EXCL | 0640);
		ASSERT_SYS(id);
		sh->q[sh->n].sys = w;
		sh->q[sh->n].id = id;
		sh->n++;
		ASSERT_EQ(s->get(key, 0600), id);
		ASSERT_EQ(s->get(key, IPC_CREAT | 0600), id);
		errno = 0;
		ASSERT_EQ(s->get(key, IPC_CREAT | IPC_EXCL | 0600), -1);
		ASSERT_EQ(errno, EEXIST);
		struct msqid_ds ds;
		ASSERT_SYS(s->ctl(id, IPC_STAT, &ds));
		ASSERT_EQ(ds.msg_perm.__key, key);
		ASSERT_EQ(ds.msg_perm.mode & 0777, 0640);
		ASSERT_EQ(ds.msg_qbytes, 16384);
		ASSERT_SYS(s->ctl(id, IPC_RMID, NULL));
		errno = 0;
		ASSERT_EQ(s->get(key, 0600), -1);
		ASSERT_EQ(errno, ENOENT);
	}
	/* IPC_INFO's limits are the kernel's. */
	struct msginfo ki, si;
	memset(&ki, 0, sizeof(ki));
	memset(&si, 0, sizeof(si));
	ASSERT_SYS(msgctl(0, IPC_INFO, (struct msqid_ds *)(void *)&ki));
	ASSERT_SYS(shmkit_msgctl(0, IPC_INFO, (struct msqid_ds *)(void *)&si));
	ASSERT_EQ(si.msgmax, ki.msgmax);
	ASSERT_EQ(si.msgmnb, ki.msgmnb);
	ASSERT_EQ(si.msgmni, ki.msgmni);
	ASSERT_EQ(si.msgssz, ki.msgssz);
	ASSERT_EQ(si.msgseg, ki.msgseg);
	ASSERT_EQ(si.msgpool, ki.msgpool);
	ASSERT_EQ(si.msgmap, ki.msgmap);
	ASSERT_EQ(si.msgtql, ki.msgtql);
	/* A process that did not inherit anything finds a keyed queue. */
	int kid = shmkit_msgget(key, IPC_CREAT | 0600);
	ASSERT_SYS(kid);
	sh->q[sh->n].sys = 1;
	sh->q[sh->n].id = kid;
	sh->n++;
	char karg[32];
	snprintf(karg, sizeof(karg), "%d", (int)key);
	pid_t peer = th_spawn("keyed_peer", karg, NULL);
	struct mbuf pm = {.mtype = 4};
	memcpy(pm.mtext, "hello", 5);
	ASSERT_SYS(shmkit_msgsnd(kid, &pm, 5, 0));
	ASSERT_EXIT(th_wait(peer), 0);
	ASSERT_EQ(shmkit_msgrcv(kid, &pm, sizeof(pm.mtext), 0, IPC_NOWAIT), 5);
	ASSERT_EQ(pm.mtype, 5);
	ASSERT_SYS(shmkit_msgctl(kid, IPC_RMID, NULL));
	/* MSG_STAT by index gives the id back. */
	int id = new_queue(1);
	struct msginfo mi;
	int maxidx = shmkit_msgctl(0, IPC_INFO, (struct msqid_ds *)(void *)&mi);
	ASSERT_GE(maxidx, id % 32768);
	ASSERT_EQ(mi.msgmnb, 16384);
	struct msqid_ds ds;
	ASSERT_EQ(shmkit_msgctl(id % 32768, MSG_STAT, &ds), id);
	ASSERT_EQ(shmkit_msgctl(id % 32768, MSG_STAT_ANY, &ds), id);
}

/* Re-executed: open the queue of key argv[1], take one message, answer. */
CHILD(keyed_peer)
{
	key_t key = (key_t)atoi(argv[1]);
	int id = shmkit_msgget(key, 0);
	if (id < 0) {
		return 2;
	}
	struct mbuf m;
	ssize_t n = shmkit_msgrcv(id, &m, sizeof(m.mtext), 4, 0);
	if (n != 5 || memcmp(m.mtext, "hello", 5) != 0) {
		return 3;
	}
	m.mtype = 5;
	return shmkit_msgsnd(id, &m, 5, 0) == 0 ? 0 : 4;
}

TEST(keys_and_stat)
{
	run_worker(body_keys);
}

/* ---- part 3: SIGKILLed senders ---- */

#define KILL_SENDERS 3
#define KILL_MSGS    100000

static void
killed_senders(int w)
{
	const struct sys *s = systems[w];
	int id = new_queue(w);
	struct msqid_ds ds;
	ASSERT_SYS(s->ctl(id, IPC_STAT, &ds));
	ds.msg_qbytes = 256; /* senders block often */
	ASSERT_SYS(s->ctl(id, IPC_SET, &ds));
	pid_t pids[KILL_SENDERS];
	for (int c = 0; c < KILL_SENDERS; c++) {
		pids[c] = th_fork();
		if (pids[c] == 0) {
			struct mbuf m;
			for (uint32_t seq = 0; seq < KILL_MSGS; seq++) {
				m.mtype = c + 1;
				memcpy(m.mtext, &seq, sizeof(seq));
				uint32_t crc = th_crc32(&seq, sizeof(seq)) ^ (uint32_t)c;
				memcpy(m.mtext + 4, &crc, sizeof(crc));
				if (s->snd(id, &m, 8, 0) != 0) {
					th_exit(2);
				}
			}
			th_exit(0);
		}
	}
	uint32_t next[KILL_SENDERS] = {0};
	int killed = 0;
	long received = 0;
	rng_state = (uint64_t)getpid();
	while (killed < KILL_SENDERS) {
		struct mbuf m;
		ssize_t r = s->rcv(id, &m, sizeof(m.mtext), 0, 0);
		ASSERT_EQ(r, 8);
		int c = (int)m.mtype - 1;
		ASSERT_TRUE(c >= 0 && c < KILL_SENDERS);
		uint32_t seq, crc;
		memcpy(&seq, m.mtext, 4);
		memcpy(&crc, m.mtext + 4, 4);
		ASSERT_EQ(crc, th_crc32(&seq, sizeof(seq)) ^ (uint32_t)c);
		/* Exactly once, in order: each sender's next number. */
		ASSERT_EQ(seq, next[c]);
		next[c]++;
		received++;
		if (received % 2000 == 0 || rn(3000) == 0) {
			if (pids[killed] > 0) {
				kill(pids[killed], SIGKILL);
				th_wait(pids[killed]);
				pids[killed] = 0;
				killed++;
			}
		}
	}
	/* Drain what the dead committed: still in order, nothing after. */
	for (;;) {
		struct mbuf m;
		ssize_t r = s->rcv(id, &m, sizeof(m.mtext), 0, IPC_NOWAIT);
		if (r < 0) {
			ASSERT_EQ(errno, ENOMSG);
			break;
		}
		int c = (int)m.mtype - 1;
		uint32_t seq;
		memcpy(&seq, m.mtext, 4);
		ASSERT_EQ(seq, next[c]);
		next[c]++;
	}
	ASSERT_SYS(s->ctl(id, IPC_STAT, &ds));
	ASSERT_EQ(ds.msg_qnum, 0);
	ASSERT_EQ(ds.msg_cbytes, 0);
	/* The queue still works at full capacity. */
	struct mbuf m = {.mtype = 1};
	for (int i = 0; i < 32; i++) {
		ASSERT_SYS(s->snd(id, &m, 8, IPC_NOWAIT));
	}
	errno = 0;
	ASSERT_EQ(s->snd(id, &m, 8, IPC_NOWAIT), -1);
	ASSERT_EQ(errno, EAGAIN);
	ASSERT_SYS(s->ctl(id, IPC_RMID, NULL));
}

static void
body_killed(void)
{
	for (int round = 0; round < 5; round++) {
		for (int w = 0; w < 2; w++) {
			th_context("%s round %d", systems[w]->name, round);
			killed_senders(w);
		}
	}
}

TEST_TIMEOUT(sigkilled_senders_exactly_once, 240)
{
	run_worker(body_killed);
}

/* The kernel counts messages against msg_qbytes too: empty messages fill a
 * queue after msg_qbytes of them, also after IPC_SET lowered it. */
static void
body_count_limit(void)
{
	for (long qb = 16384; qb >= 5; qb = qb > 100 ? 100 : qb / 4) {
		int n[2];
		for (int w = 0; w < 2; w++) {
			const struct sys *s = systems[w];
			int id = new_queue(w);
			struct msqid_ds ds;
			ASSERT_SYS(s->ctl(id, IPC_STAT, &ds));
			ds.msg_qbytes = (msglen_t)qb;
			ASSERT_SYS(s->ctl(id, IPC_SET, &ds));
			struct mbuf m = {.mtype = 1};
			n[w] = 0;
			while (n[w] < 20000 && s->snd(id, &m, 0, IPC_NOWAIT) == 0) {
				n[w]++;
			}
			ASSERT_SYS(s->ctl(id, IPC_RMID, NULL));
		}
		/* The kernel's rule must hold (shmkit's SHMKIT_MSGMAXCOUNT is
		 * above any count msgmnb's default allows). */
		int want = n[0] < SHMKIT_MSGMAXCOUNT ? n[0] : SHMKIT_MSGMAXCOUNT;
		if (n[1] != want) {
			th_fail(__FILE__, __LINE__,
				"msg_qbytes %ld: empty messages accepted: kernel %d, shmkit %d "
				"(expected %d)",
				qb, n[0], n[1], want);
		}
	}
}

TEST(count_limit_is_msg_qbytes)
{
	run_worker(body_count_limit);
}

/* Odd arguments, each compared with the kernel's answer. */
static void
body_edge_args(void)
{
	int id[2];
	for (int w = 0; w < 2; w++) {
		id[w] = new_queue(w);
	}
	check_copy_support();
	for (int c = 0; c < 18; c++) {
		long long rc[2];
		int er[2];
		if (!copy_supported && c >= 11 && c <= 15) {
			continue; /* the kernel's MSG_COPY is ENOSYS */
		}
		for (int w = 0; w < 2; w++) {
			const struct sys *s = systems[w];
			struct mbuf m = {.mtype = 2};
			struct msqid_ds ds;
			memcpy(m.mtext, "abcdef", 6);
			errno = 0;
			switch (c) {
			case 0:
				rc[w] = s->snd(id[w], &m, SIZE_MAX, IPC_NOWAIT);
				break;
			case 1:
				rc[w] = s->rcv(id[w], &m, SIZE_MAX, 0, IPC_NOWAIT);
				break;
			case 2:
				rc[w] = s->snd(-1, &m, 1, IPC_NOWAIT);
				break;
			case 3:
				rc[w] = s->rcv(-1, &m, 1, 0, IPC_NOWAIT);
				break;
			case 4:
				rc[w] = s->ctl(-1, IPC_STAT, &ds);
				break;
			case 5:
				rc[w] = s->ctl(id[w], 99, &ds);
				break;
			case 6:
				rc[w] = s->ctl(id[w], IPC_STAT, NULL);
				break;
			case 7:
				rc[w] = s->ctl(id[w], IPC_SET, NULL);
				break;
			case 8:
				rc[w] = s->snd(id[w] + 1, &m, 1, IPC_NOWAIT);
				break;
			case 9:
				rc[w] = s->snd(id[w], NULL, 0, IPC_NOWAIT);
				break;
			case 10:
				rc[w] = s->snd(id[w], &m, 6, IPC_NOWAIT);
				break;
			case 11:
				rc[w] = s->rcv(id[w], NULL, 0, 0, IPC_NOWAIT | MSG_COPY);
				break;
			case 12:
				rc[w] = s->rcv(id[w], &m, 6, 0, MSG_COPY | MSG_EXCEPT | IPC_NOWAIT);
				break;
			case 13:
				rc[w] = s->rcv(id[w], &m, 3, 0,
					       MSG_COPY | MSG_NOERROR | IPC_NOWAIT);
				break;
			case 14:
				rc[w] = s->rcv(id[w], &m, 3, 0, MSG_COPY | IPC_NOWAIT);
				break;
			case 15:
				rc[w] = s->rcv(id[w], &m, 6, 1, MSG_COPY | IPC_NOWAIT);
				break;
			case 16:
				rc[w] = s->rcv(id[w], &m, 6, 0, MSG_EXCEPT | IPC_NOWAIT);
				break;
			default:
				rc[w] = s->rcv(id[w], &m, 6, -2, IPC_NOWAIT);
				break;
			}
			er[w] = rc[w] < 0 ? errno : 0;
		}
		if (rc[0] != rc[1] || er[0] != er[1]) {
			char what[32];
			snprintf(what, sizeof(what), "edge case %d", c);
			diverge(0, c, what, rc[0], er[0], rc[1], er[1]);
		}
	}
}

TEST(edge_arguments)
{
	run_worker(body_edge_args);
}

/* ---- part 4: another uid ---- */

/*
 * Root makes a queue with a key and a mode and puts one message in it; then
 * a process with uid 65534 calls everything on it, once on each system, and
 * every answer is compared. Who that process is to the queue:
 *  - other: gid 65534, no supplementary groups;
 *  - group (creator's gid): gid 0, the queue's cgid and gid;
 *  - group (gid by IPC_SET): root set msg_perm.gid to 65534, the process's
 *    gid, which is not the cgid;
 *  - owner: root set msg_perm.uid to 65534, so the process is the owner but
 *    not the creator (IPC_SET and IPC_RMID are allowed, and the owner's
 *    mode bits apply).
 * And how it came to be:
 *  - fresh: a process of its own (the test binary re-executed) that drops
 *    its privileges before its first call, so it finds the queue by key and
 *    by id with nothing inherited;
 *  - forked: a root process finds the queue by key and reads it with
 *    IPC_STAT, then forks a child that drops its privileges, tells shmkit
 *    its credentials changed, and makes the calls.
 * Ids are compared as "the queue's id" or not; IPC_INFO and MSG_INFO as
 * "at least the queue's index" (the kernel's highest index also counts
 * queues of others). MSG_STAT and MSG_STAT_ANY get the queue's index, found
 * by root as the kernel expects it: the index, at most IPC_INFO's highest
 * one, whose MSG_STAT gives the id.
 *
 * The process reports each answer as soon as it has it, so one that dies
 * (its exit is compared too) still shows where. Every divergence is listed,
 * then the case fails unless each one is in known_perm[].
 */

#define NOBODY 65534

enum perm_who { WHO_OTHER, WHO_GROUP_CREATOR, WHO_GROUP_SET, WHO_OWNER, WHO_N };

static const char *const who_names[WHO_N] = {"other", "group (creator's gid)",
					     "group (gid by IPC_SET)", "owner, not creator"};

enum perm_proc { PROC_FRESH, PROC_FORKED, PROC_N };

static const char *const proc_names[PROC_N] = {"fresh", "forked"};

enum perm_step {
	PS_GET_0,
	PS_GET_R,
	PS_GET_W,
	PS_GET_RW,
	PS_GET_CREAT,
	PS_IPC_INFO,
	PS_MSG_INFO,
	PS_STAT,
	PS_STAT_MODE,
	PS_STAT_UID,
	PS_STAT_GID,
	PS_STAT_CUID,
	PS_STAT_CGID,
	PS_STAT_QNUM,
	PS_MSG_STAT,
	PS_MSG_STAT_ANY,
	PS_RCV,
	PS_RCV_TYPE,
	PS_SND,
	PS_SET,
	PS_STAT_AFTER_SET,
	PS_RMID,
	PS_GET_AFTER_RMID,
	/* Observed by the test once the process ended. */
	PS_EXIT,
	PS_ROOT_STAT,
	PS_ROOT_MODE,
	PS_ROOT_UID,
	PS_ROOT_QNUM,
	PS_ROOT_RMID,
	PS_ROOT_GET,
	PS_LEFT,
	PS_N
};

static const char *const step_names[PS_N] = {
	"msgget(key, 0)",
	"msgget(key, 0400)",
	"msgget(key, 0200)",
	"msgget(key, 0600)",
	"msgget(key, IPC_CREAT | 0600)",
	"msgctl(IPC_INFO) (0: at least the index)",
	"msgctl(MSG_INFO) (0: at least the index)",
	"msgctl(IPC_STAT)",
	"IPC_STAT msg_perm.mode",
	"IPC_STAT msg_perm.uid",
	"IPC_STAT msg_perm.gid",
	"IPC_STAT msg_perm.cuid",
	"IPC_STAT msg_perm.cgid",
	"IPC_STAT msg_qnum",
	"msgctl(index, MSG_STAT) (0: the id)",
	"msgctl(index, MSG_STAT_ANY) (0: the id)",
	"msgrcv(msgtyp 0, IPC_NOWAIT)",
	"msgrcv's mtype",
	"msgsnd(IPC_NOWAIT)",
	"msgctl(IPC_SET mode 0666)",
	"msgctl(IPC_STAT) after IPC_SET (its mode)",
	"msgctl(IPC_RMID)",
	"msgget(key, 0) after IPC_RMID",
	"the process's exit status (128 + signal if killed)",
	"root's IPC_STAT afterwards",
	"root's IPC_STAT msg_perm.mode",
	"root's IPC_STAT msg_perm.uid",
	"root's IPC_STAT msg_qnum",
	"root's IPC_RMID (if IPC_STAT found the queue)",
	"root's msgget(key, 0) at the end",
	"names of the queue left in /dev/shm at the end",
};

/* The call a step's value was read from: a value is not compared when its
 * call already diverged (it is then "n/a" on one side). */
static int
step_parent(int st)
{
	if (st >= PS_STAT_MODE && st <= PS_STAT_QNUM) {
		return PS_STAT;
	}
	if (st == PS_RCV_TYPE) {
		return PS_RCV;
	}
	if (st >= PS_ROOT_MODE && st <= PS_ROOT_QNUM) {
		return PS_ROOT_STAT;
	}
	return st;
}

/* An answer: rc >= 0; -1 with errno; -1 with errno 0 (not applicable);
 * PRES_NONE: never reported (the process died before). */
struct pres {
	long long rc;
	int err;
};

#define PRES_NONE (-3LL)

struct perm_rec {
	int step;
	struct pres p;
};

struct perm_args {
	int w, proc, id, idx;
	key_t key;
	uid_t uid;
	gid_t gid;
	long keep_uid, keep_gid, qbytes;
	int fd;
};

static int stat_any_supported = 1;
static int rec_fd = -1; /* the helper's report pipe */

/* Report r[@step] to the test (in the helper). */
static void
emit(const struct pres *r, int step)
{
	struct perm_rec m;

	memset(&m, 0, sizeof(m));
	m.step = step;
	m.p = r[step];
	if (rec_fd >= 0 && th_write_all(rec_fd, &m, sizeof(m)) != 0) {
		th_exit(5);
	}
}

/* Record @rc and, when it is -1, errno (read before anything else runs). */
static void
put(struct pres *r, int step, long long rc)
{
	r[step].err = rc == -1 ? errno : 0;
	r[step].rc = rc;
	emit(r, step);
}

/* An id: 0 if it is @id, 1 if another, else -1 and errno. */
static void
put_id(struct pres *r, int step, long long rc, int id)
{
	r[step].err = rc == -1 ? errno : 0;
	r[step].rc = rc >= 0 ? (rc == id ? 0 : 1) : rc;
	emit(r, step);
}

/* A highest index: 0 if at least @idx, 1 if lower, else -1 and errno. */
static void
put_idx(struct pres *r, int step, long long rc, int idx)
{
	r[step].err = rc == -1 ? errno : 0;
	r[step].rc = rc >= 0 ? (rc >= idx ? 0 : 1) : rc;
	emit(r, step);
}

/* A value read when @ok, else "not applicable". */
static void
put_val(struct pres *r, int step, int ok, long long v)
{
	r[step].rc = ok ? v : -1;
	r[step].err = 0;
	emit(r, step);
}

/* Every call of the list, as the process with uid 65534. */
static void
perm_steps(const struct perm_args *a, struct pres *r)
{
	const struct sys *s = systems[a->w];
	struct msqid_ds ds;
	struct msginfo mi;
	struct mbuf m;
	long long rc;
	static const int get_flags[] = {0, 0400, 0200, 0600, IPC_CREAT | 0600};

	for (int i = 0; i < 5; i++) {
		errno = 0;
		rc = s->get(a->key, get_flags[i]);
		put_id(r, PS_GET_0 + i, rc, a->id);
	}
	errno = 0;
	rc = s->ctl(0, IPC_INFO, (struct msqid_ds *)(void *)&mi);
	put_idx(r, PS_IPC_INFO, rc, a->idx);
	errno = 0;
	rc = s->ctl(0, MSG_INFO, (struct msqid_ds *)(void *)&mi);
	put_idx(r, PS_MSG_INFO, rc, a->idx);

	memset(&ds, 0, sizeof(ds));
	errno = 0;
	rc = s->ctl(a->id, IPC_STAT, &ds);
	put(r, PS_STAT, rc);
	put_val(r, PS_STAT_MODE, rc == 0, ds.msg_perm.mode & 0777);
	put_val(r, PS_STAT_UID, rc == 0, ds.msg_perm.uid);
	put_val(r, PS_STAT_GID, rc == 0, ds.msg_perm.gid);
	put_val(r, PS_STAT_CUID, rc == 0, ds.msg_perm.cuid);
	put_val(r, PS_STAT_CGID, rc == 0, ds.msg_perm.cgid);
	put_val(r, PS_STAT_QNUM, rc == 0, (long long)ds.msg_qnum);
	errno = 0;
	rc = s->ctl(a->idx, MSG_STAT, &ds);
	put_id(r, PS_MSG_STAT, rc, a->id);
	errno = 0;
	rc = stat_any_supported ? s->ctl(a->idx, MSG_STAT_ANY, &ds) : 0;
	put_id(r, PS_MSG_STAT_ANY, rc, stat_any_supported ? a->id : 0);

	/* The queue holds root's message only. */
	memset(&m, 0, sizeof(m));
	errno = 0;
	rc = s->rcv(a->id, &m, sizeof(m.mtext), 0, IPC_NOWAIT);
	put(r, PS_RCV, rc);
	/* Another text than root's is always a divergence (-2). */
	put_val(r, PS_RCV_TYPE, rc >= 0,
		rc == 9 && memcmp(m.mtext, "from-root", 9) == 0 ? m.mtype : -2);
	m.mtype = 5;
	memcpy(m.mtext, "from-nobody", 11);
	errno = 0;
	rc = s->snd(a->id, &m, 11, IPC_NOWAIT);
	put(r, PS_SND, rc);

	/* A mode change that keeps the owner, the group and the limit. */
	memset(&ds, 0, sizeof(ds));
	ds.msg_perm.uid = (uid_t)a->keep_uid;
	ds.msg_perm.gid = (gid_t)a->keep_gid;
	ds.msg_perm.mode = 0666;
	ds.msg_qbytes = (msglen_t)a->qbytes;
	errno = 0;
	rc = s->ctl(a->id, IPC_SET, &ds);
	put(r, PS_SET, rc);
	memset(&ds, 0, sizeof(ds));
	errno = 0;
	rc = s->ctl(a->id, IPC_STAT, &ds);
	put(r, PS_STAT_AFTER_SET, rc == 0 ? (long long)(ds.msg_perm.mode & 0777) : rc);
	errno = 0;
	rc = s->ctl(a->id, IPC_RMID, NULL);
	put(r, PS_RMID, rc);
	errno = 0;
	rc = s->get(a->key, 0);
	put_id(r, PS_GET_AFTER_RMID, rc, a->id);
}

/* Drop to uid 65534 (and the gid asked for), make the calls. */
static int
perm_run(const struct perm_args *a)
{
	struct pres r[PS_N];

	memset(r, 0, sizeof(r));
	if (setgroups(0, NULL) != 0 || setgid(a->gid) != 0 || setuid(a->uid) != 0) {
		th_log("dropping privileges: %s", strerror(errno));
		return 4;
	}
	if (geteuid() != a->uid || getegid() != a->gid || getgroups(0, NULL) != 0) {
		return 4;
	}
	/* What the drop-in needs after the credentials changed. */
	shmkit__queue_creds_changed();
	rec_fd = a->fd;
	perm_steps(a, r);
	return 0;
}

/* Re-executed: argv is system, process kind, key, id, index, uid, gid, the
 * owner and group to keep in IPC_SET, msg_qbytes, the report pipe, whether
 * to call MSG_STAT_ANY. */
CHILD(perm_helper)
{
	struct perm_args a;

	if (argc != 13) {
		return 2;
	}
	a.w = atoi(argv[1]);
	a.proc = atoi(argv[2]);
	a.key = (key_t)strtoul(argv[3], NULL, 0);
	a.id = atoi(argv[4]);
	a.idx = atoi(argv[5]);
	a.uid = (uid_t)atol(argv[6]);
	a.gid = (gid_t)atol(argv[7]);
	a.keep_uid = atol(argv[8]);
	a.keep_gid = atol(argv[9]);
	a.qbytes = atol(argv[10]);
	a.fd = atoi(argv[11]);
	stat_any_supported = atoi(argv[12]);
	if (a.w < 0 || a.w > 1) {
		return 2;
	}
	if (a.proc == PROC_FRESH) {
		return perm_run(&a);
	}
	/* A root process that uses the queue, then forks the one that drops
	 * its privileges. */
	const struct sys *s = systems[a.w];
	struct msqid_ds ds;
	if (s->get(a.key, 0) != a.id || s->ctl(a.id, IPC_STAT, &ds) != 0) {
		th_log("root could not use the queue: %s", strerror(errno));
		return 3;
	}
	pid_t pid = th_fork();
	if (pid == 0) {
		th_exit(perm_run(&a));
	}
	int st = th_wait(pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Make the queue on system @w for one case; fill @a; return the id. */
static int
perm_setup(int w, int mode, enum perm_who who, struct perm_args *a)
{
	const struct sys *s = systems[w];
	static unsigned next;
	struct msqid_ds ds;
	struct msginfo mi;
	int id = -1;

	for (int tries = 0; tries < 4096 && id < 0; tries++) {
		a->key = (key_t)(0x6d000000 | ((unsigned)(getpid() & 0xfff) << 12) |
				 (next++ & 0xfff));
		errno = 0;
		id = s->get(a->key, IPC_CREAT | IPC_EXCL | mode);
		if (id < 0 && errno != EEXIST) {
			ASSERT_SYS(id);
		}
	}
	ASSERT_SYS(id);
	ASSERT_LT(sh->n, MAX_QUEUES);
	ASSERT_LT(sh->nkeys, MAX_QUEUES);
	sh->q[sh->n].sys = w;
	sh->q[sh->n].id = id;
	sh->n++;
	sh->keys[sh->nkeys++] = a->key;
	struct mbuf m = {.mtype = 3};
	memcpy(m.mtext, "from-root", 9);
	ASSERT_SYS(s->snd(id, &m, 9, IPC_NOWAIT));
	ASSERT_SYS(s->ctl(id, IPC_STAT, &ds));
	if (who == WHO_OWNER || who == WHO_GROUP_SET) {
		if (who == WHO_OWNER) {
			ds.msg_perm.uid = NOBODY;
		} else {
			ds.msg_perm.gid = NOBODY;
		}
		ASSERT_SYS(s->ctl(id, IPC_SET, &ds));
		ASSERT_SYS(s->ctl(id, IPC_STAT, &ds));
	}
	ASSERT_EQ(ds.msg_perm.mode & 0777, mode);
	a->w = w;
	a->id = id;
	a->keep_uid = (long)ds.msg_perm.uid;
	a->keep_gid = (long)ds.msg_perm.gid;
	a->qbytes = (long)ds.msg_qbytes;
	a->uid = NOBODY;
	a->gid = who == WHO_GROUP_CREATOR ? ds.msg_perm.cgid : NOBODY;
	/* The index, as a caller of the kernel's MSG_STAT finds it. */
	int max = s->ctl(0, IPC_INFO, (struct msqid_ds *)(void *)&mi);
	ASSERT_SYS(max);
	a->idx = -1;
	for (int i = 0; i <= max && a->idx < 0; i++) {
		if (s->ctl(i, MSG_STAT, &ds) == id) {
			a->idx = i;
		}
	}
	ASSERT_GE(a->idx, 0);
	return id;
}

/* One case on system @w: the answers of the process with uid 65534, then
 * what root sees. The queue is gone, names and all, when this returns. */
static void
perm_case_on(int w, int mode, enum perm_who who, enum perm_proc proc, struct pres *r)
{
	const struct sys *s = systems[w];
	struct perm_args a;
	struct perm_rec m;
	char v[12][32];
	char *args[13];
	int pfd[2];

	memset(&a, 0, sizeof(a));
	int id = perm_setup(w, mode, who, &a);
	ASSERT_SYS(pipe(pfd));
	snprintf(v[0], sizeof(v[0]), "%d", w);
	snprintf(v[1], sizeof(v[1]), "%d", (int)proc);
	snprintf(v[2], sizeof(v[2]), "0x%x", (unsigned)a.key);
	snprintf(v[3], sizeof(v[3]), "%d", id);
	snprintf(v[4], sizeof(v[4]), "%d", a.idx);
	snprintf(v[5], sizeof(v[5]), "%ld", (long)a.uid);
	snprintf(v[6], sizeof(v[6]), "%ld", (long)a.gid);
	snprintf(v[7], sizeof(v[7]), "%ld", a.keep_uid);
	snprintf(v[8], sizeof(v[8]), "%ld", a.keep_gid);
	snprintf(v[9], sizeof(v[9]), "%ld", a.qbytes);
	snprintf(v[10], sizeof(v[10]), "%d", pfd[1]);
	snprintf(v[11], sizeof(v[11]), "%d", stat_any_supported);
	for (int i = 0; i < 12; i++) {
		args[i] = v[i];
	}
	args[12] = NULL;
	for (int i = 0; i < PS_N; i++) {
		r[i].rc = PRES_NONE;
		r[i].err = 0;
	}
	pid_t pid = th_spawnv(NULL, NULL, "perm_helper", args);
	close(pfd[1]);
	while (th_read_all(pfd[0], &m, sizeof(m)) == 0) {
		ASSERT_TRUE(m.step >= 0 && m.step < PS_EXIT);
		r[m.step] = m.p;
	}
	close(pfd[0]);
	int st = th_wait(pid);
	r[PS_EXIT].rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);

	struct msqid_ds ds;
	memset(&ds, 0, sizeof(ds));
	errno = 0;
	long long rc = s->ctl(id, IPC_STAT, &ds);
	r[PS_ROOT_STAT] = (struct pres){rc, rc == -1 ? errno : 0};
	r[PS_ROOT_MODE].rc = rc == 0 ? (long long)(ds.msg_perm.mode & 0777) : -1;
	r[PS_ROOT_UID].rc = rc == 0 ? (long long)ds.msg_perm.uid : -1;
	r[PS_ROOT_QNUM].rc = rc == 0 ? (long long)ds.msg_qnum : -1;
	errno = 0;
	rc = r[PS_ROOT_STAT].rc == 0 ? s->ctl(id, IPC_RMID, NULL) : -1;
	r[PS_ROOT_RMID] = (struct pres){rc, rc == -1 ? errno : 0};
	errno = 0;
	rc = s->get(a.key, 0);
	r[PS_ROOT_GET] = (struct pres){rc >= 0 ? (rc == id ? 0 : 1) : rc, rc == -1 ? errno : 0};
	if (rc >= 0) {
		s->ctl((int)rc, IPC_RMID, NULL);
	}
	/* What shmkit left in /dev/shm of this queue (the kernel: nothing). */
	r[PS_LEFT].rc = 0;
	if (w == 1) {
		int n = 0;
		unlink_names_of(id, &n);
		n += key_link_names(a.key, id);
		r[PS_LEFT].rc = n;
		unlink_names_of(id, NULL);
		if (key_link_names(a.key, id)) {
			char path[PATH_MAX];
			snprintf(path, sizeof(path),
				 SHMKIT_POSIX_DIR "/" SHMKIT_POSIX_PREFIX "msqkey.0x%08x",
				 (unsigned)a.key);
			unlink(path);
		}
	}
}

/*
 * Divergences accepted because include/shmkit/sysv.h documents them, each
 * for exactly one mode, kind of process, history and step, with exactly the
 * two answers given; anything else fails the case. One is documented:
 * MSG_STAT_ANY by a user to whom the queue's mode grants nothing (its file
 * then refuses that user) gives EACCES where the kernel answers.
 */
static const struct known_perm {
	int mode, who, proc, step;
	struct pres kernel, shmkit;
} known_perm[] = {
	{0600, WHO_OTHER, PROC_FRESH, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0600, WHO_OTHER, PROC_FORKED, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0640, WHO_OTHER, PROC_FRESH, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0640, WHO_OTHER, PROC_FORKED, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0620, WHO_OTHER, PROC_FRESH, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0620, WHO_OTHER, PROC_FORKED, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0660, WHO_OTHER, PROC_FRESH, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0660, WHO_OTHER, PROC_FORKED, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{00, WHO_OTHER, PROC_FRESH, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{00, WHO_OTHER, PROC_FORKED, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0600, WHO_GROUP_CREATOR, PROC_FRESH, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0600, WHO_GROUP_CREATOR, PROC_FORKED, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0604, WHO_GROUP_CREATOR, PROC_FRESH, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0604, WHO_GROUP_CREATOR, PROC_FORKED, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0602, WHO_GROUP_CREATOR, PROC_FRESH, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{0602, WHO_GROUP_CREATOR, PROC_FORKED, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{00, WHO_GROUP_CREATOR, PROC_FRESH, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{00, WHO_GROUP_CREATOR, PROC_FORKED, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{00, WHO_GROUP_SET, PROC_FRESH, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
	{00, WHO_GROUP_SET, PROC_FORKED, PS_MSG_STAT_ANY, {0, 0}, {-1, EACCES}},
};

static int
perm_known(int mode, int who, int proc, int step, const struct pres *k, const struct pres *s)
{
	for (size_t i = 0; i < sizeof(known_perm) / sizeof(known_perm[0]); i++) {
		const struct known_perm *d = &known_perm[i];
		if (d->mode == mode && d->who == who && d->proc == proc && d->step == step &&
		    d->kernel.rc == k->rc && d->kernel.err == k->err && d->shmkit.rc == s->rc &&
		    d->shmkit.err == s->err) {
			return 1;
		}
	}
	return 0;
}

static const char *
pres_str(const struct pres *p, char *buf, size_t len)
{
	if (p->rc == PRES_NONE) {
		snprintf(buf, len, "(not reached)");
	} else if (p->rc == -1 && p->err != 0) {
		char e[160];
		snprintf(buf, len, "-1 errno %s", th_errdesc(-(long long)p->err, e, sizeof(e)));
	} else if (p->rc == -1) {
		snprintf(buf, len, "n/a");
	} else {
		snprintf(buf, len, "%lld", p->rc);
	}
	return buf;
}

static void
body_perms(void)
{
	static const int modes[] = {0600, 0640, 0604, 0620, 0602, 0660, 0000};
	struct pres r[2][PS_N];
	int bad = 0, known = 0, cases = 0, bad_cases = 0;

	/* MSG_STAT_ANY is Linux 4.17 and later: ask at a used index. */
	int probe = new_queue(0);
	struct msqid_ds ds;
	struct msginfo info;
	int max = msgctl(0, IPC_INFO, (struct msqid_ds *)(void *)&info);
	ASSERT_SYS(max);
	for (int i = 0; i <= max; i++) {
		if (msgctl(i, MSG_STAT, &ds) == probe) {
			errno = 0;
			if (msgctl(i, MSG_STAT_ANY, &ds) != probe) {
				stat_any_supported = 0;
				th_log("the kernel lacks MSG_STAT_ANY (%s): not compared",
				       strerror(errno));
			}
			break;
		}
	}
	ASSERT_SYS(msgctl(probe, IPC_RMID, NULL));
	sh->n = 0;

	for (size_t mi = 0; mi < sizeof(modes) / sizeof(modes[0]); mi++) {
		for (int who = 0; who < WHO_N; who++) {
			for (int proc = 0; proc < PROC_N; proc++) {
				int before = bad;
				for (int w = 0; w < 2; w++) {
					th_context("mode 0%03o, %s, %s, %s", (unsigned)modes[mi],
						   who_names[who], proc_names[proc],
						   systems[w]->name);
					perm_case_on(w, modes[mi], (enum perm_who)who,
						     (enum perm_proc)proc, r[w]);
				}
				/* Both queues are gone: unregister them. */
				sh->n = 0;
				sh->nkeys = 0;
				for (int st = 0; st < PS_N; st++) {
					const struct pres *k = &r[0][st], *s = &r[1][st];
					char kb[200], sb[200];
					if (getenv("SHMKIT_TRACE") != NULL) {
						printf("# mode 0%03o, %s, %s: %s: kernel %s, "
						       "shmkit %s\n",
						       (unsigned)modes[mi], who_names[who],
						       proc_names[proc], step_names[st],
						       pres_str(k, kb, sizeof(kb)),
						       pres_str(s, sb, sizeof(sb)));
					}
					int par = step_parent(st);
					if (k->rc == s->rc && k->err == s->err) {
						continue;
					}
					if (par != st && (r[0][par].rc != r[1][par].rc ||
							  r[0][par].err != r[1][par].err)) {
						continue;
					}
					int ok = perm_known(modes[mi], who, proc, st, k, s);
					printf("# %s mode 0%03o, %s, %s: %s: kernel %s, shmkit "
					       "%s\n",
					       ok ? "known divergence" : "DIVERGENCE",
					       (unsigned)modes[mi], who_names[who],
					       proc_names[proc], step_names[st],
					       pres_str(k, kb, sizeof(kb)),
					       pres_str(s, sb, sizeof(sb)));
					if (ok) {
						known++;
					} else {
						bad++;
					}
				}
				cases++;
				bad_cases += bad > before;
			}
		}
	}
	th_context(NULL);
	fflush(stdout);
	if (known > 0) {
		th_log("%d documented divergences accepted", known);
	}
	if (bad > 0) {
		th_fail(__FILE__, __LINE__,
			"%d divergences from the kernel in %d of %d cases (listed above)", bad,
			bad_cases, cases);
	}
}

TEST_TIMEOUT(permissions_other_uid, 120)
{
	th_require_root("a process must change its uid and gid to 65534");
	run_worker(body_perms);
}
