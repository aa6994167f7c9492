/* SPDX-License-Identifier: MIT */
/* Named crash points for crash tests; compiled out of release libraries. */
#ifndef SHMKIT_INTERNAL_CRASHPOINT_H
#define SHMKIT_INTERNAL_CRASHPOINT_H

#ifdef SHMKIT_TESTING
/*
 * In the testing library, SHMKIT_CRASHPOINT("x") kills the process with
 * SIGKILL when the environment variable SHMKIT_CRASHPOINT equals "x", so a
 * test can stop a process at every step of a protocol.
 */
void shmkit__crashpoint(const char *name);
#define SHMKIT_CRASHPOINT(name) shmkit__crashpoint(name)
#else
#define SHMKIT_CRASHPOINT(name) ((void)0)
#endif

#endif
