// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * File opens (open, openat, openat2, creat), reported at syscall exit with
 * the result; the path and flags come from the arguments the kernel saved
 * at entry, so the entry costs nothing.
 */
#include "common.bpf.h"

#define AT_FDCWD -100
#define O_CREAT_TRUNC_WRONLY (0100 | 01000 | 01)

__noinline int vigil_open_exit(__u32 cls, const struct vigil_syscall_args *a, long ret)
{
	struct vigil_open_event *e;
	__u64 dfd = (__u64)(long)AT_FDCWD, path, flags, mode;
	long n;

	if (!a)
		return 0;
	switch (cls) {
	case VIGIL_SC_OPENAT: /* dfd, path, flags, mode */
		dfd = a->arg[0], path = a->arg[1], flags = a->arg[2], mode = a->arg[3];
		break;
	case VIGIL_SC_OPEN: /* path, flags, mode */
		path = a->arg[0], flags = a->arg[1], mode = a->arg[2];
		break;
	case VIGIL_SC_CREAT: /* path, mode */
		path = a->arg[0], flags = O_CREAT_TRUNC_WRONLY, mode = a->arg[1];
		break;
	case VIGIL_SC_OPENAT2: { /* dfd, path, how, size */
		struct open_how how = {};

		bpf_probe_read_user(&how, sizeof(how), (void *)a->arg[2]);
		dfd = a->arg[0], path = a->arg[1], flags = how.flags, mode = how.mode;
		break;
	}
	default:
		return 0;
	}
	e = vigil_reserve(sizeof(*e), VIGIL_EV_OPEN);
	if (!e)
		return 0;
	vigil_fill_header(&e->hdr, VIGIL_EV_OPEN);
	e->ret = ret;
	e->dfd = (__s32)dfd;
	e->open_flags = flags;
	e->mode = (__u32)mode;
	e->flags = 0;
	n = bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)path);
	if (n <= 0)
		n = 1, e->path[0] = 0;
	e->path_len = n - 1;
	if (n == sizeof(e->path))
		e->flags |= VIGIL_F_PATH_TRUNCATED;
	vigil_submit(e);
	return 0;
}
