// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The one definition of every knob and map the programs share (see common.bpf.h). */
#include "common.bpf.h"

const volatile __u32 observer_tgid = 0;
const volatile __u8 filter_cgroups = 0;
const volatile __u8 syscall_mode = VIGIL_SYSCALLS_AGGREGATE;
const volatile __u8 firehose_clock = VIGIL_CLOCK_TICK;
const volatile __u8 firehose_chunk_shift = 0; /* each CPU's firehose ring is 2^this chunks */
const volatile __u32 tally_carry_at = 0; /* 0: when a count would wrap (at 2^16) */
const volatile __u32 nr_cpus = 1; /* set to the possible CPUs before load */
const volatile __u8 syscall_classes[VIGIL_MAX_SYSCALLS] = {}; /* set before load */
const volatile __u32 tls_call_chunks = 64; /* chunks of a TLS call copied at most (1..VIGIL_TLS_CHUNKS_MAX) */
const volatile __u32 dns_min_ttl_s = 300; /* an answer's addresses are kept at least this long */
__u64 pending_calls = 0;

/*
 * Not used by the programs: names every record type so that clang emits it
 * into the object's BTF, where test/layout.test.ts checks the TypeScript
 * decoders against it. Costs one pointer in .rodata.
 */
struct vigil_btf_anchor {
	enum vigil_event_type type;
	enum vigil_drop_reason drop;
	enum vigil_syscall_mode mode;
	enum vigil_agent_kind agent_kind;
	enum vigil_firehose_clock clock;
	struct vigil_scope scope;
	enum vigil_syscall_class cls;
	struct vigil_header header;
	struct vigil_exec_event exec;
	struct vigil_fork_event fork;
	struct vigil_exit_event exit;
	struct vigil_open_event open;
	struct vigil_connect_event connect;
	struct vigil_cred_event cred;
	struct vigil_syscall_record syscall;
	enum vigil_syscall_record_bits record_bits;
	struct vigil_firehose_ctl firehose_ctl;
	struct vigil_firehose_chunk firehose_chunk;
	struct vigil_syscall_tally syscall_tally;
	struct vigil_tally tally;
	struct vigil_tally_event tally_event;
	enum vigil_action action;
	enum vigil_enforce_op op;
	struct vigil_exec_rule_key exec_rule_key;
	struct vigil_rule_verdict verdict;
	struct vigil_connect_rule connect_rule;
	struct vigil_cidr_key cidr_key;
	struct vigil_enforce_event enforce;
	struct vigil_tls_event tls;
	enum vigil_tls_dir tls_dir;
	struct vigil_tls_call tls_call;
	struct vigil_tls_conn_key tls_conn_key;
	enum vigil_dns_stat dns_stat;
	struct vigil_dns_entry dns_entry;
	struct vigil_dns_query_key dns_query_key;
	struct vigil_dns_query dns_query;
	struct vigil_domain_key domain_key;
};
struct vigil_btf_anchor *const volatile vigil_btf_anchor = 0;

char LICENSE[] SEC("license") = "Dual BSD/GPL";
