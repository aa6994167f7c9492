/* SPDX-License-Identifier: MIT */
/* Kernel row: a TCP connection over loopback with Nagle's algorithm off. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/*
 * The parent listens on 127.0.0.1 with port 0, so the kernel picks a free
 * ephemeral port, connects to itself and accepts, all before the fork; the
 * listening socket is closed at once, so only the connected pair remains.
 * TCP_NODELAY keeps small pings from waiting for the previous reply's ACK.
 */
struct tcp {
	int fd[2]; /* [0] parent's end, [1] child's end */
	int mine;
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
nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ? -errno : 0;
}

static int
tcp_setup(void *ctx, size_t msg_size)
{
	struct tcp *t = ctx;
	struct sockaddr_in addr = {0};
	socklen_t alen = sizeof(addr);
	int lfd, rc = 0;

	(void)msg_size;
	t->fd[0] = t->fd[1] = t->mine = -1;
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		return -errno;
	}
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
		rc = -errno;
		goto out;
	}
	t->fd[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->fd[0] < 0) {
		rc = -errno;
		goto out;
	}
	/* The backlog completes the handshake, so a blocking connect to our
	 * own listener returns before accept is called. */
	if (connect(t->fd[0], (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		goto out;
	}
	t->fd[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (t->fd[1] < 0) {
		rc = -errno;
		goto out;
	}
	rc = nodelay(t->fd[0]);
	if (rc == 0) {
		rc = nodelay(t->fd[1]);
	}
out:
	close(lfd);
	if (rc < 0) {
		close_fd(&t->fd[0]);
		close_fd(&t->fd[1]);
	}
	return rc;
}

static int
tcp_side_init(void *ctx, enum bench_side side)
{
	struct tcp *t = ctx;

	t->mine = t->fd[side];
	close_fd(&t->fd[1 - side]);
	return 0;
}

static int
tcp_send(void *ctx, const void *buf, size_t len)
{
	struct tcp *t = ctx;

	return bench_write_full(t->mine, buf, len);
}

static ssize_t
tcp_recv(void *ctx, void *buf, size_t len)
{
	struct tcp *t = ctx;

	return bench_read_full(t->mine, buf, len);
}

static void
tcp_teardown(void *ctx)
{
	struct tcp *t = ctx;

	close_fd(&t->fd[0]);
	close_fd(&t->fd[1]);
	t->mine = -1;
}

const struct bench_transport bench_t_tcp = {
	.name = "tcp",
	.kind = "kernel",
	.what = "TCP over loopback 127.0.0.1, TCP_NODELAY, ephemeral port",
	.ctx_size = sizeof(struct tcp),
	.max_msg = bench_max_msg_none,
	.setup = tcp_setup,
	.side_init = tcp_side_init,
	.send = tcp_send,
	.recv = tcp_recv,
	.teardown = tcp_teardown,
};
