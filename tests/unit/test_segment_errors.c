/* SPDX-License-Identifier: MIT */
/* Opening foreign, damaged, truncated, mismatched and broken objects is refused cleanly (T08, T11).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "segtest.h"
#include "internal/header.h"

/* A copy of the whole object, to prove a refused open changed nothing. */
struct snapshot {
	unsigned char *bytes;
	uint64_t len;
};

static struct snapshot
snap(const char *spec)
{
	struct snapshot s;

	s.len = seg_raw_size(spec);
	s.bytes = malloc(s.len ? s.len : 1);
	ASSERT_TRUE(s.bytes != NULL);
	if (s.len) {
		seg_raw_read(spec, 0, s.bytes, s.len);
	}
	return s;
}

static void
assert_unchanged(const char *spec, struct snapshot *before)
{
	struct snapshot now = snap(spec);

	ASSERT_EQ(now.len, before->len);
	if (memcmp(now.bytes, before->bytes, now.len) != 0) {
		th_fail(__FILE__, __LINE__, "%s was modified by a refused open", spec);
	}
	free(now.bytes);
	free(before->bytes);
	before->bytes = NULL;
}

/* Create a shmkit segment of @size and close it (the object stays). */
static void
make_closed(const char *spec, uint64_t size)
{
	shmkit_segment *s = seg_create(spec, size, 0);

	th_fill(shmkit_segment_data(s), shmkit_segment_size(s), 77);
	ASSERT_EQ(shmkit_segment_close(s), 0);
}

static void
patch_u32(const char *spec, uint64_t off, uint32_t v)
{
	seg_raw_write(spec, off, &v, sizeof(v));
}

static void
patch_u64(const char *spec, uint64_t off, uint64_t v)
{
	seg_raw_write(spec, off, &v, sizeof(v));
}

static uint32_t
read_u32(const char *spec, uint64_t off)
{
	uint32_t v;

	seg_raw_read(spec, off, &v, sizeof(v));
	return v;
}

/* Recompute the header checksum in place, as a writer of another build would. */
static void
reseal(const char *spec)
{
	unsigned char h[SHMKIT_HEADER_SIZE];

	seg_raw_read(spec, 0, h, sizeof(h));
	patch_u32(spec, offsetof(struct shmkit_header, checksum),
		  shmkit__crc32c(0, h, offsetof(struct shmkit_header, state)));
}

static void
expect_open_err(const char *spec, int err)
{
	struct snapshot before = snap(spec);
	int rc = seg_open_rc(spec, 0, 200);

	if (rc != err) {
		char b1[160], b2[160];
		th_fail(__FILE__, __LINE__, "open(%s): got %s, expected %s", spec,
			th_errdesc(rc, b1, sizeof(b1)), th_errdesc(err, b2, sizeof(b2)));
	}
	assert_unchanged(spec, &before);
}

/* ---- foreign objects ---- */

static void
make_foreign_posix(const char *spec, int zero, size_t len)
{
	char path[PATH_MAX];
	unsigned char *buf = calloc(1, len);
	int fd;

	ASSERT_TRUE(buf != NULL);
	if (!zero) {
		th_fill(buf, len, 1234);
	}
	fd = open(seg_path(spec, path, sizeof(path)), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_SYS(fd);
	ASSERT_EQ(write(fd, buf, len), (ssize_t)len);
	close(fd);
	free(buf);
}

static void
foreign_named(const char *backend)
{
	for (int zero = 0; zero <= 1; zero++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment_info *info = calloc(1, sizeof(*info));
		shmkit_segment *raw;
		unsigned char buf[8192];

		ASSERT_TRUE(info != NULL);
		th_spec(spec, sizeof(spec), backend);
		make_foreign_posix(spec, zero, sizeof(buf));
		expect_open_err(spec, -EMEDIUMTYPE);

		ASSERT_OK(shmkit_segment_stat(spec, info));
		ASSERT_EQ(info->is_shmkit, 0);
		ASSERT_EQ(info->header_error, -EMEDIUMTYPE);
		ASSERT_EQ(info->size, sizeof(buf));

		/* F_RAW maps it anyway: data() is the whole object. */
		raw = seg_open(spec, SHMKIT_SEGMENT_F_RAW);
		ASSERT_EQ(shmkit_segment_size(raw), sizeof(buf));
		memset(buf, 0, sizeof(buf));
		if (!zero) {
			th_fill(buf, sizeof(buf), 1234);
		}
		ASSERT_EQ(memcmp(shmkit_segment_data(raw), buf, sizeof(buf)), 0);
		ASSERT_EQ(shmkit_segment_close(raw), 0);

		/* create refuses the name, open_or_create does not take it over. */
		{
			shmkit_segment_opts o = seg_opts(4096, 0);
			shmkit_segment *s = NULL;
			struct snapshot before = snap(spec);
			ASSERT_ERR(shmkit_segment_create(&s, spec, &o), -EEXIST);
			ASSERT_ERR(shmkit_segment_open_or_create(&s, spec, &o), -EMEDIUMTYPE);
			ASSERT_TRUE(s == NULL);
			assert_unchanged(spec, &before);
		}
		free(info);
	}
}

TEST(foreign_posix)
{
	foreign_named("posix");
}

TEST(foreign_file)
{
	foreign_named("file");
}

TEST(foreign_sysv)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *raw;
	unsigned char junk[4096];
	uint32_t key;
	int id;
	void *p;

	th_spec(spec, sizeof(spec), "sysv");
	key = th_spec_key(spec);
	id = shmget((key_t)key, sizeof(junk), IPC_CREAT | IPC_EXCL | 0600);
	ASSERT_SYS(id);
	p = shmat(id, NULL, 0);
	ASSERT_TRUE(p != (void *)-1);
	th_fill(junk, sizeof(junk), 5);
	memcpy(p, junk, sizeof(junk));
	ASSERT_SYS(shmdt(p));

	expect_open_err(spec, -EMEDIUMTYPE);
	raw = seg_open(spec, SHMKIT_SEGMENT_F_RAW);
	ASSERT_EQ(shmkit_segment_size(raw), sizeof(junk));
	ASSERT_EQ(memcmp(shmkit_segment_data(raw), junk, sizeof(junk)), 0);
	ASSERT_EQ(shmkit_segment_close(raw), 0);
}

/* A sysv segment made by shmkit in raw mode has no header: foreign to open. */
TEST(foreign_sysv_created_raw)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s, *raw;

	th_spec(spec, sizeof(spec), "sysv");
	s = seg_create(spec, 4096, SHMKIT_SEGMENT_F_RAW);
	th_fill(shmkit_segment_data(s), 4096, 8);
	expect_open_err(spec, -EMEDIUMTYPE);
	raw = seg_open(spec, SHMKIT_SEGMENT_F_RAW);
	ASSERT_EQ(th_check_fill(shmkit_segment_data(raw), 4096, 8), -1);
	ASSERT_EQ(shmkit_segment_close(raw), 0);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
}

/* A zero-filled sysv segment looks like one whose creator has not written the
 * header yet; with its creator alive the open waits, then gives up. */
TEST(foreign_sysv_zeroed)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s;

	th_spec(spec, sizeof(spec), "sysv");
	s = seg_create(spec, 4096, SHMKIT_SEGMENT_F_RAW);
	ASSERT_IN(seg_open_rc(spec, 0, 200), -ETIMEDOUT, -EMEDIUMTYPE);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
}

/* ---- layout version ---- */

static void
version_mismatch(const char *backend)
{
	const uint32_t deltas[] = {1, (uint32_t)-1};

	for (int i = 0; i < 2; i++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment_info *info = calloc(1, sizeof(*info));
		shmkit_segment *raw;
		uint32_t v;

		ASSERT_TRUE(info != NULL);
		th_spec(spec, sizeof(spec), backend);
		make_closed(spec, 4096);
		v = read_u32(spec, offsetof(struct shmkit_header, layout_version));
		ASSERT_EQ(v, SHMKIT_LAYOUT_VERSION);

		/* Patched in place: the version is checked before the checksum. */
		patch_u32(spec, offsetof(struct shmkit_header, layout_version), v + deltas[i]);
		expect_open_err(spec, -EPROTO);
		/* Consistently written by another version. */
		reseal(spec);
		expect_open_err(spec, -EPROTO);
		ASSERT_OK(shmkit_segment_stat(spec, info));
		ASSERT_EQ(info->header_error, -EPROTO);
		ASSERT_EQ(info->is_shmkit, 0);

		/* F_RAW still maps it, for inspection. */
		raw = seg_open(spec, SHMKIT_SEGMENT_F_RAW);
		ASSERT_EQ(memcmp(shmkit_segment_data(raw), "SHMKIT\0\1", 8), 0);
		ASSERT_EQ(shmkit_segment_close(raw), 0);
		/* And a new-version open_or_create does not overwrite it. */
		{
			shmkit_segment_opts o = seg_opts(4096, 0);
			shmkit_segment *s = NULL;
			ASSERT_ERR(shmkit_segment_open_or_create(&s, spec, &o), -EPROTO);
			ASSERT_TRUE(s == NULL);
		}
		ASSERT_EQ(shmkit_segment_remove(spec), 0);
		free(info);
	}
}

TEST(version_mismatch_posix)
{
	version_mismatch("posix");
}

TEST(version_mismatch_sysv)
{
	version_mismatch("sysv");
}

TEST(version_mismatch_file)
{
	version_mismatch("file");
}

/* ---- damaged headers ---- */

static void
bad_header(const char *backend)
{
	static const struct {
		size_t off;
		int wide;
		uint64_t value;
		int reseal;
	} cases[] = {
		/* A size field changed without fixing the checksum. */
		{offsetof(struct shmkit_header, total_size), 1, 1ull << 40, 0},
		{offsetof(struct shmkit_header, data_size), 1, 1ull << 40, 0},
		/* Consistently checksummed but impossible sizes. */
		{offsetof(struct shmkit_header, total_size), 1, 1ull << 40, 1},
		{offsetof(struct shmkit_header, total_size), 1, 64, 1},
		{offsetof(struct shmkit_header, data_size), 1, UINT64_MAX - 100, 1},
		{offsetof(struct shmkit_header, data_offset), 1, 1ull << 40, 1},
		{offsetof(struct shmkit_header, data_offset), 1, 8, 1},
		{offsetof(struct shmkit_header, header_size), 0, 8, 1},
		/* Anything else under the checksum. */
		{offsetof(struct shmkit_header, creator_pid), 0, 1, 0},
		{offsetof(struct shmkit_header, created_ns), 1, 42, 0},
		{offsetof(struct shmkit_header, checksum), 0, 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment_info *info = calloc(1, sizeof(*info));

		ASSERT_TRUE(info != NULL);
		th_spec(spec, sizeof(spec), backend);
		make_closed(spec, 4096);
		if (cases[i].wide) {
			patch_u64(spec, cases[i].off, cases[i].value);
		} else {
			uint32_t old = read_u32(spec, cases[i].off);
			uint32_t v = (uint32_t)cases[i].value;
			patch_u32(spec, cases[i].off, v == old ? v ^ 0x5a5a : v);
		}
		if (cases[i].reseal) {
			reseal(spec);
		}
		th_context("%s, header case %zu (offset %zu)", spec, i, cases[i].off);
		expect_open_err(spec, -EBADMSG);
		ASSERT_OK(shmkit_segment_stat(spec, info));
		ASSERT_EQ(info->header_error, -EBADMSG);
		ASSERT_EQ(info->is_shmkit, 0);
		ASSERT_EQ(shmkit_segment_remove(spec), 0);
		free(info);
	}
}

TEST(bad_header_posix)
{
	bad_header("posix");
}

TEST(bad_header_sysv)
{
	bad_header("sysv");
}

TEST(bad_header_file)
{
	bad_header("file");
}

/* ---- truncation (T11: a peer truncates a named segment) ---- */

static void
truncated(const char *backend)
{
	const uint64_t lens[] = {4096, 200, 64, 0};

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment_info *info = calloc(1, sizeof(*info));
		shmkit_segment *s;
		int rc;

		ASSERT_TRUE(info != NULL);
		th_spec(spec, sizeof(spec), backend);
		s = seg_create(spec, 16384, 0);
		ASSERT_OK(shmkit_segment_check(s));

		/* A peer truncates it under our mapping. Nobody touches the lost
		 * pages, so nobody gets SIGBUS; check() reports it. */
		seg_raw_truncate(spec, lens[i]);
		ASSERT_ERR(shmkit_segment_check(s), -EBADMSG);

		rc = seg_open_rc(spec, 0, 200);
		if (lens[i] >= SHMKIT_HEADER_SIZE) {
			ASSERT_ERR(rc, -EBADMSG);
		} else {
			/* Too short to hold a header at all. */
			ASSERT_IN(rc, -EBADMSG, -EMEDIUMTYPE);
		}
		ASSERT_OK(shmkit_segment_stat(spec, info));
		ASSERT_EQ(info->size, lens[i]);
		ASSERT_EQ(info->is_shmkit, 0);
		ASSERT_LT(info->header_error, 0);
		/* The first page, where one is left, still reads fine. */
		if (lens[i] >= 4096) {
			ASSERT_EQ(memcmp((char *)shmkit_segment_data(s) - SHMKIT_DATA_OFFSET,
					 "SHMKIT\0\1", 8),
				  0);
		}
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
		ASSERT_EQ(seg_exists(spec), 0);
		free(info);
	}
}

TEST(truncated_posix)
{
	truncated("posix");
}

TEST(truncated_file)
{
	truncated("file");
}

/* Growing the object is harmless: the header describes a prefix of it. */
TEST(grown_object_still_opens)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s;

	th_spec(spec, sizeof(spec), "posix");
	make_closed(spec, 4096);
	seg_raw_truncate(spec, 64 * 1024);
	s = seg_open(spec, 0);
	ASSERT_EQ(th_check_fill(shmkit_segment_data(s), 4096 - SHMKIT_DATA_OFFSET, 77), -1);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
}

/* ---- kinds and states ---- */

TEST(wrong_kind)
{
	for (size_t b = 0; b < 3; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment_info *info = calloc(1, sizeof(*info));
		shmkit_segment_opts o = seg_opts(4096, 0);
		shmkit_segment *s = NULL, *s2 = NULL;

		ASSERT_TRUE(info != NULL);
		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		o.kind = 7;
		ASSERT_OK(shmkit_segment_create(&s, spec, &o));

		o = seg_opts(0, 0); /* kind SHMKIT_KIND_SEGMENT */
		ASSERT_ERR(shmkit_segment_open(&s2, spec, &o), -EPROTOTYPE);
		ASSERT_ERR(shmkit_segment_open(&s2, spec, NULL), -EPROTOTYPE);
		o.kind = 8;
		ASSERT_ERR(shmkit_segment_open(&s2, spec, &o), -EPROTOTYPE);
		ASSERT_TRUE(s2 == NULL);
		o.kind = 7;
		ASSERT_OK(shmkit_segment_open(&s2, spec, &o));
		ASSERT_EQ(shmkit_segment_close(s2), 0);
		o.kind = SHMKIT_KIND_ANY;
		ASSERT_OK(shmkit_segment_open(&s2, spec, &o));
		ASSERT_OK(shmkit_segment_info_get(s2, info));
		ASSERT_EQ(info->kind, 7);
		ASSERT_EQ(shmkit_segment_close(s2), 0);
		/* open_or_create of an existing object of another kind. */
		o = seg_opts(4096, 0);
		ASSERT_ERR(shmkit_segment_open_or_create(&s2, spec, &o), -EPROTOTYPE);
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
		free(info);
	}
}

TEST(broken_state)
{
	for (size_t b = 0; b < 3; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment_info *info = calloc(1, sizeof(*info));
		shmkit_segment *s;
		struct shmkit_header *h;

		ASSERT_TRUE(info != NULL);
		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		s = seg_create(spec, 4096, 0);
		ASSERT_OK(shmkit_segment_check(s));
		h = (struct shmkit_header *)((char *)shmkit_segment_data(s) - SHMKIT_DATA_OFFSET);
		ASSERT_EQ(atomic_load(&h->state), SHMKIT_STATE_READY);
		atomic_store(&h->state, SHMKIT_STATE_BROKEN);

		ASSERT_ERR(shmkit_segment_check(s), -ENOTRECOVERABLE);
		expect_open_err(spec, -ENOTRECOVERABLE);
		{
			shmkit_segment_opts o = seg_opts(4096, 0);
			shmkit_segment *s2 = NULL;
			ASSERT_ERR(shmkit_segment_open_or_create(&s2, spec, &o), -ENOTRECOVERABLE);
		}
		ASSERT_OK(shmkit_segment_stat(spec, info));
		ASSERT_EQ(info->state, SHMKIT_STATE_BROKEN);
		ASSERT_EQ(info->header_error, 0);
		ASSERT_EQ(info->is_shmkit, 1);
		/* Removal works on a broken object. */
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
		ASSERT_EQ(seg_exists(spec), 0);
		free(info);
	}
}

/* A state word that is none of the three states. */
TEST(unknown_state)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s;

	th_spec(spec, sizeof(spec), "posix");
	s = seg_create(spec, 4096, 0);
	patch_u32(spec, offsetof(struct shmkit_header, state), 0xdeadbeef);
	ASSERT_LT(seg_open_rc(spec, 0, 200), 0);
	ASSERT_LT(shmkit_segment_check(s), 0);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
}

/*
 * A sysv segment whose live creator never publishes: the open waits for the
 * ready timeout, then fails with -ETIMEDOUT; once published, it opens.
 */
TEST(sysv_initializing_live_creator)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s, *s2;
	struct shmkit_header *h;

	th_spec(spec, sizeof(spec), "sysv");
	s = seg_create(spec, 4096, 0);
	h = (struct shmkit_header *)((char *)shmkit_segment_data(s) - SHMKIT_DATA_OFFSET);
	atomic_store(&h->state, SHMKIT_STATE_INITIALIZING);
	ASSERT_ERR(seg_open_rc(spec, 0, 150), -ETIMEDOUT);
	atomic_store(&h->state, SHMKIT_STATE_READY);
	s2 = seg_open(spec, 0);
	ASSERT_EQ(shmkit_segment_close(s2), 0);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
}

/*
 * The same with a creator that is gone: -EOWNERDEAD, promptly (the creator
 * is a forked child that creates, marks the header initialising and exits).
 */
TEST(sysv_initializing_dead_creator)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s = NULL;
	shmkit_segment_opts o = seg_opts(4096, 0);
	pid_t pid;

	th_spec(spec, sizeof(spec), "sysv");
	pid = th_fork();
	if (pid == 0) {
		shmkit_segment *c = seg_create(spec, 4096, 0);
		struct shmkit_header *h = (struct shmkit_header *)((char *)shmkit_segment_data(c) -
								   SHMKIT_DATA_OFFSET);
		atomic_store(&h->state, SHMKIT_STATE_INITIALIZING);
		th_exit(0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_TRUE(seg_exists(spec));
	/* A generous timeout: a dead creator must not make us wait for it. */
	ASSERT_ERR(seg_open_rc(spec, 0, 20000), -EOWNERDEAD);
	/* The leftover of a dead creator does not block a new create. */
	ASSERT_OK(shmkit_segment_create(&s, spec, &o));
	ASSERT_TRUE(seg_all_bytes(shmkit_segment_data(s), 4096, 0));
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
	ASSERT_EQ(seg_exists(spec), 0);
}

/* ---- check() ---- */

TEST(check_ok_and_sysv_removed)
{
	for (size_t b = 0; b < 4; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment *s;

		th_spec(spec, sizeof(spec), seg_all_backends[b]);
		s = seg_create(spec, 4096, 0);
		ASSERT_EQ(shmkit_segment_check(s), 0);
		if (strcmp(seg_all_backends[b], "sysv") == 0) {
			ASSERT_EQ(shmkit_segment_remove(spec), 0);
			ASSERT_ERR(shmkit_segment_check(s), -EIDRM);
			memset(shmkit_segment_data(s), 1, 4096);
			ASSERT_EQ(shmkit_segment_close(s), 0);
		} else if (strcmp(seg_all_backends[b], "memfd") == 0) {
			ASSERT_EQ(shmkit_segment_close(s), 0);
		} else {
			ASSERT_EQ(shmkit_segment_destroy(s), 0);
		}
	}
}

TEST(check_header_corrupted_under_us)
{
	for (size_t b = 0; b < 3; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment *s;
		struct shmkit_header *h;

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		s = seg_create(spec, 4096, 0);
		h = (struct shmkit_header *)((char *)shmkit_segment_data(s) - SHMKIT_DATA_OFFSET);
		h->data_size = UINT64_MAX / 2;
		ASSERT_ERR(shmkit_segment_check(s), -EBADMSG);
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
	}
}

/* ---- things that are not segments at the name ---- */

static int
count_all(const shmkit_segment_info *info, void *ctx)
{
	(void)info;
	(*(int *)ctx)++;
	return 0;
}

/*
 * Regression: a FIFO at a name made stat (and so shmkit ls, which stats
 * every entry of /dev/shm) block in open() until the watchdog fired.
 */
TEST(regression_stat_and_list_hang_on_fifo)
{
	char spec[TH_SPEC_MAX], path[PATH_MAX];
	shmkit_segment_info *info = calloc(1, sizeof(*info));
	int n = 0;

	ASSERT_TRUE(info != NULL);
	th_spec(spec, sizeof(spec), "posix");
	ASSERT_SYS(mkfifo(seg_path(spec, path, sizeof(path)), 0600));
	ASSERT_ERR(shmkit_segment_stat(spec, info), -EMEDIUMTYPE);
	ASSERT_OK(shmkit_segment_list(count_all, &n, SHMKIT_LIST_F_ALL));
	ASSERT_ERR(shmkit_segment_set_perm(spec, 0600, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP),
		   -EMEDIUMTYPE);
	free(info);
}

TEST(not_a_regular_file)
{
	char spec[TH_SPEC_MAX], path[PATH_MAX];
	shmkit_segment_opts o = seg_opts(4096, 0);
	shmkit_segment *s = NULL;

	/* A FIFO: opening it O_RDWR would succeed; it must still be refused,
	 * without hanging. */
	th_spec(spec, sizeof(spec), "posix");
	ASSERT_SYS(mkfifo(seg_path(spec, path, sizeof(path)), 0600));
	ASSERT_LT(seg_open_rc(spec, 0, 100), 0);
	ASSERT_LT(shmkit_segment_open_or_create(&s, spec, &o), 0);
	ASSERT_TRUE(s == NULL);

	th_spec(spec, sizeof(spec), "file");
	ASSERT_SYS(mkfifo(seg_path(spec, path, sizeof(path)), 0600));
	ASSERT_LT(seg_open_rc(spec, 0, 100), 0);
	ASSERT_ERR(shmkit_segment_create(&s, spec, &o), -EEXIST);

	/* A directory. */
	th_spec(spec, sizeof(spec), "file");
	ASSERT_SYS(mkdir(seg_path(spec, path, sizeof(path)), 0700));
	ASSERT_LT(seg_open_rc(spec, 0, 100), 0);
	ASSERT_ERR(shmkit_segment_create(&s, spec, &o), -EEXIST);
	ASSERT_LT(shmkit_segment_open_or_create(&s, spec, &o), 0);
	ASSERT_TRUE(s == NULL);
	ASSERT_SYS(rmdir(path));

	/* /dev/null as a file: spec is a character device. */
	ASSERT_LT(seg_open_rc("file:/dev/null", 0, 100), 0);
	ASSERT_LT(seg_open_rc("file:/dev/null", SHMKIT_SEGMENT_F_RAW | SHMKIT_SEGMENT_F_ANY_OWNER,
			      100),
		  0);
}

TEST(file_empty_and_tiny)
{
	char spec[TH_SPEC_MAX], path[PATH_MAX];
	int fd;

	th_spec(spec, sizeof(spec), "file");
	fd = open(seg_path(spec, path, sizeof(path)), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_SYS(fd);
	/* An empty file cannot be mapped at all. */
	ASSERT_IN(seg_open_rc(spec, 0, 100), -EMEDIUMTYPE, -EBADMSG);
	ASSERT_LT(seg_open_rc(spec, SHMKIT_SEGMENT_F_RAW, 100), 0);
	/* Three bytes: not even a magic. */
	ASSERT_EQ(write(fd, "abc", 3), 3);
	ASSERT_IN(seg_open_rc(spec, 0, 100), -EMEDIUMTYPE, -EBADMSG);
	/* Eight bytes of magic and nothing else. */
	ASSERT_SYS(ftruncate(fd, 0));
	ASSERT_EQ(pwrite(fd, "SHMKIT\0\1", 8, 0), 8);
	ASSERT_IN(seg_open_rc(spec, 0, 100), -EBADMSG, -EMEDIUMTYPE);
	close(fd);
}
