// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Outgoing connections (IPv4 and IPv6), reported at syscall exit with the
 * result; the address is read through the pointer the caller passed, which
 * the kernel saved with the other arguments at entry.
 */
#include "common.bpf.h"

#define AF_INET 2
#define AF_INET6 10

__noinline int vigil_connect_exit(const struct vigil_syscall_args *a, long ret)
{
	struct vigil_connect_event *e;
	struct sockaddr_in6 sa = {};
	__u32 len;

	if (!a)
		return 0;
	/* sockaddr_in6 covers IPv4 too; read no more than the caller passed. */
	len = (__u32)a->arg[2] >= sizeof(sa) ? sizeof(sa) : sizeof(struct sockaddr_in);
	if (bpf_probe_read_user(&sa, len, (void *)a->arg[1]) < 0)
		return 0;
	if (sa.sin6_family != AF_INET && sa.sin6_family != AF_INET6)
		return 0;
	e = vigil_reserve(sizeof(*e), VIGIL_EV_CONNECT);
	if (!e)
		return 0;
	vigil_fill_header(&e->hdr, VIGIL_EV_CONNECT);
	e->ret = ret;
	e->fd = (__u32)a->arg[0];
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
	return 0;
}
