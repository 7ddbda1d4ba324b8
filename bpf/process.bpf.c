// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Process lifecycle: exec, fork and exit. */
#include "common.bpf.h"

/*
 * An exec record is 2.6 KB of struct for, typically, a short filename and a
 * few dozen bytes of argv: it is built here, per CPU, and only the bytes up
 * to the end of the argv copied go to the ring (see file.bpf.c for why a
 * scratch copy is safe: this hook does not nest on a CPU either).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_exec_event);
} exec_scratch SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct vigil_exec_event *e;
	struct mm_struct *mm;
	unsigned long arg_start, arg_end, size;
	__u64 ino = BPF_CORE_READ(bprm, file, f_inode, i_ino);
	__u32 dev = BPF_CORE_READ(bprm, file, f_inode, i_sb, s_dev);
	__u32 agent, zero = 0;
	long n;

	/* Enforcement first, whatever the observation scope: the new image has not run yet. */
	agent = vigil_agent_of(vigil_current_task());
	if (agent)
		vigil_enforce_exec(agent, ino, dev);
	if (!vigil_current_in_scope())
		return 0;
	e = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!e)
		return 0;
	vigil_fill_header(&e->hdr, VIGIL_EV_EXEC);
	e->flags = 0;
	e->old_pid = old_pid;
	e->dev = dev;
	e->ino = ino;

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
	vigil_output(e, offsetof(struct vigil_exec_event, args) + size, VIGIL_EV_EXEC);
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_exec_failed_event);
} exec_failed_scratch SEC(".maps");

/*
 * An exec that failed (ENOENT, EACCES, ENOEXEC…), from the syscall-exit hook
 * (the same no-nesting argument as file.bpf.c's scratch copy): an agent
 * trying programs that do not exist is worth seeing, as `execsnoop -x` shows.
 */
__noinline int vigil_exec_failed(__u32 cls, const struct vigil_syscall_args *a, long ret)
{
	struct vigil_exec_failed_event *e;
	const char *const *argv;
	const char *path, *arg;
	__u32 zero = 0, len = 0;
	__u64 size;
	long n;
	int i;

	if (!a)
		return 0;
	if (cls == VIGIL_SC_EXECVE) /* path, argv, envp */
		path = (const char *)a->arg[0], argv = (const char *const *)a->arg[1];
	else /* dfd, path, argv, envp, flags */
		path = (const char *)a->arg[1], argv = (const char *const *)a->arg[2];
	e = bpf_map_lookup_elem(&exec_failed_scratch, &zero);
	if (!e)
		return 0;
	vigil_fill_header(&e->hdr, VIGIL_EV_EXEC_FAILED);
	e->ret = ret;
	e->flags = 0;
	n = bpf_probe_read_user_str(e->filename, sizeof(e->filename), path);
	if (n <= 0)
		n = 1, e->filename[0] = 0;
	e->filename_len = n - 1;
	if (n == sizeof(e->filename))
		e->flags |= VIGIL_F_FILENAME_TRUNCATED;
	for (i = 0; i < VIGIL_EXEC_FAILED_ARGS && argv; i++) {
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) < 0 || !arg)
			break;
		if (len >= VIGIL_ARGS_MAX) {
			e->flags |= VIGIL_F_ARGS_TRUNCATED;
			break;
		}
		n = bpf_probe_read_user_str(&e->args[len], VIGIL_ARG_CHUNK, arg);
		if (n <= 0)
			break;
		if (n == VIGIL_ARG_CHUNK)
			e->flags |= VIGIL_F_ARGS_TRUNCATED;
		len += n;
	}
	if (i == VIGIL_EXEC_FAILED_ARGS)
		e->flags |= VIGIL_F_ARGS_TRUNCATED;
	e->args_len = len;
	size = offsetof(struct vigil_exec_failed_event, args) + (__u64)len;
	if (size > sizeof(*e)) /* cannot happen (len < VIGIL_ARGS_MAX + VIGIL_ARG_CHUNK); bounds it for the verifier */
		size = sizeof(*e);
	vigil_output(e, size, VIGIL_EV_EXEC_FAILED);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_fork, struct task_struct *parent, struct task_struct *child)
{
	struct vigil_fork_event *e;
	__u32 agent, child_tgid;

	/* New threads are not processes; the process tree tracks thread groups. */
	if (child->pid != child->tgid)
		return 0;
	/* The child inherits its parent's agent before it runs its first instruction. */
	agent = vigil_agent_of(vigil_task_fields(parent)); /* parent is the current task */
	if (agent) {
		child_tgid = child->tgid;
		vigil_agent_kind_use(VIGIL_AGENTS_BY_TGID);
		if (bpf_map_update_elem(&agent_by_tgid, &child_tgid, &agent, BPF_ANY) < 0)
			vigil_count_drop(VIGIL_DROP_AGENT_FULL);
	}
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
	struct signal_struct *sig;
	__u32 tgid = task->tgid;

	/* A thread ended by a signal right after a setuid-family call has its change settled here. */
	if (vigil_setid_pending())
		vigil_setid_settle();
	/* Every thread's syscall counts leave with it, before its process's exit record. */
	if (syscall_mode == VIGIL_SYSCALLS_AGGREGATE)
		vigil_tally_flush();
	/* Report the process once, when its last thread is gone. */
	if (!group_dead)
		return 0;
	if (!vigil_current_in_scope())
		goto forget;
	e = vigil_reserve(sizeof(*e), VIGIL_EV_EXIT);
	if (!e)
		goto forget;
	vigil_fill_header(&e->hdr, VIGIL_EV_EXIT);
	sig = vigil_task_fields(task)->signal;
	e->exit_code = sig->group_exit_code ? sig->group_exit_code : task->exit_code;
	e->_pad = 0;
	vigil_submit(e);
forget:
	/* After the record: its header still names the agent. */
	if (vigil_agent_kind_used(VIGIL_AGENTS_BY_TGID))
		bpf_map_delete_elem(&agent_by_tgid, &tgid);
	return 0;
}
