/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD shim: msgget/msgsnd/msgrcv/msgctl and semget/semop/semtimedop/semctl on shmkit. */
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/types.h>
#include <unistd.h>

#include <shmkit/common.h>
#include <shmkit/sysv.h>

/*
 * Each definition here takes precedence over the C library's when this
 * object is preloaded, and forwards to the drop-in of the same name, which
 * sets errno as the original does. Nothing here calls the kernel's own
 * System V calls, so a program sees only shmkit's queues and sets; calls
 * made through syscall(2) and /proc/sysvipc still reach the kernel's.
 */

#define EXPORT __attribute__((visibility("default")))

/* The caller's union semun; the C library leaves defining it to the user. */
union preload_semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

EXPORT int msgget(key_t key, int msgflg);
EXPORT int msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg);
EXPORT ssize_t msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg);
EXPORT int msgctl(int msqid, int cmd, struct msqid_ds *buf);
EXPORT int semget(key_t key, int nsems, int semflg);
EXPORT int semop(int semid, struct sembuf *sops, size_t nsops);
EXPORT int semtimedop(int semid, struct sembuf *sops, size_t nsops, const struct timespec *timeout);
EXPORT int semctl(int semid, int semnum, int cmd, ...);

EXPORT int
msgget(key_t key, int msgflg)
{
	return shmkit_msgget(key, msgflg);
}

EXPORT int
msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg)
{
	return shmkit_msgsnd(msqid, msgp, msgsz, msgflg);
}

EXPORT ssize_t
msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg)
{
	return shmkit_msgrcv(msqid, msgp, msgsz, msgtyp, msgflg);
}

EXPORT int
msgctl(int msqid, int cmd, struct msqid_ds *buf)
{
	return shmkit_msgctl(msqid, cmd, buf);
}

EXPORT int
semget(key_t key, int nsems, int semflg)
{
	return shmkit_semget(key, nsems, semflg);
}

EXPORT int
semop(int semid, struct sembuf *sops, size_t nsops)
{
	return shmkit_semop(semid, sops, nsops);
}

EXPORT int
semtimedop(int semid, struct sembuf *sops, size_t nsops, const struct timespec *timeout)
{
	return shmkit_semtimedop(semid, sops, nsops, timeout);
}

EXPORT int
semctl(int semid, int semnum, int cmd, ...)
{
	union preload_semun arg = {0};
	va_list ap;

	/* Read the fourth argument only for the commands that take one, as
	 * the C library's semctl() does: a caller may pass three. */
	switch (cmd) {
	case IPC_STAT:
	case IPC_SET:
	case SEM_STAT:
	case SEM_STAT_ANY:
	case IPC_INFO:
	case SEM_INFO:
	case GETALL:
	case SETALL:
	case SETVAL:
		va_start(ap, cmd);
		arg = va_arg(ap, union preload_semun);
		va_end(ap);
		return shmkit_semctl(semid, semnum, cmd, arg);
	default:
		return shmkit_semctl(semid, semnum, cmd);
	}
}

/*
 * The credential calls: shmkit caches the caller's credentials for its
 * permission checks, so an unmodified program that changes them must not
 * keep the old ones. Each wrapper calls the C library's own function
 * (the next definition after this object) and, on success, tells shmkit.
 * setgroups() and the set*id() family cover what glibc's wrappers change;
 * capability changes (capset) are not followed.
 */
#define CRED_WRAPPER(name, params, args)                                                           \
	EXPORT int name params;                                                                    \
	EXPORT int name params                                                                     \
	{                                                                                          \
		static int(*real) params;                                                          \
		if (real == NULL) {                                                                \
			real = (int(*) params)dlsym(RTLD_NEXT, #name);                             \
		}                                                                                  \
		if (real == NULL) {                                                                \
			errno = ENOSYS;                                                            \
			return -1;                                                                 \
		}                                                                                  \
		int rc = real args;                                                                \
		if (rc == 0) {                                                                     \
			shmkit_credentials_changed();                                              \
		}                                                                                  \
		return rc;                                                                         \
	}

CRED_WRAPPER(setuid, (uid_t uid), (uid))
CRED_WRAPPER(seteuid, (uid_t uid), (uid))
CRED_WRAPPER(setreuid, (uid_t ruid, uid_t euid), (ruid, euid))
CRED_WRAPPER(setresuid, (uid_t ruid, uid_t euid, uid_t suid), (ruid, euid, suid))
CRED_WRAPPER(setgid, (gid_t gid), (gid))
CRED_WRAPPER(setegid, (gid_t gid), (gid))
CRED_WRAPPER(setregid, (gid_t rgid, gid_t egid), (rgid, egid))
CRED_WRAPPER(setresgid, (gid_t rgid, gid_t egid, gid_t sgid), (rgid, egid, sgid))
CRED_WRAPPER(setgroups, (size_t size, const gid_t *list), (size, list))
