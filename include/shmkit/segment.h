/* SPDX-License-Identifier: MIT */
/* shmkit/segment.h - shared-memory segments on the posix, sysv, file and memfd backends. */
#ifndef SHMKIT_SEGMENT_H
#define SHMKIT_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include <shmkit/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A segment is a region of memory that several processes map. It is named by
 * a spec string that selects the backend:
 *
 *   NAME or posix:NAME      shm_open object /dev/shm/shmkit.NAME
 *   sysv:KEY                System V segment with that key (decimal or 0xHEX)
 *   sysv:ftok=PATH,ID       System V segment with key ftok(PATH, ID), ID 1..255
 *   sysv:private            a new IPC_PRIVATE System V segment (create only)
 *   sysv:id=SHMID           an existing System V segment by its shmid
 *   file:PATH               a regular file mapped shared (persists on disk)
 *   memfd: or memfd:LABEL   an anonymous memfd (create only), sealed
 *   memfd:fd=N              a memfd this process holds as descriptor N
 *   memfd:pid=P,fd=N        a memfd held by process P as its descriptor N
 *
 * NAME and LABEL match [A-Za-z0-9._-]{1,200} and are not "." or "..".
 *
 * Unless SHMKIT_SEGMENT_F_RAW is given, every segment starts with a shmkit
 * object header (magic, layout version, kind, sizes, creator, init state) and
 * shmkit_segment_data() points past it. A posix or file segment becomes
 * visible under its name only once it is fully initialised (it is built as
 * an unnamed file and linked into place), so an opener never sees one half
 * made. A System V key is visible from shmget() on, so openers of sysv
 * segments wait, bounded, for the creator to publish "ready"; while it works
 * the creator holds a locked init marker (/dev/shm/.shmkit-sysv-init.KEY)
 * that tells its half-made segment from someone else's zero-filled one.
 *
 * Handles are process-local. A handle may be used by several threads at once
 * for reading its properties; close it from one thread only.
 *
 * fork(): the child inherits the mapping (and for sysv the attachment, which
 * counts in nattch) but must not use the parent's handle; it opens its own.
 * exec(): mappings and attachments are dropped; descriptors are close-on-exec.
 */

/** Backend selected by a spec. */
typedef enum shmkit_backend {
	SHMKIT_BACKEND_NONE = 0,
	SHMKIT_BACKEND_POSIX = 1,
	SHMKIT_BACKEND_SYSV = 2,
	SHMKIT_BACKEND_FILE = 3,
	SHMKIT_BACKEND_MEMFD = 4,
} shmkit_backend;

/** Object kinds stored in the header. Later layers add their own. */
enum {
	SHMKIT_KIND_ANY = 0,     /* on open: accept any kind */
	SHMKIT_KIND_SEGMENT = 1, /* a plain segment with a user data area */
};

/** The init state word of the header. */
enum {
	SHMKIT_STATE_INITIALIZING = 0,
	SHMKIT_STATE_READY = 1,
	SHMKIT_STATE_BROKEN = 2,
};

/* Flags for shmkit_segment_opts.flags. */
/** Map read-only (PROT_READ, SHM_RDONLY); writes fault. */
#define SHMKIT_SEGMENT_F_RDONLY (1u << 0)
/** Back the segment with huge pages (sysv, memfd); -EOPNOTSUPP on posix and
 *  file, -ENOMEM where the system has no free huge pages. A creation option:
 *  open ignores it. */
#define SHMKIT_SEGMENT_F_HUGEPAGES (1u << 1)
/** Map a foreign segment with no shmkit header: data() is the whole mapping.
 *  On create, no header is written. */
#define SHMKIT_SEGMENT_F_RAW (1u << 2)
/** Accept an object owned by another uid (refused with -EACCES otherwise). */
#define SHMKIT_SEGMENT_F_ANY_OWNER (1u << 3)

/** Creation and open options. Always start from shmkit_segment_opts_init(). */
typedef struct shmkit_segment_opts {
	/** create: bytes of user data wanted (> 0); the mapping is rounded up to
	 *  the page size (2 MiB with huge pages). open: ignored. */
	uint64_t size;
	/** create: permission bits (default 0600), set with fchmod/IPC_SET so
	 *  the umask does not apply. open: ignored. */
	uint32_t mode;
	/** SHMKIT_SEGMENT_F_* bitmask. */
	uint32_t flags;
	/** create: kind stored in the header (default SHMKIT_KIND_SEGMENT).
	 *  open: kind required (SHMKIT_KIND_ANY accepts any). */
	uint32_t kind;
	/** open of a sysv segment still initialising: how long to wait for
	 *  "ready", in milliseconds (default 1000). */
	uint32_t ready_timeout_ms;
	uint64_t reserved_[6];
} shmkit_segment_opts;

/** A mapped segment (opaque, process-local). */
typedef struct shmkit_segment shmkit_segment;

/** What is known about one segment (see shmkit_segment_stat()). Fields that a
 *  backend does not know are -1 (signed) or 0 (unsigned) as noted. */
typedef struct shmkit_segment_info {
	char spec[4200]; /* canonical spec that reaches it */
	shmkit_backend backend;
	int32_t is_shmkit;       /* 1: valid shmkit header; 0: foreign/raw */
	int32_t header_error;    /* 0, or why the header is not valid (-errno) */
	uint32_t kind;           /* header kind (0 when foreign) */
	uint32_t state;          /* SHMKIT_STATE_* (0 when foreign) */
	uint32_t layout_version; /* header layout version (0 when foreign) */
	uint64_t size;           /* bytes of the whole object */
	uint64_t data_offset;    /* where the user data starts */
	uint64_t data_size;      /* bytes of user data */
	uint32_t mode;           /* permission bits */
	uint32_t uid, gid;       /* owner */
	int32_t creator_pid;     /* -1 when unknown */
	uint32_t creator_uid;
	uint64_t creator_start;      /* creator's start time, clock ticks since boot */
	int32_t creator_alive;       /* 1 alive, 0 dead, -1 unknown */
	int32_t removed;             /* sysv: IPC_RMID done, lives until last detach */
	int64_t created_ns;          /* CLOCK_REALTIME ns; 0 when unknown */
	int64_t nattch;              /* sysv: attach count; -1 elsewhere */
	int32_t sysv_id;             /* sysv: shmid; -1 elsewhere */
	uint32_t sysv_key;           /* sysv: key (0 = IPC_PRIVATE) */
	int32_t last_pid;            /* sysv: last shmat/shmdt pid; -1 elsewhere */
	int32_t holder_pid;          /* memfd: a process holding it; -1 elsewhere */
	int64_t atime, dtime, ctime; /* sysv: attach/detach/change, s; file: -1,-1,ctime */
	int64_t mtime;               /* posix/file/memfd: last modification, s */
	uint64_t reserved_[8];
} shmkit_segment_info;

/**
 * shmkit_segment_opts_init() - fill @opts with the defaults: size 0, mode
 * 0600, no flags, kind SHMKIT_KIND_SEGMENT, ready timeout 1000 ms.
 * @opts: not NULL.
 */
SHMKIT_API void shmkit_segment_opts_init(shmkit_segment_opts *opts);

/**
 * shmkit_segment_create() - create a new segment, exclusively, and map it.
 * @out:  receives the handle; not NULL. Set only on success.
 * @spec: where to create it (see above); not NULL.
 * @opts: options, or NULL for the defaults (which fail: size is required).
 *
 * The segment is zero-filled. Storage is allocated up front
 * (posix_fallocate), so a full tmpfs fails here with -ENOSPC rather than with
 * SIGBUS later. A leftover of a creator that died while initialising is
 * removed and creation proceeds. A memfd is sealed against growing and
 * shrinking.
 *
 * Return: 0, or
 *  -EINVAL a bad spec, a size of 0, or flags that contradict each other;
 *  -ENAMETOOLONG a name over 200 characters or a path over PATH_MAX;
 *  -EFBIG the size is over what the backend allows (or overflows);
 *  -EEXIST an object of that name exists (for a sysv key: or its creator
 *          is still at work after opts->ready_timeout_ms);
 *  -EACCES, -EPERM the system refused;
 *  -ELOOP the last component of a file: path is a symlink;
 *  -ENOSPC, -ENOMEM no room (tmpfs full, SHMMNI/SHMALL reached, no huge pages);
 *  -EOPNOTSUPP huge pages asked of a backend that cannot have them;
 *  another negative errno from the system.
 * Thread-safe; process-safe against concurrent creators (one wins).
 */
SHMKIT_API int shmkit_segment_create(shmkit_segment **out, const char *spec,
				     const shmkit_segment_opts *opts);

/**
 * shmkit_segment_open() - map an existing segment.
 * @out:  receives the handle; not NULL. Set only on success.
 * @spec: which segment; not NULL.
 * @opts: options (flags, kind, ready timeout), or NULL for the defaults.
 *
 * The object's owner is checked (fstat / IPC_STAT) before it is mapped, and
 * its header is validated against the size of the object before use.
 *
 * Return: 0, or
 *  -EINVAL a bad spec; -ENAMETOOLONG as for create;
 *  -ENOENT no such object;
 *  -EBADF memfd:fd=N names no open descriptor of this process;
 *  -EACCES owned by another uid (without SHMKIT_SEGMENT_F_ANY_OWNER), or the
 *          permissions refuse us;
 *  -ELOOP a symlink is planted at the name;
 *  -EMEDIUMTYPE not a shmkit object (no magic): open it with
 *          SHMKIT_SEGMENT_F_RAW to map it anyway;
 *  -EPROTO a shmkit object of another layout version;
 *  -EPROTOTYPE a shmkit object of another kind than opts->kind;
 *  -EBADMSG the header is inconsistent (sizes, checksum) or the object is
 *          smaller than its header says (truncated);
 *  -ENOTRECOVERABLE the object is marked broken;
 *  -EOWNERDEAD the creator died before the object was ready;
 *  -ETIMEDOUT the creator is alive but did not finish within the timeout;
 *  -EIDRM a sysv segment removed while being opened;
 *  another negative errno from the system.
 * Thread-safe.
 */
SHMKIT_API int shmkit_segment_open(shmkit_segment **out, const char *spec,
				   const shmkit_segment_opts *opts);

/**
 * shmkit_segment_open_or_create() - open the segment, creating it if absent.
 * @out, @spec, @opts: as for shmkit_segment_create().
 *
 * Races with other creators, openers and removers are retried internally;
 * a leftover of a creator that died while initialising is removed and
 * created anew. sysv:private, sysv:id=N and memfd specs give -EINVAL: they
 * name no object that both an open and a create could reach.
 *
 * Return: 1 if this call created the segment, 0 if it opened an existing
 * one, or a negative errno as for create and open.
 */
SHMKIT_API int shmkit_segment_open_or_create(shmkit_segment **out, const char *spec,
					     const shmkit_segment_opts *opts);

/**
 * shmkit_segment_close() - unmap (shmdt) and free the handle. The object
 * itself stays until removed (for memfd: until its last descriptor closes).
 * @seg: a handle, or NULL (then nothing happens).
 *
 * Return: 0 or a negative errno from munmap/shmdt (the handle is freed anyway).
 */
SHMKIT_API int shmkit_segment_close(shmkit_segment *seg);

/**
 * shmkit_segment_destroy() - remove the object's name, then close the handle.
 * @seg: a handle, or NULL.
 *
 * A posix or file name is removed only while it still names this handle's
 * object (someone may have removed it and created another since); a memfd
 * has no name and is simply closed.
 *
 * Return: as shmkit_segment_remove() (-ENOENT when the name is gone or names
 * another object now); the handle is freed in all cases.
 */
SHMKIT_API int shmkit_segment_destroy(shmkit_segment *seg);

/**
 * shmkit_segment_remove() - remove a segment by spec, like shm_unlink,
 * IPC_RMID, unlink or ipcrm.
 * @spec: not NULL.
 *
 * Mappings that exist stay valid: a posix or file object lives on without a
 * name until its last unmap; a System V segment is marked for destruction,
 * its key released, and destroyed at its last detach. Objects of another
 * uid are refused (root may remove anything it may unlink).
 *
 * Return: 0, or -EINVAL (bad spec), -ENOENT, -EACCES/-EPERM, -ELOOP, or
 * -EOPNOTSUPP for a memfd (it has no name; it goes with its last descriptor).
 */
SHMKIT_API int shmkit_segment_remove(const char *spec);

/**
 * shmkit_segment_data() - the start of the user data area.
 * @seg: not NULL.
 *
 * Return: the address, cache-line aligned; valid until close. In raw mode,
 * the start of the mapping.
 */
SHMKIT_API void *shmkit_segment_data(const shmkit_segment *seg);

/**
 * shmkit_segment_size() - bytes of the user data area (at least the size
 * asked at creation; page rounding is given to the user).
 */
SHMKIT_API size_t shmkit_segment_size(const shmkit_segment *seg);

/**
 * shmkit_segment_fd() - the descriptor behind the mapping.
 *
 * Return: the descriptor (owned by the handle; do not close it) for posix,
 * file and memfd, or -EOPNOTSUPP for sysv.
 */
SHMKIT_API int shmkit_segment_fd(const shmkit_segment *seg);

/**
 * shmkit_segment_backend() - the backend of a handle.
 */
SHMKIT_API shmkit_backend shmkit_segment_backend(const shmkit_segment *seg);

/** Flags of shmkit_segment_sync(), as msync(2). */
#define SHMKIT_SYNC_ASYNC      (1u << 0) /* schedule write-back, do not wait */
#define SHMKIT_SYNC_SYNC       (1u << 1) /* write back and wait */
#define SHMKIT_SYNC_INVALIDATE (1u << 2) /* drop other cached copies */

/**
 * shmkit_segment_sync() - msync a range of the user data area.
 * @seg:   not NULL.
 * @off:   offset into the data area.
 * @len:   bytes; 0 means to the end of the data area.
 * @flags: SHMKIT_SYNC_ASYNC or SHMKIT_SYNC_SYNC, optionally with
 *         SHMKIT_SYNC_INVALIDATE.
 *
 * Meaningful for file: (persistent storage); harmless elsewhere.
 *
 * Return: 0, -EINVAL (both or neither of ASYNC/SYNC, range outside the data
 * area), or -EIO and others from msync.
 */
SHMKIT_API int shmkit_segment_sync(shmkit_segment *seg, size_t off, size_t len, unsigned flags);

/**
 * shmkit_segment_check() - recheck a mapped segment against its object:
 * still the size it was mapped with (a peer may have truncated it, and a
 * touch beyond the end would raise SIGBUS), header still valid, and for sysv
 * not removed.
 *
 * Return: 0, -EBADMSG (truncated or header corrupted), -ENOTRECOVERABLE
 * (marked broken), -EIDRM (sysv segment removed; the mapping stays valid).
 */
SHMKIT_API int shmkit_segment_check(const shmkit_segment *seg);

/**
 * shmkit_segment_stat() - everything known about a segment, by spec.
 * @spec: not NULL.
 * @info: receives the result; not NULL.
 *
 * The object is not mapped: its header is read with pread (or a brief
 * read-only attach for sysv), so a truncated or corrupted object can be
 * inspected safely. A foreign object is described with is_shmkit = 0 and
 * header_error set; that is not a failure.
 *
 * Return: 0, or -EINVAL, -ENOENT, -EBADF (memfd:fd=N not open), -EACCES,
 * -ELOOP, -EMEDIUMTYPE (not a regular file), or another negative errno.
 */
SHMKIT_API int shmkit_segment_stat(const char *spec, shmkit_segment_info *info);

/**
 * shmkit_segment_info_get() - as shmkit_segment_stat(), for an open handle.
 */
SHMKIT_API int shmkit_segment_info_get(const shmkit_segment *seg, shmkit_segment_info *info);

/** Leave the uid, gid or mode unchanged in shmkit_segment_set_perm(). */
#define SHMKIT_PERM_KEEP (-1)

/**
 * shmkit_segment_set_perm() - change mode and owner, the IPC_SET equivalent.
 * @spec: not NULL.
 * @mode: new permission bits (0..0777), or SHMKIT_PERM_KEEP.
 * @uid, @gid: new owner, or SHMKIT_PERM_KEEP.
 *
 * The owner may change the mode whatever the current mode is (no read or
 * write access to the object is needed), as chmod(2) allows.
 *
 * Return: 0, or -EINVAL (mode out of range, bad spec), -ENOENT, -EPERM
 * (not the owner, or changing the owner without privilege), -ELOOP (a
 * symlink at the name), -EMEDIUMTYPE (not a regular file).
 */
SHMKIT_API int shmkit_segment_set_perm(const char *spec, long mode, long uid, long gid);

/**
 * shmkit_segment_send_fd() - pass a segment's descriptor over a connected
 * Unix socket (SCM_RIGHTS), with a one-byte payload.
 * @seg:  a posix, file or memfd handle.
 * @sock: a connected AF_UNIX socket.
 *
 * Return: 0, -EOPNOTSUPP for sysv, or a negative errno from sendmsg.
 */
SHMKIT_API int shmkit_segment_send_fd(const shmkit_segment *seg, int sock);

/**
 * shmkit_segment_recv_fd() - receive a descriptor sent by
 * shmkit_segment_send_fd() and map it as a segment.
 * @out:  receives the handle; not NULL.
 * @sock: a connected AF_UNIX socket.
 * @opts: open options, or NULL.
 *
 * The received descriptor is validated like an open by name (owner, size,
 * header) and owned by the handle, which reports the object's real backend
 * (memfd, or posix/file for a descriptor of such an object). A received memfd must carry the seals
 * against shrinking and growing, so the sender cannot truncate it under us.
 *
 * Return: 0, -EPROTO (no descriptor in the message), -ECONNRESET (peer
 * closed), the open errors, or a negative errno from recvmsg.
 */
SHMKIT_API int shmkit_segment_recv_fd(shmkit_segment **out, int sock,
				      const shmkit_segment_opts *opts);

/** Flags of shmkit_segment_list(). */
#define SHMKIT_LIST_F_ALL (1u << 0) /* also foreign sysv and posix objects */

/**
 * shmkit_segment_list_fn - called once per object found.
 * Return: 0 to go on, non-zero to stop the listing.
 */
typedef int (*shmkit_segment_list_fn)(const shmkit_segment_info *info, void *ctx);

/**
 * shmkit_segment_list() - enumerate shmkit objects on every backend that can
 * be enumerated: posix (/dev/shm), sysv (the kernel's table), memfd
 * (descriptors of processes we may inspect). file: objects have no registry
 * and are not listed. With SHMKIT_LIST_F_ALL, also the system's other System
 * V segments and POSIX shared-memory objects.
 * @fn:    the callback; not NULL.
 * @ctx:   passed to @fn.
 * @flags: SHMKIT_LIST_F_*.
 *
 * Objects are inspected as by shmkit_segment_stat(), never modified; objects
 * we may not read are still listed from what the system tells about them.
 *
 * Return: the number of objects reported, or a negative errno; if @fn stops
 * the listing, the value it returned if negative.
 */
SHMKIT_API int shmkit_segment_list(shmkit_segment_list_fn fn, void *ctx, unsigned flags);

/**
 * shmkit_backend_name() - "posix", "sysv", "file", "memfd" or "none".
 */
SHMKIT_API const char *shmkit_backend_name(shmkit_backend backend);

/**
 * shmkit_state_name() - "initializing", "ready", "broken" or "unknown".
 */
SHMKIT_API const char *shmkit_state_name(uint32_t state);

#ifdef __cplusplus
}
#endif
#endif /* SHMKIT_SEGMENT_H */
