/** Plain event objects, as every layer above the decoder sees them (JSON-ready). */
import type { ActionName, EventTypeName } from "../abi/layout";

export interface EventBase {
  type: EventTypeName;
  /** Wall-clock time in milliseconds since the epoch (sub-ms precision). */
  ts: number;
  /** Kernel CLOCK_BOOTTIME timestamp in ns (monotonic; for ordering and latency). */
  ktimeNs: number;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  gid: number;
  comm: string;
  cgroupId: number;
  /** In-kernel agent identity (0: none); inherited on fork. */
  agentId: number;
  /** Name of the agent the process belongs to, when it belongs to one. */
  agent?: string;
  /** The open tool-call span of the agent this event happened in (see SpanTracker). */
  span?: { traceId: string; spanId: string; name: string };
  /** Set on events synthesized by the /proc poller (no eBPF): timing and coverage are approximate. */
  lowFidelity?: true;
}

export interface ExecEvent extends EventBase {
  type: "exec";
  filename: string;
  argv: string[];
  /** Secrets cut from argv and filename (src/events/redact.ts), when any were. */
  redacted?: number;
  /** argv did not fit the bound (VIGIL_ARGS_MAX bytes) and was cut. */
  argvTruncated: boolean;
  filenameTruncated: boolean;
  oldPid: number;
  /** The binary's identity (inode, and device in the kernel's encoding): what exec policies match in the kernel. */
  ino: number;
  dev: number;
}
/** An execve/execveat that returned an error: the program asked for, its argv, and why it did not run. */
export interface ExecFailedEvent extends EventBase {
  type: "exec_failed";
  filename: string;
  argv: string[];
  argvTruncated: boolean;
  filenameTruncated: boolean;
  /** -errno (-2: ENOENT, -13: EACCES, -8: ENOEXEC) */
  ret: number;
  /** Secrets cut from argv and filename (src/events/redact.ts), when any were. */
  redacted?: number;
}
export interface ForkEvent extends EventBase {
  type: "fork";
  childPid: number;
}
export interface ExitEvent extends EventBase {
  type: "exit";
  /** Exit status (0-255) when the process exited; null when a signal killed it. */
  exitCode: number | null;
  /** Number of the signal that killed it, or null. */
  signal: number | null;
  coreDumped: boolean;
}
export interface OpenEvent extends EventBase {
  type: "open";
  path: string;
  flags: number;
  mode: number;
  dfd: number;
  /** File descriptor, or -errno. */
  ret: number;
  pathTruncated: boolean;
}
export interface ConnectEvent extends EventBase {
  type: "connect";
  family: "ipv4" | "ipv6";
  address: string;
  port: number;
  fd: number;
  /** 0, or -errno (-115 EINPROGRESS for non-blocking sockets). */
  ret: number;
}
export interface CredEvent extends EventBase {
  type: "cred";
  old: { uid: number; euid: number; gid: number; egid: number };
  new: { uid: number; euid: number; gid: number; egid: number };
}
/** The kernel acted on a policy rule (bpf/enforce.bpf.c). */
export interface EnforceEvent extends EventBase {
  type: "enforce";
  ruleId: number;
  action: ActionName;
  op: "exec" | "connect";
  /** connect: the refused destination */
  address?: string;
  port?: number;
  /** exec: the binary's identity */
  ino?: number;
  dev?: number;
}
export interface SyscallEvent {
  type: "syscall";
  ts: number;
  ktimeNs: number;
  /**
   * Whether the stamp was read for this record. False with the tick-bounded
   * firehose clock: it was read for an earlier record of the same CPU in the
   * same scheduler tick, so the syscall happened at most one tick later.
   */
  tsExact: boolean;
  pid: number;
  tid: number;
  nr: number;
  name: string;
  agent?: string;
  span?: { traceId: string; spanId: string; name: string };
}

/**
 * Time in which nothing was observed: the daemon was stopped, or died, between `from` (its last stored
 * event, or its clean stop) and `to` (observing again). Written by the service when it starts.
 */
export interface GapEvent {
  type: "gap";
  ts: number;
  pid: 0;
  agent?: undefined;
  from: number;
  to: number;
  durationMs: number;
  /** stopped: the previous daemon stopped cleanly; crashed: it did not (kill -9, OOM, power). */
  reason: "stopped" | "crashed";
}

export type VigilEvent = ExecEvent | ExecFailedEvent | ForkEvent | ExitEvent | OpenEvent | ConnectEvent | CredEvent | EnforceEvent | SyscallEvent;
export type ProcessEvent = Exclude<VigilEvent, SyscallEvent>;
/** What the event store keeps: every event, and the service's own record of unobserved time. */
export type StorableEvent = VigilEvent | GapEvent;
