/* SPDX-License-Identifier: MIT */
/* The rows of shmkit-bench-sync, in the order of its tables. */
#include "sync.h"

/*
 * A new row is one definition (m_*.c for the one-process rows, t_*.c for a
 * ping-pong) plus one line here and one in CMakeLists.txt. Within a group
 * the shmkit rows come first, then what they replace.
 */
extern const struct bench_micro bench_m_shmkit_mutex;
extern const struct bench_micro bench_m_pthread_robust;
extern const struct bench_micro bench_m_pthread_pshared;
extern const struct bench_micro bench_m_pthread_plain;
extern const struct bench_micro bench_m_shmkit_semop;
extern const struct bench_micro bench_m_shmkit_semset;
extern const struct bench_micro bench_m_sysv_semop;
extern const struct bench_micro bench_m_shmkit_semop_undo;
extern const struct bench_micro bench_m_sysv_semop_undo;
extern const struct bench_micro bench_m_shmkit_sem;
extern const struct bench_micro bench_m_posix_sem;

const struct bench_micro *const bench_micros[] = {
	&bench_m_shmkit_mutex,  &bench_m_pthread_robust,    &bench_m_pthread_pshared,
	&bench_m_pthread_plain, &bench_m_shmkit_semop,      &bench_m_shmkit_semset,
	&bench_m_sysv_semop,    &bench_m_shmkit_semop_undo, &bench_m_sysv_semop_undo,
	&bench_m_shmkit_sem,    &bench_m_posix_sem,
};

const size_t bench_nmicros = sizeof(bench_micros) / sizeof(bench_micros[0]);

/* The bare futex floor of shmkit-bench is the reference: same method. */
extern const struct bench_transport bench_t_futex;
extern const struct bench_transport bench_t_sem_shmkit;
extern const struct bench_transport bench_t_sem_semset;
extern const struct bench_transport bench_t_sem_semop;
extern const struct bench_transport bench_t_sem_sysv;
extern const struct bench_transport bench_t_sem_posix;

const struct bench_transport *const bench_pingpongs[] = {
	&bench_t_futex,     &bench_t_sem_shmkit, &bench_t_sem_semset,
	&bench_t_sem_semop, &bench_t_sem_sysv,   &bench_t_sem_posix,
};

const size_t bench_npingpongs = sizeof(bench_pingpongs) / sizeof(bench_pingpongs[0]);
