/**
 * Turns ring-buffer records (bpf/vigil.h layouts) into plain event objects.
 * Reads straight from the consumer's view of the ring: no copy of the record.
 */
import { ACTION_NAMES, EVENT_TYPE_NAMES, Flag, LAYOUTS, TALLY_BUSY, TALLY_SLOTS, TlsDir, TlsFlag } from "../abi/layout";
import { StringCache, text } from "./string-cache";
import type { ConnectEvent, CredEvent, EnforceEvent, EventBase, ExecEvent, ExecFailedEvent, ExitEvent, ForkEvent, OpenEvent, ProcessEvent, TlsChunk } from "./types";

const HEADER_FIELDS = LAYOUTS.vigil_header.fields;
const EXEC_FIELDS = LAYOUTS.vigil_exec_event.fields;
const EXEC_FAILED_FIELDS = LAYOUTS.vigil_exec_failed_event.fields;
const FORK_FIELDS = LAYOUTS.vigil_fork_event.fields;
const EXIT_FIELDS = LAYOUTS.vigil_exit_event.fields;
const OPEN_FIELDS = LAYOUTS.vigil_open_event.fields;
const CONNECT_FIELDS = LAYOUTS.vigil_connect_event.fields;
const CRED_FIELDS = LAYOUTS.vigil_cred_event.fields;
const ENFORCE_FIELDS = LAYOUTS.vigil_enforce_event.fields;
const TLS_FIELDS = LAYOUTS.vigil_tls_event.fields;
const TALLY = LAYOUTS.vigil_tally;
const TALLY_COUNTS = LAYOUTS.vigil_syscall_tally.fields;

/* Exec and open records carry only the bytes in use (argv, path; bpf/process.bpf.c, bpf/file.bpf.c): what comes before is their minimum. */
const MIN_SIZE = [0, EXEC_FIELDS.args[0], LAYOUTS.vigil_fork_event.size, LAYOUTS.vigil_exit_event.size, OPEN_FIELDS.path[0], LAYOUTS.vigil_connect_event.size, LAYOUTS.vigil_cred_event.size, 0, LAYOUTS.vigil_enforce_event.size, 0, EXEC_FAILED_FIELDS.args[0]];

function u64(v: DataView, off: number): number {
  return v.getUint32(off, true) + v.getUint32(off + 4, true) * 0x1_0000_0000;
}

/** A signed 64-bit value that fits a double (fds, -errno) without allocating a BigInt. */
function s64(v: DataView, off: number): number {
  return v.getUint32(off, true) + v.getInt32(off + 4, true) * 0x1_0000_0000;
}

/*
 * A task's comm, decoded once per distinct value: a handful of programs
 * make most events.
 */
const comms = new StringCache(256, HEADER_FIELDS.comm[1]);

/** The NUL-terminated 16-byte comm at `off`. */
export function commString(v: DataView, b: Uint8Array, off: number): string {
  let end = off;
  const limit = off + HEADER_FIELDS.comm[1];
  while (end < limit && b[end] !== 0) end++;
  return comms.get(v, b, off, end);
}

/** argv as the kernel lays it out: NUL-separated strings. */
export function splitArgs(bytes: Uint8Array, off: number, len: number): string[] {
  const out: string[] = [];
  let start = off;
  const end = off + len;
  for (let i = off; i < end; i++) {
    if (bytes[i] === 0) {
      out.push(text(bytes, start, i));
      start = i + 1;
    }
  }
  if (start < end) out.push(text(bytes, start, end)); // cut mid-argument
  return out;
}

export function formatAddress(family: number, bytes: Uint8Array, off: number): string {
  if (family === 2) return `${bytes[off]}.${bytes[off + 1]}.${bytes[off + 2]}.${bytes[off + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[off + i]! << 8) | bytes[off + i + 1]!).toString(16));
  // IPv4-mapped ::ffff:a.b.c.d
  if (groups.slice(0, 5).every((g) => g === "0") && groups[5] === "ffff")
    return `::ffff:${bytes[off + 12]}.${bytes[off + 13]}.${bytes[off + 14]}.${bytes[off + 15]}`;
  // RFC 5952: compress the longest run of zero groups (length >= 2).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** The kernel looks IPv4 up as ::ffff:a.b.c.d; show it as a.b.c.d. */
function unmapV4(a: string): string {
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}

/** Splits a raw wait status (task->exit_code) into exit code, signal and core flag. */
export function splitWaitStatus(raw: number): { exitCode: number | null; signal: number | null; coreDumped: boolean } {
  const sig = raw & 0x7f;
  if (sig === 0) return { exitCode: (raw >> 8) & 0xff, signal: null, coreDumped: false };
  return { exitCode: null, signal: sig, coreDumped: (raw & 0x80) !== 0 };
}

export class DecodeError extends Error {
  override readonly name = "DecodeError";
}

const OWNER = TALLY.fields.owner[0];
const BUSY_LO = Number(TALLY_BUSY & 0xffff_ffffn);
const BUSY_HI = Number(TALLY_BUSY >> 32n);

/**
 * The process whose thread the struct vigil_tally at `off` (the body of a
 * tally record, or one way of the tally cache) counts for; null for a way
 * that holds no thread's counts (free, or being sent). Throws DecodeError
 * when it does not fit in `len`. Its owner is tid | tgid << 32, read as two
 * words: a BigInt a record would be an allocation.
 */
export function tallyPid(v: DataView, off: number, len: number): number | null {
  if (len < TALLY.size) throw new DecodeError(`tally of ${len} bytes is shorter than its ${TALLY.size} bytes`);
  const tid = v.getUint32(off + OWNER, true);
  const tgid = v.getUint32(off + OWNER + 4, true);
  if ((tid === 0 && tgid === 0) || (tid === BUSY_LO && tgid === BUSY_HI)) return null;
  return tgid;
}

/**
 * The non-zero counts of the struct vigil_tally at `off`, in ascending
 * syscall number (TALLY_SLOTS stands for every number past the slots), written
 * to `nrs` and `counts` (at least TALLY_SLOTS + 1 long); returns how many.
 */
export function tallyCounts(v: DataView, off: number, nrs: Uint16Array, counts: Float64Array): number {
  const base = off + TALLY.fields.counts[0] + TALLY_COUNTS.counts[0];
  let n = 0;
  // Two counts a load: a thread makes a few dozen of the 512 numbers, so most words are 0.
  for (let nr = 0; nr < TALLY_SLOTS; nr += 2) {
    const w = v.getUint32(base + 2 * nr, true);
    if (w === 0) continue;
    if (w & 0xffff) (nrs[n] = nr), (counts[n++] = w & 0xffff);
    if (w >>> 16) (nrs[n] = nr + 1), (counts[n++] = w >>> 16);
  }
  const other = v.getUint16(off + TALLY.fields.counts[0] + TALLY_COUNTS.other[0], true);
  if (other) (nrs[n] = TALLY_SLOTS), (counts[n++] = other);
  return n;
}

export class EventDecoder {
  /** Open paths and exec'd files: the loader cache, libraries and locale files make most opens. 512 KiB. */
  private readonly paths = new StringCache(2048, 256);

  /** @param bootToWallNs add to a CLOCK_BOOTTIME ns timestamp to get wall-clock ns */
  constructor(private bootToWallNs: number) {}

  /**
   * A fresh boot-to-wall offset. The wall clock is slewed (NTP, a VM's clock
   * sync) while boot time is not, so a daemon's event times fell behind the
   * wall clock by seconds a day (docs/benchmarks.md). ktimeNs
   * stays the order; ts may step back by the correction.
   */
  recalibrate(bootToWallNs: number): void {
    this.bootToWallNs = bootToWallNs;
  }

  wallMs(ktimeNs: number): number {
    return (ktimeNs + this.bootToWallNs) / 1e6;
  }

  private base(v: DataView, b: Uint8Array, off: number, typeNr: number): EventBase {
    const ktimeNs = u64(v, off + HEADER_FIELDS.ts_ns[0]);
    return {
      type: EVENT_TYPE_NAMES[typeNr]!,
      ts: this.wallMs(ktimeNs),
      ktimeNs,
      pid: v.getUint32(off + HEADER_FIELDS.pid[0], true),
      tid: v.getUint32(off + HEADER_FIELDS.tid[0], true),
      ppid: v.getUint32(off + HEADER_FIELDS.ppid[0], true),
      uid: v.getUint32(off + HEADER_FIELDS.uid[0], true),
      gid: v.getUint32(off + HEADER_FIELDS.gid[0], true),
      agentId: v.getUint32(off + HEADER_FIELDS.agent_id[0], true),
      comm: commString(v, b, off + HEADER_FIELDS.comm[0]),
      cgroupId: u64(v, off + HEADER_FIELDS.cgroup_id[0]),
    };
  }

  /** The program an exec record names (exec, or a failed one): filename, argv and their truncation flags. */
  private program<T extends ExecEvent | ExecFailedEvent>(x: T, v: DataView, b: Uint8Array, off: number, len: number, f: typeof EXEC_FIELDS | typeof EXEC_FAILED_FIELDS): T {
    const flags = v.getUint32(off + f.flags[0], true);
    const filenameLen = Math.min(v.getUint32(off + f.filename_len[0], true), f.filename[1]);
    const argsLen = Math.min(v.getUint32(off + f.args_len[0], true), f.args[1]);
    if (f.args[0] + argsLen > len) throw new DecodeError(`${x.type} record of ${len} bytes cannot hold its ${argsLen} bytes of argv`);
    x.filename = this.paths.get(v, b, off + f.filename[0], off + f.filename[0] + filenameLen);
    x.argv = splitArgs(b, off + f.args[0], argsLen);
    x.argvTruncated = (flags & Flag.argsTruncated) !== 0;
    x.filenameTruncated = (flags & Flag.filenameTruncated) !== 0;
    return x;
  }

  /** A TLS plaintext record (EventType.tls); its bytes are copied out of the ring. Throws DecodeError when they do not fit. */
  decodeTls(v: DataView, b: Uint8Array, off: number, len: number): TlsChunk {
    const dataAt = TLS_FIELDS.data[0];
    if (len < dataAt) throw new DecodeError(`tls record of ${len} bytes, expected at least ${dataAt}`);
    const n = v.getUint32(off + TLS_FIELDS.len[0], true);
    if (n > TLS_FIELDS.data[1] || dataAt + n > len) throw new DecodeError(`tls record of ${len} bytes cannot hold its ${n} bytes of data`);
    const ktimeNs = u64(v, off + HEADER_FIELDS.ts_ns[0]);
    return {
      ktimeNs,
      ts: this.wallMs(ktimeNs),
      pid: v.getUint32(off + HEADER_FIELDS.pid[0], true),
      tid: v.getUint32(off + HEADER_FIELDS.tid[0], true),
      comm: commString(v, b, off + HEADER_FIELDS.comm[0]),
      agentId: v.getUint32(off + HEADER_FIELDS.agent_id[0], true),
      ssl: v.getBigUint64(off + TLS_FIELDS.ssl[0], true),
      seq: u64(v, off + TLS_FIELDS.seq[0]),
      dir: v.getUint8(off + TLS_FIELDS.dir[0]) === TlsDir.received ? "received" : "sent",
      callLen: v.getUint32(off + TLS_FIELDS.call_len[0], true),
      offset: v.getUint32(off + TLS_FIELDS.offset[0], true),
      data: b.slice(off + dataAt, off + dataAt + n),
      truncated: (v.getUint8(off + TLS_FIELDS.flags[0]) & TlsFlag.truncated) !== 0,
    };
  }

  /** Decode one record; throws DecodeError on a record that does not fit its type. */
  decode(v: DataView, b: Uint8Array, off: number, len: number): ProcessEvent {
    if (len < LAYOUTS.vigil_header.size) throw new DecodeError(`record of ${len} bytes is shorter than the header`);
    const typeNr = v.getUint32(off + HEADER_FIELDS.type[0], true);
    const min = MIN_SIZE[typeNr];
    if (min === undefined || min === 0) throw new DecodeError(`unknown event type ${typeNr}`);
    if (len < min) throw new DecodeError(`${EVENT_TYPE_NAMES[typeNr]} record of ${len} bytes, expected ${min}`);
    const e = this.base(v, b, off, typeNr);
    switch (typeNr) {
      // Processes come and go hundreds of times a second under an agent, opens far more often: the base
      // object is completed in place (its type is already right), not copied by a spread.
      case 1: {
        const x = this.program(e as ExecEvent, v, b, off, len, EXEC_FIELDS);
        x.oldPid = v.getUint32(off + EXEC_FIELDS.old_pid[0], true);
        x.ino = u64(v, off + EXEC_FIELDS.ino[0]);
        x.dev = v.getUint32(off + EXEC_FIELDS.dev[0], true);
        return x;
      }
      case 10: {
        const x = this.program(e as ExecFailedEvent, v, b, off, len, EXEC_FAILED_FIELDS);
        x.ret = v.getInt32(off + EXEC_FAILED_FIELDS.ret[0], true);
        return x;
      }
      case 2: {
        const f = e as ForkEvent;
        f.childPid = v.getUint32(off + FORK_FIELDS.child_pid[0], true);
        return f;
      }
      case 3: {
        const x = e as ExitEvent;
        const status = splitWaitStatus(v.getUint32(off + EXIT_FIELDS.exit_code[0], true));
        x.exitCode = status.exitCode;
        x.signal = status.signal;
        x.coreDumped = status.coreDumped;
        return x;
      }
      case 4: {
        const pathLen = Math.min(v.getUint32(off + OPEN_FIELDS.path_len[0], true), OPEN_FIELDS.path[1]);
        if (OPEN_FIELDS.path[0] + pathLen > len) throw new DecodeError(`open record of ${len} bytes cannot hold its ${pathLen}-byte path`);
        const o = e as OpenEvent;
        o.path = this.paths.get(v, b, off + OPEN_FIELDS.path[0], off + OPEN_FIELDS.path[0] + pathLen);
        o.flags = u64(v, off + OPEN_FIELDS.open_flags[0]);
        o.mode = v.getUint32(off + OPEN_FIELDS.mode[0], true);
        o.dfd = v.getInt32(off + OPEN_FIELDS.dfd[0], true);
        o.ret = s64(v, off + OPEN_FIELDS.ret[0]);
        o.pathTruncated = (v.getUint32(off + OPEN_FIELDS.flags[0], true) & Flag.pathTruncated) !== 0;
        return o;
      }
      case 5: {
        const family = v.getUint16(off + CONNECT_FIELDS.family[0], true);
        return {
          ...e,
          type: "connect",
          family: family === 2 ? "ipv4" : "ipv6",
          address: formatAddress(family, b, off + CONNECT_FIELDS.addr[0]),
          port: v.getUint16(off + CONNECT_FIELDS.port[0], true),
          fd: v.getUint32(off + CONNECT_FIELDS.fd[0], true),
          ret: v.getInt32(off + CONNECT_FIELDS.ret[0], true),
        } satisfies ConnectEvent;
      }
      case 6: {
        const g = (f: readonly [number, number]) => v.getUint32(off + f[0], true);
        return {
          ...e,
          type: "cred",
          old: { uid: g(CRED_FIELDS.old_uid), euid: g(CRED_FIELDS.old_euid), gid: g(CRED_FIELDS.old_gid), egid: g(CRED_FIELDS.old_egid) },
          new: { uid: g(CRED_FIELDS.new_uid), euid: g(CRED_FIELDS.new_euid), gid: g(CRED_FIELDS.new_gid), egid: g(CRED_FIELDS.new_egid) },
        } satisfies CredEvent;
      }
      case 8: {
        const op = v.getUint32(off + ENFORCE_FIELDS.op[0], true) === 1 ? "exec" : "connect";
        const out: EnforceEvent = {
          ...e,
          type: "enforce",
          ruleId: v.getUint32(off + ENFORCE_FIELDS.rule_id[0], true),
          action: ACTION_NAMES[v.getUint32(off + ENFORCE_FIELDS.action[0], true)] ?? "alert",
          op,
        };
        if (op === "exec") {
          out.ino = u64(v, off + ENFORCE_FIELDS.ino[0]);
          out.dev = v.getUint32(off + ENFORCE_FIELDS.dev[0], true);
        } else {
          const family = v.getUint16(off + ENFORCE_FIELDS.family[0], true);
          out.port = v.getUint16(off + ENFORCE_FIELDS.port[0], true);
          const address = formatAddress(10, b, off + ENFORCE_FIELDS.addr[0]);
          out.address = family === 2 ? unmapV4(address) : address;
        }
        return out;
      }
    }
    throw new DecodeError(`unknown event type ${typeNr}`);
  }
}
