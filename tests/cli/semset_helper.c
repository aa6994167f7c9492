/* SPDX-License-Identifier: MIT */
/* Makes and removes semaphore sets for the CLI test (the tool does not create them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmkit/sysv.h>

/*
 * semset_helper create KEY: a set of 3 at KEY, +2 on semaphore 1 with
 * SEM_UNDO, then exit: the process leaves a dead undo record behind.
 * semset_helper rmid KEY: IPC_RMID of the set at KEY.
 */
int
main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: semset_helper create|rmid KEY\n");
		return 2;
	}
	key_t key = (key_t)strtoul(argv[2], NULL, 0);
	if (strcmp(argv[1], "create") == 0) {
		int id = shmkit_semget(key, 3, IPC_CREAT | IPC_EXCL | 0600);
		struct sembuf op = {.sem_num = 1, .sem_op = 2, .sem_flg = SEM_UNDO};
		if (id < 0 || shmkit_semop(id, &op, 1) != 0) {
			perror("semset_helper create");
			return 1;
		}
		printf("%d\n", id);
		return 0;
	}
	if (strcmp(argv[1], "rmid") == 0) {
		int id = shmkit_semget(key, 0, 0);
		if (id < 0 || shmkit_semctl(id, 0, IPC_RMID) != 0) {
			perror("semset_helper rmid");
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "usage: semset_helper create|rmid KEY\n");
	return 2;
}
