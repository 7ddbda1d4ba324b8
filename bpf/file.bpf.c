// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * File opens (open, openat, openat2, creat), reported at syscall exit with
 * the result; the path and flags come from the arguments the kernel saved
 * at entry, so the entry costs nothing.
 *
 * Opens are most records, and most paths are a few dozen bytes of the 512
 * the struct holds. So the record is built in a per-CPU scratch copy and
 * only the bytes in use (the fixed fields and the path with its NUL) go to
 * the ring, in one bpf_ringbuf_output: a typical open takes ~140 bytes of
 * the ring instead of ~610, the ring holds four times as many before it is
 * full, and the consumer reads dense records. The scratch copy is safe to
 * reuse: this handler runs only from the syscall-exit hook, which does not
 * nest on a CPU (the kernel's recursion guard) and runs with preemption off.
 */
#include "common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_open_event);
} open_scratch SEC(".maps");

#define AT_FDCWD -100
#define O_CREAT_TRUNC_WRONLY (0100 | 01000 | 01)

__noinline int vigil_open_exit(__u32 cls, const struct vigil_syscall_args *a, long ret)
{
	struct vigil_open_event *e;
	__u64 dfd = (__u64)(long)AT_FDCWD, path, flags, mode, size;
	__u32 zero = 0;
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
	e = bpf_map_lookup_elem(&open_scratch, &zero);
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
	size = offsetof(struct vigil_open_event, path) + (__u64)n;
	if (size > sizeof(*e)) /* cannot happen (n <= sizeof(e->path)); bounds it for the verifier */
		size = sizeof(*e);
	vigil_output(e, size, VIGIL_EV_OPEN);
	return 0;
}
