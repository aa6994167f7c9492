/* SPDX-License-Identifier: MIT */
/* shmkit/shmkit.h - the umbrella header: include this one. */
#ifndef SHMKIT_SHMKIT_H
#define SHMKIT_SHMKIT_H

#include <shmkit/version.h>
#include <shmkit/common.h>
#include <shmkit/segment.h>
#include <shmkit/sync.h>
#include <shmkit/semset.h>
#include <shmkit/sysv.h>
#include <shmkit/queue.h>
#include <shmkit/ring.h>
#include <shmkit/bus.h>

#endif /* SHMKIT_SHMKIT_H */
