/* SPDX-License-Identifier: MIT */
/* Differential test: shmkit_semget/semop/semctl against the kernel's System V semaphores. */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#if __has_include(<shmkit/sysv.h>)
#include <shmkit/sysv.h>
#else
/* Until the header lands: the drop-in prototypes, as the kernel's. */
int shmkit_semget(key_t key, int nsems, int semflg);
int shmkit_semop(int semid, struct sembuf *sops, size_t nsops);
int shmkit_semtimedop(int semid, struct sembuf *sops, size_t nsops, const struct timespec *timeout);
int shmkit_semctl(int semid, int semnum, int cmd, ...);
#endif

/*
 * Every case runs the same operations against a kernel set and a shmkit set
 * and compares what the two systems answer: return value, errno when -1,
 * semaphore values, counts and (as roles: none, this process, child i) pids.
 * The kernel is the oracle; nothing here models semop's semantics.
 *
 * Part 1 (random_*) is one process with IPC_NOWAIT everywhere, in lockstep.
 * Parts 2-5 are scenarios: lists of events (start a command-driven child,
 * make it run an operation, wait until it sleeps, signal or SIGKILL it,
 * operate from the parent, observe). A scenario runs on the kernel first,
 * recording a trace, then on shmkit; the shmkit run polls each observation
 * (bounded) until it equals the kernel's, then records it. The traces must
 * be equal.
 *
 * SEM_UNDO of a SIGKILLed process: the kernel applies it while the process
 * exits, so it is visible once the parent has reaped the child. shmkit
 * applies it when the death is noticed; this test does not force that by any
 * special call: after reaping, it calls shmkit_semctl(GETVAL/GETNCNT/...)
 * repeatedly for up to POLL_MS until the answer equals the kernel's.
 *
 * Cleanup: each case runs its body in a forked worker; every set is
 * registered in a shared list when created, and the case removes all of them
 * (semctl and shmkit_semctl IPC_RMID) after the worker ends, however it ends.
 *
 * Reproduce a random run with SHMKIT_SEED=<seed> SHMKIT_NSEMS=<n> (printed on
 * failure); SHMKIT_SOAK=1 adds time-seeded runs for SHMKIT_SOAK_SECONDS
 * (default 200). SHMKIT_DIFF_CONTINUE=1 lists every divergence instead of
 * stopping at the first (after a value divergence both sets are reset to the
 * kernel's values with SETALL, which clears both sides' undo adjustments);
 * the case still fails at the end.
 */

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

#define SEMVMX_  32767
#define POLL_MS  5000
#define MAX_SETS 256

/* ---- the two systems ---- */

struct sys {
	const char *name;
	int (*get)(key_t key, int nsems, int flg);
	int (*op)(int id, struct sembuf *sops, size_t nsops);
	int (*top)(int id, struct sembuf *sops, size_t nsops, const struct timespec *t);
	int (*ctl)(int id, int num, int cmd, union semun arg);
};

static int
k_ctl(int id, int num, int cmd, union semun arg)
{
	return semctl(id, num, cmd, arg);
}

static int
s_ctl(int id, int num, int cmd, union semun arg)
{
	return shmkit_semctl(id, num, cmd, arg);
}

static const struct sys sys_kernel = {"kernel", semget, semop, semtimedop, k_ctl};
static const struct sys sys_shmkit = {"shmkit", shmkit_semget, shmkit_semop, shmkit_semtimedop,
				      s_ctl};
static const struct sys *const systems[2] = {&sys_kernel, &sys_shmkit};

struct res {
	int rc;
	int err;
};

/* ---- shared state: sets to remove, where the worker is ---- */

struct shared {
	int nsets;
	struct {
		int sys;
		int id;
	} sets[MAX_SETS];
	char where[1024];
};

static struct shared *sh;
static int keep_going; /* SHMKIT_DIFF_CONTINUE=1 */
static int ndiverged;

static void read_limits(void);

static void
register_set(int w, int id)
{
	if (sh && id >= 0 && sh->nsets < MAX_SETS) {
		sh->sets[sh->nsets].sys = w;
		sh->sets[sh->nsets].id = id;
		sh->nsets++;
	}
}

__attribute__((format(printf, 1, 2))) static void
set_where(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sh->where, sizeof(sh->where), fmt, ap);
	va_end(ap);
}

static void
sweep_sets(void)
{
	union semun a = {.val = 0};

	for (int i = 0; i < sh->nsets; i++) {
		systems[sh->sets[i].sys]->ctl(sh->sets[i].id, 0, IPC_RMID, a);
	}
	sh->nsets = 0;
}

/*
 * Run @body in a forked worker bounded by @limit_s, then remove every set it
 * registered. A worker that died by a signal (its own watchdog included) is
 * reported with the last step it announced.
 */
static void
run_guarded(void (*body)(void), unsigned limit_s)
{
	char b[96];
	pid_t pid;
	int st;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		th_fail(__FILE__, __LINE__, "mmap: %s", strerror(errno));
	}
	memset(sh, 0, sizeof(*sh));
	read_limits();
	pid = th_fork();
	if (pid == 0) {
		const char *kg = getenv("SHMKIT_DIFF_CONTINUE");
		keep_going = kg && strcmp(kg, "1") == 0;
		alarm(limit_s);
		body();
		if (ndiverged) {
			th_fail(__FILE__, __LINE__, "%d divergences (listed above)", ndiverged);
		}
		th_exit(0);
	}
	st = th_wait(pid);
	sweep_sets();
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		th_skip("(the worker said why)");
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		th_fail(__FILE__, __LINE__, "worker: %s; last step: %s",
			th_status_str(st, b, sizeof(b)), sh->where[0] ? sh->where : "(none)");
	}
}

/* ---- random numbers (splitmix64: every seed gives a usable stream) ---- */

struct rng {
	uint64_t s;
};

static uint64_t
rnext(struct rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static int
rn(struct rng *r, int n)
{
	return (int)(rnext(r) % (uint64_t)n);
}

/* Uniform in [lo, hi]. */
static int
rrange(struct rng *r, int lo, int hi)
{
	return lo + rn(r, hi - lo + 1);
}

/* ---- kernel limits ---- */

static int lim_semmsl = -1, lim_semopm = -1;

static void
read_limits(void)
{
	FILE *f = fopen("/proc/sys/kernel/sem", "r");
	int mns, mni;

	if (f) {
		if (fscanf(f, "%d %d %d %d", &lim_semmsl, &mns, &lim_semopm, &mni) != 4) {
			lim_semmsl = lim_semopm = -1;
		}
		fclose(f);
	}
}

/* ---- descriptions ---- */

static const char *
cmd_name(int cmd)
{
	switch (cmd) {
	case IPC_RMID:
		return "IPC_RMID";
	case IPC_SET:
		return "IPC_SET";
	case IPC_STAT:
		return "IPC_STAT";
	case GETPID:
		return "GETPID";
	case GETVAL:
		return "GETVAL";
	case GETALL:
		return "GETALL";
	case GETNCNT:
		return "GETNCNT";
	case GETZCNT:
		return "GETZCNT";
	case SETVAL:
		return "SETVAL";
	case SETALL:
		return "SETALL";
	default:
		return "cmd?";
	}
}

static void
desc_ops(char *buf, size_t len, const struct sembuf *ops, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used + 40 < len; i++) {
		int w = snprintf(
			buf + used, len - used, "%s{%u,%d,%s%s%s}", i ? " " : "", ops[i].sem_num,
			ops[i].sem_op, (ops[i].sem_flg & IPC_NOWAIT) ? "NOWAIT" : "",
			(ops[i].sem_flg & IPC_NOWAIT) && (ops[i].sem_flg & SEM_UNDO) ? "|" : "",
			(ops[i].sem_flg & SEM_UNDO) ? "UNDO" : "");
		if (w < 0) {
			break;
		}
		used += (size_t)w;
	}
	if (n > 0 && used + 40 >= len) {
		snprintf(buf + used, len - used, " ...");
	}
}

static const char *
res_str(struct res r, char *buf, size_t len)
{
	if (r.rc == -1) {
		snprintf(buf, len, "-1 errno %d (%s)", r.err, strerror(r.err));
	} else {
		snprintf(buf, len, "%d", r.rc);
	}
	return buf;
}

/* ======================================================================
 * Part 1: one process, random operations in lockstep.
 * ====================================================================== */

struct rand_run {
	uint64_t seed;
	int nsems;
	long steps;
	struct rng r;
	int id[2];
	pid_t self;
	char what[2048];
	long step;
	struct sembuf big[600];
};

static struct res
call_res(int rc)
{
	struct res x = {rc, rc == -1 ? errno : 0};
	return x;
}

/* A pid as a role, so that the two systems compare: 0 none, 1 self, 2 other. */
static int
pid_role_self(int rc, pid_t self)
{
	if (rc <= 0) {
		return rc;
	}
	return rc == self ? 1 : 2;
}

__attribute__((format(printf, 2, 3))) static void
rand_fail(struct rand_run *rr, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (keep_going) {
		ndiverged++;
		printf("# DIVERGENCE seed=%llu nsems=%d step %ld: %s: %s\n",
		       (unsigned long long)rr->seed, rr->nsems, rr->step, rr->what, msg);
		return;
	}
	th_fail(__FILE__, __LINE__,
		"DIVERGENCE seed=%llu nsems=%d (reproduce: SHMKIT_SEED=%llu SHMKIT_NSEMS=%d) "
		"step %ld: %s: %s",
		(unsigned long long)rr->seed, rr->nsems, (unsigned long long)rr->seed, rr->nsems,
		rr->step, rr->what, msg);
}

/* What the kernel answered over the random runs, by errno (0: success). */
static long tally[140];

static void
rand_same(struct rand_run *rr, struct res k, struct res s)
{
	char a[96], b[96];

	tally[k.rc == -1 && k.err > 0 && k.err < 140 ? k.err : 0]++;

	if (k.rc != s.rc || (k.rc == -1 && k.err != s.err)) {
		rand_fail(rr, "kernel %s, shmkit %s", res_str(k, a, sizeof(a)),
			  res_str(s, b, sizeof(b)));
	}
}

static void
rand_compare_values(struct rand_run *rr)
{
	unsigned short v[2][256];
	struct res g[2];

	for (int w = 0; w < 2; w++) {
		union semun a = {.array = v[w]};
		memset(v[w], 0xff, sizeof(v[w]));
		g[w] = call_res(systems[w]->ctl(rr->id[w], 0, GETALL, a));
	}
	if (g[0].rc != 0 || g[1].rc != 0) {
		char a[96], b[96];
		rand_fail(rr, "GETALL after the step: kernel %s, shmkit %s",
			  res_str(g[0], a, sizeof(a)), res_str(g[1], b, sizeof(b)));
		return;
	}
	for (int i = 0; i < rr->nsems; i++) {
		if (v[0][i] != v[1][i]) {
			char all[1024];
			size_t used = 0;
			for (int j = 0; j < rr->nsems && used + 32 < sizeof(all); j++) {
				if (v[0][j] != v[1][j]) {
					used += (size_t)snprintf(all + used, sizeof(all) - used,
								 " [%d] %u/%u", j, v[0][j],
								 v[1][j]);
				}
			}
			rand_fail(rr, "values differ (kernel/shmkit):%s", all);
			/* Only with SHMKIT_DIFF_CONTINUE: resynchronise. */
			for (int w = 0; w < 2; w++) {
				union semun a = {.array = v[0]};
				systems[w]->ctl(rr->id[w], 0, SETALL, a);
			}
			return;
		}
	}
}

static void
rand_compare_counts(struct rand_run *rr)
{
	static const int cmds[] = {GETPID, GETNCNT, GETZCNT};
	union semun a = {.val = 0};

	for (int i = 0; i < rr->nsems; i++) {
		for (int c = 0; c < 3; c++) {
			struct res k = call_res(sys_kernel.ctl(rr->id[0], i, cmds[c], a));
			struct res s = call_res(sys_shmkit.ctl(rr->id[1], i, cmds[c], a));
			if (cmds[c] == GETPID) {
				k.rc = pid_role_self(k.rc, rr->self);
				s.rc = pid_role_self(s.rc, rr->self);
			}
			if (k.rc != s.rc || k.err != s.err) {
				char x[96], y[96];
				rand_fail(rr,
					  "sweep %s(%d) (pid as role 0 none/1 self/2 other): "
					  "kernel %s, shmkit %s",
					  cmd_name(cmds[c]), i, res_str(k, x, sizeof(x)),
					  res_str(s, y, sizeof(y)));
			}
		}
	}
}

static int
rand_semnum(struct rand_run *rr)
{
	switch (rn(&rr->r, 20)) {
	case 0:
		return rr->nsems + rn(&rr->r, 3);
	case 1:
		return 65535;
	default:
		return rn(&rr->r, rr->nsems);
	}
}

static short
rand_semop_val(struct rand_run *rr)
{
	switch (rn(&rr->r, 16)) {
	case 0:
		return SEMVMX_;
	case 1:
		return (short)-SEMVMX_;
	case 2:
		return (short)(-SEMVMX_ - 1);
	case 3:
		return (short)rrange(&rr->r, SEMVMX_ - 20, SEMVMX_);
	case 4:
		return (short)rrange(&rr->r, -SEMVMX_, -SEMVMX_ + 20);
	case 5:
		return (short)rrange(&rr->r, -3000, 3000);
	case 6:
	case 7:
		return 0;
	default:
		return (short)rrange(&rr->r, -3, 3);
	}
}

static size_t
rand_ops(struct rand_run *rr, struct sembuf *ops, int always_nowait)
{
	size_t n = (size_t)(rn(&rr->r, 50) == 0 ? rrange(&rr->r, 8, 40) : rrange(&rr->r, 1, 6));

	for (size_t i = 0; i < n; i++) {
		ops[i].sem_num = (unsigned short)(rn(&rr->r, 40) == 0 ? rand_semnum(rr)
								      : rn(&rr->r, rr->nsems));
		ops[i].sem_op = rand_semop_val(rr);
		ops[i].sem_flg = 0;
		if (always_nowait || rn(&rr->r, 2)) {
			ops[i].sem_flg |= IPC_NOWAIT;
		}
		if (rn(&rr->r, 3) == 0) {
			ops[i].sem_flg |= SEM_UNDO;
		}
	}
	return n;
}

static int
rand_setval(struct rand_run *rr)
{
	switch (rn(&rr->r, 14)) {
	case 0:
		return -1;
	case 1:
		return SEMVMX_ + 1;
	case 2:
		return 65536;
	case 3:
		return INT_MIN;
	case 4:
		return SEMVMX_;
	case 5:
		return rrange(&rr->r, 0, SEMVMX_);
	case 6:
		return rrange(&rr->r, SEMVMX_ - 10, SEMVMX_);
	default:
		return rrange(&rr->r, 0, 10);
	}
}

/* Apply one random operation to both sets and compare the answers. */
static void
rand_step(struct rand_run *rr)
{
	struct sembuf ops[64];
	char d[1500];
	union semun a;
	struct res res[2];
	size_t n;
	int kind = rn(&rr->r, 100);

	if (kind < 45) { /* semop, IPC_NOWAIT always */
		n = rand_ops(rr, ops, 1);
		desc_ops(d, sizeof(d), ops, n);
		snprintf(rr->what, sizeof(rr->what), "semop(nsops=%zu: %s)", n, d);
		for (int w = 0; w < 2; w++) {
			struct sembuf copy[64];
			memcpy(copy, ops, n * sizeof(ops[0]));
			res[w] = call_res(systems[w]->op(rr->id[w], copy, n));
		}
	} else if (kind < 55) { /* semtimedop, zero (or invalid) timeout */
		struct timespec t = {0, 0};
		const char *tdesc = "{0,0}";
		n = rand_ops(rr, ops, 0);
		if (rn(&rr->r, 10) == 0) {
			static const struct timespec bad[] = {{0, 1000000000L}, {0, -1}, {-1, 0}};
			static const char *const bads[] = {"{0,1e9}", "{0,-1}", "{-1,0}"};
			int b = rn(&rr->r, 3);
			t = bad[b];
			tdesc = bads[b];
		}
		desc_ops(d, sizeof(d), ops, n);
		snprintf(rr->what, sizeof(rr->what), "semtimedop(nsops=%zu: %s, timeout %s)", n, d,
			 tdesc);
		for (int w = 0; w < 2; w++) {
			struct sembuf copy[64];
			memcpy(copy, ops, n * sizeof(ops[0]));
			res[w] = call_res(systems[w]->top(rr->id[w], copy, n, &t));
		}
	} else if (kind < 60) {
		int num = rand_semnum(rr) - (rn(&rr->r, 20) == 0 ? 65536 + 1 : 0);
		int cmd = (int[]){GETVAL, GETNCNT, GETZCNT, GETPID}[rn(&rr->r, 4)];
		snprintf(rr->what, sizeof(rr->what), "semctl(%d, %s)", num, cmd_name(cmd));
		a.val = 0;
		for (int w = 0; w < 2; w++) {
			res[w] = call_res(systems[w]->ctl(rr->id[w], num, cmd, a));
			if (cmd == GETPID) {
				res[w].rc = pid_role_self(res[w].rc, rr->self);
			}
		}
	} else if (kind < 70) {
		int num = rn(&rr->r, 10) == 0 ? rand_semnum(rr) : rn(&rr->r, rr->nsems);
		if (rn(&rr->r, 30) == 0) {
			num = -1;
		}
		a.val = rand_setval(rr);
		snprintf(rr->what, sizeof(rr->what), "semctl(%d, SETVAL, %d)", num, a.val);
		for (int w = 0; w < 2; w++) {
			res[w] = call_res(systems[w]->ctl(rr->id[w], num, SETVAL, a));
		}
	} else if (kind < 75) {
		unsigned short v[256];
		int bad = rn(&rr->r, 6) == 0;
		for (int i = 0; i < rr->nsems; i++) {
			v[i] = (unsigned short)(rn(&rr->r, 4) == 0 ? rrange(&rr->r, 0, SEMVMX_)
								   : rrange(&rr->r, 0, 5));
		}
		if (bad) {
			v[rn(&rr->r, rr->nsems)] =
				(unsigned short)rrange(&rr->r, SEMVMX_ + 1, 65535);
		}
		snprintf(rr->what, sizeof(rr->what), "semctl(SETALL, v[0]=%u%s)", v[0],
			 bad ? ", one value over SEMVMX" : "");
		for (int w = 0; w < 2; w++) {
			unsigned short copy[256];
			memcpy(copy, v, sizeof(copy));
			a.array = copy;
			res[w] = call_res(systems[w]->ctl(rr->id[w], 0, SETALL, a));
		}
	} else if (kind < 78) {
		unsigned short v[2][256];
		int num = rn(&rr->r, 4);
		snprintf(rr->what, sizeof(rr->what), "semctl(%d, GETALL)", num);
		for (int w = 0; w < 2; w++) {
			a.array = v[w];
			res[w] = call_res(systems[w]->ctl(rr->id[w], num, GETALL, a));
		}
		if (res[0].rc == 0 && res[1].rc == 0 &&
		    memcmp(v[0], v[1], (size_t)rr->nsems * sizeof(v[0][0])) != 0) {
			rand_fail(rr, "GETALL arrays differ");
		}
	} else if (kind < 82) {
		struct semid_ds ds[2];
		int num = rn(&rr->r, 3);
		snprintf(rr->what, sizeof(rr->what), "semctl(%d, IPC_STAT)", num);
		for (int w = 0; w < 2; w++) {
			memset(&ds[w], 0, sizeof(ds[w]));
			a.buf = &ds[w];
			res[w] = call_res(systems[w]->ctl(rr->id[w], num, IPC_STAT, a));
		}
		rand_same(rr, res[0], res[1]);
		if (res[0].rc == 0) {
			if (ds[0].sem_nsems != ds[1].sem_nsems ||
			    ds[0].sem_perm.mode != ds[1].sem_perm.mode ||
			    ds[0].sem_perm.uid != ds[1].sem_perm.uid ||
			    ds[0].sem_perm.gid != ds[1].sem_perm.gid ||
			    ds[0].sem_perm.cuid != ds[1].sem_perm.cuid ||
			    ds[0].sem_perm.cgid != ds[1].sem_perm.cgid) {
				rand_fail(rr,
					  "IPC_STAT: kernel nsems %lu mode 0%o uid %u gid %u cuid "
					  "%u cgid %u; shmkit nsems %lu mode 0%o uid %u gid %u "
					  "cuid %u cgid %u",
					  (unsigned long)ds[0].sem_nsems, ds[0].sem_perm.mode,
					  ds[0].sem_perm.uid, ds[0].sem_perm.gid,
					  ds[0].sem_perm.cuid, ds[0].sem_perm.cgid,
					  (unsigned long)ds[1].sem_nsems, ds[1].sem_perm.mode,
					  ds[1].sem_perm.uid, ds[1].sem_perm.gid,
					  ds[1].sem_perm.cuid, ds[1].sem_perm.cgid);
			}
		}
	} else if (kind < 84) {
		static const unsigned modes[] = {0600, 0640, 0660,  0666,    0644, 0700,
						 0604, 0606, 01600, 0100640, 0777};
		unsigned mode = modes[rn(&rr->r, (int)(sizeof(modes) / sizeof(modes[0])))];
		snprintf(rr->what, sizeof(rr->what), "semctl(IPC_SET, mode 0%o)", mode);
		for (int w = 0; w < 2; w++) {
			struct semid_ds ds;
			memset(&ds, 0, sizeof(ds));
			ds.sem_perm.uid = geteuid();
			ds.sem_perm.gid = getegid();
			ds.sem_perm.mode = (unsigned short)mode;
			a.buf = &ds;
			res[w] = call_res(systems[w]->ctl(rr->id[w], 0, IPC_SET, a));
		}
	} else if (kind < 86) {
		static const int bad[] = {-1, 4, 5, 7, 10, 21, 100, 0x7fff, 1000000};
		int cmd = bad[rn(&rr->r, (int)(sizeof(bad) / sizeof(bad[0])))];
		snprintf(rr->what, sizeof(rr->what), "semctl(0, bad cmd %d)", cmd);
		a.val = 0;
		for (int w = 0; w < 2; w++) {
			res[w] = call_res(systems[w]->ctl(rr->id[w], 0, cmd, a));
		}
	} else if (kind < 88) {
		int v = rn(&rr->r, 4);
		snprintf(rr->what, sizeof(rr->what), "%s with NULL pointer",
			 (const char *[]){"semop", "GETALL", "SETALL", "IPC_STAT"}[v]);
		for (int w = 0; w < 2; w++) {
			a.buf = NULL;
			switch (v) {
			case 0:
				res[w] = call_res(systems[w]->op(rr->id[w], NULL, 1));
				break;
			case 1:
				res[w] = call_res(systems[w]->ctl(rr->id[w], 0, GETALL, a));
				break;
			case 2:
				res[w] = call_res(systems[w]->ctl(rr->id[w], 0, SETALL, a));
				break;
			default:
				res[w] = call_res(systems[w]->ctl(rr->id[w], 0, IPC_STAT, a));
				break;
			}
		}
	} else if (kind < 90) {
		int v = rn(&rr->r, 6);
		size_t nn = 0;
		struct sembuf *p = rr->big;
		int id_bad = rn(&rr->r, 4) == 0;
		switch (v) {
		case 0:
			nn = 0;
			break;
		case 1:
			nn = 0;
			p = NULL;
			break;
		case 2:
			nn = lim_semopm > 0 ? (size_t)lim_semopm + 1 : 501;
			break;
		case 3:
			nn = lim_semopm > 0 ? (size_t)lim_semopm + 1 : 501;
			p = NULL;
			break;
		case 4:
			nn = lim_semopm > 0 ? (size_t)lim_semopm : 500;
			break;
		default:
			nn = (size_t)1 << 40;
			break;
		}
		for (size_t i = 0; i < 600; i++) {
			rr->big[i].sem_num = (unsigned short)rn(&rr->r, rr->nsems);
			rr->big[i].sem_op = (short)rrange(&rr->r, 0, 1);
			rr->big[i].sem_flg = IPC_NOWAIT;
		}
		snprintf(rr->what, sizeof(rr->what), "semop(id %s, %s, nsops=%zu)",
			 id_bad ? "-1" : "valid", p ? "ops" : "NULL", nn);
		for (int w = 0; w < 2; w++) {
			res[w] = call_res(systems[w]->op(id_bad ? -1 : rr->id[w], p, nn));
		}
	} else if (kind < 92) {
		int cmd = (int[]){GETVAL, SETVAL, GETALL, IPC_STAT}[rn(&rr->r, 4)];
		unsigned short v[256] = {0};
		struct semid_ds ds;
		snprintf(rr->what, sizeof(rr->what), "semctl(id -1, %s)", cmd_name(cmd));
		for (int w = 0; w < 2; w++) {
			if (cmd == GETALL) {
				a.array = v;
			} else if (cmd == IPC_STAT) {
				a.buf = &ds;
			} else {
				a.val = 1;
			}
			res[w] = call_res(systems[w]->ctl(-1, 0, cmd, a));
		}
	} else {
		/* Undo pressure: repeated SEM_UNDO ops in one direction reach
		 * the adjustment limit (ERANGE) without passing SEMVMX. */
		int num = rn(&rr->r, rr->nsems);
		short op = (short)(rn(&rr->r, 2) ? rrange(&rr->r, 8000, SEMVMX_)
						 : -rrange(&rr->r, 8000, SEMVMX_));
		ops[0].sem_num = (unsigned short)num;
		ops[0].sem_op = op;
		ops[0].sem_flg = IPC_NOWAIT | SEM_UNDO;
		snprintf(rr->what, sizeof(rr->what), "semop(undo pressure {%d,%d,NOWAIT|UNDO})",
			 num, op);
		for (int w = 0; w < 2; w++) {
			struct sembuf copy = ops[0];
			res[w] = call_res(systems[w]->op(rr->id[w], &copy, 1));
		}
	}
	rand_same(rr, res[0], res[1]);
	rand_compare_values(rr);
	if ((rr->step & 63) == 0) {
		rand_compare_counts(rr);
	}
}

static struct rand_run the_run;

static void
rand_run_one(uint64_t seed, int nsems, long steps)
{
	struct rand_run *rr = &the_run;

	memset(rr, 0, sizeof(*rr));
	rr->seed = seed;
	rr->nsems = nsems;
	rr->steps = steps;
	rr->r.s = seed;
	rr->self = getpid();
	for (int w = 0; w < 2; w++) {
		rr->id[w] = systems[w]->get(IPC_PRIVATE, nsems, 0600);
		if (rr->id[w] < 0) {
			th_fail(__FILE__, __LINE__, "%s semget(IPC_PRIVATE, %d, 0600): %s",
				systems[w]->name, nsems, strerror(errno));
		}
		register_set(w, rr->id[w]);
	}
	th_context("seed=%llu nsems=%d", (unsigned long long)seed, nsems);
	set_where("random seed=%llu nsems=%d (SHMKIT_SEED=%llu SHMKIT_NSEMS=%d)",
		  (unsigned long long)seed, nsems, (unsigned long long)seed, nsems);
	snprintf(rr->what, sizeof(rr->what), "(start)");
	rand_compare_values(rr);
	rand_compare_counts(rr);
	for (rr->step = 1; rr->step <= steps; rr->step++) {
		rand_step(rr);
	}
	snprintf(rr->what, sizeof(rr->what), "(end)");
	rand_compare_counts(rr);
	for (int w = 0; w < 2; w++) {
		union semun a = {.val = 0};
		struct res x = call_res(systems[w]->ctl(rr->id[w], 0, IPC_RMID, a));
		if (x.rc != 0) {
			rand_fail(rr, "%s IPC_RMID: errno %d", systems[w]->name, x.err);
		}
	}
}

static const int rand_sizes[] = {1, 2, 3, 4, 5, 8, 16, 64, 250};
#define RAND_CI_STEPS 15000L

static void
body_random(void)
{
	const char *seed_env = getenv("SHMKIT_SEED");
	const char *soak = getenv("SHMKIT_SOAK");
	long total = 0;

	read_limits();
	if (seed_env) {
		const char *ns = getenv("SHMKIT_NSEMS");
		uint64_t seed = th_parse_u64(seed_env);
		int nsems = ns ? (int)th_parse_u64(ns) : 5;
		rand_run_one(seed, nsems, RAND_CI_STEPS);
		th_log("seed %llu nsems %d: %ld steps agree", (unsigned long long)seed, nsems,
		       RAND_CI_STEPS);
		return;
	}
	/* The fixed seeds of CI: 9 sizes x 15000 steps. */
	for (size_t i = 0; i < sizeof(rand_sizes) / sizeof(rand_sizes[0]); i++) {
		rand_run_one(1000 + i, rand_sizes[i], RAND_CI_STEPS);
		total += RAND_CI_STEPS;
	}
	if (soak && strcmp(soak, "1") == 0) {
		const char *s = getenv("SHMKIT_SOAK_SECONDS");
		int64_t end = th_now_ms() + (s ? (int64_t)th_parse_u64(s) : 200) * 1000;
		struct rng r = {(uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32)};
		while (th_now_ms() < end) {
			uint64_t seed = rnext(&r) >> 1;
			int nsems = rand_sizes[seed % (sizeof(rand_sizes) / sizeof(rand_sizes[0]))];
			rand_run_one(seed, nsems, RAND_CI_STEPS);
			total += RAND_CI_STEPS;
		}
	}
	th_log("%ld random operations compared; the kernel answered:", total);
	for (int e = 0; e < 140; e++) {
		if (tally[e]) {
			th_log("  %-28s %ld", e ? strerror(e) : "success", tally[e]);
		}
	}
}

TEST_TIMEOUT(random_single_process, 290)
{
	const char *soak = getenv("SHMKIT_SOAK");
	unsigned limit = soak && strcmp(soak, "1") == 0 ? 280 : 120;

	/* A soak longer than the case's watchdog is the caller's choice. */
	if (soak && strcmp(soak, "1") == 0) {
		const char *s = getenv("SHMKIT_SOAK_SECONDS");
		if (s && th_parse_u64(s) > 200) {
			alarm(0);
			limit = (unsigned)th_parse_u64(s) + 120;
		}
	}
	run_guarded(body_random, limit);
}

/* ---- semget: creation and lookup ---- */

static key_t
free_key(int salt)
{
	for (int tries = 0; tries < 4096; tries++) {
		key_t key =
			(key_t)(0x5e000000u ^ ((uint32_t)getpid() << 8) ^
				(uint32_t)((salt * 37 + tries) & 0xff) ^ ((uint32_t)tries << 20));
		if (key == IPC_PRIVATE) {
			continue;
		}
		if (semget(key, 0, 0) < 0 && errno == ENOENT && shmkit_semget(key, 0, 0) < 0 &&
		    errno == ENOENT) {
			return key;
		}
	}
	th_fail(__FILE__, __LINE__, "no free System V key");
}

static void
body_semget(void)
{
	key_t key = free_key(1);
	int created[2] = {-1, -1};
	struct {
		const char *what;
		key_t key;
		int nsems, flg;
	} calls[] = {
		{"IPC_PRIVATE nsems 0", IPC_PRIVATE, 0, 0600},
		{"IPC_PRIVATE nsems -1", IPC_PRIVATE, -1, 0600},
		{"IPC_PRIVATE nsems SEMMSL+1", IPC_PRIVATE, lim_semmsl + 1, 0600},
		{"missing key, no IPC_CREAT", key, 1, 0600},
		{"missing key, nsems 0, IPC_CREAT", key, 0, IPC_CREAT | 0600},
		{"create key nsems 3", key, 3, IPC_CREAT | IPC_EXCL | 0640},
		{"again IPC_CREAT|IPC_EXCL", key, 3, IPC_CREAT | IPC_EXCL | 0640},
		{"again IPC_CREAT", key, 3, IPC_CREAT | 0600},
		{"lookup nsems 0", key, 0, 0},
		{"lookup nsems 2", key, 2, 0},
		{"lookup nsems 4 (more than the set)", key, 4, 0},
		{"lookup nsems 4 IPC_CREAT", key, 4, IPC_CREAT | 0600},
		{"lookup asking 0600 of a 0640 set", key, 0, 0600},
		{"lookup nsems -1", key, -1, 0},
	};

	set_where("semget key 0x%x", (unsigned)key);
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		struct res r[2];
		for (int w = 0; w < 2; w++) {
			r[w] = call_res(
				systems[w]->get(calls[i].key, calls[i].nsems, calls[i].flg));
			if (r[w].rc >= 0) {
				register_set(w, r[w].rc);
				if (strcmp(calls[i].what, "create key nsems 3") == 0) {
					created[w] = r[w].rc;
				}
			}
		}
		if ((r[0].rc >= 0) != (r[1].rc >= 0) || (r[0].rc < 0 && r[0].err != r[1].err)) {
			char a[96], b[96];
			th_fail(__FILE__, __LINE__,
				"DIVERGENCE semget(%s: key 0x%x, nsems %d, flg 0%o): kernel %s, "
				"shmkit %s",
				calls[i].what, (unsigned)calls[i].key, calls[i].nsems,
				(unsigned)calls[i].flg, res_str(r[0], a, sizeof(a)),
				res_str(r[1], b, sizeof(b)));
		}
		/* A lookup finds the set made by the create: the same id. */
		if (r[0].rc >= 0 && calls[i].key != IPC_PRIVATE && i > 5) {
			int ks = r[0].rc == created[0], ss = r[1].rc == created[1];
			if (ks != ss) {
				th_fail(__FILE__, __LINE__,
					"DIVERGENCE semget(%s): returns the creator's id: kernel "
					"%d, shmkit %d (id %d, created %d)",
					calls[i].what, ks, ss, r[1].rc, created[1]);
			}
		}
	}
	/* Each semget(IPC_PRIVATE) is a new set; removal frees the key. */
	for (int w = 0; w < 2; w++) {
		int a = systems[w]->get(IPC_PRIVATE, 1, 0600), b;
		union semun u = {.val = 0};
		register_set(w, a);
		b = systems[w]->get(IPC_PRIVATE, 1, 0600);
		register_set(w, b);
		if (a < 0 || b < 0 || a == b) {
			th_fail(__FILE__, __LINE__, "%s: two IPC_PRIVATE sets got ids %d and %d",
				systems[w]->name, a, b);
		}
		if (systems[w]->ctl(created[w], 0, IPC_RMID, u) != 0) {
			th_fail(__FILE__, __LINE__, "%s IPC_RMID: %s", systems[w]->name,
				strerror(errno));
		}
		errno = 0;
		if (systems[w]->get(key, 0, 0) != -1 || errno != ENOENT) {
			th_fail(__FILE__, __LINE__,
				"%s: after IPC_RMID semget(key) should give ENOENT, errno %d",
				systems[w]->name, errno);
		}
		errno = 0;
		a = systems[w]->ctl(created[w], 0, GETVAL, u);
		if (w == 1 && (a != -1 || errno != EINVAL)) {
			th_fail(__FILE__, __LINE__,
				"DIVERGENCE GETVAL on a removed id: kernel -1 EINVAL, shmkit %d "
				"errno %d",
				a, errno);
		}
	}
}

TEST(semget_create_and_lookup)
{
	run_guarded(body_semget, 25);
}

/* ======================================================================
 * Parts 2-5: scenarios with command-driven children.
 * ====================================================================== */

#define MAX_CH  8
#define MAX_EV  256
#define MAX_OBS 2048

enum { C_OP = 1, C_CTL, C_GET, C_SIGACT, C_SETID };

struct cmd {
	int type;
	int nsops;
	struct sembuf ops[8];
	long tmo_ms; /* C_OP: < 0 semop, else semtimedop with this relative timeout */
	int semnum, ctl, val;
	int key, nsems, flg;
	int sig, saflags;
	int uid, gid;
};

struct reply {
	int rc, err;
	int mode, nsems;
};

enum {
	E_SPAWN = 1, /* start child c */
	E_DO,        /* child c runs cmd, parent records the reply */
	E_SEND,      /* child c starts cmd (it will block) */
	E_REPLY,     /* parent records the reply of child c (bounded wait) */
	E_ASLEEP,    /* wait until child c sleeps inside its command; record its state */
	E_SIGNAL,    /* send signal sig to child c */
	E_KILL,      /* SIGKILL child c and reap it */
	E_STOPCONT,  /* SIGSTOP child c, wait until stopped, SIGCONT */
	E_POP,       /* parent: semop with cmd.ops (always IPC_NOWAIT) */
	E_PCTL,      /* parent: semctl cmd.ctl (SETVAL val / SETALL vals / IPC_RMID / IPC_SET) */
	E_OBS,       /* record every semaphore's value, ncnt, zcnt and pid role */
};

struct ev {
	int type;
	int c;
	struct cmd cmd;
	unsigned short vals[8];
};

struct scen {
	const char *name;
	uint64_t seed;
	int nsems;
	int mode;
	int setkey;      /* create with a fresh key instead of IPC_PRIVATE */
	int coarse_pids; /* GETPID: "a child", not which one */
	int nev;
	struct ev ev[MAX_EV];
};

struct obs {
	char label[72];
	long v;
};

struct trace {
	int n;
	int timed_out; /* a poll ran out: later polls are short */
	struct obs o[MAX_OBS];
};

/* What the children and the parent of one run share. */
struct run {
	const struct sys *y;
	int w;
	int id;
	key_t key;
	pid_t parent;
	pid_t pid[MAX_CH];
	int alive[MAX_CH];
	int cmdfd[MAX_CH], repfd[MAX_CH];
	volatile int *started; /* shared: per child, count of commands begun */
	int issued[MAX_CH];
};

static struct run cur;
static int coarse_pids; /* any child's pid is one role (wake-up order is not specified) */

static void
on_signal(int sig)
{
	(void)sig;
}

/* A child: execute commands from the parent until the pipe closes. */
static void
child_loop(int c)
{
	struct cmd m;

	for (;;) {
		struct reply rp = {0, 0, 0, 0};
		if (th_read_all(cur.cmdfd[c], &m, sizeof(m)) != 0) {
			th_exit(0);
		}
		errno = 0;
		switch (m.type) {
		case C_OP: {
			struct timespec t = {m.tmo_ms / 1000, (m.tmo_ms % 1000) * 1000000L};
			__atomic_add_fetch(&cur.started[c], 1, __ATOMIC_SEQ_CST);
			if (m.tmo_ms < 0) {
				rp.rc = cur.y->op(cur.id, m.ops, (size_t)m.nsops);
			} else {
				rp.rc = cur.y->top(cur.id, m.ops, (size_t)m.nsops, &t);
			}
			break;
		}
		case C_CTL: {
			union semun a;
			struct semid_ds ds;
			memset(&ds, 0, sizeof(ds));
			if (m.ctl == IPC_STAT) {
				a.buf = &ds;
			} else if (m.ctl == IPC_SET) {
				ds.sem_perm.uid = 0;
				ds.sem_perm.gid = 0;
				ds.sem_perm.mode = 0666;
				a.buf = &ds;
			} else {
				a.val = m.val;
			}
			__atomic_add_fetch(&cur.started[c], 1, __ATOMIC_SEQ_CST);
			rp.rc = cur.y->ctl(cur.id, m.semnum, m.ctl, a);
			if (m.ctl == IPC_STAT && rp.rc == 0) {
				rp.mode = ds.sem_perm.mode;
				rp.nsems = (int)ds.sem_nsems;
			}
			break;
		}
		case C_GET:
			__atomic_add_fetch(&cur.started[c], 1, __ATOMIC_SEQ_CST);
			rp.rc = cur.y->get(cur.key, m.nsems, m.flg);
			if (rp.rc >= 0) {
				/* The same set as the parent's id: 0; another: 1. */
				rp.rc = rp.rc == cur.id ? 0 : 1;
			}
			break;
		case C_SIGACT: {
			struct sigaction sa;
			__atomic_add_fetch(&cur.started[c], 1, __ATOMIC_SEQ_CST);
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = on_signal;
			sa.sa_flags = m.saflags;
			sigemptyset(&sa.sa_mask);
			rp.rc = sigaction(m.sig, &sa, NULL);
			break;
		}
		case C_SETID:
			__atomic_add_fetch(&cur.started[c], 1, __ATOMIC_SEQ_CST);
			rp.rc = setgroups(0, NULL);
			if (rp.rc == 0) {
				rp.rc = setgid((gid_t)m.gid);
			}
			if (rp.rc == 0) {
				rp.rc = setuid((uid_t)m.uid);
			}
			break;
		default:
			__atomic_add_fetch(&cur.started[c], 1, __ATOMIC_SEQ_CST);
			rp.rc = -2;
			break;
		}
		rp.err = rp.rc == -1 ? errno : 0;
		if (th_write_all(cur.repfd[c], &rp, sizeof(rp)) != 0) {
			th_exit(0);
		}
	}
}

/* Each child gets a command pipe and a reply pipe. */
static int child_rep_rd[MAX_CH], child_cmd_wr[MAX_CH];

static void
spawn_child(int c)
{
	int cp[2], rp[2];
	pid_t pid;

	if (pipe(cp) != 0 || pipe(rp) != 0) {
		th_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
	}
	pid = th_fork();
	if (pid == 0) {
		/* Only this child's own ends stay open in it. */
		for (int i = 0; i < MAX_CH; i++) {
			if (cur.alive[i]) {
				close(child_rep_rd[i]);
				close(child_cmd_wr[i]);
			}
		}
		close(cp[1]);
		close(rp[0]);
		cur.cmdfd[c] = cp[0];
		cur.repfd[c] = rp[1];
		alarm(120);
		child_loop(c);
	}
	close(cp[0]);
	close(rp[1]);
	child_cmd_wr[c] = cp[1];
	child_rep_rd[c] = rp[0];
	cur.pid[c] = pid;
	cur.alive[c] = 1;
}

static void
send_cmd(int c, const struct cmd *m)
{
	if (!cur.alive[c] || th_write_all(child_cmd_wr[c], m, sizeof(*m)) != 0) {
		th_fail(__FILE__, __LINE__, "child %d is gone", c);
	}
	cur.issued[c]++;
}

/* Wait (bounded) for child c's reply; rc -999 when none came. */
static struct reply
get_reply(int c, int ms)
{
	struct reply rp = {-999, 0, 0, 0};
	struct pollfd p = {child_rep_rd[c], POLLIN, 0};

	if (poll(&p, 1, ms) == 1 && th_read_all(child_rep_rd[c], &rp, sizeof(rp)) != 0) {
		rp.rc = -998; /* died */
	}
	return rp;
}

static char
proc_state(pid_t pid)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return '?';
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return '?';
	}
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static int
pid_role(int rc)
{
	if (rc <= 0) {
		return rc;
	}
	if (rc == cur.parent) {
		return 1;
	}
	for (int c = 0; c < MAX_CH; c++) {
		if (cur.pid[c] == rc) {
			return coarse_pids ? 10 : 10 + c;
		}
	}
	return 2;
}

static void record(struct trace *tr, long v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
record(struct trace *tr, long v, const char *fmt, ...)
{
	va_list ap;

	if (tr->n >= MAX_OBS) {
		th_fail(__FILE__, __LINE__, "trace full");
	}
	va_start(ap, fmt);
	vsnprintf(tr->o[tr->n].label, sizeof(tr->o[tr->n].label), fmt, ap);
	va_end(ap);
	tr->o[tr->n].v = v;
	tr->n++;
}

/* rc, or -errno when rc is -1, as one number for the trace. */
static long
enc(int rc, int err)
{
	return rc == -1 ? -(long)err - 10000 : rc;
}

typedef long (*probe_fn)(int arg);

/*
 * Record the value of @probe. On the kernel (@ref NULL) poll until it equals
 * @expect, or take the first value when @expect is NO_EXPECT (the kernel's
 * state is settled when a call returns or a child is reaped); on shmkit poll
 * until it equals the kernel's recorded value. Bounded: POLL_MS, or 300 ms
 * once a poll of this run has run out.
 */
#define NO_EXPECT LONG_MIN

static void
observe(struct trace *tr, const struct trace *ref, probe_fn probe, int arg, long expect,
	const char *label)
{
	long target = expect, v;
	int64_t end;
	int have_target = expect != NO_EXPECT;

	if (ref) {
		if (tr->n < ref->n) {
			target = ref->o[tr->n].v;
			have_target = 1;
		} else {
			have_target = 0;
		}
	}
	end = th_now_ms() + (tr->timed_out ? 300 : POLL_MS);
	for (;;) {
		v = probe(arg);
		if (!have_target || v == target) {
			break;
		}
		if (th_now_ms() >= end) {
			if (!ref) {
				th_fail(__FILE__, __LINE__,
					"the kernel never showed %s = %ld (last %ld): the "
					"scenario is wrong",
					label, target, v);
			}
			tr->timed_out = 1;
			break;
		}
		th_sleep_ms(1);
	}
	record(tr, v, "%s", label);
}

static long
probe_ctl(int packed)
{
	union semun a = {.val = 0};
	int cmd = packed >> 16, num = packed & 0xffff;
	int rc;

	errno = 0;
	rc = cur.y->ctl(cur.id, num, cmd, a);
	if (cmd == GETPID && rc > 0) {
		return pid_role(rc);
	}
	return enc(rc, errno);
}

/* Child c is asleep inside a command it has begun. */
static long
probe_asleep(int c)
{
	int began = __atomic_load_n(&cur.started[c], __ATOMIC_SEQ_CST);

	if (began != cur.issued[c]) {
		return 'N'; /* not begun yet */
	}
	return proc_state(cur.pid[c]);
}

static void
run_scen(const struct scen *sc, int w, struct trace *tr, const struct trace *ref)
{
	union semun a;
	char lab[72];

	memset(&cur, 0, sizeof(cur));
	cur.y = systems[w];
	cur.w = w;
	cur.parent = getpid();
	coarse_pids = sc->coarse_pids;
	cur.started = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cur.started == MAP_FAILED) {
		th_fail(__FILE__, __LINE__, "mmap: %s", strerror(errno));
	}
	memset(tr, 0, sizeof(*tr));
	cur.key = sc->setkey ? free_key((int)sc->seed) : IPC_PRIVATE;
	cur.id = cur.y->get(cur.key, sc->nsems, IPC_CREAT | IPC_EXCL | sc->mode);
	if (cur.id < 0) {
		th_fail(__FILE__, __LINE__, "%s semget(0x%x, %d, 0%o): %s", cur.y->name,
			(unsigned)cur.key, sc->nsems, (unsigned)sc->mode, strerror(errno));
	}
	register_set(w, cur.id);

	for (int i = 0; i < sc->nev; i++) {
		const struct ev *e = &sc->ev[i];
		int c = e->c;
		struct reply rp;

		set_where("scenario %s seed %llu on %s: event %d (type %d, child %d)", sc->name,
			  (unsigned long long)sc->seed, cur.y->name, i, e->type, c);
		switch (e->type) {
		case E_SPAWN:
			spawn_child(c);
			break;
		case E_DO:
			send_cmd(c, &e->cmd);
			rp = get_reply(c, POLL_MS);
			record(tr, enc(rp.rc, rp.err), "ev%d child%d cmd %d rc", i, c, e->cmd.type);
			if (e->cmd.type == C_CTL && e->cmd.ctl == IPC_STAT) {
				record(tr, rp.mode, "ev%d child%d IPC_STAT mode", i, c);
				record(tr, rp.nsems, "ev%d child%d IPC_STAT nsems", i, c);
			}
			break;
		case E_SEND:
			send_cmd(c, &e->cmd);
			break;
		case E_REPLY:
			rp = get_reply(c, tr->timed_out ? 300 : POLL_MS);
			if (rp.rc == -999) {
				tr->timed_out = 1;
			}
			record(tr, enc(rp.rc, rp.err), "ev%d child%d reply (-999: none)", i, c);
			break;
		case E_ASLEEP:
			snprintf(lab, sizeof(lab), "ev%d child%d state (S sleeping)", i, c);
			observe(tr, ref, probe_asleep, c, 'S', lab);
			break;
		case E_SIGNAL:
			kill(cur.pid[c], e->cmd.sig);
			break;
		case E_KILL: {
			int st;
			kill(cur.pid[c], SIGKILL);
			st = th_wait(cur.pid[c]);
			cur.alive[c] = 0;
			close(child_cmd_wr[c]);
			close(child_rep_rd[c]);
			record(tr, WIFSIGNALED(st) ? WTERMSIG(st) : -1, "ev%d child%d killed", i,
			       c);
			break;
		}
		case E_STOPCONT: {
			int st = 0;
			int64_t end = th_now_ms() + POLL_MS;
			pid_t r = 0;
			kill(cur.pid[c], SIGSTOP);
			while (th_now_ms() < end) {
				r = waitpid(cur.pid[c], &st, WUNTRACED | WNOHANG);
				if (r != 0) {
					break;
				}
				th_sleep_ms(1);
			}
			record(tr, r == cur.pid[c] && WIFSTOPPED(st), "ev%d child%d stopped", i, c);
			kill(cur.pid[c], SIGCONT);
			break;
		}
		case E_POP: {
			struct sembuf ops[8];
			int rc;
			memcpy(ops, e->cmd.ops, sizeof(ops));
			errno = 0;
			rc = cur.y->op(cur.id, ops, (size_t)e->cmd.nsops);
			record(tr, enc(rc, errno), "ev%d parent semop rc", i);
			break;
		}
		case E_PCTL: {
			unsigned short vals[8];
			struct semid_ds ds;
			int rc;
			memcpy(vals, e->vals, sizeof(vals));
			if (e->cmd.ctl == SETALL) {
				a.array = vals;
			} else if (e->cmd.ctl == IPC_SET) {
				memset(&ds, 0, sizeof(ds));
				ds.sem_perm.uid = geteuid();
				ds.sem_perm.gid = getegid();
				ds.sem_perm.mode = (unsigned short)e->cmd.val;
				a.buf = &ds;
			} else {
				a.val = e->cmd.val;
			}
			errno = 0;
			rc = cur.y->ctl(cur.id, e->cmd.semnum, e->cmd.ctl, a);
			record(tr, enc(rc, errno), "ev%d parent %s rc", i, cmd_name(e->cmd.ctl));
			break;
		}
		case E_OBS:
			for (int s = 0; s < sc->nsems; s++) {
				static const int cmds[] = {GETVAL, GETNCNT, GETZCNT, GETPID};
				for (int k = 0; k < 4; k++) {
					snprintf(lab, sizeof(lab), "ev%d %s(%d)", i,
						 cmd_name(cmds[k]), s);
					observe(tr, ref, probe_ctl, cmds[k] << 16 | s, NO_EXPECT,
						lab);
				}
			}
			break;
		default:
			th_fail(__FILE__, __LINE__, "bad event");
		}
	}
	/* The end: every child still there is killed; the set removed. */
	for (int c = 0; c < MAX_CH; c++) {
		if (cur.alive[c]) {
			kill(cur.pid[c], SIGKILL);
			th_wait(cur.pid[c]);
			close(child_cmd_wr[c]);
			close(child_rep_rd[c]);
			cur.alive[c] = 0;
		}
	}
	a.val = 0;
	cur.y->ctl(cur.id, 0, IPC_RMID, a);
	munmap((void *)cur.started, 4096);
}

static struct trace tr_k, tr_s;

/*
 * Divergences that are documented limitations of a user-space
 * implementation (include/shmkit/sysv.h, NOTES). Each is accepted only for
 * exactly this scenario, trace entry and pair of values; anything else
 * still fails the case.
 */
static const struct known {
	const char *scen; /* scenario name prefix */
	const char *label;
	long kernel, shmkit;
} known_divergences[] = {
	/* The kernel ends a semop blocked across SIGSTOP/SIGCONT with EINTR
	 * even with no handler; a library cannot see a stop it has no handler
	 * for, so shmkit's call keeps waiting and then takes the post. */
	{"stop_cont", "ev5 child0 reply (-999: none)", -10000 - EINTR, 0},
	{"stop_cont", "ev6 GETVAL(0)", 1, 0},
	{"stop_cont", "ev6 GETPID(0)", 1, 10},
	/* semget(key, 0, 0) by a user whom the mode refuses everything: the
	 * kernel returns the id (each later call fails with EACCES); shmkit
	 * cannot read the id out of a set that user may not open, so semget
	 * itself fails with EACCES. */
	{"perms", "ev2 child0 cmd 3 rc", 0, -10000 - EACCES},
};

static const struct known *
known_divergence(const struct scen *sc, const char *label, long k, long v)
{
	for (size_t i = 0; i < sizeof(known_divergences) / sizeof(known_divergences[0]); i++) {
		const struct known *d = &known_divergences[i];

		if (strncmp(sc->name, d->scen, strlen(d->scen)) == 0 &&
		    strcmp(label, d->label) == 0 && k == d->kernel && v == d->shmkit) {
			return d;
		}
	}
	return NULL;
}

/* Run @sc on both systems; every divergence is printed, then the case fails. */
static void
diff_scen(const struct scen *sc)
{
	int bad = 0;

	run_scen(sc, 0, &tr_k, NULL);
	run_scen(sc, 1, &tr_s, &tr_k);
	set_where("scenario %s seed %llu: comparing", sc->name, (unsigned long long)sc->seed);
	if (getenv("SHMKIT_TRACE")) {
		for (int i = 0; i < tr_k.n || i < tr_s.n; i++) {
			printf("# %s seed %llu [%d] %s: kernel %ld shmkit %ld\n", sc->name,
			       (unsigned long long)sc->seed, i, i < tr_k.n ? tr_k.o[i].label : "-",
			       i < tr_k.n ? tr_k.o[i].v : 0, i < tr_s.n ? tr_s.o[i].v : 0);
		}
	}
	if (tr_k.n != tr_s.n) {
		printf("# DIVERGENCE %s seed %llu: kernel trace has %d entries, shmkit %d\n",
		       sc->name, (unsigned long long)sc->seed, tr_k.n, tr_s.n);
		bad++;
	}
	for (int i = 0; i < tr_k.n && i < tr_s.n; i++) {
		if (tr_k.o[i].v != tr_s.o[i].v && strcmp(tr_k.o[i].label, tr_s.o[i].label) == 0 &&
		    known_divergence(sc, tr_k.o[i].label, tr_k.o[i].v, tr_s.o[i].v) != NULL) {
			printf("# known divergence %s seed %llu: %s: kernel %ld, shmkit %ld\n",
			       sc->name, (unsigned long long)sc->seed, tr_k.o[i].label, tr_k.o[i].v,
			       tr_s.o[i].v);
			continue;
		}
		if (tr_k.o[i].v != tr_s.o[i].v || strcmp(tr_k.o[i].label, tr_s.o[i].label) != 0) {
			if (bad < 40) {
				printf("# DIVERGENCE %s seed %llu: %s: kernel %ld, shmkit %ld%s\n",
				       sc->name, (unsigned long long)sc->seed, tr_k.o[i].label,
				       tr_k.o[i].v, tr_s.o[i].v,
				       "  (errors as -10000-errno; pid roles 1 parent, 10+i "
				       "child i)");
			}
			bad++;
		}
	}
	if (bad && keep_going) {
		ndiverged += bad;
	} else if (bad) {
		fflush(stdout);
		th_fail(__FILE__, __LINE__, "scenario %s seed %llu: %d divergences (listed above)",
			sc->name, (unsigned long long)sc->seed, bad);
	}
}

/* ---- scenario builders ---- */

static struct scen the_scen;

static struct ev *
add_ev(struct scen *sc, int type, int c)
{
	struct ev *e;

	if (sc->nev >= MAX_EV) {
		th_fail(__FILE__, __LINE__, "scenario too long");
	}
	e = &sc->ev[sc->nev++];
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->c = c;
	e->cmd.tmo_ms = -1;
	return e;
}

static void
add_op(struct ev *e, int num, int op, int flg)
{
	if (e->cmd.type == 0) {
		e->cmd.type = C_OP;
	}
	e->cmd.ops[e->cmd.nsops].sem_num = (unsigned short)num;
	e->cmd.ops[e->cmd.nsops].sem_op = (short)op;
	e->cmd.ops[e->cmd.nsops].sem_flg = (short)flg;
	e->cmd.nsops++;
}

static void
add_pop(struct scen *sc, int num, int op)
{
	struct ev *e = add_ev(sc, E_POP, 0);
	add_op(e, num, op, IPC_NOWAIT);
}

static void
add_pctl(struct scen *sc, int ctl, int num, int val)
{
	struct ev *e = add_ev(sc, E_PCTL, 0);
	e->cmd.ctl = ctl;
	e->cmd.semnum = num;
	e->cmd.val = val;
}

static struct scen *
scen_new(const char *name, uint64_t seed, int nsems)
{
	struct scen *sc = &the_scen;

	memset(sc, 0, sizeof(*sc));
	sc->name = name;
	sc->seed = seed;
	sc->nsems = nsems;
	sc->mode = 0600;
	return sc;
}

/*
 * Part 2: children block on decrements (sem 0, some through semtimedop with a
 * long timeout), on wait-for-zero (sem 1) and on a two-operation array (sems
 * 2 and 3); the parent releases them in stages. Every child must complete.
 */
static void
build_waiters(struct scen *sc, struct rng *r)
{
	int ndec = rrange(r, 1, 4), nz = rrange(r, 1, 2), m = rrange(r, 1, 5), sum = 0, min = 99;
	int c = 0, complex_c;
	struct ev *e;

	add_pctl(sc, SETVAL, 1, m);
	for (int i = 0; i < ndec; i++, c++) {
		int d = rrange(r, 1, 4);
		sum += d;
		min = d < min ? d : min;
		add_ev(sc, E_SPAWN, c);
		e = add_ev(sc, E_SEND, c);
		add_op(e, 0, -d, rn(r, 3) == 0 ? SEM_UNDO : 0);
		if (rn(r, 2)) {
			e->cmd.tmo_ms = 60000;
		}
		add_ev(sc, E_ASLEEP, c);
	}
	for (int i = 0; i < nz; i++, c++) {
		add_ev(sc, E_SPAWN, c);
		e = add_ev(sc, E_SEND, c);
		add_op(e, 1, 0, 0);
		add_ev(sc, E_ASLEEP, c);
	}
	complex_c = c++;
	add_ev(sc, E_SPAWN, complex_c);
	e = add_ev(sc, E_SEND, complex_c);
	add_op(e, 2, -1, 0);
	add_op(e, 3, -1, 0);
	add_ev(sc, E_ASLEEP, complex_c);
	add_ev(sc, E_OBS, 0);

	/* Half of the two-operation array can go: still blocked, nothing taken. */
	add_pop(sc, 2, 1);
	add_ev(sc, E_OBS, 0);
	/*
	 * A post smaller than every demand on sem 0 completes no one (which
	 * waiter a larger partial post serves depends on the wake-up order,
	 * which System V does not specify); then the rest; the zero waiters
	 * next.
	 */
	if (min > 1) {
		int part = rrange(r, 1, min - 1);
		add_pop(sc, 0, part);
		add_ev(sc, E_OBS, 0);
		add_pop(sc, 0, sum - part);
	} else {
		add_pop(sc, 0, sum);
	}
	for (int i = 0; i < ndec; i++) {
		add_ev(sc, E_REPLY, i);
	}
	add_pop(sc, 1, -m);
	for (int i = ndec; i < ndec + nz; i++) {
		add_ev(sc, E_REPLY, i);
	}
	add_pop(sc, 3, 1);
	add_ev(sc, E_REPLY, complex_c);
	add_ev(sc, E_OBS, 0);
}

static void
body_waiters(void)
{
	for (uint64_t seed = 1; seed <= 6; seed++) {
		struct rng r = {seed * 7919};
		struct scen *sc = scen_new("waiters", seed, 4);
		sc->coarse_pids = 1;
		build_waiters(sc, &r);
		diff_scen(sc);
	}
}

TEST_TIMEOUT(mp_blocking_waiters_complete, 120)
{
	run_guarded(body_waiters, 110);
}

/*
 * Part 3: children make random SEM_UNDO adjustments, one after the other,
 * some then block; the parent changes values in between (semop, SETVAL,
 * SETALL) and SIGKILLs the children one at a time, in random order, looking
 * at every value after each kill.
 */
static void
build_undo_random(struct scen *sc, struct rng *r)
{
	int nch = rrange(r, 2, 4);
	int order[MAX_CH];
	struct ev *e;

	{
		e = add_ev(sc, E_PCTL, 0);
		e->cmd.ctl = SETALL;
		for (int s = 0; s < 3; s++) {
			e->vals[s] =
				(unsigned short)(rn(r, 4) == 0 ? rrange(r, SEMVMX_ - 8, SEMVMX_)
							       : rrange(r, 0, 12));
		}
		e->vals[3] = 0;
	}
	for (int c = 0; c < nch; c++) {
		int nops = rrange(r, 1, 6);
		add_ev(sc, E_SPAWN, c);
		for (int k = 0; k < nops; k++) {
			int n = rrange(r, 1, 2);
			e = add_ev(sc, E_DO, c);
			e->cmd.type = C_OP;
			for (int j = 0; j < n; j++) {
				int op = rn(r, 8) == 0 ? (rn(r, 2) ? 1 : -1) *
								 rrange(r, SEMVMX_ - 10, SEMVMX_)
						       : rrange(r, -6, 6);
				add_op(e, rn(r, 3), op,
				       IPC_NOWAIT | (rn(r, 5) == 0 ? 0 : SEM_UNDO));
			}
		}
		if (rn(r, 2)) {
			/* Then sleep in semop on sem 3, which nobody posts. */
			e = add_ev(sc, E_SEND, c);
			add_op(e, 3, -1, rn(r, 2) ? SEM_UNDO : 0);
			add_ev(sc, E_ASLEEP, c);
		}
	}
	add_ev(sc, E_OBS, 0);
	for (int c = 0; c < nch; c++) {
		order[c] = c;
	}
	for (int c = nch - 1; c > 0; c--) {
		int j = rn(r, c + 1), t = order[c];
		order[c] = order[j];
		order[j] = t;
	}
	for (int k = 0; k < nch; k++) {
		switch (rn(r, 5)) {
		case 0:
			add_pop(sc, rn(r, 3), rrange(r, -8, 8));
			break;
		case 1:
			add_pctl(sc, SETVAL, rn(r, 3), rrange(r, 0, 12));
			break;
		case 2:
			e = add_ev(sc, E_PCTL, 0);
			e->cmd.ctl = SETALL;
			for (int s = 0; s < 3; s++) {
				e->vals[s] = (unsigned short)rrange(r, 0, 12);
			}
			break;
		default:
			break;
		}
		add_ev(sc, E_KILL, order[k]);
		add_ev(sc, E_OBS, 0);
	}
}

static void
body_undo_random(void)
{
	for (uint64_t seed = 1; seed <= 12; seed++) {
		struct rng r = {seed * 104729};
		struct scen *sc = scen_new("undo_random", seed, 4);
		build_undo_random(sc, &r);
		diff_scen(sc);
	}
}

TEST_TIMEOUT(undo_sigkill_random, 120)
{
	run_guarded(body_undo_random, 110);
}

/*
 * Part 3, fixed: undo that would go below 0 or above SEMVMX (the kernel
 * clamps), undo cleared by SETVAL and by SETALL, adjustments that cancel
 * out, and two processes' adjustments on one semaphore.
 */
static void
build_undo_clamp(struct scen *sc)
{
	struct ev *e;

	e = add_ev(sc, E_PCTL, 0);
	e->cmd.ctl = SETALL;
	e->vals[0] = 10;
	e->vals[1] = 10;
	e->vals[2] = 10;
	e->vals[3] = 10;
	for (int c = 0; c < 6; c++) {
		add_ev(sc, E_SPAWN, c);
	}
	/* 0: +5 with undo, parent takes 13, undo -5 would give -3: 0. */
	e = add_ev(sc, E_DO, 0);
	add_op(e, 0, 5, IPC_NOWAIT | SEM_UNDO);
	e->cmd.type = C_OP;
	/* 1: -5 with undo, parent adds 32760, undo +5 would give 32770: SEMVMX. */
	e = add_ev(sc, E_DO, 1);
	add_op(e, 1, -5, IPC_NOWAIT | SEM_UNDO);
	e->cmd.type = C_OP;
	/* 2: -3 with undo, then SETVAL 20 clears it: stays 20. */
	e = add_ev(sc, E_DO, 2);
	add_op(e, 2, -3, IPC_NOWAIT | SEM_UNDO);
	e->cmd.type = C_OP;
	/* 3: -2 and +2 with undo on sem 3: adjustment 0. */
	e = add_ev(sc, E_DO, 3);
	add_op(e, 3, -2, IPC_NOWAIT | SEM_UNDO);
	e->cmd.type = C_OP;
	e = add_ev(sc, E_DO, 3);
	add_op(e, 3, 2, IPC_NOWAIT | SEM_UNDO);
	e->cmd.type = C_OP;
	/* 4 and 5: both take from sem 3 with undo; 5 then sleeps on sem 3. */
	e = add_ev(sc, E_DO, 4);
	add_op(e, 3, -4, IPC_NOWAIT | SEM_UNDO);
	add_op(e, 2, 1, IPC_NOWAIT | SEM_UNDO);
	e->cmd.type = C_OP;
	e = add_ev(sc, E_DO, 5);
	add_op(e, 3, -6, IPC_NOWAIT | SEM_UNDO);
	e->cmd.type = C_OP;
	e = add_ev(sc, E_SEND, 5);
	add_op(e, 3, -1, SEM_UNDO);
	add_ev(sc, E_ASLEEP, 5);
	add_ev(sc, E_OBS, 0);

	add_pop(sc, 0, -13);
	add_ev(sc, E_KILL, 0);
	add_ev(sc, E_OBS, 0);
	add_pop(sc, 1, 32760);
	add_ev(sc, E_KILL, 1);
	add_ev(sc, E_OBS, 0);
	add_pctl(sc, SETVAL, 2, 20);
	add_ev(sc, E_KILL, 2);
	add_ev(sc, E_OBS, 0);
	add_ev(sc, E_KILL, 3);
	add_ev(sc, E_OBS, 0);
	/* The sleeper dies first: its queued op goes, its adjustment applies. */
	add_ev(sc, E_KILL, 5);
	add_ev(sc, E_OBS, 0);
	/* SETALL clears child 4's adjustments on sems 2 and 3. */
	e = add_ev(sc, E_PCTL, 0);
	e->cmd.ctl = SETALL;
	e->vals[0] = 1;
	e->vals[1] = 2;
	e->vals[2] = 3;
	e->vals[3] = 4;
	add_ev(sc, E_KILL, 4);
	add_ev(sc, E_OBS, 0);
}

static void
body_undo_clamp(void)
{
	struct scen *sc = scen_new("undo_clamp", 0, 4);

	build_undo_clamp(sc);
	diff_scen(sc);
}

TEST(undo_sigkill_clamp_and_clear)
{
	run_guarded(body_undo_clamp, 25);
}

/*
 * Part 4: a child blocked in semop (decrement, wait-for-zero, semtimedop)
 * gets a signal whose handler was installed with or without SA_RESTART
 * (semop is never restarted after a handler on Linux). It must sleep
 * ('S' in /proc/PID/stat) while blocked.
 */
static void
build_eintr(struct scen *sc, int saflags, int kind)
{
	struct ev *e;

	add_pctl(sc, SETVAL, 1, 1);
	add_ev(sc, E_SPAWN, 0);
	e = add_ev(sc, E_DO, 0);
	e->cmd.type = C_SIGACT;
	e->cmd.sig = SIGUSR1;
	e->cmd.saflags = saflags;
	e = add_ev(sc, E_SEND, 0);
	switch (kind) {
	case 0:
		add_op(e, 0, -1, SEM_UNDO);
		break;
	case 1:
		add_op(e, 1, 0, 0);
		break;
	default:
		add_op(e, 0, -2, 0);
		e->cmd.tmo_ms = 60000;
		break;
	}
	add_ev(sc, E_ASLEEP, 0);
	add_ev(sc, E_OBS, 0);
	e = add_ev(sc, E_SIGNAL, 0);
	e->cmd.sig = SIGUSR1;
	add_ev(sc, E_REPLY, 0);
	add_ev(sc, E_OBS, 0);
	/* The interrupted child is not waiting any more: a post stays. */
	add_pop(sc, 0, 3);
	add_ev(sc, E_OBS, 0);
}

static void
body_eintr(void)
{
	static const char *const kinds[] = {"decrement", "wait-for-zero", "semtimedop"};

	for (int restart = 0; restart < 2; restart++) {
		for (int kind = 0; kind < 3; kind++) {
			char name[64];
			struct scen *sc;
			snprintf(name, sizeof(name), "eintr %s%s", kinds[kind],
				 restart ? " SA_RESTART" : "");
			sc = scen_new(strdup(name), (uint64_t)(restart * 10 + kind), 2);
			build_eintr(sc, restart ? SA_RESTART : 0, kind);
			diff_scen(sc);
		}
	}
}

TEST_TIMEOUT(signal_interrupts_blocked_semop, 90)
{
	run_guarded(body_eintr, 80);
}

/* Part 4: SIGSTOP then SIGCONT while blocked, no handler installed. */
static void
body_stopcont(void)
{
	struct scen *sc = scen_new("stop_cont", 0, 1);
	struct ev *e;

	add_ev(sc, E_SPAWN, 0);
	e = add_ev(sc, E_SEND, 0);
	add_op(e, 0, -1, 0);
	add_ev(sc, E_ASLEEP, 0);
	add_ev(sc, E_STOPCONT, 0);
	/* Either the call returned (kernel: EINTR) or it still waits. */
	add_pop(sc, 0, 1);
	add_ev(sc, E_REPLY, 0);
	add_ev(sc, E_OBS, 0);
	diff_scen(sc);
}

TEST(stop_and_continue_while_blocked)
{
	run_guarded(body_stopcont, 25);
}

/* Part 4: IPC_RMID wakes every waiter with EIDRM; the id is then invalid. */
static void
body_rmid(void)
{
	struct scen *sc = scen_new("rmid", 0, 2);
	struct ev *e;

	add_pctl(sc, SETVAL, 1, 2);
	for (int c = 0; c < 4; c++) {
		add_ev(sc, E_SPAWN, c);
		e = add_ev(sc, E_SEND, c);
		switch (c) {
		case 0:
			add_op(e, 0, -1, 0);
			break;
		case 1:
			add_op(e, 1, 0, SEM_UNDO);
			break;
		case 2:
			add_op(e, 0, -1, SEM_UNDO);
			add_op(e, 1, -1, SEM_UNDO);
			e->cmd.tmo_ms = 60000;
			break;
		default:
			add_op(e, 0, -5, 0);
			break;
		}
		add_ev(sc, E_ASLEEP, c);
	}
	add_ev(sc, E_OBS, 0);
	add_pctl(sc, IPC_RMID, 0, 0);
	for (int c = 0; c < 4; c++) {
		add_ev(sc, E_REPLY, c);
	}
	add_ev(sc, E_OBS, 0);
	add_pop(sc, 0, 1);
	add_pctl(sc, IPC_RMID, 0, 0);
	add_pctl(sc, SETVAL, 0, 1);
	e = add_ev(sc, E_DO, 0);
	e->cmd.type = C_OP;
	add_op(e, 0, 1, IPC_NOWAIT);
	diff_scen(sc);
}

TEST(rmid_wakes_waiters_with_eidrm)
{
	run_guarded(body_rmid, 25);
}

/*
 * Part 5: a child with another uid (65534), in the set's group or not,
 * looks the set up by key, reads, alters, waits for zero, changes and
 * removes it. Values are checked afterwards by the owner.
 */
static void
build_perms(struct scen *sc, int gid)
{
	static const struct {
		int type, ctl, nsems, flg;
	} acts[] = {
		{C_GET, 0, 0, 0},       {C_GET, 0, 0, 0400},     {C_GET, 0, 0, 0200},
		{C_GET, 0, 0, 0600},    {C_GET, 0, 0, 0004},     {C_GET, 0, 0, 0040},
		{C_CTL, GETVAL, 0, 0},  {C_CTL, GETNCNT, 0, 0},  {C_CTL, IPC_STAT, 0, 0},
		{C_OP, 0, 0, 0},        {C_OP, 1, 0, 0},         {C_CTL, SETVAL, 0, 0},
		{C_CTL, IPC_SET, 0, 0}, {C_CTL, IPC_RMID, 0, 0},
	};
	struct ev *e;

	sc->setkey = 1;
	add_ev(sc, E_SPAWN, 0);
	e = add_ev(sc, E_DO, 0);
	e->cmd.type = C_SETID;
	e->cmd.uid = 65534;
	e->cmd.gid = gid;
	for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
		e = add_ev(sc, E_DO, 0);
		e->cmd.type = acts[i].type;
		e->cmd.nsems = acts[i].nsems;
		e->cmd.flg = acts[i].flg;
		if (acts[i].type == C_OP) {
			/* ctl 0: wait-for-zero (read); 1: add 1 (alter). */
			add_op(e, 0, acts[i].ctl, IPC_NOWAIT);
		} else if (acts[i].type == C_CTL) {
			e->cmd.ctl = acts[i].ctl;
			e->cmd.val = 7;
		}
	}
	add_ev(sc, E_OBS, 0);
}

static void
body_perms(void)
{
	static const int modes[] = {0600, 0640, 0604, 0660, 0606, 0664, 0666, 0000};

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		for (int grp = 0; grp < 2; grp++) {
			char name[64];
			struct scen *sc;
			/* grp 1: the child keeps gid 0, the set's group (root made it). */
			snprintf(name, sizeof(name), "perms mode 0%o uid 65534 gid %d",
				 (unsigned)modes[m], grp ? (int)getegid() : 65534);
			sc = scen_new(strdup(name), m * 2 + (size_t)grp, 1);
			sc->mode = modes[m];
			build_perms(sc, grp ? (int)getegid() : 65534);
			diff_scen(sc);
		}
	}
}

TEST_TIMEOUT(permissions_other_uid, 60)
{
	th_require_root("a child must change its uid and gid to 65534");
	run_guarded(body_perms, 55);
}
