/* SPDX-License-Identifier: MIT */
/* shmkit-bench-queue: shmkit's typed message queue against System V and POSIX queues. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "q_bench.h"

const size_t qb_sizes[QB_NSIZES] = {64, 4096};
const unsigned qb_prods[QB_NPRODS] = {1, 2};

static const char usage[] =
	"usage: shmkit-bench-queue [options]\n"
	"Measures shmkit's typed message queue (shmkit_queue) next to the kernel's\n"
	"System V queue (msgsnd/msgrcv) and POSIX queue (mq_send/mq_receive):\n"
	"  - throughput with 1 and 2 producers on the first CPU and one consumer on\n"
	"    the second, 64 B and 4 KiB messages, queues with room for 64 messages;\n"
	"    every message checked (producer id, per-producer sequence, checksum);\n"
	"    each row also as a ratio to the System V queue;\n"
	"  - selective receive in one process over 1,000 queued messages of 16\n"
	"    types (msgtyp 0, > 0, < 0, and > 0 with EXCEPT), shmkit against\n"
	"    System V, as ratios to msgtyp 0;\n"
	"and reports the queue work's selective-receive target.\n"
	"\n"
	"  --quick          fewer messages and rounds (well under half a minute)\n"
	"  --smoke          tiny counts, a few seconds (for the test suite)\n"
	"  --iters N        N timed messages per producer in each throughput\n"
	"                   measurement, and N timed operations per selective mode\n"
	"  --host-ipc       measure the kernel's queues with the host's limits (by\n"
	"                   default, when allowed, in a private IPC namespace whose\n"
	"                   kernel.msgmnb and fs.mqueue.msg_max let every queue\n"
	"                   hold 64 messages, as shmkit's)\n"
	"  --json           print one JSON document instead of the tables\n"
	"  --help           print this help and exit\n"
	"\n"
	"Exit status: 0 measured, 1 runtime failure (a failed call, a message\n"
	"lost, duplicated, reordered or corrupted, the watchdog), 2 bad usage.\n";

static void
set_mode(struct qb_plan *plan, int quick, int smoke, unsigned long iters)
{
	unsigned long n;

	if (smoke) {
		plan->mode = "smoke";
		plan->tput_msgs[0] = 500;
		plan->tput_msgs[1] = 100;
		plan->rounds = 1;
		plan->sel_batches = 3;
		plan->sel_warmup = 1000;
	} else if (quick) {
		plan->mode = "quick";
		plan->tput_msgs[0] = 100000;
		plan->tput_msgs[1] = 25000;
		plan->rounds = 3;
		plan->sel_batches = 15;
		plan->sel_warmup = 2000;
	} else {
		plan->mode = "full";
		plan->tput_msgs[0] = 400000;
		plan->tput_msgs[1] = 100000;
		plan->rounds = 5;
		plan->sel_batches = 41;
		plan->sel_warmup = 2000;
	}
	/* A batch is one full turn of the queue. */
	plan->sel_batch_ops = QB_SEL_MSGS;
	if (iters != 0) {
		plan->iters_given = 1;
		plan->tput_msgs[0] = plan->tput_msgs[1] = iters;
		if (iters < QB_SEL_MSGS) {
			plan->sel_batch_ops = iters;
			plan->sel_batches = 1;
		} else {
			plan->sel_batches = iters / QB_SEL_MSGS;
		}
	}
	/*
	 * The watchdog bounds each single measurement: a millisecond per
	 * message of the longest one on top of two minutes.
	 */
	n = plan->tput_msgs[0] * QB_NPRODS;
	if (plan->sel_batches * plan->sel_batch_ops > n) {
		n = plan->sel_batches * plan->sel_batch_ops;
	}
	plan->watchdog_s = bench_watchdog_for(smoke, n);
}

/*
 * The throughput rows run in rounds, every row once per round, rather than
 * each row in one go: on a virtual machine the cost of a cross-CPU wake-up
 * drifts by tens of percent within a minute, and a row measured alone would
 * carry its minute's drift into its ratio to the System V row.
 */
static void
run_tput(const struct qb_plan *plan, struct qb_report *rep, int show)
{
	static double v[QB_NSIZES][QB_NPRODS][QB_NROWS][16];

	for (unsigned r = 0; r < plan->rounds; r++) {
		for (int s = 0; s < QB_NSIZES; s++) {
			for (int p = 0; p < QB_NPRODS; p++) {
				for (int i = 0; i < QB_NROWS; i++) {
					struct qb_tput *t = &rep->tput[s][p][i];
					char note[200] = "";
					unsigned long room = 0;

					if (r > 0 && !t->measured) {
						continue;
					}
					bench_progress(
						show,
						"measuring %s: %zu B, %u producer%s, round %u of "
						"%u",
						qb_rows[i].name, qb_sizes[s], qb_prods[p],
						qb_prods[p] == 1 ? "" : "s", r + 1, plan->rounds);
					if (qb_run_tput(plan, &qb_rows[i], qb_sizes[s], qb_prods[p],
							plan->tput_msgs[s], &v[s][p][i][r], &room,
							note, sizeof(note), t->why,
							sizeof(t->why)) != 0) {
						t->measured = 0;
						continue;
					}
					t->measured = 1;
					if (r == 0) {
						t->room = room;
						snprintf(t->note, sizeof(t->note), "%s", note);
					}
				}
			}
		}
	}
	for (int s = 0; s < QB_NSIZES; s++) {
		for (int p = 0; p < QB_NPRODS; p++) {
			for (int i = 0; i < QB_NROWS; i++) {
				struct qb_tput *t = &rep->tput[s][p][i];
				double *x = v[s][p][i];
				unsigned n = plan->rounds;

				if (!t->measured) {
					continue;
				}
				t->mps = bench_median(x, n);
				t->rounds = n;
				t->msgs = plan->tput_msgs[s] * qb_prods[p];
				t->mps_min = x[0];
				t->mps_max = x[n - 1];
				t->mbps = t->mps * (double)qb_sizes[s] / 1e6;
			}
		}
	}
}

/* Write @val into the sysctl file @path; 0 or -errno. */
static int
write_sysctl(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	ssize_t n = write(fd, val, strlen(val));
	int err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

/*
 * The kernel's queues are limited by kernel.msgmnb (16 KiB: four 4 KiB
 * messages) and fs.mqueue.msg_max (10 messages); raising them needs
 * CAP_SYS_RESOURCE, and changing the host's settings is not a benchmark's
 * business. Both belong to the IPC namespace: a private one (CAP_SYS_ADMIN)
 * gets its own, raised here and gone with the process.
 */
static void
private_ipc(struct qb_plan *plan)
{
	if (unshare(CLONE_NEWIPC) != 0) {
		snprintf(plan->ipc_note, sizeof(plan->ipc_note),
			 "the host's IPC namespace and limits (a private one: %s)",
			 strerror(errno));
		return;
	}
	int a = write_sysctl("/proc/sys/kernel/msgmnb", "1048576");
	int b = write_sysctl("/proc/sys/fs/mqueue/msg_max", "64");
	snprintf(plan->ipc_note, sizeof(plan->ipc_note),
		 "a private IPC namespace, kernel.msgmnb %s, fs.mqueue.msg_max %s",
		 a == 0 ? "1048576" : strerror(-a), b == 0 ? "64" : strerror(-b));
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"smoke", no_argument, NULL, 's'},
		{"iters", required_argument, NULL, 'i'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"host-ipc", no_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	static struct qb_report rep;
	struct bench_plan probe;
	struct bench_machine mach;
	struct qb_plan plan;
	struct bench_cli cli = {0};
	int host_ipc = 0, c, show;
	unsigned long iters = 0;

	bench_prog = "shmkit-bench-queue";
	memset(&plan, 0, sizeof(plan));
	memset(&probe, 0, sizeof(probe));
	memset(&mach, 0, sizeof(mach));
	while ((c = bench_getopt(argc, argv, opts, usage, &cli)) != -1) {
		switch (c) {
		case 'i':
			iters = bench_count_arg("--iters", optarg);
			break;
		case 'H':
			host_ipc = 1;
			break;
		}
	}
	set_mode(&plan, cli.quick, cli.smoke, iters);
	if (host_ipc) {
		snprintf(plan.ipc_note, sizeof(plan.ipc_note),
			 "the host's IPC namespace and limits (--host-ipc)");
	} else {
		private_ipc(&plan);
	}

	/* Pins this process to the first usable CPU and picks the second. */
	bench_probe_machine(&probe, &mach);
	plan.pinned = probe.pinned;
	plan.cpu_prod = probe.cpu_parent;
	plan.cpu_cons = probe.cpu_child;
	if (plan.pinned) {
		snprintf(plan.pin_note, sizeof(plan.pin_note),
			 "producers on CPU %d, consumer on CPU %d (with 2 producers, both share "
			 "CPU %d); selective receive in one process on CPU %d",
			 plan.cpu_prod, plan.cpu_cons, plan.cpu_prod, plan.cpu_prod);
	} else if (mach.cpus_allowed < 2) {
		snprintf(plan.pin_note, sizeof(plan.pin_note),
			 "not pinned: only one CPU is usable, so producers and consumer share it");
	} else {
		snprintf(plan.pin_note, sizeof(plan.pin_note), "not pinned: %s", mach.pin_note);
	}
	qb_guard_init();

	show = isatty(STDERR_FILENO);
	rep.plan = &plan;
	rep.mach = &mach;
	run_tput(&plan, &rep, show);
	for (int i = 0; i < QB_NSEL; i++) {
		bench_progress(show, "measuring %s: selective receive", qb_sel_rows[i]->name);
		qb_run_select(&plan, qb_sel_rows[i], rep.sel[i], rep.sel_note[i],
			      sizeof(rep.sel_note[i]));
	}
	bench_progress(show, NULL);

	if (cli.json) {
		qb_print_json(&rep);
	} else {
		qb_print_table(&rep);
	}
	return bench_finish();
}
