// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Syscall activity of observed processes. Userspace attaches exactly one of
 * these (or none, in `off` mode):
 *  - vigil_sys_aggregate: per-process, per-syscall counts in a per-CPU hash;
 *  - vigil_sys_firehose: one 24-byte record per syscall entry written straight
 *    into a per-CPU SPSC ring in an mmap-able array. No ringbuf helper, no
 *    wakeup: on this hook every helper call is a visible share of the cost.
 */
#include "common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct vigil_syscall_key);
	__type(value, __u64);
} syscall_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* set to the number of possible CPUs before load */
	__type(key, __u32);
	__type(value, struct vigil_firehose_ring);
} firehose SEC(".maps");

SEC("raw_tp/sys_enter")
int BPF_PROG(vigil_sys_aggregate, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct vigil_syscall_key key = { .pid = pid_tgid >> 32, .nr = (__u32)id };
	__u64 *n, one = 1;

	if (!vigil_in_scope(key.pid))
		return 0;
	n = bpf_map_lookup_elem(&syscall_counts, &key);
	if (n) {
		*n += 1;
		return 0;
	}
	if (bpf_map_update_elem(&syscall_counts, &key, &one, BPF_NOEXIST) < 0) {
		/* EEXIST means another CPU created it first: count here next time. */
		n = bpf_map_lookup_elem(&syscall_counts, &key);
		if (n)
			*n += 1;
		else
			vigil_count_drop(VIGIL_DROP_AGGREGATE_FULL);
	}
	return 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(vigil_sys_firehose, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct vigil_firehose_ring *ring;
	struct vigil_syscall_record *r;
	__u32 cpu;
	__u64 head;

	if (!vigil_in_scope(pid_tgid >> 32))
		return 0;
	cpu = bpf_get_smp_processor_id();
	ring = bpf_map_lookup_elem(&firehose, &cpu);
	if (!ring)
		return 0;
	head = ring->head;
	if (head - *(volatile __u64 *)&ring->tail >= VIGIL_FIREHOSE_SLOTS) {
		vigil_count_drop(VIGIL_DROP_FIREHOSE_FULL);
		return 0;
	}
	r = &ring->recs[head & (VIGIL_FIREHOSE_SLOTS - 1)];
	r->ts_ns = bpf_ktime_get_boot_ns();
	r->pid = pid_tgid >> 32;
	r->tid = (__u32)pid_tgid;
	r->nr = (__u32)id;
	/*
	 * Publish: the record must be written before head moves. BPF programs on
	 * one CPU do not nest on this hook (the kernel's per-program recursion
	 * guard skips a nested run), so only ordering against the reader matters;
	 * x86-64 keeps stores in order, and the barrier keeps the compiler from
	 * reordering them.
	 */
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&ring->head = head + 1;
	return 0;
}
