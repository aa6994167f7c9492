/* SPDX-License-Identifier: MIT */
/* The in-tree test harness: registration, the forking runner, cleanup and helpers. */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS       256
#define MAX_CHILDREN    64
#define MAX_CLEANUPS    256
#define DEFAULT_TIMEOUT 30u

struct test_case {
	const char *name;
	th_test_fn fn;
	unsigned timeout;
	int line;
};

struct child_fn {
	const char *name;
	th_child_fn fn;
};

enum cleanup_type {
	CLEAN_POSIX = 1,
	CLEAN_SYSV_KEY,
	CLEAN_SYSV_ID,
	CLEAN_PATH,
	CLEAN_UMOUNT,
};

struct cleanup {
	atomic_int type; /* 0 until the entry is complete (release/acquire) */
	uint32_t key;
	char str[PATH_MAX];
};

/*
 * The cleanup list lives in a shared anonymous mapping made before the first
 * case is forked, so what a case (or any process it forks) registers is seen
 * by the runner even when the case dies.
 */
struct cleanup_list {
	atomic_int n;
	char tmpdir[PATH_MAX];
	struct cleanup e[MAX_CLEANUPS];
};

static struct test_case tests[MAX_TESTS];
static int ntests;
static struct child_fn children[MAX_CHILDREN];
static int nchildren;
static struct cleanup_list *cleanups;
static const char *current_case = "";
static char context[512];
static unsigned name_counter;
static unsigned key_counter;

void
th_register_test(const char *name, th_test_fn fn, unsigned timeout_s, int line)
{
	if (ntests == MAX_TESTS) {
		fprintf(stderr, "harness: too many test cases\n");
		abort();
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	tests[ntests].timeout = timeout_s ? timeout_s : DEFAULT_TIMEOUT;
	tests[ntests].line = line;
	ntests++;
}

void
th_register_child(const char *name, th_child_fn fn)
{
	if (nchildren == MAX_CHILDREN) {
		fprintf(stderr, "harness: too many child functions\n");
		abort();
	}
	children[nchildren].name = name;
	children[nchildren].fn = fn;
	nchildren++;
}

const char *
th_case_name(void)
{
	return current_case;
}

/* ---- reporting ---- */

static const struct {
	int code;
	const char *name;
} errno_names[] = {
	{EPERM, "EPERM"},
	{ENOENT, "ENOENT"},
	{ESRCH, "ESRCH"},
	{EINTR, "EINTR"},
	{EIO, "EIO"},
	{ENXIO, "ENXIO"},
	{E2BIG, "E2BIG"},
	{EBADF, "EBADF"},
	{ECHILD, "ECHILD"},
	{EAGAIN, "EAGAIN"},
	{ENOMEM, "ENOMEM"},
	{EACCES, "EACCES"},
	{EFAULT, "EFAULT"},
	{EBUSY, "EBUSY"},
	{EEXIST, "EEXIST"},
	{EXDEV, "EXDEV"},
	{ENODEV, "ENODEV"},
	{ENOTDIR, "ENOTDIR"},
	{EISDIR, "EISDIR"},
	{EINVAL, "EINVAL"},
	{ENFILE, "ENFILE"},
	{EMFILE, "EMFILE"},
	{EFBIG, "EFBIG"},
	{ENOSPC, "ENOSPC"},
	{ESPIPE, "ESPIPE"},
	{EROFS, "EROFS"},
	{EPIPE, "EPIPE"},
	{ERANGE, "ERANGE"},
	{ENAMETOOLONG, "ENAMETOOLONG"},
	{ENOSYS, "ENOSYS"},
	{ELOOP, "ELOOP"},
	{EIDRM, "EIDRM"},
	{EPROTO, "EPROTO"},
	{EBADMSG, "EBADMSG"},
	{EOVERFLOW, "EOVERFLOW"},
	{EPROTOTYPE, "EPROTOTYPE"},
	{EOPNOTSUPP, "EOPNOTSUPP"},
	{ECONNRESET, "ECONNRESET"},
	{ETIMEDOUT, "ETIMEDOUT"},
	{ESTALE, "ESTALE"},
	{EMEDIUMTYPE, "EMEDIUMTYPE"},
	{EOWNERDEAD, "EOWNERDEAD"},
	{ENOTRECOVERABLE, "ENOTRECOVERABLE"},
	{EMSGSIZE, "EMSGSIZE"},
	{ENOTSUP, "ENOTSUP"},
	{ENOTCONN, "ENOTCONN"},
};

const char *
th_errdesc(long long v, char *buf, size_t len)
{
	if (v < 0 && v > -4096) {
		const char *name = NULL;
		for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++) {
			if (errno_names[i].code == (int)-v) {
				name = errno_names[i].name;
				break;
			}
		}
		snprintf(buf, len, "%lld (-%s: %s)", v, name ? name : "E?",
			 shmkit_strerror((int)v));
	} else {
		snprintf(buf, len, "%lld (0x%llx)", v, (unsigned long long)v);
	}
	return buf;
}

void
th_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s:%d: [%s, pid %d%s%s] ", file, line, current_case, (int)getpid(),
		context[0] ? ", " : "", context);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(1);
}

void
th_context(const char *fmt, ...)
{
	va_list ap;

	if (fmt == NULL) {
		context[0] = '\0';
		return;
	}
	va_start(ap, fmt);
	vsnprintf(context, sizeof(context), fmt, ap);
	va_end(ap);
}

void
th_skip(const char *fmt, ...)
{
	va_list ap;

	printf("# skip %s: ", current_case);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	_exit(77);
}

void
th_log(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

int
th_in_list_(long long v, const long long *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == v) {
			return 1;
		}
	}
	return 0;
}

void
th_fail_in_list_(const char *file, int line, const char *expr, long long v, const long long *list,
		 size_t n)
{
	char b[160], all[1024];
	size_t used = 0;

	all[0] = '\0';
	for (size_t i = 0; i < n && used < sizeof(all); i++) {
		char e[160];
		int w = snprintf(all + used, sizeof(all) - used, "%s%s", i ? ", " : "",
				 th_errdesc(list[i], e, sizeof(e)));
		if (w < 0) {
			break;
		}
		used += (size_t)w;
	}
	th_fail(file, line, "ASSERT_IN(%s): got %s, expected one of: %s", expr,
		th_errdesc(v, b, sizeof(b)), all);
}

void
th_fail_cmp_(const char *file, int line, const char *op, const char *ea, const char *eb,
	     long long a, long long b)
{
	char ba[160], bb[160];

	th_fail(file, line, "expected %s %s %s: left %s, right %s", ea, op, eb,
		th_errdesc(a, ba, sizeof(ba)), th_errdesc(b, bb, sizeof(bb)));
}

void
th_require_root(const char *why)
{
	if (geteuid() != 0) {
		th_skip("needs root: %s", why);
	}
}

/* ---- cleanup ---- */

static void
add_cleanup(int type, const char *str, uint32_t key)
{
	int i;

	if (!cleanups) {
		return;
	}
	i = atomic_fetch_add(&cleanups->n, 1);
	if (i >= MAX_CLEANUPS) {
		fprintf(stderr, "harness: cleanup list full, leaking %s\n",
			str ? str : "a sysv object");
		return;
	}
	cleanups->e[i].key = key;
	snprintf(cleanups->e[i].str, sizeof(cleanups->e[i].str), "%s", str ? str : "");
	/* The type marks the entry complete for a runner reading it later;
	 * release pairs with the acquire load in the runner's cleanup. */
	atomic_store_explicit(&cleanups->e[i].type, type, memory_order_release);
}

void
th_cleanup_posix(const char *name)
{
	add_cleanup(CLEAN_POSIX, name, 0);
}

void
th_cleanup_sysv_key(uint32_t key)
{
	add_cleanup(CLEAN_SYSV_KEY, NULL, key);
}

void
th_cleanup_sysv_id(int id)
{
	add_cleanup(CLEAN_SYSV_ID, NULL, (uint32_t)id);
}

void
th_cleanup_path(const char *path)
{
	add_cleanup(CLEAN_PATH, path, 0);
}

void
th_cleanup_umount(const char *path)
{
	add_cleanup(CLEAN_UMOUNT, path, 0);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D) {
		rmdir(path);
	} else {
		unlink(path);
	}
	return 0;
}

/*
 * Files the library may keep in /dev/shm for a System V key (an init marker
 * left by a creator that died): hidden ".shmkit" names holding the key in hex.
 */
static void
remove_key_files(uint32_t key)
{
	char hex[16], path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	snprintf(hex, sizeof(hex), "%08x", key);
	d = opendir("/dev/shm");
	if (!d) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, ".shmkit", 7) == 0 && strstr(e->d_name, hex)) {
			snprintf(path, sizeof(path), "/dev/shm/%s", e->d_name);
			unlink(path);
		}
	}
	closedir(d);
}

static void
run_cleanups(void)
{
	int n = atomic_load(&cleanups->n);

	if (n > MAX_CLEANUPS) {
		n = MAX_CLEANUPS;
	}
	/* Last registered first: a mount goes before the directory holding it. */
	for (int i = n - 1; i >= 0; i--) {
		struct cleanup *c = &cleanups->e[i];
		char path[PATH_MAX + 32];
		int id;

		switch (atomic_load_explicit(&c->type, memory_order_acquire)) {
		case CLEAN_POSIX:
			snprintf(path, sizeof(path), "/dev/shm/shmkit.%s", c->str);
			unlink(path);
			break;
		case CLEAN_SYSV_KEY:
			for (int tries = 0; tries < 8; tries++) {
				id = shmget((key_t)c->key, 0, 0);
				if (id < 0 || shmctl(id, IPC_RMID, NULL) != 0) {
					break;
				}
			}
			remove_key_files(c->key);
			break;
		case CLEAN_SYSV_ID:
			shmctl((int)c->key, IPC_RMID, NULL);
			break;
		case CLEAN_PATH: {
			struct stat st;
			if (lstat(c->str, &st) == 0) {
				if (S_ISDIR(st.st_mode)) {
					nftw(c->str, rm_entry, 16,
					     FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
				} else {
					unlink(c->str);
				}
			}
			break;
		}
		case CLEAN_UMOUNT:
			umount2(c->str, MNT_DETACH);
			break;
		default:
			break;
		}
		c->type = 0;
	}
	atomic_store(&cleanups->n, 0);
	cleanups->tmpdir[0] = '\0';
}

/* ---- names and specs ---- */

const char *
th_name(char *buf, size_t len)
{
	snprintf(buf, len, "t-%s-%d-%u", current_case[0] ? current_case : "x", (int)getpid(),
		 name_counter++);
	return buf;
}

const char *
th_tmpdir(void)
{
	if (!cleanups) {
		th_fail(__FILE__, __LINE__, "th_tmpdir() outside a case");
	}
	if (cleanups->tmpdir[0] == '\0') {
		const char *base = getenv("TMPDIR");
		char tmpl[PATH_MAX];

		if (!base || !*base) {
			base = "/tmp";
		}
		snprintf(tmpl, sizeof(tmpl), "%s/shmkit-test-XXXXXX", base);
		if (!mkdtemp(tmpl)) {
			th_fail(__FILE__, __LINE__, "mkdtemp(%s): %s", tmpl, strerror(errno));
		}
		snprintf(cleanups->tmpdir, sizeof(cleanups->tmpdir), "%s", tmpl);
		th_cleanup_path(tmpl);
	}
	return cleanups->tmpdir;
}

static uint32_t
free_sysv_key(void)
{
	for (int tries = 0; tries < 4096; tries++) {
		uint32_t key = 0x5a000000u ^ ((uint32_t)getpid() << 8) ^ (key_counter++ & 0xffu);
		if (key == 0 || key == (uint32_t)IPC_PRIVATE) {
			continue;
		}
		if (shmget((key_t)key, 0, 0) < 0 && errno == ENOENT) {
			return key;
		}
	}
	th_fail(__FILE__, __LINE__, "no free System V key");
}

const char *
th_spec(char *buf, size_t len, const char *backend)
{
	char name[128];

	if (strcmp(backend, "posix") == 0) {
		th_name(name, sizeof(name));
		snprintf(buf, len, "posix:%s", name);
		th_cleanup_posix(name);
	} else if (strcmp(backend, "sysv") == 0) {
		uint32_t key = free_sysv_key();
		snprintf(buf, len, "sysv:0x%08x", key);
		th_cleanup_sysv_key(key);
	} else if (strcmp(backend, "file") == 0) {
		char path[PATH_MAX];
		th_name(name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s", th_tmpdir(), name);
		snprintf(buf, len, "file:%s", path);
		th_cleanup_path(path);
	} else if (strcmp(backend, "memfd") == 0) {
		th_name(name, sizeof(name));
		snprintf(buf, len, "memfd:%s", name);
	} else {
		th_fail(__FILE__, __LINE__, "th_spec: unknown backend %s", backend);
	}
	th_context("%s", buf);
	return buf;
}

uint32_t
th_spec_key(const char *spec)
{
	if (strncmp(spec, "sysv:", 5) != 0) {
		th_fail(__FILE__, __LINE__, "th_spec_key(%s): not sysv", spec);
	}
	return (uint32_t)th_parse_u64(spec + 5);
}

/* ---- processes ---- */

pid_t
th_fork(void)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		th_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
	}
	return pid;
}

void
th_exit(int code)
{
	fflush(stdout);
	fflush(stderr);
	_exit(code);
}

static const char *spawn_self = "/proc/self/exe";

pid_t
th_spawnv(const char *env, const char *value, const char *name, char *const args[])
{
	char *argv[64];
	int n = 0;
	pid_t pid;

	argv[n++] = (char *)"shmkit-test-helper";
	argv[n++] = (char *)"--child";
	argv[n++] = (char *)name;
	for (int i = 0; args && args[i]; i++) {
		if (n >= 62) {
			th_fail(__FILE__, __LINE__, "th_spawn: too many arguments");
		}
		argv[n++] = args[i];
	}
	argv[n] = NULL;

	pid = th_fork();
	if (pid == 0) {
		if (env) {
			if (value) {
				setenv(env, value, 1);
			} else {
				unsetenv(env);
			}
		}
		/* The helper reports which case it belongs to. */
		setenv("SHMKIT_TEST_CASE", current_case, 1);
		execv(spawn_self, argv);
		fprintf(stderr, "exec %s: %s\n", spawn_self, strerror(errno));
		_exit(127);
	}
	return pid;
}

static pid_t
spawn_va(const char *env, const char *value, const char *name, va_list ap)
{
	char *args[60];
	int n = 0;
	const char *a;

	while ((a = va_arg(ap, const char *)) != NULL) {
		if (n >= 59) {
			th_fail(__FILE__, __LINE__, "th_spawn: too many arguments");
		}
		args[n++] = (char *)a;
	}
	args[n] = NULL;
	return th_spawnv(env, value, name, args);
}

pid_t
th_spawn(const char *name, ...)
{
	va_list ap;
	pid_t pid;

	va_start(ap, name);
	pid = spawn_va(NULL, NULL, name, ap);
	va_end(ap);
	return pid;
}

pid_t
th_spawn_env(const char *env, const char *value, const char *name, ...)
{
	va_list ap;
	pid_t pid;

	va_start(ap, name);
	pid = spawn_va(env, value, name, ap);
	va_end(ap);
	return pid;
}

int
th_wait(pid_t pid)
{
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, 0);
		if (r == pid) {
			return status;
		}
		if (r < 0 && errno != EINTR) {
			th_fail(__FILE__, __LINE__, "waitpid(%d): %s", (int)pid, strerror(errno));
		}
	}
}

const char *
th_status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status)) {
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	} else {
		snprintf(buf, len, "status 0x%x", status);
	}
	return buf;
}

int
th_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int
th_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t r = read(fd, p, len);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* ---- data ---- */

static uint64_t
xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

void
th_fill(void *buf, size_t len, uint64_t seed)
{
	unsigned char *p = buf;
	uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
	uint64_t v = 0;

	for (size_t i = 0; i < len; i++) {
		if ((i & 7) == 0) {
			v = xorshift64(&s);
		}
		p[i] = (unsigned char)(v >> ((i & 7) * 8));
	}
}

long long
th_check_fill(const void *buf, size_t len, uint64_t seed)
{
	const unsigned char *p = buf;
	uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
	uint64_t v = 0;

	for (size_t i = 0; i < len; i++) {
		if ((i & 7) == 0) {
			v = xorshift64(&s);
		}
		if (p[i] != (unsigned char)(v >> ((i & 7) * 8))) {
			return (long long)i;
		}
	}
	return -1;
}

uint32_t
th_crc32(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++) {
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
		}
	}
	return ~crc;
}

unsigned long long
th_parse_u64(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end != '\0') {
		th_fail(__FILE__, __LINE__, "bad number \"%s\"", s);
	}
	return v;
}

int64_t
th_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
th_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* ---- the runner ---- */

enum result { R_PASS, R_FAIL, R_SKIP };

static enum result
run_case(const struct test_case *t)
{
	char why[128];
	pid_t pid;
	int status;
	enum result res;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		printf("FAIL %s (fork: %s)\n", t->name, strerror(errno));
		return R_FAIL;
	}
	if (pid == 0) {
		setpgid(0, 0);
		current_case = t->name;
		alarm(t->timeout);
		t->fn();
		fflush(stdout);
		/* exit(), not _exit(): leak checkers run at exit. */
		exit(0);
	}
	setpgid(pid, pid);
	for (;;) {
		pid_t r = waitpid(pid, &status, 0);
		if (r == pid) {
			break;
		}
		if (r < 0 && errno != EINTR) {
			status = 0x7f00; /* treated as a failure below */
			break;
		}
	}
	/*
	 * Kill what is left of the case's process group, then reap everything:
	 * the runner is a child subreaper, so orphaned helpers come back here.
	 */
	kill(-pid, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
	}
	run_cleanups();

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		res = R_PASS;
		printf("ok %s\n", t->name);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		res = R_SKIP;
		printf("skip %s\n", t->name);
	} else {
		res = R_FAIL;
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
			snprintf(why, sizeof(why), "timed out after %u s", t->timeout);
		} else {
			th_status_str(status, why, sizeof(why));
		}
		printf("FAIL %s (%s)\n", t->name, why);
	}
	fflush(stdout);
	return res;
}

static int
cmp_case(const void *a, const void *b)
{
	const struct test_case *x = a, *y = b;

	return (x->line > y->line) - (x->line < y->line);
}

static int
run_child_mode(int argc, char **argv)
{
	const char *c = getenv("SHMKIT_TEST_CASE");

	if (c) {
		current_case = c;
	}
	/* A helper whose parent hangs must not live forever. */
	alarm(DEFAULT_TIMEOUT * 4);
	for (int i = 0; i < nchildren; i++) {
		if (strcmp(children[i].name, argv[0]) == 0) {
			int rc = children[i].fn(argc, argv);
			fflush(stdout);
			return rc;
		}
	}
	fprintf(stderr, "harness: no child function \"%s\"\n", argv[0]);
	return 126;
}

int
main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0, ran = 0;
	int no_fork = 0, first = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && strcmp(argv[1], "--child") == 0) {
		return run_child_mode(argc - 2, argv + 2);
	}
	qsort(tests, (size_t)ntests, sizeof(tests[0]), cmp_case);
	if (argc >= 2 && strcmp(argv[1], "--list") == 0) {
		for (int i = 0; i < ntests; i++) {
			printf("%s\n", tests[i].name);
		}
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--no-fork") == 0) {
		no_fork = 1;
		first = 2;
	}

	cleanups = mmap(NULL, sizeof(*cleanups), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			-1, 0);
	if (cleanups == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);

	if (no_fork) {
		for (int i = 0; i < ntests; i++) {
			if (argc > first && strcmp(tests[i].name, argv[first]) == 0) {
				current_case = tests[i].name;
				tests[i].fn();
				run_cleanups();
				printf("ok %s\n1 passed, 0 failed\n", tests[i].name);
				return 0;
			}
		}
		fprintf(stderr, "usage: %s --no-fork CASE\n", argv[0]);
		return 1;
	}

	for (int i = 0; i < ntests; i++) {
		int selected = argc <= first;
		for (int a = first; a < argc && !selected; a++) {
			selected = strcmp(argv[a], tests[i].name) == 0;
		}
		if (!selected) {
			continue;
		}
		ran++;
		switch (run_case(&tests[i])) {
		case R_PASS:
			passed++;
			break;
		case R_FAIL:
			failed++;
			break;
		case R_SKIP:
			skipped++;
			break;
		}
	}
	for (int a = first; a < argc; a++) {
		int known = 0;
		for (int i = 0; i < ntests; i++) {
			known |= strcmp(argv[a], tests[i].name) == 0;
		}
		if (!known) {
			printf("FAIL %s (no such case)\n", argv[a]);
			failed++;
		}
	}
	if (skipped) {
		printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	} else {
		printf("%d passed, %d failed\n", passed, failed);
	}
	if (failed) {
		return 1;
	}
	if (ran > 0 && skipped == ran) {
		return 77;
	}
	return passed > 0 ? 0 : 1;
}

struct timespec
th_in_ms(long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
