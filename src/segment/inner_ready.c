/* SPDX-License-Identifier: MIT */
/* The bounded wait for an object's own ready word inside its segment. */
#include <errno.h>

#include "internal/creds.h"
#include "internal/platform.h"
#include "internal/ready.h"

int
shmkit__wait_inner_ready(_Atomic uint32_t *ready, uint32_t magic, const shmkit_segment *seg,
			 int64_t timeout_ns)
{
	int64_t end = shmkit__monotonic_ns() + timeout_ns;
	int64_t nap = 20000;
	/* Acquire pairs with the creator's release store of @magic. */
	while (atomic_load_explicit(ready, memory_order_acquire) != magic) {
		shmkit_segment_info info;
		if (atomic_load_explicit(ready, memory_order_relaxed) != 0) {
			return -EBADMSG;
		}
		if (shmkit_segment_info_get(seg, &info) == 0 && info.creator_alive == 0) {
			return -EOWNERDEAD;
		}
		if (shmkit__monotonic_ns() > end) {
			return -ETIMEDOUT;
		}
		shmkit__sleep_ns(nap);
		nap = nap < 1000000 ? nap * 2 : nap;
	}
	return 0;
}

int
shmkit__open_object_segment(shmkit_segment **seg, const char *spec, uint32_t kind)
{
	shmkit__creds_changed();
	shmkit_segment_opts o;
	shmkit_segment_opts_init(&o);
	o.kind = kind;
	o.flags = SHMKIT_SEGMENT_F_ANY_OWNER;
	return shmkit_segment_open(seg, spec, &o);
}
