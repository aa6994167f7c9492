/* SPDX-License-Identifier: MIT */
/* Process liveness tokens that the kernel releases at process exit (private). */
#ifndef SHMKIT_INTERNAL_REGISTRY_H
#define SHMKIT_INTERNAL_REGISTRY_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A liveness token is a non-zero 31-bit number naming one process (or one
 * thread, see shmkit__thread_token): a slot
 * of the machine-wide liveness table (bits 0..15: slot + 1) and the slot's
 * generation when the process took it (bits 16..30). The process holds a
 * POSIX record lock on the token's byte of the table file, which the kernel
 * drops when the process exits, however it exits (RELIABILITY rule 2): so
 * "alive" never depends on PIDs, which are reused and differ across PID
 * namespaces. Bit 31 is always clear, so a token fits beside a flag bit in a
 * 32-bit futex word.
 */
#define SHMKIT_TOKEN_MASK  0x7fffffffu
#define SHMKIT_TOKEN_SLOTS 65535u

/*
 * The calling process's token, registered on first use (one table open and
 * two fcntl calls, then cached; a forked child registers its own).
 * Return 0 and set *@token, or -ENOSPC (table full), -EACCES, -errno.
 * Thread-safe.
 */
int shmkit__self_token(uint32_t *token);

/*
 * The calling thread's token, for ownership (mutexes): registered on the
 * thread's first use, dead when the thread exits (or its process does).
 * Fast path: a thread-local read. Return 0, -ENOSPC, -EACCES, -errno.
 */
int shmkit__thread_token(uint32_t *token);

/* The calling thread's token once registered (0 before): read inline on the
 * fast path of lock and unlock. Initial-exec TLS: one load, no call. */
#define SHMKIT_TLS_IE __attribute__((tls_model("initial-exec")))
extern _Thread_local uint32_t shmkit__tls_thread_token SHMKIT_TLS_IE;

static inline int
shmkit__thread_token_fast(uint32_t *token)
{
	uint32_t t = shmkit__tls_thread_token;
	if (t != 0) {
		*token = t;
		return 0;
	}
	return shmkit__thread_token(token);
}

/*
 * Is the process behind @token alive? Return 1 alive, 0 dead (exited,
 * zombie, or the slot was taken over since), -EINVAL for 0 or a malformed
 * token. Costs one fcntl(F_GETLK).
 */
int shmkit__token_alive(uint32_t token);

/* The pid (as seen in the registering process's namespace) and start time
 * recorded for @token, for display only; -ESRCH if the slot moved on. */
int shmkit__token_pid(uint32_t token, pid_t *pid);

/* Is @token's holder gone? A token that names no slot (-EINVAL: garbage
 * read from shared memory) counts as gone; an error of the check does not
 * (the holder is assumed alive). */
static inline int
shmkit__token_dead(uint32_t token)
{
	int alive = shmkit__token_alive(token);
	return alive == 0 || alive == -EINVAL;
}

/*
 * Bumped in the child at every fork() once the registry is in use (anyone
 * holding a token uses it). An object handle records the epoch in which it
 * took a role: in another epoch it is a copy made by fork(), and the role
 * is the parent's. One relaxed load, where getpid() would be a system call.
 */
extern _Atomic uint32_t shmkit__fork_epoch_v;

static inline uint32_t
shmkit__fork_epoch(void)
{
	return atomic_load_explicit(&shmkit__fork_epoch_v, memory_order_relaxed);
}

#endif
