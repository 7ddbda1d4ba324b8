/**
 * One agent's session as a story: the LLM calls in order, each holding the
 * tool calls it asked for, each of those holding what it caused (processes,
 * execs, files, connections), with findings and interventions where they
 * happened. The live dashboard loads it from the API; a report carries it
 * inside the file. Pure: no DOM, no fetch.
 */

/** An event as stored (the README's fields; only those the views read are named). */
export interface VEvent {
  id?: number;
  type: string;
  ts: number;
  pid: number;
  ppid?: number;
  comm?: string;
  agent?: string;
  filename?: string;
  argv?: string[];
  path?: string;
  flags?: number;
  ret?: number;
  address?: string;
  port?: number;
  exitCode?: number | null;
  signal?: number | null;
  childPid?: number;
  toolCall?: { id: string; name: string; llmCallId: string } | { ambiguous: true; candidates: { id: string }[] };
  // llm_call
  llmCallId?: string;
  model?: string | null;
  host?: string;
  prompt?: string;
  completion?: string;
  toolCalls?: { id: string; name: string; arguments?: string }[];
  usage?: { inputTokens: number; outputTokens: number } | null;
  durationMs?: number;
  stream?: boolean;
  // tool_call
  toolCallId?: string;
  name?: string;
  phase?: "started" | "ended";
  arguments?: string;
  effects?: { processes: number; execs: { filename: string; argv: string[] }[]; filesRead: string[]; filesWritten: string[]; connections: { address: string; port: number }[]; findings: number };
}

export interface VFinding {
  id: string;
  ts: number;
  rule: string;
  action: string;
  severity: string;
  outcome: string;
  pid: number;
  comm: string;
  enforcement: string;
  event: VEvent;
}

export interface VAudit {
  id: string;
  ts: number;
  action: string;
  actor: string;
  reason: string;
  ok: boolean;
  detail: string;
}

export interface VProcess {
  pid: number;
  ppid: number;
  comm: string;
  exe?: string | null;
  argv?: string[];
  startTime?: number;
  exitTime: number | null;
  exitCode?: number | null;
  signal?: number | null;
}

export interface SessionData {
  agent: string;
  /** When the data was taken (ms). */
  takenAt: number;
  events: VEvent[];
  findings: VFinding[];
  audits: VAudit[];
  processes: VProcess[];
  /** What was left out to keep the data bounded, in words. */
  cut: string[];
}

export interface ToolCallNode {
  id: string;
  name: string;
  arguments?: string;
  started?: VEvent;
  ended?: VEvent;
  /** Events it caused, in order. */
  events: VEvent[];
}

export type TimelineItem =
  | { kind: "llm"; ts: number; call: VEvent; toolCalls: ToolCallNode[] }
  | { kind: "finding"; ts: number; finding: VFinding }
  | { kind: "audit"; ts: number; audit: VAudit }
  /** Events of no tool call between two model calls, grouped (repeats collapsed by summary). */
  | { kind: "activity"; ts: number; events: VEvent[] };

const isCaused = (e: VEvent) => e.toolCall !== undefined && "id" in e.toolCall;

/** The session's items in time order. */
export function buildTimeline(s: SessionData): TimelineItem[] {
  const byToolCall = new Map<string, ToolCallNode>();
  const node = (id: string, name = "?"): ToolCallNode => {
    let n = byToolCall.get(id);
    if (!n) byToolCall.set(id, (n = { id, name, events: [] }));
    return n;
  };
  const items: TimelineItem[] = [];
  const ordered = [...s.events].sort((a, b) => a.ts - b.ts || (a.id ?? 0) - (b.id ?? 0));
  let activity: VEvent[] | null = null;
  for (const e of ordered) {
    if (e.type === "llm_call") {
      activity = null;
      const calls = (e.toolCalls ?? []).map((t) => {
        const n = node(t.id, t.name);
        n.name = t.name;
        n.arguments = t.arguments;
        return n;
      });
      items.push({ kind: "llm", ts: e.ts, call: e, toolCalls: calls });
    } else if (e.type === "tool_call" && e.toolCallId) {
      const n = node(e.toolCallId, e.name);
      if (e.phase === "ended") n.ended = e;
      else n.started = e;
    } else if (isCaused(e)) {
      node((e.toolCall as { id: string }).id, (e.toolCall as { name: string }).name).events.push(e);
    } else if (e.type !== "syscall" && e.type !== "http") {
      if (!activity) {
        activity = [];
        items.push({ kind: "activity", ts: e.ts, events: activity });
      }
      activity.push(e);
    }
  }
  for (const f of s.findings) items.push({ kind: "finding", ts: f.ts, finding: f });
  for (const a of s.audits) items.push({ kind: "audit", ts: a.ts, audit: a });
  return items.sort((a, b) => a.ts - b.ts);
}

/** One line for an event, as a person reads it. */
export function describe(e: VEvent): string {
  switch (e.type) {
    case "exec":
      return `exec ${(e.argv ?? [e.filename ?? ""]).join(" ")}`;
    case "exec_failed":
      return `exec failed ${e.filename} (${e.ret})`;
    case "open":
      return `${(e.flags ?? 0) & 3 || (e.flags ?? 0) & 0o100 ? "write" : "read"} ${e.path}${(e.ret ?? 0) < 0 ? ` (${e.ret})` : ""}`;
    case "connect":
      return `connect ${e.address}:${e.port}${(e.ret ?? 0) < 0 && e.ret !== -115 ? ` (${e.ret})` : ""}`;
    case "fork":
      return `fork → ${e.childPid}`;
    case "exit":
      return `exit ${e.signal ? `signal ${e.signal}` : e.exitCode}`;
    case "llm_call":
      return `LLM ${e.model ?? "?"} @ ${e.host}${e.usage ? ` · ${e.usage.inputTokens}→${e.usage.outputTokens} tokens` : ""}`;
    case "tool_call":
      return `tool ${e.name} ${e.phase}`;
    case "http":
      return `https ${e.host}${e.path ?? ""}`;
    case "gap":
      return "not observed (daemon down)";
    default:
      return e.type;
  }
}

/** Same-looking lines counted once: "open /usr/lib/x.so ×12". */
export function collapse(events: VEvent[], max: number): { line: string; count: number; first: VEvent }[] {
  const out: { line: string; count: number; first: VEvent }[] = [];
  const index = new Map<string, number>();
  for (const e of events) {
    const line = describe(e);
    const at = index.get(line);
    if (at !== undefined) out[at]!.count++;
    else {
      index.set(line, out.length);
      out.push({ line, count: 1, first: e });
    }
  }
  return out.slice(0, max);
}
