/* SPDX-License-Identifier: MIT */
/* Unit tests of the object header: init, publish, validation of hostile bytes (T08). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "internal/header.h"
#include "internal/platform.h"

#define TOTAL 8192u

static void *
alloc_zeroed(size_t len)
{
	void *p = NULL;

	ASSERT_EQ(posix_memalign(&p, 64, len), 0);
	memset(p, 0, len);
	return p;
}

/* A published header for a TOTAL-byte object in a fresh buffer. */
static struct shmkit_header *
make_header(void)
{
	struct shmkit_header *h = alloc_zeroed(TOTAL);

	shmkit__header_init(h, SHMKIT_KIND_SEGMENT, TOTAL, SHMKIT_DATA_OFFSET,
			    TOTAL - SHMKIT_DATA_OFFSET);
	shmkit__header_publish(h);
	return h;
}

static void
reseal(struct shmkit_header *h)
{
	h->checksum = shmkit__crc32c(0, h, offsetof(struct shmkit_header, state));
}

/* Validate; @in_progress must say whether the state word is INITIALIZING. */
static int
validate(const void *base, uint64_t avail)
{
	struct shmkit_header_view v;
	int in_progress = -1;
	int rc = shmkit__header_validate(base, avail, &v, &in_progress);

	if (avail >= SHMKIT_HEADER_SIZE) {
		uint32_t state;
		memcpy(&state, (const char *)base + offsetof(struct shmkit_header, state),
		       sizeof(state));
		ASSERT_EQ(in_progress, state == SHMKIT_STATE_INITIALIZING);
	}
	return rc;
}

TEST(crc32c_vectors)
{
	static const char digits[] = "123456789";
	unsigned char zeros[32] = {0};
	unsigned char buf[1000];
	uint32_t whole, part;

	/* The check value of CRC-32C (Castagnoli). */
	ASSERT_EQ(shmkit__crc32c(0, digits, 9), 0xE3069283u);
	/* RFC 3720 B.4: 32 bytes of zeros. */
	ASSERT_EQ(shmkit__crc32c(0, zeros, 32), 0x8A9136AAu);
	ASSERT_EQ(shmkit__crc32c(0, digits, 0), 0);

	/* Incremental computation equals the one-shot one, at every split. */
	th_fill(buf, sizeof(buf), 3);
	whole = shmkit__crc32c(0, buf, sizeof(buf));
	for (size_t split = 0; split <= sizeof(buf); split += 37) {
		part = shmkit__crc32c(0, buf, split);
		part = shmkit__crc32c(part, buf + split, sizeof(buf) - split);
		ASSERT_EQ(part, whole);
	}
	/* An unaligned start gives the same value as an aligned one. */
	part = shmkit__crc32c(0, buf, 999);
	memmove(buf + 1, buf, 999);
	ASSERT_EQ(shmkit__crc32c(0, buf + 1, 999), part);
}

TEST(init_and_publish)
{
	struct shmkit_header *h = alloc_zeroed(TOTAL);
	struct shmkit_header_view v;
	static const unsigned char magic[8] = {'S', 'H', 'M', 'K', 'I', 'T', 0, 1};
	int64_t before = shmkit__realtime_ns();
	int in_progress = -1;

	shmkit__header_init(h, SHMKIT_KIND_SEGMENT, TOTAL, SHMKIT_DATA_OFFSET,
			    TOTAL - SHMKIT_DATA_OFFSET);
	ASSERT_EQ(memcmp(h, magic, 8), 0);
	ASSERT_EQ(h->magic, SHMKIT_MAGIC);
	ASSERT_EQ(h->layout_version, SHMKIT_LAYOUT_VERSION);
	ASSERT_EQ(h->layout_version, shmkit_layout_version());
	ASSERT_EQ(h->header_size, SHMKIT_HEADER_SIZE);
	ASSERT_EQ(h->flags, 0);
	ASSERT_EQ(atomic_load(&h->state), SHMKIT_STATE_INITIALIZING);
	ASSERT_EQ(h->checksum, shmkit__crc32c(0, h, 72));
	for (size_t i = 0; i < sizeof(h->reserved); i++) {
		ASSERT_EQ(h->reserved[i], 0);
	}

	/* An initialising header is valid; its state tells the caller to wait. */
	ASSERT_EQ(shmkit__header_validate(h, TOTAL, &v, &in_progress), 0);
	ASSERT_EQ(v.state, SHMKIT_STATE_INITIALIZING);
	ASSERT_EQ(in_progress, 1);

	shmkit__header_publish(h);
	ASSERT_EQ(atomic_load(&h->state), SHMKIT_STATE_READY);
	memset(&v, 0xa5, sizeof(v));
	ASSERT_EQ(shmkit__header_validate(h, TOTAL, &v, &in_progress), 0);
	ASSERT_EQ(in_progress, 0);
	ASSERT_EQ(shmkit__header_validate(h, TOTAL, &v, NULL), 0);
	ASSERT_EQ(v.state, SHMKIT_STATE_READY);
	ASSERT_EQ(v.layout_version, SHMKIT_LAYOUT_VERSION);
	ASSERT_EQ(v.kind, SHMKIT_KIND_SEGMENT);
	ASSERT_EQ(v.total_size, TOTAL);
	ASSERT_EQ(v.data_offset, SHMKIT_DATA_OFFSET);
	ASSERT_EQ(v.data_size, TOTAL - SHMKIT_DATA_OFFSET);
	ASSERT_EQ(v.creator_uid, getuid());
	ASSERT_EQ(v.creator_pid, getpid());
	ASSERT_EQ(v.creator_start, shmkit__self_start_time());
	ASSERT_NE(v.creator_start, 0);
	ASSERT_GE(v.created_ns, before);
	ASSERT_LE(v.created_ns, shmkit__realtime_ns());

	/* Publishing does not touch the checksummed part. */
	ASSERT_EQ(h->checksum, shmkit__crc32c(0, h, 72));

	/* Larger avail than total_size is fine (page rounding). */
	ASSERT_EQ(validate(h, TOTAL * 4), 0);
	free(h);
}

TEST(kind_is_kept)
{
	struct shmkit_header *h = alloc_zeroed(TOTAL);
	struct shmkit_header_view v;

	shmkit__header_init(h, 0x1234, TOTAL, SHMKIT_DATA_OFFSET, TOTAL - SHMKIT_DATA_OFFSET);
	ASSERT_EQ(shmkit__header_validate(h, TOTAL, &v, NULL), 0);
	ASSERT_EQ(v.kind, 0x1234);
	ASSERT_EQ(v.data_size, TOTAL - SHMKIT_DATA_OFFSET);
	free(h);
}

TEST(no_magic)
{
	unsigned char *buf = alloc_zeroed(TOTAL);
	struct shmkit_header *h;

	/* All zero: no magic; the zero state word reads as "initialising"
	 * (a sysv segment whose creator has not written the header yet). */
	ASSERT_ERR(validate(buf, TOTAL), -EMEDIUMTYPE);
	{
		struct shmkit_header_view v;
		ASSERT_ERR(shmkit__header_validate(buf, TOTAL, &v, NULL), -EMEDIUMTYPE);
	}
	buf[100] = 1;
	ASSERT_ERR(validate(buf, TOTAL), -EMEDIUMTYPE);

	/* Random bytes. */
	for (uint64_t seed = 1; seed < 50; seed++) {
		th_fill(buf, TOTAL, seed);
		ASSERT_ERR(validate(buf, TOTAL), -EMEDIUMTYPE);
	}
	free(buf);

	/* A valid header with one byte of the magic changed. */
	for (int i = 0; i < 8; i++) {
		h = make_header();
		((unsigned char *)h)[i] ^= 0x20;
		reseal(h);
		ASSERT_ERR(validate(h, TOTAL), -EMEDIUMTYPE);
		free(h);
	}
	/* Byte-swapped magic (an object of the other endianness). */
	h = make_header();
	h->magic = __builtin_bswap64(SHMKIT_MAGIC);
	reseal(h);
	ASSERT_ERR(validate(h, TOTAL), -EMEDIUMTYPE);
	free(h);
}

/*
 * A header caught half-written by its creator (state still INITIALIZING):
 * whatever the error, in_progress says it is no verdict yet. Once the state
 * says READY, the same damage is a verdict.
 */
TEST(half_written_header_is_in_progress)
{
	struct shmkit_header *full = make_header();
	unsigned char *buf = alloc_zeroed(TOTAL);

	atomic_store(&full->state, SHMKIT_STATE_INITIALIZING);
	/* Every prefix of the header written, the rest still zero. */
	for (size_t n = 0; n <= offsetof(struct shmkit_header, state); n += 4) {
		int in_progress = -1;
		struct shmkit_header_view v;
		int rc;

		memset(buf, 0, TOTAL);
		memcpy(buf, full, n);
		rc = shmkit__header_validate(buf, TOTAL, &v, &in_progress);
		ASSERT_EQ(in_progress, 1);
		ASSERT_IN(rc, -EMEDIUMTYPE, -EPROTO, -EBADMSG);
		if (n == offsetof(struct shmkit_header, state)) {
			/* All but the checksum: the checksum field is still 0. */
			ASSERT_ERR(rc, -EBADMSG);
		}
	}
	/* The whole header, checksum included. */
	memcpy(buf, full, SHMKIT_HEADER_SIZE);
	ASSERT_EQ(validate(buf, TOTAL), 0);

	/* Published, then damaged: a verdict. */
	shmkit__header_publish((struct shmkit_header *)(void *)buf);
	((struct shmkit_header *)(void *)buf)->creator_pid ^= 1;
	ASSERT_ERR(validate(buf, TOTAL), -EBADMSG);
	atomic_store(&((struct shmkit_header *)(void *)buf)->state, SHMKIT_STATE_BROKEN);
	ASSERT_ERR(validate(buf, TOTAL), -EBADMSG);
	free(buf);
	free(full);
}

TEST(layout_version_mismatch)
{
	const uint32_t versions[] = {
		SHMKIT_LAYOUT_VERSION + 1,
		SHMKIT_LAYOUT_VERSION - 1,
		SHMKIT_LAYOUT_VERSION + 1000,
		0xffffffffu,
	};

	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct shmkit_header *h = make_header();

		/* Patched in place, checksum left stale: the version comes first. */
		h->layout_version = versions[i];
		ASSERT_ERR(validate(h, TOTAL), -EPROTO);
		/* And with the checksum recomputed, as a real other version would. */
		reseal(h);
		ASSERT_ERR(validate(h, TOTAL), -EPROTO);
		free(h);
	}
}

TEST(checksum_mismatch)
{
	/* A byte flipped anywhere in the checksummed fields after the version. */
	for (size_t off = 12; off < 72; off++) {
		struct shmkit_header *h = make_header();

		((unsigned char *)h)[off] ^= 0x01;
		if (validate(h, TOTAL) != -EBADMSG) {
			th_fail(__FILE__, __LINE__, "flipped byte %zu: got %d, expected -EBADMSG",
				off, validate(h, TOTAL));
		}
		free(h);
	}
	/* The checksum field itself. */
	{
		struct shmkit_header *h = make_header();
		h->checksum ^= 0x80000000u;
		ASSERT_ERR(validate(h, TOTAL), -EBADMSG);
		free(h);
	}
}

/* Change one field, recompute the checksum, expect -EBADMSG. */
#define EXPECT_BAD_FIELD(field, value)                                                             \
	do {                                                                                       \
		struct shmkit_header *h_ = make_header();                                          \
		h_->field = (value);                                                               \
		reseal(h_);                                                                        \
		int rc_ = validate(h_, TOTAL);                                                     \
		if (rc_ != -EBADMSG) {                                                             \
			char b_[160];                                                              \
			th_fail(__FILE__, __LINE__, "%s = %s: got %s, expected -EBADMSG", #field,  \
				#value, th_errdesc(rc_, b_, sizeof(b_)));                          \
		}                                                                                  \
		free(h_);                                                                          \
	} while (0)

TEST(inconsistent_sizes)
{
	EXPECT_BAD_FIELD(header_size, 0);
	EXPECT_BAD_FIELD(header_size, 64);
	EXPECT_BAD_FIELD(header_size, SHMKIT_HEADER_SIZE - 1);
	EXPECT_BAD_FIELD(header_size, 0xffffffffu);
	EXPECT_BAD_FIELD(total_size, 0);
	EXPECT_BAD_FIELD(total_size, SHMKIT_HEADER_SIZE - 1);
	EXPECT_BAD_FIELD(total_size, UINT64_MAX);
	EXPECT_BAD_FIELD(data_offset, 0);
	EXPECT_BAD_FIELD(data_offset, 64);
	EXPECT_BAD_FIELD(data_offset, TOTAL + 64);
	EXPECT_BAD_FIELD(data_offset, UINT64_MAX - 63);
	EXPECT_BAD_FIELD(data_size, TOTAL);
	EXPECT_BAD_FIELD(data_size, TOTAL - SHMKIT_DATA_OFFSET + 1);
	/* data_offset + data_size wraps around to a small number. */
	EXPECT_BAD_FIELD(data_size, UINT64_MAX - 64);
	EXPECT_BAD_FIELD(data_size, UINT64_MAX);
}

TEST(truncated)
{
	struct shmkit_header *h = make_header();

	/* The object is shorter than the header says. */
	ASSERT_ERR(validate(h, TOTAL - 1), -EBADMSG);
	ASSERT_ERR(validate(h, TOTAL / 2), -EBADMSG);
	ASSERT_ERR(validate(h, SHMKIT_HEADER_SIZE), -EBADMSG);
	ASSERT_ERR(validate(h, TOTAL), 0);
	free(h);
}

/*
 * With fewer bytes available than a header, nothing past them may be read:
 * the header is put at the end of a page followed by an inaccessible one.
 */
TEST(short_avail_does_not_overread)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *map;
	struct shmkit_header *h = make_header();
	struct shmkit_header_view v;

	map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		   0);
	ASSERT_TRUE(map != MAP_FAILED);
	ASSERT_SYS(mprotect(map + page, (size_t)page, PROT_NONE));

	for (size_t avail = 0; avail < SHMKIT_HEADER_SIZE; avail += 8) {
		unsigned char *base = map + page - avail;
		int in_progress = -1;
		int rc;

		memcpy(base, h, avail);
		rc = shmkit__header_validate(base, avail, &v, &in_progress);
		if (rc != -EBADMSG && rc != -EMEDIUMTYPE) {
			char b[160];
			th_fail(__FILE__, __LINE__,
				"avail %zu: got %s, expected -EBADMSG or -EMEDIUMTYPE", avail,
				th_errdesc(rc, b, sizeof(b)));
		}
	}
	munmap(map, (size_t)page * 2);
	free(h);
}

TEST(state_is_not_checksummed)
{
	struct shmkit_header *h = make_header();
	struct shmkit_header_view v;

	atomic_store(&h->state, SHMKIT_STATE_BROKEN);
	ASSERT_EQ(shmkit__header_validate(h, TOTAL, &v, NULL), 0);
	ASSERT_EQ(v.state, SHMKIT_STATE_BROKEN);
	atomic_store(&h->state, SHMKIT_STATE_INITIALIZING);
	ASSERT_EQ(shmkit__header_validate(h, TOTAL, &v, NULL), 0);
	ASSERT_EQ(v.state, SHMKIT_STATE_INITIALIZING);
	free(h);
}

TEST(validate_does_not_write)
{
	struct shmkit_header *h = make_header();
	struct shmkit_header *copy = alloc_zeroed(TOTAL);
	struct shmkit_header_view v;
	void *ro;

	/* A valid header in read-only memory: validate only reads. */
	ro = mmap(NULL, TOTAL, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(ro != MAP_FAILED);
	memcpy(ro, h, SHMKIT_HEADER_SIZE);
	ASSERT_SYS(mprotect(ro, TOTAL, PROT_READ));
	ASSERT_EQ(shmkit__header_validate(ro, TOTAL, &v, NULL), 0);
	ASSERT_EQ(v.total_size, TOTAL);
	ASSERT_SYS(munmap(ro, TOTAL));

	/* A damaged one is left as it was. */
	h->data_size = UINT64_MAX;
	memcpy(copy, h, TOTAL);
	ASSERT_ERR(validate(h, TOTAL), -EBADMSG);
	ASSERT_EQ(memcmp(copy, h, TOTAL), 0);
	free(copy);
	free(h);
}
