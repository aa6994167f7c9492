/* SPDX-License-Identifier: MIT */
/* Named crash points of the testing library: SIGKILL at a chosen protocol step. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "internal/crashpoint.h"

void
shmkit__crashpoint(const char *name)
{
	/* getenv on every pass keeps this stateless; crash points sit on slow
	 * paths (creation, recovery) only, never on a fast path. */
	const char *want = getenv("SHMKIT_CRASHPOINT");
	if (want != NULL && strcmp(want, name) == 0) {
		raise(SIGKILL);
	}
}
