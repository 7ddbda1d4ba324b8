// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Aggregate mode's syscall counts on their way out of the kernel. Each
 * observed thread counts into its own task-local tally (syscalls.bpf.c);
 * here a tally is sent, compacted to the syscalls the thread made, when the
 * thread exits, and the tallies of live threads are dumped on request by a
 * task iterator. Nothing is harvested on a timer, so counting costs the
 * observed tree nothing but its increments and one record per thread.
 */
#include "common.bpf.h"

#define TALLY_SLOT_EXIT 0 /* the exit hook's slot (runs with preemption off) */
#define TALLY_SLOT_DUMP 1 /* the iterator's slot (may be preempted by an exit on its CPU) */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct vigil_tally_event);
} tally_scratch SEC(".maps");

struct compact_ctx {
	const struct vigil_syscall_tally *src;
	struct vigil_tally *dst;
};

static __always_inline void append(struct vigil_tally *dst, __u32 nr, __u64 count)
{
	__u32 n = dst->n;

	if (!count || n > VIGIL_TALLY_SLOTS)
		return;
	dst->counts[n].nr = nr;
	dst->counts[n]._pad = 0;
	dst->counts[n].count = count;
	dst->n = n + 1;
}

/* An empty tally of task's. */
static __always_inline void tally_begin(struct task_struct *task, struct vigil_tally *dst)
{
	dst->pid = task->tgid;
	dst->tid = task->pid;
	dst->n = 0;
	dst->_pad = 0;
}

/* Counts read four at a time, COMPACT_WORDS words a step: a thread uses a few dozen of 512 numbers. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "compact_step() takes the lowest number from a word's low bits");
#define COUNTS_PER_WORD (sizeof(__u64) / sizeof(__u16))
#define COMPACT_WORDS 8
#define COMPACT_STEPS (VIGIL_TALLY_SLOTS / COUNTS_PER_WORD / COMPACT_WORDS)

static long compact_step(__u64 step, struct compact_ctx *c)
{
	const __u64 *words = (const __u64 *)c->src->counts;

	/* Bounded before any address is formed from it (clang hoists the base address). */
	if (step >= COMPACT_STEPS)
		return 1;
	words += step * COMPACT_WORDS;
	for (__u32 i = 0; i < COMPACT_WORDS; i++) {
		__u32 nr = ((__u32)step * COMPACT_WORDS + i) * COUNTS_PER_WORD;
		__u64 v = words[i];

		if (!v)
			continue;
		append(c->dst, nr, (__u16)v);
		append(c->dst, nr + 1, (__u16)(v >> 16));
		append(c->dst, nr + 2, (__u16)(v >> 32));
		append(c->dst, nr + 3, v >> 48);
	}
	return 0;
}

/* Fills dst with task's non-zero counts from src; returns how many bytes of dst that uses. */
static __always_inline __u64 compact(struct task_struct *task, const struct vigil_syscall_tally *src,
				     struct vigil_tally *dst)
{
	struct compact_ctx c = { .src = src, .dst = dst };
	__u64 n; /* 64-bit: the bound checked below is the one the size is computed from */

	tally_begin(task, dst);
	bpf_loop(COMPACT_STEPS, compact_step, &c, 0);
	append(dst, VIGIL_TALLY_SLOTS, src->other);
	n = dst->n;
	/* Never true (append() stops there), but the verifier must see the size bounded. */
	barrier_var(n);
	if (n > VIGIL_TALLY_SLOTS + 1)
		return offsetof(struct vigil_tally, counts);
	return offsetof(struct vigil_tally, counts) + n * sizeof(struct vigil_syscall_count);
}

#define CARRY_SIZE (sizeof(struct vigil_header) + offsetof(struct vigil_tally, counts) + sizeof(struct vigil_syscall_count))

__noinline int vigil_tally_carry(__u32 slot)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vigil_tally_event *e = vigil_reserve(CARRY_SIZE, VIGIL_EV_TALLY);

	if (!e)
		return 0;
	vigil_fill_header(&e->hdr, VIGIL_EV_TALLY);
	tally_begin(task, &e->tally);
	append(&e->tally, slot, vigil_tally_carry_point()); /* entry 0: inside the CARRY_SIZE reserved */
	vigil_submit(e);
	return 0;
}

__noinline int vigil_tally_flush(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vigil_syscall_tally *t = bpf_task_storage_get(&syscall_tally, task, 0, 0);
	__u32 slot = TALLY_SLOT_EXIT;
	struct vigil_tally_event *e;
	__u64 size;

	if (!t)
		return 0;
	e = bpf_map_lookup_elem(&tally_scratch, &slot);
	if (e) {
		vigil_fill_header(&e->hdr, VIGIL_EV_TALLY);
		size = sizeof(e->hdr) + compact(task, t, &e->tally);
		/* Built in scratch and copied, so the record is only as long as the syscalls it names. */
		if (bpf_ringbuf_output(&events, e, size, BPF_RB_NO_WAKEUP) < 0)
			vigil_count_drop(VIGIL_EV_TALLY);
	}
	/*
	 * Deleted now, so that a zombie's tally is not dumped again. Leaving it
	 * for the kernel to free with the task saved ~1 us in this hook but cost
	 * more elsewhere: about +3 points of workload CPU in two A/B runs (where
	 * exactly was not established).
	 */
	bpf_task_storage_delete(&syscall_tally, task);
	return 0;
}

/* One struct vigil_tally per live thread that has counted something, back to back. */
SEC("iter/task")
int vigil_tally_dump(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct vigil_syscall_tally *t;
	struct vigil_tally_event *e;
	__u32 slot = TALLY_SLOT_DUMP;

	if (!task)
		return 0;
	t = bpf_task_storage_get(&syscall_tally, task, 0, 0);
	if (!t)
		return 0;
	e = bpf_map_lookup_elem(&tally_scratch, &slot);
	if (!e)
		return 0;
	bpf_seq_write(ctx->meta->seq, &e->tally, compact(task, t, &e->tally));
	return 0;
}
