/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Event layouts shared by the kernel programs (bpf/<concern>.bpf.c) and the TypeScript
 * decoders (src/abi/layout.ts). This header is the single source of truth:
 * test/layout.test.ts compares every struct below, field by field, against the
 * BTF that clang emits for the compiled object, so the two sides cannot drift.
 */
#ifndef VIGIL_H
#define VIGIL_H

#define VIGIL_COMM_LEN 16
/* Bounds on variable data; anything longer is cut and flagged. */
#define VIGIL_PATH_MAX 512
#define VIGIL_ARGS_MAX 2048
/*
 * Records per element of the `firehose` array (2 MiB of them). Each CPU's
 * ring is 2^firehose_chunk_shift consecutive elements: one array value is
 * capped at KMALLOC_MAX_SIZE (4 MiB), and userspace maps the elements as one
 * contiguous ring per CPU.
 */
#define VIGIL_FIREHOSE_CHUNK_SLOTS 131072
/* Tick-bounded firehose clock: a stamp read from the clock serves at most this many records. */
#define VIGIL_FIREHOSE_CLOCK_REUSE 32
/* Observed cgroups compared inline, without a map lookup, when there are at most this many. */
#define VIGIL_SCOPE_INLINE 8
/* Aggregate mode: syscall numbers below this are counted one by one, the rest together. */
#define VIGIL_TALLY_SLOTS 512
#define VIGIL_TALLY_WAYS 4 /* threads counted at once per CPU before one is sent to make room */

enum vigil_event_type {
	VIGIL_EV_EXEC = 1,
	VIGIL_EV_FORK = 2,
	VIGIL_EV_EXIT = 3,
	VIGIL_EV_OPEN = 4,
	VIGIL_EV_CONNECT = 5,
	VIGIL_EV_CRED = 6,
	VIGIL_EV_SYSCALL = 7,
	VIGIL_EV_ENFORCE = 8, /* the kernel acted on a policy rule */
	VIGIL_EV_TALLY = 9, /* a thread's syscall counts, sent when it exits (aggregate mode) */
	VIGIL_EV_EXEC_FAILED = 10, /* an execve/execveat that returned an error (sched_process_exec fires on success only) */
	VIGIL_EV_TLS = 11, /* plaintext an SSL_write sent or an SSL_read received (uprobes), a chunk at a time */
	VIGIL_EV_MAX = 12,
};

/* Indexes of the per-CPU `drops` counter array (one slot per event type, then the rest). */
enum vigil_drop_reason {
	/* 1..VIGIL_EV_MAX-1: ringbuf reserve failed for that event type */
	VIGIL_DROP_FIREHOSE_FULL = VIGIL_EV_MAX, /* firehose per-CPU ring full */
	VIGIL_DROP_AGGREGATE_FULL = VIGIL_EV_MAX + 1, /* a syscall not counted: every way of its CPU's tally cache was being sent */
	VIGIL_DROP_AGENT_FULL = VIGIL_EV_MAX + 2, /* agent identity map full: a child lost its agent */
	VIGIL_DROP_DNS_FULL = VIGIL_EV_MAX + 3, /* dns_learned full: an answered address was not learned */
	VIGIL_DROP_MAX = VIGIL_EV_MAX + 4,
};

/*
 * Keys of `agent_kinds`: whether userspace (or a fork's inheritance) has put
 * agent identities of that kind in the kernel, a word each, set to 1 before
 * the first entry and never cleared. A kind never used costs no lookup on the
 * hot paths (every record's header, every fork and exit on the machine).
 * Every writer writes the same 1, so no update is ever lost.
 */
enum vigil_agent_kind {
	VIGIL_AGENTS_BY_TGID = 0,
	VIGIL_AGENTS_BY_CGROUP = 1,
	VIGIL_AGENT_KINDS = 2,
};

enum vigil_syscall_mode {
	VIGIL_SYSCALLS_OFF = 0,
	VIGIL_SYSCALLS_AGGREGATE = 1,
	VIGIL_SYSCALLS_FIREHOSE = 2,
};

/*
 * How firehose records are stamped (knob `firehose_clock`):
 *  - tick: the clock is read for the first record of each scheduler tick on
 *    a CPU and then every VIGIL_FIREHOSE_CLOCK_REUSE records, and whenever
 *    the thread is not the one stamped last on that CPU or has been switched
 *    out since; the records in between carry that stamp. A record's true
 *    time is at most one tick after its stamp and never before it; a CPU's
 *    stamps and a thread's stamps never go back, wherever it runs.
 *  - exact: the clock is read for every record (about the price of the rest of the record).
 */
enum vigil_firehose_clock {
	VIGIL_CLOCK_TICK = 0,
	VIGIL_CLOCK_EXACT = 1,
};

/* What the sys_enter/sys_exit dispatchers do for a syscall number (the .rodata array `syscall_classes`). */
enum vigil_syscall_class {
	VIGIL_SC_NONE = 0,
	VIGIL_SC_OPEN = 1, /* open(path, flags, mode) */
	VIGIL_SC_OPENAT = 2, /* openat(dfd, path, flags, mode) */
	VIGIL_SC_OPENAT2 = 3, /* openat2(dfd, path, how, size) */
	VIGIL_SC_CREAT = 4, /* creat(path, mode) */
	VIGIL_SC_CONNECT = 5, /* connect(fd, addr, len) */
	VIGIL_SC_SETID = 6, /* setuid family */
	VIGIL_SC_EXECVE = 7, /* execve(path, argv, envp): reported at exit when it failed */
	VIGIL_SC_EXECVEAT = 8, /* execveat(dfd, path, argv, envp, flags): likewise */
	VIGIL_SC_MAX = 9,
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
	__u32 agent_id; /* in-kernel agent identity (0: none), inherited on fork */
	__u32 _hpad;
	char comm[VIGIL_COMM_LEN];
};

struct vigil_exec_event {
	struct vigil_header hdr;
	__u32 flags;
	__u32 filename_len; /* bytes in filename, without the NUL */
	__u32 args_len; /* bytes copied into args (NUL-separated argv) */
	__u32 args_size; /* size of the whole argv area in the new process */
	__u32 old_pid; /* pid before exec (differs when a thread execs) */
	__u32 dev; /* the binary's identity: device (kernel encoding) and inode */
	__u64 ino;
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

/*
 * A failed exec: what the caller asked for, from its own memory (still there:
 * the exec failed before replacing it). argv is copied an argument at a time,
 * at most VIGIL_EXEC_FAILED_ARGS of them and VIGIL_ARG_CHUNK bytes each, into
 * VIGIL_ARGS_MAX bytes; the extra chunk at the end lets the verifier prove
 * every copy in bounds. Only the bytes in use go to the ring.
 */
#define VIGIL_EXEC_FAILED_ARGS 32
#define VIGIL_ARG_CHUNK 256
struct vigil_exec_failed_event {
	struct vigil_header hdr;
	__s32 ret; /* -errno */
	__u32 flags; /* VIGIL_F_FILENAME_TRUNCATED, VIGIL_F_ARGS_TRUNCATED */
	__u32 filename_len;
	__u32 args_len; /* bytes of NUL-separated argv in args */
	char filename[VIGIL_PATH_MAX];
	char args[VIGIL_ARGS_MAX + VIGIL_ARG_CHUNK];
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

/*
 * How vigil_syscall_record.ts_nr packs a record's stamp, syscall number and
 * clock flag into one word, so that a record is 16 bytes (four to a cache
 * line, twice the records of 24-byte ones in the same memory).
 */
enum vigil_syscall_record_bits {
	/* The stamp's low 48 bits (78 hours of boot time). Userspace restores the rest from the ring's clock_ns. */
	VIGIL_SYSCALL_TS_BITS = 48,
	VIGIL_SYSCALL_NR_SHIFT = 48, /* then the syscall number, 15 bits */
	VIGIL_SYSCALL_NR_OTHER = 0x7fff, /* a number outside [0, 0x7fff) (x32's, or -1 from a tracer) */
	VIGIL_SYSCALL_EXACT_SHIFT = 63, /* then 1 when the stamp was read from the clock for this record */
};

/* One record per syscall entry in firehose mode; kept small on purpose (see README). */
struct vigil_syscall_record {
	__u64 ts_nr; /* enum vigil_syscall_record_bits */
	__u32 pid;
	__u32 tid;
};

/*
 * Per-CPU single-producer/single-consumer ring for the firehose: this control
 * block in the mmap-able array `firehose_ctl` (one element per CPU), the
 * records in `firehose` (struct vigil_firehose_chunk, 2^firehose_chunk_shift
 * elements per CPU). The kernel program writes a record and then advances
 * head; userspace reads records up to head and advances tail. No helper call
 * per record, no wakeups: userspace drains on a timer.
 */
struct vigil_firehose_ctl {
	__u64 head; /* written by the kernel only, like the clock below (same cache line) */
	__u64 clock_tick; /* jiffies when clock_ns was read */
	__u64 clock_ns; /* the last stamp read from the clock, in either clock mode */
	__u64 clock_uses; /* records stamped with clock_ns so far */
	__u64 clock_switches; /* context switches of the thread stamped last, then */
	__u32 clock_tid; /* the thread stamped last */
	__u32 _pad0;
	__u64 room_end; /* head may reach this without a look at tail: the tail last read plus the ring's size */
	__u64 _pad1;
	__u64 tail; /* written by userspace only */
	__u64 _pad2[7];
};

struct vigil_firehose_chunk {
	struct vigil_syscall_record recs[VIGIL_FIREHOSE_CHUNK_SLOTS];
};

/*
 * The observed cgroups as the per-syscall scope test reads them: one element
 * of an mmap-able array that userspace writes in place (no syscall). Up to
 * VIGIL_SCOPE_INLINE ids are compared inline; beyond that `use_hash` sends
 * the test to the `observed_cgroups` hash, which always holds the whole set.
 * Userspace orders its stores so that a concurrent reader sees the old set
 * or the new one, never a set missing an id that is in both.
 */
struct vigil_scope {
	__u64 use_hash;
	__u64 count; /* ids[0, count) when !use_hash */
	__u64 ids[VIGIL_SCOPE_INLINE];
};

/*
 * Policy enforcement. Userspace compiles policies into the maps of
 * enforce.bpf.c in two generations and flips `policy_gen` with one map
 * write, so a rule set is replaced without a moment in which neither the old
 * nor the new one is enforced.
 */
#define VIGIL_AGENT_ANY 0xffffffffu /* a rule for every agent */
#define VIGIL_CONNECT_RULES 64 /* per generation */
#define VIGIL_RULE_PORTS 8

enum vigil_action {
	VIGIL_ACT_ALERT = 0,
	VIGIL_ACT_DENY = 1,
	VIGIL_ACT_KILL = 2,
	VIGIL_ACT_FREEZE = 3,
	VIGIL_ACT_KILL_TREE = 4,
};

enum vigil_enforce_op {
	VIGIL_OP_EXEC = 1,
	VIGIL_OP_CONNECT = 2,
};

/* Binaries are matched by identity (device and inode), not by the path the caller used. */
struct vigil_exec_rule_key {
	__u64 ino;
	__u32 dev;
	__u32 agent_id; /* or VIGIL_AGENT_ANY */
	__u32 gen;
	__u32 _pad;
};

struct vigil_rule_verdict {
	__u32 rule_id;
	__u32 action; /* enum vigil_action */
};

#define VIGIL_CR_CIDR 0x1 /* destination must be in cidr_set */
#define VIGIL_CR_NOT_CIDR 0x2 /* destination must not be in cidr_set */
#define VIGIL_CR_PORTS 0x4 /* destination port must be one of ports */
#define VIGIL_CR_DOMAIN 0x8 /* destination must have been learned from a name in domain_set */
#define VIGIL_CR_NOT_DOMAIN 0x10 /* destination must not have been learned from a name in domain_set */

struct vigil_connect_rule {
	__u32 rule_id;
	__u32 action;
	__u32 agent_id; /* or VIGIL_AGENT_ANY */
	__u32 flags; /* VIGIL_CR_* */
	__u32 cidr_set; /* index into the cidr_sets trie, per generation */
	__u32 domain_set; /* index into domain_sets, per generation */
	__u32 nports;
	__u16 ports[VIGIL_RULE_PORTS];
};

/* LPM trie key: prefixlen counts the 32 bits of `set` plus the address prefix (IPv4 as ::ffff:a.b.c.d). */
struct vigil_cidr_key {
	__u32 prefixlen;
	__u32 set; /* gen << 16 | set index */
	__u8 addr[16];
};

struct vigil_enforce_event {
	struct vigil_header hdr;
	__u32 rule_id;
	__u32 action; /* enum vigil_action */
	__u32 op; /* enum vigil_enforce_op */
	__u16 family;
	__u16 port;
	__u64 ino; /* exec: the binary */
	__u32 dev;
	__u32 _pad;
	__u8 addr[16]; /* connect: destination */
};

/*
 * A thread's syscall counts in aggregate mode, in a per-CPU tally cache: each
 * CPU holds VIGIL_TALLY_WAYS tallies, one per thread that counted there
 * lately, and a thread's syscall on that CPU finds its own by tid (a few
 * inlined array loads, no allocation, no helper call). A tally leaves the
 * kernel whole, as a vigil_tally_event, when its thread exits (from every
 * CPU), when the least recently used way is taken for another thread, and
 * when a count reaches the carry point (2^16, knob `tally_carry_at`);
 * userspace adds up what arrives per thread and reads the ways of live
 * threads from the map. Counts are 16 bits wide so a tally is 1 KB: a
 * record, a copy and a clear of few cache lines.
 *
 * A way is handed between its CPU's syscall hook and another CPU's exit hook
 * by compare-and-swap on `owner`: whoever swaps in VIGIL_TALLY_BUSY sends and
 * clears it, and nobody else touches a busy way.
 */
struct vigil_syscall_tally {
	__u16 counts[VIGIL_TALLY_SLOTS]; /* by syscall number */
	__u16 other; /* numbers >= VIGIL_TALLY_SLOTS, together */
	__u16 _pad;
};

#define VIGIL_TALLY_BUSY (~0ULL) /* the owner of a way being sent; 0: a free way */

struct vigil_tally {
	__u64 owner; /* tid | tgid << 32, compared and swapped whole (BPF's atomics are 64-bit here) */
	__u64 last_used; /* jiffies of the last count: the least recently used way is the one taken */
	struct vigil_syscall_tally counts;
	__u32 _pad;
};

/* A tally record: a way as it was when it left the kernel. */
struct vigil_tally_event {
	struct vigil_header hdr;
	struct vigil_tally tally;
};

/*
 * TLS plaintext, seen by uprobes on OpenSSL's SSL_write/SSL_read (and their
 * _ex forms) in whatever file exports them. A call's bytes leave the kernel
 * as chunks of at most VIGIL_TLS_CHUNK in the one event ring, so they keep
 * their order against the process events around them. `seq` counts a
 * connection's chunks (per process and SSL pointer, both directions): a gap
 * tells userspace that chunks were lost (each loss is counted as a ring drop).
 * A call moving more than tls_call_chunks chunks is cut there; its last
 * chunk carries VIGIL_F_TLS_TRUNCATED and `call_len` says how much it moved.
 */
#define VIGIL_TLS_CHUNK 4096
#define VIGIL_TLS_CHUNKS_MAX 256 /* the bound of tls_call_chunks (1 MiB a call) */
#define VIGIL_F_TLS_TRUNCATED 0x1

enum vigil_tls_dir {
	VIGIL_TLS_SENT = 0,
	VIGIL_TLS_RECEIVED = 1,
};

struct vigil_tls_event {
	struct vigil_header hdr;
	__u64 ssl; /* the SSL pointer: one connection within the process */
	__u64 seq;
	__u32 call_len; /* bytes the call moved */
	__u32 offset; /* of this chunk within the call */
	__u32 len; /* bytes of data below */
	__u8 dir; /* enum vigil_tls_dir */
	__u8 flags;
	__u16 _pad;
	__u8 data[VIGIL_TLS_CHUNK];
};

/* What a uprobe at a call's entry leaves for its uretprobe, by thread. */
struct vigil_tls_call {
	__u64 ssl;
	__u64 buf;
	__u64 len_out; /* _ex forms: where the call stores the bytes it moved (0: the return value is the count) */
	__u32 dir; /* enum vigil_tls_dir */
	__u32 _pad;
};

struct vigil_tls_conn_key {
	__u64 ssl;
	__u32 tgid;
	__u32 _pad;
};

/*
 * Names learned from DNS (dns.bpf.c). A cgroup_skb program on the cgroups
 * Vigil guards reads the DNS answers an agent receives (UDP from port 53,
 * answering a query the agent sent to that server, with that id and port)
 * and records, per agent and address, the name the agent asked for (the
 * question, so a CNAME chain is credited to the name asked), until the
 * answer's TTL (at least dns_min_ttl_s) runs out. The connect hooks check a
 * destination against a rule's domains through hashes of the name and of
 * each of its parent domains: FNV-1a 64 over the name's bytes, lowercase,
 * from the last byte to the first, so that every parent domain's hash is a
 * step of the name's (src/enforce/domains.ts computes the same).
 */
#define VIGIL_DNS_NAME 128 /* the name asked, lowercase, without the final dot */
#define VIGIL_DNS_PARENTS 8 /* parent domains kept per name (com, github.com, ...) */
#define VIGIL_DNS_PAYLOAD 512 /* bytes of a DNS message parsed at most */

enum vigil_dns_stat {
	VIGIL_DNS_ANSWERS = 0, /* answers parsed */
	VIGIL_DNS_LEARNED = 1, /* addresses learned (or refreshed) */
	VIGIL_DNS_AMBIGUOUS = 2, /* an address learned from a second name while the first was still valid */
	VIGIL_DNS_UNPARSED = 3, /* answers not parsed (truncated, malformed, a name too long) */
	VIGIL_DNS_UNSOLICITED = 4, /* answers to no query the agent sent: ignored */
	VIGIL_DNS_QUERIES_FULL = 5, /* queries not remembered: dns_queries full (their answers count as unsolicited) */
	VIGIL_DNS_STATS = 6,
};

struct vigil_dns_key {
	__u32 agent_id;
	__u32 _pad;
	__u8 addr[16]; /* IPv4 as ::ffff:a.b.c.d */
};

struct vigil_dns_name_hashes {
	__u64 full;
	__u64 parents[VIGIL_DNS_PARENTS]; /* parents[0]: the top-level domain */
	__u32 nparents;
	__u32 _pad;
};

#define VIGIL_DNS_F_AMBIGUOUS 0x1 /* names[1] holds another name this address was learned from */

struct vigil_dns_entry {
	__u64 expires_ns; /* CLOCK_BOOTTIME */
	__u32 flags;
	__u32 name_len;
	struct vigil_dns_name_hashes names[2]; /* the latest name, and the one before when another */
	char name[VIGIL_DNS_NAME];
};

/* A query the agent sent, by (agent, DNS id, its source port): the server it went to. */
struct vigil_dns_query_key {
	__u32 agent_id;
	__u16 id;
	__u16 port;
};

struct vigil_dns_query {
	__u64 sent_ns;
	__u8 server[16];
};

#define VIGIL_DOMAIN_EXACT 0x1 /* the name itself */
#define VIGIL_DOMAIN_SUBDOMAINS 0x2 /* any name below it (`*.name`) */

struct vigil_domain_key {
	__u32 set; /* gen << 16 | set index */
	__u32 _pad;
	__u64 hash;
};

#endif /* VIGIL_H */
