// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Outgoing connections (IPv4 and IPv6): address kept at entry, record made at exit with the result. */
#include "common.bpf.h"

#define AF_INET 2
#define AF_INET6 10

__noinline int vigil_connect_enter(__u64 fd, __u64 addr, __u64 len)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_pending_syscall p = { .args = { fd, addr, len } };

	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 0;
}

__noinline int vigil_connect_exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_pending_syscall *p = bpf_map_lookup_elem(&pending, &tid);
	struct vigil_connect_event *e;
	struct sockaddr_in6 sa = {};
	__u32 len;

	if (!p)
		return 0;
	/* sockaddr_in6 covers IPv4 too; read no more than the caller passed. */
	len = (__u32)p->args[2] >= sizeof(sa) ? sizeof(sa) : sizeof(struct sockaddr_in);
	if (bpf_probe_read_user(&sa, len, (void *)p->args[1]) < 0)
		goto out;
	if (sa.sin6_family != AF_INET && sa.sin6_family != AF_INET6)
		goto out;
	e = vigil_reserve(sizeof(*e), VIGIL_EV_CONNECT);
	if (!e)
		goto out;
	vigil_fill_header(&e->hdr, VIGIL_EV_CONNECT);
	e->ret = ret;
	e->fd = (__u32)p->args[0];
	e->family = sa.sin6_family;
	e->port = bpf_ntohs(sa.sin6_port);
	e->_pad = 0;
	if (sa.sin6_family == AF_INET) {
		struct sockaddr_in *in4 = (struct sockaddr_in *)&sa;

		__builtin_memset(e->addr, 0, sizeof(e->addr));
		__builtin_memcpy(e->addr, &in4->sin_addr.s_addr, 4);
	} else {
		__builtin_memcpy(e->addr, &sa.sin6_addr, 16);
	}
	vigil_submit(e);
out:
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}
