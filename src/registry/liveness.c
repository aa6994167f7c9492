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
 * (locks may lie beyond the end of a file). Its holder keeps two OFD write
 * locks: byte s << 16 (the slot is taken) and byte (s << 16) | gen (the
 * token), where gen moves on at every new holder. A token whose byte is
 * not locked is dead: its process exited, or was never there. A new holder
 * of the slot locks another byte, so an old token never reads alive again.
 */
#define TABLE_PATH "/dev/shm/.shmkit-liveness"
#define GEN_MAX    0x7fffu
#define PROBES     4096u

struct record {
	uint32_t gen;
	int32_t pid;
	uint64_t start;
};
_Static_assert(sizeof(struct record) == 16, "liveness record size");

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
/* Our token; 0 until registered. Acquire/release pairs with register_self. */
static _Atomic uint32_t self_token;
static int lock_fd = -1;  /* the description that holds our locks */
static int check_fd = -1; /* another description, to test locks with */

/*
 * OFD locks belong to the open file description, which a forked child
 * shares: left open in the child, our token would stay locked after we die.
 * The child closes its copies (closing a shared description's duplicate
 * releases nothing) and registers anew when it needs a token.
 */
/*
 * Thread tokens: a thread that holds a mutex is its owner, as with robust
 * pthread mutexes, so each such thread registers a token of its own through
 * a description of its own. The description is closed when the thread exits
 * (key destructor), which kills the token; the process's exit closes all.
 */
#define TLS __attribute__((tls_model("initial-exec")))
static _Thread_local uint32_t thread_token TLS;
static _Thread_local int thread_fd TLS = -1;
static pthread_key_t thread_key;
static int thread_fds[1024]; /* live threads' descriptions, for fork */
static unsigned n_thread_fds;

static void
forget_thread_fd(int fd)
{
	for (unsigned i = 0; i < n_thread_fds; i++) {
		if (thread_fds[i] == fd) {
			thread_fds[i] = thread_fds[--n_thread_fds];
			return;
		}
	}
}

static void
thread_exit(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&reg_lock);
	if (thread_fd >= 0) {
		forget_thread_fd(thread_fd);
		close(thread_fd);
		thread_fd = -1;
		thread_token = 0;
	}
	pthread_mutex_unlock(&reg_lock);
}

static void
after_fork_child(void)
{
	if (lock_fd >= 0) {
		close(lock_fd);
		lock_fd = -1;
	}
	/* The parent's threads are not here, but their descriptions are: left
	 * open they would keep those tokens alive after the parent dies. */
	for (unsigned i = 0; i < n_thread_fds; i++) {
		close(thread_fds[i]);
	}
	n_thread_fds = 0;
	thread_fd = -1;
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

static int
lock_byte(int fd, int cmd, short type, uint64_t off, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)off;
	fl->l_len = 1;
	return fcntl(fd, cmd, fl);
}

static int
open_table(int flags)
{
	struct stat st;
	int fd = open(TABLE_PATH, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd >= 0) {
		/* Everyone must be able to lock in it; fchmod, not the umask. */
		fchmod(fd, 0666);
		return fd;
	}
	if (errno != EEXIST) {
		return -errno;
	}
	fd = open(TABLE_PATH, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EACCES;
	}
	return fd;
}

static int
get_check_fd(void)
{
	/* Called with reg_lock held, or from token_alive (see there). */
	if (check_fd < 0) {
		int fd = open_table(O_RDONLY);
		if (fd < 0) {
			return fd;
		}
		check_fd = fd;
	}
	return check_fd;
}

/* Take a free slot with locks held through @fd. Called with reg_lock held. */
static int
register_on(int fd, uint32_t *out)
{
	struct flock fl;
	pid_t pid = getpid();
	int rc = get_check_fd();
	if (rc < 0) {
		return rc;
	}
	uint32_t first = ((uint32_t)pid * 2654435761u) % SHMKIT_TOKEN_SLOTS;
	for (uint32_t i = 0; i < PROBES; i++) {
		uint32_t slot = (first + i) % SHMKIT_TOKEN_SLOTS;
		uint64_t base = (uint64_t)slot << 16;
		if (lock_byte(fd, F_OFD_SETLK, F_WRLCK, base, &fl) != 0) {
			if (errno == EAGAIN || errno == EACCES) {
				continue; /* taken by a live process */
			}
			return -errno;
		}
		struct record r;
		memset(&r, 0, sizeof(r));
		if (pread(fd, &r, sizeof(r), (off_t)slot * sizeof(r)) < 0) {
			r.gen = 0;
		}
		uint32_t gen = r.gen % GEN_MAX + 1; /* 1..GEN_MAX, never the last one */
		r.gen = gen;
		r.pid = (int32_t)pid;
		r.start = shmkit__self_start_time();
		if (pwrite(fd, &r, sizeof(r), (off_t)slot * sizeof(r)) != (ssize_t)sizeof(r) ||
		    lock_byte(fd, F_OFD_SETLK, F_WRLCK, base | gen, &fl) != 0) {
			rc = errno != 0 ? -errno : -EIO;
			lock_byte(fd, F_OFD_SETLK, F_UNLCK, base, &fl);
			return rc;
		}
		*out = (slot + 1) | (gen << 16);
		return 0;
	}
	return -ENOSPC;
}

int
shmkit__self_token(uint32_t *token)
{
	uint32_t t = atomic_load_explicit(&self_token, memory_order_acquire);
	if (t != 0) {
		*token = t;
		return 0;
	}
	pthread_once(&once, init_once);
	pthread_mutex_lock(&reg_lock);
	t = atomic_load_explicit(&self_token, memory_order_relaxed);
	int rc = 0;
	if (t == 0 && lock_fd < 0) {
		rc = open_table(O_RDWR);
		if (rc >= 0) {
			lock_fd = rc;
			rc = 0;
		}
	}
	if (t == 0 && rc == 0) {
		rc = register_on(lock_fd, &t);
		if (rc == 0) {
			/* Release pairs with the acquire load above. */
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
	int rc = 0;
	if (n_thread_fds == sizeof(thread_fds) / sizeof(thread_fds[0])) {
		rc = -ENOSPC;
	}
	int fd = rc == 0 ? open_table(O_RDWR) : rc;
	uint32_t t = 0;
	if (fd < 0) {
		rc = fd;
	} else {
		rc = register_on(fd, &t);
		if (rc != 0) {
			close(fd);
		}
	}
	if (rc == 0) {
		thread_fds[n_thread_fds++] = fd;
		thread_fd = fd;
		thread_token = t;
		/* Any non-NULL value makes the destructor run at thread exit. */
		pthread_setspecific(thread_key, &thread_fd);
		*token = t;
	}
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

static int
split(uint32_t token, uint32_t *slot, uint32_t *gen)
{
	if (token == 0 || (token & ~SHMKIT_TOKEN_MASK) != 0) {
		return -EINVAL;
	}
	*slot = (token & 0xffffu);
	*gen = token >> 16;
	if (*slot == 0 || *gen == 0) {
		return -EINVAL;
	}
	*slot -= 1;
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
	int fd = get_check_fd();
	pthread_mutex_unlock(&reg_lock);
	if (fd < 0) {
		/* No table: nobody could have registered, so nobody is alive. */
		return 0;
	}
	/*
	 * F_OFD_GETLK through a description of our own that holds no locks:
	 * our own token's locks (held through lock_fd) conflict with it too,
	 * so a process sees itself alive.
	 */
	if (lock_byte(fd, F_OFD_GETLK, F_WRLCK, ((uint64_t)slot << 16) | gen, &fl) != 0) {
		return -errno;
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
	int fd = get_check_fd();
	pthread_mutex_unlock(&reg_lock);
	if (fd < 0) {
		return -ESRCH;
	}
	if (pread(fd, &r, sizeof(r), (off_t)slot * sizeof(r)) != (ssize_t)sizeof(r) ||
	    r.gen != gen) {
		return -ESRCH;
	}
	*pid = r.pid;
	return 0;
}
