/* SPDX-License-Identifier: MIT */
/* A program built against an installed shmkit: creates, reads back, removes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shmkit/shmkit.h>

int
main(void)
{
	char spec[64];
	shmkit_segment *seg = NULL;
	shmkit_segment_opts opts;
	shmkit_segment_opts_init(&opts);
	opts.size = 4096;
	snprintf(spec, sizeof(spec), "posix:install-consumer-%d", (int)getpid());
	int rc = shmkit_segment_create(&seg, spec, &opts);
	if (rc != 0) {
		fprintf(stderr, "consumer: %s: %s\n", spec, shmkit_strerror(rc));
		return 1;
	}
	strcpy(shmkit_segment_data(seg), "installed");
	rc = strcmp(shmkit_segment_data(seg), "installed") != 0;
	printf("shmkit %s (layout %u): %s\n", shmkit_version(), shmkit_layout_version(),
	       rc == 0 ? "ok" : "mismatch");
	shmkit_segment_destroy(seg);
	return rc;
}
