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
  /** The tool call (seen in the agent's LLM traffic) that caused this event (see src/intent/tool-calls.ts). */
  toolCall?: ToolCallRef;
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
  /** A relative `path` made absolute against the directory it was relative to, read from /proc on arrival (src/proc/open-path.ts). */
  absolutePath?: string;
}
export interface ConnectEvent extends EventBase {
  type: "connect";
  family: "ipv4" | "ipv6";
  address: string;
  port: number;
  fd: number;
  /** 0, or -errno (-115 EINPROGRESS for non-blocking sockets). */
  ret: number;
  /** The name the agent's DNS answers gave this address (see bpf/dns.bpf.c), when one did. */
  domain?: string;
  /** Another name gave the same address too (a shared address): a rule judged it by either. */
  domainAmbiguous?: true;
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
  /** connect: the refused destination, and the name it was learned from (if any) */
  address?: string;
  port?: number;
  domain?: string;
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

/** A tool call an event is attributed to; `ambiguous` when several were open and nothing in the event told them apart. */
export type ToolCallRef = { id: string; name: string; llmCallId: string } | { ambiguous: true; candidates: { id: string; name: string; llmCallId: string }[] };

/** A chunk of TLS plaintext from the kernel (struct vigil_tls_event): input of the intent layer, never stored or sent. */
export interface TlsChunk {
  ktimeNs: number;
  ts: number;
  pid: number;
  tid: number;
  comm: string;
  agentId: number;
  /** The SSL pointer: one connection within the process. */
  ssl: bigint;
  seq: number;
  dir: "sent" | "received";
  /** Bytes the call moved, of which this chunk holds `data` from `offset`. */
  callLen: number;
  offset: number;
  data: Uint8Array;
  /** The call moved more than the per-call cap: its bytes beyond this chunk were not copied. */
  truncated: boolean;
}

/** The event types the intent layer makes from TLS traffic (src/intent). */
export const INTENT_EVENT_TYPES = ["llm_call", "http", "tool_call"] as const;

/** Common fields of the events made from an agent's traffic. */
export interface IntentBase {
  ts: number;
  ktimeNs: number;
  pid: number;
  tid: number;
  comm: string;
  agent?: string;
  toolCall?: ToolCallRef;
  span?: { traceId: string; spanId: string; name: string };
}

/** One request to a model API and its response (OpenAI Chat Completions or Responses, Anthropic Messages). */
export interface LlmCallEvent extends IntentBase {
  type: "llm_call";
  /** This call's id (tool calls it asks for name it); `id` is the store's. */
  llmCallId: string;
  provider: "openai" | "anthropic";
  api: "chat.completions" | "responses" | "messages";
  model: string | null;
  host: string;
  path: string;
  status: number;
  stream: boolean;
  durationMs: number;
  /** The last user or tool message sent (bounded, redacted); absent unless llmBodies is full. */
  prompt?: string;
  /** The assistant text received (bounded, redacted); absent unless llmBodies is full. */
  completion?: string;
  /** Tool calls the response asks for (arguments absent unless llmBodies is full). */
  toolCalls: { id: string; name: string; arguments?: string }[];
  usage: { inputTokens: number; outputTokens: number } | null;
  /** Some of the exchange was not seen whole (a call over the kernel's cap, a body over the parser's, a lost chunk). */
  truncated: boolean;
}

/** Any other HTTP/1.1 exchange over TLS: metadata only. */
export interface HttpEvent extends IntentBase {
  type: "http";
  method: string;
  host: string;
  path: string;
  status: number;
  requestBytes: number;
  responseBytes: number;
  durationMs: number;
  truncated: boolean;
}

/** What a tool call caused, counted over the events attributed to it. */
export interface ToolCallEffects {
  processes: number;
  execs: { filename: string; argv: string[] }[];
  filesRead: string[];
  filesWritten: string[];
  connections: { address: string; port: number }[];
  findings: number;
}

/**
 * A tool call a model asked for: `started` when the response asking for it arrives (policies act here,
 * before it runs), `ended` when the request carrying its result is sent, with what it caused.
 */
export interface ToolCallEvent extends IntentBase {
  type: "tool_call";
  phase: "started" | "ended";
  /** The id the model gave the call; `id` is the store's. */
  toolCallId: string;
  name: string;
  /** As the model sent them (bounded, redacted); absent unless llmBodies is full. */
  arguments?: string;
  llmCallId: string;
  durationMs?: number;
  effects?: ToolCallEffects;
}

export type IntentEvent = LlmCallEvent | HttpEvent | ToolCallEvent;
export type ProcessEvent = ExecEvent | ExecFailedEvent | ForkEvent | ExitEvent | OpenEvent | ConnectEvent | CredEvent | EnforceEvent;
export type VigilEvent = ProcessEvent | SyscallEvent | IntentEvent;
/** What the event store keeps: every event, and the service's own record of unobserved time. */
export type StorableEvent = VigilEvent | GapEvent;
