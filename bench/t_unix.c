/* SPDX-License-Identifier: MIT */
/* Kernel rows: Unix domain socket pairs, SOCK_STREAM and SOCK_SEQPACKET. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/*
 * A stream socket behaves like a pipe with larger buffers: messages are
 * written and read in full with loops. A SOCK_SEQPACKET socket keeps message
 * boundaries, so one send is one message, but a message must fit in the
 * sender's socket buffer; the buffer is raised only as far as a message
 * needs, and a size that cannot fit under net.core.wmem_max is reported as
 * not available rather than chunked.
 */
struct usock {
	int fd[2]; /* [0] parent's end, [1] child's end */
	int mine;
	size_t cap;
};

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static int
pair_setup(struct usock *u, int type, size_t msg_size)
{
	u->fd[0] = u->fd[1] = u->mine = -1;
	u->cap = msg_size + BENCH_BUF_SLACK;
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, u->fd) < 0) {
		return -errno;
	}
	return 0;
}

static int
us_side_init(void *ctx, enum bench_side side)
{
	struct usock *u = ctx;

	/* Dropping the peer's end makes its death visible as end-of-file. */
	u->mine = u->fd[side];
	close_fd(&u->fd[1 - side]);
	return 0;
}

static void
us_teardown(void *ctx)
{
	struct usock *u = ctx;

	close_fd(&u->fd[0]);
	close_fd(&u->fd[1]);
	u->mine = -1;
}

static int
st_setup(void *ctx, size_t msg_size)
{
	return pair_setup(ctx, SOCK_STREAM, msg_size);
}

static int
st_send(void *ctx, const void *buf, size_t len)
{
	struct usock *u = ctx;

	return bench_write_full(u->mine, buf, len);
}

static ssize_t
st_recv(void *ctx, void *buf, size_t len)
{
	struct usock *u = ctx;

	return bench_read_full(u->mine, buf, len);
}

/* The kernel refuses a datagram longer than the send buffer minus this. */
#define SEQPACKET_OVERHEAD 32
/*
 * Beyond the send buffer, a datagram's data is mostly one contiguous kernel
 * allocation, which fails with ENOBUFS above the allocator's 4 MiB ceiling
 * (and may fail below it on a fragmented system); sizes up to here work.
 */
#define SEQPACKET_LINEAR_MAX ((size_t)4 << 20)

static int
get_sndbuf(int fd, int *out)
{
	socklen_t sl = sizeof(*out);

	return getsockopt(fd, SOL_SOCKET, SO_SNDBUF, out, &sl) < 0 ? -errno : 0;
}

static size_t
sp_max_msg(char *why, size_t whylen)
{
	int fd[2], buf = 0, want = INT_MAX / 4;

	/* Ask for far more than allowed: the kernel clamps the request to
	 * net.core.wmem_max and doubles it, which yields the ceiling. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fd) < 0) {
		snprintf(why, whylen, "socketpair failed");
		return 1;
	}
	setsockopt(fd[0], SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
	if (get_sndbuf(fd[0], &buf) < 0 || buf <= SEQPACKET_OVERHEAD) {
		buf = SEQPACKET_OVERHEAD + 1;
	}
	close(fd[0]);
	close(fd[1]);
	if ((size_t)buf - SEQPACKET_OVERHEAD > SEQPACKET_LINEAR_MAX) {
		snprintf(why, whylen,
			 "the kernel builds a datagram from one "
			 "contiguous allocation, reliable up to 4 MiB");
		return SEQPACKET_LINEAR_MAX;
	}
	snprintf(why, whylen,
		 "largest send buffer %d B, from "
		 "net.core.wmem_max",
		 buf);
	return (size_t)buf - SEQPACKET_OVERHEAD;
}

static int
sp_setup(void *ctx, size_t msg_size)
{
	struct usock *u = ctx;
	int rc = pair_setup(u, SOCK_SEQPACKET, msg_size);
	int cur;

	if (rc < 0) {
		return rc;
	}
	for (int i = 0; i < 2; i++) {
		rc = get_sndbuf(u->fd[i], &cur);
		if (rc == 0 && (size_t)cur < msg_size + SEQPACKET_OVERHEAD) {
			/* The kernel doubles the value it is given. */
			int want = (int)((msg_size + 2 * SEQPACKET_OVERHEAD) / 2 + 1);

			if (setsockopt(u->fd[i], SOL_SOCKET, SO_SNDBUF, &want, sizeof(want)) < 0) {
				rc = -errno;
			} else {
				rc = get_sndbuf(u->fd[i], &cur);
			}
			if (rc == 0 && (size_t)cur < msg_size + SEQPACKET_OVERHEAD) {
				rc = -EMSGSIZE;
			}
		}
		if (rc < 0) {
			us_teardown(u);
			return rc;
		}
	}
	return 0;
}

static int
sp_send(void *ctx, const void *buf, size_t len)
{
	struct usock *u = ctx;
	ssize_t n;

	do {
		n = send(u->mine, buf, len, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		return -errno;
	}
	/* A sequenced-packet send is all or nothing. */
	return (size_t)n == len ? 0 : -EIO;
}

static ssize_t
sp_recv(void *ctx, void *buf, size_t len)
{
	struct usock *u = ctx;
	ssize_t n;

	(void)len;
	do {
		n = recv(u->mine, buf, u->cap, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		return -errno;
	}
	return n == 0 ? -ECONNRESET : n;
}

const struct bench_transport bench_t_unix_stream = {
	.name = "unix-stream",
	.kind = "kernel",
	.what = "AF_UNIX SOCK_STREAM socketpair, default buffers",
	.ctx_size = sizeof(struct usock),
	.max_msg = bench_max_msg_none,
	.setup = st_setup,
	.side_init = us_side_init,
	.send = st_send,
	.recv = st_recv,
	.teardown = us_teardown,
};

const struct bench_transport bench_t_unix_seqpacket = {
	.name = "unix-seqpacket",
	.kind = "kernel",
	.what = "AF_UNIX SOCK_SEQPACKET socketpair, one send per message",
	.ctx_size = sizeof(struct usock),
	.max_msg = sp_max_msg,
	.setup = sp_setup,
	.side_init = us_side_init,
	.send = sp_send,
	.recv = sp_recv,
	.teardown = us_teardown,
};
