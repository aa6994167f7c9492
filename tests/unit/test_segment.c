/* SPDX-License-Identifier: MIT */
/* Unit tests of segment create/open/close/remove, properties and options on every backend. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "segtest.h"
#include "internal/header.h"
#include "internal/spec.h"

static int
is_backend(const char *spec, const char *prefix)
{
	return strncmp(spec, prefix, strlen(prefix)) == 0;
}

/* Canonical form of @spec as the library formats it. */
static void
canonical(const char *spec, char *buf, size_t len)
{
	struct shmkit_spec *s = calloc(1, sizeof(*s));

	ASSERT_TRUE(s != NULL);
	ASSERT_EQ(shmkit__spec_parse(spec, s), 0);
	ASSERT_OK(shmkit__spec_format(s, buf, len));
	free(s);
}

static uint32_t
mode_of_fd(int fd)
{
	struct stat st;

	ASSERT_SYS(fstat(fd, &st));
	return st.st_mode & 07777;
}

static uint32_t
sysv_mode(int id)
{
	struct shmid_ds ds;

	/* IPC_STAT needs read permission, which a mode-0000 segment denies
	 * even to its owner; SHM_STAT_ANY by table index does not. */
	if (shmctl(id, IPC_STAT, &ds) != 0) {
		ASSERT_EQ(errno, EACCES);
		ASSERT_EQ(shmctl(id & 0x7fff, SHM_STAT_ANY, &ds), id);
	}
	return ds.shm_perm.mode & 0777;
}

static int64_t
sysv_nattch(int id)
{
	struct shmid_ds ds;

	ASSERT_SYS(shmctl(id, IPC_STAT, &ds));
	return (int64_t)ds.shm_nattch;
}

/* ---- defaults ---- */

TEST(opts_defaults)
{
	shmkit_segment_opts o;

	memset(&o, 0xa5, sizeof(o));
	shmkit_segment_opts_init(&o);
	ASSERT_EQ(o.size, 0);
	ASSERT_EQ(o.mode, 0600);
	ASSERT_EQ(o.flags, 0);
	ASSERT_EQ(o.kind, SHMKIT_KIND_SEGMENT);
	ASSERT_EQ(o.ready_timeout_ms, 1000);
	for (size_t i = 0; i < sizeof(o.reserved_) / sizeof(o.reserved_[0]); i++) {
		ASSERT_EQ(o.reserved_[i], 0);
	}
}

TEST(strings)
{
	static const int codes[] = {
		-EPROTO, -EMEDIUMTYPE, -EBADMSG, -EOWNERDEAD, -ENOTRECOVERABLE, -EIDRM, -ENOENT,
		-EACCES, -EEXIST,      -EINVAL,  -EPROTOTYPE, -ETIMEDOUT,       EPROTO, 0,
		-99999,  99999,        -1,       INT32_MIN,
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = shmkit_strerror(codes[i]);
		ASSERT_TRUE(s != NULL);
		ASSERT_TRUE(s[0] != '\0');
	}
	/* A positive errno renders like its negative. */
	ASSERT_STREQ(shmkit_strerror(EPROTO), shmkit_strerror(-EPROTO));
	ASSERT_STREQ(shmkit_strerror(-ENOENT), shmkit_strerror(ENOENT));

	ASSERT_STREQ(shmkit_backend_name(SHMKIT_BACKEND_POSIX), "posix");
	ASSERT_STREQ(shmkit_backend_name(SHMKIT_BACKEND_SYSV), "sysv");
	ASSERT_STREQ(shmkit_backend_name(SHMKIT_BACKEND_FILE), "file");
	ASSERT_STREQ(shmkit_backend_name(SHMKIT_BACKEND_MEMFD), "memfd");
	ASSERT_STREQ(shmkit_backend_name(SHMKIT_BACKEND_NONE), "none");
	ASSERT_TRUE(shmkit_backend_name((shmkit_backend)77) != NULL);

	ASSERT_STREQ(shmkit_state_name(SHMKIT_STATE_INITIALIZING), "initializing");
	ASSERT_STREQ(shmkit_state_name(SHMKIT_STATE_READY), "ready");
	ASSERT_STREQ(shmkit_state_name(SHMKIT_STATE_BROKEN), "broken");
	ASSERT_STREQ(shmkit_state_name(3), "unknown");
	ASSERT_STREQ(shmkit_state_name(0xffffffffu), "unknown");

	ASSERT_STREQ(shmkit_version(), SHMKIT_VERSION_STRING);
	ASSERT_EQ(shmkit_layout_version(), SHMKIT_LAYOUT_VERSION);
}

TEST(close_null)
{
	ASSERT_EQ(shmkit_segment_close(NULL), 0);
	ASSERT_OK(shmkit_segment_destroy(NULL));
}

/* ---- create on each backend ---- */

static void
check_info_common(const shmkit_segment_info *info, const char *backend, const shmkit_segment *s)
{
	ASSERT_EQ(info->backend, seg_backend_of(backend));
	ASSERT_EQ(info->is_shmkit, 1);
	ASSERT_EQ(info->header_error, 0);
	ASSERT_EQ(info->kind, SHMKIT_KIND_SEGMENT);
	ASSERT_EQ(info->state, SHMKIT_STATE_READY);
	ASSERT_EQ(info->layout_version, SHMKIT_LAYOUT_VERSION);
	ASSERT_EQ(info->data_size, shmkit_segment_size(s));
	ASSERT_GE(info->data_offset, SHMKIT_HEADER_SIZE);
	ASSERT_EQ(info->data_offset % 64, 0);
	ASSERT_GE(info->size, info->data_offset + info->data_size);
	ASSERT_EQ(info->mode, 0600);
	ASSERT_EQ(info->uid, geteuid());
	ASSERT_EQ(info->creator_uid, geteuid());
	ASSERT_EQ(info->creator_pid, getpid());
	ASSERT_EQ(info->creator_alive, 1);
	ASSERT_NE(info->creator_start, 0);
	ASSERT_GT(info->created_ns, 0);
	ASSERT_EQ(info->removed, 0);
	ASSERT_TRUE(memchr(info->spec, '\0', sizeof(info->spec)) != NULL);
	ASSERT_TRUE(info->spec[0] != '\0');
}

static void
create_basic(const char *backend)
{
	char spec[TH_SPEC_MAX], canon[PATH_MAX + 64];
	shmkit_segment_info *info = calloc(1, sizeof(*info));
	shmkit_segment_info *info2 = calloc(1, sizeof(*info2));
	shmkit_segment_opts o;
	shmkit_segment *s = NULL, *s2;
	unsigned char *data;
	size_t size;
	int fd, named = strcmp(backend, "memfd") != 0;

	ASSERT_TRUE(info && info2);
	th_spec(spec, sizeof(spec), backend);
	if (named) {
		ASSERT_EQ(seg_exists(spec), 0);
	}
	shmkit_segment_opts_init(&o);
	o.size = 1000;
	ASSERT_OK(shmkit_segment_create(&s, spec, &o));
	ASSERT_TRUE(s != NULL);
	if (named) {
		ASSERT_EQ(seg_exists(spec), 1);
	}

	data = shmkit_segment_data(s);
	size = shmkit_segment_size(s);
	ASSERT_TRUE(data != NULL);
	ASSERT_EQ((uintptr_t)data % 64, 0);
	ASSERT_GE(size, 1000);
	ASSERT_TRUE(seg_all_bytes(data, size, 0));
	ASSERT_EQ(shmkit_segment_backend(s), seg_backend_of(backend));

	/* The whole data area is usable. */
	th_fill(data, size, 11);
	ASSERT_EQ(th_check_fill(data, size, 11), -1);

	fd = shmkit_segment_fd(s);
	if (strcmp(backend, "sysv") == 0) {
		ASSERT_ERR(fd, -EOPNOTSUPP);
	} else {
		struct stat st;
		ASSERT_OK(fd);
		ASSERT_SYS(fstat(fd, &st));
		ASSERT_TRUE(S_ISREG(st.st_mode));
		ASSERT_GE((uint64_t)st.st_size, size + SHMKIT_HEADER_SIZE);
		/* Descriptors are close-on-exec. */
		ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	}

	ASSERT_OK(shmkit_segment_info_get(s, info));
	check_info_common(info, backend, s);
	if (strcmp(backend, "sysv") == 0) {
		ASSERT_EQ(info->nattch, 1);
		ASSERT_EQ(info->sysv_key, th_spec_key(spec));
		ASSERT_EQ(info->sysv_id, seg_sysv_id(spec));
		ASSERT_EQ(info->last_pid, getpid());
		ASSERT_EQ(info->size, seg_raw_size(spec));
	} else {
		ASSERT_EQ(info->nattch, -1);
		ASSERT_EQ(info->sysv_id, -1);
		ASSERT_EQ(info->last_pid, -1);
	}
	if (strcmp(backend, "memfd") == 0) {
		ASSERT_EQ(info->holder_pid, getpid());
	} else {
		ASSERT_EQ(info->holder_pid, -1);
	}

	if (named) {
		/* The reported spec reaches the object and is canonical. */
		canonical(spec, canon, sizeof(canon));
		ASSERT_STREQ(info->spec, canon);
		ASSERT_OK(shmkit_segment_stat(spec, info2));
		check_info_common(info2, backend, s);
		ASSERT_EQ(info2->size, info->size);
		ASSERT_EQ(info2->created_ns, info->created_ns);
		ASSERT_STREQ(info2->spec, canon);

		/* A second handle shares the memory. */
		s2 = seg_open(spec, 0);
		ASSERT_EQ(shmkit_segment_size(s2), size);
		ASSERT_EQ(th_check_fill(shmkit_segment_data(s2), size, 11), -1);
		((unsigned char *)shmkit_segment_data(s2))[5] ^= 0xff;
		ASSERT_EQ(th_check_fill(data, size, 11), 5);
		((unsigned char *)shmkit_segment_data(s2))[5] ^= 0xff;
		ASSERT_EQ(shmkit_segment_close(s2), 0);

		/* close keeps the object; destroy removes it. */
		ASSERT_EQ(shmkit_segment_close(s), 0);
		ASSERT_EQ(seg_exists(spec), 1);
		s = seg_open(spec, 0);
		ASSERT_EQ(th_check_fill(shmkit_segment_data(s), size, 11), -1);
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
		ASSERT_EQ(seg_exists(spec), 0);
		ASSERT_ERR(seg_open_rc(spec, 0, 100), -ENOENT);
		ASSERT_ERR(shmkit_segment_remove(spec), -ENOENT);
		ASSERT_ERR(shmkit_segment_stat(spec, info2), -ENOENT);
	} else {
		ASSERT_EQ(shmkit_segment_close(s), 0);
	}
	free(info);
	free(info2);
}

TEST(create_basic_posix)
{
	create_basic("posix");
}

TEST(create_basic_sysv)
{
	create_basic("sysv");
}

TEST(create_basic_file)
{
	create_basic("file");
}

TEST(create_basic_memfd)
{
	create_basic("memfd");
}

TEST(create_sizes)
{
	static const uint64_t sizes[] = {1, 63, 64, 4096 - 128, 4096, 4097, (1u << 20) + 3};

	for (size_t b = 0; b < 4; b++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			char spec[TH_SPEC_MAX];
			shmkit_segment *s;
			size_t size;

			th_spec(spec, sizeof(spec), seg_all_backends[b]);
			s = seg_create(spec, sizes[i], 0);
			size = shmkit_segment_size(s);
			ASSERT_GE(size, sizes[i]);
			ASSERT_EQ((uintptr_t)shmkit_segment_data(s) % 64, 0);
			ASSERT_TRUE(seg_all_bytes(shmkit_segment_data(s), size, 0));
			memset(shmkit_segment_data(s), 0x5a, size);
			if (strcmp(seg_all_backends[b], "memfd") == 0) {
				ASSERT_EQ(shmkit_segment_close(s), 0);
			} else {
				ASSERT_EQ(shmkit_segment_destroy(s), 0);
				ASSERT_EQ(seg_exists(spec), 0);
			}
		}
	}
}

TEST(create_null_opts_and_zero_size)
{
	for (size_t b = 0; b < 4; b++) {
		const char *backend = seg_all_backends[b];
		char spec[TH_SPEC_MAX];
		shmkit_segment_opts o;
		shmkit_segment *s = NULL;

		th_spec(spec, sizeof(spec), backend);
		ASSERT_ERR(shmkit_segment_create(&s, spec, NULL), -EINVAL);
		ASSERT_TRUE(s == NULL);
		o = seg_opts(0, 0);
		ASSERT_ERR(shmkit_segment_create(&s, spec, &o), -EINVAL);
		ASSERT_TRUE(s == NULL);
		if (strcmp(backend, "memfd") != 0) {
			ASSERT_EQ(seg_exists(spec), 0);
		}
	}
}

TEST(create_bad_spec)
{
	shmkit_segment_opts o = seg_opts(4096, 0);
	shmkit_segment *s = NULL;
	char longname[260];

	ASSERT_ERR(shmkit_segment_create(&s, "", &o), -EINVAL);
	ASSERT_ERR(shmkit_segment_create(&s, "posix:", &o), -EINVAL);
	ASSERT_ERR(shmkit_segment_create(&s, "a/b", &o), -EINVAL);
	ASSERT_ERR(shmkit_segment_create(&s, "..", &o), -EINVAL);
	ASSERT_ERR(shmkit_segment_create(&s, "nope:x", &o), -EINVAL);
	ASSERT_ERR(shmkit_segment_create(&s, "sysv:0", &o), -EINVAL);
	memset(longname, 'q', 201);
	longname[201] = '\0';
	ASSERT_ERR(shmkit_segment_create(&s, longname, &o), -ENAMETOOLONG);
	ASSERT_ERR(shmkit_segment_open(&s, "", NULL), -EINVAL);
	ASSERT_ERR(shmkit_segment_open(&s, longname, NULL), -ENAMETOOLONG);
	ASSERT_ERR(shmkit_segment_remove("a/b"), -EINVAL);
	ASSERT_TRUE(s == NULL);
}

/* Forms that only make sense for one of create and open. */
TEST(create_only_and_open_only_forms)
{
	shmkit_segment_opts o = seg_opts(4096, 0);
	shmkit_segment *s = NULL;
	shmkit_segment_info *info = calloc(1, sizeof(*info));
	char spec[64];
	int id;

	ASSERT_TRUE(info != NULL);
	ASSERT_ERR(shmkit_segment_open(&s, "sysv:private", NULL), -EINVAL);
	ASSERT_ERR(shmkit_segment_open(&s, "memfd:", NULL), -EINVAL);
	ASSERT_ERR(shmkit_segment_open(&s, "memfd:label", NULL), -EINVAL);
	ASSERT_TRUE(s == NULL);

	/* sysv:private makes a new keyless segment, reachable by its id. */
	ASSERT_OK(shmkit_segment_create(&s, "sysv:private", &o));
	ASSERT_OK(shmkit_segment_info_get(s, info));
	id = info->sysv_id;
	ASSERT_GE(id, 0);
	th_cleanup_sysv_id(id);
	ASSERT_EQ(info->sysv_key, 0);
	snprintf(spec, sizeof(spec), "sysv:id=%d", id);
	ASSERT_STREQ(info->spec, spec);
	memset(shmkit_segment_data(s), 0x42, 16);
	{
		shmkit_segment *s2 = seg_open(spec, 0);
		ASSERT_TRUE(seg_all_bytes(shmkit_segment_data(s2), 16, 0x42));
		ASSERT_EQ(shmkit_segment_close(s2), 0);
	}
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
	ASSERT_ERR(seg_open_rc(spec, 0, 100), -ENOENT);
	free(info);
}

TEST(sysv_by_id_missing)
{
	char spec[64];
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);

	ASSERT_SYS(id);
	ASSERT_SYS(shmctl(id, IPC_RMID, NULL));
	snprintf(spec, sizeof(spec), "sysv:id=%d", id);
	ASSERT_ERR(seg_open_rc(spec, 0, 100), -ENOENT);
}

TEST(sysv_ftok)
{
	char path[PATH_MAX], spec[PATH_MAX + 64], keyspec[64];
	shmkit_segment_info *info = calloc(1, sizeof(*info));
	shmkit_segment *s, *s2;
	key_t key;
	int fd;

	ASSERT_TRUE(info != NULL);
	snprintf(path, sizeof(path), "%s/anchor", th_tmpdir());
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	ASSERT_SYS(fd);
	close(fd);
	key = ftok(path, 77);
	ASSERT_NE(key, -1);
	if (shmget(key, 0, 0) >= 0) {
		SKIP("ftok key 0x%x is taken", (unsigned)key);
	}
	th_cleanup_sysv_key((uint32_t)key);
	snprintf(spec, sizeof(spec), "sysv:ftok=%s,77", path);
	snprintf(keyspec, sizeof(keyspec), "sysv:0x%x", (unsigned)key);

	s = seg_create(spec, 4096, 0);
	ASSERT_OK(shmkit_segment_info_get(s, info));
	ASSERT_EQ(info->sysv_key, (uint32_t)key);
	memcpy(shmkit_segment_data(s), "ftok", 4);
	s2 = seg_open(keyspec, 0);
	ASSERT_EQ(memcmp(shmkit_segment_data(s2), "ftok", 4), 0);
	ASSERT_EQ(shmkit_segment_close(s2), 0);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
	ASSERT_LT(shmget(key, 0, 0), 0);
	free(info);
}

/* ---- exclusivity, modes ---- */

TEST(create_is_exclusive)
{
	for (size_t b = 0; b < 3; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment *s, *s2 = NULL;
		shmkit_segment_opts o = seg_opts(4096, 0);

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		s = seg_create(spec, 4096, 0);
		memset(shmkit_segment_data(s), 0x33, 64);
		ASSERT_ERR(shmkit_segment_create(&s2, spec, &o), -EEXIST);
		ASSERT_TRUE(s2 == NULL);
		/* The failed create did not disturb the existing object. */
		ASSERT_TRUE(seg_all_bytes(shmkit_segment_data(s), 64, 0x33));
		s2 = seg_open(spec, 0);
		ASSERT_TRUE(seg_all_bytes(shmkit_segment_data(s2), 64, 0x33));
		ASSERT_EQ(shmkit_segment_close(s2), 0);
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
	}
}

static uint32_t
mode_of(const char *spec, shmkit_segment *s)
{
	if (is_backend(spec, "sysv:")) {
		return sysv_mode(seg_sysv_id(spec));
	}
	return mode_of_fd(shmkit_segment_fd(s));
}

TEST(mode_ignores_umask)
{
	static const struct {
		mode_t umask;
		uint32_t mode; /* 0: default */
		uint32_t want;
	} cases[] = {
		{0, 0, 0600},      {0777, 0, 0600}, {077, 0640, 0640},
		{022, 0666, 0666}, {0, 0400, 0400}, {0777, 0604, 0604},
	};

	for (size_t b = 0; b < 4; b++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const char *backend = seg_all_backends[b];
			char spec[TH_SPEC_MAX], path[PATH_MAX];
			shmkit_segment_opts o = seg_opts(4096, 0);
			shmkit_segment_info *info = calloc(1, sizeof(*info));
			shmkit_segment *s = NULL;
			struct stat st;

			ASSERT_TRUE(info != NULL);
			th_spec(spec, sizeof(spec), backend);
			if (cases[i].mode) {
				o.mode = cases[i].mode;
			}
			umask(cases[i].umask);
			ASSERT_OK(shmkit_segment_create(&s, spec, &o));
			umask(022);
			if (mode_of(spec, s) != cases[i].want) {
				th_fail(__FILE__, __LINE__,
					"%s umask %03o mode %03o: got %03o, want %03o", backend,
					(unsigned)cases[i].umask, cases[i].mode, mode_of(spec, s),
					cases[i].want);
			}
			ASSERT_OK(shmkit_segment_info_get(s, info));
			ASSERT_EQ(info->mode, cases[i].want);
			if (strcmp(backend, "posix") == 0 || strcmp(backend, "file") == 0) {
				ASSERT_SYS(lstat(seg_path(spec, path, sizeof(path)), &st));
				ASSERT_EQ(st.st_mode & 07777, cases[i].want);
				ASSERT_TRUE(S_ISREG(st.st_mode));
			}
			if (strcmp(backend, "memfd") == 0) {
				ASSERT_EQ(shmkit_segment_close(s), 0);
			} else {
				ASSERT_EQ(shmkit_segment_destroy(s), 0);
			}
			free(info);
		}
	}
}

TEST(bad_mode)
{
	for (size_t b = 0; b < 4; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment_opts o = seg_opts(4096, 0);
		shmkit_segment *s = NULL;

		th_spec(spec, sizeof(spec), seg_all_backends[b]);
		o.mode = 01000;
		ASSERT_ERR(shmkit_segment_create(&s, spec, &o), -EINVAL);
		o.mode = 04600;
		ASSERT_ERR(shmkit_segment_create(&s, spec, &o), -EINVAL);
		o.mode = 0x10000;
		ASSERT_ERR(shmkit_segment_create(&s, spec, &o), -EINVAL);
		ASSERT_TRUE(s == NULL);
		if (b < 3) {
			ASSERT_EQ(seg_exists(spec), 0);
		}
	}
}

/* ---- huge and contradictory requests ---- */

TEST(huge_sizes)
{
	/*
	 * memfd is not asked for 2^62: its backing tmpfs mount has no size
	 * limit, so a library that let such a size through to fallocate would
	 * exhaust the machine's memory rather than fail.
	 */
	static const uint64_t all[] = {UINT64_MAX, UINT64_MAX - 4095,
				       UINT64_MAX - SHMKIT_HEADER_SIZE + 1, UINT64_C(1) << 63};
	static const uint64_t named_only[] = {UINT64_C(1) << 62, (UINT64_C(1) << 62) + 1};

	for (size_t b = 0; b < 4; b++) {
		const char *backend = seg_all_backends[b];
		int named = strcmp(backend, "memfd") != 0;

		for (size_t i = 0; i < 6; i++) {
			uint64_t size = i < 4 ? all[i] : named_only[i - 4];
			char spec[TH_SPEC_MAX];
			shmkit_segment_opts o = seg_opts(size, 0);
			shmkit_segment *s = NULL;
			int rc;

			if (i >= 4 && !named) {
				continue;
			}
			th_spec(spec, sizeof(spec), backend);
			rc = shmkit_segment_create(&s, spec, &o);
			if (rc != -EFBIG && rc != -ENOSPC && rc != -ENOMEM) {
				char e[160];
				th_fail(__FILE__, __LINE__,
					"%s size 0x%llx: got %s, expected -EFBIG, -ENOSPC or "
					"-ENOMEM",
					backend, (unsigned long long)size,
					th_errdesc(rc, e, sizeof(e)));
			}
			ASSERT_TRUE(s == NULL);
			if (named) {
				ASSERT_EQ(seg_exists(spec), 0);
			}
		}
	}
}

TEST(hugepages_unsupported)
{
	for (size_t b = 0; b < 3; b += 2) { /* posix and file */
		char spec[TH_SPEC_MAX];
		shmkit_segment_opts o = seg_opts(4096, SHMKIT_SEGMENT_F_HUGEPAGES);
		shmkit_segment *s = NULL;

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		ASSERT_ERR(shmkit_segment_create(&s, spec, &o), -EOPNOTSUPP);
		ASSERT_TRUE(s == NULL);
		ASSERT_EQ(seg_exists(spec), 0);
	}
}

TEST(unknown_flags)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment_opts o = seg_opts(4096, 1u << 30);
	shmkit_segment *s = NULL;

	th_spec(spec, sizeof(spec), "posix");
	ASSERT_ERR(shmkit_segment_create(&s, spec, &o), -EINVAL);
	ASSERT_EQ(seg_exists(spec), 0);
}

/* ---- open ---- */

TEST(open_missing)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s = NULL;
	int fd;

	for (size_t b = 0; b < 3; b++) {
		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		ASSERT_ERR(shmkit_segment_open(&s, spec, NULL), -ENOENT);
		ASSERT_TRUE(s == NULL);
		ASSERT_EQ(seg_exists(spec), 0);
	}
	snprintf(spec, sizeof(spec), "file:%s/no/such/dir/x", th_tmpdir());
	ASSERT_ERR(shmkit_segment_open(&s, spec, NULL), -ENOENT);

	/* A descriptor that is not open. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_SYS(fd);
	close(fd);
	snprintf(spec, sizeof(spec), "memfd:fd=%d", fd);
	ASSERT_IN(shmkit_segment_open(&s, spec, NULL), -EBADF, -ENOENT);
	/* A process that does not exist (pid_max is at most 2^22). */
	ASSERT_IN(shmkit_segment_open(&s, "memfd:pid=2147483647,fd=3", NULL), -ENOENT, -ESRCH);
	ASSERT_TRUE(s == NULL);
}

TEST(open_null_opts)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s, *s2 = NULL;

	th_spec(spec, sizeof(spec), "posix");
	s = seg_create(spec, 4096, 0);
	ASSERT_OK(shmkit_segment_open(&s2, spec, NULL));
	ASSERT_TRUE(s2 != NULL);
	ASSERT_EQ(shmkit_segment_size(s2), shmkit_segment_size(s));
	ASSERT_EQ(shmkit_segment_close(s2), 0);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
}

TEST(open_or_create)
{
	for (size_t b = 0; b < 3; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment_opts o = seg_opts(5000, 0);
		shmkit_segment *s1 = NULL, *s2 = NULL;

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		ASSERT_EQ(shmkit_segment_open_or_create(&s1, spec, &o), 1);
		ASSERT_TRUE(s1 != NULL);
		ASSERT_GE(shmkit_segment_size(s1), 5000);
		th_fill(shmkit_segment_data(s1), 5000, 99);
		ASSERT_EQ(shmkit_segment_open_or_create(&s2, spec, &o), 0);
		ASSERT_TRUE(s2 != NULL);
		ASSERT_EQ(shmkit_segment_size(s2), shmkit_segment_size(s1));
		ASSERT_EQ(th_check_fill(shmkit_segment_data(s2), 5000, 99), -1);
		ASSERT_EQ(shmkit_segment_close(s2), 0);
		ASSERT_EQ(shmkit_segment_destroy(s1), 0);
		ASSERT_EQ(seg_exists(spec), 0);
		/* And after removal it creates again. */
		ASSERT_EQ(shmkit_segment_open_or_create(&s1, spec, &o), 1);
		ASSERT_TRUE(seg_all_bytes(shmkit_segment_data(s1), 5000, 0));
		ASSERT_EQ(shmkit_segment_destroy(s1), 0);
	}
}

/* Specs that no open and create could both reach. */
TEST(open_or_create_invalid_forms)
{
	shmkit_segment_opts o = seg_opts(4096, 0);
	shmkit_segment *s = NULL;
	char spec[TH_SPEC_MAX];
	int id;

	ASSERT_ERR(shmkit_segment_open_or_create(&s, "sysv:private", &o), -EINVAL);
	ASSERT_ERR(shmkit_segment_open_or_create(&s, "memfd:", &o), -EINVAL);
	ASSERT_ERR(shmkit_segment_open_or_create(&s, "memfd:lbl", &o), -EINVAL);
	ASSERT_ERR(shmkit_segment_open_or_create(&s, "memfd:fd=0", &o), -EINVAL);
	id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	ASSERT_SYS(id);
	th_cleanup_sysv_id(id);
	snprintf(spec, sizeof(spec), "sysv:id=%d", id);
	ASSERT_ERR(shmkit_segment_open_or_create(&s, spec, &o), -EINVAL);
	ASSERT_TRUE(s == NULL);
	ASSERT_SYS(shmctl(id, IPC_RMID, NULL));
}

/* destroy() removes the name only while it still names the handle's object. */
TEST(destroy_after_name_reused)
{
	for (size_t b = 0; b < 3; b++) {
		const char *backend = seg_named_backends[b];
		char spec[TH_SPEC_MAX];
		shmkit_segment *old, *cur, *again;
		int rc;

		th_spec(spec, sizeof(spec), backend);
		old = seg_create(spec, 4096, 0);
		ASSERT_EQ(shmkit_segment_remove(spec), 0);
		cur = seg_create(spec, 4096, 0);
		memset(shmkit_segment_data(cur), 0x3c, 64);
		rc = shmkit_segment_destroy(old);
		if (strcmp(backend, "sysv") != 0) {
			ASSERT_ERR(rc, -ENOENT);
		}
		/* The new object and its name survive. */
		ASSERT_EQ(seg_exists(spec), 1);
		again = seg_open(spec, 0);
		ASSERT_TRUE(seg_all_bytes(shmkit_segment_data(again), 64, 0x3c));
		ASSERT_EQ(shmkit_segment_close(again), 0);
		ASSERT_EQ(shmkit_segment_destroy(cur), 0);
		ASSERT_EQ(seg_exists(spec), 0);

		/* destroy() after the name is simply gone. */
		old = seg_create(spec, 4096, 0);
		ASSERT_EQ(shmkit_segment_remove(spec), 0);
		rc = shmkit_segment_destroy(old);
		if (strcmp(backend, "sysv") != 0) {
			ASSERT_ERR(rc, -ENOENT);
		}
	}
}

TEST(destroy_memfd_closes)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s;

	th_spec(spec, sizeof(spec), "memfd");
	s = seg_create(spec, 4096, 0);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
}

/* Huge pages are a creation option: open ignores the flag. */
TEST(hugepages_ignored_on_open)
{
	for (size_t b = 0; b < 3; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment *s, *s2;

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		s = seg_create(spec, 4096, 0);
		s2 = seg_open(spec, SHMKIT_SEGMENT_F_HUGEPAGES);
		ASSERT_EQ(shmkit_segment_size(s2), shmkit_segment_size(s));
		ASSERT_EQ(shmkit_segment_close(s2), 0);
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
	}
}

/* ---- raw mode ---- */

TEST(raw_create_and_open)
{
	for (size_t b = 0; b < 3; b++) {
		const char *backend = seg_named_backends[b];
		char spec[TH_SPEC_MAX];
		shmkit_segment_info *info = calloc(1, sizeof(*info));
		shmkit_segment *s, *s2;
		unsigned char *p;
		size_t size;

		ASSERT_TRUE(info != NULL);
		th_spec(spec, sizeof(spec), backend);
		s = seg_create(spec, 4096, SHMKIT_SEGMENT_F_RAW);
		size = shmkit_segment_size(s);
		ASSERT_GE(size, 4096);
		p = shmkit_segment_data(s);
		ASSERT_EQ((uintptr_t)p % 4096, 0); /* the mapping itself */
		ASSERT_TRUE(seg_all_bytes(p, size, 0));
		/* No header was written: the object is its data. */
		ASSERT_EQ(seg_raw_size(spec), size);
		th_fill(p, size, 5);

		ASSERT_ERR(seg_open_rc(spec, 0, 200), -EMEDIUMTYPE);
		s2 = seg_open(spec, SHMKIT_SEGMENT_F_RAW);
		ASSERT_EQ(shmkit_segment_size(s2), size);
		ASSERT_EQ(th_check_fill(shmkit_segment_data(s2), size, 5), -1);
		ASSERT_OK(shmkit_segment_info_get(s2, info));
		ASSERT_EQ(info->is_shmkit, 0);
		ASSERT_EQ(info->header_error, -EMEDIUMTYPE);
		ASSERT_EQ(info->kind, 0);
		ASSERT_EQ(info->state, 0);
		ASSERT_EQ(info->layout_version, 0);
		ASSERT_EQ(info->data_offset, 0);
		ASSERT_EQ(shmkit_segment_close(s2), 0);
		ASSERT_OK(shmkit_segment_stat(spec, info));
		ASSERT_EQ(info->is_shmkit, 0);
		ASSERT_EQ(info->header_error, -EMEDIUMTYPE);
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
		ASSERT_EQ(seg_exists(spec), 0);
		free(info);
	}
}

TEST(raw_open_of_shmkit_segment)
{
	for (size_t b = 0; b < 3; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment *s, *raw;
		unsigned char *p;

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		s = seg_create(spec, 4096, 0);
		memset(shmkit_segment_data(s), 0x77, 8);
		raw = seg_open(spec, SHMKIT_SEGMENT_F_RAW);
		p = shmkit_segment_data(raw);
		/* The raw view starts with the header. */
		ASSERT_EQ(memcmp(p, "SHMKIT\0\1", 8), 0);
		ASSERT_EQ(shmkit_segment_size(raw), seg_raw_size(spec));
		ASSERT_EQ(shmkit_segment_size(raw), shmkit_segment_size(s) + SHMKIT_DATA_OFFSET);
		ASSERT_TRUE(seg_all_bytes(p + SHMKIT_DATA_OFFSET, 8, 0x77));
		ASSERT_EQ(shmkit_segment_close(raw), 0);
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
	}
}

/* ---- read-only mappings ---- */

static void
rdonly(const char *backend)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s, *ro;
	pid_t pid;
	int status;

	th_spec(spec, sizeof(spec), backend);
	s = seg_create(spec, 4096, 0);
	th_fill(shmkit_segment_data(s), 4096, 8);
	ro = seg_open(spec, SHMKIT_SEGMENT_F_RDONLY);
	ASSERT_EQ(th_check_fill(shmkit_segment_data(ro), 4096, 8), -1);
	ASSERT_OK(shmkit_segment_check(ro));

	pid = th_fork();
	if (pid == 0) {
		struct sigaction sa;
		volatile unsigned char *p;
		shmkit_segment *mine = seg_open(spec, SHMKIT_SEGMENT_F_RDONLY);

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		p = shmkit_segment_data(mine);
		if (th_check_fill((const void *)p, 4096, 8) != -1) {
			th_exit(3);
		}
		p[0] = 1; /* must fault */
		th_exit(4);
	}
	status = th_wait(pid);
	ASSERT_SIGNALED(status, SIGSEGV);
	ASSERT_EQ(th_check_fill(shmkit_segment_data(s), 4096, 8), -1);
	if (strcmp(backend, "sysv") == 0) {
		struct shmid_ds ds;
		ASSERT_SYS(shmctl(seg_sysv_id(spec), IPC_STAT, &ds));
		ASSERT_EQ(ds.shm_nattch, 2);
	}
	ASSERT_EQ(shmkit_segment_close(ro), 0);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
}

TEST(rdonly_posix)
{
	rdonly("posix");
}

TEST(rdonly_sysv)
{
	rdonly("sysv");
}

TEST(rdonly_file)
{
	rdonly("file");
}

/* ---- removal ---- */

TEST(remove_while_mapped_posix_file)
{
	for (size_t b = 0; b < 3; b += 2) {
		char spec[TH_SPEC_MAX];
		shmkit_segment *s, *s2;
		size_t size;

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		s = seg_create(spec, 8192, 0);
		s2 = seg_open(spec, 0);
		size = shmkit_segment_size(s);
		th_fill(shmkit_segment_data(s), size, 1);
		ASSERT_EQ(shmkit_segment_remove(spec), 0);
		ASSERT_EQ(seg_exists(spec), 0);
		ASSERT_ERR(seg_open_rc(spec, 0, 100), -ENOENT);
		ASSERT_ERR(shmkit_segment_remove(spec), -ENOENT);
		/* Both mappings still share the now nameless object. */
		ASSERT_EQ(th_check_fill(shmkit_segment_data(s2), size, 1), -1);
		th_fill(shmkit_segment_data(s2), size, 2);
		ASSERT_EQ(th_check_fill(shmkit_segment_data(s), size, 2), -1);
		ASSERT_EQ(shmkit_segment_close(s2), 0);
		/* The name is free again while the old object lives on. */
		s2 = seg_create(spec, 4096, 0);
		ASSERT_TRUE(seg_all_bytes(shmkit_segment_data(s2), 4096, 0));
		ASSERT_EQ(th_check_fill(shmkit_segment_data(s), size, 2), -1);
		ASSERT_EQ(shmkit_segment_destroy(s2), 0);
		ASSERT_EQ(shmkit_segment_close(s), 0);
		ASSERT_EQ(seg_exists(spec), 0);
	}
}

TEST(remove_while_attached_sysv)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment_info *info = calloc(1, sizeof(*info));
	shmkit_segment *s, *s2;
	struct shmid_ds ds;
	int id;

	ASSERT_TRUE(info != NULL);
	th_spec(spec, sizeof(spec), "sysv");
	s = seg_create(spec, 4096, 0);
	s2 = seg_open(spec, 0);
	id = seg_sysv_id(spec);
	ASSERT_GE(id, 0);
	ASSERT_EQ(sysv_nattch(id), 2);
	ASSERT_OK(shmkit_segment_info_get(s, info));
	ASSERT_EQ(info->nattch, 2);

	ASSERT_EQ(shmkit_segment_remove(spec), 0);
	/* The key is released at once. */
	ASSERT_LT(shmget((key_t)th_spec_key(spec), 0, 0), 0);
	ASSERT_ERR(seg_open_rc(spec, 0, 100), -ENOENT);
	/* Both mappings still work and share memory. */
	memset(shmkit_segment_data(s), 0x61, 4096);
	ASSERT_TRUE(seg_all_bytes(shmkit_segment_data(s2), 4096, 0x61));
	ASSERT_OK(shmkit_segment_info_get(s, info));
	ASSERT_EQ(info->removed, 1);
	ASSERT_EQ(info->nattch, 2);
	ASSERT_ERR(shmkit_segment_check(s), -EIDRM);
	ASSERT_ERR(shmkit_segment_check(s2), -EIDRM);

	ASSERT_EQ(shmkit_segment_close(s2), 0);
	ASSERT_EQ(sysv_nattch(id), 1);
	ASSERT_EQ(shmkit_segment_close(s), 0);
	/* Destroyed at the last detach. */
	ASSERT_EQ(shmctl(id, IPC_STAT, &ds), -1);
	ASSERT_IN(errno, EINVAL, EIDRM);
	free(info);
}

TEST(remove_errors)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s;

	th_spec(spec, sizeof(spec), "posix");
	ASSERT_ERR(shmkit_segment_remove(spec), -ENOENT);
	th_spec(spec, sizeof(spec), "sysv");
	ASSERT_ERR(shmkit_segment_remove(spec), -ENOENT);
	th_spec(spec, sizeof(spec), "file");
	ASSERT_ERR(shmkit_segment_remove(spec), -ENOENT);
	ASSERT_ERR(shmkit_segment_remove(""), -EINVAL);

	th_spec(spec, sizeof(spec), "memfd");
	s = seg_create(spec, 4096, 0);
	ASSERT_ERR(shmkit_segment_remove(spec), -EOPNOTSUPP);
	{
		char fdspec[64];
		snprintf(fdspec, sizeof(fdspec), "memfd:fd=%d", shmkit_segment_fd(s));
		ASSERT_ERR(shmkit_segment_remove(fdspec), -EOPNOTSUPP);
	}
	ASSERT_EQ(shmkit_segment_close(s), 0);
}

/* ---- memfd ---- */

TEST(memfd_sealed)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s;
	struct stat st;
	off_t size;
	int fd, seals;

	th_spec(spec, sizeof(spec), "memfd");
	s = seg_create(spec, 8192, 0);
	fd = shmkit_segment_fd(s);
	ASSERT_OK(fd);
	ASSERT_SYS(fstat(fd, &st));
	size = st.st_size;
	seals = fcntl(fd, F_GET_SEALS);
	ASSERT_SYS(seals);
	ASSERT_TRUE(seals & F_SEAL_SHRINK);
	ASSERT_TRUE(seals & F_SEAL_GROW);

	errno = 0;
	ASSERT_EQ(ftruncate(fd, size + 4096), -1);
	ASSERT_EQ(errno, EPERM);
	errno = 0;
	ASSERT_EQ(ftruncate(fd, 0), -1);
	ASSERT_EQ(errno, EPERM);
	errno = 0;
	ASSERT_EQ(ftruncate(fd, size / 2), -1);
	ASSERT_EQ(errno, EPERM);
	/* fallocate past the end is growing too. */
	errno = 0;
	ASSERT_EQ(fallocate(fd, 0, size, 4096), -1);
	ASSERT_EQ(errno, EPERM);
	ASSERT_SYS(fstat(fd, &st));
	ASSERT_EQ(st.st_size, size);
	/* Seals are never removed, so the size is fixed for every holder. */
	ASSERT_TRUE(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK);
	ASSERT_OK(shmkit_segment_check(s));
	ASSERT_EQ(shmkit_segment_close(s), 0);
}

TEST(memfd_open_by_fd)
{
	char spec[TH_SPEC_MAX], byfd[64], bypid[64];
	shmkit_segment *s, *s2, *s3;
	size_t size;
	int fd;

	th_spec(spec, sizeof(spec), "memfd");
	s = seg_create(spec, 10000, 0);
	size = shmkit_segment_size(s);
	fd = shmkit_segment_fd(s);
	ASSERT_OK(fd);
	th_fill(shmkit_segment_data(s), size, 4);

	snprintf(byfd, sizeof(byfd), "memfd:fd=%d", fd);
	s2 = seg_open(byfd, 0);
	ASSERT_EQ(shmkit_segment_size(s2), size);
	ASSERT_EQ(shmkit_segment_backend(s2), SHMKIT_BACKEND_MEMFD);
	ASSERT_EQ(th_check_fill(shmkit_segment_data(s2), size, 4), -1);
	/* The handle holds its own descriptor. */
	ASSERT_NE(shmkit_segment_fd(s2), fd);

	snprintf(bypid, sizeof(bypid), "memfd:pid=%d,fd=%d", (int)getpid(), fd);
	s3 = seg_open(bypid, 0);
	th_fill(shmkit_segment_data(s3), size, 6);
	ASSERT_EQ(th_check_fill(shmkit_segment_data(s), size, 6), -1);
	ASSERT_EQ(th_check_fill(shmkit_segment_data(s2), size, 6), -1);

	/* Closing the creator's handle leaves the others working. */
	ASSERT_EQ(shmkit_segment_close(s), 0);
	ASSERT_EQ(th_check_fill(shmkit_segment_data(s2), size, 6), -1);
	ASSERT_EQ(shmkit_segment_close(s3), 0);
	ASSERT_EQ(shmkit_segment_close(s2), 0);
}

TEST(memfd_fd_not_a_memfd)
{
	char spec[64];
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/regular", th_tmpdir());
	fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_SYS(fd);
	ASSERT_SYS(ftruncate(fd, 8192));
	snprintf(spec, sizeof(spec), "memfd:fd=%d", fd);
	ASSERT_LT(seg_open_rc(spec, 0, 100), 0);
	close(fd);
}

/* ---- sync and persistence ---- */

TEST(sync_flags)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s;
	size_t size;

	th_spec(spec, sizeof(spec), "file");
	s = seg_create(spec, 3 * 4096, 0);
	size = shmkit_segment_size(s);
	th_fill(shmkit_segment_data(s), size, 21);

	ASSERT_EQ(shmkit_segment_sync(s, 0, 0, SHMKIT_SYNC_SYNC), 0);
	ASSERT_EQ(shmkit_segment_sync(s, 0, 0, SHMKIT_SYNC_ASYNC), 0);
	ASSERT_EQ(shmkit_segment_sync(s, 0, 0, SHMKIT_SYNC_SYNC | SHMKIT_SYNC_INVALIDATE), 0);
	ASSERT_EQ(shmkit_segment_sync(s, 0, 0, SHMKIT_SYNC_ASYNC | SHMKIT_SYNC_INVALIDATE), 0);
	/* Ranges not aligned to pages are widened by the library. */
	ASSERT_EQ(shmkit_segment_sync(s, 1, 10, SHMKIT_SYNC_SYNC), 0);
	ASSERT_EQ(shmkit_segment_sync(s, 4095, 2, SHMKIT_SYNC_SYNC), 0);
	ASSERT_EQ(shmkit_segment_sync(s, size - 1, 1, SHMKIT_SYNC_SYNC), 0);
	ASSERT_EQ(shmkit_segment_sync(s, 100, 0, SHMKIT_SYNC_SYNC), 0);
	ASSERT_EQ(shmkit_segment_sync(s, 0, size, SHMKIT_SYNC_SYNC), 0);

	ASSERT_ERR(shmkit_segment_sync(s, 0, 0, 0), -EINVAL);
	ASSERT_ERR(shmkit_segment_sync(s, 0, 0, SHMKIT_SYNC_SYNC | SHMKIT_SYNC_ASYNC), -EINVAL);
	ASSERT_ERR(shmkit_segment_sync(s, 0, 0, SHMKIT_SYNC_INVALIDATE), -EINVAL);
	ASSERT_ERR(shmkit_segment_sync(s, 0, 0, SHMKIT_SYNC_SYNC | (1u << 7)), -EINVAL);
	ASSERT_ERR(shmkit_segment_sync(s, 0, size + 1, SHMKIT_SYNC_SYNC), -EINVAL);
	ASSERT_ERR(shmkit_segment_sync(s, size + 1, 0, SHMKIT_SYNC_SYNC), -EINVAL);
	ASSERT_ERR(shmkit_segment_sync(s, size, 1, SHMKIT_SYNC_SYNC), -EINVAL);
	ASSERT_ERR(shmkit_segment_sync(s, 1, SIZE_MAX, SHMKIT_SYNC_SYNC), -EINVAL);
	ASSERT_ERR(shmkit_segment_sync(s, SIZE_MAX, 2, SHMKIT_SYNC_SYNC), -EINVAL);
	ASSERT_EQ(th_check_fill(shmkit_segment_data(s), size, 21), -1);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
}

TEST(sync_other_backends)
{
	for (size_t b = 0; b < 4; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment *s;

		if (strcmp(seg_all_backends[b], "file") == 0) {
			continue;
		}
		th_spec(spec, sizeof(spec), seg_all_backends[b]);
		s = seg_create(spec, 4096, 0);
		ASSERT_EQ(shmkit_segment_sync(s, 0, 0, SHMKIT_SYNC_SYNC), 0);
		ASSERT_EQ(shmkit_segment_sync(s, 0, 0, SHMKIT_SYNC_ASYNC), 0);
		ASSERT_ERR(shmkit_segment_sync(s, 0, 0, 0), -EINVAL);
		if (strcmp(seg_all_backends[b], "memfd") == 0) {
			ASSERT_EQ(shmkit_segment_close(s), 0);
		} else {
			ASSERT_EQ(shmkit_segment_destroy(s), 0);
		}
	}
}

TEST(file_persists)
{
	char spec[TH_SPEC_MAX], path[PATH_MAX];
	shmkit_segment_info *info = calloc(1, sizeof(*info));
	shmkit_segment *s;
	unsigned char *buf;
	size_t size;
	int fd;

	ASSERT_TRUE(info != NULL);
	th_spec(spec, sizeof(spec), "file");
	s = seg_create(spec, 20000, 0);
	size = shmkit_segment_size(s);
	th_fill(shmkit_segment_data(s), size, 31);
	ASSERT_EQ(shmkit_segment_sync(s, 0, 0, SHMKIT_SYNC_SYNC), 0);
	ASSERT_OK(shmkit_segment_info_get(s, info));
	ASSERT_EQ(shmkit_segment_close(s), 0);

	/* The bytes are in the file, at the data offset. */
	buf = malloc(size);
	ASSERT_TRUE(buf != NULL);
	fd = open(seg_path(spec, path, sizeof(path)), O_RDONLY | O_CLOEXEC);
	ASSERT_SYS(fd);
	ASSERT_EQ(pread(fd, buf, size, (off_t)info->data_offset), (ssize_t)size);
	close(fd);
	ASSERT_EQ(th_check_fill(buf, size, 31), -1);
	free(buf);

	s = seg_open(spec, 0);
	ASSERT_EQ(shmkit_segment_size(s), size);
	ASSERT_EQ(th_check_fill(shmkit_segment_data(s), size, 31), -1);
	ASSERT_EQ(shmkit_segment_close(s), 0);
	ASSERT_EQ(shmkit_segment_remove(spec), 0);
	ASSERT_EQ(seg_exists(spec), 0);
	free(info);
}

/* ---- permissions ---- */

TEST(set_perm_mode)
{
	for (size_t b = 0; b < 3; b++) {
		const char *backend = seg_named_backends[b];
		char spec[TH_SPEC_MAX];
		shmkit_segment_info *info = calloc(1, sizeof(*info));
		shmkit_segment *s;

		ASSERT_TRUE(info != NULL);
		th_spec(spec, sizeof(spec), backend);
		s = seg_create(spec, 4096, 0);
		ASSERT_EQ(shmkit_segment_set_perm(spec, 0640, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP),
			  0);
		ASSERT_OK(shmkit_segment_stat(spec, info));
		ASSERT_EQ(info->mode, 0640);
		ASSERT_EQ(mode_of(spec, s), 0640);
		ASSERT_EQ(info->uid, geteuid());

		ASSERT_EQ(shmkit_segment_set_perm(spec, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP,
						  SHMKIT_PERM_KEEP),
			  0);
		ASSERT_EQ(mode_of(spec, s), 0640);
		ASSERT_EQ(shmkit_segment_set_perm(spec, 0, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP), 0);
		ASSERT_EQ(mode_of(spec, s), 0);
		ASSERT_EQ(shmkit_segment_set_perm(spec, 0777, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP),
			  0);
		ASSERT_EQ(mode_of(spec, s), 0777);

		ASSERT_ERR(shmkit_segment_set_perm(spec, 01000, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP),
			   -EINVAL);
		ASSERT_ERR(shmkit_segment_set_perm(spec, 04755, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP),
			   -EINVAL);
		ASSERT_ERR(shmkit_segment_set_perm(spec, -2, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP),
			   -EINVAL);
		ASSERT_ERR(shmkit_segment_set_perm(spec, 0x100000000L, SHMKIT_PERM_KEEP,
						   SHMKIT_PERM_KEEP),
			   -EINVAL);
		ASSERT_EQ(mode_of(spec, s), 0777);
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
		ASSERT_ERR(shmkit_segment_set_perm(spec, 0600, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP),
			   -ENOENT);
		free(info);
	}
	ASSERT_ERR(shmkit_segment_set_perm("a/b", 0600, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP),
		   -EINVAL);
}

/* ---- stat and list ---- */

TEST(stat_errors)
{
	shmkit_segment_info *info = calloc(1, sizeof(*info));
	char spec[TH_SPEC_MAX];

	ASSERT_TRUE(info != NULL);
	for (size_t b = 0; b < 3; b++) {
		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		ASSERT_ERR(shmkit_segment_stat(spec, info), -ENOENT);
	}
	ASSERT_ERR(shmkit_segment_stat("", info), -EINVAL);
	ASSERT_ERR(shmkit_segment_stat("x/y", info), -EINVAL);
	free(info);
}

struct list_ctx {
	const char *want_spec;   /* canonical spec to look for */
	uint32_t want_key;       /* or a sysv key */
	const char *want_substr; /* or a substring of the spec */
	int found;
	int found_is_shmkit;
	int count;
	int stop_after; /* stop (returning -1234) after this many, if > 0 */
};

static int
list_cb(const shmkit_segment_info *info, void *arg)
{
	struct list_ctx *c = arg;
	int match = 0;

	c->count++;
	ASSERT_TRUE(memchr(info->spec, '\0', sizeof(info->spec)) != NULL);
	if (c->want_spec && strcmp(info->spec, c->want_spec) == 0) {
		match = 1;
	}
	if (c->want_key && info->backend == SHMKIT_BACKEND_SYSV && info->sysv_key == c->want_key) {
		match = 1;
	}
	if (c->want_substr && strstr(info->spec, c->want_substr)) {
		match = 1;
	}
	if (match) {
		c->found++;
		c->found_is_shmkit = info->is_shmkit;
	}
	if (c->stop_after > 0 && c->count >= c->stop_after) {
		return -1234;
	}
	return 0;
}

static struct list_ctx
list_find(const char *spec, uint32_t key, const char *substr, unsigned flags)
{
	struct list_ctx c;
	int n;

	memset(&c, 0, sizeof(c));
	c.want_spec = spec;
	c.want_key = key;
	c.want_substr = substr;
	n = shmkit_segment_list(list_cb, &c, flags);
	ASSERT_OK(n);
	ASSERT_EQ(n, c.count);
	return c;
}

TEST(list_own_objects)
{
	char ps[TH_SPEC_MAX], ss[TH_SPEC_MAX], fs[TH_SPEC_MAX];
	char canon[PATH_MAX + 64];
	shmkit_segment *p, *s, *f;
	struct list_ctx c;

	th_spec(ps, sizeof(ps), "posix");
	th_spec(ss, sizeof(ss), "sysv");
	th_spec(fs, sizeof(fs), "file");
	p = seg_create(ps, 4096, 0);
	s = seg_create(ss, 4096, 0);
	f = seg_create(fs, 4096, 0);

	canonical(ps, canon, sizeof(canon));
	c = list_find(canon, 0, NULL, 0);
	ASSERT_EQ(c.found, 1);
	ASSERT_EQ(c.found_is_shmkit, 1);
	c = list_find(canon, 0, NULL, SHMKIT_LIST_F_ALL);
	ASSERT_EQ(c.found, 1);

	canonical(ss, canon, sizeof(canon));
	c = list_find(canon, 0, NULL, 0);
	ASSERT_EQ(c.found, 1);
	ASSERT_EQ(c.found_is_shmkit, 1);

	/* file: objects have no registry. */
	canonical(fs, canon, sizeof(canon));
	c = list_find(canon, 0, NULL, SHMKIT_LIST_F_ALL);
	ASSERT_EQ(c.found, 0);

	ASSERT_EQ(shmkit_segment_destroy(p), 0);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
	ASSERT_EQ(shmkit_segment_destroy(f), 0);
	canonical(ps, canon, sizeof(canon));
	c = list_find(canon, 0, NULL, SHMKIT_LIST_F_ALL);
	ASSERT_EQ(c.found, 0);
	c = list_find(NULL, th_spec_key(ss), NULL, SHMKIT_LIST_F_ALL);
	ASSERT_EQ(c.found, 0);
}

TEST(list_memfd)
{
	char spec[TH_SPEC_MAX], name[TH_SPEC_MAX];
	shmkit_segment *m;
	struct list_ctx c;

	th_spec(spec, sizeof(spec), "memfd");
	snprintf(name, sizeof(name), "%s", spec + 6);
	m = seg_create(spec, 4096, 0);
	/* Listed through a descriptor of ours: memfd:pid=P,fd=N. */
	{
		char want[64], canon[PATH_MAX + 64];
		snprintf(want, sizeof(want), "memfd:pid=%d,fd=%d", (int)getpid(),
			 shmkit_segment_fd(m));
		canonical(want, canon, sizeof(canon));
		c = list_find(canon, 0, NULL, 0);
		ASSERT_GE(c.found, 1);
		ASSERT_EQ(c.found_is_shmkit, 1);
	}
	ASSERT_EQ(shmkit_segment_close(m), 0);
}

TEST(list_foreign_only_with_all)
{
	char name[128], path[PATH_MAX], foreign_posix[160];
	unsigned char junk[4096];
	struct list_ctx c;
	uint32_t key;
	char sspec[TH_SPEC_MAX];
	int fd, id;

	/* A POSIX object that is not shmkit's (no prefix). */
	th_name(name, sizeof(name));
	snprintf(foreign_posix, sizeof(foreign_posix), "foreign-%s", name);
	snprintf(path, sizeof(path), "/dev/shm/%s", foreign_posix);
	fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_SYS(fd);
	th_cleanup_path(path);
	th_fill(junk, sizeof(junk), 1);
	ASSERT_EQ(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);

	/* A System V segment that is not shmkit's. */
	th_spec(sspec, sizeof(sspec), "sysv");
	key = th_spec_key(sspec);
	id = shmget((key_t)key, 4096, IPC_CREAT | IPC_EXCL | 0600);
	ASSERT_SYS(id);
	{
		void *p = shmat(id, NULL, 0);
		ASSERT_TRUE(p != (void *)-1);
		memcpy(p, junk, sizeof(junk));
		ASSERT_SYS(shmdt(p));
	}

	c = list_find(NULL, key, foreign_posix, 0);
	ASSERT_EQ(c.found, 0);
	c = list_find(NULL, key, NULL, SHMKIT_LIST_F_ALL);
	ASSERT_EQ(c.found, 1);
	ASSERT_EQ(c.found_is_shmkit, 0);
	c = list_find(NULL, 0, foreign_posix, SHMKIT_LIST_F_ALL);
	ASSERT_EQ(c.found, 1);
	ASSERT_EQ(c.found_is_shmkit, 0);
	/* Listing never modifies: the foreign bytes are intact. */
	{
		unsigned char back[4096];
		fd = open(path, O_RDONLY | O_CLOEXEC);
		ASSERT_SYS(fd);
		ASSERT_EQ(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
		close(fd);
		ASSERT_EQ(memcmp(back, junk, sizeof(junk)), 0);
	}
	ASSERT_SYS(shmctl(id, IPC_RMID, NULL));
}

TEST(list_stop)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *a, *b;
	struct list_ctx c;

	a = seg_create(th_spec(spec, sizeof(spec), "posix"), 4096, 0);
	b = seg_create(th_spec(spec, sizeof(spec), "posix"), 4096, 0);
	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	ASSERT_ERR(shmkit_segment_list(list_cb, &c, 0), -1234);
	ASSERT_EQ(c.count, 1);
	ASSERT_EQ(shmkit_segment_destroy(a), 0);
	ASSERT_EQ(shmkit_segment_destroy(b), 0);
}
