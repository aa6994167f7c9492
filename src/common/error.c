/* SPDX-License-Identifier: MIT */
/* shmkit_strerror(): texts for shmkit's negative errno return codes. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <shmkit/common.h>

/*
 * Codes that shmkit gives a meaning of its own get a text that says what
 * happened in shmkit's terms; the C library's text for them ("Protocol
 * error", "Wrong medium type") would mislead.
 */
static const struct {
	int err;
	const char *text;
} texts[] = {
	{EPROTO, "shmkit layout version mismatch (object made by an incompatible shmkit)"},
	{EMEDIUMTYPE, "not a shmkit object (no shmkit header; open it raw to map it anyway)"},
	{EPROTOTYPE, "shmkit object of another kind"},
	{EBADMSG, "shared state failed validation (corrupted or truncated object)"},
	{EOWNERDEAD, "previous owner died (creator or lock holder)"},
	{ENOTRECOVERABLE, "object is marked broken and cannot be recovered"},
	{ESTALE, "operation fenced: it was too slow and has been given up"},
	{ECONNRESET, "peer died"},
	{EIDRM, "object was removed"},
	{ELOOP, "refusing to follow a symbolic link at the object's name"},
	{EFBIG, "size too large for this backend"},
	{EOPNOTSUPP, "operation not supported by this backend"},
};

SHMKIT_API const char *
shmkit_strerror(int err)
{
	if (err == INT_MIN) {
		return "Unknown error"; /* -INT_MIN does not exist */
	}
	if (err < 0) {
		err = -err;
	}
	if (err == 0) {
		return "Success";
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (texts[i].err == err) {
			return texts[i].text;
		}
	}
	/* strerror() is not thread-safe in general, but glibc returns static
	 * strings for every known errno, and unknown ones get a fixed text. */
	if (err > 0 && err < 4096) {
		const char *s = strerrordesc_np(err);
		if (s != NULL) {
			return s;
		}
	}
	return "Unknown error";
}
