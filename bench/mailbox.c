/* SPDX-License-Identifier: MIT */
/* The sequence word the ping-pong rows pass along with each wake-up. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sync.h"

void
bench_mbox_init(struct bench_mbox *m)
{
	atomic_store_explicit(&m->dir[0].word, BENCH_MBOX_EMPTY, memory_order_relaxed);
	atomic_store_explicit(&m->dir[1].word, BENCH_MBOX_EMPTY, memory_order_relaxed);
}

int
bench_mbox_put(struct bench_mbox *m, enum bench_side from, const void *buf, size_t len)
{
	uint64_t v, prev;

	if (len != BENCH_WORD_MSG) {
		return -EMSGSIZE;
	}
	memcpy(&v, buf, sizeof(v));
	/* The semaphore under test orders this store before the peer's load;
	 * release/acquire here only keeps the check itself sound should it
	 * fail to. */
	prev = atomic_exchange_explicit(&m->dir[from].word, v, memory_order_release);
	return prev == BENCH_MBOX_EMPTY ? 0 : -EBUSY;
}

ssize_t
bench_mbox_take(struct bench_mbox *m, enum bench_side to, void *buf)
{
	uint64_t v = atomic_exchange_explicit(&m->dir[1 - to].word, BENCH_MBOX_EMPTY,
					      memory_order_acquire);

	if (v == BENCH_MBOX_EMPTY) {
		/* The wait returned with nothing posted for it. */
		return -ENOMSG;
	}
	memcpy(buf, &v, sizeof(v));
	return BENCH_WORD_MSG;
}

int
bench_mbox_end_check(struct bench_mbox *m, char *why, size_t whylen)
{
	for (int d = 0; d < 2; d++) {
		if (atomic_load_explicit(&m->dir[d].word, memory_order_acquire) !=
		    BENCH_MBOX_EMPTY) {
			snprintf(why, whylen, "a message from the %s was never taken",
				 d == BENCH_PARENT ? "parent" : "child");
			return -EPROTO;
		}
	}
	return 0;
}

size_t
bench_mbox_max_msg(char *why, size_t whylen)
{
	snprintf(why, whylen, "a ping-pong carries a sequence word only");
	return BENCH_WORD_MSG;
}
