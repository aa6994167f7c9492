/* SPDX-License-Identifier: MIT */
/* A System V program using only the kernel's calls, run as is and under the preload shim. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * It prints only what does not depend on the system below it (no ids, pids
 * or times), so its standard output is the same on the kernel and on
 * shmkit. On standard error it says whether its keyed queue and set are
 * visible in /proc/sysvipc (yes on the kernel, no under the shim).
 */

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

struct msg {
	long mtype;
	char mtext[64];
};

static const char *
ename(int e)
{
	switch (e) {
	case 0:
		return "0";
	case EINVAL:
		return "EINVAL";
	case EACCES:
		return "EACCES";
	case E2BIG:
		return "E2BIG";
	case ENOMSG:
		return "ENOMSG";
	case EAGAIN:
		return "EAGAIN";
	case EEXIST:
		return "EEXIST";
	case ENOENT:
		return "ENOENT";
	case EIDRM:
		return "EIDRM";
	default:
		return "other";
	}
}

static void
send(int q, long type, const char *text)
{
	struct msg m;
	m.mtype = type;
	strcpy(m.mtext, text);
	int rc = msgsnd(q, &m, strlen(text), IPC_NOWAIT);
	printf("msgsnd type %ld \"%s\": %d %s\n", type, text, rc, ename(rc < 0 ? errno : 0));
}

static void
recv(int q, size_t cap, long typ, int flg)
{
	struct msg m;
	memset(&m, 0, sizeof(m));
	errno = 0;
	ssize_t n = msgrcv(q, &m, cap, typ, flg);
	if (n < 0) {
		printf("msgrcv %ld cap %zu flags %#x: -1 %s\n", typ, cap, (unsigned)flg,
		       ename(errno));
	} else {
		printf("msgrcv %ld cap %zu flags %#x: %zd type %ld \"%.*s\"\n", typ, cap,
		       (unsigned)flg, n, m.mtype, (int)n, m.mtext);
	}
}

/* Is @key listed in /proc/sysvipc/@what? */
static int
visible(const char *what, key_t key)
{
	char path[64], line[512];
	int found = 0;
	snprintf(path, sizeof(path), "/proc/sysvipc/%s", what);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		long k;
		if (sscanf(line, "%ld", &k) == 1 && (key_t)k == key) {
			found = 1;
		}
	}
	fclose(f);
	return found;
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	key_t key = (key_t)(0x51000000 | (getpid() & 0xffffff));

	/* Queues: a private one and a keyed one. */
	int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	int kq = msgget(key, IPC_CREAT | IPC_EXCL | 0640);
	printf("msgget: %s %s\n", q >= 0 ? "ok" : "fail", kq >= 0 ? "ok" : "fail");
	printf("msgget same key: %s\n", msgget(key, 0) == kq ? "same id" : "different");
	int rc = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
	printf("msgget IPC_EXCL again: %d %s\n", rc, ename(rc < 0 ? errno : 0));
	send(q, 3, "three-a");
	send(q, 1, "one");
	send(q, 2, "two");
	send(q, 3, "three-b");
	send(q, 5, "five");
	send(q, 0, "zero");
	recv(q, 64, 3, IPC_NOWAIT);
	recv(q, 64, -2, IPC_NOWAIT);
	recv(q, 64, 5, IPC_NOWAIT | MSG_EXCEPT);
	recv(q, 2, 0, IPC_NOWAIT);
	recv(q, 2, 0, IPC_NOWAIT | MSG_NOERROR);
	recv(q, 64, 0, IPC_NOWAIT);
	recv(q, 64, 0, IPC_NOWAIT);
	struct msqid_ds ds;
	msgctl(q, IPC_STAT, &ds);
	printf("IPC_STAT: qnum %lu cbytes %lu qbytes %lu mode %o\n", (unsigned long)ds.msg_qnum,
	       (unsigned long)ds.msg_cbytes, (unsigned long)ds.msg_qbytes,
	       (unsigned)ds.msg_perm.mode & 0777);

	/* A blocked receiver in a child, woken by a send. */
	pid_t pid = fork();
	if (pid == 0) {
		struct msg m;
		ssize_t n = msgrcv(q, &m, sizeof(m.mtext), 9, 0);
		_exit(n == 4 && m.mtype == 9 && memcmp(m.mtext, "nine", 4) == 0 ? 0 : 1);
	}
	usleep(100000);
	send(q, 9, "nine");
	int st;
	waitpid(pid, &st, 0);
	printf("blocked child: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "got nine" : "wrong");

	/* Semaphores, with SEM_UNDO undone at a child's exit. */
	int s = semget(key, 2, IPC_CREAT | IPC_EXCL | 0600);
	printf("semget: %s\n", s >= 0 ? "ok" : "fail");
	unsigned short init[2] = {3, 0};
	union semun arg = {.array = init};
	printf("SETALL: %d\n", semctl(s, 0, SETALL, arg));
	pid = fork();
	if (pid == 0) {
		struct sembuf ops[2] = {{0, -2, SEM_UNDO}, {1, 5, SEM_UNDO}};
		int r = semop(s, ops, 2);
		printf("child semop: %d, values %d %d\n", r, semctl(s, 0, GETVAL),
		       semctl(s, 1, GETVAL));
		_exit(0);
	}
	waitpid(pid, &st, 0);
	printf("after child exit: values %d %d\n", semctl(s, 0, GETVAL), semctl(s, 1, GETVAL));
	struct sembuf take = {1, -1, IPC_NOWAIT};
	rc = semop(s, &take, 1);
	printf("semop on zero, IPC_NOWAIT: %d %s\n", rc, ename(rc < 0 ? errno : 0));
	arg.val = 7;
	semctl(s, 1, SETVAL, arg);
	printf("SETVAL 7, GETVAL: %d\n", semctl(s, 1, GETVAL));

	fprintf(stderr, "visible: msg=%d sem=%d\n", visible("msg", key), visible("sem", key));

	/* As root: a child that used the queue and then gives up root is
	 * refused by the queue's mode 0600 (a library that cached root's
	 * credentials would let it in). Printed the same without root. */
	pid = fork();
	if (pid == 0) {
		struct msg m = {.mtype = 1};
		int before = msgsnd(q, &m, 1, IPC_NOWAIT);
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
			_exit(2);
		}
		errno = 0;
		int after = geteuid() == 0 ? 0 : msgsnd(q, &m, 1, IPC_NOWAIT);
		int err = errno;
		printf("child after setuid: msgsnd %d then %d %s\n", before,
		       getuid() == 65534 ? after : -1, getuid() == 65534 ? ename(err) : "EACCES");
		_exit(0);
	}
	waitpid(pid, &st, 0);
	recv(q, 64, 0, IPC_NOWAIT);

	printf("IPC_RMID: %d %d %d\n", msgctl(q, IPC_RMID, NULL), msgctl(kq, IPC_RMID, NULL),
	       semctl(s, 0, IPC_RMID));
	struct msg m = {.mtype = 1};
	rc = msgsnd(q, &m, 1, IPC_NOWAIT);
	printf("msgsnd after IPC_RMID: %d %s\n", rc, ename(rc < 0 ? errno : 0));
	rc = msgget(key, 0);
	printf("msgget removed key: %d %s\n", rc, ename(rc < 0 ? errno : 0));
	return 0;
}
