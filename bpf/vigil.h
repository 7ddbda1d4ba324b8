/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Event layouts shared by the kernel programs (bpf/<concern>.bpf.c) and the TypeScript
 * decoders (src/events/layout.ts). This header is the single source of truth:
 * test/layout.test.ts compares every struct below, field by field, against the
 * BTF that clang emits for the compiled object, so the two sides cannot drift.
 */
#ifndef VIGIL_H
#define VIGIL_H

#define VIGIL_COMM_LEN 16
/* Bounds on variable data; anything longer is cut and flagged. */
#define VIGIL_PATH_MAX 512
#define VIGIL_ARGS_MAX 2048
/* Per-CPU slots of the syscall firehose ring (power of two). */
#define VIGIL_FIREHOSE_SLOTS 131072

enum vigil_event_type {
	VIGIL_EV_EXEC = 1,
	VIGIL_EV_FORK = 2,
	VIGIL_EV_EXIT = 3,
	VIGIL_EV_OPEN = 4,
	VIGIL_EV_CONNECT = 5,
	VIGIL_EV_CRED = 6,
	VIGIL_EV_SYSCALL = 7,
	VIGIL_EV_MAX = 8,
};

/* Indexes of the per-CPU `drops` counter array (one slot per event type, then the rest). */
enum vigil_drop_reason {
	/* 1..VIGIL_EV_MAX-1: ringbuf reserve failed for that event type */
	VIGIL_DROP_FIREHOSE_FULL = 8, /* firehose per-CPU ring full */
	VIGIL_DROP_AGGREGATE_FULL = 9, /* syscall count map full */
	VIGIL_DROP_MAX = 10,
};

enum vigil_syscall_mode {
	VIGIL_SYSCALLS_OFF = 0,
	VIGIL_SYSCALLS_AGGREGATE = 1,
	VIGIL_SYSCALLS_FIREHOSE = 2,
};

/* What the sys_enter/sys_exit dispatchers do for a syscall number (array `syscall_class`). */
enum vigil_syscall_class {
	VIGIL_SC_NONE = 0,
	VIGIL_SC_OPEN = 1, /* open(path, flags, mode) */
	VIGIL_SC_OPENAT = 2, /* openat(dfd, path, flags, mode) */
	VIGIL_SC_OPENAT2 = 3, /* openat2(dfd, path, how, size) */
	VIGIL_SC_CREAT = 4, /* creat(path, mode) */
	VIGIL_SC_CONNECT = 5, /* connect(fd, addr, len) */
	VIGIL_SC_SETID = 6, /* setuid family */
	VIGIL_SC_MAX = 7,
};
#define VIGIL_MAX_SYSCALLS 1024

/* Flags */
#define VIGIL_F_FILENAME_TRUNCATED 0x1
#define VIGIL_F_ARGS_TRUNCATED 0x2
#define VIGIL_F_PATH_TRUNCATED 0x4

/* Common prefix of every ring buffer record. pid is the thread-group id. */
struct vigil_header {
	__u64 ts_ns; /* CLOCK_BOOTTIME */
	__u64 cgroup_id; /* cgroup v2 id (inode of the cgroup directory) */
	__u32 type; /* enum vigil_event_type */
	__u32 pid;
	__u32 tid;
	__u32 ppid; /* real parent's tgid */
	__u32 uid;
	__u32 gid;
	char comm[VIGIL_COMM_LEN];
};

struct vigil_exec_event {
	struct vigil_header hdr;
	__u32 flags;
	__u32 filename_len; /* bytes in filename, without the NUL */
	__u32 args_len; /* bytes copied into args (NUL-separated argv) */
	__u32 args_size; /* size of the whole argv area in the new process */
	__u32 old_pid; /* pid before exec (differs when a thread execs) */
	__u32 _pad;
	char filename[VIGIL_PATH_MAX];
	char args[VIGIL_ARGS_MAX];
};

struct vigil_fork_event {
	struct vigil_header hdr; /* the parent */
	__u32 child_pid;
	__u32 child_tid;
};

struct vigil_exit_event {
	struct vigil_header hdr;
	__u32 exit_code; /* raw wait status: code << 8 | core << 7 | signal */
	__u32 _pad;
};

struct vigil_open_event {
	struct vigil_header hdr;
	__s64 ret; /* fd or -errno */
	__u64 open_flags;
	__u32 mode;
	__s32 dfd;
	__u32 flags;
	__u32 path_len;
	char path[VIGIL_PATH_MAX];
};

struct vigil_connect_event {
	struct vigil_header hdr;
	__s32 ret;
	__u32 fd;
	__u16 family; /* AF_INET, AF_INET6, AF_UNIX ... */
	__u16 port; /* host byte order */
	__u32 _pad;
	__u8 addr[16]; /* IPv4 in the first 4 bytes */
};

struct vigil_cred_event {
	struct vigil_header hdr;
	__u32 old_uid;
	__u32 old_euid;
	__u32 old_gid;
	__u32 old_egid;
	__u32 new_uid;
	__u32 new_euid;
	__u32 new_gid;
	__u32 new_egid;
};

/* One record per syscall entry in firehose mode; kept small on purpose (see README). */
struct vigil_syscall_record {
	__u64 ts_ns;
	__u32 pid;
	__u32 tid;
	__u32 nr;
	__u32 _pad;
};

/*
 * Per-CPU single-producer/single-consumer ring for the firehose, living in an
 * mmap-able array map (one element per CPU). The kernel program writes a record
 * and then advances head; userspace reads records up to head and advances tail.
 * No helper call per record, no wakeups: userspace drains on a timer.
 */
struct vigil_firehose_ring {
	__u64 head; /* written by the kernel only */
	__u64 _pad0[7];
	__u64 tail; /* written by userspace only */
	__u64 _pad1[7];
	struct vigil_syscall_record recs[VIGIL_FIREHOSE_SLOTS];
};

struct vigil_syscall_key {
	__u32 pid;
	__u32 nr;
};

#endif /* VIGIL_H */
