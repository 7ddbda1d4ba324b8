/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel-side helpers shared by every Vigil program: the load-time knobs, the
 * maps every program uses (defined once in maps.bpf.c, linked with
 * `bpftool gen object`), scope filtering and counted ring-buffer reservation.
 */
#ifndef VIGIL_COMMON_BPF_H
#define VIGIL_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "vigil.h"

/* Knobs set by userspace before load (.rodata); the verifier prunes dead branches. */
extern const volatile __u32 observer_tgid;
extern const volatile __u8 filter_cgroups;
extern const volatile __u8 syscall_mode; /* enum vigil_syscall_mode */
extern const volatile __u8 firehose_clock; /* enum vigil_firehose_clock */

/* Maps every program shares. */
struct vigil_events_map {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024); /* resized by userspace before load */
};

struct vigil_cgroup_set {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
};

struct vigil_scope_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_scope);
};

struct vigil_drop_counters {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
};

/*
 * In-kernel agent identity: a process's agent by thread-group id (children
 * inherit it at fork, so a subtree is attributed from its first
 * instruction), and agents defined by a cgroup.
 */
struct vigil_agent_by_tgid {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
};

struct vigil_agent_by_cgroup {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u32);
};

/* Weak: every unit carries the same definition and the BPF linker keeps one. */
struct vigil_events_map events SEC(".maps") __weak;
struct vigil_agent_by_tgid agent_by_tgid SEC(".maps") __weak;
struct vigil_agent_by_cgroup agent_by_cgroup SEC(".maps") __weak;
struct vigil_cgroup_set observed_cgroups SEC(".maps") __weak;
struct vigil_scope_map observed_scope SEC(".maps") __weak;
struct vigil_drop_counters drops SEC(".maps") __weak;

/*
 * Arguments kept from a syscall's entry until its exit, keyed by thread id
 * (a thread is in one syscall at a time). LRU so that an entry whose exit
 * never came (a thread killed in between) is recycled, not leaked.
 */
struct vigil_pending_syscall {
	__u64 args[4];
};

struct vigil_pending_map {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct vigil_pending_syscall);
};

struct vigil_pending_map pending SEC(".maps") __weak;

/*
 * Handlers called by the syscall dispatchers (syscalls.bpf.c) for the
 * classes of bpf/vigil.h, one unit per concern. Global functions: the
 * verifier checks each on its own, so their arguments are plain scalars.
 */
int vigil_open_enter(__u32 cls, __u64 a0, __u64 a1, __u64 a2, __u64 a3);
int vigil_open_exit(long ret);
int vigil_connect_enter(__u64 fd, __u64 addr, __u64 len);
int vigil_connect_exit(long ret);
int vigil_setid_enter(void);
int vigil_setid_exit(long ret);
/* enforce.bpf.c: the verdict on an exec by `agent` of the binary (dev, ino); acts and reports it. */
int vigil_enforce_exec(__u32 agent, __u64 ino, __u32 dev);

static __always_inline void vigil_count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		*n += 1; /* per-CPU slot: no atomic needed */
}

/*
 * Whether the current task's cgroup is observed. Runs on every syscall of a
 * scoped observer, so: the cgroup id is read through the task (what
 * bpf_get_current_cgroup_id() does, without the call) and a small set is
 * compared inline (an array lookup is inlined by the verifier; a hash lookup
 * costs ~15 ns). See struct vigil_scope for the update protocol.
 */
static __always_inline bool vigil_cgroup_observed(struct task_struct *task)
{
	__u64 cg = task->cgroups->dfl_cgrp->kn->id;
	__u32 zero = 0;
	struct vigil_scope *scope = bpf_map_lookup_elem(&observed_scope, &zero);
	__u64 n;

	if (!scope)
		return false;
	if (*(volatile __u64 *)&scope->use_hash)
		return bpf_map_lookup_elem(&observed_cgroups, &cg) != NULL;
	n = *(volatile __u64 *)&scope->count;
#pragma unroll
	for (int i = 0; i < VIGIL_SCOPE_INLINE; i++) {
		if (i >= n)
			break;
		if (*(volatile __u64 *)&scope->ids[i] == cg)
			return true;
	}
	return false;
}

/* True when `task` (the current one) is in scope: not the observer, and in an observed cgroup. */
static __always_inline bool vigil_task_in_scope(struct task_struct *task)
{
	if (task->tgid == observer_tgid)
		return false;
	return !filter_cgroups || vigil_cgroup_observed(task);
}

/* The agent of a process (0: none): its own identity first, then its cgroup's. */
static __always_inline __u32 vigil_agent_of(__u32 tgid)
{
	__u32 *a = bpf_map_lookup_elem(&agent_by_tgid, &tgid);
	__u64 cg;

	if (a)
		return *a;
	cg = bpf_get_current_cgroup_id();
	a = bpf_map_lookup_elem(&agent_by_cgroup, &cg);
	return a ? *a : 0;
}

static __always_inline bool vigil_current_in_scope(void)
{
	return vigil_task_in_scope(bpf_get_current_task_btf());
}

/* Reserve a record, counting the failure per CPU and per type (never silent). */
static __always_inline void *vigil_reserve(__u32 size, __u32 type)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);

	if (!e)
		vigil_count_drop(type);
	return e;
}

/* Userspace drains on a timer, so no record ever asks for a wakeup. */
static __always_inline void vigil_submit(void *e)
{
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

static __always_inline void vigil_fill_header(struct vigil_header *h, __u32 type)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->type = type;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->uid = (__u32)uid_gid;
	h->gid = uid_gid >> 32;
	h->agent_id = vigil_agent_of(h->pid);
	h->_hpad = 0;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

#endif /* VIGIL_COMMON_BPF_H */
