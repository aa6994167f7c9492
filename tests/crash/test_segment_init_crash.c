/* SPDX-License-Identifier: MIT */
/* T07: a creator killed at each init step while openers race; the next create succeeds, no
 * leftovers. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "segtest.h"

#define SEG_SIZE             "65536"
#define OPENERS              3
#define ATTEMPTS_AFTER_DEATH 5
#define RACERS               4

static const char *const points[] = {
	"create_after_alloc",
	"create_after_header",
	"create_before_publish",
};

/* argv: creator SPEC SIZE. Run with SHMKIT_CRASHPOINT set: must not return. */
CHILD(creator)
{
	shmkit_segment *s = NULL;
	shmkit_segment_opts o;
	int rc;

	ASSERT_EQ(argc, 3);
	o = seg_opts(th_parse_u64(argv[2]), 0);
	rc = shmkit_segment_create(&s, argv[1], &o);
	if (rc == 0) {
		shmkit_segment_close(s); /* the object stays */
	}
	fprintf(stderr, "creator: crash point \"%s\" not reached (create: %d)\n",
		getenv("SHMKIT_CRASHPOINT") ? getenv("SHMKIT_CRASHPOINT") : "", rc);
	return 3;
}

/* A handle an opener got must be a ready shmkit segment with sane data. */
static void
check_opened(shmkit_segment *s, const char *who)
{
	shmkit_segment_info *info = calloc(1, sizeof(*info));

	ASSERT_TRUE(info != NULL);
	ASSERT_OK(shmkit_segment_info_get(s, info));
	if (info->state != SHMKIT_STATE_READY || info->is_shmkit != 1) {
		th_fail(__FILE__, __LINE__,
			"%s got a handle to a non-ready object "
			"(state %u, is_shmkit %d)",
			who, info->state, info->is_shmkit);
	}
	ASSERT_GE(shmkit_segment_size(s), th_parse_u64(SEG_SIZE));
	free(info);
}

/*
 * argv: opener SPEC STOP_FD READY_FD. Opens SPEC over and over until STOP_FD
 * reaches end of file, then a few more times. The creator never publishes,
 * so every attempt must fail with a clean error.
 */
CHILD(opener)
{
	int stop, ready, stopped = 0, after = 0;
	long n_noent = 0, n_dead = 0, n_timeout = 0;

	ASSERT_EQ(argc, 4);
	stop = (int)th_parse_u64(argv[2]);
	ready = (int)th_parse_u64(argv[3]);
	th_context("opener of %s", argv[1]);
	ASSERT_EQ(th_write_all(ready, "r", 1), 0);
	close(ready);

	while (after < ATTEMPTS_AFTER_DEATH) {
		shmkit_segment_opts o = seg_opts(0, 0);
		shmkit_segment *s = NULL;
		int rc;

		o.ready_timeout_ms = 300;
		rc = shmkit_segment_open(&s, argv[1], &o);
		if (rc == 0) {
			check_opened(s, "opener");
			th_fail(__FILE__, __LINE__,
				"opener got a handle although no creator published");
		}
		ASSERT_TRUE(s == NULL);
		ASSERT_IN(rc, -ENOENT, -EOWNERDEAD, -ETIMEDOUT);
		n_noent += rc == -ENOENT;
		n_dead += rc == -EOWNERDEAD;
		n_timeout += rc == -ETIMEDOUT;
		if (!stopped) {
			struct pollfd p = {.fd = stop, .events = POLLIN};
			if (poll(&p, 1, 0) > 0) {
				stopped = 1;
			}
		} else {
			after++;
		}
	}
	printf("# opener %d: %ld -ENOENT, %ld -EOWNERDEAD, %ld -ETIMEDOUT\n", (int)getpid(),
	       n_noent, n_dead, n_timeout);
	return 0;
}

/* argv: verify SPEC SEED. Opens by name and checks the pattern. */
CHILD(verify)
{
	shmkit_segment *s;

	ASSERT_EQ(argc, 3);
	s = seg_open(argv[1], 0);
	check_opened(s, "verifier");
	ASSERT_EQ(th_check_fill(shmkit_segment_data(s), shmkit_segment_size(s),
				th_parse_u64(argv[2])),
		  -1);
	ASSERT_EQ(shmkit_segment_close(s), 0);
	return 0;
}

/* argv: race SPEC GATE_FD. open_or_create once the gate opens; exit 10 + rc. */
CHILD(race)
{
	shmkit_segment_opts o;
	shmkit_segment *s = NULL;
	char c;
	int rc;

	ASSERT_EQ(argc, 3);
	th_context("open_or_create racer of %s", argv[1]);
	o = seg_opts(th_parse_u64(SEG_SIZE), 0);
	while (read((int)th_parse_u64(argv[2]), &c, 1) > 0) {
	}
	rc = shmkit_segment_open_or_create(&s, argv[1], &o);
	ASSERT_IN(rc, 0, 1);
	check_opened(s, "open_or_create");
	ASSERT_EQ(shmkit_segment_close(s), 0);
	return 10 + rc;
}

/* Kill a creator at @point while OPENERS processes try to open. */
static pid_t
crash_creator(const char *spec, const char *point)
{
	pid_t openers[OPENERS], creator;
	int stop[2], ready[2];
	char a_stop[16], a_ready[16], c;
	int st;

	ASSERT_SYS(pipe(stop));
	ASSERT_SYS(pipe(ready));
	ASSERT_SYS(fcntl(stop[1], F_SETFD, FD_CLOEXEC));
	ASSERT_SYS(fcntl(ready[0], F_SETFD, FD_CLOEXEC));
	snprintf(a_stop, sizeof(a_stop), "%d", stop[0]);
	snprintf(a_ready, sizeof(a_ready), "%d", ready[1]);
	for (int i = 0; i < OPENERS; i++) {
		openers[i] = th_spawn_env("SHMKIT_CRASHPOINT", NULL, "opener", spec, a_stop,
					  a_ready, NULL);
	}
	close(stop[0]);
	close(ready[1]);
	for (int i = 0; i < OPENERS; i++) {
		ASSERT_EQ(th_read_all(ready[0], &c, 1), 0);
	}
	close(ready[0]);

	creator = th_spawn_env("SHMKIT_CRASHPOINT", point, "creator", spec, SEG_SIZE, NULL);
	st = th_wait(creator);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
		th_fail(__FILE__, __LINE__, "crash point %s is not in create's path", point);
	}
	ASSERT_SIGNALED(st, SIGKILL);

	/* The openers keep trying for a while against the dead creator's remains. */
	close(stop[1]);
	for (int i = 0; i < OPENERS; i++) {
		ASSERT_EXIT(th_wait(openers[i]), 0);
	}
	return creator;
}

/* Entries of @dir whose name contains @needle. */
static int
entries_with(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ASSERT_TRUE(d != NULL);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			continue;
		}
		if (!needle || strstr(e->d_name, needle)) {
			th_log("left in %s: %s", dir, e->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* System V segments created by @pid that still exist. */
static int
sysv_segments_of(pid_t pid)
{
	FILE *f = fopen("/proc/sysvipc/shm", "r");
	char line[512];
	int n = 0;

	if (!f) {
		return 0;
	}
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		long long key, id, perms, size, cpid;
		if (sscanf(line, "%lld %lld %llo %lld %lld", &key, &id, &perms, &size, &cpid) ==
			    5 &&
		    cpid == pid) {
			th_log("sysv segment %lld (key 0x%llx) of pid %d left", id, key, (int)pid);
			n++;
		}
	}
	fclose(f);
	return n;
}

static void
assert_no_leftovers(const char *backend, const char *spec, pid_t creator)
{
	char path[PATH_MAX];

	ASSERT_EQ(seg_exists(spec), 0);
	if (strcmp(backend, "posix") == 0) {
		ASSERT_EQ(entries_with("/dev/shm", spec + strlen("posix:")), 0);
	} else if (strcmp(backend, "sysv") == 0) {
		char key[16];
		ASSERT_EQ(sysv_segments_of(creator), 0);
		/* Nor any helper file the library keeps for the key. */
		snprintf(key, sizeof(key), "%08x", th_spec_key(spec));
		ASSERT_EQ(entries_with("/dev/shm", key), 0);
	} else {
		char *slash;
		seg_path(spec, path, sizeof(path));
		slash = strrchr(path, '/');
		*slash = '\0';
		ASSERT_EQ(entries_with(path, NULL), 0);
	}
}

/* What a dead creator left is visible as such (never as ready). */
static void
check_remains(const char *backend, const char *spec, const char *point, pid_t creator)
{
	shmkit_segment_info *info = calloc(1, sizeof(*info));

	ASSERT_TRUE(info != NULL);
	if (strcmp(backend, "sysv") != 0) {
		/* posix and file objects are linked under the name only when ready. */
		ASSERT_EQ(seg_exists(spec), 0);
		free(info);
		return;
	}
	/* A System V key is visible from shmget() on. */
	ASSERT_EQ(seg_exists(spec), 1);
	ASSERT_OK(shmkit_segment_stat(spec, info));
	ASSERT_NE(info->state, SHMKIT_STATE_READY);
	if (strcmp(point, "create_after_alloc") != 0) {
		ASSERT_EQ(info->is_shmkit, 1);
		ASSERT_EQ(info->state, SHMKIT_STATE_INITIALIZING);
		ASSERT_EQ(info->creator_pid, creator);
		ASSERT_EQ(info->creator_alive, 0);
	}
	free(info);
}

static void
crash_then_create(const char *backend, const char *point)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s;
	pid_t creator, v;

	th_spec(spec, sizeof(spec), backend);
	th_context("%s, crash point %s", spec, point);
	creator = crash_creator(spec, point);
	check_remains(backend, spec, point, creator);

	/* A fresh create takes over from the dead creator. */
	s = seg_create(spec, th_parse_u64(SEG_SIZE), 0);
	check_opened(s, "fresh creator");
	ASSERT_TRUE(seg_all_bytes(shmkit_segment_data(s), shmkit_segment_size(s), 0));
	th_fill(shmkit_segment_data(s), shmkit_segment_size(s), 404);
	v = th_spawn("verify", spec, "404", NULL);
	ASSERT_EXIT(th_wait(v), 0);

	ASSERT_EQ(shmkit_segment_destroy(s), 0);
	assert_no_leftovers(backend, spec, creator);
}

#define CRASH_CASE(backend, idx, pname)                                                            \
	TEST(backend##_##pname)                                                                    \
	{                                                                                          \
		crash_then_create(#backend, points[idx]);                                          \
	}

CRASH_CASE(posix, 0, after_alloc)
CRASH_CASE(posix, 1, after_header)
CRASH_CASE(posix, 2, before_publish)
CRASH_CASE(sysv, 0, after_alloc)
CRASH_CASE(sysv, 1, after_header)
CRASH_CASE(sysv, 2, before_publish)
CRASH_CASE(file, 0, after_alloc)
CRASH_CASE(file, 1, after_header)
CRASH_CASE(file, 2, before_publish)

/* After a crash, several processes open_or_create at once: one creates. */
static void
crash_then_race(const char *backend, const char *point)
{
	char spec[TH_SPEC_MAX], a_gate[16];
	pid_t creator, racers[RACERS];
	int gate[2], created = 0;

	th_spec(spec, sizeof(spec), backend);
	th_context("%s, crash point %s", spec, point);
	creator = crash_creator(spec, point);

	ASSERT_SYS(pipe(gate));
	ASSERT_SYS(fcntl(gate[1], F_SETFD, FD_CLOEXEC));
	snprintf(a_gate, sizeof(a_gate), "%d", gate[0]);
	for (int i = 0; i < RACERS; i++) {
		racers[i] = th_spawn_env("SHMKIT_CRASHPOINT", NULL, "race", spec, a_gate, NULL);
	}
	close(gate[0]);
	close(gate[1]);
	for (int i = 0; i < RACERS; i++) {
		int st = th_wait(racers[i]);
		char b[64];
		if (!WIFEXITED(st) || (WEXITSTATUS(st) != 10 && WEXITSTATUS(st) != 11)) {
			th_fail(__FILE__, __LINE__, "racer %d: %s", i,
				th_status_str(st, b, sizeof(b)));
		}
		created += WEXITSTATUS(st) == 11;
	}
	ASSERT_EQ(created, 1);
	ASSERT_EQ(shmkit_segment_remove(spec), 0);
	assert_no_leftovers(backend, spec, creator);
}

TEST(posix_race_after_crash)
{
	crash_then_race("posix", points[1]);
}

TEST(sysv_race_after_crash)
{
	/* Several rounds: the racers' interleavings differ each time. */
	for (int round = 0; round < 4; round++) {
		crash_then_race("sysv", points[0]);
		crash_then_race("sysv", points[1]);
	}
}

TEST(file_race_after_crash)
{
	crash_then_race("file", points[2]);
}

/* A crash point name that is not ours changes nothing. */
TEST(unrelated_crashpoint_is_harmless)
{
	char spec[TH_SPEC_MAX];
	pid_t c;
	int st;

	th_spec(spec, sizeof(spec), "posix");
	c = th_spawn_env("SHMKIT_CRASHPOINT", "no_such_point", "creator", spec, SEG_SIZE, NULL);
	st = th_wait(c);
	ASSERT_EXIT(st, 3);
	ASSERT_EQ(seg_exists(spec), 1);
	ASSERT_EQ(shmkit_segment_remove(spec), 0);
}
