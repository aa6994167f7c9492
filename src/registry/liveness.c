/* SPDX-License-Identifier: MIT */
/* Process liveness tokens: byte-range locks the kernel drops when a process exits. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/platform.h"
#include "internal/registry.h"

/*
 * The table is one file shared by every user of the machine (mode 0666 in
 * the sticky /dev/shm): its contents are a record per slot, for display
 * only; liveness itself is in the locks, which nobody can forge.
 *
 * Slot s owns the byte range [s << 16, (s + 1) << 16) of the lock space
 * (locks may lie beyond the end of a file). Its holder keeps two write
 * locks: byte s << 16 (the slot is taken) and byte (s << 16) | gen (the
 * token), where gen moves on at every new holder. A token whose byte is
 * not locked is dead: its process exited, or was never there. A new holder
 * of the slot locks another byte, so an old token never reads alive again.
 *
 * The locks are classic POSIX record locks, owned by the process: the
 * kernel drops them when the process exits, and a forked child does not
 * inherit them (an OFD lock would be shared with the child from the fork
 * until the child closed its copy, and in that window a dead parent's
 * token would still read alive). Their one trap, that closing any
 * descriptor of the file drops all of the process's locks on it, is
 * avoided by keeping one descriptor open for the life of the process.
 * F_GETLK does not report the caller's own locks, so the tokens this
 * process holds are kept in a list and answered from it.
 */
#define TABLE_PATH "/dev/shm/.shmkit-liveness"
#define GEN_MAX    0x7fffu
#define PROBES     4096u
#define MAX_OWN    1024u /* tokens one process holds: itself and its threads */

struct record {
	uint32_t gen;
	int32_t pid;
	uint64_t start;
};
_Static_assert(sizeof(struct record) == 16, "liveness record size");

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
/* Our process token; 0 until registered. Release/acquire: see self_token. */
static _Atomic uint32_t self_token;
static int table_fd = -1; /* never closed: closing would drop our locks */
static uint32_t own[MAX_OWN];
static unsigned n_own;

/*
 * Thread tokens: a thread that holds a mutex is its owner, as with robust
 * pthread mutexes, so each such thread registers a token of its own, which
 * its exit (key destructor) unlocks; the process's exit drops all.
 */
_Thread_local uint32_t shmkit__tls_thread_token SHMKIT_TLS_IE;
#define thread_token shmkit__tls_thread_token
static pthread_key_t thread_key;

static int
lock_byte(int cmd, short type, uint64_t off, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)off;
	fl->l_len = 1;
	return fcntl(table_fd, cmd, fl);
}

static void
split_unchecked(uint32_t token, uint32_t *slot, uint32_t *gen)
{
	*slot = (token & 0xffffu) - 1;
	*gen = token >> 16;
}

/* Unlock both bytes of a token we hold and forget it. reg_lock held. */
static void
release_locked(uint32_t token)
{
	struct flock fl;
	uint32_t slot, gen;
	split_unchecked(token, &slot, &gen);
	lock_byte(F_SETLK, F_UNLCK, ((uint64_t)slot << 16) | gen, &fl);
	lock_byte(F_SETLK, F_UNLCK, (uint64_t)slot << 16, &fl);
	for (unsigned i = 0; i < n_own; i++) {
		if (own[i] == token) {
			own[i] = own[--n_own];
			break;
		}
	}
}

static void
thread_exit(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&reg_lock);
	if (thread_token != 0) {
		release_locked(thread_token);
		thread_token = 0;
	}
	pthread_mutex_unlock(&reg_lock);
}

/* The child holds none of our locks: it starts with no tokens, and with a
 * descriptor of its own, opened when it first needs one (closing the
 * inherited copy drops nothing, as the child holds no locks). */
_Atomic uint32_t shmkit__fork_epoch_v;

static void
after_fork_child(void)
{
	atomic_fetch_add_explicit(&shmkit__fork_epoch_v, 1, memory_order_relaxed);
	if (table_fd >= 0) {
		close(table_fd);
		table_fd = -1;
	}
	n_own = 0;
	thread_token = 0;
	atomic_store_explicit(&self_token, 0, memory_order_relaxed);
	pthread_mutex_init(&reg_lock, NULL);
}

static void
init_once(void)
{
	pthread_key_create(&thread_key, thread_exit);
	pthread_atfork(NULL, NULL, after_fork_child);
}

/* Open the table once. reg_lock held. */
static int
open_table(void)
{
	struct stat st;
	if (table_fd >= 0) {
		return 0;
	}
	int fd = open(TABLE_PATH, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd >= 0) {
		/* Everyone must be able to lock in it; fchmod, not the umask. */
		fchmod(fd, 0666);
	} else if (errno == EEXIST) {
		fd = open(TABLE_PATH, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			return -errno;
		}
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			return -EACCES;
		}
	} else {
		return -errno;
	}
	table_fd = fd;
	return 0;
}

static int
own_slot(uint32_t slot)
{
	for (unsigned i = 0; i < n_own; i++) {
		if ((own[i] & 0xffffu) == slot + 1) {
			return 1;
		}
	}
	return 0;
}

/* Take a free slot. reg_lock held. */
static int
register_locked(uint32_t *out)
{
	struct flock fl;
	pid_t pid = getpid();
	int rc = open_table();
	if (rc != 0) {
		return rc;
	}
	if (n_own == MAX_OWN) {
		return -ENOSPC;
	}
	uint32_t first = ((uint32_t)pid * 2654435761u) % SHMKIT_TOKEN_SLOTS;
	for (uint32_t i = 0; i < PROBES; i++) {
		uint32_t slot = (first + i) % SHMKIT_TOKEN_SLOTS;
		uint64_t base = (uint64_t)slot << 16;
		/* Our own locks never conflict with us: skip our slots. */
		if (own_slot(slot)) {
			continue;
		}
		if (lock_byte(F_SETLK, F_WRLCK, base, &fl) != 0) {
			if (errno == EAGAIN || errno == EACCES) {
				continue; /* taken by a live process */
			}
			return -errno;
		}
		struct record r;
		memset(&r, 0, sizeof(r));
		if (pread(table_fd, &r, sizeof(r), (off_t)slot * sizeof(r)) < 0) {
			r.gen = 0;
		}
		uint32_t gen = r.gen % GEN_MAX + 1; /* 1..GEN_MAX, never the last one */
		r.gen = gen;
		r.pid = (int32_t)pid;
		r.start = shmkit__self_start_time();
		if (pwrite(table_fd, &r, sizeof(r), (off_t)slot * sizeof(r)) !=
			    (ssize_t)sizeof(r) ||
		    lock_byte(F_SETLK, F_WRLCK, base | gen, &fl) != 0) {
			rc = errno != 0 ? -errno : -EIO;
			lock_byte(F_SETLK, F_UNLCK, base, &fl);
			return rc;
		}
		*out = (slot + 1) | (gen << 16);
		own[n_own++] = *out;
		return 0;
	}
	return -ENOSPC;
}

int
shmkit__self_token(uint32_t *token)
{
	/* Acquire pairs with the release store below (and after a fork the
	 * child's handler resets it before any thread of the child runs). */
	uint32_t t = atomic_load_explicit(&self_token, memory_order_acquire);
	if (t != 0) {
		*token = t;
		return 0;
	}
	pthread_once(&once, init_once);
	pthread_mutex_lock(&reg_lock);
	t = atomic_load_explicit(&self_token, memory_order_relaxed);
	int rc = 0;
	if (t == 0) {
		rc = register_locked(&t);
		if (rc == 0) {
			atomic_store_explicit(&self_token, t, memory_order_release);
		}
	}
	pthread_mutex_unlock(&reg_lock);
	if (rc == 0) {
		*token = t;
	}
	return rc;
}

int
shmkit__thread_token(uint32_t *token)
{
	if (thread_token != 0) {
		*token = thread_token;
		return 0;
	}
	pthread_once(&once, init_once);
	pthread_mutex_lock(&reg_lock);
	uint32_t t = 0;
	int rc = register_locked(&t);
	if (rc == 0) {
		thread_token = t;
		/* Any non-NULL value makes the destructor run at thread exit. */
		pthread_setspecific(thread_key, &thread_token);
		*token = t;
	}
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

static int
split(uint32_t token, uint32_t *slot, uint32_t *gen)
{
	if (token == 0 || (token & ~SHMKIT_TOKEN_MASK) != 0 || (token & 0xffffu) == 0 ||
	    (token >> 16) == 0) {
		return -EINVAL;
	}
	split_unchecked(token, slot, gen);
	return 0;
}

int
shmkit__token_alive(uint32_t token)
{
	uint32_t slot, gen;
	struct flock fl;
	if (split(token, &slot, &gen) != 0) {
		return -EINVAL;
	}
	pthread_once(&once, init_once);
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < n_own; i++) {
		if (own[i] == token) {
			pthread_mutex_unlock(&reg_lock);
			return 1;
		}
	}
	int rc = open_table();
	if (rc == 0 && lock_byte(F_GETLK, F_WRLCK, ((uint64_t)slot << 16) | gen, &fl) != 0) {
		rc = -errno;
	}
	pthread_mutex_unlock(&reg_lock);
	if (rc != 0) {
		/* No table: nobody could have registered, so nobody is alive. */
		return rc == -ENOENT ? 0 : rc;
	}
	return fl.l_type != F_UNLCK;
}

int
shmkit__token_pid(uint32_t token, pid_t *pid)
{
	uint32_t slot, gen;
	struct record r;
	if (split(token, &slot, &gen) != 0) {
		return -EINVAL;
	}
	pthread_once(&once, init_once);
	pthread_mutex_lock(&reg_lock);
	int rc = open_table();
	ssize_t n = rc == 0 ? pread(table_fd, &r, sizeof(r), (off_t)slot * sizeof(r)) : -1;
	pthread_mutex_unlock(&reg_lock);
	if (n != (ssize_t)sizeof(r) || r.gen != gen) {
		return -ESRCH;
	}
	*pid = r.pid;
	return 0;
}
