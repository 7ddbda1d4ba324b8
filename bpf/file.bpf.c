// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * File opens (open, openat, openat2, creat). The path pointer and flags are
 * kept at syscall entry and the record is made at exit, with the result.
 * Syscall tracepoints fire only for these syscalls, so nothing is paid on
 * the others (fentry/kprobes are not available on every kernel we run on).
 */
#include "common.bpf.h"

struct vigil_pending_map pending_open SEC(".maps");

static __always_inline int open_enter(long dfd, __u64 path, __u64 flags, __u64 mode)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct vigil_pending_syscall p = { .arg0 = dfd, .arg1 = path, .arg2 = flags, .arg3 = mode };

	if (!vigil_in_scope(pid_tgid >> 32))
		return 0;
	bpf_map_update_elem(&pending_open, &tid, &p, BPF_ANY);
	return 0;
}

#define AT_FDCWD -100
#define O_CREAT_TRUNC_WRONLY (0100 | 01000 | 01)

SEC("tp/syscalls/sys_enter_openat")
int vigil_openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3]);
}

SEC("tp/syscalls/sys_enter_open")
int vigil_open_enter(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(AT_FDCWD, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tp/syscalls/sys_enter_creat")
int vigil_creat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(AT_FDCWD, ctx->args[0], O_CREAT_TRUNC_WRONLY, ctx->args[1]);
}

SEC("tp/syscalls/sys_enter_openat2")
int vigil_openat2_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};

	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return open_enter(ctx->args[0], ctx->args[1], how.flags, how.mode);
}

/* Attached to sys_exit_openat here and, by userspace, to the other three exits. */
SEC("tp/syscalls/sys_exit_openat")
int vigil_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_pending_syscall *p = bpf_map_lookup_elem(&pending_open, &tid);
	struct vigil_open_event *e;
	long n;

	if (!p)
		return 0;
	e = vigil_reserve(sizeof(*e), VIGIL_EV_OPEN);
	if (!e)
		goto out;
	vigil_fill_header(&e->hdr, VIGIL_EV_OPEN);
	e->ret = ctx->ret;
	e->dfd = (__s32)p->arg0;
	e->open_flags = p->arg2;
	e->mode = (__u32)p->arg3;
	e->flags = 0;
	n = bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)p->arg1);
	if (n <= 0)
		n = 1, e->path[0] = 0;
	e->path_len = n - 1;
	if (n == sizeof(e->path))
		e->flags |= VIGIL_F_PATH_TRUNCATED;
	vigil_submit(e);
out:
	bpf_map_delete_elem(&pending_open, &tid);
	return 0;
}
