// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The syscall hooks. Every syscall passes the entry hook, so its fast path is
 * an inlined array lookup of the syscall's class and, for syscalls nobody
 * asked about, nothing else. Per-syscall work depends on `syscall_mode`:
 *  - aggregate: per-thread, per-syscall counts in the CPU's tally cache;
 *  - firehose: one 16-byte record per syscall entry written straight into a
 *    per-CPU SPSC ring in mmap-able arrays (no ringbuf helper, no wakeup),
 *    stamped by the tick-bounded clock unless the exact one is asked for.
 * Opens and connects are reported at exit, with their result, by their
 * concern's handler. The setuid family has work at entry only: its change
 * is settled at the thread's next syscall entry (cred.bpf.c). The exit hook
 * is on the per-syscall trace events of the opens and connect where tracefs
 * has them, or on every syscall otherwise.
 */
#include "common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* set to the number of possible CPUs before load */
	__type(key, __u32);
	__type(value, struct vigil_firehose_ctl);
} firehose_ctl SEC(".maps");

/* CPU c's ring is elements [c << firehose_chunk_shift, (c + 1) << firehose_chunk_shift). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* set to possible CPUs << firehose_chunk_shift before load */
	__type(key, __u32);
	__type(value, struct vigil_firehose_chunk);
} firehose SEC(".maps");

static __always_inline __u32 class_of(long nr)
{
	return (unsigned long)nr < VIGIL_MAX_SYSCALLS ? syscall_classes[nr] : VIGIL_SC_NONE;
}

/*
 * Aggregate mode's way for the current thread: its own, else the least
 * recently used one of this CPU (a free way has last_used 0), sent first if
 * another thread's counts are in it. NULL when every way is being sent by
 * an exit elsewhere or the ring has no room for the one to be sent.
 */
static __always_inline struct vigil_tally *tally_way(struct task_struct *task)
{
	__u64 self = vigil_tally_owner(task), old;
	struct vigil_tally *victim = NULL;
	__u64 oldest = ~0ULL;

#pragma unroll
	for (__u32 i = 0; i < VIGIL_TALLY_WAYS; i++) {
		__u32 way = i;
		struct vigil_tally *w = bpf_map_lookup_elem(&tally_cache, &way);

		if (!w)
			return NULL;
		old = *(volatile __u64 *)&w->owner;
		if (old == self)
			return w;
		if (old != VIGIL_TALLY_BUSY && w->last_used < oldest)
			oldest = w->last_used, victim = w;
	}
	if (!victim)
		return NULL;
	old = *(volatile __u64 *)&victim->owner;
	if (old) {
		/* Claimed, not just read: its thread may be exiting on another CPU and sending it from there. */
		if (old == VIGIL_TALLY_BUSY || old == self || !vigil_tally_claim(victim, old))
			return NULL;
		if (!vigil_tally_send(victim, old)) {
			vigil_tally_release(victim, old);
			return NULL;
		}
	}
	vigil_tally_release(victim, self);
	return victim;
}

/*
 * Aggregate mode: one increment in the thread's way of its CPU's tally
 * cache (struct vigil_tally). A count about to reach the carry point sends
 * the way first, so none ever wraps.
 */
static __always_inline void count_syscall(struct task_struct *task, long nr)
{
	__u64 now = bpf_jiffies64();
	struct vigil_tally *w = tally_way(task);
	__u32 slot = (unsigned long)nr < VIGIL_TALLY_SLOTS ? (__u32)nr : VIGIL_TALLY_SLOTS;
	__u16 *c;
	__u32 v;

	if (!w) {
		vigil_count_drop(VIGIL_DROP_AGGREGATE_FULL);
		return;
	}
	w->last_used = now;
	c = slot < VIGIL_TALLY_SLOTS ? &w->counts.counts[slot] : &w->counts.other;
	v = *c + 1;
	if (v == vigil_tally_carry_point()) {
		__u64 self = vigil_tally_owner(task);

		if (!vigil_tally_claim(w, self))
			return; /* cannot happen: only an exit of this thread claims its way elsewhere */
		v = vigil_tally_send(w, self) ? 1 : 0;
		vigil_tally_release(w, self);
		if (!v) {
			vigil_count_drop(VIGIL_DROP_AGGREGATE_FULL);
			return;
		}
	}
	*c = v;
}

/*
 * The stamp of a firehose record. Reading the clock costs as much as the rest
 * of the record together, so in tick mode a CPU reads it once per scheduler
 * tick (jiffies: one load, inlined by the verifier) and at least every
 * VIGIL_FIREHOSE_CLOCK_REUSE records, and stamps the records in between
 * with that reading. A reading is reused only by the thread that took it,
 * and only while it has not been switched out: a thread that ran on another
 * CPU in between may have newer stamps there, and userspace merges the CPUs'
 * rings by stamp, so a stale one would put its records out of order.
 */
static __always_inline __u64 firehose_stamp(struct task_struct *task, struct vigil_firehose_ctl *ring, __u64 *exact)
{
	__u64 tick, switches;

	if (firehose_clock == VIGIL_CLOCK_EXACT) {
		*exact = 1;
		/* Kept for userspace, which restores the stamps' high bits from it. */
		return ring->clock_ns = bpf_ktime_get_boot_ns();
	}
	tick = bpf_jiffies64();
	switches = task->nvcsw + task->nivcsw;
	if (tick != ring->clock_tick || ring->clock_uses >= VIGIL_FIREHOSE_CLOCK_REUSE || (__u32)task->pid != ring->clock_tid ||
	    switches != ring->clock_switches) {
		ring->clock_tick = tick;
		ring->clock_ns = bpf_ktime_get_boot_ns();
		ring->clock_uses = 0;
		ring->clock_tid = task->pid;
		ring->clock_switches = switches;
		*exact = 1;
	} else {
		*exact = 0;
	}
	ring->clock_uses++;
	return ring->clock_ns;
}

static __always_inline void record_syscall(struct task_struct *task, long nr)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct vigil_firehose_ctl *ring = bpf_map_lookup_elem(&firehose_ctl, &cpu);
	struct vigil_firehose_chunk *chunk;
	struct vigil_syscall_record *r;
	__u64 head, ts, exact, number;
	__u32 key;

	if (!ring)
		return;
	head = ring->head;
	/*
	 * Room is checked against room_end, on this CPU's own cache line; tail,
	 * which userspace writes at every drain, is read only when head gets
	 * there: once a ring's worth of records while userspace keeps up, not
	 * at every record. Tail only grows, so room_end is never too far.
	 */
	if (head >= ring->room_end) {
		__u64 room_end = *(volatile __u64 *)&ring->tail + ((__u64)VIGIL_FIREHOSE_CHUNK_SLOTS << firehose_chunk_shift);

		if (head >= room_end) {
			vigil_count_drop(VIGIL_DROP_FIREHOSE_FULL);
			return;
		}
		ring->room_end = room_end;
	}
	/* The ring is one power-of-two run of chunks, so head picks the chunk with a shift and a mask. */
	key = (cpu << firehose_chunk_shift) | ((__u32)(head / VIGIL_FIREHOSE_CHUNK_SLOTS) & ((1U << firehose_chunk_shift) - 1));
	chunk = bpf_map_lookup_elem(&firehose, &key);
	if (!chunk) {
		/* Cannot happen (userspace sizes the map to cover every CPU's ring); counted, not silent. */
		vigil_count_drop(VIGIL_DROP_FIREHOSE_FULL);
		return;
	}
	r = &chunk->recs[head & (VIGIL_FIREHOSE_CHUNK_SLOTS - 1)];
	ts = firehose_stamp(task, ring, &exact);
	number = (unsigned long)nr < VIGIL_SYSCALL_NR_OTHER ? (__u64)nr : VIGIL_SYSCALL_NR_OTHER;
	r->ts_nr = (ts & ((1ULL << VIGIL_SYSCALL_TS_BITS) - 1)) | number << VIGIL_SYSCALL_NR_SHIFT | exact << VIGIL_SYSCALL_EXACT_SHIFT;
	r->pid = task->tgid;
	r->tid = task->pid;
	/*
	 * Publish: the record must be written before head moves. Programs do not
	 * nest on one CPU on this hook (the kernel's per-program recursion guard
	 * skips, and counts, a nested run), so only ordering against the reader
	 * matters: x86-64 keeps stores in order, the barrier keeps the compiler
	 * from reordering them.
	 */
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&ring->head = head + 1;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(vigil_sys_enter, struct pt_regs *regs, long id)
{
	__u32 cls = class_of(id);
	struct task_struct *task;

	/* First, before this syscall can change them again: a credential change by the thread's last syscall. */
	if (vigil_setid_pending())
		vigil_setid_settle();
	if (syscall_mode == VIGIL_SYSCALLS_OFF && cls != VIGIL_SC_SETID)
		return 0;
	/* The task gives tgid, tid and cgroup without a helper call each; trusted, so its loads are plain ones (see vigil_task_fields). */
	task = bpf_get_current_task_btf();
	if (!vigil_task_in_scope(task))
		return 0;
	if (syscall_mode == VIGIL_SYSCALLS_AGGREGATE)
		count_syscall(task, id);
	else if (syscall_mode == VIGIL_SYSCALLS_FIREHOSE)
		record_syscall(task, id);

	/* Only a credential change has work at entry: keeping the old credentials. */
	if (cls == VIGIL_SC_SETID)
		return vigil_setid_enter();
	return 0;
}

/*
 * Reports an open, a connect or a failed exec at its exit. The arguments are read from the
 * registers the kernel saved at entry: the syscall ran on them (whatever
 * seccomp or a tracer did at entry is already in them), and nothing writes
 * them back before the exit tracepoint (ptrace's exit stop and syscall
 * restart come after it). So opens and connects cost nothing at entry and
 * need no map to carry their arguments.
 */
static __always_inline int dispatch_exit(struct task_struct *task, struct pt_regs *regs, long nr, long ret)
{
	__u32 cls = class_of(nr);
	struct vigil_syscall_args a;

	if (cls == VIGIL_SC_NONE || cls == VIGIL_SC_SETID || !vigil_task_in_scope(task))
		return 0;
	a.arg[0] = PT_REGS_PARM1_SYSCALL(regs);
	a.arg[1] = PT_REGS_PARM2_SYSCALL(regs);
	a.arg[2] = PT_REGS_PARM3_SYSCALL(regs);
	a.arg[3] = PT_REGS_PARM4_SYSCALL(regs);
	if (cls == VIGIL_SC_CONNECT)
		return vigil_connect_exit(&a, ret);
	if (cls == VIGIL_SC_EXECVE || cls == VIGIL_SC_EXECVEAT)
		return ret < 0 ? vigil_exec_failed(cls, &a, ret) : 0;
	return vigil_open_exit(cls, &a, ret);
}

/*
 * Exits, preferred form: one program attached to the syscalls:sys_exit_<name>
 * trace event of each open and connect syscall. Every other syscall then pays only
 * the kernel's bitmap test in its syscall-event probe, not a BPF run; the
 * price is a slow detach (a grace period per event), which userspace pays
 * in parallel.
 */
SEC("tracepoint")
int vigil_sys_exit_event(struct syscall_trace_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf(); /* trusted, for bpf_task_pt_regs */

	return dispatch_exit(vigil_task_fields(task), (struct pt_regs *)bpf_task_pt_regs(task), ctx->nr, ctx->ret);
}

/* Exits, fallback form (no tracefs, or no syscall trace events): every syscall runs it. */
SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_exit, struct pt_regs *regs, long ret)
{
#if defined(__TARGET_ARCH_x86)
	long nr = regs->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	long nr = regs->syscallno;
#else
#error "syscall number register unknown for this architecture"
#endif
	return dispatch_exit(vigil_current_task(), regs, nr, ret);
}
