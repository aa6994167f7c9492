/* SPDX-License-Identifier: MIT */
/* The list of measured transports, in the order of the tables. */
#include "bench.h"

/*
 * A new row (the library's bus comes next) is one file that defines a
 * struct bench_transport, plus one line here and one in CMakeLists.txt.
 * The floors come first because the ratios refer to them.
 */
extern const struct bench_transport bench_t_cacheline;
extern const struct bench_transport bench_t_futex;
extern const struct bench_transport bench_t_shmspin;
extern const struct bench_transport bench_t_pipe;
extern const struct bench_transport bench_t_unix_stream;
extern const struct bench_transport bench_t_unix_seqpacket;
extern const struct bench_transport bench_t_eventfd;
extern const struct bench_transport bench_t_sysvmsg;
extern const struct bench_transport bench_t_posixmq;
extern const struct bench_transport bench_t_tcp;
extern const struct bench_transport bench_t_queue;
extern const struct bench_transport bench_t_queue_spin;
extern const struct bench_transport bench_t_queue_sleep;
extern const struct bench_transport bench_t_ring;
extern const struct bench_transport bench_t_ring_spin;
extern const struct bench_transport bench_t_ring_sleep;
extern const struct bench_transport bench_t_ring_batch;

const struct bench_transport *const bench_transports[] = {
	&bench_t_cacheline,   &bench_t_futex,       &bench_t_shmspin,
	&bench_t_pipe,        &bench_t_unix_stream, &bench_t_unix_seqpacket,
	&bench_t_eventfd,     &bench_t_sysvmsg,     &bench_t_posixmq,
	&bench_t_tcp,         &bench_t_queue,       &bench_t_queue_spin,
	&bench_t_queue_sleep, &bench_t_ring,        &bench_t_ring_spin,
	&bench_t_ring_sleep,  &bench_t_ring_batch,
};

const size_t bench_ntransports = sizeof(bench_transports) / sizeof(bench_transports[0]);
