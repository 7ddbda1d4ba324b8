// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TLS plaintext from OpenSSL, by uprobes. At a call's entry (in scope only)
 * the arguments are kept by thread; at its return the bytes it moved, now in
 * the buffer for a read too, are copied out in chunks (see struct
 * vigil_tls_event). Userspace attaches these programs to each file that
 * exports the functions (libssl.so.3, node ...), once per file, every
 * process included: the scope check here keeps the rest out before
 * anything is copied.
 */
#include "common.bpf.h"

extern const volatile __u32 tls_call_chunks;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct vigil_tls_call);
} tls_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct vigil_tls_conn_key);
	__type(value, __u64);
} tls_seq SEC(".maps");

/* A chunk is built here, then output with only its used length. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_tls_event);
} tls_scratch SEC(".maps");

static __always_inline int vigil_tls_enter(void *ssl, const void *buf, __u64 len_out, __u32 dir)
{
	struct vigil_tls_call call = { .ssl = (__u64)ssl, .buf = (__u64)buf, .len_out = len_out, .dir = dir };
	__u64 id;

	if (!vigil_current_in_scope())
		return 0;
	id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&tls_calls, &id, &call, BPF_ANY);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(vigil_tls_write, void *ssl, const void *buf, int num)
{
	return vigil_tls_enter(ssl, buf, 0, VIGIL_TLS_SENT);
}

SEC("uprobe")
int BPF_KPROBE(vigil_tls_write_ex, void *ssl, const void *buf, size_t num, size_t *written)
{
	return vigil_tls_enter(ssl, buf, (__u64)written, VIGIL_TLS_SENT);
}

SEC("uprobe")
int BPF_KPROBE(vigil_tls_read, void *ssl, void *buf, int num)
{
	return vigil_tls_enter(ssl, buf, 0, VIGIL_TLS_RECEIVED);
}

SEC("uprobe")
int BPF_KPROBE(vigil_tls_read_ex, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return vigil_tls_enter(ssl, buf, (__u64)readbytes, VIGIL_TLS_RECEIVED);
}

/* What each chunk of one call needs (bpf_loop hands it to vigil_tls_chunk). */
struct vigil_tls_copy {
	__u64 buf;
	__u64 moved;
	__u64 first;
	__u32 chunks;
};

/* Chunk `i` of a call: its bytes into the scratch record, then out with only its used length. */
static long vigil_tls_chunk(__u32 i, void *ctx)
{
	struct vigil_tls_copy *c = ctx;
	struct vigil_tls_event *e;
	__u64 off = (__u64)i * VIGIL_TLS_CHUNK;
	__u32 zero = 0, n;

	e = bpf_map_lookup_elem(&tls_scratch, &zero);
	if (!e || off >= c->moved)
		return 1;
	n = c->moved - off > VIGIL_TLS_CHUNK ? VIGIL_TLS_CHUNK : c->moved - off;
	e->seq = c->first + i;
	e->offset = off;
	e->flags = (i + 1 == c->chunks && c->moved > off + n) ? VIGIL_F_TLS_TRUNCATED : 0;
	if (n == 0 || n > VIGIL_TLS_CHUNK)
		return 1;
	if (bpf_probe_read_user(e->data, n, (void *)(c->buf + off)) < 0)
		return 1;
	e->len = n;
	vigil_output(e, offsetof(struct vigil_tls_event, data) + n, VIGIL_EV_TLS);
	return 0;
}

/* (BPF_KPROBE and BPF_KRETPROBE read pt_regs, as a uprobe gives them.) The return of any of the four: how many bytes moved, then those bytes, a chunk at a time. */
SEC("uretprobe")
int BPF_KRETPROBE(vigil_tls_return, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct vigil_tls_call *call = bpf_map_lookup_elem(&tls_calls, &id);
	struct vigil_tls_conn_key conn = {};
	struct vigil_tls_copy copy = {};
	struct vigil_tls_event *e;
	__u64 moved, *seq;
	__u32 zero = 0, chunks;

	if (!call)
		return 0;
	/* All four return an int: the upper half of the register is not part of it (-1 would read as 2^32 - 1). */
	if (call->len_out) {
		if ((int)ret != 1 || bpf_probe_read_user(&moved, sizeof(moved), (void *)call->len_out) < 0)
			moved = 0;
	} else {
		moved = (int)ret > 0 ? (int)ret : 0;
	}
	e = bpf_map_lookup_elem(&tls_scratch, &zero);
	if (!e || moved == 0 || moved > 0xffffffffULL)
		goto out;
	vigil_fill_header(&e->hdr, VIGIL_EV_TLS);
	e->ssl = call->ssl;
	e->dir = call->dir;
	e->call_len = moved;
	e->_pad = 0;
	conn.ssl = call->ssl;
	conn.tgid = id >> 32;
	chunks = (moved + VIGIL_TLS_CHUNK - 1) / VIGIL_TLS_CHUNK;
	if (chunks > tls_call_chunks)
		chunks = tls_call_chunks;
	if (chunks > VIGIL_TLS_CHUNKS_MAX)
		chunks = VIGIL_TLS_CHUNKS_MAX;
	/* The connection's sequence: this call's chunks are numbered first .. first + chunks - 1. */
	seq = bpf_map_lookup_elem(&tls_seq, &conn);
	if (seq) {
		copy.first = __sync_fetch_and_add(seq, chunks);
	} else {
		__u64 next = chunks;

		bpf_map_update_elem(&tls_seq, &conn, &next, BPF_ANY);
	}
	copy.buf = call->buf;
	copy.moved = moved;
	copy.chunks = chunks;
	bpf_loop(chunks, vigil_tls_chunk, &copy, 0);
out:
	bpf_map_delete_elem(&tls_calls, &id);
	return 0;
}
