// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * DNS answers an agent receives, learned in the kernel (see struct
 * vigil_dns_entry), so that a connect right after the answer is judged by
 * the name it came from: no userspace round trip, no race.
 *  - egress (cgroup_skb/egress): a UDP query to port 53 is remembered by
 *    (agent, id, source port) with the server it went to;
 *  - ingress (cgroup_skb/ingress): a UDP answer from port 53 that matches a
 *    remembered query (same id and port, from that server) is parsed: the
 *    question's name, then every A and AAAA record, each learned for the
 *    agent with the name asked and the record's TTL.
 * Both programs pass every packet (they observe; the connect hooks decide).
 * Only the first VIGIL_DNS_PAYLOAD bytes of a message are parsed; DNS over
 * TCP, DoT and DoH are not read (docs/policies.md says what that allows).
 */
#include "common.bpf.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_UDP 17
#define DNS_PORT 53
#define DNS_MASK (VIGIL_DNS_PAYLOAD - 1)
#define DNS_TYPE_A 1
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1
#define DNS_ANSWERS_MAX 32
#define DNS_QUERY_TTL_NS (30ULL * 1000000000ULL) /* a query unanswered this long is forgotten */
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL


struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct vigil_dns_query_key);
	__type(value, struct vigil_dns_query);
} dns_queries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_DNS_STATS);
	__type(key, __u32);
	__type(value, __u64);
} dns_stats SEC(".maps");

struct dns_scratch {
	__u8 msg[VIGIL_DNS_PAYLOAD];
	struct vigil_dns_entry entry;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_scratch);
} dns_scratch_buf SEC(".maps");

static __always_inline void dns_count(__u32 stat)
{
	__u64 *n = bpf_map_lookup_elem(&dns_stats, &stat);

	if (n)
		*n += 1;
}

/* The UDP datagram of `skb` (IPv4 or IPv6 without extension headers): its addresses, ports and payload offset. */
struct dns_datagram {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport;
	__u16 dport;
	__u32 payload;
	__u32 len;
};

static __always_inline bool udp_datagram(struct __sk_buff *skb, struct dns_datagram *d)
{
	struct udphdr udp;
	__u32 l4;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0 || ip.protocol != IPPROTO_UDP)
			return false;
		if (ip.frag_off & bpf_htons(0x3fff)) /* a fragment: not parsed */
			return false;
		l4 = ip.ihl * 4;
		__builtin_memset(d->src, 0, 16);
		__builtin_memset(d->dst, 0, 16);
		d->src[10] = d->src[11] = d->dst[10] = d->dst[11] = 0xff;
		__builtin_memcpy(d->src + 12, &ip.saddr, 4);
		__builtin_memcpy(d->dst + 12, &ip.daddr, 4);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) < 0 || ip6.nexthdr != IPPROTO_UDP)
			return false;
		l4 = sizeof(ip6);
		__builtin_memcpy(d->src, &ip6.saddr, 16);
		__builtin_memcpy(d->dst, &ip6.daddr, 16);
	} else {
		return false;
	}
	if (bpf_skb_load_bytes(skb, l4, &udp, sizeof(udp)) < 0)
		return false;
	d->sport = bpf_ntohs(udp.source);
	d->dport = bpf_ntohs(udp.dest);
	d->payload = l4 + sizeof(udp);
	d->len = skb->len > d->payload ? skb->len - d->payload : 0;
	return true;
}

static __always_inline __u32 dns_agent(struct __sk_buff *skb)
{
	__u64 cg = bpf_skb_cgroup_id(skb);
	__u32 *a;

	if (!vigil_agent_kind_used(VIGIL_AGENTS_BY_CGROUP))
		return 0;
	a = bpf_map_lookup_elem(&agent_by_cgroup, &cg);
	return a ? *a : 0;
}

SEC("cgroup_skb/egress")
int vigil_dns_egress(struct __sk_buff *skb)
{
	struct dns_datagram d;
	struct vigil_dns_query_key key = {};
	struct vigil_dns_query q = {};
	__u16 id;

	if (!udp_datagram(skb, &d) || d.dport != DNS_PORT || d.len < 12)
		return 1;
	key.agent_id = dns_agent(skb);
	if (!key.agent_id || bpf_skb_load_bytes(skb, d.payload, &id, sizeof(id)) < 0)
		return 1;
	key.id = bpf_ntohs(id);
	key.port = d.sport;
	q.sent_ns = bpf_ktime_get_boot_ns();
	__builtin_memcpy(q.server, d.dst, 16);
	if (bpf_map_update_elem(&dns_queries, &key, &q, BPF_ANY) < 0)
		dns_count(VIGIL_DNS_QUERIES_FULL);
	return 1;
}

static __always_inline bool same_address(const __u8 *a, const __u8 *b)
{
	for (int i = 0; i < 16; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

struct dns_parse {
	struct dns_scratch *s;
	__u32 len;
	__u32 pos;
	__u32 out; /* bytes of the name written */
	__u32 label_left;
	__u32 answers_left;
	__u32 agent;
	bool in_name; /* answers: at the owner name of a record */
	bool done;
	bool bad;
	__u64 hash;
	__u64 now;
};

static __always_inline __u8 msg_byte(struct dns_parse *p, __u32 at)
{
	return p->s->msg[at & DNS_MASK];
}

/* One byte of the question's name, into entry.name as lowercase text with dots. */
static long qname_byte(__u32 i, struct dns_parse *p)
{
	__u8 c;

	if (p->pos >= p->len) {
		p->bad = true;
		return 1;
	}
	c = msg_byte(p, p->pos);
	p->pos++;
	if (p->label_left == 0) {
		if (c == 0) {
			p->done = true;
			return 1;
		}
		if (c > 63) { /* a compression pointer or an extended label: not in a question */
			p->bad = true;
			return 1;
		}
		p->label_left = c;
		if (p->out == 0)
			return 0;
		c = '.';
	} else {
		p->label_left--;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
	}
	if (p->out >= VIGIL_DNS_NAME - 1) {
		p->bad = true;
		return 1;
	}
	p->s->entry.name[p->out & (VIGIL_DNS_NAME - 1)] = c;
	p->out++;
	return 0;
}

/* The name's hashes, from its last byte back: at each dot, the hash so far is its parent domain's. */
static long name_hash_byte(__u32 i, struct dns_parse *p)
{
	struct vigil_dns_name_hashes *h = &p->s->entry.names[0];
	__u8 c;

	if (i >= p->out)
		return 1;
	c = p->s->entry.name[(p->out - 1 - i) & (VIGIL_DNS_NAME - 1)];
	if (c == '.' && h->nparents < VIGIL_DNS_PARENTS) {
		h->parents[h->nparents & (VIGIL_DNS_PARENTS - 1)] = p->hash;
		h->nparents++;
	}
	p->hash = (p->hash ^ c) * FNV_PRIME;
	return 0;
}

static __always_inline void learn(struct dns_parse *p, const __u8 *addr, __u32 ttl)
{
	struct vigil_dns_key key = { .agent_id = p->agent };
	struct vigil_dns_entry *e = &p->s->entry, *old;
	__u64 keep = (ttl > dns_min_ttl_s ? ttl : dns_min_ttl_s) * 1000000000ULL;

	__builtin_memcpy(key.addr, addr, 16);
	e->expires_ns = p->now + keep;
	e->flags = 0;
	__builtin_memset(&e->names[1], 0, sizeof(e->names[1]));
	old = bpf_map_lookup_elem(&dns_learned, &key);
	if (old && old->expires_ns > p->now) {
		if (old->names[0].full != e->names[0].full) {
			/* Another name leads here too (a shared CDN address): both count for this address. */
			e->names[1] = old->names[0];
			e->flags = VIGIL_DNS_F_AMBIGUOUS;
			dns_count(VIGIL_DNS_AMBIGUOUS);
		} else if (old->flags & VIGIL_DNS_F_AMBIGUOUS) {
			e->names[1] = old->names[1];
			e->flags = VIGIL_DNS_F_AMBIGUOUS;
		}
		if (old->expires_ns > e->expires_ns)
			e->expires_ns = old->expires_ns;
	}
	if (bpf_map_update_elem(&dns_learned, &key, e, BPF_ANY) < 0) {
		vigil_count_drop(VIGIL_DROP_DNS_FULL);
		return;
	}
	dns_count(VIGIL_DNS_LEARNED);
}

/* One step through the answer section: an owner name's label, or a record's fixed part and data. */
static long answer_step(__u32 i, struct dns_parse *p)
{
	__u32 pos = p->pos, type, class, ttl, rdlen;
	__u8 addr[16];
	__u8 c;

	if (p->answers_left == 0) {
		p->done = true;
		return 1;
	}
	if (pos >= p->len) {
		p->bad = true;
		return 1;
	}
	c = msg_byte(p, pos);
	if (p->in_name) {
		if ((c & 0xc0) == 0xc0) {
			p->pos += 2;
			p->in_name = false;
		} else if (c == 0) {
			p->pos += 1;
			p->in_name = false;
		} else if (c > 63) {
			p->bad = true;
			return 1;
		} else {
			p->pos += 1 + c;
		}
		return 0;
	}
	if (pos + 10 > p->len) {
		p->bad = true;
		return 1;
	}
	type = (__u32)msg_byte(p, pos) << 8 | msg_byte(p, pos + 1);
	class = (__u32)msg_byte(p, pos + 2) << 8 | msg_byte(p, pos + 3);
	ttl = (__u32)msg_byte(p, pos + 4) << 24 | (__u32)msg_byte(p, pos + 5) << 16 | (__u32)msg_byte(p, pos + 6) << 8 | msg_byte(p, pos + 7);
	rdlen = (__u32)msg_byte(p, pos + 8) << 8 | msg_byte(p, pos + 9);
	pos += 10;
	if (pos + rdlen > p->len) {
		p->bad = true;
		return 1;
	}
	if (class == DNS_CLASS_IN && type == DNS_TYPE_A && rdlen == 4) {
		__builtin_memset(addr, 0, 10);
		addr[10] = addr[11] = 0xff;
		for (int k = 0; k < 4; k++)
			addr[12 + k] = msg_byte(p, pos + k);
		learn(p, addr, ttl);
	} else if (class == DNS_CLASS_IN && type == DNS_TYPE_AAAA && rdlen == 16) {
		for (int k = 0; k < 16; k++)
			addr[k] = msg_byte(p, pos + k);
		learn(p, addr, ttl);
	}
	p->pos = pos + rdlen;
	p->answers_left--;
	p->in_name = true;
	return 0;
}

SEC("cgroup_skb/ingress")
int vigil_dns_ingress(struct __sk_buff *skb)
{
	struct vigil_dns_query_key qkey = {};
	struct vigil_dns_query *q;
	struct dns_datagram d;
	struct dns_parse p = {};
	__u32 zero = 0, n;
	__u16 flags, qdcount;

	if (!udp_datagram(skb, &d) || d.sport != DNS_PORT || d.len < 12)
		return 1;
	p.agent = dns_agent(skb);
	if (!p.agent)
		return 1;
	p.s = bpf_map_lookup_elem(&dns_scratch_buf, &zero);
	if (!p.s)
		return 1;
	n = d.len > VIGIL_DNS_PAYLOAD ? VIGIL_DNS_PAYLOAD : d.len;
	barrier_var(n); /* keep the mask below: the verifier needs the size bounded in the register it gets */
	n &= VIGIL_DNS_PAYLOAD * 2 - 1;
	if (n < 12 || n > VIGIL_DNS_PAYLOAD || bpf_skb_load_bytes(skb, d.payload, p.s->msg, n) < 0)
		return 1;
	p.len = n;
	/* Only an answer to a query this agent sent to this server, from the port it sent it from. */
	qkey.agent_id = p.agent;
	qkey.id = (__u16)msg_byte(&p, 0) << 8 | msg_byte(&p, 1);
	qkey.port = d.dport;
	q = bpf_map_lookup_elem(&dns_queries, &qkey);
	if (!q || !same_address(q->server, d.src)) {
		dns_count(VIGIL_DNS_UNSOLICITED);
		return 1;
	}
	bpf_map_delete_elem(&dns_queries, &qkey);
	flags = (__u16)msg_byte(&p, 2) << 8 | msg_byte(&p, 3);
	qdcount = (__u16)msg_byte(&p, 4) << 8 | msg_byte(&p, 5);
	p.answers_left = (__u32)msg_byte(&p, 6) << 8 | msg_byte(&p, 7);
	/* A response (QR), no error, one question. */
	if (!(flags & 0x8000) || (flags & 0xf) != 0 || qdcount != 1)
		return 1;
	dns_count(VIGIL_DNS_ANSWERS);
	p.pos = 12;
	bpf_loop(VIGIL_DNS_NAME + 64, qname_byte, &p, 0);
	if (p.bad || !p.done || p.out == 0) {
		dns_count(VIGIL_DNS_UNPARSED);
		return 1;
	}
	p.s->entry.name_len = p.out;
	if (p.out < VIGIL_DNS_NAME)
		p.s->entry.name[p.out & (VIGIL_DNS_NAME - 1)] = 0;
	p.hash = FNV_OFFSET;
	p.s->entry.names[0].nparents = 0;
	bpf_loop(VIGIL_DNS_NAME, name_hash_byte, &p, 0);
	p.s->entry.names[0].full = p.hash;
	p.pos += 4; /* QTYPE, QCLASS */
	p.done = false;
	p.in_name = true;
	p.now = bpf_ktime_get_boot_ns();
	if (p.answers_left > DNS_ANSWERS_MAX)
		p.answers_left = DNS_ANSWERS_MAX;
	bpf_loop(2 * DNS_ANSWERS_MAX + 64, answer_step, &p, 0);
	if (p.bad)
		dns_count(VIGIL_DNS_UNPARSED);
	return 1;
}
