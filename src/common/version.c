/* SPDX-License-Identifier: MIT */
/* Library and layout version queries. */
#include <shmkit/common.h>
#include <shmkit/version.h>

SHMKIT_API const char *
shmkit_version(void)
{
	return SHMKIT_VERSION_STRING;
}

SHMKIT_API unsigned
shmkit_layout_version(void)
{
	return SHMKIT_LAYOUT_VERSION;
}
