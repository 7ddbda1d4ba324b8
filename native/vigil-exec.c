// SPDX-License-Identifier: Apache-2.0
/*
 * vigil-exec PROCS_FILE PATH ARGV0 [ARGS...]
 *
 * The launcher of `vigil run`: joins the cgroup (writes "0" to its
 * cgroup.procs, which moves the writer) and execs PATH with ARGV0 and ARGS.
 * After the write that joins, the next syscall is the execve itself: the
 * observed command's record starts at its own exec, with nothing of the
 * launcher's charged to it (a shell needed a dup2, a close and a PATH search
 * of execve attempts). The procs file is opened close-on-exec, so no close
 * follows either. PATH is already resolved by the caller: no search here.
 *
 * Exit status: 125 when the cgroup cannot be joined, 126 when PATH cannot be
 * executed, 127 when it does not exist (the shell's conventions).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int fd;

	if (argc < 4) {
		fprintf(stderr, "usage: vigil-exec PROCS_FILE PATH ARGV0 [ARGS...]\n");
		return 2;
	}
	fd = open(argv[1], O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1) {
		fprintf(stderr, "vigil run: cannot join cgroup %s: %s\n", argv[1], strerror(errno));
		return 125;
	}
	execv(argv[2], &argv[3]);
	fprintf(stderr, "vigil run: %s: %s\n", argv[2], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
