// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * File opens (open, openat, openat2, creat): the path pointer and flags are
 * kept at syscall entry, the record is made at exit with the result.
 */
#include "common.bpf.h"

#define AT_FDCWD -100
#define O_CREAT_TRUNC_WRONLY (0100 | 01000 | 01)

__noinline int vigil_open_enter(__u32 cls, __u64 a0, __u64 a1, __u64 a2, __u64 a3)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_pending_syscall p = {};

	switch (cls) {
	case VIGIL_SC_OPENAT: /* dfd, path, flags, mode */
		p.args[0] = a0, p.args[1] = a1, p.args[2] = a2, p.args[3] = a3;
		break;
	case VIGIL_SC_OPEN: /* path, flags, mode */
		p.args[0] = (__u64)(long)AT_FDCWD, p.args[1] = a0, p.args[2] = a1, p.args[3] = a2;
		break;
	case VIGIL_SC_CREAT: /* path, mode */
		p.args[0] = (__u64)(long)AT_FDCWD, p.args[1] = a0, p.args[2] = O_CREAT_TRUNC_WRONLY, p.args[3] = a1;
		break;
	case VIGIL_SC_OPENAT2: { /* dfd, path, how, size */
		struct open_how how = {};

		bpf_probe_read_user(&how, sizeof(how), (void *)a2);
		p.args[0] = a0, p.args[1] = a1, p.args[2] = how.flags, p.args[3] = how.mode;
		break;
	}
	default:
		return 0;
	}
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 0;
}

__noinline int vigil_open_exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_pending_syscall *p = bpf_map_lookup_elem(&pending, &tid);
	struct vigil_open_event *e;
	long n;

	if (!p)
		return 0;
	e = vigil_reserve(sizeof(*e), VIGIL_EV_OPEN);
	if (!e)
		goto out;
	vigil_fill_header(&e->hdr, VIGIL_EV_OPEN);
	e->ret = ret;
	e->dfd = (__s32)p->args[0];
	e->open_flags = p->args[2];
	e->mode = (__u32)p->args[3];
	e->flags = 0;
	n = bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)p->args[1]);
	if (n <= 0)
		n = 1, e->path[0] = 0;
	e->path_len = n - 1;
	if (n == sizeof(e->path))
		e->flags |= VIGIL_F_PATH_TRUNCATED;
	vigil_submit(e);
out:
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}
