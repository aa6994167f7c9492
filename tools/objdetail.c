/* SPDX-License-Identifier: MIT */
/* What ls and stat show inside objects of a known kind (semaphore sets, queues). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmkit/shmkit.h>

#include "util.h"

const char *
cli_kind_name(uint32_t kind)
{
	switch (kind) {
	case SHMKIT_KIND_SEGMENT:
		return "segment";
	case SHMKIT_KIND_SEMSET:
		return "semset";
	case SHMKIT_KIND_QUEUE:
		return "queue";
	default:
		return NULL;
	}
}

int
cli_semset_summary(const shmkit_segment_info *info, char *buf, size_t len)
{
	shmkit_semset *s = NULL;
	shmkit_semset_info si;
	int rc;

	if (!info->is_shmkit || info->kind != SHMKIT_KIND_SEMSET) {
		return -EINVAL;
	}
	rc = shmkit_semset_open(&s, info->spec);
	if (rc == 0) {
		rc = shmkit_semset_stat(s, &si);
	}
	if (rc == 0) {
		int n = snprintf(buf, len, "nsems=%u waiters=%u undo=%u dead-undo=%u",
				 (unsigned)si.nsems, (unsigned)si.waiters,
				 (unsigned)si.undo_records, (unsigned)si.dead_undo_records);
		if (si.lock_holder_pid >= 0 && n > 0 && (size_t)n < len) {
			snprintf(buf + n, len - (size_t)n, " lock=%d%s", (int)si.lock_holder_pid,
				 si.lock_holder_alive ? "" : "(dead)");
		}
	}
	shmkit_semset_close(s);
	return rc;
}

/* One semaphore per line: value, last pid, waiters for increase and zero. */
int
cli_semset_print(const shmkit_segment_info *info, int json)
{
	shmkit_semset *s = NULL;
	shmkit_semset_info si;
	unsigned short *vals = NULL;
	int rc;

	/* Reading the values applies the adjustments of dead SEM_UNDO holders
	 * first (as any operation on the set does), so the counts are taken
	 * after it, consistent with the values shown. */
	rc = shmkit_semset_open(&s, info->spec);
	if (rc == 0) {
		rc = shmkit_semset_stat(s, &si);
	}
	if (rc == 0) {
		vals = calloc(si.nsems ? si.nsems : 1, sizeof(*vals));
		rc = vals == NULL ? -ENOMEM : shmkit_semset_getall(s, vals);
	}
	if (rc == 0) {
		rc = shmkit_semset_stat(s, &si);
	}
	if (rc != 0) {
		shmkit_semset_close(s);
		free(vals);
		return rc;
	}
	if (json) {
		printf(",\n  \"semset\": {\"nsems\": %u, \"waiters\": %u, \"undo_records\": %u, "
		       "\"dead_undo_records\": %u, \"lock_holder_pid\": %d, "
		       "\"lock_holder_alive\": %s, \"otime\": %" PRId64 ", \"sems\": [",
		       (unsigned)si.nsems, (unsigned)si.waiters, (unsigned)si.undo_records,
		       (unsigned)si.dead_undo_records, (int)si.lock_holder_pid,
		       si.lock_holder_alive ? "true" : "false", si.otime);
	} else {
		printf("semset_nsems: %u\n", (unsigned)si.nsems);
		printf("semset_waiters: %u\n", (unsigned)si.waiters);
		if (si.lock_holder_pid >= 0) {
			printf("semset_lock_holder: %d (%s)\n", (int)si.lock_holder_pid,
			       si.lock_holder_alive ? "alive" : "dead, recovered by this look");
		} else {
			printf("semset_lock_holder: -\n");
		}
		printf("semset_undo_records: %u (%u of dead processes, not yet applied)\n",
		       (unsigned)si.undo_records, (unsigned)si.dead_undo_records);
		printf("semset_sems: NUM VALUE PID NCNT ZCNT\n");
	}
	for (unsigned i = 0; i < si.nsems; i++) {
		int pid = shmkit_semset_getpid(s, i);
		int ncnt = shmkit_semset_getncnt(s, i);
		int zcnt = shmkit_semset_getzcnt(s, i);

		if (json) {
			printf("%s{\"num\": %u, \"value\": %u, \"pid\": %d, \"ncnt\": %d, "
			       "\"zcnt\": %d}",
			       i ? ", " : "", i, (unsigned)vals[i], pid, ncnt, zcnt);
		} else {
			printf("  %u %u %d %d %d\n", i, (unsigned)vals[i], pid, ncnt, zcnt);
		}
	}
	if (json) {
		printf("]}");
	}
	free(vals);
	shmkit_semset_close(s);
	return 0;
}

int
cli_queue_summary(const shmkit_segment_info *info, char *buf, size_t len)
{
	shmkit_queue *q = NULL;
	shmkit_queue_info qi;
	int rc;

	if (!info->is_shmkit || info->kind != SHMKIT_KIND_QUEUE) {
		return -EINVAL;
	}
	rc = shmkit_queue_open(&q, info->spec);
	if (rc == 0) {
		rc = shmkit_queue_stat(q, &qi);
	}
	if (rc == 0) {
		snprintf(buf, len,
			 "msgs=%" PRIu64 " bytes=%" PRIu64 "/%" PRIu64
			 " waiting=%u/%u dead-claims=%u",
			 qi.count, qi.bytes, qi.max_bytes, (unsigned)qi.waiting_senders,
			 (unsigned)qi.waiting_receivers, (unsigned)qi.dead_claims);
	}
	shmkit_queue_close(q);
	return rc;
}

int
cli_queue_print(const shmkit_segment_info *info, int json)
{
	shmkit_queue *q = NULL;
	shmkit_queue_info qi;
	int rc = shmkit_queue_open(&q, info->spec);

	if (rc == 0) {
		rc = shmkit_queue_stat(q, &qi);
	}
	shmkit_queue_close(q);
	if (rc != 0) {
		return rc;
	}
	if (json) {
		printf(",\n  \"queue\": {\"count\": %" PRIu64 ", \"bytes\": %" PRIu64
		       ", \"max_bytes\": %" PRIu64 ", \"max_msg_size\": %u, \"max_msgs\": %u, "
		       "\"last_send_pid\": %d, \"last_recv_pid\": %d, \"stime\": %" PRId64
		       ", \"rtime\": %" PRId64 ", \"waiting_senders\": %u, "
		       "\"waiting_receivers\": %u, \"dead_claims\": %u, \"repairs\": %u}",
		       qi.count, qi.bytes, qi.max_bytes, (unsigned)qi.max_msg_size,
		       (unsigned)qi.max_msgs, (int)qi.last_send_pid, (int)qi.last_recv_pid,
		       qi.stime, qi.rtime, (unsigned)qi.waiting_senders,
		       (unsigned)qi.waiting_receivers, (unsigned)qi.dead_claims,
		       (unsigned)qi.repairs);
		return 0;
	}
	printf("queue_count: %" PRIu64 "\n", qi.count);
	printf("queue_bytes: %" PRIu64 " of %" PRIu64 "\n", qi.bytes, qi.max_bytes);
	printf("queue_max_msg_size: %u\n", (unsigned)qi.max_msg_size);
	printf("queue_max_msgs: %u\n", (unsigned)qi.max_msgs);
	printf("queue_last_send_pid: %d\n", (int)qi.last_send_pid);
	printf("queue_last_recv_pid: %d\n", (int)qi.last_recv_pid);
	printf("queue_waiting: %u senders, %u receivers\n", (unsigned)qi.waiting_senders,
	       (unsigned)qi.waiting_receivers);
	printf("queue_dead_claims: %u\n", (unsigned)qi.dead_claims);
	printf("queue_repairs: %u\n", (unsigned)qi.repairs);
	return 0;
}
