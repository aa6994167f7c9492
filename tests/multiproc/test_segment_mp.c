/* SPDX-License-Identifier: MIT */
/* Several processes on one segment: writers attached by name, attach counts, removal, fd passing.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "harness.h"
#include "segtest.h"
#include "internal/header.h"

/*
 * Data layout of the writer test: a results table of one slot per writer,
 * then one stripe per writer. The parent fills the whole area with pattern
 * A first; writer i checks that its stripe holds A (it sees the parent's
 * writes), writes pattern B+i, and fills its slot: length and CRC-32 of what
 * it wrote, then a magic.
 */
#define SLOT_MAGIC  0x57524954u /* "WRIT" */
#define TABLE_BYTES 256u        /* room for 16 slots */

struct slot {
	uint32_t magic;
	uint32_t crc;
	uint64_t len;
};

static void
stripe_of(size_t size, unsigned nwriters, unsigned i, size_t *off, size_t *len)
{
	size_t each = (size - TABLE_BYTES) / nwriters;

	*off = TABLE_BYTES + (size_t)i * each;
	*len = each;
}

/* The spec by which a helper reaches @s (memfd: through our descriptor). */
static const char *
child_spec(const char *spec, shmkit_segment *s, char *buf, size_t len)
{
	if (strncmp(spec, "memfd:", 6) == 0) {
		snprintf(buf, len, "memfd:pid=%d,fd=%d", (int)getpid(), shmkit_segment_fd(s));
	} else {
		snprintf(buf, len, "%s", spec);
	}
	return buf;
}

/* argv: write SPEC SIZE SEED_A NWRITERS INDEX SEED_B */
CHILD(write)
{
	shmkit_segment *s;
	unsigned char *data, *expect;
	struct slot *slot;
	size_t size, off, len;
	uint64_t seed_a, seed_b;
	unsigned n, i;

	ASSERT_EQ(argc, 7);
	size = (size_t)th_parse_u64(argv[2]);
	seed_a = th_parse_u64(argv[3]);
	n = (unsigned)th_parse_u64(argv[4]);
	i = (unsigned)th_parse_u64(argv[5]);
	seed_b = th_parse_u64(argv[6]);

	th_context("writer %u of %u, %s", i, n, argv[1]);
	s = seg_open(argv[1], 0);
	ASSERT_EQ(shmkit_segment_size(s), size);
	ASSERT_OK(shmkit_segment_check(s));
	data = shmkit_segment_data(s);
	stripe_of(size, n, i, &off, &len);

	/* The parent's pattern is visible in our stripe. */
	expect = malloc(size);
	ASSERT_TRUE(expect != NULL);
	th_fill(expect, size, seed_a);
	if (memcmp(data + off, expect + off, len) != 0) {
		th_fail(__FILE__, __LINE__, "writer %u: parent's pattern not seen", i);
	}
	free(expect);

	th_fill(data + off, len, seed_b + i);
	slot = (struct slot *)(void *)(data + i * sizeof(struct slot));
	slot->len = len;
	slot->crc = th_crc32(data + off, len);
	__atomic_store_n(&slot->magic, SLOT_MAGIC, __ATOMIC_RELEASE);
	ASSERT_EQ(shmkit_segment_close(s), 0);
	return 0;
}

static void
writers(const char *backend, uint64_t asked, unsigned nwriters)
{
	char spec[TH_SPEC_MAX], cspec[TH_SPEC_MAX];
	char a_size[32], a_seed[32], a_n[16], a_i[16], a_seedb[32];
	pid_t pids[16];
	shmkit_segment *s;
	unsigned char *data, *expect;
	size_t size, off, len;
	const uint64_t seed_a = 1000 + asked, seed_b = 5000 + nwriters;

	th_spec(spec, sizeof(spec), backend);
	s = seg_create(spec, asked, 0);
	size = shmkit_segment_size(s);
	ASSERT_GE(size, asked);
	/* Page rounding is handed to the user. */
	ASSERT_GE(size + SHMKIT_DATA_OFFSET, 4096);
	data = shmkit_segment_data(s);
	th_fill(data, size, seed_a);

	child_spec(spec, s, cspec, sizeof(cspec));
	snprintf(a_size, sizeof(a_size), "%zu", size);
	snprintf(a_seed, sizeof(a_seed), "%llu", (unsigned long long)seed_a);
	snprintf(a_n, sizeof(a_n), "%u", nwriters);
	snprintf(a_seedb, sizeof(a_seedb), "%llu", (unsigned long long)seed_b);
	for (unsigned i = 0; i < nwriters; i++) {
		snprintf(a_i, sizeof(a_i), "%u", i);
		pids[i] = th_spawn("write", cspec, a_size, a_seed, a_n, a_i, a_seedb, NULL);
	}
	for (unsigned i = 0; i < nwriters; i++) {
		ASSERT_EXIT(th_wait(pids[i]), 0);
	}

	for (unsigned i = 0; i < nwriters; i++) {
		struct slot *slot = (struct slot *)(void *)(data + i * sizeof(*slot));

		stripe_of(size, nwriters, i, &off, &len);
		ASSERT_EQ(__atomic_load_n(&slot->magic, __ATOMIC_ACQUIRE), SLOT_MAGIC);
		ASSERT_EQ(slot->len, len);
		ASSERT_EQ(th_check_fill(data + off, len, seed_b + i), -1);
		ASSERT_EQ(slot->crc, th_crc32(data + off, len));
	}
	/* Bytes past the last stripe still hold the parent's pattern. */
	stripe_of(size, nwriters, nwriters, &off, &len);
	expect = malloc(size);
	ASSERT_TRUE(expect != NULL);
	th_fill(expect, size, seed_a);
	ASSERT_EQ(memcmp(data + off, expect + off, size - off), 0);
	free(expect);

	if (strcmp(backend, "memfd") == 0) {
		ASSERT_EQ(shmkit_segment_close(s), 0);
	} else {
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
		ASSERT_EQ(seg_exists(spec), 0);
	}
}

static void
writers_all(const char *backend)
{
	static const uint64_t sizes[] = {1, 4096, (1u << 20) + 5};
	static const unsigned counts[] = {1, 4};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t j = 0; j < sizeof(counts) / sizeof(counts[0]); j++) {
			writers(backend, sizes[i], counts[j]);
		}
	}
}

TEST(writers_posix)
{
	writers_all("posix");
}

TEST(writers_sysv)
{
	writers_all("sysv");
}

TEST(writers_file)
{
	writers_all("file");
}

TEST(writers_memfd)
{
	writers_all("memfd");
}

/* ---- open_or_create race ---- */

#define OC_PROCS 6

/* argv: oc SPEC SIZE INDEX GATE_FD. Exit 10 + open_or_create's result. */
CHILD(oc)
{
	shmkit_segment_opts o;
	shmkit_segment *s = NULL;
	char c;
	unsigned idx;
	int rc, gate;

	ASSERT_EQ(argc, 5);
	o = seg_opts(th_parse_u64(argv[2]), 0);
	idx = (unsigned)th_parse_u64(argv[3]);
	gate = (int)th_parse_u64(argv[4]);
	th_context("open_or_create racer %u, %s", idx, argv[1]);
	/* Everybody starts when the parent closes the gate's write end. */
	while (read(gate, &c, 1) > 0) {
	}
	rc = shmkit_segment_open_or_create(&s, argv[1], &o);
	ASSERT_IN(rc, 0, 1);
	ASSERT_GE(shmkit_segment_size(s), o.size);
	{
		shmkit_segment_info *info = calloc(1, sizeof(*info));
		ASSERT_TRUE(info != NULL);
		ASSERT_OK(shmkit_segment_info_get(s, info));
		ASSERT_EQ(info->state, SHMKIT_STATE_READY);
		free(info);
	}
	((volatile unsigned char *)shmkit_segment_data(s))[idx] = (unsigned char)(0x80 | idx);
	ASSERT_EQ(shmkit_segment_close(s), 0);
	return 10 + rc;
}

static void
oc_race(const char *backend)
{
	for (int round = 0; round < 3; round++) {
		char spec[TH_SPEC_MAX], a_i[16], a_fd[16];
		pid_t pids[OC_PROCS];
		shmkit_segment *s;
		unsigned char *d;
		int gate[2], created = 0;

		th_spec(spec, sizeof(spec), backend);
		ASSERT_SYS(pipe(gate));
		ASSERT_SYS(fcntl(gate[1], F_SETFD, FD_CLOEXEC));
		snprintf(a_fd, sizeof(a_fd), "%d", gate[0]);
		for (int i = 0; i < OC_PROCS; i++) {
			snprintf(a_i, sizeof(a_i), "%d", i);
			pids[i] = th_spawn("oc", spec, "8192", a_i, a_fd, NULL);
		}
		close(gate[0]);
		close(gate[1]);
		for (int i = 0; i < OC_PROCS; i++) {
			int st = th_wait(pids[i]);
			char b[64];
			if (!WIFEXITED(st) || (WEXITSTATUS(st) != 10 && WEXITSTATUS(st) != 11)) {
				th_fail(__FILE__, __LINE__, "open_or_create helper %d: %s", i,
					th_status_str(st, b, sizeof(b)));
			}
			created += WEXITSTATUS(st) == 11;
		}
		ASSERT_EQ(created, 1);
		s = seg_open(spec, 0);
		d = shmkit_segment_data(s);
		for (int i = 0; i < OC_PROCS; i++) {
			ASSERT_EQ(d[i], 0x80 | i);
		}
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
		ASSERT_EQ(seg_exists(spec), 0);
	}
}

TEST(open_or_create_race_posix)
{
	oc_race("posix");
}

TEST(open_or_create_race_sysv)
{
	oc_race("sysv");
}

TEST(open_or_create_race_file)
{
	oc_race("file");
}

/* ---- a helper that holds a segment open on command ---- */

/*
 * argv: hold SPEC CMD_FD ACK_FD. Opens SPEC and acks 'o'; then per command
 * byte: 'w' fills the data area with pattern 42 and acks 'w'; 'r' checks
 * pattern 43 and acks 'r' (or 'x'); 'c' closes and acks 'c'. Exits at EOF.
 */
CHILD(hold)
{
	shmkit_segment *s;
	int cmd, ack;
	char c;

	ASSERT_EQ(argc, 4);
	cmd = (int)th_parse_u64(argv[2]);
	ack = (int)th_parse_u64(argv[3]);
	th_context("holder of %s", argv[1]);
	s = seg_open(argv[1], 0);
	ASSERT_EQ(th_write_all(ack, "o", 1), 0);
	while (th_read_all(cmd, &c, 1) == 0) {
		switch (c) {
		case 'w':
			th_fill(shmkit_segment_data(s), shmkit_segment_size(s), 42);
			break;
		case 'r':
			if (th_check_fill(shmkit_segment_data(s), shmkit_segment_size(s), 43) !=
			    -1) {
				c = 'x';
			}
			break;
		case 'c':
			ASSERT_EQ(shmkit_segment_close(s), 0);
			s = NULL;
			break;
		default:
			return 2;
		}
		ASSERT_EQ(th_write_all(ack, &c, 1), 0);
	}
	shmkit_segment_close(s);
	return 0;
}

struct holder {
	pid_t pid;
	int cmd, ack;
};

static struct holder
hold(const char *spec)
{
	struct holder h;
	int cmd[2], ack[2];
	char a_cmd[16], a_ack[16], c;

	ASSERT_SYS(pipe(cmd));
	ASSERT_SYS(pipe(ack));
	ASSERT_SYS(fcntl(cmd[1], F_SETFD, FD_CLOEXEC));
	ASSERT_SYS(fcntl(ack[0], F_SETFD, FD_CLOEXEC));
	snprintf(a_cmd, sizeof(a_cmd), "%d", cmd[0]);
	snprintf(a_ack, sizeof(a_ack), "%d", ack[1]);
	h.pid = th_spawn("hold", spec, a_cmd, a_ack, NULL);
	close(cmd[0]);
	close(ack[1]);
	h.cmd = cmd[1];
	h.ack = ack[0];
	ASSERT_EQ(th_read_all(h.ack, &c, 1), 0);
	ASSERT_EQ(c, 'o');
	return h;
}

static void
holder_do(struct holder *h, char cmd)
{
	char c;

	ASSERT_EQ(th_write_all(h->cmd, &cmd, 1), 0);
	ASSERT_EQ(th_read_all(h->ack, &c, 1), 0);
	ASSERT_EQ(c, cmd);
}

static void
holder_end(struct holder *h)
{
	close(h->cmd);
	ASSERT_EXIT(th_wait(h->pid), 0);
	close(h->ack);
}

static int64_t
nattch_of(int id)
{
	struct shmid_ds ds;

	ASSERT_SYS(shmctl(id, IPC_STAT, &ds));
	return (int64_t)ds.shm_nattch;
}

static int64_t
info_nattch(const char *spec, shmkit_segment *s)
{
	shmkit_segment_info *info = calloc(1, sizeof(*info));
	int64_t n, m;

	ASSERT_TRUE(info != NULL);
	ASSERT_OK(shmkit_segment_info_get(s, info));
	n = info->nattch;
	ASSERT_OK(shmkit_segment_stat(spec, info));
	m = info->nattch;
	free(info);
	/* stat may attach briefly itself; it reports what it found before. */
	ASSERT_EQ(n, m);
	return n;
}

TEST(sysv_nattch_across_processes)
{
	char spec[TH_SPEC_MAX];
	struct holder h[3];
	shmkit_segment *s;
	int id;

	th_spec(spec, sizeof(spec), "sysv");
	s = seg_create(spec, 4096, 0);
	id = seg_sysv_id(spec);
	ASSERT_EQ(nattch_of(id), 1);
	ASSERT_EQ(info_nattch(spec, s), 1);

	for (int i = 0; i < 3; i++) {
		h[i] = hold(spec);
		ASSERT_EQ(nattch_of(id), 2 + i);
		ASSERT_EQ(info_nattch(spec, s), 2 + i);
	}
	holder_do(&h[1], 'c');
	ASSERT_EQ(nattch_of(id), 3);
	ASSERT_EQ(info_nattch(spec, s), 3);
	holder_end(&h[1]);
	ASSERT_EQ(nattch_of(id), 3);
	/* A holder that exits without closing is detached by the kernel. */
	holder_end(&h[0]);
	ASSERT_EQ(nattch_of(id), 2);
	holder_do(&h[2], 'w');
	ASSERT_EQ(th_check_fill(shmkit_segment_data(s), shmkit_segment_size(s), 42), -1);
	holder_do(&h[2], 'c');
	ASSERT_EQ(info_nattch(spec, s), 1);
	holder_end(&h[2]);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
}

TEST(sysv_remove_while_attached_elsewhere)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment_info *info = calloc(1, sizeof(*info));
	struct holder h;
	shmkit_segment *s;
	struct shmid_ds ds;
	int id;

	ASSERT_TRUE(info != NULL);
	th_spec(spec, sizeof(spec), "sysv");
	s = seg_create(spec, 8192, 0);
	id = seg_sysv_id(spec);
	h = hold(spec);
	ASSERT_EQ(nattch_of(id), 2);

	ASSERT_EQ(shmkit_segment_remove(spec), 0);
	ASSERT_EQ(seg_exists(spec), 0);
	ASSERT_ERR(seg_open_rc(spec, 0, 100), -ENOENT);
	ASSERT_OK(shmkit_segment_info_get(s, info));
	ASSERT_EQ(info->removed, 1);
	ASSERT_ERR(shmkit_segment_check(s), -EIDRM);

	/* Both processes still share the memory. */
	holder_do(&h, 'w');
	ASSERT_EQ(th_check_fill(shmkit_segment_data(s), shmkit_segment_size(s), 42), -1);
	th_fill(shmkit_segment_data(s), shmkit_segment_size(s), 43);
	holder_do(&h, 'r');

	/* The key can be reused by a new segment meanwhile. */
	{
		shmkit_segment *n = seg_create(spec, 4096, 0);
		ASSERT_NE(seg_sysv_id(spec), id);
		ASSERT_EQ(shmkit_segment_destroy(n), 0);
	}

	ASSERT_EQ(shmkit_segment_close(s), 0);
	ASSERT_EQ(nattch_of(id), 1);
	holder_do(&h, 'c');
	/* Gone at the last detach. */
	ASSERT_EQ(shmctl(id, IPC_STAT, &ds), -1);
	holder_end(&h);
	free(info);
}

TEST(posix_file_remove_while_mapped_elsewhere)
{
	for (size_t b = 0; b < 3; b += 2) {
		char spec[TH_SPEC_MAX];
		struct holder h;
		shmkit_segment *s;

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		s = seg_create(spec, 8192, 0);
		h = hold(spec);
		ASSERT_EQ(shmkit_segment_remove(spec), 0);
		ASSERT_EQ(seg_exists(spec), 0);
		ASSERT_ERR(seg_open_rc(spec, 0, 100), -ENOENT);
		holder_do(&h, 'w');
		ASSERT_EQ(th_check_fill(shmkit_segment_data(s), shmkit_segment_size(s), 42), -1);
		th_fill(shmkit_segment_data(s), shmkit_segment_size(s), 43);
		holder_do(&h, 'r');
		holder_do(&h, 'c');
		holder_end(&h);
		ASSERT_EQ(shmkit_segment_close(s), 0);
	}
}

/* A peer truncates a segment another process has mapped: check() tells both. */
TEST(peer_truncates)
{
	for (size_t b = 0; b < 3; b += 2) {
		char spec[TH_SPEC_MAX];
		shmkit_segment *s;
		pid_t pid;

		th_spec(spec, sizeof(spec), seg_named_backends[b]);
		s = seg_create(spec, 64 * 1024, 0);
		pid = th_fork();
		if (pid == 0) {
			seg_raw_truncate(spec, 4096);
			th_exit(0);
		}
		ASSERT_EXIT(th_wait(pid), 0);
		ASSERT_ERR(shmkit_segment_check(s), -EBADMSG);
		ASSERT_ERR(seg_open_rc(spec, 0, 100), -EBADMSG);
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
	}
}

/* ---- descriptor passing ---- */

/* argv: recv SOCK_FD SEED. Receives a segment, fills it, exits 0. */
CHILD(recv)
{
	shmkit_segment *s = NULL;
	int sock;

	ASSERT_EQ(argc, 3);
	sock = (int)th_parse_u64(argv[1]);
	ASSERT_OK(shmkit_segment_recv_fd(&s, sock, NULL));
	ASSERT_TRUE(s != NULL);
	ASSERT_OK(shmkit_segment_check(s));
	th_fill(shmkit_segment_data(s), shmkit_segment_size(s), th_parse_u64(argv[2]));
	ASSERT_EQ(shmkit_segment_close(s), 0);
	return 0;
}

static void
pass_fd(const char *backend, int reexec)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s;
	int sv[2];
	pid_t pid;

	th_spec(spec, sizeof(spec), backend);
	s = seg_create(spec, 12345, 0);
	ASSERT_SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ASSERT_SYS(fcntl(sv[0], F_SETFD, FD_CLOEXEC));
	if (reexec) {
		char a_fd[16];
		snprintf(a_fd, sizeof(a_fd), "%d", sv[1]);
		pid = th_spawn("recv", a_fd, "61", NULL);
	} else {
		pid = th_fork();
		if (pid == 0) {
			shmkit_segment *mine = NULL;
			close(sv[0]);
			ASSERT_OK(shmkit_segment_recv_fd(&mine, sv[1], NULL));
			/*
			 * The handle reports the object's real backend: memfd, or
			 * posix/file. A /dev/shm object is a file too, so posix may
			 * be reported as file; never as memfd.
			 */
			if (strcmp(backend, "posix") == 0) {
				ASSERT_IN(shmkit_segment_backend(mine), SHMKIT_BACKEND_POSIX,
					  SHMKIT_BACKEND_FILE);
			} else {
				ASSERT_EQ(shmkit_segment_backend(mine), seg_backend_of(backend));
			}
			ASSERT_EQ(shmkit_segment_size(mine), shmkit_segment_size(s));
			/* A separate mapping of the same memory. */
			ASSERT_TRUE(shmkit_segment_data(mine) != shmkit_segment_data(s));
			th_fill(shmkit_segment_data(mine), shmkit_segment_size(mine), 61);
			ASSERT_EQ(shmkit_segment_close(mine), 0);
			th_exit(0);
		}
	}
	close(sv[1]);
	ASSERT_EQ(shmkit_segment_send_fd(s, sv[0]), 0);
	ASSERT_EXIT(th_wait(pid), 0);
	ASSERT_EQ(th_check_fill(shmkit_segment_data(s), shmkit_segment_size(s), 61), -1);
	close(sv[0]);
	if (strcmp(backend, "memfd") == 0) {
		ASSERT_EQ(shmkit_segment_close(s), 0);
	} else {
		ASSERT_EQ(shmkit_segment_destroy(s), 0);
	}
}

TEST(send_fd_memfd)
{
	pass_fd("memfd", 0);
	pass_fd("memfd", 1);
}

TEST(send_fd_posix_file)
{
	pass_fd("posix", 0);
	pass_fd("posix", 1);
	pass_fd("file", 0);
	pass_fd("file", 1);
}

TEST(send_fd_sysv_unsupported)
{
	char spec[TH_SPEC_MAX];
	shmkit_segment *s;
	int sv[2];

	th_spec(spec, sizeof(spec), "sysv");
	s = seg_create(spec, 4096, 0);
	ASSERT_SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_ERR(shmkit_segment_send_fd(s, sv[0]), -EOPNOTSUPP);
	close(sv[0]);
	close(sv[1]);
	ASSERT_EQ(shmkit_segment_destroy(s), 0);
}

TEST(recv_fd_errors)
{
	shmkit_segment *s = NULL;
	int sv[2];

	/* A message without a descriptor. */
	ASSERT_SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(write(sv[0], "x", 1), 1);
	ASSERT_ERR(shmkit_segment_recv_fd(&s, sv[1], NULL), -EPROTO);
	ASSERT_TRUE(s == NULL);
	/* The peer closed. */
	close(sv[0]);
	ASSERT_ERR(shmkit_segment_recv_fd(&s, sv[1], NULL), -ECONNRESET);
	ASSERT_TRUE(s == NULL);
	close(sv[1]);
}

/* Send @fd with SCM_RIGHTS and a one-byte payload, as send_fd does. */
static void
send_raw_fd(int sock, int fd)
{
	char byte = 0;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg;
	struct cmsghdr *c;

	memset(&msg, 0, sizeof(msg));
	memset(&u, 0, sizeof(u));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ASSERT_EQ(sendmsg(sock, &msg, 0), 1);
}

/* A valid shmkit object in a memfd of @size bytes, sealed with @seals. */
static int
handmade_memfd(uint64_t size, unsigned seals)
{
	int fd = memfd_create("handmade", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *p;

	ASSERT_SYS(fd);
	ASSERT_SYS(ftruncate(fd, (off_t)size));
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	shmkit__header_init(p, SHMKIT_KIND_SEGMENT, size, SHMKIT_DATA_OFFSET,
			    size - SHMKIT_DATA_OFFSET);
	shmkit__header_publish(p);
	ASSERT_SYS(munmap(p, size));
	ASSERT_SYS(fchmod(fd, 0600));
	if (seals) {
		ASSERT_SYS(fcntl(fd, F_ADD_SEALS, seals));
	}
	return fd;
}

/* A memfd that the sender could still shrink is refused by the receiver. */
TEST(recv_fd_requires_seals)
{
	static const unsigned seal_sets[] = {
		0,
		F_SEAL_GROW,
		F_SEAL_SHRINK,
		F_SEAL_SHRINK | F_SEAL_GROW,
	};

	for (size_t i = 0; i < sizeof(seal_sets) / sizeof(seal_sets[0]); i++) {
		shmkit_segment *s = NULL;
		int sv[2], fd, rc;

		fd = handmade_memfd(8192, seal_sets[i]);
		ASSERT_SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		send_raw_fd(sv[0], fd);
		rc = shmkit_segment_recv_fd(&s, sv[1], NULL);
		if (seal_sets[i] == (F_SEAL_SHRINK | F_SEAL_GROW)) {
			ASSERT_EQ(rc, 0);
			ASSERT_EQ(shmkit_segment_size(s), 8192 - SHMKIT_DATA_OFFSET);
			ASSERT_EQ(shmkit_segment_close(s), 0);
		} else {
			if (rc >= 0) {
				th_fail(__FILE__, __LINE__,
					"recv_fd accepted a memfd with seals 0x%x", seal_sets[i]);
			}
			ASSERT_TRUE(s == NULL);
		}
		close(sv[0]);
		close(sv[1]);
		close(fd);
	}
}

/* A received object is validated like one opened by name. */
TEST(recv_fd_validates_header)
{
	char spec[TH_SPEC_MAX], path[PATH_MAX];
	shmkit_segment *s = NULL;
	int sv[2], fd;

	/* A foreign file. */
	th_spec(spec, sizeof(spec), "file");
	fd = open(seg_path(spec, path, sizeof(path)), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_SYS(fd);
	ASSERT_SYS(ftruncate(fd, 8192));
	ASSERT_SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	send_raw_fd(sv[0], fd);
	ASSERT_ERR(shmkit_segment_recv_fd(&s, sv[1], NULL), -EMEDIUMTYPE);
	ASSERT_TRUE(s == NULL);
	/* A pipe is no segment at all. */
	{
		int p[2];
		ASSERT_SYS(pipe2(p, O_CLOEXEC));
		send_raw_fd(sv[0], p[0]);
		ASSERT_LT(shmkit_segment_recv_fd(&s, sv[1], NULL), 0);
		ASSERT_TRUE(s == NULL);
		close(p[0]);
		close(p[1]);
	}
	close(sv[0]);
	close(sv[1]);
	close(fd);
}
