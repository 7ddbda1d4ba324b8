// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Credential changes by the setuid family (setuid, setgid, setreuid, setregid,
 * setresuid, setresgid, setfsuid, setfsgid): the ids are kept at the call's
 * entry, and a record is made when they changed. The change is settled at
 * the thread's next syscall entry (a thread always makes one: exit_group or
 * execve at the latest), or at its exit when a signal ends it first. So the
 * family needs no exit hook: each syscall trace event attached at exit costs
 * a grace period when it is detached (one after another, under the
 * kernel's event mutex), and this family is eight of them.
 */
#include "common.bpf.h"

static __always_inline __u64 pack(__u32 a, __u32 b)
{
	return (__u64)a << 32 | b;
}

static __always_inline void pending_add(__s64 d)
{
	__sync_fetch_and_add(&pending_calls, d);
}

__noinline int vigil_setid_enter(void)
{
	struct task_struct *task = vigil_current_task();
	const struct cred *c = task->cred;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_pending_syscall p = {
		.args = { pack(c->uid.val, c->euid.val), pack(c->gid.val, c->egid.val) },
	};

	/* The thread's previous call was settled at this syscall's entry, so the entry is new. */
	if (bpf_map_update_elem(&pending, &tid, &p, BPF_NOEXIST) == 0)
		pending_add(1);
	else if (bpf_map_update_elem(&pending, &tid, &p, BPF_EXIST))
		vigil_count_drop(VIGIL_EV_CRED); /* 16384 threads mid-call at once: the change would go unseen, so counted */
	return 0;
}

__noinline int vigil_setid_settle(void)
{
	struct task_struct *task = vigil_current_task();
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
	if (bpf_map_delete_elem(&pending, &tid) == 0)
		pending_add(-1);
	return 0;
}
