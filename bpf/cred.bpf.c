// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Credential changes by the setuid family (setuid, setgid, setreuid, setregid,
 * setresuid, setresgid, setfsuid, setfsgid): the ids are kept at entry and a
 * record is made at exit only when they changed.
 */
#include "common.bpf.h"

static __always_inline __u64 pack(__u32 a, __u32 b)
{
	return (__u64)a << 32 | b;
}

__noinline int vigil_setid_enter(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const struct cred *c = task->cred;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_pending_syscall p = {
		.args = { pack(c->uid.val, c->euid.val), pack(c->gid.val, c->egid.val) },
	};

	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 0;
}

__noinline int vigil_setid_exit(long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const struct cred *c = task->cred;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_pending_syscall *p = bpf_map_lookup_elem(&pending, &tid);
	struct vigil_cred_event *e;
	__u64 ids, gids;

	if (!p)
		return 0;
	ids = pack(c->uid.val, c->euid.val);
	gids = pack(c->gid.val, c->egid.val);
	if (ids == p->args[0] && gids == p->args[1])
		goto out;
	e = vigil_reserve(sizeof(*e), VIGIL_EV_CRED);
	if (!e)
		goto out;
	vigil_fill_header(&e->hdr, VIGIL_EV_CRED);
	e->old_uid = p->args[0] >> 32;
	e->old_euid = (__u32)p->args[0];
	e->old_gid = p->args[1] >> 32;
	e->old_egid = (__u32)p->args[1];
	e->new_uid = ids >> 32;
	e->new_euid = (__u32)ids;
	e->new_gid = gids >> 32;
	e->new_egid = (__u32)gids;
	vigil_submit(e);
out:
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}
