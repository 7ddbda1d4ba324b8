// SPDX-License-Identifier: Apache-2.0
/*
 * vigil-exec [-L RIGHTS [-A RIGHTS:PATH]...]... PROCS_FILE PATH ARGV0 [ARGS...]
 *
 * The launcher of `vigil run`: confines itself with the Landlock layers it is
 * given, joins the cgroup (writes "0" to its cgroup.procs, which moves the
 * writer) and execs PATH with ARGV0 and ARGS.
 *
 * -L RIGHTS starts a Landlock layer that handles the filesystem RIGHTS (a
 * LANDLOCK_ACCESS_FS_* mask, hex); each -A RIGHTS:PATH that follows grants
 * RIGHTS beneath PATH (a directory) or on PATH (a file) in that layer. Every
 * layer is applied (landlock_restrict_self), so an access must be granted by
 * each: one layer per policy rule, and two rules that both limit writes mean
 * writes allowed where both allow them. Rights this kernel's Landlock does
 * not know are dropped from the layer (they cannot be handled, so they stay
 * allowed, as on a kernel without them). The exec'd program and everything
 * it starts inherit the layers; nothing can lift them.
 *
 * After the write that joins, the next syscall is the execve itself: the
 * observed command's record starts at its own exec, with nothing of the
 * launcher's charged to it (the procs file is opened close-on-exec before
 * the layers are applied, so no open, and no close, follows). PATH is
 * already resolved by the caller: no search here.
 *
 * vigil-exec --guard CGROUP_DIR
 *
 * The watchdog of `vigil run`: waits for its standard input to end. "done"
 * before the end means Vigil finished the run itself; an end without it
 * means Vigil died (its end of the pipe closed with it), and then the guard
 * kills everything in CGROUP_DIR (cgroup.kill) and removes the cgroup, so a
 * command never goes on unobserved and unconfined.
 *
 * Exit status: 125 when the cgroup cannot be joined or the Landlock layers
 * cannot be applied, 126 when PATH cannot be executed, 127 when it does not
 * exist (the shell's conventions).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

/* Rights that apply to a file (a rule on a file may grant only these). */
#define FILE_RIGHTS (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)
#define MAX_LAYERS 16

struct layer {
	uint64_t handled;
	int fd;
};

/* The filesystem rights each Landlock ABI version knows. */
static uint64_t known_rights(int abi)
{
	uint64_t r = (1ULL << 13) - 1; /* ABI 1: EXECUTE .. MAKE_SYM */

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

static int fail(const char *what, const char *detail)
{
	fprintf(stderr, "vigil run: Landlock: %s%s%s: %s\n", what, detail ? " " : "", detail ? detail : "", strerror(errno));
	return 125;
}

static int guard(const char *dir)
{
	char buf[64], path[4096];
	size_t got = 0;
	ssize_t n;
	int fd;

	while ((n = read(0, buf + got, sizeof(buf) - 1 - got)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && (got += n) >= sizeof(buf) - 1)
			got = 0; /* only the last bytes matter */
	buf[got] = 0;
	if (strstr(buf, "done"))
		return 0;
	snprintf(path, sizeof(path), "%s/cgroup.kill", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1", 1) != 1) {
		fprintf(stderr, "vigil run guard: cannot kill %s: %s\n", dir, strerror(errno));
		return 1;
	}
	close(fd);
	/* The cgroup empties once the kill is delivered; then it can go. Bounded: 5 s. */
	for (int i = 0; i < 500; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "vigil run guard: cannot remove %s: %s\n", dir, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	struct layer layers[MAX_LAYERS];
	int nlayers = 0, abi = 0, fd, i = 1;

	if (argc == 3 && strcmp(argv[1], "--guard") == 0)
		return guard(argv[2]);
	for (; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			break;
		if (strcmp(argv[i], "-L") == 0) {
			struct landlock_ruleset_attr attr = { 0 };

			if (!abi) {
				abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
				if (abi < 0)
					return fail("not available", NULL);
			}
			if (nlayers == MAX_LAYERS) {
				errno = E2BIG;
				return fail("too many layers", NULL);
			}
			attr.handled_access_fs = strtoull(argv[i + 1], NULL, 16) & known_rights(abi);
			layers[nlayers].handled = attr.handled_access_fs;
			layers[nlayers].fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
			if (layers[nlayers].fd < 0)
				return fail("create ruleset", NULL);
			nlayers++;
		} else if (strcmp(argv[i], "-A") == 0 && nlayers > 0) {
			struct landlock_path_beneath_attr rule = { 0 };
			char *path = strchr(argv[i + 1], ':');
			struct stat st;

			if (!path) {
				errno = EINVAL;
				return fail("bad rule", argv[i + 1]);
			}
			*path++ = 0;
			rule.parent_fd = open(path, O_PATH | O_CLOEXEC);
			if (rule.parent_fd < 0 || fstat(rule.parent_fd, &st) < 0)
				return fail("cannot open", path);
			rule.allowed_access = strtoull(argv[i + 1], NULL, 16) & layers[nlayers - 1].handled;
			if (!S_ISDIR(st.st_mode))
				rule.allowed_access &= FILE_RIGHTS;
			if (rule.allowed_access && syscall(SYS_landlock_add_rule, layers[nlayers - 1].fd, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0)
				return fail("add rule for", path);
			close(rule.parent_fd);
		} else {
			break;
		}
	}
	if (argc - i < 3) {
		fprintf(stderr, "usage: vigil-exec [-L RIGHTS [-A RIGHTS:PATH]...]... PROCS_FILE PATH ARGV0 [ARGS...] | --guard CGROUP_DIR\n");
		return 2;
	}
	fd = open(argv[i], O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "vigil run: cannot join cgroup %s: %s\n", argv[i], strerror(errno));
		return 125;
	}
	for (int l = 0; l < nlayers; l++) {
		/* Root, with CAP_SYS_ADMIN, needs no no_new_privs: setuid programs in the command keep working. */
		if (geteuid() != 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return fail("no_new_privs", NULL);
		if (syscall(SYS_landlock_restrict_self, layers[l].fd, 0) < 0)
			return fail("restrict", NULL);
		close(layers[l].fd);
	}
	if (write(fd, "0", 1) != 1) {
		fprintf(stderr, "vigil run: cannot join cgroup %s: %s\n", argv[i], strerror(errno));
		return 125;
	}
	execv(argv[i + 1], &argv[i + 2]);
	fprintf(stderr, "vigil run: %s: %s\n", argv[i + 1], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
