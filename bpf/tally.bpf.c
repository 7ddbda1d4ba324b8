// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Aggregate mode's syscall counts on their way out of the kernel. Threads
 * count into their CPU's tally cache (syscalls.bpf.c, struct vigil_tally);
 * a way is sent whole, as it is, when its thread exits, when it is taken for
 * another thread, or when a count reaches the carry point. Userspace adds
 * up the records and reads live ways from the map: nothing is harvested on
 * a timer and nothing is allocated per thread.
 */
#include "common.bpf.h"

#define TALLY_WORDS (sizeof(struct vigil_syscall_tally) / sizeof(__u64))
_Static_assert(sizeof(struct vigil_syscall_tally) == TALLY_WORDS * sizeof(__u64) + 2 * sizeof(__u16),
	       "the clear below is whole words plus `other` and its pad");

static __always_inline void clear_counts(struct vigil_tally *w)
{
	/* Volatile: clang would fold the stores into a memset, which BPF cannot call. */
	volatile __u64 *words = (volatile __u64 *)&w->counts;

#pragma unroll
	for (int i = 0; i < TALLY_WORDS; i++)
		words[i] = 0;
	w->counts.other = 0;
}

__noinline int vigil_tally_send(struct vigil_tally *w, __u64 owner)
{
	struct vigil_tally_event *e;

	if (!w)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		vigil_count_drop(VIGIL_EV_TALLY);
		return 0;
	}
	/*
	 * The tally names its own thread; the header's task fields would name
	 * whichever thread made room for it, so only its type and time are set.
	 */
	__builtin_memset(&e->hdr, 0, sizeof(e->hdr));
	e->hdr.type = VIGIL_EV_TALLY;
	e->hdr.ts_ns = bpf_ktime_get_boot_ns();
	bpf_probe_read_kernel(&e->tally, sizeof(e->tally), w);
	e->tally.owner = owner; /* the copy holds VIGIL_TALLY_BUSY */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	clear_counts(w);
	return 1;
}

struct flush_ctx {
	__u64 owner;
};

/* One CPU's ways: the current thread's is claimed, sent (or, the ring full, given up: counted) and freed. */
static long flush_cpu(__u64 cpu, struct flush_ctx *c)
{
#pragma unroll
	for (__u32 i = 0; i < VIGIL_TALLY_WAYS; i++) {
		__u32 way = i;
		struct vigil_tally *w = bpf_map_lookup_percpu_elem(&tally_cache, &way, (__u32)cpu);

		if (!w || *(volatile __u64 *)&w->owner != c->owner || !vigil_tally_claim(w, c->owner))
			continue;
		if (!vigil_tally_send(w, c->owner))
			clear_counts(w); /* the thread is gone: its counts are lost, and were counted */
		w->last_used = 0;
		vigil_tally_release(w, 0);
	}
	return 0;
}

__noinline int vigil_tally_flush(void)
{
	struct task_struct *task = vigil_current_task();
	struct flush_ctx c = { .owner = vigil_tally_owner(task) };

	/* A thread outside the scope counted nothing (or, scoped out since, is sent when its way is taken). */
	if (!vigil_task_in_scope(task))
		return 0;
	bpf_loop(nr_cpus, flush_cpu, &c, 0);
	return 0;
}
