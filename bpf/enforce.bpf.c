// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Policy enforcement in the kernel, before the operation takes effect:
 *  - exec: the sched_process_exec hook (process.bpf.c) asks for a verdict on
 *    the new binary, matched by (device, inode); `kill` sends SIGKILL, which
 *    is delivered before the new image runs a single user instruction;
 *  - connect: cgroup/connect4 and cgroup/connect6 programs, attached to the
 *    cgroups Vigil owns, refuse the connection (the caller gets EPERM) for
 *    every blocking action; userspace then carries out kill or freeze. A
 *    rule may name domains: the destination is then judged by the names the
 *    agent's DNS answers gave it (dns.bpf.c).
 * Rules come in two generations; `policy_gen` names the one in force and is
 * flipped by userspace with a single map write once the other is complete.
 * Each decision is reported as a VIGIL_EV_ENFORCE record.
 */
#include "common.bpf.h"

#define SIGKILL 9
#define AF_INET 2
#define AF_INET6 10

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} policy_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct vigil_exec_rule_key);
	__type(value, struct vigil_rule_verdict);
} exec_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * VIGIL_CONNECT_RULES);
	__type(key, __u32);
	__type(value, struct vigil_connect_rule);
} connect_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} connect_rule_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct vigil_cidr_key);
	__type(value, __u8);
} cidr_sets SEC(".maps");

static __always_inline __u32 current_gen(void)
{
	__u32 zero = 0, *g = bpf_map_lookup_elem(&policy_gen, &zero);

	return g ? (*g & 1) : 0;
}

static __always_inline struct vigil_enforce_event *report(__u32 rule_id, __u32 action, __u32 op)
{
	struct vigil_enforce_event *e = vigil_reserve(sizeof(*e), VIGIL_EV_ENFORCE);

	if (!e)
		return NULL;
	__builtin_memset(e, 0, sizeof(*e));
	vigil_fill_header(&e->hdr, VIGIL_EV_ENFORCE);
	e->rule_id = rule_id;
	e->action = action;
	e->op = op;
	return e;
}

__noinline int vigil_enforce_exec(__u32 agent, __u64 ino, __u32 dev)
{
	struct vigil_exec_rule_key key = { .ino = ino, .dev = dev, .agent_id = agent, .gen = current_gen() };
	struct vigil_rule_verdict *v = bpf_map_lookup_elem(&exec_rules, &key);
	struct vigil_enforce_event *e;

	if (!v) {
		key.agent_id = VIGIL_AGENT_ANY;
		v = bpf_map_lookup_elem(&exec_rules, &key);
	}
	if (!v || v->action == VIGIL_ACT_ALERT)
		return 0;
	/* kill and kill-tree: this process never runs the new image; userspace ends the rest of the tree. */
	if (v->action == VIGIL_ACT_KILL || v->action == VIGIL_ACT_KILL_TREE)
		bpf_send_signal(SIGKILL);
	e = report(v->rule_id, v->action, VIGIL_OP_EXEC);
	if (e) {
		e->ino = ino;
		e->dev = dev;
		vigil_submit(e);
	}
	return 0;
}

struct match_ctx {
	__u32 agent;
	__u32 gen;
	__u32 count;
	__u16 port;
	struct vigil_cidr_key addr;
	struct vigil_dns_entry *learned; /* the names the destination was learned from (NULL: none) */
	struct vigil_connect_rule *hit;
};

/* Whether name `h` is in domain set `set`: itself, or below a `*.parent` of the set. */
static __always_inline bool name_in_set(const struct vigil_dns_name_hashes *h, __u32 set)
{
	struct vigil_domain_key key = { .set = set };
	__u8 *kind;

	if (!h->full)
		return false;
	key.hash = h->full;
	kind = bpf_map_lookup_elem(&domain_sets, &key);
	if (kind && (*kind & VIGIL_DOMAIN_EXACT))
		return true;
	for (int i = 0; i < VIGIL_DNS_PARENTS; i++) {
		if (i >= h->nparents)
			break;
		key.hash = h->parents[i];
		kind = bpf_map_lookup_elem(&domain_sets, &key);
		if (kind && (*kind & VIGIL_DOMAIN_SUBDOMAINS))
			return true;
	}
	return false;
}

static long match_rule(__u32 i, struct match_ctx *m)
{
	__u32 idx = m->gen * VIGIL_CONNECT_RULES + i;
	struct vigil_connect_rule *r;
	bool in_set;

	if (i >= m->count)
		return 1;
	r = bpf_map_lookup_elem(&connect_rules, &idx);
	if (!r)
		return 1;
	if (r->agent_id != VIGIL_AGENT_ANY && r->agent_id != m->agent)
		return 0;
	if (r->flags & VIGIL_CR_PORTS) {
		bool found = false;

		for (int p = 0; p < VIGIL_RULE_PORTS; p++) {
			if (p < r->nports && r->ports[p] == m->port)
				found = true;
		}
		if (!found)
			return 0;
	}
	if (r->flags & (VIGIL_CR_CIDR | VIGIL_CR_NOT_CIDR)) {
		m->addr.set = (m->gen << 16) | r->cidr_set;
		in_set = bpf_map_lookup_elem(&cidr_sets, &m->addr) != NULL;
		if ((r->flags & VIGIL_CR_CIDR) && !in_set)
			return 0;
		if ((r->flags & VIGIL_CR_NOT_CIDR) && in_set)
			return 0;
	}
	if (r->flags & (VIGIL_CR_DOMAIN | VIGIL_CR_NOT_DOMAIN)) {
		__u32 set = (m->gen << 16) | r->domain_set;
		struct vigil_dns_entry *l = m->learned;

		in_set = l && (name_in_set(&l->names[0], set) || ((l->flags & VIGIL_DNS_F_AMBIGUOUS) && name_in_set(&l->names[1], set)));
		if ((r->flags & VIGIL_CR_DOMAIN) && !in_set)
			return 0;
		if ((r->flags & VIGIL_CR_NOT_DOMAIN) && in_set)
			return 0;
	}
	m->hit = r;
	return 1;
}

static __always_inline int check_connect(__u16 family, __u16 port, const __u32 *addr6)
{
	struct match_ctx m = {};
	struct vigil_enforce_event *e;
	__u32 *count;

	m.agent = vigil_agent_of(vigil_current_task());
	if (!m.agent)
		return 1;
	m.gen = current_gen();
	count = bpf_map_lookup_elem(&connect_rule_count, &m.gen);
	if (!count || !*count)
		return 1;
	m.count = *count;
	m.port = port;
	m.addr.prefixlen = 32 + 128;
	__builtin_memcpy(m.addr.addr, addr6, 16);
	{
		/* The names the agent learned this destination from, for rules that name domains (and the record). */
		struct vigil_dns_key dk = { .agent_id = m.agent };

		__builtin_memcpy(dk.addr, addr6, 16);
		m.learned = bpf_map_lookup_elem(&dns_learned, &dk);
		if (m.learned && m.learned->expires_ns < bpf_ktime_get_boot_ns())
			m.learned = NULL;
	}
	bpf_loop(VIGIL_CONNECT_RULES, match_rule, &m, 0);
	if (!m.hit || m.hit->action == VIGIL_ACT_ALERT)
		return 1;
	e = report(m.hit->rule_id, m.hit->action, VIGIL_OP_CONNECT);
	if (e) {
		e->family = family;
		e->port = port;
		__builtin_memcpy(e->addr, addr6, 16);
		vigil_submit(e);
	}
	return 0; /* refused: connect() fails with EPERM */
}

SEC("cgroup/connect4")
int vigil_connect4(struct bpf_sock_addr *ctx)
{
	/* IPv4 is looked up as ::ffff:a.b.c.d, so one trie serves both families. */
	__u32 a[4] = { 0, 0, bpf_htonl(0xffff), ctx->user_ip4 };

	return check_connect(AF_INET, bpf_ntohs((__u16)ctx->user_port), a);
}

SEC("cgroup/connect6")
int vigil_connect6(struct bpf_sock_addr *ctx)
{
	__u32 a[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };

	return check_connect(AF_INET6, bpf_ntohs((__u16)ctx->user_port), a);
}
