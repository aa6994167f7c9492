/* SPDX-License-Identifier: MIT */
/* The msg drop-in: a creator killed between claiming an index and creating the queue. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#include <shmkit/sysv.h>

#include "internal/registry.h"
#include "internal/spec.h"
#include "internal/sysvids.h"

/*
 * shmkit_msgget(IPC_CREAT) first claims an index (the file
 * shmkit.msqidx.IDX, created exclusively, holding "ID KEY"), then creates the
 * queue shmkit.msqid.ID, then links the key to it (sysv.h). The queue's
 * segment is made unnamed and gets its name only when complete, so a creator
 * SIGKILLed at any crash point of that creation (create_after_alloc,
 * create_after_header, create_before_publish) leaves the claim and nothing
 * else: a claim without a queue. One killed at queue_create_before_ready
 * leaves the claim and a named queue that never became ready; both are
 * removed with the other stale claims.
 *
 * What sysv.h promises, checked here: the key is free again (msgget(key, 0)
 * is ENOENT, IPC_CREAT | IPC_EXCL makes a fresh queue that works, at another
 * index); IPC_INFO and MSG_INFO report the highest index in use and count
 * only queues, consistently with MSG_STAT_ANY at each index; and when the
 * indices run out, claims without a queue are removed if their creator
 * (named in the claim) is dead, or, naming nobody, once older than 60 s;
 * a claim whose creator lives stays, however old.
 *
 * Aging: the library has no hook for the 60 s; the claim's age is its file's
 * mtime, so the test sets that 120 s back (utimensat) instead of waiting.
 * Running out: every free index is given an aged claim without a queue
 * (made under a temporary name and linked, so it is aged when it appears),
 * then one more queue is created.
 *
 * Cleanup: each case runs in a forked worker; afterwards every claim,
 * queue and key link of the keys it registered, its fake claims and any
 * fallback temporaries of its killed creators are removed, however it ended.
 */

#define IPCMNI    SHMKIT_IPCMNI
#define FAKE_SEQ  65535 /* the sequence of the fake claims' ids */
#define MAX_KEYS  16
#define MAX_PIDS  16
#define STALE_AGE 120 /* seconds: older than the documented 60 */

struct shared {
	int nkeys, npids;
	key_t keys[MAX_KEYS];
	pid_t pids[MAX_PIDS];
	key_t fake_key;
};

static struct shared *sh;

struct mbuf {
	long mtype;
	char mtext[64];
};

static void
claim_path(char *buf, size_t len, int idx)
{
	snprintf(buf, len, SHMKIT_POSIX_DIR "/" SHMKIT_POSIX_PREFIX "msqidx.%d", idx);
}

static void
queue_path(char *buf, size_t len, int id)
{
	snprintf(buf, len, SHMKIT_POSIX_DIR "/" SHMKIT_POSIX_PREFIX "msqid.%d", id);
}

static void
key_path(char *buf, size_t len, key_t key)
{
	snprintf(buf, len, SHMKIT_POSIX_DIR "/" SHMKIT_POSIX_PREFIX "msqkey.0x%08x", (unsigned)key);
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The index of the claim file @name, or -1 if it is not one. */
static int
claim_index(const char *name)
{
	static const char pre[] = SHMKIT_POSIX_PREFIX "msqidx.";
	char *end;

	if (strncmp(name, pre, sizeof(pre) - 1) != 0) {
		return -1;
	}
	long v = strtol(name + sizeof(pre) - 1, &end, 10);
	return *end == '\0' && v >= 0 && v < SHMKIT_MSGMNI ? (int)v : -1;
}

/* Read the claim of @idx: 0 with its id and key, -1 if none. */
static int
read_claim(int idx, int *id, key_t *key)
{
	char path[PATH_MAX], buf[64];
	unsigned long k;

	claim_path(path, sizeof(path), idx);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		return -1;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return -1;
	}
	buf[n] = '\0';
	if (sscanf(buf, "%d %lx", id, &k) != 2) {
		return -1;
	}
	*key = (key_t)k;
	return 0;
}

/* The index of the (first) claim holding @key, with its id; -1 if none. */
static int
find_claim(key_t key, int *id)
{
	DIR *d = opendir(SHMKIT_POSIX_DIR);
	struct dirent *e;
	int found = -1;

	ASSERT_TRUE(d != NULL);
	while (found < 0 && (e = readdir(d)) != NULL) {
		int idx = claim_index(e->d_name), cid;
		key_t ckey;
		if (idx >= 0 && read_claim(idx, &cid, &ckey) == 0 && ckey == key) {
			found = idx;
			*id = cid;
		}
	}
	closedir(d);
	return found;
}

/* Remove what the keys and fakes of this case left, file by file. */
static void
sweep_leftovers(void)
{
	DIR *d = opendir(SHMKIT_POSIX_DIR);
	struct dirent *e;
	char path[PATH_MAX];

	for (int i = 0; i < sh->nkeys; i++) {
		int id = shmkit_msgget(sh->keys[i], 0);
		if (id >= 0) {
			shmkit_msgctl(id, IPC_RMID, NULL);
		}
		key_path(path, sizeof(path), sh->keys[i]);
		unlink(path);
	}
	if (d == NULL) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		int idx = claim_index(e->d_name), id;
		key_t key;
		if (idx < 0 || read_claim(idx, &id, &key) != 0) {
			continue;
		}
		int ours = sh->fake_key != 0 && key == sh->fake_key && id / IPCMNI == FAKE_SEQ;
		for (int i = 0; i < sh->nkeys; i++) {
			ours |= key == sh->keys[i];
		}
		if (ours) {
			queue_path(path, sizeof(path), id);
			unlink(path);
			claim_path(path, sizeof(path), idx);
			unlink(path);
		}
	}
	closedir(d);
	/* Without O_TMPFILE, a killed creator leaves a hidden temporary. */
	for (int i = 0; i < sh->npids; i++) {
		char pre[64];
		snprintf(pre, sizeof(pre), ".shmkit-init.%d.", (int)sh->pids[i]);
		d = opendir(SHMKIT_POSIX_DIR);
		while (d != NULL && (e = readdir(d)) != NULL) {
			if (strncmp(e->d_name, pre, strlen(pre)) == 0) {
				snprintf(path, sizeof(path), SHMKIT_POSIX_DIR "/%s", e->d_name);
				unlink(path);
			}
		}
		if (d != NULL) {
			closedir(d);
		}
	}
	snprintf(path, sizeof(path), SHMKIT_POSIX_DIR "/.t-claimfill-%d", (int)getpid());
	unlink(path);
}

/* Run @body in a worker; remove whatever it left afterwards. */
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
	sweep_leftovers();
	ASSERT_EXIT(st, 0);
}

/* A key that is free (no shmkit queue, no claim), registered for cleanup. */
static key_t
new_key(void)
{
	static unsigned next;
	int id;

	for (int tries = 0; tries < 4096; tries++) {
		key_t key = (key_t)(0x6c000000 | ((unsigned)(getpid() & 0xfff) << 12) |
				    (next++ & 0xfff));
		if (shmkit_msgget(key, 0) < 0 && errno == ENOENT && find_claim(key, &id) < 0) {
			ASSERT_LT(sh->nkeys, MAX_KEYS);
			sh->keys[sh->nkeys++] = key;
			return key;
		}
	}
	th_fail(__FILE__, __LINE__, "no free key");
}

/* Re-executed with SHMKIT_CRASHPOINT set: create the queue of key argv[1]. */
CHILD(create_keyed)
{
	key_t key = (key_t)strtoul(argv[1], NULL, 0);
	int id = shmkit_msgget(key, IPC_CREAT | IPC_EXCL | 0600);
	fprintf(stderr, "create_keyed: crash point \"%s\" not reached (msgget: %d, %s)\n",
		getenv("SHMKIT_CRASHPOINT") ? getenv("SHMKIT_CRASHPOINT") : "", id,
		id < 0 ? strerror(errno) : "created");
	return 3;
}

/* Kill a creator of @key at @point; return the index it claimed (its id in
 * *@id). */
static int
kill_creator_at(const char *point, key_t key, int *id)
{
	char karg[32], b[96];

	snprintf(karg, sizeof(karg), "0x%x", (unsigned)key);
	pid_t pid = th_spawn_env("SHMKIT_CRASHPOINT", point, "create_keyed", karg, NULL);
	if (sh->npids < MAX_PIDS) {
		sh->pids[sh->npids++] = pid;
	}
	int st = th_wait(pid);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
		th_fail(__FILE__, __LINE__, "creator at %s: %s, expected SIGKILL", point,
			th_status_str(st, b, sizeof(b)));
	}
	/* Documented: the claim stays behind. */
	int idx = find_claim(key, id);
	if (idx < 0) {
		th_fail(__FILE__, __LINE__, "creator killed at %s left no claim", point);
	}
	ASSERT_EQ(*id % IPCMNI, idx);
	char path[PATH_MAX];
	key_path(path, sizeof(path), key);
	ASSERT_TRUE(!exists(path)); /* the key is linked only to a complete queue */
	queue_path(path, sizeof(path), *id);
	if (strcmp(point, "queue_create_before_ready") == 0) {
		ASSERT_TRUE(exists(path)); /* named, never ready */
	} else {
		ASSERT_TRUE(!exists(path)); /* the segment was never named */
	}
	return idx;
}

/*
 * IPC_INFO and MSG_INFO give the highest index in use (claims count, at
 * least @a and @b), MSG_INFO's msgpool counts the indices where MSG_STAT_ANY
 * finds a queue, and each id found is at its index. Other processes may
 * create or remove queues meanwhile: retried until one pass is consistent.
 */
static void
check_info(int a, int b)
{
	char why[256] = "";

	for (int attempt = 0; attempt < 50; attempt++) {
		struct msginfo ii, mi;
		struct msqid_ds ds;
		int queues = 0;

		memset(&ii, 0, sizeof(ii));
		memset(&mi, 0, sizeof(mi));
		int max = shmkit_msgctl(0, IPC_INFO, (struct msqid_ds *)(void *)&ii);
		ASSERT_SYS(max);
		int max2 = shmkit_msgctl(0, MSG_INFO, (struct msqid_ds *)(void *)&mi);
		ASSERT_SYS(max2);
		ASSERT_EQ(ii.msgmni, SHMKIT_MSGMNI);
		why[0] = '\0';
		/* EINVAL: no queue at the index; EACCES: another user's queue
		 * that this user cannot open, which MSG_INFO cannot count. */
		for (int i = 0; i <= max && why[0] == '\0'; i++) {
			errno = 0;
			int r = shmkit_msgctl(i, MSG_STAT_ANY, &ds);
			if (r >= 0) {
				queues++;
				if (r % IPCMNI != i) {
					snprintf(why, sizeof(why), "MSG_STAT_ANY(%d) gave id %d", i,
						 r);
				}
			} else if (errno != EINVAL && errno != EACCES) {
				snprintf(why, sizeof(why), "MSG_STAT_ANY(%d): %s", i,
					 strerror(errno));
			}
		}
		if (why[0] != '\0') {
			/* a queue that went while we looked: look again */
		} else if (max != max2) {
			snprintf(why, sizeof(why), "IPC_INFO says %d, MSG_INFO %d", max, max2);
		} else if (max < a || max < b) {
			snprintf(why, sizeof(why), "highest index %d, but %d and %d are in use",
				 max, a, b);
		} else if (mi.msgpool != queues) {
			snprintf(why, sizeof(why), "MSG_INFO msgpool %d, MSG_STAT_ANY found %d",
				 mi.msgpool, queues);
		} else {
			return;
		}
		th_sleep_ms(20);
	}
	th_fail(__FILE__, __LINE__, "IPC_INFO/MSG_INFO inconsistent: %s", why);
}

/* The queue @id of @key works: IPC_STAT, a message there and back. */
static void
check_queue_works(int id, key_t key)
{
	struct msqid_ds ds;
	struct mbuf m = {.mtype = 7};

	ASSERT_SYS(shmkit_msgctl(id, IPC_STAT, &ds));
	ASSERT_EQ(ds.msg_perm.__key, key);
	ASSERT_EQ(ds.msg_qnum, 0);
	ASSERT_EQ(ds.msg_perm.mode & 0777, 0600);
	memcpy(m.mtext, "after-the-kill", 14);
	ASSERT_SYS(shmkit_msgsnd(id, &m, 14, IPC_NOWAIT));
	memset(&m, 0, sizeof(m));
	ASSERT_EQ(shmkit_msgrcv(id, &m, sizeof(m.mtext), 0, IPC_NOWAIT), 14);
	ASSERT_EQ(m.mtype, 7);
	ASSERT_TRUE(memcmp(m.mtext, "after-the-kill", 14) == 0);
	ASSERT_EQ(shmkit_msgget(key, 0), id);
}

static const char *const points[] = {
	"create_after_alloc",
	"create_after_header",
	"create_before_publish",
	"queue_create_before_ready",
};

static void
body_key_reusable(void)
{
	for (size_t p = 0; p < sizeof(points) / sizeof(points[0]); p++) {
		key_t key = new_key();
		int lid;
		char path[PATH_MAX];
		struct msqid_ds ds;
		struct mbuf m = {.mtype = 1};

		th_context("killed at %s", points[p]);
		int lidx = kill_creator_at(points[p], key, &lid);
		/* The key names nothing. */
		errno = 0;
		ASSERT_EQ(shmkit_msgget(key, 0600), -1);
		ASSERT_EQ(errno, ENOENT);
		/* The leftover's id is no queue. */
		errno = 0;
		ASSERT_EQ(shmkit_msgsnd(lid, &m, 1, IPC_NOWAIT), -1);
		ASSERT_EQ(errno, EINVAL);
		errno = 0;
		ASSERT_EQ(shmkit_msgctl(lid, IPC_STAT, &ds), -1);
		ASSERT_EQ(errno, EINVAL);
		errno = 0;
		ASSERT_EQ(shmkit_msgctl(lidx, MSG_STAT_ANY, &ds), -1);
		ASSERT_EQ(errno, EINVAL);
		/* The key can be got again: a fresh queue, at another index. */
		int id = shmkit_msgget(key, IPC_CREAT | IPC_EXCL | 0600);
		ASSERT_SYS(id);
		ASSERT_NE(id % IPCMNI, lidx);
		ASSERT_NE(id, lid);
		check_queue_works(id, key);
		errno = 0;
		ASSERT_EQ(shmkit_msgget(key, IPC_CREAT | IPC_EXCL | 0600), -1);
		ASSERT_EQ(errno, EEXIST);
		ASSERT_EQ(shmkit_msgctl(id % IPCMNI, MSG_STAT, &ds), id);
		check_info(lidx, id % IPCMNI);
		/* Removal leaves nothing of the new queue; the young claim
		 * stays (it is not 60 s old). */
		ASSERT_SYS(shmkit_msgctl(id, IPC_RMID, NULL));
		errno = 0;
		ASSERT_EQ(shmkit_msgget(key, 0), -1);
		ASSERT_EQ(errno, ENOENT);
		queue_path(path, sizeof(path), id);
		ASSERT_TRUE(!exists(path));
		int cid;
		key_t ckey;
		ASSERT_TRUE(read_claim(id % IPCMNI, &cid, &ckey) != 0 || cid != id);
		ASSERT_EQ(find_claim(key, &cid), lidx);
		/* And the key still works after that. */
		id = shmkit_msgget(key, IPC_CREAT | 0600);
		ASSERT_SYS(id);
		ASSERT_NE(id % IPCMNI, lidx);
		check_queue_works(id, key);
		ASSERT_SYS(shmkit_msgctl(id, IPC_RMID, NULL));
	}
	th_context(NULL);
}

TEST_TIMEOUT(killed_after_claim_key_reusable, 60)
{
	run_worker(body_key_reusable);
}

/* Set the mtime (the age sweep_claims looks at) of claim @idx. */
static void
age_claim(int idx, time_t when)
{
	char path[PATH_MAX];
	struct timespec ts[2] = {{when, 0}, {when, 0}};

	claim_path(path, sizeof(path), idx);
	ASSERT_SYS(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW));
}

/*
 * Claim the lowest free index for @key, as the library does, naming
 * @creator (a liveness token) and with its file's time set to @when; no
 * queue behind it. Return the index.
 */
static int
make_claim(key_t key, uint32_t creator, time_t when)
{
	char tmp[PATH_MAX], path[PATH_MAX], line[80];
	struct timespec ts[2] = {{when, 0}, {when, 0}};
	snprintf(tmp, sizeof(tmp), SHMKIT_POSIX_DIR "/.t-claimone-%d", (int)getpid());
	for (int idx = 0; idx < SHMKIT_MSGMNI; idx++) {
		int id;
		key_t k;
		if (read_claim(idx, &id, &k) == 0) {
			continue;
		}
		int len = snprintf(line, sizeof(line), "%d 0x%08x %u\n",
				   idx + IPCMNI * (FAKE_SEQ - 1), (unsigned)key, creator);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		ASSERT_SYS(fd);
		ASSERT_EQ(write(fd, line, (size_t)len), len);
		ASSERT_SYS(futimens(fd, ts));
		close(fd);
		claim_path(path, sizeof(path), idx);
		int rc = link(tmp, path);
		ASSERT_SYS(unlink(tmp));
		if (rc == 0) {
			return idx;
		}
		ASSERT_EQ(errno, EEXIST); /* another creator took it meanwhile */
	}
	th_fail(__FILE__, __LINE__, "no free index for a claim");
	return -1;
}

/* Give every free index an aged claim without a queue; return how many. */
static int
fill_free_indices(time_t when)
{
	static unsigned char used[(SHMKIT_MSGMNI + 7) / 8];
	char tmp[PATH_MAX], path[PATH_MAX], line[64];
	struct timespec ts[2] = {{when, 0}, {when, 0}};
	DIR *d = opendir(SHMKIT_POSIX_DIR);
	struct dirent *e;
	int n = 0;

	ASSERT_TRUE(d != NULL);
	memset(used, 0, sizeof(used));
	while ((e = readdir(d)) != NULL) {
		int idx = claim_index(e->d_name);
		if (idx >= 0) {
			used[idx / 8] |= (unsigned char)(1u << (idx % 8));
		}
	}
	closedir(d);
	snprintf(tmp, sizeof(tmp), SHMKIT_POSIX_DIR "/.t-claimfill-%d", (int)getpid());
	for (int idx = 0; idx < SHMKIT_MSGMNI; idx++) {
		if (used[idx / 8] & (1u << (idx % 8))) {
			continue;
		}
		int len = snprintf(line, sizeof(line), "%d 0x%08x\n", idx + IPCMNI * FAKE_SEQ,
				   (unsigned)sh->fake_key);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		ASSERT_SYS(fd);
		ASSERT_EQ(write(fd, line, (size_t)len), len);
		ASSERT_SYS(futimens(fd, ts));
		close(fd);
		claim_path(path, sizeof(path), idx);
		if (link(tmp, path) == 0) {
			n++;
		} else {
			ASSERT_EQ(errno, EEXIST); /* another creator took it meanwhile */
		}
		ASSERT_SYS(unlink(tmp));
	}
	return n;
}

/* How many fake claims are left. */
static int
count_fakes(void)
{
	DIR *d = opendir(SHMKIT_POSIX_DIR);
	struct dirent *e;
	int n = 0;

	ASSERT_TRUE(d != NULL);
	while ((e = readdir(d)) != NULL) {
		int idx = claim_index(e->d_name), id;
		key_t key;
		if (idx >= 0 && read_claim(idx, &id, &key) == 0 && key == sh->fake_key &&
		    id / IPCMNI == FAKE_SEQ) {
			n++;
		}
	}
	closedir(d);
	return n;
}

static void
body_reclaimed(void)
{
	key_t old_key = new_key(), young_key = new_key(), key = new_key(), unready_key = new_key();
	key_t live_key = new_key();
	int old_id, young_id, unready_id, cid;
	char path[PATH_MAX];
	struct msginfo mi;

	sh->fake_key = (key_t)(0x6b000000 | (getpid() & 0xffffff));
	/* A leftover claim made old, and one that stays young. */
	int old_idx = kill_creator_at("create_before_publish", old_key, &old_id);
	age_claim(old_idx, time(NULL) - STALE_AGE);
	(void)kill_creator_at("create_after_header", young_key, &young_id);
	/* A claim whose creator lives (this process: a creation in progress, as
	 * far as anyone can tell), made to look old: kept, whatever its age. */
	uint32_t me;
	ASSERT_OK(shmkit__self_token(&me));
	int live_idx = make_claim(live_key, me, time(NULL) - STALE_AGE);
	/* An old claim whose queue is named but never became ready (its
	 * creator died first): nobody can use it, so it goes too. */
	int unready_idx = kill_creator_at("queue_create_before_ready", unready_key, &unready_id);
	age_claim(unready_idx, time(NULL) - STALE_AGE);
	/* Every other index: an old claim without a queue. */
	int filled = fill_free_indices(time(NULL) - STALE_AGE);
	th_log("%d free indices given an old claim without a queue", filled);
	int max = shmkit_msgctl(0, IPC_INFO, (struct msqid_ds *)(void *)&mi);
	ASSERT_SYS(max);
	if (max != SHMKIT_MSGMNI - 1) {
		th_log("another process swept the claims already (highest index %d)", max);
	}
	/* The indices ran out: creating sweeps the old claims without a
	 * queue and succeeds. (Had another process swept first, the same
	 * claims went; either way they must be gone.) */
	int id = shmkit_msgget(key, IPC_CREAT | IPC_EXCL | 0600);
	ASSERT_SYS(id);
	check_queue_works(id, key);
	ASSERT_EQ(find_claim(old_key, &cid), -1);
	ASSERT_EQ(find_claim(unready_key, &cid), -1);
	queue_path(path, sizeof(path), unready_id);
	ASSERT_TRUE(!exists(path));
	ASSERT_EQ(count_fakes(), 0);
	/* Its creator dead: gone at once, young as it was (claims name their
	 * creator; only a claim that names nobody waits out 60 s). */
	ASSERT_EQ(find_claim(young_key, &cid), -1);
	/* Its creator alive: kept, old as it looks. */
	ASSERT_EQ(find_claim(live_key, &cid), live_idx);
	/* The old leftover's key works again. */
	int id2 = shmkit_msgget(old_key, IPC_CREAT | IPC_EXCL | 0600);
	ASSERT_SYS(id2);
	check_queue_works(id2, old_key);
	check_info(live_idx, id % IPCMNI);
	ASSERT_SYS(shmkit_msgctl(id, IPC_RMID, NULL));
	ASSERT_SYS(shmkit_msgctl(id2, IPC_RMID, NULL));
}

TEST_TIMEOUT(stale_claim_reclaimed_when_indices_run_out, 120)
{
	run_worker(body_reclaimed);
}
