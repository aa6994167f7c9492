/* SPDX-License-Identifier: MIT */
/* mmap_copy: copy a regular file through shared file mappings, the classic mmap cp done right. */

/*
 * Usage: mmap_copy SRC DST
 *
 * The textbook version maps the whole source, ftruncates the destination,
 * maps it too and calls memcpy once. That breaks on an empty file (mmap of
 * length 0 fails with EINVAL), on files larger than the address space, when
 * SRC and DST are the same file (the destination is truncated first: the data
 * is gone), and it dies of SIGBUS when the source shrinks during the copy or
 * the destination's file system fills up. This version:
 *
 *  - accepts regular files only, for both SRC and DST, and opens them with
 *    O_NONBLOCK so a FIFO or device named by mistake cannot block the open;
 *  - refuses SRC and DST that are the same file (same device and inode, so
 *    a hard link or another path to it counts), before touching DST;
 *  - creates DST with SRC's permission bits (read/write/execute for user,
 *    group and others; no set-id or sticky bits), masked by the umask as
 *    cp(1) does; an existing DST keeps its mode and owner and is truncated;
 *  - never follows a symbolic link at DST (O_NOFOLLOW, and O_EXCL on
 *    creation): a link planted in a shared directory cannot redirect the
 *    write. A symbolic link given as SRC is followed, as by cp(1);
 *  - allocates DST with posix_fallocate() before writing, so a full file
 *    system is an ENOSPC error at the start instead of a SIGBUS in the
 *    middle (where the file system cannot preallocate, it falls back to
 *    ftruncate() and DST is written sparse-first);
 *  - copies through 64 MiB windows, so files of any size work, also larger
 *    than 4 GiB and on 32-bit systems, with bounded address space;
 *  - handles a SIGBUS raised by the copy itself (SRC truncated by another
 *    process, DST truncated or out of space): it is reported as an error
 *    naming the file, not a crash. A SIGBUS for any other address keeps its
 *    default action. A source that changed size during the copy is
 *    reported too;
 *  - removes DST again when it created it and the copy failed;
 *  - reports every error with the file name on one line and exits 1; a
 *    usage error exits 2.
 *
 * Like cp(1) it does not fsync DST. The copy is of the bytes SRC has at the
 * start (its st_size): files whose stat size is 0 although they produce
 * data, such as most of /proc, copy as empty files. Holes in SRC are
 * written out as zeroes in DST.
 */
#define _POSIX_C_SOURCE   200809L
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes mapped at a time from each file. A multiple of every page size. */
#define WINDOW_BYTES ((off_t)64 * 1024 * 1024)

/*
 * State shared with the SIGBUS handler. The handler only reads the window
 * bounds and writes the fault side; main code sets the bounds before it
 * arms the handler and disarms it before it changes them.
 */
static sigjmp_buf bus_env;
static volatile sig_atomic_t bus_armed;
static volatile sig_atomic_t bus_side; /* 1: SRC, 2: DST */
static volatile uintptr_t win_src, win_dst, win_len;

static void
on_sigbus(int sig, siginfo_t *si, void *ucontext)
{
	(void)ucontext;
	uintptr_t a = (uintptr_t)si->si_addr;
	if (bus_armed) {
		if (a - win_src < win_len) {
			bus_side = 1;
			siglongjmp(bus_env, 1);
		}
		if (a - win_dst < win_len) {
			bus_side = 2;
			siglongjmp(bus_env, 1);
		}
	}
	/*
	 * Not a fault of the copy: a real bug. Restore the default action and
	 * return; the faulting access is retried and the process dies of it,
	 * as it would have without this handler.
	 */
	signal(sig, SIG_DFL);
}

static int
catch_sigbus(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL);
}

static void
report(const char *path, const char *what, int err)
{
	fprintf(stderr, "mmap_copy: %s: %s: %s\n", path, what, strerror(err));
}

/*
 * Copy @len bytes at @off from @in to @out through two shared mappings.
 * Return 0, or -1 after reporting the error.
 */
static int
copy_window(int in, const char *src, int out, const char *dst, off_t off, size_t len)
{
	void *s = mmap(NULL, len, PROT_READ, MAP_SHARED, in, off);
	if (s == MAP_FAILED) {
		report(src, "mmap", errno);
		return -1;
	}
	void *d = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, out, off);
	if (d == MAP_FAILED) {
		report(dst, "mmap", errno);
		munmap(s, len);
		return -1;
	}
	/* Only a hint: the kernel may read ahead more. Failure is harmless. */
	(void)posix_madvise(s, len, POSIX_MADV_SEQUENTIAL);

	win_src = (uintptr_t)s;
	win_dst = (uintptr_t)d;
	win_len = len;
	int rc = 0;
	/*
	 * A SIGBUS inside memcpy() jumps back here with the signal mask
	 * restored (savemask = 1). memcpy() is async-signal-safe, so leaving
	 * it by siglongjmp() leaves no library state behind. Nothing that
	 * sigsetjmp() saves is modified before the jump.
	 */
	if (sigsetjmp(bus_env, 1) == 0) {
		bus_armed = 1;
		memcpy(d, s, len);
		bus_armed = 0;
	} else {
		bus_armed = 0;
		if (bus_side == 1) {
			fprintf(stderr, "mmap_copy: %s: file shrank during the copy\n", src);
		} else {
			fprintf(stderr,
				"mmap_copy: %s: write fault (file truncated by "
				"another process, or no space left)\n",
				dst);
		}
		rc = -1;
	}
	win_len = 0;
	if (munmap(d, len) != 0) {
		report(dst, "munmap", errno);
		rc = -1;
	}
	if (munmap(s, len) != 0) {
		report(src, "munmap", errno);
		rc = -1;
	}
	return rc;
}

/* Size DST to @size bytes, allocated. Return 0, or -1 after reporting. */
static int
size_destination(int out, const char *dst, off_t size)
{
	/* Drop the old content first, so no stale block survives a short
	 * copy and the allocation below is of the new size only. */
	if (ftruncate(out, 0) != 0) {
		report(dst, "ftruncate", errno);
		return -1;
	}
	if (size == 0) {
		return 0;
	}
	/* posix_fallocate() returns the error number; it does not set errno. */
	int err = posix_fallocate(out, 0, size);
	if (err == EOPNOTSUPP || err == EINVAL) {
		/* The file system cannot preallocate: a sparse file will do. */
		if (ftruncate(out, size) != 0) {
			report(dst, "ftruncate", errno);
			return -1;
		}
		return 0;
	}
	if (err != 0) {
		report(dst, "posix_fallocate", err);
		return -1;
	}
	return 0;
}

/* Open DST for writing; *created tells whether this call made it. */
static int
open_destination(const char *dst, mode_t mode, int *created)
{
	int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
	/* O_EXCL first: the only way to know that the file is ours to remove
	 * on failure. With O_EXCL, even a dangling symlink gives EEXIST. */
	int fd = open(dst, flags | O_CREAT | O_EXCL, mode);
	if (fd >= 0) {
		*created = 1;
		return fd;
	}
	if (errno != EEXIST) {
		return -1;
	}
	*created = 0;
	/* No O_TRUNC: DST may be SRC under another name; that is checked
	 * before anything is written. A symlink here fails with ELOOP. */
	return open(dst, flags);
}

/* Remove a DST this run created, unless it was replaced meanwhile. */
static void
remove_destination(const char *dst, const struct stat *st)
{
	struct stat now;
	if (lstat(dst, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino) {
		if (unlink(dst) != 0) {
			report(dst, "unlink", errno);
		}
	}
}

/*
 * Check DST against SRC, then size it and copy. Return 0, or -1 after
 * reporting the error.
 */
static int
copy_contents(int in, const char *src, const struct stat *sst, int out, const char *dst,
	      const struct stat *dst_st)
{
	if (dst_st->st_dev == sst->st_dev && dst_st->st_ino == sst->st_ino) {
		fprintf(stderr, "mmap_copy: %s and %s are the same file\n", src, dst);
		return -1;
	}
	if (!S_ISREG(dst_st->st_mode)) {
		fprintf(stderr, "mmap_copy: %s: not a regular file\n", dst);
		return -1;
	}

	off_t size = sst->st_size;
	if (size_destination(out, dst, size) != 0) {
		return -1;
	}
	for (off_t off = 0; off < size; off += WINDOW_BYTES) {
		off_t left = size - off;
		size_t len = (size_t)(left < WINDOW_BYTES ? left : WINDOW_BYTES);
		if (copy_window(in, src, out, dst, off, len) != 0) {
			return -1;
		}
	}

	/* A source that grew or shrank while we copied gave a mixed result. */
	struct stat after;
	if (fstat(in, &after) != 0) {
		report(src, "fstat", errno);
		return -1;
	}
	if (after.st_size != size) {
		fprintf(stderr, "mmap_copy: %s: file changed size during the copy\n", src);
		return -1;
	}
	return 0;
}

static int
copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (in < 0) {
		report(src, "open", errno);
		return 1;
	}
	struct stat sst;
	if (fstat(in, &sst) != 0) {
		report(src, "fstat", errno);
		close(in);
		return 1;
	}
	if (!S_ISREG(sst.st_mode)) {
		fprintf(stderr, "mmap_copy: %s: not a regular file\n", src);
		close(in);
		return 1;
	}

	int created;
	int out = open_destination(dst, sst.st_mode & 0777, &created);
	if (out < 0) {
		report(dst, "open", errno);
		close(in);
		return 1;
	}
	struct stat dst_st;
	if (fstat(out, &dst_st) != 0) {
		/* Without its identity, a created DST cannot be removed safely. */
		report(dst, "fstat", errno);
		close(out);
		close(in);
		return 1;
	}

	int rc = copy_contents(in, src, &sst, out, dst, &dst_st);
	close(in);
	/* close() reports delayed write errors on some file systems (NFS). */
	if (close(out) != 0 && rc == 0) {
		report(dst, "close", errno);
		rc = -1;
	}
	if (rc != 0) {
		if (created) {
			remove_destination(dst, &dst_st);
		}
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mmap_copy SRC DST\n");
		return 2;
	}
	if (catch_sigbus() != 0) {
		fprintf(stderr, "mmap_copy: sigaction: %s\n", strerror(errno));
		return 1;
	}
	return copy_file(argv[1], argv[2]);
}
