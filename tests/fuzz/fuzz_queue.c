/* SPDX-License-Identifier: MIT */
/* T09: a queue's shared layout fuzzed as a reader sees it: a libFuzzer target and a driver. */

/*
 * One small queue (8 messages, 64-byte messages, 512 bytes) is created once
 * in a memfd (nothing is left behind when the process dies, whatever kills
 * it) and reused for every input. A second mapping of the segment gives the
 * raw bytes of the queue's data area (docs/QUEUE.md, section 1).
 *
 * An input is one header byte and the bytes to overlay:
 *
 *   byte 0, bits 0-2  the scenario: which pristine image is restored first
 *                     (empty, one message, several of various types, with a
 *                     reservation and a receive loan pending, full, with
 *                     claims of a dead process, sequences across 2^64,
 *                     types of 64 and more only; see build_scenarios())
 *   byte 0, bit 3     the scenario's pending reservation is committed (set)
 *                     or aborted (clear)
 *   byte 0, bit 4     the sends come before the receives (set) or after
 *   byte 0, bit 7     the open mode (below)
 *   byte 1...         overlaid on the data area, byte for byte
 *
 * The layout mode (bit 7 clear) overlays the bytes from the control block
 * (offset 128) up to the payload arena: control, hot counters and index,
 * wake-up words, the table of sleepers, the buckets and every descriptor. A
 * short input changes a prefix only; a longer one is cut at the arena. The
 * payloads are not overlaid: nothing in them is interpreted. Then a fixed
 * sequence of calls runs, all of them NOWAIT: stat; receive with msgtyp 0,
 * > 0, < 0, MSG_EXCEPT, MSG_COPY, with and without NOERROR and a small
 * buffer; send; reserve + commit, reserve + abort; receive loan + release
 * (twice); the sweep of dead and stalled claims; commit or abort the
 * scenario's reservation and release its loan; the sweep again; stat; a
 * drain; a send of the largest message if the descriptors say the queue is
 * empty; and an open of the queue by name, with a stat and receives
 * through that handle.
 *
 * The open mode (bit 7 set) overlays the first 64 bytes on the meta block
 * (magic, layout, limits, sizes, ready), the rest as above, and only opens
 * the queue by name, stats it and receives through the new handle. A ready
 * word that the input would make 0 is kept: 0 means "the creator is still
 * initialising", and an opener then waits for its (live) creator for up to
 * 2 s, a bounded wait that T07 covers and that would only slow a fuzzer.
 *
 * The queue's mutex (offsets 64..127) is never overlaid, in either mode: a
 * garbage lock word is the mutex's own business (test_sync covers it), and
 * a word that names a live owner would make every call wait for that owner
 * (bounded only by the owner's death), which is the lock doing its job, not
 * a hang of the queue's validation. Restoring the image also restores the
 * mutex line, so an input that left the mutex poisoned does not leak into
 * the next one.
 *
 * The checks (anything else abort()s, so that libFuzzer reports it; a
 * crash, a sanitizer report or a time-out is a failure too):
 *   - every result is one that the header documents for that call, plus
 *     -ENOTRECOVERABLE (a poisoned lock) and -EBADMSG (a corrupted queue);
 *   - when the input changed only what the library derives from the
 *     descriptors (counters, list ends, links, buckets, bitmap; docs/QUEUE.md
 *     section 2), nothing is reported corrupted: the index is rebuilt;
 *   - a received message fits the buffer and the message size and matches
 *     the selection (type == msgtyp; != msgtyp with MSG_EXCEPT; <= |msgtyp|
 *     for msgtyp < 0); a loan lends whole bytes of one slot of the arena;
 *   - a send or a claim that succeeds had room by the descriptors (when
 *     they were within the limit to begin with), and a queue whose
 *     descriptors are all free takes a message of the largest size;
 *   - stat shows counts within the limits; a drain yields no more messages
 *     than there are slots.
 *
 * The libFuzzer target (clang only; not run by ctest):
 *
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang \
 *         -DSHMKIT_SANITIZE="address;undefined" -DSHMKIT_BUILD_BENCH=OFF
 *   cmake --build build-fuzz --target fuzz_queue_libfuzzer test_fuzz_queue
 *   mkdir corpus && build-fuzz/tests/test_fuzz_queue --write-seeds corpus
 *   build-fuzz/tests/fuzz_queue_libfuzzer -max_len=8192 -timeout=10 corpus
 *
 * libFuzzer saves a failing input as crash-<sha1>; replay it with either
 * binary given the file as its argument.
 *
 * The driver (any compiler; this is what ctest runs as shmkit.fuzz.queue)
 * runs the built-in seeds (each pristine scenario in both modes, where no
 * call may report corruption, and deliberately corrupted images: bad
 * states, huge lengths, broken links, cycles in the lists, wrong bucket
 * heads, bad permission selectors, huge counters, bad meta blocks), then
 * random mutations of them:
 *
 *   test_fuzz_queue                  seeds, then SHMKIT_FUZZ_ITERS mutations
 *   test_fuzz_queue FILE...          run these inputs (e.g. libFuzzer's)
 *   test_fuzz_queue --write-seeds D  write the built-in seeds into D
 *
 * SHMKIT_FUZZ_ITERS (default 100000) sets the number of mutations,
 * SHMKIT_FUZZ_SEED the seed (default: from the clock, printed), and
 * SHMKIT_FUZZ_ONLY=I runs mutation I only. On a failure the driver prints
 * the seed and the mutation's number and saves the input as
 * fuzz-queue-fail-SEED-I.bin in the working directory. Replaying by seed
 * rebuilds the images first (with this process's liveness tokens in the
 * pending claims), which a saved file cannot do: prefer the seed.
 *
 * The harness's main() is not linked in (it would clash with the driver's
 * and with libFuzzer's), so this file reports failures itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmkit/shmkit.h>

#include "queue/queue_impl.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FZ_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FZ_SANITIZER 1
#endif
#endif
#ifdef FZ_SANITIZER
#include <sanitizer/common_interface_defs.h>
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The queue under test. */
#define Q_MAX_MSGS     8u
#define Q_MAX_MSG_SIZE 100u /* over 64: big slots are used too */
#define Q_MAX_BYTES    512u

#define NSCEN   8u
#define IMG_MAX 16384u
#define NIL     0xffffffffu

/*
 * Offsets of fields inside the sections (docs/QUEUE.md section 1 gives the
 * sections; the fields are those of the structs in src/queue/queue.c).
 */
enum {
	META_MAGIC = 0,
	META_LAYOUT = 4,
	META_MAX_MSGS = 8,
	META_MAX_MSG_SIZE = 12,
	META_NSLOTS = 16,
	META_SLOT_SIZE = 20,
	META_TOTAL = 32,
	META_READY = 48,
	META_SIZE = 64,

	CTL_REMOVED = 8,
	CTL_PERM_SEL = 12,
	CTL_PERM0 = 16, /* {max_bytes u64, uid, gid, mode, reserved} */
	CTL_PERM1 = 40,
	PERM_MAX_BYTES = 0,
	PERM_UID = 8,
	PERM_MODE = 16,
	CTL_CTIME = 64,
	CTL_REPAIRS = 72,

	HOT_NEXT_SEQ = 0,
	HOT_QBYTES = 8,
	HOT_USED_BYTES = 16,
	HOT_BITMAP = 24,
	HOT_QNUM = 32,
	HOT_USED_MSGS = 36,
	HOT_HEAD = 40,
	HOT_TAIL = 44,
	HOT_FREE = 48,
	HOT_COMMITS = 52,
	HOT_FREES = 56,

	/* After hot: the senders' and receivers' wake words, the sleepers. */
	WAIT_SEND = 128,
	WAIT_RECV = 192,
	WAIT_TAB = 256,
	WAIT_WAITING = 4,
	WAIT_SLEEPERS = 8,

	D_STATE = 0,
	D_OWNER = 4,
	D_GEN = 8,
	D_LEN = 12,
	D_TYPE = 16,
	D_SEQ = 24,
	D_CLAIM_NS = 32,
	D_NEXT = 40,
	D_PREV = 44,
	D_TNEXT = 48,
	D_TPREV = 52,
	D_BIG = 56, /* the big slot holding a payload over 64 bytes: the truth */
};

enum { S_FREE = 0, S_CLAIMED = 1, S_COMMITTED = 2, S_TAKEN = 3, S_FENCED = 4, S_HANDED = 5 };

enum {
	SC_EMPTY,
	SC_ONE,
	SC_SEVERAL,
	SC_LOANS,
	SC_FULL,
	SC_DEAD,
	SC_WRAP,
	SC_BIGTYPES,
};

#define HDR_COMMIT      0x08u
#define HDR_SENDS_FIRST 0x10u
#define HDR_OPEN        0x80u

struct scenario {
	const char *name;
	unsigned char img[IMG_MAX];
	shmkit_queue_loan send; /* a reservation pending in the image */
	shmkit_queue_loan recv; /* a receive loan pending in the image */
	int has_send, has_recv;
};

/* Results seen, for the summary (index: -errno, 0 for success). */
#define NRES 160

static struct {
	shmkit_queue *q;
	char spec[64];
	shmkit_segment *raw;
	unsigned char *d;     /* the data area, through our second mapping */
	unsigned char *qbase; /* the data area, in q's own mapping */
	struct shmkit__queue_offsets off;
	size_t region; /* bytes overlaid in the layout mode: ctl up to the arena */
	struct scenario sc[NSCEN];
	unsigned corrupt; /* corruption results in the current input */
	int index_only;   /* the input changed nothing but the derived index */
	int queued0;      /* messages in the queue by the descriptors, at the start */
	uint64_t max_repairs;
	unsigned long long hist[NRES];
} fz;

/* ---------------------------------------------------------------------- */
/* Failures.                                                               */

/* What the current input is and how to replay it; set before each run so
 * that a signal handler can print it. */
static char fail_note[512];
static char fail_path[128];
static const uint8_t *cur_data;
static size_t cur_size;
static volatile sig_atomic_t reported;

/* Print how to replay the current input and save it (async-signal-safe). */
static void
report(void)
{
	if (reported) {
		return;
	}
	reported = 1;
	ssize_t w = write(2, fail_note, strlen(fail_note));
	if (fail_path[0] != '\0' && cur_data != NULL) {
		int fd = open(fail_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			w = write(fd, cur_data, cur_size);
			close(fd);
			static const char m[] = "fuzz_queue: the input was saved as ";
			w = write(2, m, sizeof(m) - 1);
			w = write(2, fail_path, strlen(fail_path));
			w = write(2, "\n", 1);
		}
	}
	(void)w;
}

#ifndef SHMKIT_LIBFUZZER
/* The driver's handlers (libFuzzer has its own, and saves the input). */
static void
on_signal(int sig)
{
	static const char m[] = "fuzz_queue: FAIL: killed by a signal (a crash or a time-out)\n";
	ssize_t w = write(2, m, sizeof(m) - 1);
	(void)w;
	report();
	signal(sig, SIG_DFL);
	raise(sig);
}

#ifdef FZ_SANITIZER
static void
on_sanitizer_death(void)
{
	report();
}
#endif
#endif /* SHMKIT_LIBFUZZER */

/*
 * gcc links UBSan's runtime apart from ASan's, and its reports do not run
 * ASan's death callback: have them abort(), so that the SIGABRT handler
 * says which input it was. (A hook that the runtime looks up; unused
 * without UBSan.)
 */
const char *__ubsan_default_options(void);
const char *
__ubsan_default_options(void)
{
	return "abort_on_error=1:print_stacktrace=1";
}

__attribute__((noreturn, format(printf, 1, 2))) static void
failf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fuzz_queue: FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fflush(stderr);
	report();
	abort();
}

/* Set up the queue: a failure here is the environment's, not the input's. */
__attribute__((noreturn, format(printf, 1, 2))) static void
setup_failed(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fuzz_queue: setup: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static const char *
errname(long long v)
{
	switch (v) {
	case 0:
		return "0";
	case -ENOMSG:
		return "-ENOMSG";
	case -EAGAIN:
		return "-EAGAIN";
	case -E2BIG:
		return "-E2BIG";
	case -EBADMSG:
		return "-EBADMSG";
	case -EIDRM:
		return "-EIDRM";
	case -EACCES:
		return "-EACCES";
	case -ENOTRECOVERABLE:
		return "-ENOTRECOVERABLE";
	case -ESTALE:
		return "-ESTALE";
	case -EINVAL:
		return "-EINVAL";
	case -EPROTO:
		return "-EPROTO";
	default:
		return v > 0 ? "a length" : "?";
	}
}

/* Record @v (a result of @call) and check that it is in @ok. */
static void
check_rc(const char *call, long long v, const long long *ok, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v == ok[i]) {
			fz.hist[v < 0 && -v < NRES ? -v : 0]++;
			if (v == -EBADMSG || v == -ENOTRECOVERABLE || v == -EIDRM || v == -EPROTO) {
				fz.corrupt++;
				if (fz.index_only) {
					failf("%s returned %s, but only the index (derived from "
					      "intact descriptors) was changed",
					      call, errname(v));
				}
			}
			return;
		}
	}
	failf("%s returned %lld (%s: %s), outside its documented results", call, v, errname(v),
	      v < 0 ? strerror((int)-v) : "success");
}

#define CHECK(call, v, ...)                                                                        \
	do {                                                                                       \
		const long long ok_[] = {__VA_ARGS__};                                             \
		check_rc((call), (long long)(v), ok_, sizeof(ok_) / sizeof(ok_[0]));               \
	} while (0)

/* What any locked call may report about the queue itself. */
#define E_LOCKED -EBADMSG, -EIDRM, -EACCES, -ENOTRECOVERABLE

/* ---------------------------------------------------------------------- */
/* The checked calls.                                                      */

static void
stat_check(shmkit_queue *q, const char *call, uint32_t want_msgs, uint32_t want_size)
{
	shmkit_queue_info in;
	int rc = shmkit_queue_stat(q, &in);
	CHECK(call, rc, 0, E_LOCKED);
	if (rc != 0) {
		return;
	}
	if ((want_msgs != 0 && (in.max_msgs != want_msgs || in.max_msg_size != want_size)) ||
	    in.count > in.max_msgs || in.bytes > (uint64_t)in.max_msgs * in.max_msg_size) {
		failf("%s: %" PRIu64 " messages, %" PRIu64 " bytes, limits %u x %u", call, in.count,
		      in.bytes, in.max_msgs, in.max_msg_size);
	}
	if (in.repairs > fz.max_repairs) {
		fz.max_repairs = in.repairs;
	}
}

/* A NOWAIT receive into a buffer of exactly @cap bytes (so that the
 * sanitizers see any write past it); the result must fit and match. */
static ssize_t
recv_check(shmkit_queue *q, const char *call, size_t cap, long msgtyp, unsigned flags,
	   uint32_t max_size)
{
	unsigned char *buf = malloc(cap > 0 ? cap : 1);
	if (buf == NULL) {
		setup_failed("out of memory");
	}
	long type = 0;
	ssize_t n =
		shmkit_queue_recv(q, buf, cap, msgtyp, &type, flags | SHMKIT_QUEUE_F_NOWAIT, NULL);
	free(buf);
	if (n < 0) {
		CHECK(call, n, -ENOMSG, -E2BIG, E_LOCKED);
		return n;
	}
	fz.hist[0]++;
	if ((size_t)n > cap || (size_t)n > max_size) {
		failf("%s: %zd bytes into a buffer of %zu (messages up to %u)", call, n, cap,
		      max_size);
	}
	int match = type > 0;
	if (!(flags & SHMKIT_QUEUE_F_COPY) && msgtyp > 0) {
		match = match &&
			((flags & SHMKIT_QUEUE_F_EXCEPT) ? type != msgtyp : type == msgtyp);
	} else if (!(flags & SHMKIT_QUEUE_F_COPY) && msgtyp < 0 && msgtyp != LONG_MIN) {
		match = match && type <= -msgtyp;
	}
	if (!match) {
		failf("%s: got a message of type %ld", call, type);
	}
	return n;
}

/* A loan must lend whole bytes of one payload slot of q's mapping: a small
 * one (64 bytes each, from the arena) or a big one (slot_size each, from
 * the big area). */
static void
loan_check(const char *call, const shmkit_queue_loan *l, size_t want_len)
{
	const unsigned char *p = l->data, *arena = fz.qbase + fz.off.arena;
	const unsigned char *big = fz.qbase + fz.off.big;
	const unsigned char *end = fz.qbase + fz.off.total;
	int in_small = p >= arena && p < big && (size_t)(p - arena) % 64 == 0 && l->len <= 64;
	int in_big = p >= big && p < end && fz.off.slot_size != 0 &&
		     (size_t)(p - big) % fz.off.slot_size == 0;
	if ((!in_small && !in_big) || l->len > Q_MAX_MSG_SIZE || l->len > (size_t)(end - p) ||
	    (want_len != SIZE_MAX && l->len != want_len)) {
		failf("%s: a loan of %zu bytes at arena offset %td", call, l->len, p - arena);
	}
}

/*
 * How many messages the descriptors say are in the queue (committed), or
 * -1 if a state is invalid. Claims and loans are left out: a sweep may
 * find their owners dead and give them back within the call.
 */
static int
truth_queued(void)
{
	int n = 0;
	for (uint32_t i = 0; i < fz.off.nslots; i++) {
		uint32_t st;
		memcpy(&st, fz.d + fz.off.desc + (size_t)i * fz.off.desc_size + D_STATE, 4);
		if (st > S_HANDED) {
			return -1;
		}
		n += st == S_COMMITTED;
	}
	return n;
}

/*
 * A send or a claim that succeeded must have had room. The library checks
 * its counters against each other on every call (a lie in one of them is
 * repaired) and checks each free descriptor as it takes it, but it does not
 * scan every descriptor on every send: an input that changes the truth
 * itself (a free descriptor made to look committed, unknown to the
 * counters) or several counters consistently may let a send into a spare
 * slot before the next repair. What must never happen is a send with no
 * slot left at all (max_msgs plus the spares).
 */
static void
admitted_check(const char *call, int before)
{
	if (fz.queued0 >= 0 && fz.queued0 <= (int)Q_MAX_MSGS && before >= (int)fz.off.nslots) {
		failf("%s succeeded with %d messages in the queue by its descriptors, "
		      "every slot of %zu",
		      call, before, fz.off.nslots);
	}
}

static void
send_check(shmkit_queue *q, const char *call, long type, size_t len)
{
	static const unsigned char payload[Q_MAX_MSG_SIZE] = {1, 2, 3};
	int before = truth_queued();
	int rc = shmkit_queue_send(q, type, len > 0 ? payload : NULL, len, SHMKIT_QUEUE_F_NOWAIT,
				   NULL);
	CHECK(call, rc, 0, -EAGAIN, E_LOCKED);
	if (rc == 0) {
		admitted_check(call, before);
	}
}

static void
reserve_check(shmkit_queue *q, const char *call, size_t len, long commit_type)
{
	shmkit_queue_loan l;
	int before = truth_queued();
	int rc = shmkit_queue_reserve(q, len, &l, SHMKIT_QUEUE_F_NOWAIT, NULL);
	CHECK(call, rc, 0, -EAGAIN, E_LOCKED);
	if (rc != 0) {
		return;
	}
	admitted_check(call, before);
	loan_check(call, &l, len);
	memset(l.data, 0x5a, l.len);
	if (commit_type > 0) {
		rc = shmkit_queue_commit(q, &l, commit_type);
		CHECK("commit", rc, 0, -ESTALE, -EINVAL, -EIDRM, -EBADMSG, -ENOTRECOVERABLE);
	} else {
		rc = shmkit_queue_abort(q, &l);
		CHECK("abort", rc, 0, -EINVAL, -EBADMSG, -ENOTRECOVERABLE);
	}
}

static void
release_check(shmkit_queue *q, shmkit_queue_loan *l, int twice)
{
	int rc = shmkit_queue_release(q, l);
	CHECK("release", rc, 0, -EINVAL, -EBADMSG, -ENOTRECOVERABLE);
	if (twice) {
		/* A loan ends once: a second release is refused. */
		rc = shmkit_queue_release(q, l);
		CHECK("second release", rc, -EINVAL, -EBADMSG, -ENOTRECOVERABLE);
	}
}

static void
recv_loan_check(shmkit_queue *q, const char *call, long msgtyp)
{
	shmkit_queue_loan l;
	ssize_t n = shmkit_queue_recv_loan(q, msgtyp, &l, SHMKIT_QUEUE_F_NOWAIT, NULL);
	if (n < 0) {
		CHECK(call, n, -ENOMSG, E_LOCKED);
		return;
	}
	fz.hist[0]++;
	loan_check(call, &l, (size_t)n);
	if (l.type <= 0 || (msgtyp > 0 && l.type != msgtyp) || (msgtyp < 0 && l.type > -msgtyp)) {
		failf("%s: lent a message of type %ld", call, l.type);
	}
	unsigned char copy[Q_MAX_MSG_SIZE];
	memcpy(copy, l.data, l.len);
	release_check(q, &l, 1);
}

/* Receive until nothing comes: never more messages than there are slots. */
static void
drain_check(shmkit_queue *q, const char *call, uint32_t nslots, uint32_t max_size)
{
	uint32_t got = 0;
	for (uint32_t k = 0; k < 2 * nslots + 2; k++) {
		if (recv_check(q, call, Q_MAX_MSG_SIZE, 0, SHMKIT_QUEUE_F_NOERROR, max_size) < 0) {
			return;
		}
		if (++got > nslots) {
			failf("%s: %u messages from %u slots", call, got, nslots);
		}
	}
}

/*
 * The descriptors are the truth: when every one of them is free and the
 * owner, permissions and limit are the creator's, the queue is empty by
 * that truth, whatever the counters say, and a message of the largest
 * size must go in. (-EAGAIN there would mean that a stray write into the
 * counters, within their ranges, took capacity away for good.)
 */
static void
room_check(shmkit_queue *q)
{
	for (uint32_t i = 0; i < fz.off.nslots; i++) {
		uint32_t st;
		memcpy(&st, fz.d + fz.off.desc + (size_t)i * fz.off.desc_size + D_STATE, 4);
		if (st != S_FREE) {
			return;
		}
	}
	if (memcmp(fz.d + fz.off.ctl, fz.sc[SC_EMPTY].img + fz.off.ctl, CTL_PERM1) != 0) {
		return;
	}
	static const unsigned char payload[Q_MAX_MSG_SIZE];
	int rc = shmkit_queue_send(q, 1, payload, sizeof(payload), SHMKIT_QUEUE_F_NOWAIT, NULL);
	if (rc == -EAGAIN) {
		failf("send to a queue whose descriptors are all free: -EAGAIN");
	}
	CHECK("send to an empty queue", rc, 0, -EBADMSG, -ENOTRECOVERABLE);
}

static void
sweep_check(shmkit_queue *q, const char *call)
{
	int s = shmkit__queue_sweep(q);
	if (s < 0) {
		CHECK(call, s, -EBADMSG, -EIDRM, -ENOTRECOVERABLE);
	} else if ((size_t)s > fz.off.nslots) {
		failf("%s: %d slots freed of %zu", call, s, fz.off.nslots);
	}
}

static void
run_sends(shmkit_queue *q)
{
	send_check(q, "send 1", 1, 7);
	send_check(q, "send 70", 70, Q_MAX_MSG_SIZE);
	send_check(q, "send 3, empty", 3, 0);
	reserve_check(q, "reserve + commit", 20, 5);
	reserve_check(q, "reserve + abort", Q_MAX_MSG_SIZE, 0);
}

/* The layout mode's calls, on the queue whose layout was overlaid. */
static void
run_layout(const struct scenario *sc, unsigned hdr)
{
	shmkit_queue *q = fz.q;
	const uint32_t ns = (uint32_t)fz.off.nslots;
	stat_check(q, "stat", Q_MAX_MSGS, Q_MAX_MSG_SIZE);
	if (hdr & HDR_SENDS_FIRST) {
		run_sends(q);
	}
	recv_check(q, "recv COPY 0", 64, 0, SHMKIT_QUEUE_F_COPY, Q_MAX_MSG_SIZE);
	recv_check(q, "recv COPY 3", 64, 3, SHMKIT_QUEUE_F_COPY, Q_MAX_MSG_SIZE);
	recv_check(q, "recv 0, cap 16", 16, 0, 0, Q_MAX_MSG_SIZE);
	recv_check(q, "recv 0, cap 16, NOERROR", 16, 0, SHMKIT_QUEUE_F_NOERROR, Q_MAX_MSG_SIZE);
	recv_check(q, "recv 2", 64, 2, 0, Q_MAX_MSG_SIZE);
	recv_check(q, "recv 1000", 64, 1000, 0, Q_MAX_MSG_SIZE);
	recv_check(q, "recv -5", 64, -5, 0, Q_MAX_MSG_SIZE);
	recv_check(q, "recv -100", 64, -100, 0, Q_MAX_MSG_SIZE);
	recv_check(q, "recv LONG_MIN", 64, LONG_MIN, 0, Q_MAX_MSG_SIZE);
	recv_check(q, "recv 1 EXCEPT", 64, 1, SHMKIT_QUEUE_F_EXCEPT, Q_MAX_MSG_SIZE);
	recv_check(q, "recv 64 EXCEPT", 64, 64, SHMKIT_QUEUE_F_EXCEPT, Q_MAX_MSG_SIZE);
	if (!(hdr & HDR_SENDS_FIRST)) {
		run_sends(q);
	}
	recv_loan_check(q, "recv_loan 0", 0);
	recv_loan_check(q, "recv_loan -70", -70);
	sweep_check(q, "sweep");
	if (sc->has_send) {
		shmkit_queue_loan l = sc->send;
		int rc;
		if (hdr & HDR_COMMIT) {
			rc = shmkit_queue_commit(q, &l, 9);
			CHECK("commit (scenario)", rc, 0, -ESTALE, -EINVAL, -EIDRM, -EBADMSG,
			      -ENOTRECOVERABLE);
		} else {
			rc = shmkit_queue_abort(q, &l);
			CHECK("abort (scenario)", rc, 0, -EINVAL, -EBADMSG, -ENOTRECOVERABLE);
		}
	}
	if (sc->has_recv) {
		shmkit_queue_loan l = sc->recv;
		release_check(q, &l, 0);
	}
	sweep_check(q, "sweep after");
	stat_check(q, "stat after", Q_MAX_MSGS, Q_MAX_MSG_SIZE);
	drain_check(q, "drain", ns, Q_MAX_MSG_SIZE);
	room_check(q);

	shmkit_queue *r = NULL;
	int rc = shmkit_queue_open(&r, fz.spec);
	CHECK("open", rc, 0, -EBADMSG, -EIDRM);
	if (rc == 0) {
		stat_check(r, "stat (reopened)", Q_MAX_MSGS, Q_MAX_MSG_SIZE);
		recv_check(r, "recv COPY 1 (reopened)", 64, 1, SHMKIT_QUEUE_F_COPY, Q_MAX_MSG_SIZE);
		recv_check(r, "recv 0 (reopened)", 64, 0, 0, Q_MAX_MSG_SIZE);
		shmkit_queue_close(r);
	}
}

/* The open mode's calls: open with the overlaid meta block, stat, receive. */
static void
run_open(void)
{
	shmkit_queue *r = NULL;
	int rc = shmkit_queue_open(&r, fz.spec);
	CHECK("open", rc, 0, -EBADMSG, -EPROTO, -EIDRM);
	if (rc != 0) {
		return;
	}
	shmkit_queue_info in;
	memset(&in, 0, sizeof(in));
	rc = shmkit_queue_stat(r, &in);
	CHECK("stat (opened)", rc, 0, E_LOCKED);
	uint32_t size = Q_MAX_MSG_SIZE, ns = (uint32_t)fz.off.nslots;
	if (rc == 0) {
		/* The opener's view follows the meta block; it must fit the
		 * data area, which holds at most this many slots. */
		if (in.max_msgs == 0 || in.max_msg_size == 0 || in.count > in.max_msgs ||
		    (uint64_t)in.max_msgs * 64 > fz.off.total ||
		    (uint64_t)in.max_msg_size > fz.off.total) {
			failf("stat (opened): limits %u x %u, %" PRIu64 " messages", in.max_msgs,
			      in.max_msg_size, in.count);
		}
		size = in.max_msg_size;
		ns = in.max_msgs + 4;
	} else {
		size = UINT32_MAX;
		ns = (uint32_t)(fz.off.total / 64);
	}
	recv_check(r, "recv COPY 0 (opened)", 64, 0, SHMKIT_QUEUE_F_COPY, size);
	recv_check(r, "recv 2 (opened)", 64, 2, 0, size);
	recv_check(r, "recv -5 (opened)", 64, -5, 0, size);
	recv_check(r, "recv 1 EXCEPT (opened)", 64, 1, SHMKIT_QUEUE_F_EXCEPT, size);
	recv_check(r, "recv 0, cap 8 (opened)", 8, 0, 0, size);
	drain_check(r, "drain (opened)", ns, size);
	shmkit_queue_close(r);
}

/* ---------------------------------------------------------------------- */
/* Images.                                                                 */

static void
restore(unsigned s)
{
	memcpy(fz.d, fz.sc[s].img, fz.off.total);
}

static void
snapshot(unsigned s, const char *name)
{
	memcpy(fz.sc[s].img, fz.d, fz.off.total);
	fz.sc[s].name = name;
}

static void
must(int rc, const char *what)
{
	if (rc < 0) {
		setup_failed("%s: %d (%s)", what, rc, strerror(-rc));
	}
}

static void
put_msg(long type, size_t len)
{
	unsigned char b[Q_MAX_MSG_SIZE];
	for (size_t i = 0; i < len; i++) {
		b[i] = (unsigned char)((unsigned long)type + i);
	}
	must(shmkit_queue_send(fz.q, type, b, len, SHMKIT_QUEUE_F_NOWAIT, NULL), "send");
}

/* A process that claims a slot and takes a message on loan, then dies. */
static void
dead_claimer(void)
{
	fflush(NULL);
	pid_t p = fork();
	if (p < 0) {
		setup_failed("fork");
	}
	if (p == 0) {
		shmkit_queue_loan a, b;
		int ok = shmkit_queue_reserve(fz.q, 12, &a, SHMKIT_QUEUE_F_NOWAIT, NULL) == 0 &&
			 shmkit_queue_recv_loan(fz.q, 0, &b, SHMKIT_QUEUE_F_NOWAIT, NULL) >= 0;
		_exit(ok ? 0 : 1);
	}
	int st;
	while (waitpid(p, &st, 0) < 0) {
		if (errno != EINTR) {
			setup_failed("waitpid");
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		setup_failed("the dead claimer failed (status %#x)", st);
	}
}

/* Build the pristine images through the API (see the header byte above). */
static void
build_scenarios(void)
{
	snapshot(SC_EMPTY, "empty");

	restore(SC_EMPTY);
	put_msg(1, 5);
	snapshot(SC_ONE, "one message");

	restore(SC_EMPTY);
	put_msg(3, 0);
	put_msg(1, Q_MAX_MSG_SIZE);
	put_msg(64, 10);
	put_msg(2, 33);
	put_msg(1000, 1);
	put_msg(1, 8);
	snapshot(SC_SEVERAL, "several types");

	/* The loans are taken before the snapshot, so that the handle-side
	 * loans match every restored copy of the image. */
	restore(SC_SEVERAL);
	struct scenario *sc = &fz.sc[SC_LOANS];
	must(shmkit_queue_reserve(fz.q, 16, &sc->send, SHMKIT_QUEUE_F_NOWAIT, NULL), "reserve");
	must((int)shmkit_queue_recv_loan(fz.q, 2, &sc->recv, SHMKIT_QUEUE_F_NOWAIT, NULL),
	     "recv_loan");
	sc->has_send = sc->has_recv = 1;
	snapshot(SC_LOANS, "pending reservation and loan");

	restore(SC_EMPTY);
	for (long i = 0; i < (long)Q_MAX_MSGS; i++) {
		put_msg(1 + i % 3, Q_MAX_BYTES / Q_MAX_MSGS);
	}
	snapshot(SC_FULL, "full");

	restore(SC_ONE);
	dead_claimer();
	put_msg(2, 3);
	sc = &fz.sc[SC_DEAD];
	must(shmkit_queue_reserve(fz.q, 5, &sc->send, SHMKIT_QUEUE_F_NOWAIT, NULL), "reserve");
	sc->has_send = 1;
	snapshot(SC_DEAD, "claims of a dead process");

	restore(SC_EMPTY);
	must(shmkit__queue_set_next_seq(fz.q, UINT64_MAX - 2), "set_next_seq");
	put_msg(5, 1);
	put_msg(1, 2);
	put_msg(5, 3);
	put_msg(2, 4);
	put_msg(70, 5);
	snapshot(SC_WRAP, "sequences across 2^64");

	restore(SC_EMPTY);
	put_msg(100, 1);
	put_msg(64, 2);
	put_msg(5000, 3);
	put_msg(64, 4);
	put_msg(100, 5);
	put_msg(1, 6);
	put_msg(LONG_MAX, 7);
	snapshot(SC_BIGTYPES, "types of 64 and more");

	restore(SC_EMPTY);
}

static void
setup(void)
{
	static int done;
	if (done) {
		return;
	}
	done = 1;
	shmkit_queue_opts o;
	shmkit_queue_opts_init(&o);
	o.max_bytes = Q_MAX_BYTES;
	o.max_msg_size = Q_MAX_MSG_SIZE;
	o.max_msgs = Q_MAX_MSGS;
	must(shmkit_queue_create(&fz.q, "memfd:shmkit-fuzz-queue", &o), "create");
	snprintf(fz.spec, sizeof(fz.spec), "memfd:fd=%d", shmkit__queue_fd(fz.q));
	shmkit_segment_opts so;
	shmkit_segment_opts_init(&so);
	so.kind = SHMKIT_KIND_ANY;
	must(shmkit_segment_open(&fz.raw, fz.spec, &so), "open the raw segment");
	fz.d = shmkit_segment_data(fz.raw);
	shmkit__queue_offsets(fz.q, &fz.off);
	if (fz.off.total > IMG_MAX || fz.off.arena <= fz.off.ctl) {
		setup_failed("a layout of %zu bytes", fz.off.total);
	}
	fz.region = fz.off.arena - fz.off.ctl;

	/* Where q's own mapping is: the first claim of an empty queue gets
	 * slot 0 (the free list is in index order). */
	shmkit_queue_loan l;
	must(shmkit_queue_reserve(fz.q, 1, &l, SHMKIT_QUEUE_F_NOWAIT, NULL), "reserve");
	fz.qbase = (unsigned char *)l.data - fz.off.arena;
	*(volatile unsigned char *)l.data = 0xa7;
	if (fz.d[fz.off.arena] != 0xa7) {
		setup_failed("the first claim is not in slot 0");
	}
	must(shmkit_queue_abort(fz.q, &l), "abort");
	fz.d[fz.off.arena] = 0;
	build_scenarios();
}

/* ---------------------------------------------------------------------- */
/* One input.                                                              */

/*
 * Is data-area offset @off part of what the library derives from the
 * descriptors (or keeps as statistics and hints), so that garbage there
 * must be repaired with nothing lost? The counters and list ends of the
 * hot block (not next_seq, which is the truth), the wake-up words and the
 * sleepers' table, the buckets, the descriptors' links, the big slots'
 * free list; and the control block's change time and repair count.
 */
static int
index_byte(size_t off)
{
	const struct shmkit__queue_offsets *o = &fz.off;
	if (off >= o->ctl + CTL_CTIME && off < o->hot) {
		return 1;
	}
	if (off >= o->hot + HOT_QBYTES && off < o->buckets + 64 * 8) {
		return 1;
	}
	if (off >= o->desc && off < o->desc + o->nslots * o->desc_size) {
		size_t k = (off - o->desc) % o->desc_size;
		return (k >= D_NEXT && k < D_BIG) || k >= D_BIG + 4;
	}
	if (off >= o->bnext && off < o->bnext + o->nbig * 4) {
		return 1;
	}
	return 0;
}

/* Did the overlay change the derived index only (see index_byte())? */
static int
changed_index_only(const struct scenario *sc)
{
	for (size_t off = fz.off.ctl; off < fz.off.arena; off++) {
		if (fz.d[off] != sc->img[off] && !index_byte(off)) {
			return 0;
		}
	}
	return 1;
}

static void
run_input(const uint8_t *data, size_t size)
{
	unsigned hdr = size > 0 ? data[0] : 0;
	const struct scenario *sc = &fz.sc[hdr % NSCEN];
	const uint8_t *in = size > 0 ? data + 1 : data;
	size_t n = size > 0 ? size - 1 : 0;

	restore(hdr % NSCEN);
	if (hdr & HDR_OPEN) {
		unsigned char m[META_SIZE];
		size_t k = n < META_SIZE ? n : META_SIZE;
		memcpy(m, fz.d, META_SIZE);
		memcpy(m, in, k);
		uint32_t ready;
		memcpy(&ready, m + META_READY, 4);
		if (ready == 0) {
			memcpy(m + META_READY, fz.d + META_READY, 4);
		}
		memcpy(fz.d, m, META_SIZE);
		in += k;
		n -= k;
	}
	memcpy(fz.d + fz.off.ctl, in, n < fz.region ? n : fz.region);

	fz.corrupt = 0;
	fz.index_only = !(hdr & HDR_OPEN) && changed_index_only(sc);
	fz.queued0 = truth_queued();
	if (hdr & HDR_OPEN) {
		run_open();
	} else {
		run_layout(sc, hdr);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	cur_data = data;
	cur_size = size;
	run_input(data, size);
	cur_data = NULL;
	return 0;
}

#ifndef SHMKIT_LIBFUZZER
/* ---------------------------------------------------------------------- */
/* The driver: built-in seeds, then seeded mutations of them.              */

#define MAX_SEEDS 128
#define INPUT_MAX (1 + META_SIZE + IMG_MAX)

struct seed {
	char name[48];
	uint8_t *b;
	size_t len;
	int pristine;
};

static struct seed seeds[MAX_SEEDS];
static unsigned nseeds;

/* The input index that lands on data-area offset @off. */
static size_t
at(const struct seed *s, size_t off)
{
	if (s->b[0] & HDR_OPEN) {
		return off < META_SIZE ? 1 + off : 1 + META_SIZE + (off - fz.off.ctl);
	}
	if (off < fz.off.ctl) {
		setup_failed("offset %zu is not overlaid", off);
	}
	return 1 + (off - fz.off.ctl);
}

static uint32_t
get32(const struct seed *s, size_t off)
{
	uint32_t v;
	memcpy(&v, s->b + at(s, off), 4);
	return v;
}

static uint64_t
get64(const struct seed *s, size_t off)
{
	uint64_t v;
	memcpy(&v, s->b + at(s, off), 8);
	return v;
}

static void
put32(struct seed *s, size_t off, uint32_t v)
{
	memcpy(s->b + at(s, off), &v, 4);
}

static void
put64(struct seed *s, size_t off, uint64_t v)
{
	memcpy(s->b + at(s, off), &v, 8);
}

static size_t
dsc(uint32_t i, size_t field)
{
	return fz.off.desc + (size_t)i * fz.off.desc_size + field;
}

static size_t
hotf(size_t field)
{
	return fz.off.hot + field;
}

static size_t
ctlf(size_t field)
{
	return fz.off.ctl + field;
}

static size_t
bkt(uint32_t b, int tail)
{
	return fz.off.buckets + 8 * (size_t)b + (tail ? 4 : 0);
}

/* A new seed: scenario @s's image, in the layout or the open mode. */
static struct seed *
seed_new(const char *name, unsigned s, unsigned flags, int pristine)
{
	if (nseeds == MAX_SEEDS) {
		setup_failed("too many seeds");
	}
	struct seed *x = &seeds[nseeds++];
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->len = 1 + ((flags & HDR_OPEN) ? META_SIZE : 0) + fz.region;
	x->b = malloc(x->len);
	if (x->b == NULL) {
		setup_failed("out of memory");
	}
	x->b[0] = (uint8_t)(s | flags);
	size_t k = 1;
	if (flags & HDR_OPEN) {
		memcpy(x->b + 1, fz.sc[s].img, META_SIZE);
		k += META_SIZE;
	}
	memcpy(x->b + k, fz.sc[s].img + fz.off.ctl, fz.region);
	x->pristine = pristine;
	return x;
}

/* The descriptor index of the @k-th committed message in queue order. */
static uint32_t
nth(const struct seed *s, unsigned k)
{
	uint32_t i = get32(s, hotf(HOT_HEAD));
	for (unsigned j = 0; j < k && i != NIL; j++) {
		i = get32(s, dsc(i, D_NEXT));
	}
	if (i == NIL || i >= fz.off.nslots) {
		setup_failed("seed %s: no message %u", s->name, k);
	}
	return i;
}

/* The first descriptor in state @state (there must be one). */
static uint32_t
find_state(const struct seed *s, uint32_t state)
{
	for (uint32_t i = 0; i < fz.off.nslots; i++) {
		if (get32(s, dsc(i, D_STATE)) == state) {
			return i;
		}
	}
	setup_failed("seed %s: no descriptor in state %u", s->name, state);
}

/* A meta block that is consistent in itself for @max_msgs messages of
 * @size bytes (4 spare slots, slots rounded up to 64 bytes), as queue.c
 * computes it: an opener accepts it if it fits the data area. */
static void
meta_view(struct seed *s, uint32_t max_msgs, uint32_t size)
{
	uint32_t nslots = max_msgs + 4, slot = (size + 63) / 64 * 64;
	uint64_t arena = (fz.off.desc + (uint64_t)nslots * fz.off.desc_size + 63) / 64 * 64;
	put32(s, META_MAX_MSGS, max_msgs);
	put32(s, META_MAX_MSG_SIZE, size);
	put32(s, META_NSLOTS, nslots);
	put32(s, META_SLOT_SIZE, slot);
	put64(s, META_TOTAL, arena + (uint64_t)nslots * slot);
}

static void
build_seeds(void)
{
	struct seed *s;
	uint32_t a, b;
	const uint32_t ns = (uint32_t)fz.off.nslots;

	/* Every scenario untouched, both modes, the reservation committed and
	 * aborted: no call may report corruption. */
	for (unsigned k = 0; k < NSCEN; k++) {
		char name[48];
		snprintf(name, sizeof(name), "pristine %s", fz.sc[k].name);
		seed_new(name, k, 0, 1);
		seed_new(name, k, HDR_COMMIT | HDR_SENDS_FIRST, 1);
		snprintf(name, sizeof(name), "pristine open %s", fz.sc[k].name);
		seed_new(name, k, HDR_OPEN, 1);
	}

	/* Descriptors: the truth, validated when read. */
	s = seed_new("bad state", SC_SEVERAL, 0, 0);
	put32(s, dsc(nth(s, 0), D_STATE), 77);
	s = seed_new("bad state of a free slot", SC_EMPTY, 0, 0);
	put32(s, dsc(0, D_STATE), 9);
	s = seed_new("huge len", SC_SEVERAL, 0, 0);
	put32(s, dsc(nth(s, 0), D_LEN), 0x7fffffff);
	s = seed_new("len one over", SC_SEVERAL, 0, 0);
	put32(s, dsc(nth(s, 1), D_LEN), Q_MAX_MSG_SIZE + 1);
	s = seed_new("huge len of free slots", SC_ONE, 0, 0);
	for (uint32_t i = 0; i < ns; i++) {
		if (get32(s, dsc(i, D_STATE)) == S_FREE) {
			put32(s, dsc(i, D_LEN), 0xffffffffu);
		}
	}
	s = seed_new("type 0", SC_SEVERAL, 0, 0);
	put64(s, dsc(nth(s, 2), D_TYPE), 0);
	s = seed_new("negative type", SC_BIGTYPES, 0, 0);
	put64(s, dsc(nth(s, 0), D_TYPE), (uint64_t)INT64_MIN);
	s = seed_new("duplicate sequence", SC_SEVERAL, 0, 0);
	put64(s, dsc(nth(s, 1), D_SEQ), get64(s, dsc(nth(s, 0), D_SEQ)));
	s = seed_new("sequence after next_seq", SC_WRAP, 0, 0);
	put64(s, dsc(nth(s, 4), D_SEQ), get64(s, hotf(HOT_NEXT_SEQ)) + 5);
	s = seed_new("sequences swapped across the wrap", SC_WRAP, 0, 0);
	a = nth(s, 0);
	b = nth(s, 4);
	uint64_t sa = get64(s, dsc(a, D_SEQ));
	put64(s, dsc(a, D_SEQ), get64(s, dsc(b, D_SEQ)));
	put64(s, dsc(b, D_SEQ), sa);
	s = seed_new("every slot committed", SC_FULL, 0, 0);
	for (uint32_t i = 0; i < ns; i++) {
		put32(s, dsc(i, D_STATE), S_COMMITTED);
		put64(s, dsc(i, D_TYPE), 1);
	}

	/* The index: links, buckets and counters, repaired by a rebuild. */
	s = seed_new("self loop in the queue order", SC_SEVERAL, 0, 0);
	put32(s, dsc(nth(s, 0), D_NEXT), nth(s, 0));
	s = seed_new("cycle in the queue order", SC_SEVERAL, 0, 0);
	put32(s, dsc(get32(s, hotf(HOT_TAIL)), D_NEXT), nth(s, 0));
	s = seed_new("prev link wrong", SC_SEVERAL, 0, 0);
	put32(s, dsc(nth(s, 2), D_PREV), NIL);
	s = seed_new("next link out of range", SC_SEVERAL, 0, 0);
	put32(s, dsc(nth(s, 1), D_NEXT), 0x00ffffffu);
	s = seed_new("cycle in a bucket", SC_SEVERAL, 0, 0);
	put32(s, dsc(get32(s, bkt(1, 1)), D_TNEXT), get32(s, bkt(1, 0)));
	s = seed_new("cycle in bucket 0", SC_BIGTYPES, 0, 0);
	put32(s, dsc(get32(s, bkt(0, 1)), D_TNEXT), get32(s, bkt(0, 0)));
	s = seed_new("bucket link out of range", SC_BIGTYPES, 0, 0);
	put32(s, dsc(get32(s, bkt(0, 0)), D_TNEXT), ns);
	s = seed_new("cycle in the free list", SC_ONE, 0, 0);
	a = get32(s, hotf(HOT_FREE));
	put32(s, dsc(a, D_NEXT), a);
	s = seed_new("free list into a message", SC_SEVERAL, 0, 0);
	put32(s, hotf(HOT_FREE), nth(s, 0));
	s = seed_new("free list out of range", SC_ONE, 0, 0);
	put32(s, hotf(HOT_FREE), 0x80000000u);
	s = seed_new("free list empty but slots free", SC_ONE, 0, 0);
	put32(s, hotf(HOT_FREE), NIL);
	s = seed_new("wrong bucket head", SC_SEVERAL, 0, 0);
	put32(s, bkt(2, 0), get32(s, bkt(1, 0)));
	s = seed_new("bucket 0 head of a small type", SC_BIGTYPES, 0, 0);
	put32(s, bkt(0, 0), get32(s, bkt(1, 0)));
	s = seed_new("bucket head nil", SC_SEVERAL, 0, 0);
	put32(s, bkt(1, 0), NIL);
	s = seed_new("bucket of an empty type", SC_SEVERAL, 0, 0);
	put32(s, bkt(9, 0), nth(s, 0));
	put32(s, bkt(9, 1), nth(s, 0));
	put64(s, hotf(HOT_BITMAP), get64(s, hotf(HOT_BITMAP)) | (1u << 9));
	s = seed_new("bitmap bit 0", SC_SEVERAL, 0, 0);
	put64(s, hotf(HOT_BITMAP), get64(s, hotf(HOT_BITMAP)) | 1);
	s = seed_new("bitmap cleared", SC_SEVERAL, 0, 0);
	put64(s, hotf(HOT_BITMAP), 0);
	s = seed_new("bitmap full", SC_WRAP, 0, 0);
	put64(s, hotf(HOT_BITMAP), ~UINT64_C(1));
	s = seed_new("huge qnum", SC_SEVERAL, 0, 0);
	put32(s, hotf(HOT_QNUM), 0x7fffffff);
	s = seed_new("huge used_bytes", SC_FULL, 0, 0);
	put64(s, hotf(HOT_USED_BYTES), UINT64_MAX);
	s = seed_new("huge qbytes", SC_SEVERAL, 0, 0);
	put64(s, hotf(HOT_QBYTES), UINT64_MAX - 3);
	s = seed_new("huge used_msgs", SC_ONE, 0, 0);
	put32(s, hotf(HOT_USED_MSGS), 0xffffffffu);
	s = seed_new("used_msgs 0 with messages", SC_LOANS, 0, 0);
	put32(s, hotf(HOT_USED_MSGS), 0);
	put64(s, hotf(HOT_USED_BYTES), 0);
	s = seed_new("next_seq 0", SC_SEVERAL, 0, 0);
	put64(s, hotf(HOT_NEXT_SEQ), 0);
	s = seed_new("head out of range", SC_SEVERAL, 0, 0);
	put32(s, hotf(HOT_HEAD), ns);
	put32(s, hotf(HOT_TAIL), 0xfffffffeu);
	s = seed_new("head nil with messages", SC_FULL, 0, 0);
	put32(s, hotf(HOT_HEAD), NIL);
	/* Counters within their ranges, wrong by the descriptors: an empty
	 * queue that believes it is full (every slot, or every byte, used). */
	s = seed_new("empty queue, used_msgs at the limit", SC_EMPTY, 0, 0);
	put32(s, hotf(HOT_USED_MSGS), Q_MAX_MSGS);
	s = seed_new("empty queue, used_bytes at the limit", SC_EMPTY, 0, 0);
	put32(s, hotf(HOT_USED_MSGS), Q_MAX_MSGS);
	put64(s, hotf(HOT_USED_BYTES), Q_MAX_BYTES);
	/* ... and a full queue that believes it holds one message: sends
	 * must not go past max_msgs into the spare slots. */
	s = seed_new("full queue, counters of one message", SC_FULL, HDR_SENDS_FIRST, 0);
	put32(s, hotf(HOT_QNUM), 1);
	put32(s, hotf(HOT_USED_MSGS), 1);
	put64(s, hotf(HOT_QBYTES), Q_MAX_MSG_SIZE);
	put64(s, hotf(HOT_USED_BYTES), Q_MAX_MSG_SIZE);
	s = seed_new("counts of an empty queue", SC_EMPTY, 0, 0);
	put32(s, hotf(HOT_QNUM), 3);
	put32(s, hotf(HOT_USED_MSGS), 3);
	put32(s, hotf(HOT_HEAD), 0);
	put32(s, hotf(HOT_TAIL), 2);

	/* Claims and loans. */
	s = seed_new("our claim fenced", SC_LOANS, HDR_COMMIT, 0);
	a = find_state(s, S_CLAIMED);
	put32(s, dsc(a, D_STATE), S_FENCED);
	s = seed_new("our claim's owner garbage", SC_LOANS, 0, 0);
	put32(s, dsc(find_state(s, S_CLAIMED), D_OWNER), 0x12345678u);
	s = seed_new("our claim's owner 0", SC_LOANS, HDR_COMMIT, 0);
	put32(s, dsc(find_state(s, S_CLAIMED), D_OWNER), 0);
	s = seed_new("our claim ancient", SC_LOANS, HDR_COMMIT, 0);
	put64(s, dsc(find_state(s, S_CLAIMED), D_CLAIM_NS), 1);
	s = seed_new("our claim from long ago", SC_LOANS, HDR_COMMIT, 0);
	put64(s, dsc(find_state(s, S_CLAIMED), D_CLAIM_NS), (uint64_t)INT64_MIN);
	s = seed_new("our claim from the future", SC_LOANS, HDR_COMMIT, 0);
	put64(s, dsc(find_state(s, S_CLAIMED), D_CLAIM_NS), (uint64_t)INT64_MAX);
	s = seed_new("our claim's len huge", SC_LOANS, HDR_COMMIT, 0);
	put32(s, dsc(find_state(s, S_CLAIMED), D_LEN), Q_MAX_MSG_SIZE + 1);
	s = seed_new("our claim's generation", SC_LOANS, HDR_COMMIT, 0);
	a = find_state(s, S_CLAIMED);
	put32(s, dsc(a, D_GEN), get32(s, dsc(a, D_GEN)) + 1);
	s = seed_new("our loan's generation", SC_LOANS, 0, 0);
	a = find_state(s, S_TAKEN);
	put32(s, dsc(a, D_GEN), get32(s, dsc(a, D_GEN)) ^ 0x80000000u);
	s = seed_new("our loan committed again", SC_LOANS, 0, 0);
	put32(s, dsc(find_state(s, S_TAKEN), D_STATE), S_COMMITTED);
	s = seed_new("our loan freed", SC_LOANS, 0, 0);
	put32(s, dsc(find_state(s, S_TAKEN), D_STATE), S_FREE);
	s = seed_new("dead claims everywhere", SC_DEAD, 0, 0);
	a = find_state(s, S_TAKEN);
	for (uint32_t i = 0; i < ns; i++) {
		if (get32(s, dsc(i, D_STATE)) == S_FREE) {
			put32(s, dsc(i, D_STATE), S_CLAIMED);
			put32(s, dsc(i, D_OWNER), get32(s, dsc(a, D_OWNER)));
			put32(s, dsc(i, D_LEN), 64);
		}
	}
	s = seed_new("dead claims fenced", SC_DEAD, HDR_COMMIT, 0);
	for (uint32_t i = 0; i < ns; i++) {
		if (get32(s, dsc(i, D_STATE)) == S_CLAIMED ||
		    get32(s, dsc(i, D_STATE)) == S_TAKEN) {
			put32(s, dsc(i, D_STATE), S_FENCED);
		}
	}
	s = seed_new("taken slots with garbage owners", SC_FULL, 0, 0);
	for (uint32_t i = 0; i < ns; i += 2) {
		put32(s, dsc(i, D_STATE), S_TAKEN);
		put32(s, dsc(i, D_OWNER), 0x7fff0000u + i);
	}

	/* The control block: the permissions are the truth. */
	s = seed_new("perm selector 7", SC_SEVERAL, 0, 0);
	put32(s, ctlf(CTL_PERM_SEL), 7);
	s = seed_new("perm selector on the spare copy", SC_SEVERAL, 0, 0);
	put32(s, ctlf(CTL_PERM_SEL), 1);
	s = seed_new("mode 0", SC_ONE, 0, 0);
	put32(s, ctlf(CTL_PERM0 + PERM_MODE), 0);
	s = seed_new("mode out of range", SC_ONE, 0, 0);
	put32(s, ctlf(CTL_PERM0 + PERM_MODE), 01000);
	s = seed_new("owner garbage", SC_ONE, 0, 0);
	put32(s, ctlf(CTL_PERM0 + PERM_UID), 0xfffffffeu);
	put32(s, ctlf(0), 0xfffffffeu);
	s = seed_new("byte limit 0", SC_SEVERAL, 0, 0);
	put64(s, ctlf(CTL_PERM0 + PERM_MAX_BYTES), 0);
	s = seed_new("byte limit huge", SC_FULL, 0, 0);
	put64(s, ctlf(CTL_PERM0 + PERM_MAX_BYTES), UINT64_MAX);
	s = seed_new("removed", SC_SEVERAL, 0, 0);
	put32(s, ctlf(CTL_REMOVED), 1);
	s = seed_new("repairs at the maximum", SC_SEVERAL, 0, 0);
	put32(s, ctlf(CTL_REPAIRS), 0xffffffffu);
	put32(s, hotf(HOT_QNUM), 99);
	s = seed_new("ctime and spare copy garbage", SC_ONE, 0, 0);
	put64(s, ctlf(CTL_CTIME), (uint64_t)INT64_MIN);
	put64(s, ctlf(CTL_PERM1 + PERM_MAX_BYTES), UINT64_MAX);

	/* The wake-up words and the table of sleepers. */
	s = seed_new("wake words garbage", SC_ONE, 0, 0);
	put32(s, hotf(WAIT_SEND + WAIT_WAITING), 0xffffffffu);
	put32(s, hotf(WAIT_SEND + WAIT_SLEEPERS), 0xffffffffu);
	put32(s, hotf(WAIT_RECV + WAIT_WAITING), 0x80000000u);
	put32(s, hotf(WAIT_RECV + WAIT_SLEEPERS), 1);
	put32(s, hotf(HOT_COMMITS), 0xffffffffu);
	put32(s, hotf(HOT_FREES), 0xffffffffu);
	for (uint32_t i = 0; i < 64; i++) {
		put32(s, hotf(WAIT_TAB) + 4 * i, i % 2 ? 0x7fffffffu : 0x80010001u + i);
	}

	/* The meta block, read once at open. */
	s = seed_new("meta magic", SC_ONE, HDR_OPEN, 0);
	put32(s, META_MAGIC, get32(s, META_MAGIC) ^ 1);
	s = seed_new("meta layout 1", SC_ONE, HDR_OPEN, 0);
	put32(s, META_LAYOUT, 1);
	s = seed_new("meta layout 3", SC_ONE, HDR_OPEN, 0);
	put32(s, META_LAYOUT, 3);
	s = seed_new("meta max_msgs huge", SC_SEVERAL, HDR_OPEN, 0);
	put32(s, META_MAX_MSGS, 0xffffffffu);
	s = seed_new("meta max_msgs 0", SC_SEVERAL, HDR_OPEN, 0);
	put32(s, META_MAX_MSGS, 0);
	s = seed_new("meta max_msg_size huge", SC_SEVERAL, HDR_OPEN, 0);
	put32(s, META_MAX_MSG_SIZE, 0x7fffffffu);
	s = seed_new("meta nslots mismatch", SC_SEVERAL, HDR_OPEN, 0);
	put32(s, META_NSLOTS, get32(s, META_NSLOTS) + 1);
	s = seed_new("meta slot size 0", SC_SEVERAL, HDR_OPEN, 0);
	put32(s, META_SLOT_SIZE, 0);
	s = seed_new("meta total huge", SC_SEVERAL, HDR_OPEN, 0);
	put64(s, META_TOTAL, UINT64_MAX);
	s = seed_new("meta ready garbage", SC_SEVERAL, HDR_OPEN, 0);
	put32(s, META_READY, 0xdeadbeefu);
	/* Consistent smaller or other views of the same bytes: they open, and
	 * the descriptors and slots they see are other bytes. */
	s = seed_new("meta smaller queue", SC_SEVERAL, HDR_OPEN, 0);
	meta_view(s, 4, Q_MAX_MSG_SIZE);
	s = seed_new("meta larger slots", SC_FULL, HDR_OPEN, 0);
	meta_view(s, 1, 192);
	s = seed_new("meta and removed", SC_ONE, HDR_OPEN, 0);
	put32(s, ctlf(CTL_REMOVED), 1);
	s = seed_new("meta smaller queue with links out", SC_BIGTYPES, HDR_OPEN, 0);
	meta_view(s, 2, Q_MAX_MSG_SIZE);
	s = seed_new("meta larger queue", SC_SEVERAL, HDR_OPEN, 0);
	meta_view(s, 16, 16);
}

/* splitmix64 */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* An offset of a field that matters, in the overlaid part of @s. */
static size_t
pick_field(const struct seed *s, uint64_t *r)
{
	static const uint8_t dfields[] = {D_STATE,    D_OWNER, D_GEN,  D_LEN,   D_TYPE, D_SEQ,
					  D_CLAIM_NS, D_NEXT,  D_PREV, D_TNEXT, D_TPREV};
	static const uint8_t hfields[] = {HOT_NEXT_SEQ, HOT_QBYTES, HOT_USED_BYTES,
					  HOT_BITMAP,   HOT_QNUM,   HOT_USED_MSGS,
					  HOT_HEAD,     HOT_TAIL,   HOT_FREE};
	static const uint8_t cfields[] = {CTL_REMOVED, CTL_PERM_SEL, CTL_PERM0 + PERM_MAX_BYTES,
					  CTL_PERM0 + PERM_MODE, CTL_PERM0 + PERM_UID};
	static const uint8_t mfields[] = {META_MAGIC,        META_LAYOUT, META_MAX_MSGS,
					  META_MAX_MSG_SIZE, META_NSLOTS, META_SLOT_SIZE,
					  META_TOTAL,        META_READY};
	uint64_t k = rnd(r) % 16;
	if ((s->b[0] & HDR_OPEN) && k < 4) {
		return mfields[rnd(r) % sizeof(mfields)];
	}
	if (k < 9) {
		uint32_t i = (uint32_t)(rnd(r) % fz.off.nslots);
		return dsc(i, dfields[rnd(r) % sizeof(dfields)]);
	}
	if (k < 12) {
		return hotf(hfields[rnd(r) % sizeof(hfields)]);
	}
	if (k < 15) {
		uint32_t b = (uint32_t)(rnd(r) % 4 == 0 ? rnd(r) % 64 : rnd(r) % 8);
		return bkt(b, (int)(rnd(r) & 1));
	}
	return ctlf(cfields[rnd(r) % sizeof(cfields)]);
}

/* Apply 1..6 mutations to @b (@len bytes, a copy of @s). */
static size_t
mutate(const struct seed *s, uint8_t *b, size_t len, uint64_t *r)
{
	unsigned nmut = 1 + (unsigned)(rnd(r) % 6);
	for (unsigned m = 0; m < nmut; m++) {
		size_t idx;
		if (rnd(r) % 2 == 0) {
			idx = at(s, pick_field(s, r));
		} else {
			idx = 1 + (size_t)(rnd(r) % (len - 1));
		}
		/* Words stay aligned to the data area (input byte 1 is at a
		 * line boundary in both modes). */
		size_t w = 1 + ((idx - 1) & ~(size_t)3);
		uint32_t v32;
		uint64_t v64;
		switch (rnd(r) % 10) {
		case 0:
		case 1:
			b[idx] ^= (uint8_t)(1u << (rnd(r) % 8));
			break;
		case 2: {
			static const uint8_t bytes[] = {0, 0xff, 0x7f, 0x80};
			b[idx] = bytes[rnd(r) % 4];
			break;
		}
		case 3:
		case 4:
			v32 = (uint32_t)(rnd(r) % (fz.off.nslots + 3));
			if (w + 4 <= len) {
				memcpy(b + w, &v32, 4);
			}
			break;
		case 5:
			v32 = NIL;
			if (w + 4 <= len) {
				memcpy(b + w, &v32, 4);
			}
			break;
		case 6:
			/* A count: small, a power of two, or anything. */
			v32 = (uint32_t)rnd(r);
			v32 = rnd(r) % 3 == 0 ? v32 % 17 : rnd(r) % 3 == 0 ? 1u << (v32 % 32) : v32;
			if (w + 4 <= len) {
				memcpy(b + w, &v32, 4);
			}
			break;
		case 7: {
			static const uint64_t vals[] = {0, UINT64_MAX, (uint64_t)INT64_MIN,
							(uint64_t)INT64_MAX, 1};
			v64 = rnd(r) % 2 ? vals[rnd(r) % 5] : rnd(r);
			if (w + 8 <= len) {
				memcpy(b + w, &v64, 8);
			}
			break;
		}
		case 8: {
			/* The same word of another descriptor: a plausible lie. */
			size_t d0 = at(s, fz.off.desc), dsz = fz.off.desc_size;
			if (w >= d0 && w + 4 <= len && w < d0 + fz.off.nslots * dsz) {
				size_t o = (w - d0) % dsz;
				size_t other = d0 + (rnd(r) % fz.off.nslots) * dsz + o;
				memmove(b + w, b + other, 4);
			}
			break;
		}
		default:
			b[idx] = (uint8_t)rnd(r);
			break;
		}
	}
	/* Now and then a short input (a prefix overlay), another scenario
	 * below the same bytes (other payloads and pending loans), or the
	 * other order of the calls. */
	if (rnd(r) % 16 == 0) {
		len = 1 + (size_t)(rnd(r) % (len - 1));
	}
	if (rnd(r) % 16 == 0) {
		b[0] = (uint8_t)((b[0] & ~7u) | (rnd(r) % NSCEN));
	}
	if (rnd(r) % 8 == 0) {
		b[0] ^= (uint8_t)(rnd(r) % 2 ? HDR_COMMIT : HDR_SENDS_FIRST);
	}
	return len;
}

static void
on_signals(void)
{
	const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sa.sa_flags = SA_RESETHAND;
		sigaction(sigs[i], &sa, NULL);
	}
#ifdef FZ_SANITIZER
	__sanitizer_set_death_callback(on_sanitizer_death);
#endif
}

/* Run one input under the watchdog (an input takes microseconds). */
static void
run_one(const uint8_t *b, size_t len)
{
	alarm(20);
	LLVMFuzzerTestOneInput(b, len);
}

static int
run_files(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (f == NULL) {
			fprintf(stderr, "fuzz_queue: %s: %s\n", argv[i], strerror(errno));
			return 2;
		}
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		snprintf(fail_note, sizeof(fail_note), "fuzz_queue: input file %s\n", argv[i]);
		run_one(buf, n);
		printf("ok %s (%zu bytes)\n", argv[i], n);
	}
	return 0;
}

static int
write_seeds(const char *dir)
{
	for (unsigned i = 0; i < nseeds; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/seed-%03u.bin", dir, i);
		FILE *f = fopen(path, "wb");
		if (f == NULL || fwrite(seeds[i].b, 1, seeds[i].len, f) != seeds[i].len) {
			fprintf(stderr, "fuzz_queue: %s: %s\n", path, strerror(errno));
			return 2;
		}
		fclose(f);
	}
	printf("%u seeds written to %s\n", nseeds, dir);
	return 0;
}

static unsigned long long
env_u64(const char *name, unsigned long long dflt)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0') {
		return dflt;
	}
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 0);
	if (errno != 0 || *end != '\0') {
		fprintf(stderr, "fuzz_queue: bad %s=%s\n", name, v);
		exit(2);
	}
	return x;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	on_signals();
	setup();
	build_seeds();
	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) {
		return write_seeds(argv[2]);
	}
	if (argc > 1) {
		return run_files(argc, argv);
	}

	unsigned long long iters = env_u64("SHMKIT_FUZZ_ITERS", 100000);
	unsigned long long seed =
		env_u64("SHMKIT_FUZZ_SEED",
			(unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 20));
	unsigned long long only = env_u64("SHMKIT_FUZZ_ONLY", ULLONG_MAX);
	printf("fuzz_queue: seed %#llx, %llu mutations after %u built-in seeds\n", seed, iters,
	       nseeds);

	if (only == ULLONG_MAX) {
		for (unsigned i = 0; i < nseeds; i++) {
			snprintf(fail_note, sizeof(fail_note),
				 "fuzz_queue: built-in seed \"%.47s\"\n", seeds[i].name);
			fail_path[0] = '\0';
			fz.max_repairs = 0;
			run_one(seeds[i].b, seeds[i].len);
			if (seeds[i].pristine && (fz.corrupt != 0 || fz.max_repairs != 0)) {
				failf("a pristine image reported corruption (%u results, %" PRIu64
				      " repairs)",
				      fz.corrupt, fz.max_repairs);
			}
		}
	}

	static uint8_t buf[INPUT_MAX];
	for (unsigned long long it = 0; it < iters; it++) {
		if (only != ULLONG_MAX && it != only) {
			continue;
		}
		uint64_t r = seed ^ (it * UINT64_C(0xd1b54a32d192ed03));
		rnd(&r);
		const struct seed *s = &seeds[rnd(&r) % nseeds];
		memcpy(buf, s->b, s->len);
		size_t len = mutate(s, buf, s->len, &r);
		snprintf(fail_note, sizeof(fail_note),
			 "fuzz_queue: seed %#llx, mutation %llu of seed \"%.47s\"; replay with "
			 "SHMKIT_FUZZ_SEED=%#llx SHMKIT_FUZZ_ONLY=%llu\n",
			 seed, it, s->name, seed, it);
		snprintf(fail_path, sizeof(fail_path), "fuzz-queue-fail-%llx-%llu.bin", seed, it);
		run_one(buf, len);
	}
	alarm(0);

	printf("fuzz_queue: %llu inputs; results: %llu successes", iters + nseeds, fz.hist[0]);
	static const int errs[] = {ENOMSG, EAGAIN, E2BIG,  EBADMSG, EIDRM,
				   EACCES, ESTALE, EINVAL, EPROTO,  ENOTRECOVERABLE};
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		printf(", %llu %s", fz.hist[errs[i]], errname(-errs[i]));
	}
	printf("\n");
	/* The last input may have left the queue removed or unusable: put a
	 * pristine image back before removing it. */
	restore(SC_EMPTY);
	int rc = shmkit_queue_remove(fz.q);
	shmkit_segment_close(fz.raw);
	if (rc != 0) {
		fprintf(stderr, "fuzz_queue: remove: %d\n", rc);
		return 1;
	}
	printf("fuzz_queue: ok\n");
	return 0;
}
#endif /* SHMKIT_LIBFUZZER */
