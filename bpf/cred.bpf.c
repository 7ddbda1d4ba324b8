// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Credential changes by the setuid family (setuid, setgid, setreuid, setregid,
 * setresuid, setresgid, setfsuid, setfsgid). One entry program and one exit
 * program; userspace attaches each to all eight syscalls' tracepoints. The
 * ids before the call are kept at entry; a record is made only when they changed.
 */
#include "common.bpf.h"

struct vigil_pending_map pending_cred SEC(".maps");

static __always_inline __u64 pack(__u32 a, __u32 b)
{
	return (__u64)a << 32 | b;
}

SEC("tp/syscalls/sys_enter_setuid")
int vigil_setid_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	const struct cred *c = task->cred;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct vigil_pending_syscall p = {
		.arg0 = pack(c->uid.val, c->euid.val),
		.arg1 = pack(c->gid.val, c->egid.val),
	};

	if (!vigil_in_scope(pid_tgid >> 32))
		return 0;
	bpf_map_update_elem(&pending_cred, &tid, &p, BPF_ANY);
	return 0;
}

SEC("tp/syscalls/sys_exit_setuid")
int vigil_setid_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	const struct cred *c = task->cred;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_pending_syscall *p = bpf_map_lookup_elem(&pending_cred, &tid);
	struct vigil_cred_event *e;
	__u64 ids, gids;

	if (!p)
		return 0;
	ids = pack(c->uid.val, c->euid.val);
	gids = pack(c->gid.val, c->egid.val);
	if (ids == p->arg0 && gids == p->arg1)
		goto out;
	e = vigil_reserve(sizeof(*e), VIGIL_EV_CRED);
	if (!e)
		goto out;
	vigil_fill_header(&e->hdr, VIGIL_EV_CRED);
	e->old_uid = p->arg0 >> 32;
	e->old_euid = (__u32)p->arg0;
	e->old_gid = p->arg1 >> 32;
	e->old_egid = (__u32)p->arg1;
	e->new_uid = ids >> 32;
	e->new_euid = (__u32)ids;
	e->new_gid = gids >> 32;
	e->new_egid = (__u32)gids;
	vigil_submit(e);
out:
	bpf_map_delete_elem(&pending_cred, &tid);
	return 0;
}
