/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel-side helpers shared by every Vigil program: the load-time knobs, the
 * maps every program uses, scope filtering and counted ring-buffer
 * reservation. The sources are compiled as one translation unit (see
 * scripts/build-bpf.sh), so everything here is defined once.
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
extern const volatile __u8 firehose_chunk_shift; /* each CPU's firehose ring is 2^this elements of `firehose` */
extern const volatile __u32 tally_carry_at; /* a tally is sent when one of its counts reaches this (0, or above 2^16: at 2^16) */
extern const volatile __u32 nr_cpus;
/* DNS answers' addresses are kept at least this long: resolvers and runtimes cache past short TTLs. */
extern const volatile __u32 dns_min_ttl_s; /* possible CPUs: where a thread's tally ways may be */
/*
 * enum vigil_syscall_class of each syscall number. A .rodata array rather
 * than an array map: every syscall reads it, and a global is addressed
 * directly where a map lookup goes through a key on the stack.
 */
extern const volatile __u8 syscall_classes[VIGIL_MAX_SYSCALLS];

/* Kfunc (kernel 6.2+): `obj` as a read-only, untrusted pointer of BTF type `btf_id`; the verifier turns the call into a move. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/*
 * `task`, for reading its fields. The verifier checks every pointer loaded
 * through a trusted pointer (what bpf_get_current_task_btf() returns, and a
 * tp_btf argument) against the kernel's lists of safe nested types, and each
 * check is a name lookup that scans the whole kernel BTF: up to three per
 * load, again on every path the verifier walks: most of the time Vigil's
 * programs took to load. The price is at run time: a load through this
 * untrusted alias is a fault-checked load, a load through the trusted
 * pointer a plain one (docs/benchmarks.md has both). So the per-syscall
 * hook keeps the trusted pointer; per-event handlers, where a few ns are
 * lost in their hundreds, use the alias. Helpers that need a trusted task
 * (bpf_task_pt_regs) are given the original.
 */
static __always_inline struct task_struct *vigil_task_fields(const struct task_struct *task)
{
	return bpf_rdonly_cast(task, bpf_core_type_id_kernel(struct task_struct));
}

/* The current task, for reading its fields (see vigil_task_fields). */
static __always_inline struct task_struct *vigil_current_task(void)
{
	return vigil_task_fields(bpf_get_current_task_btf());
}

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

/* A word per enum vigil_agent_kind: 1 once that kind is in use. An array, so lookups are inlined. */
struct vigil_agent_kinds_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_AGENT_KINDS);
	__type(key, __u32);
	__type(value, __u32);
};

/* Aggregate mode: each CPU's tally cache, one way a key (see struct vigil_tally). */
struct vigil_tally_cache {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_TALLY_WAYS); /* 1 when not counting */
	__type(key, __u32);
	__type(value, struct vigil_tally);
};

/*
 * Names learned from DNS answers (dns.bpf.c), read by the connect hooks
 * (enforce.bpf.c). A plain hash, so that a full map is counted
 * (VIGIL_DROP_DNS_FULL), never an entry silently evicted; userspace removes
 * expired entries.
 */
struct vigil_dns_learned_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct vigil_dns_key);
	__type(value, struct vigil_dns_entry);
};

/* The domains of the connect rules, per generation and set: name hash -> VIGIL_DOMAIN_* */
struct vigil_domain_sets_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct vigil_domain_key);
	__type(value, __u8);
};

struct vigil_events_map events SEC(".maps");
struct vigil_agent_by_tgid agent_by_tgid SEC(".maps");
struct vigil_agent_by_cgroup agent_by_cgroup SEC(".maps");
struct vigil_agent_kinds_map agent_kinds SEC(".maps");
struct vigil_cgroup_set observed_cgroups SEC(".maps");
struct vigil_scope_map observed_scope SEC(".maps");
struct vigil_drop_counters drops SEC(".maps");
struct vigil_tally_cache tally_cache SEC(".maps");
struct vigil_dns_learned_map dns_learned SEC(".maps");
struct vigil_domain_sets_map domain_sets SEC(".maps");

/*
 * Credentials kept from a setuid-family syscall's entry, keyed by thread id,
 * until the change is settled: at the thread's next syscall entry, or at its
 * exit if it never makes one (see cred.bpf.c). A plain hash: an entry is
 * deleted only when settled, so `pending_calls` counts them exactly.
 */
struct vigil_pending_syscall {
	__u64 args[2]; /* (uid, euid) and (gid, egid), packed */
};

struct vigil_pending_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct vigil_pending_syscall);
};

struct vigil_pending_map pending SEC(".maps");
/*
 * The number of entries in `pending`. Every syscall entry reads it and looks
 * its thread up only when it is not 0: a setuid-family call is rare, a
 * syscall is not. A global (.bss), so the read is one direct load.
 */
extern __u64 pending_calls;

/* A syscall's first four arguments, as the kernel saved them at entry. */
struct vigil_syscall_args {
	__u64 arg[4];
};

/*
 * Handlers called at syscall exit by the dispatchers (syscalls.bpf.c) for
 * the classes of bpf/vigil.h, one unit per concern, for in-scope tasks only.
 * Global functions: the verifier checks each on its own, so their arguments
 * are scalars or a pointer to plain memory (which may be NULL to the verifier).
 */
int vigil_open_exit(__u32 cls, const struct vigil_syscall_args *a, long ret);
int vigil_connect_exit(const struct vigil_syscall_args *a, long ret);
int vigil_exec_failed(__u32 cls, const struct vigil_syscall_args *a, long ret);
/* cred.bpf.c: keeps the current thread's credentials at a setuid-family syscall's entry. */
int vigil_setid_enter(void);
/* cred.bpf.c: reports the current thread's credential change, if its last setuid-family syscall made one. */
int vigil_setid_settle(void);
/* Whether some thread has a setuid-family syscall not yet settled (then its next syscall or its exit settles it). */
static __always_inline bool vigil_setid_pending(void)
{
	return *(volatile __u64 *)&pending_calls != 0;
}

/* Where a 16-bit tally count sends its tally: 2^16 unless a test asks for less. */
static __always_inline __u32 vigil_tally_carry_point(void)
{
	return tally_carry_at && tally_carry_at < 0x10000 ? tally_carry_at : 0x10000;
}

/* A thread's name in the tally cache: tid | tgid << 32. */
static __always_inline __u64 vigil_tally_owner(struct task_struct *task)
{
	return (__u64)(__u32)task->pid | (__u64)(__u32)task->tgid << 32;
}

/* Takes way `w` from `owner` for sending: true when this caller now holds it (owner VIGIL_TALLY_BUSY). */
static __always_inline bool vigil_tally_claim(struct vigil_tally *w, __u64 owner)
{
	return __sync_val_compare_and_swap(&w->owner, owner, VIGIL_TALLY_BUSY) == owner;
}

/*
 * Hands a claimed way back, to `owner` (0: free), after every other
 * write to it: x86-64 keeps stores in order, the barrier keeps the compiler
 * from reordering them.
 */
static __always_inline void vigil_tally_release(struct vigil_tally *w, __u64 owner)
{
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&w->owner = owner;
}

/* tally.bpf.c: sends claimed way `w` of `owner` and clears its counts; 0 when the ring was full (counted, counts kept). */
int vigil_tally_send(struct vigil_tally *w, __u64 owner);
/* tally.bpf.c: sends the current thread's tallies from every CPU's cache, before it is gone. */
int vigil_tally_flush(void);
/* enforce.bpf.c: the verdict on an exec by `agent` of the binary (dev, ino); acts and reports it. */
int vigil_enforce_exec(__u32 agent, __u64 ino, __u32 dev);

static __always_inline void vigil_count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		*n += 1; /* per-CPU slot: no atomic needed */
}

/* What bpf_get_current_cgroup_id() returns for `task`, read without the call. */
static __always_inline __u64 vigil_task_cgroup_id(struct task_struct *task)
{
	return task->cgroups->dfl_cgrp->kn->id;
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
	__u64 cg = vigil_task_cgroup_id(task);
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

/* Whether agent identities of `kind` (enum vigil_agent_kind) are in use. */
static __always_inline bool vigil_agent_kind_used(__u32 kind)
{
	__u32 *used = bpf_map_lookup_elem(&agent_kinds, &kind);

	return used && *(volatile __u32 *)used;
}

/* Marks `kind` in use before its first entry goes in: read first, so the word is written once, not on every fork. */
static __always_inline void vigil_agent_kind_use(__u32 kind)
{
	__u32 *used = bpf_map_lookup_elem(&agent_kinds, &kind);

	if (used && !*(volatile __u32 *)used)
		*(volatile __u32 *)used = 1;
}

/*
 * The agent of process `tgid` in cgroup `cgroup_id` (0: none): its own
 * identity first, then its cgroup's. Each is a hash lookup (~40 ns) on every
 * record, so a kind no agent uses is not looked up.
 */
static __always_inline __u32 vigil_agent_lookup(__u32 tgid, __u64 cgroup_id)
{
	__u32 *a;

	if (vigil_agent_kind_used(VIGIL_AGENTS_BY_TGID)) {
		a = bpf_map_lookup_elem(&agent_by_tgid, &tgid);
		if (a)
			return *a;
	}
	if (!vigil_agent_kind_used(VIGIL_AGENTS_BY_CGROUP))
		return 0;
	a = bpf_map_lookup_elem(&agent_by_cgroup, &cgroup_id);
	return a ? *a : 0;
}

/* The agent of `task`'s process. */
static __always_inline __u32 vigil_agent_of(struct task_struct *task)
{
	return vigil_agent_lookup(task->tgid, vigil_task_cgroup_id(task));
}

static __always_inline bool vigil_current_in_scope(void)
{
	return vigil_task_in_scope(vigil_current_task());
}

/* Reserve a record, counting the failure per CPU and per type (never silent). */
static __always_inline void *vigil_reserve(__u32 size, __u32 type)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);

	if (!e)
		vigil_count_drop(type);
	return e;
}

/*
 * Copy the first `size` bytes of a record built elsewhere into the ring
 * (records whose used length varies), counting a failure like a failed
 * reserve.
 */
static __always_inline void vigil_output(void *e, __u64 size, __u32 type)
{
	if (bpf_ringbuf_output(&events, e, size, BPF_RB_NO_WAKEUP))
		vigil_count_drop(type);
}

/* Userspace drains on a timer, so no record ever asks for a wakeup. */
static __always_inline void vigil_submit(void *e)
{
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/*
 * Every record's header. Runs for every reported event, so the task's
 * fields are read through its BTF pointer (plain loads the verifier makes
 * fault-safe) instead of a helper call each; only the clock is a call.
 */
static __always_inline void vigil_fill_header(struct vigil_header *h, __u32 type)
{
	struct task_struct *task = vigil_current_task();
	const struct cred *cred = task->cred;
	__u64 cg = vigil_task_cgroup_id(task);

	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = cg;
	h->type = type;
	h->pid = task->tgid;
	h->tid = task->pid;
	h->ppid = task->real_parent->tgid;
	h->uid = cred->uid.val; /* the subjective credentials, as bpf_get_current_uid_gid() */
	h->gid = cred->gid.val;
	h->agent_id = vigil_agent_lookup(h->pid, cg);
	h->_hpad = 0;
	/* comm is 16 bytes at an 8-byte offset: two loads instead of bpf_get_current_comm(). */
	((__u64 *)h->comm)[0] = ((const __u64 *)task->comm)[0];
	((__u64 *)h->comm)[1] = ((const __u64 *)task->comm)[1];
}

#endif /* VIGIL_COMMON_BPF_H */
