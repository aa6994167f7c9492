/* SPDX-License-Identifier: MIT */
/* shmkit/common.h - export macro, error rendering, version query. */
#ifndef SHMKIT_COMMON_H
#define SHMKIT_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMKIT_BUILDING)
#define SHMKIT_API __attribute__((visibility("default")))
#else
#define SHMKIT_API
#endif

/* Alignment of opaque storage, spelled for C11 and for C++ alike. */
#ifdef __cplusplus
#define SHMKIT_ALIGNAS(n) alignas(n)
#else
#define SHMKIT_ALIGNAS(n) _Alignas(n)
#endif

/**
 * shmkit_strerror() - describe a shmkit return code.
 * @err: a negative errno returned by a shmkit function (a positive errno is
 *       accepted too).
 *
 * Return: a static, NUL-terminated string; never NULL. Codes with a meaning
 * particular to shmkit (-EPROTO, -EMEDIUMTYPE, -EBADMSG, -EOWNERDEAD, ...) get
 * a shmkit-specific text; others get the C library's text.
 * Thread-safe.
 */
SHMKIT_API const char *shmkit_strerror(int err);

/**
 * shmkit_version() - the library's version string, e.g. "0.1.0".
 *
 * Return: a static string. Thread-safe.
 */
SHMKIT_API const char *shmkit_version(void);

/**
 * shmkit_layout_version() - the shared-memory layout version this library
 * reads and writes (see SHMKIT_LAYOUT_VERSION).
 */
SHMKIT_API unsigned shmkit_layout_version(void);

/**
 * shmkit_credentials_changed() - tell shmkit the process's credentials
 * changed.
 *
 * Semaphore sets and message queues check permissions as the kernel's
 * ipcperms() does, against the caller's effective uid, gid, supplementary
 * groups and capabilities, which shmkit caches per process (so that a call
 * makes no system call for them). A process that changes them (setuid(),
 * setgid(), setgroups(), capabilities) while it keeps using shmkit objects
 * calls this afterwards; a fork needs nothing. The preload shim
 * (shmkit-preload(7)) calls it from its own set*id() and setgroups().
 * Thread-safe.
 */
SHMKIT_API void shmkit_credentials_changed(void);

#ifdef __cplusplus
}
#endif
#endif /* SHMKIT_COMMON_H */
