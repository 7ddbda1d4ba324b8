/**
 * Byte layouts of the records in bpf/vigil.h, as the decoders read them.
 * test/layout.test.ts checks every entry against the BTF of the compiled
 * object (offsets and sizes), so a change on one side without the other fails.
 */

/** [offset, size] of each field. */
export type StructLayout = { size: number; fields: Record<string, readonly [number, number]> };

export const COMM_LEN = 16;
export const PATH_MAX = 512;
export const ARGS_MAX = 2048;
/** A failed exec's arguments are copied this many bytes at most each (VIGIL_ARG_CHUNK). */
export const ARG_CHUNK = 256;
/** Records per element of the `firehose` array; each CPU's ring is a power of two of them. */
export const FIREHOSE_CHUNK_SLOTS = 131072;
export const SCOPE_INLINE = 8;
export const TALLY_SLOTS = 512;
/** struct vigil_syscall_tally: a 16-bit count per syscall number, `other`, and a pad. */
const TALLY_BYTES = 2 * TALLY_SLOTS + 4;
/** VIGIL_TALLY_BUSY: the owner of a tally way while it is being sent (0: a free way). */
export const TALLY_BUSY = 0xffff_ffff_ffff_ffffn;

export const EventType = {
  exec: 1,
  fork: 2,
  exit: 3,
  open: 4,
  connect: 5,
  cred: 6,
  syscall: 7,
  enforce: 8,
  /** A thread's syscall counts (aggregate mode): consumed by the observer, never passed up as an event. */
  tally: 9,
  /** An execve/execveat that returned an error. */
  exec_failed: 10,
  /** A chunk of TLS plaintext (uprobes on OpenSSL): read by the intent layer, never passed up as an event. */
  tls: 11,
} as const;
export type EventTypeName = keyof typeof EventType;
export const EVENT_TYPE_NAMES: readonly (EventTypeName | undefined)[] = (() => {
  const names: (EventTypeName | undefined)[] = [];
  for (const [k, v] of Object.entries(EventType)) names[v] = k as EventTypeName;
  return names;
})();

/** The kernel's event types passed up as events (the tally is the observer's, TLS chunks the intent layer's), in the kernel's order. */
export const REPORTED_EVENT_TYPES = EVENT_TYPE_NAMES.filter((n): n is Exclude<EventTypeName, "tally" | "tls"> => n !== undefined && n !== "tally" && n !== "tls");

/** Slots of the per-CPU `drops` array beyond the per-type reserve failures. */
export const DropSlot = { firehoseFull: 12, aggregateFull: 13, agentFull: 14, dnsFull: 15 } as const;
export const DROP_SLOTS = 16;

/** TLS plaintext records (struct vigil_tls_event): bytes a chunk, chunks a call at most, the flag of a cut call. */
export const TLS_CHUNK = 4096;
export const TLS_CHUNKS_MAX = 256;
export const TlsFlag = { truncated: 0x1 } as const;
/** enum vigil_tls_dir. */
export const TlsDir = { sent: 0, received: 1 } as const;

/** enum vigil_action, enum vigil_enforce_op and the enforcement bounds in bpf/vigil.h. */
export const Action = { alert: 0, deny: 1, kill: 2, freeze: 3, "kill-tree": 4 } as const;
export type ActionName = keyof typeof Action;
export const ACTION_NAMES = Object.keys(Action) as ActionName[];
export const EnforceOp = { exec: 1, connect: 2 } as const;
export const AGENT_ANY = 0xffffffff;
export const CONNECT_RULES = 64;
export const RULE_PORTS = 8;
export const ConnectRuleFlag = { cidr: 0x1, notCidr: 0x2, ports: 0x4, domain: 0x8, notDomain: 0x10 } as const;

/** Names learned from DNS (bpf/vigil.h, struct vigil_dns_entry and around). */
export const DNS_NAME = 128;
export const DNS_PARENTS = 8;
export const DomainKind = { exact: 0x1, subdomains: 0x2 } as const;
export const DnsEntryFlag = { ambiguous: 0x1 } as const;
/** enum vigil_dns_stat, in order. */
export const DNS_STATS = ["answers", "learned", "ambiguous", "unparsed", "unsolicited", "queriesFull"] as const;
export type DnsStatName = (typeof DNS_STATS)[number];
const DNS_HASHES = 8 + 8 * DNS_PARENTS + 8;

/** enum vigil_agent_kind: the keys of the `agent_kinds` map. */
export const AgentKind = { byTgid: 0, byCgroup: 1 } as const;
export const AGENT_KINDS = 2;

export const SyscallMode = { off: 0, aggregate: 1, firehose: 2 } as const;
/** enum vigil_firehose_clock. */
export const FirehoseClock = { tick: 0, exact: 1 } as const;
/** enum vigil_syscall_record_bits: how vigil_syscall_record.ts_nr packs the stamp, the syscall number and the clock flag. */
export const SyscallRecordBits = { tsBits: 48, nrShift: 48, nrOther: 0x7fff, exactShift: 63 } as const;

export const Flag = { filenameTruncated: 0x1, argsTruncated: 0x2, pathTruncated: 0x4 } as const;

const HEADER = 64;

export const LAYOUTS = {
  vigil_header: {
    size: HEADER,
    fields: {
      ts_ns: [0, 8],
      cgroup_id: [8, 8],
      type: [16, 4],
      pid: [20, 4],
      tid: [24, 4],
      ppid: [28, 4],
      uid: [32, 4],
      gid: [36, 4],
      agent_id: [40, 4],
      _hpad: [44, 4],
      comm: [48, COMM_LEN],
    },
  },
  vigil_exec_event: {
    size: HEADER + 32 + PATH_MAX + ARGS_MAX,
    fields: {
      hdr: [0, HEADER],
      flags: [HEADER, 4],
      filename_len: [HEADER + 4, 4],
      args_len: [HEADER + 8, 4],
      args_size: [HEADER + 12, 4],
      old_pid: [HEADER + 16, 4],
      dev: [HEADER + 20, 4],
      ino: [HEADER + 24, 8],
      filename: [HEADER + 32, PATH_MAX],
      args: [HEADER + 32 + PATH_MAX, ARGS_MAX],
    },
  },
  vigil_exec_failed_event: {
    size: HEADER + 16 + PATH_MAX + ARGS_MAX + ARG_CHUNK,
    fields: {
      hdr: [0, HEADER],
      ret: [HEADER, 4],
      flags: [HEADER + 4, 4],
      filename_len: [HEADER + 8, 4],
      args_len: [HEADER + 12, 4],
      filename: [HEADER + 16, PATH_MAX],
      args: [HEADER + 16 + PATH_MAX, ARGS_MAX + ARG_CHUNK],
    },
  },
  vigil_fork_event: {
    size: HEADER + 8,
    fields: { hdr: [0, HEADER], child_pid: [HEADER, 4], child_tid: [HEADER + 4, 4] },
  },
  vigil_exit_event: {
    size: HEADER + 8,
    fields: { hdr: [0, HEADER], exit_code: [HEADER, 4], _pad: [HEADER + 4, 4] },
  },
  vigil_open_event: {
    size: HEADER + 32 + PATH_MAX,
    fields: {
      hdr: [0, HEADER],
      ret: [HEADER, 8],
      open_flags: [HEADER + 8, 8],
      mode: [HEADER + 16, 4],
      dfd: [HEADER + 20, 4],
      flags: [HEADER + 24, 4],
      path_len: [HEADER + 28, 4],
      path: [HEADER + 32, PATH_MAX],
    },
  },
  vigil_connect_event: {
    size: HEADER + 32,
    fields: {
      hdr: [0, HEADER],
      ret: [HEADER, 4],
      fd: [HEADER + 4, 4],
      family: [HEADER + 8, 2],
      port: [HEADER + 10, 2],
      _pad: [HEADER + 12, 4],
      addr: [HEADER + 16, 16],
    },
  },
  vigil_cred_event: {
    size: HEADER + 32,
    fields: {
      hdr: [0, HEADER],
      old_uid: [HEADER, 4],
      old_euid: [HEADER + 4, 4],
      old_gid: [HEADER + 8, 4],
      old_egid: [HEADER + 12, 4],
      new_uid: [HEADER + 16, 4],
      new_euid: [HEADER + 20, 4],
      new_gid: [HEADER + 24, 4],
      new_egid: [HEADER + 28, 4],
    },
  },
  vigil_syscall_record: {
    size: 16,
    fields: { ts_nr: [0, 8], pid: [8, 4], tid: [12, 4] },
  },
  vigil_firehose_ctl: {
    size: 128,
    fields: {
      head: [0, 8],
      clock_tick: [8, 8],
      clock_ns: [16, 8],
      clock_uses: [24, 8],
      clock_switches: [32, 8],
      clock_tid: [40, 4],
      _pad0: [44, 4],
      room_end: [48, 8],
      _pad1: [56, 8],
      tail: [64, 8],
      _pad2: [72, 56],
    },
  },
  vigil_firehose_chunk: {
    size: 16 * FIREHOSE_CHUNK_SLOTS,
    fields: { recs: [0, 16 * FIREHOSE_CHUNK_SLOTS] },
  },
  vigil_scope: {
    size: 16 + 8 * SCOPE_INLINE,
    fields: { use_hash: [0, 8], count: [8, 8], ids: [16, 8 * SCOPE_INLINE] },
  },
  vigil_syscall_tally: {
    size: TALLY_BYTES,
    fields: { counts: [0, 2 * TALLY_SLOTS], other: [2 * TALLY_SLOTS, 2], _pad: [2 * TALLY_SLOTS + 2, 2] },
  },
  vigil_tally: {
    size: 16 + TALLY_BYTES + 4,
    fields: { owner: [0, 8], last_used: [8, 8], counts: [16, TALLY_BYTES], _pad: [16 + TALLY_BYTES, 4] },
  },
  vigil_tally_event: {
    size: HEADER + 16 + TALLY_BYTES + 4,
    fields: { hdr: [0, HEADER], tally: [HEADER, 16 + TALLY_BYTES + 4] },
  },
  vigil_exec_rule_key: {
    size: 24,
    fields: { ino: [0, 8], dev: [8, 4], agent_id: [12, 4], gen: [16, 4], _pad: [20, 4] },
  },
  vigil_rule_verdict: {
    size: 8,
    fields: { rule_id: [0, 4], action: [4, 4] },
  },
  vigil_connect_rule: {
    size: 28 + 2 * RULE_PORTS,
    fields: { rule_id: [0, 4], action: [4, 4], agent_id: [8, 4], flags: [12, 4], cidr_set: [16, 4], domain_set: [20, 4], nports: [24, 4], ports: [28, 2 * RULE_PORTS] },
  },
  vigil_dns_key: {
    size: 24,
    fields: { agent_id: [0, 4], _pad: [4, 4], addr: [8, 16] },
  },
  vigil_dns_name_hashes: {
    size: DNS_HASHES,
    fields: { full: [0, 8], parents: [8, 8 * DNS_PARENTS], nparents: [8 + 8 * DNS_PARENTS, 4], _pad: [12 + 8 * DNS_PARENTS, 4] },
  },
  vigil_dns_entry: {
    size: 16 + 2 * DNS_HASHES + DNS_NAME,
    fields: { expires_ns: [0, 8], flags: [8, 4], name_len: [12, 4], names: [16, 2 * DNS_HASHES], name: [16 + 2 * DNS_HASHES, DNS_NAME] },
  },
  vigil_dns_query_key: {
    size: 8,
    fields: { agent_id: [0, 4], id: [4, 2], port: [6, 2] },
  },
  vigil_dns_query: {
    size: 24,
    fields: { sent_ns: [0, 8], server: [8, 16] },
  },
  vigil_domain_key: {
    size: 16,
    fields: { set: [0, 4], _pad: [4, 4], hash: [8, 8] },
  },
  vigil_cidr_key: {
    size: 24,
    fields: { prefixlen: [0, 4], set: [4, 4], addr: [8, 16] },
  },
  vigil_enforce_event: {
    size: HEADER + 48,
    fields: {
      hdr: [0, HEADER],
      rule_id: [HEADER, 4],
      action: [HEADER + 4, 4],
      op: [HEADER + 8, 4],
      family: [HEADER + 12, 2],
      port: [HEADER + 14, 2],
      ino: [HEADER + 16, 8],
      dev: [HEADER + 24, 4],
      _pad: [HEADER + 28, 4],
      addr: [HEADER + 32, 16],
    },
  },
  vigil_tls_event: {
    size: HEADER + 32 + TLS_CHUNK,
    fields: {
      hdr: [0, HEADER],
      ssl: [HEADER, 8],
      seq: [HEADER + 8, 8],
      call_len: [HEADER + 16, 4],
      offset: [HEADER + 20, 4],
      len: [HEADER + 24, 4],
      dir: [HEADER + 28, 1],
      flags: [HEADER + 29, 1],
      _pad: [HEADER + 30, 2],
      data: [HEADER + 32, TLS_CHUNK],
    },
  },
  vigil_tls_call: {
    size: 32,
    fields: { ssl: [0, 8], buf: [8, 8], len_out: [16, 8], dir: [24, 4], _pad: [28, 4] },
  },
  vigil_tls_conn_key: {
    size: 16,
    fields: { ssl: [0, 8], tgid: [8, 4], _pad: [12, 4] },
  },
} as const satisfies Record<string, StructLayout>;
