/* SPDX-License-Identifier: MIT */
/* Unit tests of segment spec parsing, name checking and canonical formatting. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <unistd.h>

#include "harness.h"
#include "internal/spec.h"

/* Parse @spec, which must succeed; the result goes to a heap copy. */
static struct shmkit_spec *
parse_ok(const char *spec)
{
	struct shmkit_spec *s = calloc(1, sizeof(*s));
	int rc;

	ASSERT_TRUE(s != NULL);
	rc = shmkit__spec_parse(spec, s);
	if (rc != 0) {
		char b[160];
		th_fail(__FILE__, __LINE__, "shmkit__spec_parse(\"%.80s\"): %s", spec,
			th_errdesc(rc, b, sizeof(b)));
	}
	return s;
}

static int
parse_rc(const char *spec)
{
	struct shmkit_spec *s = calloc(1, sizeof(*s));
	int rc;

	ASSERT_TRUE(s != NULL);
	rc = shmkit__spec_parse(spec, s);
	free(s);
	return rc;
}

#define ASSERT_PARSE_ERR(spec, err)                                                                \
	do {                                                                                       \
		int rc_ = parse_rc(spec);                                                          \
		if (rc_ != (err)) {                                                                \
			char b1_[160], b2_[160];                                                   \
			th_fail(__FILE__, __LINE__, "parse(\"%.80s\"): got %s, expected %s",       \
				(spec), th_errdesc(rc_, b1_, sizeof(b1_)),                         \
				th_errdesc((err), b2_, sizeof(b2_)));                              \
		}                                                                                  \
	} while (0)

static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	ASSERT_TRUE(s != NULL);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static char *
concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);

	ASSERT_TRUE(s != NULL);
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

/* The fields that identify the object must be equal. */
static void
assert_same_spec(const struct shmkit_spec *a, const struct shmkit_spec *b)
{
	ASSERT_EQ(a->backend, b->backend);
	ASSERT_EQ(a->form, b->form);
	switch (a->form) {
	case SHMKIT_SPEC_NAME:
		if (a->backend == SHMKIT_BACKEND_FILE) {
			ASSERT_STREQ(a->path, b->path);
		} else {
			ASSERT_STREQ(a->name, b->name);
		}
		break;
	case SHMKIT_SPEC_KEY:
		ASSERT_EQ(a->key, b->key);
		break;
	case SHMKIT_SPEC_FTOK:
		ASSERT_STREQ(a->path, b->path);
		ASSERT_EQ(a->ftok_id, b->ftok_id);
		ASSERT_EQ(a->key, b->key);
		break;
	case SHMKIT_SPEC_PRIVATE:
		break;
	case SHMKIT_SPEC_ID:
		ASSERT_EQ(a->id, b->id);
		break;
	case SHMKIT_SPEC_FD:
		ASSERT_EQ(a->fd, b->fd);
		break;
	case SHMKIT_SPEC_PID_FD:
		ASSERT_EQ(a->pid, b->pid);
		ASSERT_EQ(a->fd, b->fd);
		break;
	default:
		th_fail(__FILE__, __LINE__, "unknown form %d", (int)a->form);
	}
}

/* format(parse(spec)) parses back to the same object and is a fixed point. */
static void
assert_round_trip(const char *spec, char *canon, size_t canon_len)
{
	struct shmkit_spec *a = parse_ok(spec), *b, *c;
	char again[PATH_MAX + 64];
	int n;

	n = shmkit__spec_format(a, canon, canon_len);
	ASSERT_OK(n);
	ASSERT_EQ(n, strlen(canon));
	b = parse_ok(canon);
	assert_same_spec(a, b);
	n = shmkit__spec_format(b, again, sizeof(again));
	ASSERT_OK(n);
	ASSERT_STREQ(again, canon);
	c = parse_ok(again);
	assert_same_spec(a, c);
	free(a);
	free(b);
	free(c);
}

TEST(posix_names)
{
	struct shmkit_spec *s;
	char *n200, *n201, *spec;

	s = parse_ok("foo");
	ASSERT_EQ(s->backend, SHMKIT_BACKEND_POSIX);
	ASSERT_EQ(s->form, SHMKIT_SPEC_NAME);
	ASSERT_STREQ(s->name, "foo");
	free(s);

	s = parse_ok("posix:foo");
	ASSERT_EQ(s->backend, SHMKIT_BACKEND_POSIX);
	ASSERT_EQ(s->form, SHMKIT_SPEC_NAME);
	ASSERT_STREQ(s->name, "foo");
	free(s);

	/* Every allowed character class, and names that only look special. */
	s = parse_ok("posix:Az09._-");
	ASSERT_STREQ(s->name, "Az09._-");
	free(s);
	s = parse_ok("...");
	ASSERT_STREQ(s->name, "...");
	free(s);
	s = parse_ok(".hidden");
	ASSERT_STREQ(s->name, ".hidden");
	free(s);
	s = parse_ok("-");
	ASSERT_STREQ(s->name, "-");
	free(s);
	s = parse_ok("x");
	ASSERT_STREQ(s->name, "x");
	free(s);

	n200 = repeat('n', 200);
	n201 = repeat('n', 201);
	s = parse_ok(n200);
	ASSERT_EQ(strlen(s->name), 200);
	free(s);
	spec = concat("posix:", n200);
	s = parse_ok(spec);
	ASSERT_STREQ(s->name, n200);
	free(s);
	free(spec);
	ASSERT_PARSE_ERR(n201, -ENAMETOOLONG);
	spec = concat("posix:", n201);
	ASSERT_PARSE_ERR(spec, -ENAMETOOLONG);
	free(spec);
	free(n200);
	free(n201);
}

TEST(posix_bad_names)
{
	static const char *const bad[] = {
		"",     "posix:",    ".",         "..",         "posix:.", "posix:..", "/",
		"/foo", "a/b",       "posix:a/b", "posix:/foo", "foo/",    "a b",      " a",
		"a ",   "a\tb",      "a\nb",      "a*b",        "a?b",     "a%b",      "a:b",
		"a\\b", "posix:a:b", "bogus:foo", "POSIXX:foo", ":foo",    "sys:1",    "a\xc3\xa9",
		"\x7f", "a,b",       "a=b",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_PARSE_ERR(bad[i], -EINVAL);
	}
}

TEST(name_check)
{
	char *n = repeat('a', 300);

	ASSERT_EQ(shmkit__name_check("abc", 3), 0);
	ASSERT_EQ(shmkit__name_check(n, 200), 0);
	ASSERT_EQ(shmkit__name_check(n, 201), -ENAMETOOLONG);
	ASSERT_EQ(shmkit__name_check(n, 300), -ENAMETOOLONG);
	ASSERT_EQ(shmkit__name_check("", 0), -EINVAL);
	ASSERT_EQ(shmkit__name_check(".", 1), -EINVAL);
	ASSERT_EQ(shmkit__name_check("..", 2), -EINVAL);
	ASSERT_EQ(shmkit__name_check("...", 3), 0);
	ASSERT_EQ(shmkit__name_check("a/b", 3), -EINVAL);
	/* Only @len characters count. */
	ASSERT_EQ(shmkit__name_check("ab/", 2), 0);
	ASSERT_EQ(shmkit__name_check("../x", 2), -EINVAL);
	/* A NUL inside the length is not a name character. */
	ASSERT_EQ(shmkit__name_check("a\0b", 3), -EINVAL);
	free(n);
}

TEST(posix_path)
{
	char buf[PATH_MAX];
	char small[8];
	char *n200 = repeat('z', 200);
	int n;

	n = shmkit__posix_path("foo", buf, sizeof(buf));
	ASSERT_EQ(n, strlen("/dev/shm/shmkit.foo"));
	ASSERT_STREQ(buf, "/dev/shm/shmkit.foo");
	n = shmkit__posix_path(n200, buf, sizeof(buf));
	ASSERT_EQ(n, strlen(SHMKIT_POSIX_DIR "/" SHMKIT_POSIX_PREFIX) + 200);
	ASSERT_EQ(strncmp(buf, "/dev/shm/shmkit.", 16), 0);
	ASSERT_STREQ(buf + 16, n200);
	ASSERT_EQ(shmkit__posix_path("foo", small, sizeof(small)), -ENAMETOOLONG);
	free(n200);
}

TEST(sysv_keys)
{
	static const struct {
		const char *spec;
		uint32_t key;
	} good[] = {
		{"sysv:1", 1},
		{"sysv:42", 42},
		{"sysv:0x1", 1},
		{"sysv:0x2a", 42},
		{"sysv:0x2A", 42},
		{"sysv:0x1234abcd", 0x1234abcd},
		{"sysv:0xffffffff", 0xffffffffu},
		{"sysv:4294967295", 0xffffffffu},
		{"sysv:2147483648", 0x80000000u},
	};
	static const char *const bad[] = {
		"sysv:",
		"sysv:0",
		"sysv:0x0",
		"sysv:00",
		"sysv:0x",
		"sysv:4294967296",
		"sysv:0x100000000",
		"sysv:99999999999999999999",
		"sysv:0x1ffffffff",
		"sysv:-1",
		"sysv:-4294967295",
		"sysv: 12",
		"sysv:12 ",
		"sysv:12abc",
		"sysv:0xg1",
		"sysv:abc",
		"sysv:1.5",
		"sysv:1,2",
		"sysv:ftok=",
		"sysv:id=",
		"sysv:id=-1",
		"sysv:id=abc",
		"sysv:id=1x",
		"sysv:privat",
		"sysv:private2",
		"sysv:0x-1",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct shmkit_spec *s = parse_ok(good[i].spec);
		ASSERT_EQ(s->backend, SHMKIT_BACKEND_SYSV);
		ASSERT_EQ(s->form, SHMKIT_SPEC_KEY);
		if (s->key != good[i].key) {
			th_fail(__FILE__, __LINE__, "%s: key 0x%x, expected 0x%x", good[i].spec,
				s->key, good[i].key);
		}
		free(s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_PARSE_ERR(bad[i], -EINVAL);
	}
}

TEST(sysv_private_and_id)
{
	struct shmkit_spec *s;

	s = parse_ok("sysv:private");
	ASSERT_EQ(s->backend, SHMKIT_BACKEND_SYSV);
	ASSERT_EQ(s->form, SHMKIT_SPEC_PRIVATE);
	free(s);

	s = parse_ok("sysv:id=0");
	ASSERT_EQ(s->backend, SHMKIT_BACKEND_SYSV);
	ASSERT_EQ(s->form, SHMKIT_SPEC_ID);
	ASSERT_EQ(s->id, 0);
	free(s);

	s = parse_ok("sysv:id=123456");
	ASSERT_EQ(s->form, SHMKIT_SPEC_ID);
	ASSERT_EQ(s->id, 123456);
	free(s);

	s = parse_ok("sysv:id=2147483647");
	ASSERT_EQ(s->id, 2147483647);
	free(s);
	ASSERT_PARSE_ERR("sysv:id=2147483648", -EINVAL);
	ASSERT_PARSE_ERR("sysv:id=99999999999999999999", -EINVAL);
}

TEST(sysv_ftok)
{
	char path[PATH_MAX], spec[PATH_MAX + 64];
	struct shmkit_spec *s;
	int fd;

	snprintf(path, sizeof(path), "%s/ftok-file", th_tmpdir());
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	ASSERT_SYS(fd);
	close(fd);

	for (int id = 1; id <= 255; id += 127) {
		key_t want = ftok(path, id);
		ASSERT_NE(want, -1);
		snprintf(spec, sizeof(spec), "sysv:ftok=%s,%d", path, id);
		s = parse_ok(spec);
		ASSERT_EQ(s->backend, SHMKIT_BACKEND_SYSV);
		ASSERT_EQ(s->form, SHMKIT_SPEC_FTOK);
		ASSERT_STREQ(s->path, path);
		ASSERT_EQ(s->ftok_id, id);
		ASSERT_EQ(s->key, (uint32_t)want);
		free(s);
	}
	snprintf(spec, sizeof(spec), "sysv:ftok=%s,255", path);
	s = parse_ok(spec);
	ASSERT_EQ(s->key, (uint32_t)ftok(path, 255));
	free(s);

	snprintf(spec, sizeof(spec), "sysv:ftok=%s,0", path);
	ASSERT_PARSE_ERR(spec, -EINVAL);
	snprintf(spec, sizeof(spec), "sysv:ftok=%s,256", path);
	ASSERT_PARSE_ERR(spec, -EINVAL);
	snprintf(spec, sizeof(spec), "sysv:ftok=%s,-1", path);
	ASSERT_PARSE_ERR(spec, -EINVAL);
	snprintf(spec, sizeof(spec), "sysv:ftok=%s,", path);
	ASSERT_PARSE_ERR(spec, -EINVAL);
	snprintf(spec, sizeof(spec), "sysv:ftok=%s,x", path);
	ASSERT_PARSE_ERR(spec, -EINVAL);
	snprintf(spec, sizeof(spec), "sysv:ftok=%s", path);
	ASSERT_PARSE_ERR(spec, -EINVAL);
	ASSERT_PARSE_ERR("sysv:ftok=,1", -EINVAL);

	/* ftok stats the path: a missing one is reported as such. */
	snprintf(spec, sizeof(spec), "sysv:ftok=%s/missing,1", th_tmpdir());
	ASSERT_PARSE_ERR(spec, -ENOENT);
}

TEST(file_paths)
{
	struct shmkit_spec *s;
	char *longp, *spec;

	s = parse_ok("file:/tmp/x.seg");
	ASSERT_EQ(s->backend, SHMKIT_BACKEND_FILE);
	ASSERT_EQ(s->form, SHMKIT_SPEC_NAME);
	ASSERT_STREQ(s->path, "/tmp/x.seg");
	free(s);

	/* File paths may hold characters names may not. */
	s = parse_ok("file:/tmp/a dir/with:colon,comma=x");
	ASSERT_STREQ(s->path, "/tmp/a dir/with:colon,comma=x");
	free(s);

	ASSERT_PARSE_ERR("file:", -EINVAL);

	/* PATH_MAX - 1 characters fit (with the NUL); PATH_MAX do not. */
	longp = repeat('p', PATH_MAX - 1);
	longp[0] = '/';
	spec = concat("file:", longp);
	s = parse_ok(spec);
	ASSERT_EQ(strlen(s->path), PATH_MAX - 1);
	free(s);
	free(spec);
	free(longp);
	longp = repeat('p', PATH_MAX);
	longp[0] = '/';
	spec = concat("file:", longp);
	ASSERT_PARSE_ERR(spec, -ENAMETOOLONG);
	free(spec);
	free(longp);
}

TEST(memfd_forms)
{
	struct shmkit_spec *s;
	char *n201, *spec;

	s = parse_ok("memfd:");
	ASSERT_EQ(s->backend, SHMKIT_BACKEND_MEMFD);
	ASSERT_EQ(s->form, SHMKIT_SPEC_NAME);
	ASSERT_STREQ(s->name, "");
	free(s);

	s = parse_ok("memfd:label.1");
	ASSERT_EQ(s->backend, SHMKIT_BACKEND_MEMFD);
	ASSERT_EQ(s->form, SHMKIT_SPEC_NAME);
	ASSERT_STREQ(s->name, "label.1");
	free(s);

	s = parse_ok("memfd:fd=7");
	ASSERT_EQ(s->backend, SHMKIT_BACKEND_MEMFD);
	ASSERT_EQ(s->form, SHMKIT_SPEC_FD);
	ASSERT_EQ(s->fd, 7);
	free(s);

	s = parse_ok("memfd:fd=0");
	ASSERT_EQ(s->form, SHMKIT_SPEC_FD);
	ASSERT_EQ(s->fd, 0);
	free(s);

	s = parse_ok("memfd:pid=1234,fd=5");
	ASSERT_EQ(s->backend, SHMKIT_BACKEND_MEMFD);
	ASSERT_EQ(s->form, SHMKIT_SPEC_PID_FD);
	ASSERT_EQ(s->pid, 1234);
	ASSERT_EQ(s->fd, 5);
	free(s);

	ASSERT_PARSE_ERR("memfd:fd=", -EINVAL);
	ASSERT_PARSE_ERR("memfd:fd=-1", -EINVAL);
	ASSERT_PARSE_ERR("memfd:fd=x", -EINVAL);
	ASSERT_PARSE_ERR("memfd:fd=3x", -EINVAL);
	ASSERT_PARSE_ERR("memfd:fd=99999999999999999999", -EINVAL);
	ASSERT_PARSE_ERR("memfd:pid=1234", -EINVAL);
	ASSERT_PARSE_ERR("memfd:pid=1234,fd=", -EINVAL);
	ASSERT_PARSE_ERR("memfd:pid=-5,fd=3", -EINVAL);
	ASSERT_PARSE_ERR("memfd:pid=x,fd=3", -EINVAL);
	ASSERT_PARSE_ERR("memfd:a/b", -EINVAL);
	ASSERT_PARSE_ERR("memfd:.", -EINVAL);
	ASSERT_PARSE_ERR("memfd:..", -EINVAL);
	ASSERT_PARSE_ERR("memfd:a b", -EINVAL);

	n201 = repeat('m', 201);
	spec = concat("memfd:", n201);
	ASSERT_PARSE_ERR(spec, -ENAMETOOLONG);
	free(spec);
	n201[200] = '\0';
	spec = concat("memfd:", n201);
	s = parse_ok(spec);
	ASSERT_EQ(strlen(s->name), 200);
	free(s);
	free(spec);
	free(n201);
}

TEST(round_trip)
{
	static const char *const specs[] = {
		"foo",       "posix:foo",       "posix:Az09._-",   "sysv:1",
		"sysv:0x2a", "sysv:4294967295", "sysv:0xDEADBEEF", "sysv:private",
		"sysv:id=0", "sysv:id=77",      "file:/tmp/x",     "file:/tmp/a b/c:d,e",
		"memfd:",    "memfd:lbl",       "memfd:fd=3",      "memfd:pid=99,fd=4",
	};
	char canon[PATH_MAX + 64], canon2[PATH_MAX + 64], spec[PATH_MAX + 64];
	char path[PATH_MAX];
	int fd;

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		assert_round_trip(specs[i], canon, sizeof(canon));
	}

	/* Different spellings of one object share a canonical spec. */
	assert_round_trip("foo", canon, sizeof(canon));
	assert_round_trip("posix:foo", canon2, sizeof(canon2));
	ASSERT_STREQ(canon, canon2);
	assert_round_trip("sysv:42", canon, sizeof(canon));
	assert_round_trip("sysv:0x2a", canon2, sizeof(canon2));
	ASSERT_STREQ(canon, canon2);
	assert_round_trip("sysv:0x2A", canon2, sizeof(canon2));
	ASSERT_STREQ(canon, canon2);

	/* The canonical spec names its backend explicitly. */
	assert_round_trip("foo", canon, sizeof(canon));
	ASSERT_STREQ(canon, "posix:foo");

	snprintf(path, sizeof(path), "%s/ftok", th_tmpdir());
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	ASSERT_SYS(fd);
	close(fd);
	snprintf(spec, sizeof(spec), "sysv:ftok=%s,9", path);
	assert_round_trip(spec, canon, sizeof(canon));
}

TEST(format_small_buffer)
{
	struct shmkit_spec *s = parse_ok("posix:a-rather-long-name");
	char buf[PATH_MAX + 64];
	char small[8];
	int n;

	n = shmkit__spec_format(s, buf, sizeof(buf));
	ASSERT_OK(n);
	ASSERT_EQ(shmkit__spec_format(s, small, sizeof(small)), -ENAMETOOLONG);
	/* Exactly one byte short of the terminating NUL. */
	ASSERT_EQ(shmkit__spec_format(s, buf, (size_t)n), -ENAMETOOLONG);
	ASSERT_EQ(shmkit__spec_format(s, buf, (size_t)n + 1), n);
	free(s);
}
