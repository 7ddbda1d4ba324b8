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
export const FIREHOSE_SLOTS = 131072;

export const EventType = {
  exec: 1,
  fork: 2,
  exit: 3,
  open: 4,
  connect: 5,
  cred: 6,
  syscall: 7,
} as const;
export type EventTypeName = keyof typeof EventType;
export const EVENT_TYPE_NAMES: readonly (EventTypeName | undefined)[] = (() => {
  const names: (EventTypeName | undefined)[] = [];
  for (const [k, v] of Object.entries(EventType)) names[v] = k as EventTypeName;
  return names;
})();

/** Slots of the per-CPU `drops` array beyond the per-type reserve failures. */
export const DropSlot = { firehoseFull: 8, aggregateFull: 9 } as const;
export const DROP_SLOTS = 10;

export const SyscallMode = { off: 0, aggregate: 1, firehose: 2 } as const;

export const Flag = { filenameTruncated: 0x1, argsTruncated: 0x2, pathTruncated: 0x4 } as const;

const HEADER = 56;

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
      comm: [40, COMM_LEN],
    },
  },
  vigil_exec_event: {
    size: HEADER + 24 + PATH_MAX + ARGS_MAX,
    fields: {
      hdr: [0, HEADER],
      flags: [HEADER, 4],
      filename_len: [HEADER + 4, 4],
      args_len: [HEADER + 8, 4],
      args_size: [HEADER + 12, 4],
      old_pid: [HEADER + 16, 4],
      _pad: [HEADER + 20, 4],
      filename: [HEADER + 24, PATH_MAX],
      args: [HEADER + 24 + PATH_MAX, ARGS_MAX],
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
    size: 24,
    fields: { ts_ns: [0, 8], pid: [8, 4], tid: [12, 4], nr: [16, 4], _pad: [20, 4] },
  },
  vigil_firehose_ring: {
    size: 128 + 24 * FIREHOSE_SLOTS,
    fields: { head: [0, 8], _pad0: [8, 56], tail: [64, 8], _pad1: [72, 56], recs: [128, 24 * FIREHOSE_SLOTS] },
  },
  vigil_syscall_key: {
    size: 8,
    fields: { pid: [0, 4], nr: [4, 4] },
  },
} as const satisfies Record<string, StructLayout>;
