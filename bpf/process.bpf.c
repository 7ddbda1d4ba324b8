// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Process lifecycle: exec, fork and exit. */
#include "common.bpf.h"

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct vigil_exec_event *e;
	struct mm_struct *mm;
	unsigned long arg_start, arg_end, size;
	long n;

	if (!vigil_current_in_scope())
		return 0;
	e = vigil_reserve(sizeof(*e), VIGIL_EV_EXEC);
	if (!e)
		return 0;
	vigil_fill_header(&e->hdr, VIGIL_EV_EXEC);
	e->flags = 0;
	e->old_pid = old_pid;
	e->_pad = 0;

	n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	if (n < 0)
		n = 1, e->filename[0] = 0;
	e->filename_len = n - 1;
	if (n == sizeof(e->filename))
		e->flags |= VIGIL_F_FILENAME_TRUNCATED;

	/* The new image's argv is one NUL-separated block in its memory: copy it whole. */
	mm = BPF_CORE_READ(p, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	size = arg_end - arg_start;
	e->args_size = size;
	if (size > VIGIL_ARGS_MAX) {
		size = VIGIL_ARGS_MAX;
		e->flags |= VIGIL_F_ARGS_TRUNCATED;
	}
	if (bpf_probe_read_user(e->args, size, (void *)arg_start) < 0)
		size = 0;
	e->args_len = size;
	vigil_submit(e);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_fork, struct task_struct *parent, struct task_struct *child)
{
	struct vigil_fork_event *e;

	/* New threads are not processes; the process tree tracks thread groups. */
	if (child->pid != child->tgid)
		return 0;
	if (!vigil_current_in_scope())
		return 0;
	e = vigil_reserve(sizeof(*e), VIGIL_EV_FORK);
	if (!e)
		return 0;
	vigil_fill_header(&e->hdr, VIGIL_EV_FORK);
	e->child_pid = child->tgid;
	e->child_tid = child->pid;
	vigil_submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vigil_exit, struct task_struct *task, bool group_dead)
{
	struct vigil_exit_event *e;

	/* Report the process once, when its last thread is gone. */
	if (!group_dead)
		return 0;
	if (!vigil_current_in_scope())
		return 0;
	e = vigil_reserve(sizeof(*e), VIGIL_EV_EXIT);
	if (!e)
		return 0;
	vigil_fill_header(&e->hdr, VIGIL_EV_EXIT);
	e->exit_code = task->signal->group_exit_code ? task->signal->group_exit_code : task->exit_code;
	e->_pad = 0;
	vigil_submit(e);
	return 0;
}
