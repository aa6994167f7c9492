/* SPDX-License-Identifier: MIT */
/* Ownership, other uids, squatting, planted symlinks and a full tmpfs (T08, T11, T20). */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "segtest.h"
#include "internal/header.h"

#define OTHER_UID 65534

/* In a forked child: become OTHER_UID for good. */
static void
become_other(void)
{
	ASSERT_SYS(setgroups(0, NULL));
	ASSERT_SYS(setgid(OTHER_UID));
	ASSERT_SYS(setuid(OTHER_UID));
	ASSERT_EQ(geteuid(), OTHER_UID);
}

/* Let OTHER_UID into the case's directory (and create there if @write). */
static void
open_tmpdir(int write)
{
	ASSERT_SYS(chmod(th_tmpdir(), write ? 01777 : 0755));
}

static uint32_t
owner_of(const char *spec)
{
	shmkit_segment_info *info = calloc(1, sizeof(*info));
	uint32_t uid;

	ASSERT_TRUE(info != NULL);
	ASSERT_OK(shmkit_segment_stat(spec, info));
	uid = info->uid;
	free(info);
	return uid;
}

static int
try_create(const char *spec)
{
	shmkit_segment_opts o = seg_opts(4096, 0);
	shmkit_segment *s = NULL;
	int rc = shmkit_segment_create(&s, spec, &o);

	if (rc == 0) {
		shmkit_segment_close(s);
	}
	return rc;
}

static int
try_open_or_create(const char *spec)
{
	shmkit_segment_opts o = seg_opts(4096, 0);
	shmkit_segment *s = NULL;
	int rc = shmkit_segment_open_or_create(&s, spec, &o);

	if (rc >= 0) {
		shmkit_segment_close(s);
	} else {
		ASSERT_TRUE(s == NULL);
	}
	return rc;
}

/* ---- another owner ---- */

/* An object handed to another uid (set_perm) is refused without F_ANY_OWNER. */
TEST(other_owner_refused)
{
	th_require_root("handing an object to another uid");
	for (size_t b = 0; b < 3; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment *s, *any;

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		s = seg_create(spec, 4096, 0);
		th_fill(shmkit_segment_data(s), 4096, 3);
		ASSERT_EQ(shmkit_segment_close(s), 0);

		ASSERT_EQ(shmkit_segment_set_perm(spec, SHMKIT_PERM_KEEP, OTHER_UID, OTHER_UID), 0);
		ASSERT_EQ(owner_of(spec), OTHER_UID);

		ASSERT_ERR(seg_open_rc(spec, 0, 100), -EACCES);
		ASSERT_ERR(seg_open_rc(spec, SHMKIT_SEGMENT_F_RDONLY, 100), -EACCES);
		ASSERT_ERR(try_open_or_create(spec), -EACCES);
		ASSERT_ERR(try_create(spec), -EEXIST);

		any = seg_open(spec, SHMKIT_SEGMENT_F_ANY_OWNER);
		ASSERT_EQ(th_check_fill(shmkit_segment_data(any), 4096, 3), -1);
		ASSERT_EQ(shmkit_segment_close(any), 0);

		/* Root may remove it. */
		ASSERT_EQ(shmkit_segment_remove(spec), 0);
		ASSERT_EQ(seg_exists(spec), 0);
	}
}

/* A process of another uid cannot open (nor remove, nor re-own) a 0600 object. */
TEST(other_uid_gets_eacces)
{
	th_require_root("running a process as another uid");
	open_tmpdir(0);
	for (size_t b = 0; b < 3; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment *s;
		pid_t pid;

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		s = seg_create(spec, 4096, 0);
		th_fill(shmkit_segment_data(s), 4096, 4);

		pid = th_fork();
		if (pid == 0) {
			become_other();
			ASSERT_ERR(seg_open_rc(spec, 0, 100), -EACCES);
			ASSERT_ERR(seg_open_rc(spec, SHMKIT_SEGMENT_F_ANY_OWNER, 100), -EACCES);
			ASSERT_ERR(seg_open_rc(spec,
					       SHMKIT_SEGMENT_F_ANY_OWNER | SHMKIT_SEGMENT_F_RDONLY,
					       100),
				   -EACCES);
			ASSERT_ERR(try_open_or_create(spec), -EACCES);
			ASSERT_IN(shmkit_segment_remove(spec), -EACCES, -EPERM);
			ASSERT_IN(shmkit_segment_set_perm(spec, 0666, SHMKIT_PERM_KEEP,
							  SHMKIT_PERM_KEEP),
				  -EPERM, -EACCES);
			ASSERT_IN(shmkit_segment_set_perm(spec, SHMKIT_PERM_KEEP, OTHER_UID,
							  OTHER_UID),
				  -EPERM, -EACCES);
			th_exit(0);
		}
		ASSERT_EXIT(th_wait(pid), 0);
		/* Nothing changed. */
		ASSERT_EQ(seg_exists(spec), 1);
		ASSERT_EQ(owner_of(spec), 0);
		ASSERT_EQ(th_check_fill(shmkit_segment_data(s), 4096, 4), -1);
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
	}
}

/* A readable object of another owner: refused by default, readable on request. */
TEST(other_uid_readable_object)
{
	th_require_root("running a process as another uid");
	open_tmpdir(0);
	for (size_t b = 0; b < 3; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment_opts o = seg_opts(4096, 0);
		shmkit_segment *s = NULL;
		pid_t pid;

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		o.mode = 0644;
		ASSERT_OK(shmkit_segment_create(&s, spec, &o));
		th_fill(shmkit_segment_data(s), 4096, 9);

		pid = th_fork();
		if (pid == 0) {
			shmkit_segment *ro;
			become_other();
			ASSERT_ERR(seg_open_rc(spec, SHMKIT_SEGMENT_F_RDONLY, 100), -EACCES);
			/* Asked to accept another owner, the mode decides. */
			ro = seg_open(spec, SHMKIT_SEGMENT_F_ANY_OWNER | SHMKIT_SEGMENT_F_RDONLY);
			ASSERT_EQ(th_check_fill(shmkit_segment_data(ro), 4096, 9), -1);
			ASSERT_EQ(shmkit_segment_close(ro), 0);
			ASSERT_ERR(seg_open_rc(spec, SHMKIT_SEGMENT_F_ANY_OWNER, 100), -EACCES);
			th_exit(0);
		}
		ASSERT_EXIT(th_wait(pid), 0);
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
	}
}

/* ---- squatting (T20) ---- */

TEST(squatted_names)
{
	th_require_root("creating objects as another uid");
	open_tmpdir(1);
	for (size_t b = 0; b < 3; b++) {
		char spec[TH_SPEC_MAX];
		shmkit_segment *any;
		pid_t pid;

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		/* Another uid takes the name first, with a real shmkit object. */
		pid = th_fork();
		if (pid == 0) {
			shmkit_segment *sq;
			become_other();
			sq = seg_create(spec, 4096, 0);
			memset(shmkit_segment_data(sq), 0xee, 4096);
			ASSERT_EQ(shmkit_segment_close(sq), 0);
			th_exit(0);
		}
		ASSERT_EXIT(th_wait(pid), 0);
		ASSERT_EQ(owner_of(spec), OTHER_UID);

		ASSERT_ERR(try_create(spec), -EEXIST);
		ASSERT_ERR(seg_open_rc(spec, 0, 100), -EACCES);
		ASSERT_ERR(try_open_or_create(spec), -EACCES);
		ASSERT_EQ(owner_of(spec), OTHER_UID);

		/* The squatter's object is intact. */
		any = seg_open(spec, SHMKIT_SEGMENT_F_ANY_OWNER);
		ASSERT_TRUE(seg_all_bytes(shmkit_segment_data(any), 4096, 0xee));
		ASSERT_EQ(shmkit_segment_close(any), 0);
		ASSERT_EQ(shmkit_segment_remove(spec), 0);
	}
}

/* Squatting with a non-shmkit object: refused for its owner before its bytes. */
TEST(squatted_foreign_posix)
{
	char spec[TH_SPEC_MAX], path[PATH_MAX];
	pid_t pid;

	th_require_root("creating objects as another uid");
	th_spec(spec, sizeof(spec), "posix");
	seg_path(spec, path, sizeof(path));
	pid = th_fork();
	if (pid == 0) {
		int fd;
		become_other();
		fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0644);
		ASSERT_SYS(fd);
		ASSERT_SYS(ftruncate(fd, 4096));
		close(fd);
		th_exit(0);
	}
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_ERR(try_create(spec), -EEXIST);
	ASSERT_ERR(seg_open_rc(spec, 0, 100), -EACCES);
	ASSERT_ERR(try_open_or_create(spec), -EACCES);
	ASSERT_ERR(seg_open_rc(spec, SHMKIT_SEGMENT_F_ANY_OWNER, 100), -EMEDIUMTYPE);
}

/* ---- planted symlinks (T20) ---- */

struct target {
	char path[PATH_MAX];
	struct stat st;
	unsigned char bytes[4096];
};

static void
make_target(struct target *t, const char *name)
{
	int fd;

	snprintf(t->path, sizeof(t->path), "%s/%s", th_tmpdir(), name);
	fd = open(t->path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0640);
	ASSERT_SYS(fd);
	th_fill(t->bytes, sizeof(t->bytes), 17);
	ASSERT_EQ(write(fd, t->bytes, sizeof(t->bytes)), (ssize_t)sizeof(t->bytes));
	ASSERT_SYS(fstat(fd, &t->st));
	close(fd);
}

static void
assert_target_untouched(const struct target *t)
{
	unsigned char back[sizeof(t->bytes) + 1];
	struct stat st;
	ssize_t n;
	int fd;

	ASSERT_SYS(lstat(t->path, &st));
	ASSERT_TRUE(S_ISREG(st.st_mode));
	ASSERT_EQ(st.st_mode, t->st.st_mode);
	ASSERT_EQ(st.st_uid, t->st.st_uid);
	ASSERT_EQ(st.st_size, t->st.st_size);
	ASSERT_EQ(st.st_ino, t->st.st_ino);
	ASSERT_EQ(st.st_mtim.tv_sec, t->st.st_mtim.tv_sec);
	ASSERT_EQ(st.st_mtim.tv_nsec, t->st.st_mtim.tv_nsec);
	fd = open(t->path, O_RDONLY | O_CLOEXEC);
	ASSERT_SYS(fd);
	n = read(fd, back, sizeof(back));
	close(fd);
	ASSERT_EQ(n, (ssize_t)sizeof(t->bytes));
	ASSERT_EQ(memcmp(back, t->bytes, sizeof(t->bytes)), 0);
}

static void
symlink_refused(const char *backend)
{
	char spec[TH_SPEC_MAX], link[PATH_MAX], dangling[PATH_MAX];
	struct target *t = calloc(1, sizeof(*t));
	shmkit_segment_info *info = calloc(1, sizeof(*info));
	struct stat st;
	int rc;

	ASSERT_TRUE(t != NULL && info != NULL);
	make_target(t, "victim");

	/* A symlink to an existing file. */
	th_spec(spec, sizeof(spec), backend);
	seg_path(spec, link, sizeof(link));
	ASSERT_SYS(symlink(t->path, link));
	ASSERT_ERR(seg_open_rc(spec, 0, 100), -ELOOP);
	ASSERT_ERR(seg_open_rc(spec, SHMKIT_SEGMENT_F_RAW | SHMKIT_SEGMENT_F_ANY_OWNER, 100),
		   -ELOOP);
	ASSERT_IN(try_create(spec), -EEXIST, -ELOOP);
	rc = try_open_or_create(spec);
	ASSERT_IN(rc, -ELOOP, -EEXIST);
	ASSERT_ERR(shmkit_segment_set_perm(spec, 0666, SHMKIT_PERM_KEEP, SHMKIT_PERM_KEEP), -ELOOP);
	ASSERT_ERR(shmkit_segment_stat(spec, info), -ELOOP);
	assert_target_untouched(t);
	/* Removing the name removes the link (or refuses), never the target. */
	ASSERT_IN(shmkit_segment_remove(spec), 0, -ELOOP);
	assert_target_untouched(t);
	unlink(link);

	/* A dangling symlink: create must not create its target. */
	th_spec(spec, sizeof(spec), backend);
	seg_path(spec, link, sizeof(link));
	snprintf(dangling, sizeof(dangling), "%s/not-yet", th_tmpdir());
	ASSERT_SYS(symlink(dangling, link));
	ASSERT_ERR(seg_open_rc(spec, 0, 100), -ELOOP);
	ASSERT_IN(try_create(spec), -EEXIST, -ELOOP);
	ASSERT_IN(try_open_or_create(spec), -ELOOP, -EEXIST);
	ASSERT_EQ(lstat(dangling, &st), -1);
	ASSERT_EQ(errno, ENOENT);
	/* The link itself is still a link (not replaced by a file). */
	ASSERT_SYS(lstat(link, &st));
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	unlink(link);
	free(t);
	free(info);
}

TEST(symlink_posix)
{
	symlink_refused("posix");
}

TEST(symlink_file)
{
	symlink_refused("file");
}

/* A symlink from one shmkit name to another valid shmkit object. */
TEST(symlink_to_valid_segment)
{
	char real[TH_SPEC_MAX], fake[TH_SPEC_MAX];
	char rpath[PATH_MAX], fpath[PATH_MAX];
	shmkit_segment *s;

	th_spec(real, sizeof(real), "posix");
	th_spec(fake, sizeof(fake), "posix");
	s = seg_create(real, 4096, 0);
	ASSERT_SYS(symlink(seg_path(real, rpath, sizeof(rpath)),
			   seg_path(fake, fpath, sizeof(fpath))));
	ASSERT_ERR(seg_open_rc(fake, 0, 100), -ELOOP);
	ASSERT_IN(shmkit_segment_remove(fake), 0, -ELOOP);
	ASSERT_EQ(seg_exists(real), 1);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
}

/* ---- a full tmpfs (T11) ---- */

static int
dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	ASSERT_TRUE(d != NULL);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			n++;
		}
	}
	closedir(d);
	return n;
}

TEST(tmpfs_full)
{
	char mnt[PATH_MAX], spec[PATH_MAX + 16];
	shmkit_segment_opts o;
	shmkit_segment *s = NULL;

	th_require_root("mounting a small tmpfs");
	snprintf(mnt, sizeof(mnt), "%s/mnt", th_tmpdir());
	ASSERT_SYS(mkdir(mnt, 0700));
	if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0700") != 0) {
		SKIP("cannot mount a tmpfs: %s", strerror(errno));
	}
	th_cleanup_umount(mnt);

	/* Larger than the file system: refused at create, nothing left. */
	snprintf(spec, sizeof(spec), "file:%s/x", mnt);
	o = seg_opts(4u << 20, 0);
	ASSERT_ERR(shmkit_segment_create(&s, spec, &o), -ENOSPC);
	ASSERT_TRUE(s == NULL);
	ASSERT_EQ(dir_entries(mnt), 0);
	ASSERT_ERR(shmkit_segment_open_or_create(&s, spec, &o), -ENOSPC);
	ASSERT_EQ(dir_entries(mnt), 0);

	/* Just over the free space once a first segment holds most of it. */
	snprintf(spec, sizeof(spec), "file:%s/a", mnt);
	s = seg_create(spec, 640u << 10, 0);
	memset(shmkit_segment_data(s), 1, shmkit_segment_size(s));
	{
		char spec2[PATH_MAX + 16];
		shmkit_segment *s2 = NULL;
		snprintf(spec2, sizeof(spec2), "file:%s/b", mnt);
		o = seg_opts(512u << 10, 0);
		ASSERT_ERR(shmkit_segment_create(&s2, spec2, &o), -ENOSPC);
		ASSERT_TRUE(s2 == NULL);
	}
	ASSERT_EQ(dir_entries(mnt), 1);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
	ASSERT_EQ(dir_entries(mnt), 0);

	/* Fits once the space is back. */
	snprintf(spec, sizeof(spec), "file:%s/c", mnt);
	s = seg_create(spec, 512u << 10, 0);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
	ASSERT_EQ(dir_entries(mnt), 0);
	ASSERT_SYS(umount2(mnt, 0));
}
