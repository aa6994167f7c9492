/* SPDX-License-Identifier: MIT */
/* What ls and stat show inside objects of a known kind (semaphore sets, queues, rings, buses). */
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
	case SHMKIT_KIND_RING:
		return "ring";
	case SHMKIT_KIND_BUS:
		return "bus";
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

/* A ring's mode, by its flags. */
static const char *
ring_mode(const shmkit_ring_info *ri)
{
	return ri->flags & SHMKIT_RING_BYTES ? "bytes" : "messages";
}

/* An end for ls: its pid, "pid(dead)", or "-" when none holds it. */
static const char *
ring_end_short(int32_t pid, int32_t alive, char *buf, size_t len)
{
	if (alive < 0) {
		snprintf(buf, len, "-");
	} else if (pid < 0) {
		snprintf(buf, len, "?%s", alive ? "" : "(dead)");
	} else {
		snprintf(buf, len, "%d%s", (int)pid, alive ? "" : "(dead)");
	}
	return buf;
}

/* An end for stat: "pid (alive)", "pid (dead)" or "- (none)". */
static const char *
ring_end_long(int32_t pid, int32_t alive, char *buf, size_t len)
{
	char p[16];

	if (alive < 0) {
		snprintf(buf, len, "- (none)");
		return buf;
	}
	if (pid < 0) {
		snprintf(p, sizeof(p), "?");
	} else {
		snprintf(p, sizeof(p), "%d", (int)pid);
	}
	snprintf(buf, len, "%s (%s)", p, alive ? "alive" : "dead");
	return buf;
}

/* "alive", "dead" or "none": the state of an end, for JSON. */
static const char *
ring_end_state(int32_t alive)
{
	return alive > 0 ? "alive" : alive == 0 ? "dead" : "none";
}

/* Open a ring without a role (nothing in it changes) and take its stat. */
static int
ring_stat(const shmkit_segment_info *info, shmkit_ring_info *ri)
{
	shmkit_ring *r = NULL;
	int rc;

	if (!info->is_shmkit || info->kind != SHMKIT_KIND_RING) {
		return -EINVAL;
	}
	rc = shmkit_ring_open(&r, info->spec, SHMKIT_RING_NONE);
	/* Seen from outside, a busy ring's two positions may move between
	 * the library's two loads of them, which it takes for corruption:
	 * look again before saying so. */
	if (rc == 0) {
		int tries = 0;

		do {
			rc = shmkit_ring_stat(r, ri);
		} while (rc == -EBADMSG && ++tries < 4);
	}
	shmkit_ring_close(r);
	return rc;
}

int
cli_ring_summary(const shmkit_segment_info *info, char *buf, size_t len)
{
	shmkit_ring_info ri;
	char prod[32], cons[32];
	int rc = ring_stat(info, &ri);

	if (rc != 0) {
		return rc;
	}
	ring_end_short(ri.producer_pid, ri.producer_alive, prod, sizeof(prod));
	ring_end_short(ri.consumer_pid, ri.consumer_alive, cons, sizeof(cons));
	if (ri.flags & SHMKIT_RING_BYTES) {
		snprintf(buf, len,
			 "bytes used=%" PRIu64 "/%" PRIu64 " producer=%s consumer=%s eof=%s",
			 ri.used, ri.capacity, prod, cons, ri.eof ? "yes" : "no");
	} else {
		snprintf(buf, len,
			 "messages msgs=%" PRIu64 " used=%" PRIu64 "/%" PRIu64
			 " producer=%s consumer=%s eof=%s",
			 ri.messages, ri.used, ri.capacity, prod, cons, ri.eof ? "yes" : "no");
	}
	return 0;
}

int
cli_ring_print(const shmkit_segment_info *info, int json)
{
	shmkit_ring_info ri;
	char a[64];
	int rc = ring_stat(info, &ri);

	if (rc != 0) {
		return rc;
	}
	if (json) {
		printf(",\n  \"ring\": {\"capacity\": %" PRIu64
		       ", \"mode\": \"%s\", \"flags\": %u, "
		       "\"max_msg_size\": %" PRIu64 ", \"used\": %" PRIu64
		       ", \"messages\": %" PRIu64 ", \"sent\": %" PRIu64 ", \"received\": %" PRIu64
		       ", \"eof\": %s, "
		       "\"producer_pid\": %d, \"producer_alive\": %d, \"producer_state\": \"%s\", "
		       "\"consumer_pid\": %d, \"consumer_alive\": %d, \"consumer_state\": \"%s\", "
		       "\"producer_sleeping\": %s, \"consumer_sleeping\": %s}",
		       ri.capacity, ring_mode(&ri), (unsigned)ri.flags, ri.max_msg_size, ri.used,
		       ri.messages, ri.sent, ri.received, ri.eof ? "true" : "false",
		       (int)ri.producer_pid, (int)ri.producer_alive,
		       ring_end_state(ri.producer_alive), (int)ri.consumer_pid,
		       (int)ri.consumer_alive, ring_end_state(ri.consumer_alive),
		       ri.producer_sleeping ? "true" : "false",
		       ri.consumer_sleeping ? "true" : "false");
		return 0;
	}
	printf("ring_mode: %s\n", ring_mode(&ri));
	printf("ring_capacity: %" PRIu64 "\n", ri.capacity);
	printf("ring_max_msg_size: %" PRIu64 "\n", ri.max_msg_size);
	printf("ring_used: %" PRIu64 " of %" PRIu64 "\n", ri.used, ri.capacity);
	printf("ring_messages: %" PRIu64 "\n", ri.messages);
	printf("ring_sent: %" PRIu64 "\n", ri.sent);
	printf("ring_received: %" PRIu64 "\n", ri.received);
	printf("ring_eof: %s\n", ri.eof ? "yes" : "no");
	printf("ring_producer: %s\n",
	       ring_end_long(ri.producer_pid, ri.producer_alive, a, sizeof(a)));
	printf("ring_consumer: %s\n",
	       ring_end_long(ri.consumer_pid, ri.consumer_alive, a, sizeof(a)));
	printf("ring_sleeping: producer %s, consumer %s\n", ri.producer_sleeping ? "yes" : "no",
	       ri.consumer_sleeping ? "yes" : "no");
	return 0;
}

/* A bus's policy, by its flags. */
static const char *
bus_policy(const shmkit_bus_info *bi)
{
	return bi->flags & SHMKIT_BUS_RELIABLE ? "reliable" : "lossy";
}

/*
 * Open a bus (which neither publishes nor subscribes: nothing in it
 * changes) and take its stat and, when @subs is not NULL, its subscribers:
 * *@subs (to free) and their number in *@nsubs.
 */
static int
bus_stat(const shmkit_segment_info *info, shmkit_bus_info *bi, shmkit_bus_sub_info **subs,
	 size_t *nsubs)
{
	shmkit_bus *b = NULL;
	int rc;

	if (!info->is_shmkit || info->kind != SHMKIT_KIND_BUS) {
		return -EINVAL;
	}
	rc = shmkit_bus_open(&b, info->spec);
	if (rc == 0) {
		rc = shmkit_bus_stat(b, bi);
	}
	if (rc == 0 && subs != NULL) {
		/* Room for all it may have: none is left out if some join
		 * meanwhile. */
		size_t cap = bi->max_subscribers ? bi->max_subscribers : 1;

		*subs = calloc(cap, sizeof(**subs));
		rc = *subs == NULL ? -ENOMEM : shmkit_bus_subscribers(b, *subs, cap);
		if (rc >= 0) {
			*nsubs = (size_t)rc < cap ? (size_t)rc : cap;
			rc = 0;
		} else {
			free(*subs);
			*subs = NULL;
		}
	}
	shmkit_bus_close(b);
	return rc;
}

int
cli_bus_summary(const shmkit_segment_info *info, char *buf, size_t len)
{
	shmkit_bus_info bi;
	int rc = bus_stat(info, &bi, NULL, NULL);

	if (rc != 0) {
		return rc;
	}
	snprintf(buf, len,
		 "%s slots=%u max-size=%" PRIu64 " published=%" PRIu64
		 " pubs=%u subs=%u sleeping=%u dead-pubs=%u dead-subs=%u",
		 bus_policy(&bi), (unsigned)bi.slots, bi.max_msg_size, bi.published,
		 (unsigned)bi.publishers, (unsigned)bi.subscribers, (unsigned)bi.sleeping,
		 (unsigned)bi.dead_publishers, (unsigned)bi.dead_subscribers);
	return 0;
}

int
cli_bus_print(const shmkit_segment_info *info, int json)
{
	shmkit_bus_info bi;
	shmkit_bus_sub_info *subs = NULL;
	size_t nsubs = 0;
	int rc = bus_stat(info, &bi, &subs, &nsubs);

	if (rc != 0) {
		return rc;
	}
	if (json) {
		printf(",\n  \"bus\": {\"policy\": \"%s\", \"flags\": %u, \"slots\": %u, "
		       "\"max_msg_size\": %" PRIu64 ", \"max_subscribers\": %u, "
		       "\"max_publishers\": %u, \"published\": %" PRIu64 ", "
		       "\"publishers\": %u, \"dead_publishers\": %u, \"subscribers\": %u, "
		       "\"dead_subscribers\": %u, \"sleeping\": %u, \"subs\": [",
		       bus_policy(&bi), (unsigned)bi.flags, (unsigned)bi.slots, bi.max_msg_size,
		       (unsigned)bi.max_subscribers, (unsigned)bi.max_publishers, bi.published,
		       (unsigned)bi.publishers, (unsigned)bi.dead_publishers,
		       (unsigned)bi.subscribers, (unsigned)bi.dead_subscribers,
		       (unsigned)bi.sleeping);
	} else {
		printf("bus_policy: %s\n", bus_policy(&bi));
		printf("bus_slots: %u\n", (unsigned)bi.slots);
		printf("bus_max_msg_size: %" PRIu64 "\n", bi.max_msg_size);
		printf("bus_max_subscribers: %u\n", (unsigned)bi.max_subscribers);
		printf("bus_max_publishers: %u\n", (unsigned)bi.max_publishers);
		printf("bus_published: %" PRIu64 "\n", bi.published);
		printf("bus_publishers: %u live, %u dead\n", (unsigned)bi.publishers,
		       (unsigned)bi.dead_publishers);
		printf("bus_subscribers: %u live, %u dead\n", (unsigned)bi.subscribers,
		       (unsigned)bi.dead_subscribers);
		printf("bus_sleeping: %u\n", (unsigned)bi.sleeping);
		printf("bus_subs: INDEX PID STATE LAG LOST RECEIVED SLEEPING\n");
	}
	for (size_t i = 0; i < nsubs; i++) {
		const shmkit_bus_sub_info *si = &subs[i];

		if (json) {
			printf("%s{\"index\": %u, \"pid\": %d, \"alive\": %s, \"state\": \"%s\", "
			       "\"lag\": %" PRIu64 ", \"lost\": %" PRIu64 ", \"received\": %" PRIu64
			       ", \"sleeping\": %s}",
			       i ? ", " : "", (unsigned)si->index, (int)si->pid,
			       si->alive ? "true" : "false", si->alive ? "alive" : "dead", si->lag,
			       si->lost, si->received, si->sleeping ? "true" : "false");
		} else {
			char pid[16];

			if (si->pid < 0) {
				snprintf(pid, sizeof(pid), "?");
			} else {
				snprintf(pid, sizeof(pid), "%d", (int)si->pid);
			}
			printf("  %u %s %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n",
			       (unsigned)si->index, pid, si->alive ? "alive" : "dead", si->lag,
			       si->lost, si->received, si->sleeping ? "yes" : "no");
		}
	}
	if (json) {
		printf("]}");
	}
	free(subs);
	return 0;
}
