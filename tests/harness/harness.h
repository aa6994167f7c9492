/* SPDX-License-Identifier: MIT */
/* The in-tree test harness: cases in forked children with a watchdog, assertions, helpers. */
#ifndef SHMKIT_TEST_HARNESS_H
#define SHMKIT_TEST_HARNESS_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <sys/wait.h>

#include <shmkit/shmkit.h>

/*
 * A test file defines cases with TEST(name) { ... } (or TEST_TIMEOUT(name,
 * seconds)) and, for helper processes started by re-executing the test
 * binary, CHILD(name) { ... return exit_code; } which receives the arguments
 * given to th_spawn(). The harness provides main():
 *
 *   test_x                 run every case
 *   test_x CASE...         run the named cases
 *   test_x --list          list the cases
 *   test_x --no-fork CASE  run one case in this process (for a debugger)
 *   test_x --child NAME .. helper mode: run CHILD(NAME), exit with its value
 *
 * Each case runs in a forked child that leads its own process group, with an
 * alarm() watchdog (30 s unless TEST_TIMEOUT says otherwise). When the case
 * ends, whatever is left of its process group is killed and reaped, and the
 * objects registered through th_spec()/th_tmpdir()/th_cleanup_*() are removed
 * with plain system calls, whether the case passed, failed or hung.
 *
 * Output: "ok CASE", "FAIL CASE (why)" or "skip CASE" per case, then exactly
 * "N passed, N failed" (with ", N skipped" when any case skipped). Exit 0 when
 * nothing failed and something passed, 77 when everything skipped, 1 otherwise.
 */

typedef void (*th_test_fn)(void);
typedef int (*th_child_fn)(int argc, char **argv);

void th_register_test(const char *name, th_test_fn fn, unsigned timeout_s, int line);
void th_register_child(const char *name, th_child_fn fn);

#define TH_DEFINE_TEST_(name, timeout)                                                             \
	static void th_test_##name(void);                                                          \
	__attribute__((constructor)) static void th_reg_test_##name(void)                          \
	{                                                                                          \
		th_register_test(#name, th_test_##name, (timeout), __LINE__);                      \
	}                                                                                          \
	static void th_test_##name(void)

#define TEST(name)                  TH_DEFINE_TEST_(name, 0)
#define TEST_TIMEOUT(name, seconds) TH_DEFINE_TEST_(name, seconds)

#define CHILD(name)                                                                                \
	static int th_child_##name(int argc __attribute__((unused)),                               \
				   char **argv __attribute__((unused)));                           \
	__attribute__((constructor)) static void th_reg_child_##name(void)                         \
	{                                                                                          \
		th_register_child(#name, th_child_##name);                                         \
	}                                                                                          \
	static int th_child_##name(int argc __attribute__((unused)),                               \
				   char **argv __attribute__((unused)))

/* Name of the running case (a helper inherits it from the case that spawned it). */
const char *th_case_name(void);

/* Report a failure and end the process with exit status 1. */
__attribute__((noreturn, format(printf, 3, 4))) void th_fail(const char *file, int line,
							     const char *fmt, ...);

/* End the case as skipped (exit 77) after printing @fmt. */
__attribute__((noreturn, format(printf, 1, 2))) void th_skip(const char *fmt, ...);

/*
 * Describe what the process is working on (printf-style; NULL clears it).
 * Failures print it next to the case name. th_spec() sets it to the spec.
 */
__attribute__((format(printf, 1, 2))) void th_context(const char *fmt, ...);

/* Print a diagnostic line (prefixed with "# "). */
__attribute__((format(printf, 1, 2))) void th_log(const char *fmt, ...);

/* Describe a value that may be a negative errno: "-2 (-ENOENT: ...)". */
const char *th_errdesc(long long v, char *buf, size_t len);

int th_in_list_(long long v, const long long *list, size_t n);
void th_fail_in_list_(const char *file, int line, const char *expr, long long v,
		      const long long *list, size_t n) __attribute__((noreturn));
void th_fail_cmp_(const char *file, int line, const char *op, const char *ea, const char *eb,
		  long long a, long long b) __attribute__((noreturn));

/* expr >= 0 (a shmkit call that succeeded). Evaluates to nothing. */
#define ASSERT_OK(expr)                                                                            \
	do {                                                                                       \
		long long th_v_ = (long long)(expr);                                               \
		if (th_v_ < 0) {                                                                   \
			char th_b_[160];                                                           \
			th_fail(__FILE__, __LINE__, "ASSERT_OK(%s): got %s", #expr,                \
				th_errdesc(th_v_, th_b_, sizeof(th_b_)));                          \
		}                                                                                  \
	} while (0)

/* expr == err (a negative errno such as -EAGAIN). */
#define ASSERT_ERR(expr, err)                                                                      \
	do {                                                                                       \
		long long th_v_ = (long long)(expr);                                               \
		long long th_e_ = (long long)(err);                                                \
		if (th_v_ != th_e_) {                                                              \
			char th_b1_[160], th_b2_[160];                                             \
			th_fail(__FILE__, __LINE__, "ASSERT_ERR(%s, %s): got %s, expected %s",     \
				#expr, #err, th_errdesc(th_v_, th_b1_, sizeof(th_b1_)),            \
				th_errdesc(th_e_, th_b2_, sizeof(th_b2_)));                        \
		}                                                                                  \
	} while (0)

/* expr is one of the listed values (errors or not). */
#define ASSERT_IN(expr, ...)                                                                       \
	do {                                                                                       \
		long long th_v_ = (long long)(expr);                                               \
		const long long th_l_[] = {__VA_ARGS__};                                           \
		if (!th_in_list_(th_v_, th_l_, sizeof(th_l_) / sizeof(th_l_[0]))) {                \
			th_fail_in_list_(__FILE__, __LINE__, #expr, th_v_, th_l_,                  \
					 sizeof(th_l_) / sizeof(th_l_[0]));                        \
		}                                                                                  \
	} while (0)

#define TH_CMP_(a, b, op)                                                                          \
	do {                                                                                       \
		long long th_a_ = (long long)(a);                                                  \
		long long th_b_ = (long long)(b);                                                  \
		if (!(th_a_ op th_b_)) {                                                           \
			th_fail_cmp_(__FILE__, __LINE__, #op, #a, #b, th_a_, th_b_);               \
		}                                                                                  \
	} while (0)

#define ASSERT_EQ(a, b) TH_CMP_(a, b, ==)
#define ASSERT_NE(a, b) TH_CMP_(a, b, !=)
#define ASSERT_LT(a, b) TH_CMP_(a, b, <)
#define ASSERT_LE(a, b) TH_CMP_(a, b, <=)
#define ASSERT_GT(a, b) TH_CMP_(a, b, >)
#define ASSERT_GE(a, b) TH_CMP_(a, b, >=)

#define ASSERT_TRUE(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			th_fail(__FILE__, __LINE__, "ASSERT_TRUE(%s)", #cond);                     \
		}                                                                                  \
	} while (0)

#define ASSERT_STREQ(a, b)                                                                         \
	do {                                                                                       \
		const char *th_sa_ = (a), *th_sb_ = (b);                                           \
		if (th_sa_ == NULL || th_sb_ == NULL || strcmp(th_sa_, th_sb_) != 0) {             \
			th_fail(__FILE__, __LINE__, "ASSERT_STREQ(%s, %s): \"%s\" != \"%s\"", #a,  \
				#b, th_sa_ ? th_sa_ : "(null)", th_sb_ ? th_sb_ : "(null)");       \
		}                                                                                  \
	} while (0)

/* A system call that returns -1 and sets errno on failure must succeed. */
#define ASSERT_SYS(expr)                                                                           \
	do {                                                                                       \
		if ((long long)(expr) == -1) {                                                     \
			int th_en_ = errno;                                                        \
			th_fail(__FILE__, __LINE__, "%s: %s (errno %d)", #expr, strerror(th_en_),  \
				th_en_);                                                           \
		}                                                                                  \
	} while (0)

#define SKIP(...) th_skip(__VA_ARGS__)

/* Skip the case, saying @why root is needed, unless running as root. */
void th_require_root(const char *why);

/* ---- unique objects, cleaned up after the case ---- */

#define TH_SPEC_MAX 512

/* "t-<case>-<pid>-<counter>": unique per case, process and call. */
const char *th_name(char *buf, size_t len);

/*
 * A unique spec for @backend ("posix", "sysv", "file" or "memfd"), registered
 * for removal after the case: posix:t-..., sysv:0xKEY (a key that is free),
 * file:<case tmpdir>/t-..., memfd:t-...
 * Return: @buf.
 */
const char *th_spec(char *buf, size_t len, const char *backend);

/* For a sysv spec made by th_spec(): its key. */
uint32_t th_spec_key(const char *spec);

/* A private directory for the case, removed recursively afterwards. */
const char *th_tmpdir(void);

void th_cleanup_posix(const char *name);
void th_cleanup_sysv_key(uint32_t key);
void th_cleanup_sysv_id(int id);
void th_cleanup_path(const char *path); /* unlink or recursive rmdir */
void th_cleanup_umount(const char *path);

/* ---- processes ---- */

/* fork() after flushing stdio (fails the case if fork fails). */
pid_t th_fork(void);

/* End a forked child (not a case): flush and _exit(). */
__attribute__((noreturn)) void th_exit(int code);

/*
 * Start a helper: re-execute this binary as "--child NAME ARGS...". The
 * argument list ends with NULL. th_spawn_env() also sets ENV=VALUE in the
 * helper's environment (VALUE NULL: unset it).
 */
pid_t th_spawn(const char *name, ...) __attribute__((sentinel));
pid_t th_spawn_env(const char *env, const char *value, const char *name, ...)
	__attribute__((sentinel));
/* As th_spawn() with an argv array ending in NULL. */
pid_t th_spawnv(const char *env, const char *value, const char *name, char *const args[]);

/* waitpid() that retries EINTR; returns the raw status. */
int th_wait(pid_t pid);

/* Describe a wait status ("exit 3", "signal 9 (Killed)"). */
const char *th_status_str(int status, char *buf, size_t len);

/* The status must be a normal exit with @code. */
#define ASSERT_EXIT(status, code)                                                                  \
	do {                                                                                       \
		int th_st_ = (status);                                                             \
		if (!WIFEXITED(th_st_) || WEXITSTATUS(th_st_) != (code)) {                         \
			char th_b_[96];                                                            \
			th_fail(__FILE__, __LINE__, "%s: %s, expected exit %d", #status,           \
				th_status_str(th_st_, th_b_, sizeof(th_b_)), (int)(code));         \
		}                                                                                  \
	} while (0)

#define ASSERT_SIGNALED(status, sig)                                                               \
	do {                                                                                       \
		int th_st_ = (status);                                                             \
		if (!WIFSIGNALED(th_st_) || WTERMSIG(th_st_) != (sig)) {                           \
			char th_b_[96];                                                            \
			th_fail(__FILE__, __LINE__, "%s: %s, expected signal %d", #status,         \
				th_status_str(th_st_, th_b_, sizeof(th_b_)), (int)(sig));          \
		}                                                                                  \
	} while (0)

/* Write/read exactly @len bytes (retrying EINTR); -1 on error or EOF. */
int th_write_all(int fd, const void *buf, size_t len);
int th_read_all(int fd, void *buf, size_t len);

/* ---- data ---- */

/* Fill @buf with a pattern derived from @seed (xorshift64). */
void th_fill(void *buf, size_t len, uint64_t seed);
/* Offset of the first byte differing from th_fill(@seed), or -1 if none. */
long long th_check_fill(const void *buf, size_t len, uint64_t seed);
/* CRC-32 (IEEE), computed here so tests do not trust the library's CRC. */
uint32_t th_crc32(const void *buf, size_t len);

/* Parse an unsigned decimal or 0x hexadecimal argument (fails the case). */
unsigned long long th_parse_u64(const char *s);

/* An absolute CLOCK_MONOTONIC deadline @ms from now, for timed calls. */
struct timespec th_in_ms(long ms);

/* Monotonic milliseconds, for bounding loops (never asserted on). */
int64_t th_now_ms(void);
void th_sleep_ms(unsigned ms);

#endif /* SHMKIT_TEST_HARNESS_H */
